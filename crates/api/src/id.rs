//! Random IDs as Docker hands them out (containers, execs, networks, the engine): 64 lowercase hex
//! digits from the kernel's random source (`getrandom`), never with an all-digit 12-character
//! short form (it would read as a number), as moby's `stringid.GenerateRandomID`.

/// The kernel's random source could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading random bytes: {0}")]
pub struct RandomError(#[from] getrandom::Error);

/// Fills `buf` with random bytes.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), RandomError> {
    Ok(getrandom::fill(buf)?)
}

/// A random `u64` (e.g. to pick a name).
pub fn random_u64() -> Result<u64, RandomError> {
    Ok(getrandom::u64()?)
}

/// A fresh random ID: 64 lowercase hex digits whose first 12 are not all digits.
pub fn new_id() -> Result<String, RandomError> {
    loop {
        let mut bytes = [0u8; 32];
        random_bytes(&mut bytes)?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return Ok(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_lowercase_hex_and_differ() {
        let (a, b) = (new_id(), new_id());
        let (a, b) = (a.map_err(|e| e.to_string()), b.map_err(|e| e.to_string()));
        assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
        let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        assert!(!a[..12].bytes().all(|c| c.is_ascii_digit()));
        assert_ne!(a, b);
    }
}
