//! Files: a sequential scan of a large file from a warm page cache, and random 4 KiB reads,
//! by filemap's sliding windows (zero-copy slices, and safe copies) against `memmap2` mapping
//! the whole file and `std::fs::File::read` / `pread`, with each system's resident memory.
//! Every scan runs in a fresh process (the partner role `file-scan`), so one system's
//! mappings and resident pages never count against another; the random reads of all systems
//! share one fresh process (`file-random`), in turns, each system with a mapping of its own.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use filemap_harness::{partner, quick};

use crate::{Result, arg, err, finish, read_line, say};

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

/// The random-read systems' row names, in the order [`measure_random`] reads with them.
pub const RANDOM: [&str; 4] = [
    "filemap view + read_at",
    "memmap2 + copy_from_slice",
    "pread (FileExt::read_exact_at)",
    WORD_ATOMIC,
];

/// One 4 KiB read at an offset, by one system of [`measure_random`].
type ReadAt<'a> = dyn FnMut(usize, &mut [u8; 4096]) -> Result<()> + 'a;

/// Random reads per block of one system in [`measure_random`]: about 2 ms of reads, so
/// that the systems take turns hundreds of times a second.
const RANDOM_BLOCK: usize = 1000;

/// The row of the safe copy filemap's `read_at` made before its assembly copy routine:
/// word-sized relaxed atomic loads, byte loads at the unaligned ends, an acquire fence.
const WORD_ATOMIC: &str = "reference: word-atomic copy (filemap's read_at before)";

/// filemap's safe copy before this round (kept here to measure against): sound among
/// atomic accesses, but of mixed sizes and a word at a time.
///
/// # Safety
/// `src` must be valid for reads of `dst.len()` bytes for the duration of the call.
unsafe fn word_atomic_copy(src: *const u8, dst: &mut [u8]) {
    use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
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
    if quick() { 2_000 } else { 200_000 }
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

/// This process's resident memory in MiB as `/proc/self/status` gives it under `field`
/// (`VmHWM:`, the peak, or `VmRSS:`, now).
fn resident_mib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
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

/// One sequential scan, in the partner: prints "seconds checksum peak_mib".
fn measure_scan(system: &str, path: &Path) -> Result<()> {
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
        "seq-memmap2" => {
            let file = std::fs::File::open(path)?;
            // SAFETY: nobody writes the benchmark's file while it is read.
            let map = unsafe { memmap2::Mmap::map(&file) }?;
            // The advice filemap's windows give by default.
            map.advise(memmap2::Advice::Sequential)?;
            acc = fold(acc, &map);
        }
        "seq-memmap2-copy" => {
            let file = std::fs::File::open(path)?;
            // SAFETY: nobody writes the benchmark's file while it is read.
            let map = unsafe { memmap2::Mmap::map(&file) }?;
            map.advise(memmap2::Advice::Sequential)?;
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
        other => return Err(err(format!("unknown file system {other}"))),
    }
    let seconds = started.elapsed().as_secs_f64();
    say(format!("{seconds} {acc:x} {}", resident_mib("VmHWM:")))
}

/// The random reads of every system in [`RANDOM`], in one process and in turns of
/// [`RANDOM_BLOCK`] reads each, so that all are measured at the same moments of a machine
/// whose speed drifts (a process of its own each, one after another, they were not). Each
/// system has a mapping (or descriptor) of its own, so each takes its own page faults; each
/// reads every block of offsets once, a quarter of the run apart from the others, so that
/// none finds another's bytes in the CPU's caches. A checksum folds each read on its own
/// and XORs the folds, which the order of the blocks does not change. Prints, per system,
/// "seconds checksum resident_mib", the last being the process's resident memory before
/// the reads plus what the system's mapping has resident after them.
fn measure_random(path: &Path, reads: usize) -> Result<()> {
    let size = std::fs::metadata(path)?.len();
    let offsets = random_offsets(size, reads);
    let base = resident_mib("VmRSS:");
    let filemap_file = open_read_only(path)?;
    let filemap_view = filemap_file.view().map()?;
    filemap_view.advise(filemap::Advice::Random)?;
    let reference_file = open_read_only(path)?;
    let reference_view = reference_file.view().map()?;
    reference_view.advise(filemap::Advice::Random)?;
    let file = std::fs::File::open(path)?;
    // SAFETY: nobody writes the benchmark's file while it is read.
    let map = unsafe { memmap2::Mmap::map(&file) }?;
    map.advise(memmap2::Advice::Random)?;
    let mut systems: [&mut ReadAt<'_>; 4] = [
        &mut |at, buf| Ok(filemap_view.read_at(at, buf)?),
        &mut |at, buf| {
            buf.copy_from_slice(&map[at..at + 4096]);
            Ok(())
        },
        &mut |at, buf| {
            Ok(std::os::unix::fs::FileExt::read_exact_at(
                &file, buf, at as u64,
            )?)
        },
        &mut |at, buf| Ok(word_atomic_read(&reference_view, at, buf)?),
    ];
    let blocks: Vec<&[u64]> = offsets.chunks(RANDOM_BLOCK).collect();
    let (n, k) = (blocks.len(), systems.len());
    let (mut seconds, mut sums) = ([0f64; 4], [0u64; 4]);
    let mut buf = [0u8; 4096];
    for b in 0..n {
        for (s, read) in systems.iter_mut().enumerate() {
            let block = blocks[(b + s * n / k) % n];
            let started = Instant::now();
            for &at in block {
                read(at as usize, &mut buf)?;
                sums[s] ^= fold(0, &buf);
            }
            seconds[s] += started.elapsed().as_secs_f64();
        }
    }
    let mapped = [
        Some(filemap_view.as_ptr() as usize),
        Some(map.as_ptr() as usize),
        None,
        Some(reference_view.as_ptr() as usize),
    ];
    let line: Vec<String> = (0..k)
        .map(|s| {
            let resident = base + mapped[s].map_or(0, mapping_resident_mib);
            format!("{} {:x} {resident}", seconds[s], sums[s])
        })
        .collect();
    say(line.join(" "))
}

/// The resident memory, in MiB, of this process's mapping that starts at or contains
/// `address` (its `Rss` in `/proc/self/smaps`); 0 if it cannot be read.
fn mapping_resident_mib(address: usize) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut inside = false;
    for line in smaps.lines() {
        let range = line
            .split_whitespace()
            .next()
            .and_then(|r| r.split_once('-'));
        if let Some((start, end)) = range
            && let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            )
        {
            inside = (start..end).contains(&address);
            continue;
        }
        if inside && line.starts_with("Rss:") {
            return line
                .split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<u64>().ok())
                .map_or(0, |kb| kb / 1024);
        }
    }
    0
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

    fn path_text(&self) -> Result<&str> {
        self.path.to_str().ok_or_else(|| err("temp dir not UTF-8"))
    }

    /// One sequential scan in a fresh process: (seconds, checksum, peak resident MiB).
    pub fn run(&self, system: &str) -> Result<(f64, String, u64)> {
        let line = partner_line(&["file-scan", system, self.path_text()?])?;
        match parse_results(&line)?[..] {
            [ref one] => Ok(one.clone()),
            _ => Err(err(format!("unexpected partner output {line:?}"))),
        }
    }

    /// The random reads of every system in [`RANDOM`], in one fresh process (see
    /// [`measure_random`]): (seconds, checksum, resident MiB) of each, in that order.
    pub fn run_random(&self) -> Result<Vec<(f64, String, u64)>> {
        let reads = random_reads().to_string();
        let line = partner_line(&["file-random", self.path_text()?, &reads])?;
        let results = parse_results(&line)?;
        if results.len() != RANDOM.len() {
            return Err(err(format!("unexpected partner output {line:?}")));
        }
        Ok(results)
    }
}

fn partner_line(args: &[&str]) -> Result<String> {
    let mut child = partner(args)?;
    let line = read_line(&mut child)?;
    finish(child)?;
    Ok(line)
}

/// "seconds checksum MiB" triples, one after another on a line.
fn parse_results(line: &str) -> Result<Vec<(f64, String, u64)>> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.is_empty() || !f.len().is_multiple_of(3) {
        return Err(err(format!("unexpected partner output {line:?}")));
    }
    f.chunks(3)
        .map(|t| {
            Ok((
                t[0].parse().map_err(err)?,
                t[1].to_string(),
                t[2].parse().map_err(err)?,
            ))
        })
        .collect()
}

impl Drop for TestFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The partner roles of this module.
pub fn partner_role(role: &str, args: &[String]) -> Option<Result<()>> {
    match role {
        "file-scan" => {
            Some(arg(args, 2).and_then(|path| measure_scan(arg(args, 1)?, Path::new(path))))
        }
        "file-random" => Some(random_role(args)),
        _ => None,
    }
}

fn random_role(args: &[String]) -> Result<()> {
    let reads: usize = arg(args, 2)?.parse().map_err(err)?;
    measure_random(Path::new(arg(args, 1)?), reads)
}
