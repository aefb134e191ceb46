//! The authorization chain against a real plugin: the test suite's authz plugin
//! (`crates/berth/tests/common/authz_plugin.rs`), served from threads of this process on
//! sockets in temp dirs. Allow, deny with the plugin's message, the chain's order, the response
//! call, and failing closed: a missing plugin, one that errs, one that hangs.

#[path = "../../../berth/tests/common/authz_plugin.rs"]
mod authz_plugin;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use authz_plugin::{AuthzPlugin, Behaviour, Rule};

use super::authz::{Authorizer, AuthzRequest, REQUEST_METHOD, RESPONSE_METHOD};
use super::*;
use crate::error::ErrorKind;

/// A registry looking only in `dir/run`.
fn registry(dir: &Path, timeout: Duration) -> Registry {
    Registry::new(Settings {
        search: SearchPath {
            socket_dirs: vec![dir.join("run")],
            spec_dirs: vec![],
        },
        timeout,
        find_wait: Duration::from_millis(300),
    })
}

fn create_request() -> AuthzRequest {
    AuthzRequest {
        method: "POST".into(),
        uri: "/v1.50/containers/create?name=x".into(),
        body: br#"{"Image":"busybox","HostConfig":{"Privileged":true}}"#.to_vec(),
        headers: BTreeMap::from([("Content-Type".into(), "application/json".into())]),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_plugin_must_allow_and_the_first_refusal_answers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let open = AuthzPlugin::on_socket(&tmp.path().join("run/open.sock"));
    let strict = AuthzPlugin::on_socket(&tmp.path().join("run/strict.sock"));
    let reg = registry(tmp.path(), Duration::from_secs(10));
    let names = ["open".to_string(), "strict".to_string(), "open".to_string()];
    let chain = Authorizer::new(&reg, &names);
    chain.check().await.expect("both found and activated");
    let req = create_request();
    chain.request(&req).await.expect("allowed by both");
    // What the plugin got: Docker's fields, the body in base64 (decoded by the plugin).
    let got = open.calls_of(REQUEST_METHOD);
    assert_eq!(got.len(), 1, "a name given twice is asked once");
    assert_eq!(got[0].body["RequestMethod"], "POST");
    assert_eq!(got[0].body["RequestUri"], "/v1.50/containers/create?name=x");
    assert_eq!(got[0].body["RequestJson"]["HostConfig"]["Privileged"], true);
    assert_eq!(
        got[0].body["RequestHeaders"]["Content-Type"],
        "application/json"
    );

    strict.deny(Rule::Privileged {
        msg: "no privileged containers".into(),
    });
    let e = chain.request(&req).await.expect_err("refused");
    assert_eq!(
        e.to_string(),
        "authorization denied by plugin strict: no privileged containers"
    );
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    // In order: a refusal by the first plugin never reaches the second.
    let first = Authorizer::new(&reg, &["strict".to_string(), "open".to_string()]);
    let before = open.calls_of(REQUEST_METHOD).len();
    assert!(first.request(&req).await.is_err());
    assert_eq!(open.calls_of(REQUEST_METHOD).len(), before);

    // The response call carries the response.
    strict.deny(Rule::Response {
        path: "/containers/create".into(),
        msg: "answers withheld".into(),
    });
    let mut res = create_request();
    res.response_status = 201;
    res.response_body = br#"{"Id":"abc"}"#.to_vec();
    let e = chain.response(&res).await.expect_err("response refused");
    assert_eq!(
        e.to_string(),
        "authorization denied by plugin strict: answers withheld"
    );
    let got = open.calls_of(RESPONSE_METHOD);
    assert_eq!(got[0].body["ResponseStatusCode"], 201);
    assert_eq!(got[0].body["ResponseJson"]["Id"], "abc");
}

#[tokio::test]
async fn a_plugin_that_cannot_answer_refuses_the_request() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let reg = registry(tmp.path(), Duration::from_secs(2));
    // Not there at all.
    let missing = Authorizer::new(&reg, &["missing".to_string()]);
    let e = missing
        .request(&create_request())
        .await
        .expect_err("refused");
    assert_eq!(
        e.to_string(),
        "plugin missing failed with error: plugin \"missing\" not found"
    );
    assert_eq!(e.kind(), ErrorKind::Internal);
    assert!(missing.check().await.is_err(), "the start-time check fails");

    // Answers an error status: the plugin's Err, after the method.
    let p = AuthzPlugin::on_socket(&tmp.path().join("run/broken.sock"));
    let chain = Authorizer::new(&reg, &["broken".to_string()]);
    p.set(Behaviour::Status(500, "policy store offline".into()));
    let e = chain.request(&create_request()).await.expect_err("refused");
    assert_eq!(
        e.to_string(),
        "plugin broken failed with error: AuthZPlugin.AuthZReq: policy store offline"
    );

    // Hangs: refused when the call's deadline passes, not later.
    p.set(Behaviour::Hang);
    let start = Instant::now();
    let e = chain.request(&create_request()).await.expect_err("refused");
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    assert!(
        e.to_string()
            .contains("plugin broken failed with error: AuthZPlugin.AuthZReq"),
        "{e}"
    );
}
