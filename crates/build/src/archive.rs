//! Small tar helpers a host needs around the executor's tars: a tar of directories to create, and
//! the text of the one file in a `docker cp`-style tar.

use std::io::Read;

/// A tar of root-owned 0755 directories (relative names, parents first).
pub fn dirs_tar(dirs: &[String]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for d in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, d.trim_start_matches('/'), std::io::empty())?;
    }
    b.into_inner()
}

/// The first entry of a tar as text, at most `limit` bytes.
pub fn first_file(tar_bytes: &[u8], limit: u64) -> Option<String> {
    let mut ar = tar::Archive::new(tar_bytes);
    let entry = ar.entries().ok()?.next()?.ok()?;
    let mut text = String::new();
    entry.take(limit).read_to_string(&mut text).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = dirs_tar(&["/a".into(), "a/b".into()]).expect("tar");
        let mut ar = tar::Archive::new(t.as_slice());
        let names: Vec<String> = ar
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["a", "a/b"]);
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        b.append_data(&mut h, "passwd", &b"root:"[..])
            .expect("append");
        let bytes = b.into_inner().expect("tar");
        assert_eq!(first_file(&bytes, 3).as_deref(), Some("roo"));
        assert_eq!(first_file(b"", 3), None);
    }
}
