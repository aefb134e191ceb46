//! Keeping the shim's resident set small. Creating a container runs a lot of runtime code (and the
//! loader and the kernel's fault-around map whole runs of the executable's text), none of which
//! the serving loop needs again. [`drop_text`] unmaps the resident pages of the read-only,
//! executable file mappings (the binary's and the libraries' code) from this process; the loop
//! faults back in only the code it runs. Code pages are never written, so they come back
//! unchanged from the page cache: nothing but the resident count changes. Writable or relocated
//! mappings are left alone.

/// Drops the resident pages of this process's `r-xp` file mappings (best effort).
pub fn drop_text() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        // offset, dev, inode, then the path of a file mapping.
        let path = f.nth(3).unwrap_or("");
        if perms != "r-xp" || !path.starts_with('/') {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        if end <= start {
            continue;
        }
        // SAFETY: the range is one of our own private, read-only, executable file mappings, as
        // the kernel lists them; MADV_DONTNEED on it only drops page table entries, and the next
        // access refills them from the (unmodified) file. No Rust object is affected.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}
