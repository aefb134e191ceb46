//! The server's access control over real HTTP: which flags start it open (none may), and a
//! cross-repository mount that needs `pull` on its source (#14).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use clap::Parser as _;
use hyper::Method;

use super::auth::{Auth, Htpasswd, Issuer, TokenSettings};
use super::tests::{start_full, Srv};
use super::token::{now, parse_scope, sign, Audience, Claims};

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    serve: super::ServeArgs,
}

fn auth(args: &[&str]) -> Result<Option<Auth>, String> {
    let mut all = vec!["serve", "--root", "/nonexistent"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all)
        .map_err(|e| e.to_string())?
        .serve
        .auth()
}

#[test]
fn token_auth_without_users_or_issuer_is_refused() {
    let e = auth(&["--token-auth"]).err().unwrap_or_default();
    assert!(e.contains("--token-auth needs --htpasswd"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    let hash = bcrypt::hash("pw", 4).unwrap();
    std::fs::write(&file, format!("u:{hash}\n")).unwrap();
    let path = file.to_str().unwrap();
    assert!(matches!(
        auth(&["--token-auth", "--htpasswd", path]),
        Ok(Some(Auth::Token {
            issuer: Issuer::Own { .. },
            ..
        }))
    ));
    // An external issuer's bundle needs its realm, and is not mixed with local users.
    let e = auth(&["--token-auth", "--token-rootcertbundle", path])
        .err()
        .unwrap_or_default();
    assert!(e.contains("--token-realm"), "{e}");
    let e = auth(&[
        "--token-auth",
        "--token-realm",
        "http://t/token",
        "--token-rootcertbundle",
        path,
        "--htpasswd",
        path,
    ])
    .err()
    .unwrap_or_default();
    assert!(e.contains("cannot be used with"), "{e}");
    // A bundle with no certificate is refused, naming the file.
    let e = auth(&[
        "--token-auth",
        "--token-realm",
        "http://t/token",
        "--token-rootcertbundle",
        path,
    ])
    .err()
    .unwrap_or_default();
    assert!(e.contains(path) && e.contains("no PEM certificate"), "{e}");
    assert!(matches!(auth(&[]), Ok(None)));
}

const KEY: [u8; 32] = [7; 32];

fn settings() -> TokenSettings {
    TokenSettings {
        realm: "http://127.0.0.1:1/token".into(),
        service: "svc".into(),
        issuer: "iss".into(),
    }
}

/// `Authorization: Bearer` of a token of this server granting `scopes`.
fn bearer(scopes: &[&str]) -> String {
    let t = now();
    let claims = Claims {
        iss: "iss".into(),
        sub: "someone".into(),
        aud: Audience::One("svc".into()),
        exp: t + 60,
        nbf: t,
        iat: t,
        access: scopes.iter().filter_map(|s| parse_scope(s)).collect(),
    };
    format!("Bearer {}", sign(&claims, &KEY).unwrap())
}

async fn token_server() -> Srv {
    let users = Htpasswd::parse("").unwrap();
    let access = Auth::Token {
        settings: settings(),
        issuer: Issuer::Own {
            users,
            key: Arc::new(KEY),
        },
    };
    start_full(super::storage::MAX_UPLOAD_BYTES, Some(access)).await
}

#[tokio::test]
async fn a_mount_needs_pull_on_its_source_else_it_is_a_plain_upload() {
    let s = token_server().await;
    let secret = b"the secret layer";
    let d = berth_oci::Digest::sha256_of(secret);
    // The owner of `private` pushes a blob there.
    let owner = bearer(&["repository:private:pull,push"]);
    let (st, _, body) = s
        .req(
            Method::POST,
            &format!("/v2/private/blobs/uploads/?digest={d}"),
            &[("authorization", &owner)],
            secret,
        )
        .await;
    assert_eq!(st, 201, "{body}");
    // Another user, with push on `mine` only, asks to mount it: a plain upload session (202),
    // and the blob is not in `mine`.
    let other = bearer(&["repository:mine:pull,push"]);
    let mount = format!("/v2/mine/blobs/uploads/?mount={d}&from=private");
    let (st, h, body) = s
        .req(Method::POST, &mount, &[("authorization", &other)], b"")
        .await;
    assert_eq!(st, 202, "{body}");
    assert!(h["location"]
        .to_str()
        .unwrap()
        .contains("/v2/mine/blobs/uploads/"));
    let (st, _, _) = s
        .req(
            Method::HEAD,
            &format!("/v2/mine/blobs/{d}"),
            &[("authorization", &other)],
            b"",
        )
        .await;
    assert_eq!(st, 404, "the mount went through without pull on its source");
    // Encoded the other way round (`from` first, escaped), the same.
    let mount2 = format!("/v2/mine/blobs/uploads/?from=priv%61te&mount={d}");
    let (st, _, body) = s
        .req(Method::POST, &mount2, &[("authorization", &other)], b"")
        .await;
    assert_eq!(st, 202, "{body}");
    // With pull on the source, the mount is done (201).
    let both = bearer(&["repository:mine:pull,push", "repository:private:pull"]);
    let (st, _, body) = s
        .req(Method::POST, &mount, &[("authorization", &both)], b"")
        .await;
    assert_eq!(st, 201, "{body}");
    let (st, _, _) = s
        .req(
            Method::HEAD,
            &format!("/v2/mine/blobs/{d}"),
            &[("authorization", &other)],
            b"",
        )
        .await;
    assert_eq!(st, 200);
}
