//! Files: a sequential scan of a large file from a warm page cache, and random 4 KiB reads,
//! by filemap's sliding windows (zero-copy slices, and safe copies) against `memmap2` mapping
//! the whole file and `std::fs::File::read` / `pread`, with each system's peak resident
//! memory. Every measurement runs in a fresh process (the partner role `file-measure`), so
//! one system's mappings and resident pages never count against another.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use filemap_harness::{partner, quick};

use crate::{arg, err, finish, read_line, say, Result};

const WINDOW: u64 = 64 << 20;

/// The sequential-scan systems: (role, row name).
pub const SEQUENTIAL: [(&str, &str); 6] = [
    (
        "seq-filemap-slice",
        "filemap windows(64 MiB) + as_slice (zero copy)",
    ),
    (
        "seq-filemap-copy",
        "filemap windows(64 MiB) + read_at (safe copy)",
    ),
    ("seq-memmap2", "memmap2 (whole file)"),
    (
        "seq-memmap2-copy",
        "memmap2 (whole file) + copy_from_slice (1 MiB buffer)",
    ),
    ("seq-read", "std::fs::File::read (1 MiB buffer)"),
    ("seq-word-atomic", WORD_ATOMIC),
];

/// The random-read systems: (role, row name).
pub const RANDOM: [(&str, &str); 4] = [
    ("rand-filemap", "filemap view + read_at"),
    ("rand-memmap2", "memmap2 + copy_from_slice"),
    ("rand-pread", "pread (FileExt::read_exact_at)"),
    ("rand-word-atomic", WORD_ATOMIC),
];

/// The row of the safe copy filemap's `read_at` made before its assembly copy routine:
/// word-sized relaxed atomic loads, byte loads at the unaligned ends, an acquire fence.
const WORD_ATOMIC: &str = "reference: word-atomic copy (filemap's read_at before)";

/// filemap's safe copy before this round (kept here to measure against): sound among
/// atomic accesses, but of mixed sizes and a word at a time.
///
/// # Safety
/// `src` must be valid for reads of `dst.len()` bytes for the duration of the call.
unsafe fn word_atomic_copy(src: *const u8, dst: &mut [u8]) {
    use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
    let (len, out) = (dst.len(), dst.as_mut_ptr());
    let mut i = 0;
    // SAFETY: `src` is valid for `len` bytes (the caller's contract); atomics have the
    // layout of their integers; the word loads are 8-aligned (the head loop stops there).
    unsafe {
        while i < len && !(src as usize + i).is_multiple_of(8) {
            *out.add(i) = (*src.add(i).cast::<AtomicU8>()).load(Ordering::Relaxed);
            i += 1;
        }
        while i + 8 <= len {
            let word = (*src.add(i).cast::<AtomicU64>()).load(Ordering::Relaxed);
            out.add(i).cast::<u64>().write_unaligned(word);
            i += 8;
        }
        while i < len {
            *out.add(i) = (*src.add(i).cast::<AtomicU8>()).load(Ordering::Relaxed);
            i += 1;
        }
    }
    std::sync::atomic::fence(Ordering::Acquire);
}

/// The file's size: `FILEMAP_BENCH_FILE_GIB` (4 by default), 16 MiB in quick mode.
pub fn file_size() -> u64 {
    if quick() {
        return 16 << 20;
    }
    std::env::var("FILEMAP_BENCH_FILE_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4u64)
        << 30
}

/// Random reads per measurement.
pub fn random_reads() -> usize {
    if quick() {
        2_000
    } else {
        200_000
    }
}

/// Folds bytes so the compiler cannot skip reading them.
fn fold(acc: u64, bytes: &[u8]) -> u64 {
    let mut a = acc;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        a = a.rotate_left(5) ^ u64::from_le_bytes(c.try_into().expect("8 bytes"));
    }
    for b in chunks.remainder() {
        a = a.rotate_left(5) ^ u64::from(*b);
    }
    a
}

/// Offsets of the random reads: a fixed LCG sequence, 4 KiB aligned.
fn random_offsets(size: u64, n: usize) -> Vec<u64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 16) % (size / 4096)) * 4096
        })
        .collect()
}

fn peak_resident_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

fn open_read_only(path: &Path) -> Result<filemap::Mapping> {
    Ok(filemap::Mapping::from_path(path)
        .protection(filemap::Protection::ReadOnly)
        .create()?)
}

/// How a row copies `buf.len()` bytes at `at` out of a view.
type CopyOut = dyn Fn(&filemap::View, usize, &mut [u8]) -> filemap::Result<()>;

/// The word-atomic copy as a [`CopyOut`].
fn word_atomic_read(view: &filemap::View, at: usize, buf: &mut [u8]) -> filemap::Result<()> {
    assert!(at + buf.len() <= view.len(), "a read past the view");
    // SAFETY: `at + buf.len()` is inside the view (checked), which stays mapped meanwhile.
    unsafe { word_atomic_copy(view.as_ptr().add(at), buf) };
    Ok(())
}

/// The sequential scan through 64 MiB windows, copied out 1 MiB at a time: the checksum.
fn scan_copied(path: &Path, copy: &CopyOut) -> Result<u64> {
    let m = open_read_only(path)?;
    let (mut buf, mut acc) = (vec![0u8; 1 << 20], 0u64);
    for view in m.windows(WINDOW)? {
        let view = view?;
        let mut at = 0;
        while at < view.len() {
            let n = buf.len().min(view.len() - at);
            copy(&view, at, &mut buf[..n])?;
            acc = fold(acc, &buf[..n]);
            at += n;
        }
    }
    Ok(acc)
}

/// 4 KiB copied out of one whole-file view at each offset: the checksum.
fn read_randomly(path: &Path, offsets: &[u64], copy: &CopyOut) -> Result<u64> {
    let m = open_read_only(path)?;
    let v = m.view().map()?;
    v.advise(filemap::Advice::Random)?;
    let (mut buf, mut acc) = ([0u8; 4096], 0u64);
    for &off in offsets {
        copy(&v, off as usize, &mut buf)?;
        acc = fold(acc, &buf);
    }
    Ok(acc)
}

/// One measurement, in the partner: prints "seconds checksum peak_mib".
fn measure(system: &str, path: &Path, reads: usize) -> Result<()> {
    let size = std::fs::metadata(path)?.len();
    let offsets = random_offsets(size, reads);
    let started = Instant::now();
    let mut acc = 0u64;
    match system {
        "seq-filemap-copy" => acc = scan_copied(path, &|view, at, buf| view.read_at(at, buf))?,
        "seq-filemap-slice" => {
            let m = open_read_only(path)?;
            for view in m.windows(WINDOW)? {
                let view = view?;
                // SAFETY: nobody writes the benchmark's file while it is read.
                acc = fold(acc, unsafe { view.as_slice() });
            }
        }
        "seq-word-atomic" => acc = scan_copied(path, &word_atomic_read)?,
        "rand-word-atomic" => acc = read_randomly(path, &offsets, &word_atomic_read)?,
        "seq-memmap2" => {
            let file = std::fs::File::open(path)?;
            // SAFETY: nobody writes the benchmark's file while it is read.
            let map = unsafe { memmap2::Mmap::map(&file) }?;
            acc = fold(acc, &map);
        }
        "seq-memmap2-copy" => {
            let file = std::fs::File::open(path)?;
            // SAFETY: nobody writes the benchmark's file while it is read.
            let map = unsafe { memmap2::Mmap::map(&file) }?;
            let mut buf = vec![0u8; 1 << 20];
            for chunk in map.chunks(buf.len()) {
                let out = &mut buf[..chunk.len()];
                out.copy_from_slice(chunk);
                acc = fold(acc, out);
            }
        }
        "seq-read" => {
            let mut file = std::fs::File::open(path)?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                acc = fold(acc, &buf[..n]);
            }
        }
        "rand-filemap" => {
            acc = read_randomly(path, &offsets, &|view, at, buf| view.read_at(at, buf))?;
        }
        "rand-memmap2" => {
            let file = std::fs::File::open(path)?;
            // SAFETY: nobody writes the benchmark's file while it is read.
            let map = unsafe { memmap2::Mmap::map(&file) }?;
            map.advise(memmap2::Advice::Random)?;
            let mut buf = [0u8; 4096];
            for off in offsets {
                buf.copy_from_slice(&map[off as usize..off as usize + 4096]);
                acc = fold(acc, &buf);
            }
        }
        "rand-pread" => {
            let file = std::fs::File::open(path)?;
            let mut buf = [0u8; 4096];
            for off in offsets {
                std::os::unix::fs::FileExt::read_exact_at(&file, &mut buf, off)?;
                acc = fold(acc, &buf);
            }
        }
        other => return Err(err(format!("unknown file system {other}"))),
    }
    let seconds = started.elapsed().as_secs_f64();
    say(format!("{seconds} {acc:x} {}", peak_resident_mib()))
}

/// The benchmark's file: pseudo-random bytes in the temporary directory, removed on drop.
pub struct TestFile {
    pub path: PathBuf,
    pub size: u64,
}

impl TestFile {
    /// Writes the file (kept if it already has the size), then reads it once so the page
    /// cache is warm.
    pub fn make() -> Result<TestFile> {
        let size = file_size();
        let path = std::env::temp_dir().join(format!("filemap-bench-{}.bin", std::process::id()));
        let file = TestFile { path, size };
        let mut out =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&file.path)?);
        let mut x: u64 = 1;
        let mut block = vec![0u8; 1 << 20];
        for _ in 0..size >> 20 {
            for c in block.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                c.copy_from_slice(&x.to_le_bytes());
            }
            std::io::Write::write_all(&mut out, &block)?;
        }
        std::io::Write::flush(&mut out)?;
        drop(out);
        file.run("seq-read")?; // warm the cache
        Ok(file)
    }

    /// One measurement in a fresh process: (seconds, checksum, peak resident MiB).
    pub fn run(&self, system: &str) -> Result<(f64, String, u64)> {
        let path = self
            .path
            .to_str()
            .ok_or_else(|| err("temp dir not UTF-8"))?;
        let mut child = partner(&["file-measure", system, path, &random_reads().to_string()])?;
        let line = read_line(&mut child)?;
        finish(child)?;
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [s, sum, rss] => Ok((
                s.parse().map_err(err)?,
                sum.to_string(),
                rss.parse().map_err(err)?,
            )),
            _ => Err(err(format!("unexpected partner output {line:?}"))),
        }
    }
}

impl Drop for TestFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The partner roles of this module.
pub fn partner_role(role: &str, args: &[String]) -> Option<Result<()>> {
    (role == "file-measure").then(|| {
        let reads: usize = arg(args, 3)?.parse().map_err(err)?;
        measure(arg(args, 1)?, Path::new(arg(args, 2)?), reads)
    })
}
