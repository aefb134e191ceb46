//! Executor tests against an in-memory host: images are maps of paths to files; a `RUN` script
//! understands `write PATH TEXT` and `exit N`.

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
    cache: BTreeMap<String, String>,
    lines: Vec<String>,
    runs: Vec<RunSpec>,
    removed: usize,
    next: u32,
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
        let files = match image {
            Some(i) => self
                .images
                .get(i)
                .ok_or_else(|| HostError(format!("no image {i}")))?
                .1
                .clone(),
            None => Files::new(),
        };
        let id = self.id("c");
        self.containers.insert(id.clone(), (files, run.cloned()));
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
        archive: &mut dyn Read,
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
        _by: &str,
    ) -> Result<String, HostError> {
        let files = self.containers[container].0.clone();
        let id = self.id("sha256:");
        self.images.insert(id.clone(), (config.clone(), files));
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

#[test]
fn multi_stage_build() {
    let (_d, ctx) = context(&[("main.c", "int main;"), ("conf/a.conf", "a=1")]);
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(APP));
    assert_eq!(b.tags, ["x:latest"]);
    assert_eq!(h.tags["x:latest"], b.image);
    assert_eq!(b.steps, 11);
    assert_eq!(b.cache_hits, 0);
    let c = h.config(&b.image);
    assert_eq!(
        c.env,
        Some(vec![
            "PATH=/bin".into(),
            "GREETING=hello".into(),
            "HOME=/home/app".into()
        ])
    );
    assert_eq!(c.working_dir.as_deref(), Some("/home/app"));
    assert_eq!(c.user.as_deref(), Some("app"));
    assert_eq!(c.cmd, Some(vec!["app".into()]));
    assert_eq!(
        h.file(&b.image, "/usr/bin/app").expect("app").data,
        b"built"
    );
    let conf = h.file(&b.image, "/home/app/conf/a.conf").expect("conf");
    assert_eq!(
        (conf.uid, conf.gid, conf.data.as_slice()),
        (1000, 1000, &b"a=1"[..])
    );
    assert!(
        h.file(&b.image, "/src/main.c").is_none(),
        "the build stage's files stay there"
    );
    assert!(h
        .lines
        .contains(&"Step 1/11 : FROM busybox AS build".to_string()));
    assert!(h.lines.iter().any(|l| l.starts_with("Successfully built ")));
    assert!(h
        .lines
        .contains(&"Successfully tagged x:latest".to_string()));
    assert!(h.containers.is_empty(), "every build container is removed");
    assert_eq!(h.runs[0].workdir, "/src");
    assert_eq!(h.runs[0].argv, ["/bin/sh", "-c", "write /src/app built"]);
}

#[test]
fn a_rebuild_uses_the_cache_for_every_step() {
    let (_d, ctx) = context(&[("main.c", "int main;"), ("conf/a.conf", "a=1")]);
    let mut h = Fake::with_base();
    let first = run(&mut h, &ctx, &opts(APP));
    h.lines.clear();
    let runs = h.runs.len();
    let second = run(&mut h, &ctx, &opts(APP));
    assert_eq!(second.image, first.image);
    assert_eq!(second.cache_hits, 9, "every step but the two FROMs");
    assert_eq!(
        h.lines.iter().filter(|l| *l == " ---> Using cache").count(),
        9
    );
    assert_eq!(h.runs.len(), runs, "nothing ran again");
}

#[test]
fn a_changed_file_invalidates_from_its_copy_on() {
    let (d, ctx) = context(&[("a", "1"), ("b", "1")]);
    let df = "FROM busybox\nCOPY a /a\nRUN write /x 1\nCOPY b /b\nRUN write /y 2\n";
    let mut h = Fake::with_base();
    run(&mut h, &ctx, &opts(df));
    std::fs::write(d.path().join("b"), "2").expect("write");
    let b = run(&mut h, &ctx, &opts(df));
    assert_eq!(b.cache_hits, 2, "COPY a and the first RUN");
    assert_eq!(h.file(&b.image, "/b").expect("b").data, b"2");
    std::fs::write(d.path().join("a"), "2").expect("write");
    assert_eq!(run(&mut h, &ctx, &opts(df)).cache_hits, 0);
}

#[test]
fn no_cache_runs_everything() {
    let (_d, ctx) = context(&[("a", "1")]);
    let df = "FROM busybox\nCOPY a /a\nRUN write /x 1\n";
    let mut h = Fake::with_base();
    run(&mut h, &ctx, &opts(df));
    let o = BuildOptions {
        no_cache: true,
        ..opts(df)
    };
    assert_eq!(run(&mut h, &ctx, &o).cache_hits, 0);
}

#[test]
fn bld07_no_cache_across_base_images() {
    let (_d, ctx) = context(&[]);
    let mut h = Fake::with_base();
    run(&mut h, &ctx, &opts("FROM busybox\nRUN write /x hi\n"));
    let b = run(&mut h, &ctx, &opts("FROM other\nRUN write /x hi\n"));
    assert_eq!(b.cache_hits, 0);
}

#[test]
fn build_args_change_the_cache_key() {
    let (_d, ctx) = context(&[]);
    let df = "ARG BASE=busybox\nFROM $BASE\nARG V=1\nRUN write /v $V\n";
    let mut h = Fake::with_base();
    run(&mut h, &ctx, &opts(df));
    let mut o = opts(df);
    o.build_args.insert("V".into(), "2".into());
    o.build_args.insert("UNUSED".into(), "x".into());
    o.build_args.insert("HTTP_PROXY".into(), "p".into());
    let b = run(&mut h, &ctx, &o);
    assert_eq!(b.cache_hits, 1, "ARG itself, not the RUN");
    assert!(h.runs.last().expect("run").env.contains(&"V=2".to_string()));
    assert!(h
        .lines
        .contains(&"[Warning] One or more build-args [UNUSED] were not consumed".to_string()));
    o.build_args.insert("BASE".into(), "other".into());
    assert_eq!(run(&mut h, &ctx, &o).cache_hits, 0);
}

#[test]
fn global_args_need_redeclaring_in_a_stage() {
    let (_d, ctx) = context(&[]);
    let df = "ARG V=g\nFROM busybox\nENV A=$V\nARG V\nENV B=$V\n";
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(df));
    let c = h.config(&b.image);
    assert_eq!(c.env_var("A").as_deref(), Some(""));
    assert_eq!(c.env_var("B").as_deref(), Some("g"));
}

#[test]
fn env_expands_with_the_values_before_the_line() {
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox\nENV A=1\nENV A=2 B=$A C=${Z:-z}\nLABEL l=$A\n";
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(df));
    let c = h.config(&b.image);
    assert_eq!(c.env_var("B").as_deref(), Some("1"));
    assert_eq!(c.env_var("C").as_deref(), Some("z"));
    assert_eq!(c.labels.expect("labels")["l"], "2");
}

#[test]
fn target_builds_only_what_it_needs() {
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox AS a\nRUN write /a 1\nFROM busybox AS unused\nRUN exit 3\nFROM a AS t\nRUN write /t 1\nFROM busybox\nRUN exit 4\n";
    let mut h = Fake::with_base();
    let o = BuildOptions {
        target: Some("t".into()),
        ..opts(df)
    };
    let b = run(&mut h, &ctx, &o);
    assert!(h.file(&b.image, "/a").is_some() && h.file(&b.image, "/t").is_some());
    assert_eq!(b.steps, 4);
    let o = BuildOptions {
        target: Some("nope".into()),
        ..opts(df)
    };
    let e = build(&mut h, &ctx, &o).expect_err("no such target");
    assert_eq!(
        e.to_string(),
        "failed to reach build target nope in Dockerfile"
    );
}

#[test]
fn a_failing_run_stops_the_build() {
    let (_d, ctx) = context(&[]);
    let mut h = Fake::with_base();
    let o = opts("FROM busybox\nRUN exit 7\nRUN write /never 1\n");
    let e = build(&mut h, &ctx, &o).expect_err("fails");
    assert_eq!(
        e.to_string(),
        "The command '/bin/sh -c exit 7' returned a non-zero code: 7"
    );
    assert_eq!(e.code(), Some(7));
    assert!(!h.tags.contains_key("x:latest"));
    assert_eq!(
        h.containers.len(),
        1,
        "Docker keeps the failed step's container"
    );
    let mut h = Fake::with_base();
    let o = BuildOptions {
        force_rm: true,
        ..o
    };
    build(&mut h, &ctx, &o).expect_err("fails");
    assert!(h.containers.is_empty());
}

#[test]
fn entrypoint_resets_an_inherited_cmd() {
    let (_d, ctx) = context(&[]);
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts("FROM busybox\nENTRYPOINT [\"/app\"]\n"));
    assert_eq!(h.config(&b.image).cmd, None);
    let b = run(
        &mut h,
        &ctx,
        &opts("FROM busybox\nCMD [\"-v\"]\nENTRYPOINT /app run\n"),
    );
    let c = h.config(&b.image);
    assert_eq!(c.cmd, Some(vec!["-v".into()]));
    assert_eq!(
        c.entrypoint,
        Some(vec!["/bin/sh".into(), "-c".into(), "/app run".into()])
    );
}

#[test]
fn shell_expose_volume_health_stopsignal_onbuild() {
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox\nSHELL [\"/bin/ash\", \"-eo\"]\nRUN write /s 1\nEXPOSE 80 53/udp 8000-8001\nVOLUME /data\n\
HEALTHCHECK --interval=5s CMD true\nSTOPSIGNAL SIGINT\nONBUILD RUN write /onbuild 1\n";
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(df));
    assert_eq!(h.runs[0].argv, ["/bin/ash", "-eo", "write /s 1"]);
    let c = h.config(&b.image);
    let ports: Vec<&String> = c.exposed_ports.as_ref().expect("ports").keys().collect();
    assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
    assert!(c.volumes.expect("volumes").contains_key("/data"));
    let hc = c.healthcheck.expect("healthcheck");
    assert_eq!(
        (hc.test, hc.interval),
        (
            vec!["CMD-SHELL".to_string(), "true".to_string()],
            5_000_000_000
        )
    );
    assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(c.on_build, Some(vec!["RUN write /onbuild 1".into()]));
    // A build FROM it runs the trigger first, and its image carries no trigger.
    h.tags.insert("parent".into(), b.image.clone());
    let child = run(&mut h, &ctx, &opts("FROM parent\nENV X=1\n"));
    assert!(h.file(&child.image, "/onbuild").is_some());
    assert_eq!(h.config(&child.image).on_build, None);
}

#[test]
fn copy_layouts_and_modes() {
    let (d, ctx) = context(&[
        ("dir/a", "a"),
        ("dir/sub/b", "b"),
        ("f", "f"),
        ("g.txt", "g"),
    ]);
    std::os::unix::fs::symlink("f", d.path().join("link")).expect("symlink");
    let df = "FROM busybox\nCOPY dir /d\nCOPY f /file-renamed\nCOPY f g.txt /multi/\nCOPY --chmod=0700 --chown=5:6 f /etc\nCOPY link /l\nCOPY *.txt /globbed/\n";
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(df));
    let f = |p: &str| h.file(&b.image, p);
    assert!(f("/d/a").is_some() && f("/d/sub/b").is_some() && f("/d/dir").is_none());
    assert_eq!(f("/file-renamed").expect("renamed").data, b"f");
    assert!(f("/multi/f").is_some() && f("/multi/g.txt").is_some());
    let e = f("/etc/f").expect("into an existing directory");
    assert_eq!((e.mode, e.uid, e.gid), (0o700, 5, 6));
    assert_eq!(f("/l").expect("link").link.as_deref(), Some("f"));
    assert!(f("/globbed/g.txt").is_some());
    assert_eq!(f("/d/a").expect("a").uid, 0);
}

#[test]
fn copy_errors_name_the_problem() {
    let (_d, ctx) = context(&[("a", "a")]);
    let mut h = Fake::with_base();
    let e = build(&mut h, &ctx, &opts("FROM busybox\nCOPY ../secret /\n")).expect_err("outside");
    assert_eq!(
        e.to_string(),
        "forbidden path outside the build context: ../secret"
    );
    let e = build(&mut h, &ctx, &opts("FROM busybox\nCOPY missing /\n")).expect_err("missing");
    assert!(e
        .to_string()
        .starts_with("missing: not found in the build context"));
    let e = build(&mut h, &ctx, &opts("FROM busybox\nCOPY --chmod=999 a /\n")).expect_err("chmod");
    assert!(e
        .to_string()
        .starts_with("dockerfile line 2: invalid chmod parameter"));
    let e = build(
        &mut h,
        &ctx,
        &opts("FROM busybox\nCOPY --chown=nobody a /\n"),
    )
    .expect_err("user");
    assert!(e.to_string().contains("unable to find user nobody"));
    let e = build(
        &mut h,
        &ctx,
        &opts("FROM busybox\nCOPY --from=nowhere /a /\n"),
    )
    .expect_err("from");
    assert!(e.to_string().contains("invalid from flag value nowhere"));
}

#[test]
fn dockerignore_and_exclude() {
    let (_d, ctx) = context(&[
        (".dockerignore", "secret.txt\n"),
        ("secret.txt", "s"),
        ("a.md", "m"),
        ("b", "b"),
    ]);
    let mut h = Fake::with_base();
    let b = run(
        &mut h,
        &ctx,
        &opts("FROM busybox\nCOPY --exclude=*.md . /app/\n"),
    );
    assert!(h.file(&b.image, "/app/b").is_some());
    assert!(h.file(&b.image, "/app/secret.txt").is_none());
    assert!(h.file(&b.image, "/app/a.md").is_none());
}

#[test]
fn add_extracts_local_archives_and_refuses_urls() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut tb = tar::Builder::new(Vec::new());
    let mut hd = tar::Header::new_gnu();
    hd.set_size(2);
    hd.set_mode(0o644);
    tb.append_data(&mut hd, "in/x", &b"hi"[..]).expect("append");
    let raw = tb.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("gzip");
    std::fs::write(d.path().join("a.tar.gz"), gz.finish().expect("gzip")).expect("write");
    let ctx = Context::open(d.path(), "Dockerfile").expect("context");
    let mut h = Fake::with_base();
    let b = run(
        &mut h,
        &ctx,
        &opts("FROM busybox\nADD a.tar.gz /dst/\nCOPY a.tar.gz /kept/\n"),
    );
    assert_eq!(
        h.file(&b.image, "/dst/in/x").expect("extracted").data,
        b"hi"
    );
    assert!(
        h.file(&b.image, "/kept/a.tar.gz").is_some(),
        "COPY never extracts"
    );
    let e = build(
        &mut h,
        &ctx,
        &opts("FROM busybox\nADD http://127.0.0.1:1/r.tar.gz /dst/\n"),
    )
    .expect_err("url");
    assert!(e.to_string().contains("does not download remote files"));
}

#[test]
fn heredocs() {
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox\nENV N=world\nCOPY <<EOF /hello\nhello $N\nEOF\nCOPY <<'EOF' /raw\n$N\nEOF\nRUN <<EOF\nwrite /h1 1\nEOF\nRUN cat <<X\nline\nX\n";
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(df));
    assert_eq!(
        h.file(&b.image, "/hello").expect("hello").data,
        b"hello world\n"
    );
    assert_eq!(h.file(&b.image, "/raw").expect("raw").data, b"$N\n");
    assert!(h.file(&b.image, "/h1").is_some());
    assert_eq!(h.runs[1].argv, ["/bin/sh", "-c", "cat <<X\nline\nX"]);
}

#[test]
fn labels_option() {
    let (_d, ctx) = context(&[]);
    let mut h = Fake::with_base();
    let mut o = opts("FROM busybox\nLABEL a=1\n");
    o.labels.insert("b".into(), "two words".into());
    let b = run(&mut h, &ctx, &o);
    let labels = h.config(&b.image).labels.expect("labels");
    assert_eq!(
        (labels["a"].as_str(), labels["b"].as_str()),
        ("1", "two words")
    );
}

#[test]
fn scratch_and_missing_images() {
    let (_d, ctx) = context(&[("f", "f")]);
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts("FROM scratch\nCOPY f /f\n"));
    assert!(h.file(&b.image, "/f").is_some());
    let e = build(&mut h, &ctx, &opts("FROM scratch\n")).expect_err("empty");
    assert!(e.to_string().contains("No image was generated"));
    let e = build(&mut h, &ctx, &opts("FROM nothere\n")).expect_err("missing");
    assert!(e
        .to_string()
        .starts_with("dockerfile line 1: pull access denied for nothere"));
}

#[test]
fn run_mounts_reach_the_host() {
    let (d, ctx) = context(&[("src/a", "1")]);
    let df = "FROM busybox\nWORKDIR /w\nRUN --mount=type=cache,target=.cache,id=pip,uid=5,mode=0700 --mount=type=tmpfs,target=/t,size=1024 \
--mount=type=bind,source=src,target=/s --mount=type=bind,target=/all,rw true\n";
    let mut h = Fake::with_base();
    run(&mut h, &ctx, &opts(df));
    let m = &h.runs[0].mounts;
    assert_eq!(m.len(), 4);
    assert_eq!(
        m[0],
        RunMount {
            source: MountSource::Cache {
                id: "pip".into(),
                uid: 5,
                gid: 0,
                mode: 0o700
            },
            target: "/w/.cache".into(),
            readonly: false
        }
    );
    assert_eq!(m[1].source, MountSource::Tmpfs { size: Some(1024) });
    assert_eq!(
        (m[2].source.clone(), m[2].readonly),
        (MountSource::Context(d.path().join("src")), true)
    );
    assert_eq!(
        (m[3].source.clone(), m[3].readonly),
        (MountSource::Context(d.path().to_path_buf()), false)
    );
    // A changed bound file is a new step; an unchanged one a cache hit.
    assert_eq!(run(&mut h, &ctx, &opts(df)).cache_hits, 2);
    std::fs::write(d.path().join("src/a"), "2").expect("write");
    assert_eq!(run(&mut h, &ctx, &opts(df)).cache_hits, 1);
}

#[test]
fn run_mounts_refused_with_reasons() {
    let (d, ctx) = context(&[("f", "1")]);
    std::os::unix::fs::symlink("/etc", d.path().join("link")).expect("symlink");
    let mut h = Fake::with_base();
    let cases = [
        ("RUN --mount=type=secret,id=tok true", "carries no secrets"),
        ("RUN --mount=type=ssh,target=/s true", "carries no secrets"),
        (
            "RUN --mount=type=bind,from=x,target=/x true",
            "from=x is not supported",
        ),
        (
            "RUN --mount=type=bind,source=link,target=/x true",
            "is a symbolic link",
        ),
        (
            "RUN --mount=type=bind,source=../x,target=/x true",
            "forbidden path outside the build context",
        ),
        (
            "RUN --mount=type=cache,target=/c,sharing=odd true",
            "shared, private or locked",
        ),
        (
            "RUN --mount=type=cache,target=/c,uid=x true",
            "not a number",
        ),
    ];
    for (line, want) in cases {
        let e = build(&mut h, &ctx, &opts(&format!("FROM busybox\n{line}\n"))).expect_err(line);
        assert!(e.to_string().contains(want), "{line}: {e}");
    }
}
