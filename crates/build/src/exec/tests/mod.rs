//! Executor tests against an in-memory host: images are maps of paths to files; a `RUN` script
//! understands `write PATH TEXT` and `exit N`.

mod concurrent;
mod copy;
mod run;
mod stages;

use std::collections::BTreeMap;
use std::io::{Read, Write};

use super::*;
use crate::dockerignore::clean;

#[derive(Debug, Clone, PartialEq, Eq)]
struct File {
    data: Vec<u8>,
    mode: u32,
    uid: u64,
    gid: u64,
    dir: bool,
    link: Option<String>,
}

type Files = BTreeMap<String, File>;

#[derive(Default)]
struct Fake {
    images: BTreeMap<String, (ImageConfig, Files)>,
    tags: BTreeMap<String, String>,
    containers: BTreeMap<String, (Files, Option<RunSpec>)>,
    /// The image each container was made from.
    made_from: BTreeMap<String, Option<String>>,
    cache: BTreeMap<String, String>,
    lines: Vec<String>,
    runs: Vec<RunSpec>,
    removed: usize,
    next: u32,
    /// Answer `cancelled` once this many images exist.
    cancel_at: Option<usize>,
    /// Each committed image's parent and its step's `created_by`.
    parents: BTreeMap<String, (Option<String>, String)>,
    /// The `created_by` of each image made by `configure` (no container, no layer).
    configured: Vec<String>,
}

impl Fake {
    fn with_base() -> Fake {
        let mut f = Fake::default();
        let mut files = Files::new();
        files.insert("/etc".into(), dir());
        let config = ImageConfig {
            env: Some(vec!["PATH=/bin".into()]),
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        f.images
            .insert("sha256:base".into(), (config.clone(), files.clone()));
        f.tags.insert("busybox".into(), "sha256:base".into());
        let mut other = config;
        other.labels = Some([("x".to_string(), "y".to_string())].into());
        f.images.insert("sha256:other".into(), (other, files));
        f.tags.insert("other".into(), "sha256:other".into());
        f
    }

    fn file(&self, image: &str, path: &str) -> Option<File> {
        self.images.get(image)?.1.get(path).cloned()
    }

    fn config(&self, image: &str) -> ImageConfig {
        self.images[image].0.clone()
    }

    /// The files of `image` (`None`: an empty root).
    fn files_of(&self, image: Option<&str>) -> Result<Files, HostError> {
        match image {
            Some(i) => Ok(self
                .images
                .get(i)
                .ok_or_else(|| HostError(format!("no image {i}")))?
                .1
                .clone()),
            None => Ok(Files::new()),
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:064}", self.next)
    }
}

fn dir() -> File {
    File {
        data: vec![],
        mode: 0o755,
        uid: 0,
        gid: 0,
        dir: true,
        link: None,
    }
}

impl BuildHost for Fake {
    fn image(&mut self, reference: &str, _pull: bool) -> Result<Option<Image>, HostError> {
        let id = self
            .tags
            .get(reference)
            .cloned()
            .unwrap_or_else(|| reference.to_string());
        Ok(self.images.get(&id).map(|(c, _)| Image {
            id: id.clone(),
            config: c.clone(),
        }))
    }
    fn create(
        &mut self,
        image: Option<&str>,
        _c: &ImageConfig,
        run: Option<&RunSpec>,
    ) -> Result<String, HostError> {
        let files = self.files_of(image)?;
        let id = self.id("c");
        self.containers.insert(id.clone(), (files, run.cloned()));
        self.made_from.insert(id.clone(), image.map(str::to_string));
        Ok(id)
    }
    fn start(&mut self, container: &str) -> Result<i64, HostError> {
        let (files, run) = self
            .containers
            .get_mut(container)
            .ok_or_else(|| HostError("gone".into()))?;
        let run = run
            .clone()
            .ok_or_else(|| HostError("nothing to run".into()))?;
        self.runs.push(run.clone());
        let script = run.argv.last().cloned().unwrap_or_default();
        for line in script.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["exit", n] => return Ok(n.parse().unwrap_or(1)),
                ["write", path, text @ ..] => {
                    files.insert(
                        path.to_string(),
                        File {
                            data: text.join(" ").into_bytes(),
                            mode: 0o644,
                            uid: 0,
                            gid: 0,
                            dir: false,
                            link: None,
                        },
                    );
                }
                _ => {}
            }
        }
        self.lines.push(format!("ran {script}"));
        Ok(0)
    }
    fn is_dir(&mut self, container: &str, path: &str) -> Result<bool, HostError> {
        Ok(self.containers[container]
            .0
            .get(path)
            .is_some_and(|f| f.dir))
    }
    fn copy_in(
        &mut self,
        container: &str,
        dir_path: &str,
        archive: Box<dyn Read + Send>,
    ) -> Result<(), HostError> {
        let files = &mut self
            .containers
            .get_mut(container)
            .ok_or_else(|| HostError("gone".into()))?
            .0;
        files.entry(dir_path.to_string()).or_insert_with(dir);
        let mut ar = tar::Archive::new(archive);
        for e in ar.entries().map_err(|e| HostError(e.to_string()))? {
            let mut e = e.map_err(|e| HostError(e.to_string()))?;
            let name = e
                .path()
                .map_err(|e| HostError(e.to_string()))?
                .to_string_lossy()
                .into_owned();
            let h = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data)
                .map_err(|e| HostError(e.to_string()))?;
            let link = e
                .link_name()
                .ok()
                .flatten()
                .map(|p| p.to_string_lossy().into_owned());
            let path = format!("/{}", clean(&format!("{dir_path}/{name}")));
            files.insert(
                path,
                File {
                    data,
                    mode: h.mode().unwrap_or(0),
                    uid: h.uid().unwrap_or(0),
                    gid: h.gid().unwrap_or(0),
                    dir: h.entry_type().is_dir(),
                    link,
                },
            );
        }
        Ok(())
    }
    fn copy_out(&mut self, image: &str, path: &str, out: &mut dyn Write) -> Result<(), HostError> {
        let files = &self
            .images
            .get(image)
            .ok_or_else(|| HostError("no image".into()))?
            .1;
        let base = path.rsplit('/').next().unwrap_or("").to_string();
        let mut b = tar::Builder::new(Vec::new());
        let mut found = false;
        for (p, f) in files {
            let rel = if p == path {
                base.clone()
            } else if let Some(r) = p.strip_prefix(&format!("{path}/")) {
                format!("{base}/{r}")
            } else {
                continue;
            };
            found = true;
            let mut h = tar::Header::new_gnu();
            h.set_mode(f.mode);
            h.set_size(f.data.len() as u64);
            h.set_entry_type(if f.dir {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            });
            b.append_data(&mut h, &rel, f.data.as_slice())
                .map_err(|e| HostError(e.to_string()))?;
        }
        if !found {
            return Err(HostError(format!(
                "Could not find the file {path} in container"
            )));
        }
        let bytes = b.into_inner().map_err(|e| HostError(e.to_string()))?;
        out.write_all(&bytes).map_err(|e| HostError(e.to_string()))
    }
    fn lookup_user(
        &mut self,
        _c: &str,
        user: &str,
        _group: Option<&str>,
    ) -> Result<(u32, u32), HostError> {
        match user {
            "app" => Ok((1000, 1000)),
            _ => Err(HostError(format!(
                "unable to find user {user}: no matching entries in passwd file"
            ))),
        }
    }
    fn commit(
        &mut self,
        container: &str,
        config: &ImageConfig,
        by: &str,
    ) -> Result<String, HostError> {
        let files = self.containers[container].0.clone();
        let id = self.id("sha256:");
        self.images.insert(id.clone(), (config.clone(), files));
        let parent = self.made_from.get(container).cloned().flatten();
        self.parents.insert(id.clone(), (parent, by.to_string()));
        Ok(id)
    }
    fn configure(
        &mut self,
        image: Option<&str>,
        config: &ImageConfig,
        by: &str,
    ) -> Result<String, HostError> {
        let files = self.files_of(image)?;
        let id = self.id("sha256:");
        self.images.insert(id.clone(), (config.clone(), files));
        self.parents
            .insert(id.clone(), (image.map(str::to_string), by.to_string()));
        self.configured.push(by.to_string());
        Ok(id)
    }
    fn remove(&mut self, container: &str) -> Result<(), HostError> {
        self.containers.remove(container);
        self.removed += 1;
        Ok(())
    }
    fn tag(&mut self, image: &str, reference: &str) -> Result<(), HostError> {
        self.tags.insert(reference.to_string(), image.to_string());
        Ok(())
    }
    fn cache_get(&mut self, key: &str) -> Result<Option<String>, HostError> {
        Ok(self
            .cache
            .get(key)
            .filter(|i| self.images.contains_key(*i))
            .cloned())
    }
    fn cache_put(&mut self, key: &str, image: &str) -> Result<(), HostError> {
        self.cache.insert(key.to_string(), image.to_string());
        Ok(())
    }
    fn progress(&mut self, line: &str) {
        self.lines.push(line.to_string());
    }
    fn cache_from(
        &mut self,
        sources: &[String],
        parent: Option<&str>,
        created_by: &str,
        _config: &ImageConfig,
    ) -> Result<Option<String>, HostError> {
        // The step of a source whose ancestry passes `parent` right after this step.
        for s in sources {
            let mut at = self.tags.get(s).cloned().or_else(|| Some(s.clone()));
            while let Some(id) = at {
                let Some((p, by)) = self.parents.get(&id) else {
                    break;
                };
                if p.as_deref() == parent && by == created_by {
                    return Ok(Some(id));
                }
                at = p.clone();
            }
        }
        Ok(None)
    }
    fn cancelled(&mut self) -> bool {
        self.cancel_at.is_some_and(|n| self.images.len() >= n)
    }
}

fn context(files: &[(&str, &str)]) -> (tempfile::TempDir, Context) {
    let d = tempfile::tempdir().expect("tempdir");
    for (name, body) in files {
        let p = d.path().join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, body).expect("write");
    }
    let c = Context::open(d.path(), "Dockerfile").expect("context");
    (d, c)
}

fn opts(dockerfile: &str) -> BuildOptions {
    BuildOptions {
        dockerfile: dockerfile.to_string(),
        tags: vec!["x".into()],
        ..Default::default()
    }
}

fn run(host: &mut Fake, ctx: &Context, o: &BuildOptions) -> Built {
    match build(host, ctx, o) {
        Ok(b) => b,
        Err(e) => panic!("build failed: {e}\n{}", host.lines.join("\n")),
    }
}

const APP: &str = "FROM busybox AS build\nWORKDIR /src\nCOPY main.c .\nRUN write /src/app built\n\
FROM busybox\nENV GREETING=hello HOME=/home/app\nWORKDIR $HOME\nCOPY --from=build /src/app /usr/bin/app\n\
COPY --chown=app:app conf/ ./conf/\nUSER app\nCMD [\"app\"]\n";
