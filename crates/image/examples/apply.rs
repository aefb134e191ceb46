//! Bench entry point for `bench/layer-apply.sh`.
//!
//! - `apply gen <out.tar.gz> [MiB]`: writes a deterministic gzip layer of about MiB (default 100)
//!   compressed bytes: many small text-like files in nested directories, plus a few big ones.
//! - `apply apply <layer> <target-dir>`: applies a layer (plain, gzip or zstd) with Berth in overlay
//!   whiteout mode and prints `bytes=<uncompressed> secs=<elapsed> diff_id=<digest>`.
//! - `apply tar <dir> <out.tar>`: writes `dir` as a layer tar (`tar_dir`), printing the same line.

use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use berth_image::layer::{apply, tar_dir, ApplyOptions, DiffOptions, WhiteoutMode};

/// A small deterministic PRNG (xorshift64*), so the layer is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: [&str; 16] = [
    "layer",
    "berth",
    "container",
    "image",
    "overlay",
    "snapshot",
    "digest",
    "manifest",
    "runtime",
    "config",
    "the",
    "of",
    "and",
    "to",
    "library",
    "binary",
];

/// Text-like bytes (compress about 5:1).
fn text(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(WORDS[rng.below(16) as usize].as_bytes());
        out.push(if rng.below(12) == 0 { b'\n' } else { b' ' });
    }
    out.truncate(len);
    out
}

/// Binary-like bytes (compress about 5:4).
fn binary(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let v = rng.next();
        out.extend_from_slice(&v.to_le_bytes()[..6]);
        out.extend_from_slice(&[0, 0]);
    }
    out.truncate(len);
    out
}

fn append(
    builder: &mut tar::Builder<impl Write>,
    path: &str,
    data: &[u8],
    mode: u32,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut h, path, data)
}

fn dir(builder: &mut tar::Builder<impl Write>, path: &str) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(0);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::Directory);
    builder.append_data(&mut h, path, &[][..])
}

fn gen(out: &Path, mib: u64) -> Result<(), Box<dyn Error>> {
    let target = mib * 1024 * 1024;
    let file = BufWriter::with_capacity(1 << 20, File::create(out)?);
    let counter = Counting {
        inner: file,
        count: 0,
    };
    let gz = flate2::write::GzEncoder::new(counter, flate2::Compression::new(6));
    let mut builder = tar::Builder::new(gz);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // A few big files first: about 40% of the compressed size.
    for i in 0..4 {
        append(
            &mut builder,
            &format!("opt/big/blob{i}.bin"),
            &binary(&mut rng, (target / 10 * 8 / 10) as usize),
            0o644,
        )?;
    }
    dir(&mut builder, "usr/")?;
    let mut d = 0;
    while builder.get_ref().get_ref().count < target {
        let base = format!("usr/share/pkg{d:04}");
        dir(&mut builder, &format!("{base}/"))?;
        for f in 0..50 {
            let len = 200 + rng.below(12_000) as usize;
            let mode = if f % 7 == 0 { 0o755 } else { 0o644 };
            let data = if f % 2 == 0 {
                text(&mut rng, len)
            } else {
                binary(&mut rng, len)
            };
            append(&mut builder, &format!("{base}/file{f:03}"), &data, mode)?;
        }
        d += 1;
    }
    let gz = builder.into_inner()?;
    let mut counter = gz.finish()?;
    counter.flush()?;
    eprintln!(
        "wrote {} ({} bytes, {d} directories of 50 small files + 4 big files)",
        out.display(),
        counter.count
    );
    Ok(())
}

/// Counts bytes written, so `gen` can stop near the requested compressed size.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") if args.len() >= 3 => {
            let mib = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(100);
            gen(Path::new(&args[2]), mib)
        }
        Some("apply") if args.len() == 4 => {
            let layer = File::open(&args[2])?;
            let start = Instant::now();
            let applied = apply(
                layer,
                Path::new(&args[3]),
                &ApplyOptions::new(WhiteoutMode::Overlay),
            )?;
            let secs = start.elapsed().as_secs_f64();
            println!(
                "bytes={} secs={secs:.6} diff_id={}",
                applied.size, applied.diff_id
            );
            for w in applied.warnings {
                eprintln!("warning: {w}");
            }
            Ok(())
        }
        Some("tar") if args.len() == 4 => {
            let out = File::create(&args[3])?;
            let start = Instant::now();
            let written = tar_dir(Path::new(&args[2]), out, &DiffOptions::default())?;
            let secs = start.elapsed().as_secs_f64();
            println!("bytes={} secs={secs:.6} diff_id={}", written.size, written.diff_id);
            Ok(())
        }
        _ => Err("usage: apply gen <out.tar.gz> [MiB] | apply apply <layer> <target-dir> | apply tar <dir> <out.tar>".into()),
    }
}
