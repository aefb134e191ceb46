//! Disk usage: what images, containers and volumes take on disk (`/system/df`, `docker ps
//! --size`, `docker inspect --size`), computed by the engine so that every front door asks the
//! same question the same way and gets engine values, not a wire shape.
//!
//! A container's sizes are Docker's two: `rw`, its writable layer, and `root_fs`, that plus its
//! image. A size that cannot be read (a container being removed, an image gone) counts as 0, as
//! in Docker: a listing never fails because one entry changed under it.

use std::collections::BTreeMap;

use berth_image::store::ImageDetails;

use crate::containers::list::ContainerFilter;
use crate::containers::model::Container;
use crate::error::DaemonError;
use crate::images::ImageFilter;
use crate::Engine;

/// The sizes of one container's file systems, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerSizes {
    /// The writable layer.
    pub rw: u64,
    /// The writable layer plus the image.
    pub root_fs: u64,
}

/// Sizes containers one after the other, looking each image's size up once.
pub struct Sizer<'e> {
    engine: &'e Engine,
    image_sizes: BTreeMap<String, u64>,
}

impl<'e> Sizer<'e> {
    pub fn new(engine: &'e Engine) -> Sizer<'e> {
        Sizer {
            engine,
            image_sizes: BTreeMap::new(),
        }
    }

    /// The sizes of container `id`, made from image `image_id`.
    pub async fn sizes(&mut self, id: &str, image_id: &str) -> ContainerSizes {
        let rw = self.engine.containers.size_rw(id).await.unwrap_or(0);
        let image = match self.image_sizes.get(image_id) {
            Some(size) => *size,
            None => {
                let size = (self.engine.images.inspect(image_id).await).map_or(0, |d| d.image.size);
                self.image_sizes.insert(image_id.to_string(), size);
                size
            }
        };
        ContainerSizes {
            rw,
            root_fs: rw.saturating_add(image),
        }
    }
}

/// One image and how many containers (running or not) are made from it.
#[derive(Debug, Clone)]
pub struct ImageUsage {
    pub details: ImageDetails,
    pub containers: usize,
}

/// One container and its sizes.
#[derive(Debug, Clone)]
pub struct ContainerUsage {
    pub container: Container,
    pub sizes: ContainerSizes,
}

/// Everything `/system/df` reports (the build cache is not there yet).
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    /// The images' sizes added up.
    pub layers_size: u64,
    pub images: Vec<ImageUsage>,
    /// Every container, newest first.
    pub containers: Vec<ContainerUsage>,
    /// The local volumes without mount options (those are not on this disk, as Docker counts),
    /// with their sizes and how many containers reference each.
    pub volumes: Vec<crate::volumes::model::VolumeUsage>,
}

/// What images, containers and volumes take on disk.
pub async fn disk_usage(engine: &Engine) -> Result<DiskUsage, DaemonError> {
    let images = engine.images.list(ImageFilter::default()).await?;
    let all = ContainerFilter {
        all: true,
        ..ContainerFilter::default()
    };
    let containers = engine.containers.list(all).await?;
    let mut sizer = Sizer::new(engine);
    for d in &images {
        sizer
            .image_sizes
            .insert(d.image.id.to_string(), d.image.size);
    }
    let layers_size = images.iter().map(|d| d.image.size).sum();
    let users = users(containers.iter().map(|c| c.image_id.as_str()));
    let images = images
        .into_iter()
        .map(|details| ImageUsage {
            containers: users
                .get(details.image.id.to_string().as_str())
                .copied()
                .unwrap_or(0),
            details,
        })
        .collect();
    let mut usage = DiskUsage {
        layers_size,
        images,
        containers: Vec::with_capacity(containers.len()),
        volumes: engine.volumes.usage().await?,
    };
    for container in containers {
        let sizes = sizer.sizes(&container.id, &container.image_id).await;
        usage.containers.push(ContainerUsage { container, sizes });
    }
    Ok(usage)
}

/// How many containers use each image, from the containers' image IDs.
fn users<'a>(image_ids: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut users = BTreeMap::new();
    for id in image_ids {
        *users.entry(id).or_insert(0) += 1;
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_image_counts_its_containers() {
        let users = users(["sha256:a", "sha256:b", "sha256:a"].into_iter());
        assert_eq!(users.get("sha256:a"), Some(&2));
        assert_eq!(users.get("sha256:b"), Some(&1));
        assert_eq!(users.get("sha256:c"), None);
    }
}
