//! Content digests (`algorithm:hex`) and hashing adapters.
//!
//! A [`Digest`] is always valid once constructed: a supported algorithm (`sha256` with 64 hex digits,
//! `sha512` with 128) followed by lower-case hex. It serialises as its string form, so it can sit in
//! manifests and descriptors directly. [`Sha256Writer`] and [`Sha256Reader`] hash bytes as they pass
//! through any `Write` or `Read`, counting them too, so a copy and its verification are one pass.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// No `algorithm:` prefix.
    #[error("invalid digest {0:?}: expected \"algorithm:hex\", e.g. \"sha256:<64 hex digits>\"")]
    Format(String),
    /// An algorithm Berth does not verify.
    #[error("unsupported digest algorithm {algorithm:?} in {digest:?}: use sha256 or sha512")]
    Unsupported { digest: String, algorithm: String },
    /// The hex part has the wrong length for its algorithm.
    #[error("invalid digest {digest:?}: {algorithm} needs {expected} hex digits, found {found}")]
    Length {
        digest: String,
        algorithm: String,
        expected: usize,
        found: usize,
    },
    /// The hex part has characters other than `0-9a-f`.
    #[error("invalid digest {0:?}: the hex part must be lower-case hexadecimal")]
    Hex(String),
}

/// A validated content digest such as `sha256:e3b0c442…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// The hex length a supported algorithm needs.
fn hex_len(algorithm: &str) -> Option<usize> {
    match algorithm {
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    }
}

impl Digest {
    /// Parses and validates `algorithm:hex`.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let (algorithm, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestError::Format(s.to_string()))?;
        if algorithm.is_empty() || hex.is_empty() {
            return Err(DigestError::Format(s.to_string()));
        }
        let expected = hex_len(algorithm).ok_or_else(|| DigestError::Unsupported {
            digest: s.to_string(),
            algorithm: algorithm.to_string(),
        })?;
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::Hex(s.to_string()));
        }
        if hex.len() != expected {
            return Err(DigestError::Length {
                digest: s.to_string(),
                algorithm: algorithm.to_string(),
                expected,
                found: hex.len(),
            });
        }
        Ok(Digest(s.to_string()))
    }

    /// `sha256:` + the given hex (64 lower-case hex digits).
    pub fn from_sha256_hex(hex: &str) -> Result<Digest, DigestError> {
        Digest::parse(&format!("sha256:{hex}"))
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The algorithm, e.g. `sha256`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The hex part, e.g. `e3b0c442…`.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }

    /// The whole `algorithm:hex` string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, as Docker prints short IDs.
    pub fn short(&self) -> &str {
        let hex = self.hex();
        &hex[..hex.len().min(12)]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An incremental sha256 with a byte count; the state both adapters share.
#[derive(Clone, Default)]
pub struct Sha256Hasher {
    hasher: Sha256,
    count: u64,
}

impl Sha256Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.count += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest of the bytes fed so far (the hasher stays usable).
    pub fn digest(&self) -> Digest {
        Digest(format!(
            "sha256:{}",
            hex::encode(self.hasher.clone().finalize())
        ))
    }
}

impl fmt::Debug for Sha256Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sha256Hasher")
            .field("count", &self.count)
            .finish()
    }
}

/// A `Write` that hashes and counts what goes through it into `inner`.
#[derive(Debug)]
pub struct Sha256Writer<W> {
    inner: W,
    hasher: Sha256Hasher,
}

impl<W> Sha256Writer<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256Hasher::new(),
        }
    }

    /// Wraps `inner`, continuing from a hasher that has already seen earlier bytes.
    pub fn resume(inner: W, hasher: Sha256Hasher) -> Self {
        Self { inner, hasher }
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.hasher.count()
    }

    /// The digest of the bytes written so far.
    pub fn digest(&self) -> Digest {
        self.hasher.digest()
    }

    /// The wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The wrapped writer, mutably (bytes written directly are not hashed).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Unwraps into the writer, the digest and the byte count.
    pub fn finish(self) -> (W, Digest, u64) {
        let digest = self.hasher.digest();
        (self.inner, digest, self.hasher.count())
    }
}

impl<W: Write> Write for Sha256Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A `Read` that hashes and counts what is read through it from `inner`.
#[derive(Debug)]
pub struct Sha256Reader<R> {
    inner: R,
    hasher: Sha256Hasher,
}

impl<R> Sha256Reader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256Hasher::new(),
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.hasher.count()
    }

    /// The digest of the bytes read so far.
    pub fn digest(&self) -> Digest {
        self.hasher.digest()
    }

    /// Unwraps into the reader, the digest and the byte count.
    pub fn finish(self) -> (R, Digest, u64) {
        let digest = self.hasher.digest();
        (self.inner, digest, self.hasher.count())
    }
}

impl<R: Read> Read for Sha256Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_valid_digests() {
        let d = Digest::parse(EMPTY).unwrap();
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d.hex().len(), 64);
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.short(), "e3b0c44298fc");
        let sha512 = format!("sha512:{}", "a".repeat(128));
        assert_eq!(Digest::parse(&sha512).unwrap().algorithm(), "sha512");
    }

    #[test]
    fn rejects_invalid_digests() {
        let upper = format!("sha256:{}", "A".repeat(64));
        let cases: &[(&str, &str)] = &[
            ("", "expected \"algorithm:hex\""),
            ("sha256", "expected \"algorithm:hex\""),
            ("sha256:", "expected \"algorithm:hex\""),
            (":abc", "expected \"algorithm:hex\""),
            ("md5:abcd", "unsupported digest algorithm \"md5\""),
            ("sha256:abc", "sha256 needs 64 hex digits, found 3"),
            (&upper, "must be lower-case hexadecimal"),
            ("sha256:zz", "must be lower-case hexadecimal"),
        ];
        for (input, message) in cases {
            let err = Digest::parse(input).unwrap_err().to_string();
            assert!(err.contains(message), "{input:?}: {err}");
        }
    }

    #[test]
    fn hashes_and_round_trips_json() {
        let d = Digest::sha256_of(b"");
        assert_eq!(d.as_str(), EMPTY);
        assert_eq!(Digest::from_sha256_hex(d.hex()).unwrap(), d);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:nope\"").is_err());
        assert_eq!(EMPTY.parse::<Digest>().unwrap(), d);
    }

    #[test]
    fn adapters_hash_and_count() {
        let data = b"hello berth".repeat(1000);
        let mut w = Sha256Writer::new(Vec::new());
        w.write_all(&data).unwrap();
        let (out, digest, count) = w.finish();
        assert_eq!(out, data);
        assert_eq!(digest, Digest::sha256_of(&data));
        assert_eq!(count, data.len() as u64);

        let mut r = Sha256Reader::new(&data[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.digest(), Digest::sha256_of(&data));
        assert_eq!(r.count(), data.len() as u64);

        let mut h = Sha256Hasher::new();
        h.update(&data[..5]);
        let mut w = Sha256Writer::resume(Vec::new(), h);
        w.write_all(&data[5..]).unwrap();
        assert_eq!(w.digest(), Digest::sha256_of(&data));
    }
}
