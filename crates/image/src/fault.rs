//! Crash points of the image store for fault-injection tests: `crash_point!("image.…")` marks a
//! place where a test may make the daemon abort, to prove that a crash there loses nothing and
//! shows nothing half-made. The daemon arms one point by label (`berth_daemon`'s `fault` module,
//! which lists every label). Built only with the `failpoints` feature; without it a crash point
//! expands to nothing.

/// Marks the crash point `$label` (a string literal).
#[cfg(feature = "failpoints")]
macro_rules! crash_point {
    ($label:literal) => {
        fail::fail_point!($label)
    };
}

/// Marks the crash point `$label` (a string literal): nothing in this build.
#[cfg(not(feature = "failpoints"))]
macro_rules! crash_point {
    ($label:literal) => {};
}

pub(crate) use crash_point;
