//! `docker rmi`: untag or delete, with Docker's refusals, then free what nothing else holds.

use std::collections::BTreeSet;

use berth_oci::Reference;

use super::ImageStore;
use crate::error::ImageError;
use crate::metadata::{self, HoldKind};

/// What `remove` did, in the order Docker prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveAction {
    /// A name was removed (familiar form).
    Untagged(String),
    /// An image (its ID) or a layer (its chain ID) was deleted.
    Deleted(String),
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

fn familiar(name: &str) -> String {
    Reference::parse(name).map_or_else(|_| name.to_string(), |r| r.familiar())
}

impl ImageStore {
    /// Removes a name or an image, like `docker rmi [--force]`:
    /// - by name, when the image has other names: only untags (the last tag of a repository
    ///   untags that repository's digest references too, as Docker does);
    /// - the last name, or by ID: untags everything and deletes the image, then frees the blobs and
    ///   layers no other image, name or holder uses;
    /// - refuses (conflict) when a holder (container) uses the image — forced, it only untags; when an
    ///   image committed from it exists; and, by ID without force, when names from several
    ///   repositories point at it.
    pub fn remove(&self, name_or_id: &str, force: bool) -> Result<Vec<RemoveAction>, ImageError> {
        let mut actions = Vec::new();
        {
            let mut meta = self.meta();
            let id = super::names::resolve(meta.conn(), name_or_id)?;
            let refs = metadata::refs_of(meta.conn(), &id)?;
            let holders = metadata::holders_of(meta.conn(), HoldKind::Image, &id)?;
            let by_name = Reference::parse(name_or_id)
                .ok()
                .map(|r| r.full())
                .filter(|full| refs.iter().any(|r| &r.name == full));
            let mut untag: Vec<String> = Vec::new();
            let mut delete = false;
            if let Some(name) = by_name {
                untag.push(name.clone());
                // As Docker: the last tag of a repository takes that repository's digest
                // references (`repo@sha256:…`, recorded by pulls and pushes) with it.
                if let Some(removed) = refs.iter().find(|r| r.name == name && r.tag.is_some()) {
                    let same_repo = |r: &&metadata::RefRecord| r.repository == removed.repository;
                    if !refs
                        .iter()
                        .filter(same_repo)
                        .any(|r| r.name != name && r.tag.is_some())
                    {
                        untag.extend(
                            refs.iter()
                                .filter(same_repo)
                                .filter(|r| r.tag.is_none() && r.digest.is_some())
                                .map(|r| r.name.clone()),
                        );
                    }
                }
                if refs.len() == untag.len() {
                    if let Some(h) = holders.first() {
                        if !force {
                            return Err(ImageError::Conflict(format!(
                                "unable to remove repository reference {:?} (must force) - container {h} is using its referenced image {}",
                                familiar(&name),
                                short(&id)
                            )));
                        }
                    } else {
                        delete = true;
                    }
                }
            } else {
                let repos: BTreeSet<&str> = refs.iter().map(|r| r.repository.as_str()).collect();
                if let Some(h) = holders.first() {
                    if !force {
                        return Err(ImageError::Conflict(format!(
                            "unable to delete {} (must be forced) - image is being used by container {h}",
                            short(&id)
                        )));
                    }
                } else if repos.len() > 1 && !force {
                    return Err(ImageError::Conflict(format!(
                        "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        short(&id)
                    )));
                } else {
                    delete = true;
                }
                untag.extend(refs.iter().map(|r| r.name.clone()));
            }
            if delete && !metadata::children(meta.conn(), &id)?.is_empty() {
                return Err(ImageError::Conflict(format!(
                    "unable to delete {} (cannot be forced) - image has dependent child images",
                    short(&id)
                )));
            }
            if delete {
                // The image's other names go with it.
                for r in &refs {
                    if !untag.contains(&r.name) {
                        untag.push(r.name.clone());
                    }
                }
            }
            meta.write(|tx| -> Result<(), ImageError> {
                for name in &untag {
                    metadata::delete_ref(tx, name)?;
                }
                if delete {
                    metadata::delete_image(tx, &id)?;
                }
                Ok(())
            })?;
            actions.extend(untag.iter().map(|n| RemoveAction::Untagged(familiar(n))));
            if delete {
                actions.push(RemoveAction::Deleted(id));
            }
        }
        if actions
            .iter()
            .any(|a| matches!(a, RemoveAction::Deleted(_)))
        {
            let report = self.gc()?;
            actions.extend(report.layers.into_iter().map(RemoveAction::Deleted));
        }
        Ok(actions)
    }

    /// `docker image prune [-a]`: deletes images without names (all unused images with `all`) that no
    /// holder uses and nothing was committed from, then collects garbage. Returns the deleted IDs.
    pub fn prune(&self, all: bool) -> Result<(Vec<String>, crate::gc::GcReport), ImageError> {
        let mut deleted = Vec::new();
        {
            let mut meta = self.meta();
            let images = metadata::images(meta.conn())?;
            let mut victims = Vec::new();
            for img in images {
                let unnamed = metadata::refs_of(meta.conn(), &img.id)?.is_empty();
                let held = !metadata::holders_of(meta.conn(), HoldKind::Image, &img.id)?.is_empty();
                let parent = !metadata::children(meta.conn(), &img.id)?.is_empty();
                if (unnamed || all) && !held && !parent {
                    victims.push(img.id);
                }
            }
            meta.write(|tx| -> Result<(), ImageError> {
                for id in &victims {
                    metadata::delete_image(tx, id)?;
                }
                Ok(())
            })?;
            deleted.extend(victims);
        }
        let report = self.gc()?;
        Ok((deleted, report))
    }
}
