//! The host users the `--userns-remap` tests remap to, made for a test and removed again on
//! drop with their subordinate ranges; the last one out puts `/etc/subuid`, `/etc/subgid` and
//! the shadow tools' backups (`/etc/passwd-`, ...) back as they were, so the machine is left
//! as found whichever test ends last.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::harness::stderr;

/// A system user made for one test, with the subordinate ranges `range` (if any); dropped, it
/// is removed again with its ranges, and the last one dropped removes `/etc/subuid` and
/// `/etc/subgid` if they did not exist before the first was made (`useradd` may create them).
pub struct RemapUser {
    pub name: String,
    range: Option<(u32, u32)>,
}

const SUBID_FILES: [&str; 2] = ["/etc/subuid", "/etc/subgid"];

/// The shadow tools' backups of the files they change (each change rewrites them).
const SHADOW_BACKUPS: [&str; 6] = [
    "/etc/passwd-",
    "/etc/group-",
    "/etc/shadow-",
    "/etc/gshadow-",
    "/etc/subuid-",
    "/etc/subgid-",
];

/// What the files were before this test binary made its first user.
struct Before {
    subid_existed: [bool; 2],
    backups: Vec<Option<Vec<u8>>>,
}

static BEFORE: std::sync::OnceLock<Before> = std::sync::OnceLock::new();
/// Users of this binary not dropped yet.
static LIVE: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

/// Counts a user made by a test in (taking the files' state first, once).
fn enter() {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    BEFORE.get_or_init(|| Before {
        subid_existed: SUBID_FILES.map(|f| Path::new(f).exists()),
        backups: SHADOW_BACKUPS
            .iter()
            .map(|f| std::fs::read(f).ok())
            .collect(),
    });
    *live += 1;
}

/// Counts user `name` (already deleted) out: its lines leave the subordinate id files; the last
/// one out puts the files back as they were (the backups' contents, files that did not exist).
fn leave(name: &str) {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    *live -= 1;
    let prefix = format!("{name}:");
    for file in SUBID_FILES {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.lines().any(|l| l.starts_with(&prefix)) {
            let kept: String = text
                .lines()
                .filter(|l| !l.starts_with(&prefix))
                .map(|l| format!("{l}\n"))
                .collect();
            let _ = std::fs::write(file, &kept);
        }
    }
    let Some(before) = BEFORE.get().filter(|_| *live == 0) else {
        return;
    };
    for (file, existed) in SUBID_FILES.iter().zip(before.subid_existed) {
        if !existed && std::fs::read_to_string(file).is_ok_and(|t| t.trim().is_empty()) {
            let _ = std::fs::remove_file(file);
        }
    }
    for (file, content) in SHADOW_BACKUPS.iter().zip(&before.backups) {
        let _ = match content {
            Some(bytes) => std::fs::write(file, bytes),
            None => std::fs::remove_file(file),
        };
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().expect(program);
    assert!(out.status.success(), "{program} {args:?}: {}", stderr(&out));
}

impl RemapUser {
    pub fn create(range: Option<(u32, u32)>) -> RemapUser {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "brm{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        enter();
        let user = RemapUser { name, range };
        run(
            "useradd",
            &[
                "--system",
                "--no-create-home",
                "--user-group",
                "--shell",
                "/bin/false",
                &user.name,
            ],
        );
        if let Some((start, count)) = range {
            let r = format!("{start}-{}", start + count - 1);
            run(
                "usermod",
                &["--add-subuids", &r, "--add-subgids", &r, &user.name],
            );
        }
        user
    }
}

impl Drop for RemapUser {
    fn drop(&mut self) {
        if let Some((start, count)) = self.range {
            let r = format!("{start}-{}", start + count - 1);
            let _ = Command::new("usermod")
                .args(["--del-subuids", &r, "--del-subgids", &r, &self.name])
                .output();
        }
        let _ = Command::new("userdel").arg(&self.name).output();
        let _ = Command::new("groupdel").arg(&self.name).output();
        leave(&self.name);
    }
}

/// Removes `dockremap` (user, group, ranges) on drop when it did not exist before the test.
pub struct DockremapGuard {
    existed: bool,
}

impl DockremapGuard {
    pub fn new() -> DockremapGuard {
        let existed = Command::new("id")
            .arg("dockremap")
            .output()
            .is_ok_and(|o| o.status.success());
        enter();
        DockremapGuard { existed }
    }
}

impl Drop for DockremapGuard {
    fn drop(&mut self) {
        if !self.existed {
            let _ = Command::new("userdel").arg("dockremap").output();
            let _ = Command::new("groupdel").arg("dockremap").output();
        }
        leave(if self.existed { "" } else { "dockremap" });
    }
}
