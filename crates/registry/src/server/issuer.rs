//! Tokens of an external token server (`--token-auth --token-rootcertbundle FILE --token-realm
//! URL`, distribution's `auth.token.rootcertbundle`): JWTs signed with RS256/384/512 or
//! ES256/384 by a key whose certificate the token names, as distribution accepts them:
//!
//! - `x5c` in the JWT header: the signing certificate (then intermediates), which must chain to
//!   a certificate of the bundle (any extended key usage, as distribution's `ExtKeyUsageAny`);
//! - else `kid`: the libtrust key ID of a bundle certificate's public key (what
//!   `docker_auth` and distribution's own token tooling put there).
//!
//! The claims must then name this registry's `--token-issuer` and `--token-service` and be
//! within their `nbf`..`exp`; what the token grants is its `access` list ([`super::token`]).
//! Anything else (`alg` `none` or HMAC, an unknown `kid`, a broken chain) is no token. The
//! signing certificate must be X.509 v3 (webpki refuses v1 end-entity certificates, which Go's
//! x509 takes: `openssl x509 -req` makes v3 only with `-extfile`).

use std::path::Path;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use sha2::{Digest as _, Sha256};
use webpki::{EndEntityCert, KeyPurposeIdIter};

use super::auth::TokenSettings;
use super::token::{Claims, B64};

/// The certificates external tokens must lead to.
pub struct Roots {
    anchors: Vec<TrustAnchor<'static>>,
    /// Each bundle certificate with its libtrust key ID.
    by_kid: Vec<(String, CertificateDer<'static>)>,
}

impl std::fmt::Debug for Roots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Roots")
            .field("certificates", &self.by_kid.len())
            .finish()
    }
}

/// The JWT header fields read here.
#[derive(serde::Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    x5c: Vec<String>,
}

/// Any extended key usage will do, as distribution verifies token chains.
struct AnyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, _: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

impl Roots {
    /// Reads the PEM certificates of `path`; an empty or unreadable bundle is an error naming it.
    pub fn load(path: &Path) -> Result<Roots, String> {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| at(&e))?
            .collect::<Result<_, _>>()
            .map_err(|e| at(&e))?;
        Roots::new(certs).map_err(|e| at(&e))
    }

    /// The roots of `certs` (DER).
    pub fn new(certs: Vec<CertificateDer<'static>>) -> Result<Roots, String> {
        if certs.is_empty() {
            return Err("no PEM certificate in the token root bundle".to_string());
        }
        let mut anchors = Vec::new();
        let mut by_kid = Vec::new();
        for (i, der) in certs.into_iter().enumerate() {
            let anchor = webpki::anchor_from_trusted_cert(&der)
                .map_err(|e| format!("certificate {} of the bundle: {e}", i + 1))?
                .to_owned();
            let spki = EndEntityCert::try_from(&der)
                .map_err(|e| format!("certificate {} of the bundle: {e}", i + 1))?
                .subject_public_key_info();
            anchors.push(anchor);
            by_kid.push((libtrust_key_id(spki.as_ref()), der));
        }
        Ok(Roots { anchors, by_kid })
    }

    /// The claims of `token` if an accepted key signed it and it is valid for `settings`.
    pub fn verify(&self, token: &str, settings: &TokenSettings) -> Option<Claims> {
        let (signed, sig) = token.rsplit_once('.')?;
        let (header, payload) = signed.split_once('.')?;
        let header: Header = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        let signature = B64.decode(sig).ok()?;
        let (alg, signature) = algorithm(&header.alg, signature)?;
        if !header.x5c.is_empty() {
            let chain: Vec<CertificateDer<'static>> = header
                .x5c
                .iter()
                .map(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
                .collect::<Option<Vec<_>>>()?
                .into_iter()
                .map(CertificateDer::from)
                .collect();
            let (leaf, intermediates) = chain.split_first()?;
            let cert = EndEntityCert::try_from(leaf).ok()?;
            cert.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &self.anchors,
                intermediates,
                UnixTime::now(),
                AnyUsage,
                None,
                None,
            )
            .ok()?;
            cert.verify_signature(alg, signed.as_bytes(), &signature)
                .ok()?;
        } else {
            let kid = header.kid?;
            let (_, der) = self.by_kid.iter().find(|(k, _)| *k == kid)?;
            EndEntityCert::try_from(der)
                .ok()?
                .verify_signature(alg, signed.as_bytes(), &signature)
                .ok()?;
        }
        let claims: Claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        claims.valid_for(settings).then_some(claims)
    }
}

/// The verification algorithm of a JWS `alg`, and the signature in the form it wants (JWS
/// ECDSA signatures are `r‖s`, X.509's are DER).
fn algorithm(
    alg: &str,
    signature: Vec<u8>,
) -> Option<(&'static dyn SignatureVerificationAlgorithm, Vec<u8>)> {
    use webpki::ring as algs;
    Some(match alg {
        "RS256" => (algs::RSA_PKCS1_2048_8192_SHA256, signature),
        "RS384" => (algs::RSA_PKCS1_2048_8192_SHA384, signature),
        "RS512" => (algs::RSA_PKCS1_2048_8192_SHA512, signature),
        "ES256" if signature.len() == 64 => (algs::ECDSA_P256_SHA256, ecdsa_der(&signature)),
        "ES384" if signature.len() == 96 => (algs::ECDSA_P384_SHA384, ecdsa_der(&signature)),
        _ => return None,
    })
}

/// `r‖s` (two equal halves) as the DER `SEQUENCE { INTEGER r, INTEGER s }`.
fn ecdsa_der(rs: &[u8]) -> Vec<u8> {
    let int = |x: &[u8]| {
        let mut v: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
        if v.first().is_none_or(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let (r, s) = rs.split_at(rs.len() / 2);
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30];
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend(body);
    out
}

/// libtrust's key ID of a public key: the SHA-256 of its SubjectPublicKeyInfo, cut to 240 bits,
/// in base32, as twelve groups of four joined by `:`.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let hash = Sha256::digest(spki_der);
    let mut chars = String::new();
    // 30 bytes = 240 bits = 48 five-bit groups, no padding.
    for chunk in hash[..30].chunks(5) {
        let n = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        for i in (0..8).rev() {
            chars.push(char::from(ALPHABET[((n >> (i * 5)) & 31) as usize]));
        }
    }
    chars
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_signatures_become_der() {
        let mut rs = vec![0u8; 64];
        rs[0] = 0x80; // r needs a leading zero
        rs[63] = 1; // s is 1
        let der = ecdsa_der(&rs);
        assert_eq!(&der[..4], &[0x30, 0x26, 0x02, 0x21]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
    }

    #[test]
    fn key_ids_are_libtrusts_shape() {
        let kid = libtrust_key_id(b"any");
        assert_eq!(kid.len(), 48 + 11);
        assert_eq!(kid.split(':').count(), 12);
        assert!(kid
            .chars()
            .all(|c| c == ':' || c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
    }

    fn openssl(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
        use std::io::Write as _;
        let mut child = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("openssl: {e}"));
        let mut stdin = child.stdin.take();
        if let (Some(i), Some(s)) = (input, stdin.as_mut()) {
            s.write_all(i).unwrap_or_else(|e| panic!("{e}"));
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn der_of(dir: &Path, pem: &str) -> CertificateDer<'static> {
        CertificateDer::from(openssl(dir, &["x509", "-in", pem, "-outform", "DER"], None))
    }

    /// A JWT of `claims` signed with `key`: RS256 and `x5c` of `chain`, or ES256 and `kid`.
    fn jwt(dir: &Path, key: &str, header: serde_json::Value, claims: &serde_json::Value) -> String {
        let es = header["alg"] == "ES256";
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = openssl(
            dir,
            &["dgst", "-sha256", "-sign", key],
            Some(input.as_bytes()),
        );
        let sig = if es { der_to_rs(&sig) } else { sig };
        format!("{input}.{}", B64.encode(sig))
    }

    fn der_to_rs(der: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 2;
        for _ in 0..2 {
            let len = usize::from(der[i + 1]);
            let int: Vec<u8> = der[i + 2..i + 2 + len]
                .iter()
                .copied()
                .skip_while(|b| *b == 0)
                .collect();
            out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
            out.extend(int);
            i += 2 + len;
        }
        out
    }

    #[test]
    fn external_tokens_need_a_key_of_the_bundle_and_the_right_claims() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path();
        let ca = ["-addext", "basicConstraints=critical,CA:TRUE"];
        std::fs::write(p.join("ext.cnf"), "keyUsage=critical,digitalSignature\n")
            .unwrap_or_else(|e| panic!("{e}"));
        for name in ["ca", "rogue"] {
            let (key, crt, subj) = (
                format!("{name}.key"),
                format!("{name}.crt"),
                format!("/CN={name}"),
            );
            let mut args = vec![
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key,
            ];
            args.extend(["-out", &crt, "-days", "1", "-subj", &subj]);
            args.extend(ca);
            openssl(p, &args, None);
            let (skey, csr, scrt) = (
                format!("{name}-s.key"),
                format!("{name}-s.csr"),
                format!("{name}-s.crt"),
            );
            openssl(
                p,
                &[
                    "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &skey, "-out", &csr,
                    "-subj", "/CN=s",
                ],
                None,
            );
            openssl(
                p,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &crt,
                    "-CAkey",
                    &key,
                    "-CAcreateserial",
                    "-out",
                    &scrt,
                    "-days",
                    "1",
                    // X.509 v3, as webpki wants an end-entity certificate.
                    "-extfile",
                    "ext.cnf",
                ],
                None,
            );
        }
        openssl(
            p,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ec.key",
                "-out",
                "ec.crt",
                "-days",
                "1",
                "-subj",
                "/CN=ec",
            ],
            None,
        );
        let roots = Roots::new(vec![der_of(p, "ca.crt"), der_of(p, "ec.crt")])
            .unwrap_or_else(|e| panic!("{e}"));
        let settings = TokenSettings {
            realm: "http://t/token".into(),
            service: "svc".into(),
            issuer: "iss".into(),
        };
        let t = super::super::token::now();
        let claims = |aud: &str, exp: u64| {
            serde_json::json!({"iss": "iss", "sub": "u", "aud": aud, "exp": exp, "nbf": t - 1,
                "iat": t, "access": [{"type": "repository", "name": "a", "actions": ["pull"]}]})
        };
        let x5c = |crt: &str| {
            serde_json::json!({"alg": "RS256", "x5c": [
                base64::engine::general_purpose::STANDARD.encode(der_of(p, crt))]})
        };
        let good = jwt(p, "ca-s.key", x5c("ca-s.crt"), &claims("svc", t + 60));
        let c = roots.verify(&good, &settings);
        assert!(c.is_some_and(|c| super::super::token::grants(&c, "repository", "a", "pull")));
        // Another CA's signer, a key that does not match its x5c, another audience, expired.
        let rogue = jwt(p, "rogue-s.key", x5c("rogue-s.crt"), &claims("svc", t + 60));
        assert!(roots.verify(&rogue, &settings).is_none());
        let mixed = jwt(p, "rogue-s.key", x5c("ca-s.crt"), &claims("svc", t + 60));
        assert!(roots.verify(&mixed, &settings).is_none());
        let other = jwt(p, "ca-s.key", x5c("ca-s.crt"), &claims("other", t + 60));
        assert!(roots.verify(&other, &settings).is_none());
        let old = jwt(p, "ca-s.key", x5c("ca-s.crt"), &claims("svc", t - 1));
        assert!(roots.verify(&old, &settings).is_none());
        // ES256 with the kid of the bundle's EC certificate; an unknown kid is nothing.
        let spki = EndEntityCert::try_from(&der_of(p, "ec.crt"))
            .map(|c| c.subject_public_key_info())
            .unwrap_or_else(|e| panic!("{e}"));
        let kid = libtrust_key_id(spki.as_ref());
        let es = jwt(
            p,
            "ec.key",
            serde_json::json!({"alg": "ES256", "kid": kid}),
            &claims("svc", t + 60),
        );
        assert!(roots.verify(&es, &settings).is_some());
        let unknown = jwt(
            p,
            "ec.key",
            serde_json::json!({"alg": "ES256", "kid": "AAAA"}),
            &claims("svc", t + 60),
        );
        assert!(roots.verify(&unknown, &settings).is_none());
        // The signed part altered after signing.
        let (head, rest) = good.split_once('.').unwrap_or_default();
        let (_, sig) = rest.split_once('.').unwrap_or_default();
        let tampered = format!(
            "{head}.{}.{sig}",
            B64.encode(claims("svc", t + 9999).to_string())
        );
        assert!(roots.verify(&tampered, &settings).is_none());
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_refused() {
        assert!(algorithm("none", Vec::new()).is_none());
        assert!(algorithm("HS256", vec![0; 32]).is_none());
        assert!(algorithm("ES256", vec![0; 10]).is_none());
    }
}
