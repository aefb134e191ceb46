//! In-memory pins: blobs and layers an operation in flight uses, which GC must not remove.

use std::collections::HashMap;
use std::sync::Mutex;

/// Pin counts by object name (a blob digest or a chain ID).
#[derive(Debug, Default)]
pub struct Pins {
    counts: Mutex<HashMap<String, usize>>,
}

impl Pins {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pins `names` until the returned guard drops.
    pub fn pin<'a>(&'a self, names: impl IntoIterator<Item = String>) -> PinGuard<'a> {
        let mut g = PinGuard {
            pins: self,
            names: Vec::new(),
        };
        g.add(names);
        g
    }

    /// Whether some operation pins `name`.
    pub fn is_pinned(&self, name: &str) -> bool {
        self.counts().get(name).is_some_and(|c| *c > 0)
    }
}

/// Holds pins; unpins on drop.
#[derive(Debug)]
pub struct PinGuard<'a> {
    pins: &'a Pins,
    names: Vec<String>,
}

impl PinGuard<'_> {
    /// Pins more names.
    pub fn add(&mut self, names: impl IntoIterator<Item = String>) {
        let mut counts = self.pins.counts();
        for n in names {
            *counts.entry(n.clone()).or_default() += 1;
            self.names.push(n);
        }
    }
}

impl Drop for PinGuard<'_> {
    fn drop(&mut self) {
        let mut counts = self.pins.counts();
        for n in self.names.drain(..) {
            if let Some(c) = counts.get_mut(&n) {
                *c -= 1;
                if *c == 0 {
                    counts.remove(&n);
                }
            }
        }
    }
}

/// Named mutual exclusion: one unpacker per chain ID at a time.
#[derive(Debug, Default)]
pub struct KeyLocks {
    held: Mutex<std::collections::HashSet<String>>,
    freed: std::sync::Condvar,
}

impl KeyLocks {
    /// Waits until `key` is free, then holds it until the guard drops.
    pub fn lock<'a>(&'a self, key: &str) -> KeyGuard<'a> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        while held.contains(key) {
            held = self.freed.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        held.insert(key.to_string());
        KeyGuard {
            locks: self,
            key: key.to_string(),
        }
    }
}

/// Holds one key of [`KeyLocks`].
#[derive(Debug)]
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: String,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.key);
        self.locks.freed.notify_all();
    }
}
