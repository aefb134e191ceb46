//! Interoperability with skopeo and umoci (both must be installed; CI installs them).

use std::path::Path;
use std::process::Command;

use berth_image::store::SaveFormat;

use crate::common::*;

fn require(tool: &str) {
    assert!(
        have(tool),
        "{tool} is required for this test (apt-get install {tool})"
    );
}

#[test]
fn an_umoci_layout_of_busybox_loads() {
    require("umoci");
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let bundle = dir.path().join("bundle");
    let image = format!("{}:busy", layout.display());
    run(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    run(Command::new("umoci").args(["new", "--image", &image]));
    run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image", &image])
        .arg(&bundle));
    let bin = bundle.join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", bin.join("sh")).unwrap();
    run(Command::new("umoci")
        .args(["repack", "--image", &image])
        .arg(&bundle));
    run(Command::new("umoci").args(["config", "--image", &image, "--config.cmd", "/bin/sh"]));

    let store = open_store(&dir.path().join("store"));
    let loaded = store.load_oci_dir(&layout, Some("umoci/busybox")).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].names, vec!["umoci/busybox:busy"]);
    let details = store.inspect("umoci/busybox:busy").unwrap();
    assert_eq!(details.container_config().cmd.unwrap(), vec!["/bin/sh"]);
    let top = store.unpack("umoci/busybox:busy").unwrap().unwrap();
    let mut flat = Vec::new();
    store.export_snapshot(&top, &mut flat).unwrap();
    let has_busybox = tar::Archive::new(&flat[..])
        .entries()
        .unwrap()
        .any(|e| e.unwrap().path().unwrap().ends_with("bin/busybox"));
    assert!(has_busybox);
    assert_clean(&store);
}

fn diff_ids(store: &berth_image::ImageStore, name: &str) -> Vec<String> {
    store
        .inspect(name)
        .unwrap()
        .diff_ids
        .iter()
        .map(|d| d.to_string())
        .collect()
}

#[test]
fn skopeo_converts_berth_archives_both_ways() {
    require("skopeo");
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir.path().join("a"));
    let id = import(
        &store,
        "interop/app:1",
        &[("etc/app", b"app"), ("bin/tool", &[1u8; 5000][..])],
    );
    let ours = dir.path().join("berth.tar");
    let mut f = std::fs::File::create(&ours).unwrap();
    store
        .save(&["interop/app:1"], SaveFormat::DockerArchive, &mut f)
        .unwrap();
    drop(f);

    // Berth's docker archive → skopeo's OCI layout → Berth.
    let oci = dir.path().join("oci");
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("docker-archive:{}", ours.display()))
        .arg(format!("oci:{}:v1", oci.display())));
    let b = open_store(&dir.path().join("b"));
    let loaded = b.load_oci_dir(&oci, Some("interop/app")).unwrap();
    assert_eq!(
        loaded[0].id.to_string(),
        id,
        "skopeo kept the config digest"
    );
    assert_eq!(diff_ids(&b, "interop/app:v1"), diff_ids(&store, &id));

    // skopeo's OCI layout → skopeo's docker archive → Berth.
    let theirs = dir.path().join("skopeo.tar");
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:v1", oci.display()))
        .arg(format!(
            "docker-archive:{}:interop/app:from-skopeo",
            theirs.display()
        )));
    let c = open_store(&dir.path().join("c"));
    let loaded = c.load(std::fs::File::open(&theirs).unwrap(), None).unwrap();
    assert_eq!(loaded[0].id.to_string(), id);
    assert_eq!(loaded[0].names, vec!["interop/app:from-skopeo"]);
    assert_clean(&c);

    // Berth's OCI layout directory → skopeo.
    let ours_oci = dir.path().join("berth-oci");
    store.save_oci_dir(&["interop/app:1"], &ours_oci).unwrap();
    let back = dir.path().join("back.tar");
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:1", ours_oci.display()))
        .arg(format!(
            "docker-archive:{}:interop/app:back",
            back.display()
        )));
    let d = open_store(&dir.path().join("d"));
    let loaded = d.load(std::fs::File::open(&back).unwrap(), None).unwrap();
    assert_eq!(loaded[0].id.to_string(), id);
    assert!(Path::new(&back).exists());
}
