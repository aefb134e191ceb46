//! `COPY` and `ADD`: the sources (context paths, paths of another stage or image, heredocs, local
//! archives and, for `ADD`, URLs) gathered and hashed before the cache lookup, then laid out under
//! the destination as Docker does (a directory's contents, a file by its name into a directory
//! destination or as the destination itself) and sent to the host as tars, with `--chown` and
//! `--chmod` applied in the headers (root-owned otherwise).

use std::collections::HashMap;
use std::fs;
use std::io::{Cursor, Read};

use sha2::{Digest as _, Sha256};

use super::steps::{Run, State};
use super::{step_err, BuildError};
use crate::context::{hash_entries, Entry, Kind};
use crate::dockerignore::{clean, glob, Ignore};
use crate::parser::{CopySpec, Step};

/// Where an item's bytes are.
enum Data {
    Path(std::path::PathBuf),
    Bytes(Vec<u8>),
    None,
}

/// One file, directory or link to write.
struct Item {
    /// Path relative to its group's top (`""` is the top itself).
    rel: String,
    kind: Kind,
    mode: u32,
    mtime: i64,
    data: Data,
}

/// What one source names.
struct Group {
    /// The source's base name (for a file copied into a directory).
    base: String,
    /// A directory whose contents are copied, or a single item.
    is_dir: bool,
    items: Vec<Item>,
    /// A local archive `ADD` extracts: its path, and whether it is gzip'd.
    archive: Option<(std::path::PathBuf, bool)>,
}

fn base_name(p: &str) -> String {
    clean(p).rsplit('/').next().unwrap_or("").to_string()
}

/// Whether the file at `path` is a tar `ADD` extracts (plain or gzip'd): `Some(gzip)`.
fn archive_kind(path: &std::path::Path) -> std::io::Result<Option<bool>> {
    let mut head = Vec::with_capacity(BLOCK);
    fs::File::open(path)?
        .take(BLOCK as u64)
        .read_to_end(&mut head)?;
    let gz = head.starts_with(&[0x1f, 0x8b]);
    if gz {
        head.clear();
        let f = fs::File::open(path)?;
        let _ = flate2::read::GzDecoder::new(f)
            .take(BLOCK as u64)
            .read_to_end(&mut head);
    }
    Ok((head.len() >= BLOCK && &head[257..262] == b"ustar").then_some(gz))
}

/// A tar header block's size.
const BLOCK: usize = 512;

fn context_items(entries: Vec<Entry>) -> Vec<Item> {
    entries
        .into_iter()
        .map(|e| Item {
            data: if e.kind == Kind::File {
                Data::Path(e.full.clone())
            } else {
                Data::None
            },
            rel: e.rel,
            kind: e.kind,
            mode: e.mode,
            mtime: e.mtime,
        })
        .collect()
}

/// Items of a `docker cp`-style tar (top entry named after the path).
fn tar_items(bytes: &[u8]) -> Result<(bool, Vec<Item>), std::io::Error> {
    let mut ar = tar::Archive::new(Cursor::new(bytes));
    let mut items = Vec::new();
    let mut top_dir = false;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (n, e) in ar.entries()?.enumerate() {
        let mut e = e?;
        let path = e.path()?.to_string_lossy().into_owned();
        let path = clean(&path);
        let rel = path
            .split_once('/')
            .map_or(String::new(), |(_, r)| r.to_string());
        let h = e.header();
        let mode = h.mode()? & 0o7777;
        let mtime = h.mtime().unwrap_or(0) as i64;
        let et = h.entry_type();
        let (kind, data) = if et.is_dir() {
            if n == 0 {
                top_dir = true;
            }
            (Kind::Dir, Data::None)
        } else if et.is_symlink() {
            let t = e
                .link_name()?
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            (Kind::Symlink(t), Data::None)
        } else if et.is_hard_link() {
            let t = e
                .link_name()?
                .map(|p| clean(&p.to_string_lossy()))
                .unwrap_or_default();
            let bytes = match seen.get(&t).and_then(|i| match &items.get(*i) {
                Some(Item {
                    data: Data::Bytes(b),
                    ..
                }) => Some(b.clone()),
                _ => None,
            }) {
                Some(b) => b,
                None => continue,
            };
            (Kind::File, Data::Bytes(bytes))
        } else if et.is_file() {
            let mut b = Vec::new();
            e.read_to_end(&mut b)?;
            (Kind::File, Data::Bytes(b))
        } else {
            continue;
        };
        seen.insert(path, items.len());
        items.push(Item {
            rel,
            kind,
            mode,
            mtime,
            data,
        });
    }
    Ok((top_dir, items))
}

/// `--chown` as uid and gid, asking the host for names.
fn owner(
    run: &mut Run<'_>,
    container: &str,
    chown: Option<&str>,
) -> Result<(u32, u32), BuildError> {
    let Some(spec) = chown.filter(|s| !s.is_empty()) else {
        return Ok((0, 0));
    };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    match (user.parse::<u32>(), group.map(str::parse::<u32>)) {
        (Ok(u), Some(Ok(g))) => Ok((u, g)),
        (Ok(u), None) => Ok((u, u)),
        _ => Ok(run.host.lookup_user(container, user, group)?),
    }
}

/// A tar of `items` placed under `prefix` (a file name, or empty for a directory's contents),
/// spooled to an unnamed file in `scratch` and rewound.
fn write_tar(
    scratch: &std::path::Path,
    items: &[Item],
    prefix: &str,
    uid: u32,
    gid: u32,
    chmod: Option<u32>,
) -> Result<fs::File, std::io::Error> {
    let mut b = tar::Builder::new(tempfile::tempfile_in(scratch)?);
    for it in items {
        let name = match (prefix.is_empty(), it.rel.is_empty()) {
            (true, true) => continue, // a directory's own entry: only its contents are copied
            (true, false) => it.rel.clone(),
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}/{}", it.rel),
        };
        let mut h = tar::Header::new_gnu();
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_mtime(it.mtime.max(0) as u64);
        let mode = match it.kind {
            Kind::Symlink(_) => 0o777,
            _ => chmod.unwrap_or(it.mode),
        };
        h.set_mode(mode);
        match &it.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, &name, std::io::empty())?;
            }
            Kind::Symlink(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, &name, t)?;
            }
            Kind::File => {
                h.set_entry_type(tar::EntryType::Regular);
                match &it.data {
                    Data::Path(p) => {
                        let f = fs::File::open(p)?;
                        h.set_size(f.metadata()?.len());
                        b.append_data(&mut h, &name, f)?;
                    }
                    Data::Bytes(v) => {
                        h.set_size(v.len() as u64);
                        b.append_data(&mut h, &name, v.as_slice())?;
                    }
                    Data::None => {
                        h.set_size(0);
                        b.append_data(&mut h, &name, std::io::empty())?;
                    }
                }
            }
        }
    }
    let mut f = b.into_inner()?;
    std::io::Seek::rewind(&mut f)?;
    Ok(f)
}

impl Run<'_> {
    /// `COPY`/`ADD` one step.
    pub(super) fn copy(
        &mut self,
        st: &mut State,
        step: &Step,
        spec: &CopySpec,
        add: bool,
    ) -> Result<(), BuildError> {
        let what = if add { "ADD" } else { "COPY" };
        let dest = self.expand(st, step, &spec.dest)?;
        let chown = spec
            .chown
            .as_ref()
            .map(|c| self.expand(st, step, c))
            .transpose()?;
        let chmod = match &spec.chmod {
            None => None,
            Some(c) => {
                let c = self.expand(st, step, c)?;
                match u32::from_str_radix(&c, 8) {
                    Ok(m) if m <= 0o7777 => Some(m),
                    _ => {
                        return Err(step_err(
                            step,
                            format!("invalid chmod parameter {c:?}: an octal mode such as 0755"),
                        ))
                    }
                }
            }
        };
        let from = spec
            .from
            .as_ref()
            .map(|f| self.expand(st, step, f))
            .transpose()?;
        let exclude = Ignore::parse(&spec.exclude.join("\n"));
        let mut groups = Vec::new();
        let mut hash = Sha256::new();
        let from_image = match &from {
            None => None,
            Some(f) => {
                let stage = self.stage_image(f);
                let id = match stage {
                    Some(id) => id?,
                    None => {
                        self.host
                            .image(f, self.opts.pull)?
                            .ok_or_else(|| {
                                step_err(
                                    step,
                                    format!("invalid from flag value {f}: no such stage or image"),
                                )
                            })?
                            .id
                    }
                };
                hash.update(id.as_bytes());
                Some(id)
            }
        };
        for raw in &spec.sources {
            if let Some(h) = spec.heredocs.iter().find(|h| h.word == *raw) {
                let body = if h.expand {
                    self.expand(st, step, &format!("\"{}\"", h.body.replace('"', "\\\"")))
                        .unwrap_or_else(|_| h.body.clone())
                } else {
                    h.body.clone()
                };
                hash.update(h.name.as_bytes());
                hash.update(body.as_bytes());
                groups.push(Group {
                    base: h.name.clone(),
                    is_dir: false,
                    items: vec![Item {
                        rel: String::new(),
                        kind: Kind::File,
                        mode: 0o644,
                        mtime: 0,
                        data: Data::Bytes(body.into_bytes()),
                    }],
                    archive: None,
                });
                continue;
            }
            let src = self.expand(st, step, raw)?;
            if let Some(id) = &from_image {
                if src.contains(['*', '?', '[']) {
                    let cleaned = clean(&src);
                    let segs: Vec<&str> = cleaned.split('/').collect();
                    let at = segs
                        .iter()
                        .position(|s| s.contains(['*', '?', '[']))
                        .unwrap_or(0);
                    if at == 0 {
                        return Err(step_err(step, format!(
                            "{what} --from {src}: a wildcard in the first directory of another stage is not supported; name a directory first"
                        )));
                    }
                    let dir = format!("/{}", segs[..at].join("/"));
                    let pattern = &segs[at..];
                    let mut bytes = Vec::new();
                    self.host.copy_out(id, &dir, &mut bytes)?;
                    let (_, items) = tar_items(&bytes)
                        .map_err(|e| step_err(step, format!("reading {dir} from {id}: {e}")))?;
                    let mut matches: Vec<String> = items
                        .iter()
                        .map(|it| it.rel.clone())
                        .filter(|rel| {
                            let parts: Vec<&str> = rel.split('/').collect();
                            !rel.is_empty()
                                && parts.len() == pattern.len()
                                && parts.iter().zip(pattern).all(|(p, g)| glob(g, p))
                        })
                        .collect();
                    matches.sort();
                    if matches.is_empty() {
                        return Err(step_err(
                            step,
                            format!("{what} --from: no file in {id} matches {src}"),
                        ));
                    }
                    hash.update(cleaned.as_bytes());
                    let mut subs: Vec<Vec<Item>> = matches.iter().map(|_| Vec::new()).collect();
                    for mut it in items {
                        let Some(k) = matches
                            .iter()
                            .position(|m| it.rel == *m || it.rel.starts_with(&format!("{m}/")))
                        else {
                            continue;
                        };
                        it.rel = it.rel[matches[k].len()..]
                            .trim_start_matches('/')
                            .to_string();
                        subs[k].push(it);
                    }
                    for (m, items) in matches.iter().zip(subs) {
                        let is_dir = items.first().is_some_and(|i| i.kind == Kind::Dir);
                        groups.push(Group {
                            base: base_name(m),
                            is_dir,
                            items,
                            archive: None,
                        });
                    }
                    continue;
                }
                let mut bytes = Vec::new();
                let path = format!("/{}", clean(&src));
                self.host.copy_out(id, &path, &mut bytes)?;
                let (is_dir, items) = tar_items(&bytes)
                    .map_err(|e| step_err(step, format!("reading {src} from {id}: {e}")))?;
                hash.update(path.as_bytes());
                groups.push(Group {
                    base: base_name(&src),
                    is_dir,
                    items,
                    archive: None,
                });
                continue;
            }
            if add && (src.starts_with("http://") || src.starts_with("https://")) {
                let data = self.host.fetch(&src)?;
                hash.update(src.as_bytes());
                hash.update(&data);
                let name = src
                    .rsplit('/')
                    .next()
                    .filter(|n| !n.is_empty())
                    .unwrap_or("index.html")
                    .to_string();
                groups.push(Group {
                    base: name,
                    is_dir: false,
                    items: vec![Item {
                        rel: String::new(),
                        kind: Kind::File,
                        mode: 0o600,
                        mtime: 0,
                        data: Data::Bytes(data),
                    }],
                    archive: None,
                });
                continue;
            }
            if add && src.contains("://") || src.starts_with("git@") {
                return Err(step_err(
                    step,
                    format!("{what} {src}: only http(s) URLs are supported"),
                ));
            }
            for rel in self.context.resolve(&src)? {
                let mut entries = self.context.entries(&rel)?;
                if !spec.exclude.is_empty() {
                    entries.retain(|e| e.rel.is_empty() || !exclude.excludes(&e.rel));
                }
                let Some(first) = entries.first() else {
                    continue;
                };
                let is_dir = first.kind == Kind::Dir;
                hash.update(rel.as_bytes());
                hash.update(hash_entries(&entries)?.as_bytes());
                let archive = if add && first.kind == Kind::File {
                    archive_kind(&first.full)
                        .map_err(|e| step_err(step, format!("reading {rel}: {e}")))?
                        .map(|gz| (first.full.clone(), gz))
                } else {
                    None
                };
                groups.push(Group {
                    base: base_name(&rel),
                    is_dir,
                    items: context_items(entries),
                    archive,
                });
            }
        }
        let hash = hex::encode(hash.finalize());
        let kind = if groups.len() == 1 && groups[0].is_dir {
            "dir"
        } else {
            "file"
        };
        let workdir = st.config.working_dir.clone().unwrap_or_else(|| "/".into());
        let dest_abs = if dest.starts_with('/') {
            dest.clone()
        } else {
            format!("{workdir}/{dest}")
        };
        let dest_abs = format!("/{}", clean(&dest_abs));
        let dir_hint =
            dest.ends_with('/') || dest.ends_with("/.") || dest == "." || groups.len() > 1;
        let created_by = format!("/bin/sh -c #(nop) {what} {kind}:{hash} in {dest} ");
        let key = format!("{what} {hash} {dest_abs} {dir_hint} {chown:?} {chmod:?}");
        self.change(st, &[&key], &created_by, None, |run, c| {
            let (uid, gid) = owner(run, c, chown.as_deref())?;
            let into_dir = dir_hint || run.host.is_dir(c, &dest_abs)?;
            for g in &groups {
                if let Some((path, gz)) = &g.archive {
                    let f = fs::File::open(path)
                        .map_err(|e| step_err(step, format!("{what}: opening {}: {e}", g.base)))?;
                    let archive: Box<dyn Read + Send> = if *gz {
                        Box::new(flate2::read::GzDecoder::new(f))
                    } else {
                        Box::new(f)
                    };
                    run.host.copy_in(c, &dest_abs, archive)?;
                    continue;
                }
                let (dir, prefix) = if g.is_dir {
                    (dest_abs.clone(), String::new())
                } else if into_dir {
                    (dest_abs.clone(), g.base.clone())
                } else {
                    let (parent, name) = dest_abs.rsplit_once('/').unwrap_or(("", &dest_abs));
                    (
                        if parent.is_empty() {
                            "/".to_string()
                        } else {
                            parent.to_string()
                        },
                        name.to_string(),
                    )
                };
                let tar = write_tar(run.scratch, &g.items, &prefix, uid, gid, chmod)
                    .map_err(|e| step_err(step, format!("{what}: packing the sources: {e}")))?;
                run.host.copy_in(c, &dir, Box::new(tar))?;
            }
            Ok(())
        })
    }

    /// The image of a planned stage named (or numbered) `name`, once it is built; `None` when
    /// `name` is no stage the build runs (then it names an image).
    fn stage_image(&self, name: &str) -> Option<Result<String, BuildError>> {
        let lower = name.to_ascii_lowercase();
        let index = self
            .shared
            .stage_names
            .iter()
            .position(|n| n.as_deref() == Some(lower.as_str()))
            .or_else(|| name.parse::<usize>().ok())?;
        (index < self.stage && self.shared.planned.contains(&index))
            .then(|| self.stage_result(index))
    }
}
