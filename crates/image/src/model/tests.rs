//! Unit tests of the image model.

use super::*;

fn d(n: u8) -> Digest {
    Digest::sha256_of(&[n])
}

#[test]
fn chain_ids_follow_the_spec() {
    let diffs = [d(1), d(2), d(3)];
    let chains = chain_ids(&diffs);
    assert_eq!(chains[0], diffs[0]);
    assert_eq!(
        chains[1],
        Digest::sha256_of(format!("{} {}", diffs[0], diffs[1]).as_bytes())
    );
    assert_eq!(
        chains[2],
        Digest::sha256_of(format!("{} {}", chains[1], diffs[2]).as_bytes())
    );
    assert!(chain_ids(&[]).is_empty());
}

#[test]
fn a_layer_chain_answers_each_layer_as_chain_ids_of_its_prefix() {
    let diffs: Vec<Digest> = (0..40).map(d).collect();
    let chain = LayerChain::new(diffs.clone());
    assert_eq!(chain.len(), 40);
    for i in 0..diffs.len() {
        let prefix = chain_ids(&diffs[..=i]);
        let (diff, id, parent) = chain.layer(i).unwrap();
        assert_eq!(diff, &diffs[i]);
        assert_eq!(id, &prefix[i]);
        assert_eq!(parent, i.checked_sub(1).map(|p| &prefix[p]));
    }
    assert!(chain.layer(40).is_none());
    assert!(LayerChain::new(Vec::new()).layer(0).is_none());
}

#[test]
fn a_deep_layer_chain_is_worked_out_once_not_per_layer() {
    // 20 000 layers: one hash each (a per-layer recomputation would be 2e8 hashes).
    let diffs: Vec<Digest> = (0..20_000u32)
        .map(|n| Digest::sha256_of(&n.to_le_bytes()))
        .collect();
    let start = std::time::Instant::now();
    let chain = LayerChain::new(diffs);
    for i in 0..chain.len() {
        assert!(chain.layer(i).is_some());
    }
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn verify_bytes_checks_size_then_digest() {
    let good = Descriptor::of(media::OCI_CONFIG, b"{}");
    assert!(verify_bytes("config", &good, b"{}").is_ok());
    assert!(matches!(
        verify_bytes("config", &good, b"{ }"),
        Err(VerifyError::Size { .. })
    ));
    assert!(matches!(
        verify_bytes("config", &good, b"[]"),
        Err(VerifyError::Digest { .. })
    ));
}

#[test]
fn parses_manifests_and_indexes_and_picks_the_host_platform() {
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":2}},"layers":[]}}"#,
        media::DOCKER_MANIFEST,
        media::DOCKER_CONFIG,
        d(1)
    );
    assert!(matches!(
        ManifestOrIndex::parse("m", None, m.as_bytes()).unwrap(),
        ManifestOrIndex::Manifest(_)
    ));
    let host = Platform::host();
    let idx = format!(
        r#"{{"schemaVersion":2,"manifests":[
          {{"mediaType":"{m}","digest":"{a}","size":1,"platform":{{"architecture":"unknown","os":"unknown"}}}},
          {{"mediaType":"{m}","digest":"{b}","size":1,"platform":{{"architecture":"{arch}","os":"linux"}}}}]}}"#,
        m = media::OCI_MANIFEST,
        a = d(2),
        b = d(3),
        arch = host.architecture
    );
    let ManifestOrIndex::Index(index) = ManifestOrIndex::parse("i", None, idx.as_bytes()).unwrap()
    else {
        panic!("expected an index")
    };
    assert_eq!(select_platform(&index, &host).unwrap().digest, d(3));
    assert!(ManifestOrIndex::parse("x", None, br#"{"schemaVersion":1}"#).is_err());
}

#[test]
fn config_keeps_unknown_fields() {
    let raw = br#"{"architecture":"amd64","os":"linux","docker_version":"28","config":{"Cmd":["sh"],"Hostname":"h"},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let c = ImageConfig::parse(raw).unwrap();
    assert_eq!(c.extra["docker_version"], "28");
    let cc = c.config.unwrap();
    assert_eq!(cc.cmd.unwrap(), vec!["sh"]);
    assert_eq!(cc.extra["Hostname"], "h");
}
