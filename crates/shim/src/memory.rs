//! Keeping the shim's resident set small. Creating or starting a container runs a lot of runtime
//! code (and the kernel's fault-around maps 64 KiB of the executable per fault), none of which the
//! serving loop needs again. [`shrink`], called when a burst of such work is over, gives back:
//!
//! - the resident clean pages of the read-only private file mappings (code, read-only data): they
//!   are never written, so they come back unchanged from the page cache when touched; a page the
//!   loader or libc wrote (relocations, `IRELATIVE` slots) is private anonymous memory and is
//!   kept, page by page, as `/proc/self/pagemap` tells;
//! - free heap memory (`malloc_trim`);
//! - the part of the main thread's stack more than [`STACK_KEPT`] below the current frame, which
//!   setup touched and the loop does not reach (it comes back zero-filled if it ever does).
//!
//! Measured on a static `berth-shim` beside a running `sleep` (see the crate docs).

use std::io::{Read, Seek, SeekFrom};

/// Stack kept below the caller's frame by [`shrink`].
const STACK_KEPT: usize = 32 * 1024;
const PAGE: usize = 4096;

/// Gives back the pages setup used and the loop does not need (best effort, see the module doc).
pub fn shrink() {
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let mut pagemap = std::fs::File::open("/proc/self/pagemap").ok();
    let here = &maps as *const String as usize;
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        // offset, dev, inode, then the path (or a name like `[stack]`).
        let path = f.nth(3).unwrap_or("");
        let Some((start, end)) = parse_range(range) else {
            continue;
        };
        if path == "[stack]" && start < here && here <= end {
            let keep_from = here.saturating_sub(STACK_KEPT) & !(PAGE - 1);
            if keep_from > start {
                // SAFETY: [start, keep_from) is the main thread's stack below the current frame
                // and a margin: no live object is there. The pages come back zero-filled.
                unsafe { advise_dontneed(start, keep_from) };
            }
        } else if (perms == "r-xp" || perms == "r--p") && path.starts_with('/') {
            if let Some(pm) = pagemap.as_mut() {
                drop_clean(pm, start, end);
            }
        }
    }
}

/// Drops each run of pages in a private read-only file mapping that holds no anonymous (written)
/// page.
fn drop_clean(pagemap: &mut std::fs::File, start: usize, end: usize) {
    let pages = (end - start) / PAGE;
    let mut entries = vec![0u8; pages * 8];
    if pagemap
        .seek(SeekFrom::Start((start / PAGE * 8) as u64))
        .is_err()
        || pagemap.read_exact(&mut entries).is_err()
    {
        return;
    }
    let mut run = None;
    for (i, e) in entries.chunks_exact(8).enumerate() {
        let bits = u64::from_ne_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]);
        let (present, swapped, file) = (bits >> 63 & 1, bits >> 62 & 1, bits >> 61 & 1);
        let anon = swapped == 1 || (present == 1 && file == 0);
        match (anon, run) {
            (false, None) => run = Some(i),
            (true, Some(first)) => {
                // SAFETY: the pages are clean page-cache pages of our own private read-only
                // mapping (or not resident): dropping them only clears page table entries, and
                // the next access refills them from the unmodified file.
                unsafe { advise_dontneed(start + first * PAGE, start + i * PAGE) };
                run = None;
            }
            _ => {}
        }
    }
    if let Some(first) = run {
        // SAFETY: as above.
        unsafe { advise_dontneed(start + first * PAGE, end) };
    }
}

/// `madvise(MADV_DONTNEED)` on `[start, end)`.
///
/// # Safety
/// No live Rust object may be in the range unless its pages refill unchanged (clean file pages).
unsafe fn advise_dontneed(start: usize, end: usize) {
    // SAFETY: guaranteed by the caller; madvise itself only changes page tables.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
    }
}

fn parse_range(range: &str) -> Option<(usize, usize)> {
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    (end > start).then_some((start, end))
}
