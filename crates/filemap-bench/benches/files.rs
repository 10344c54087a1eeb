//! File benchmarks: a sequential scan of a 4 GiB file from a warm page cache, and random
//! 4 KiB reads, by filemap's sliding windows (safe copies, and zero-copy slices) against
//! `memmap2` mapping the whole file and `std::fs::File::read`, with each system's resident
//! memory. Every system runs in a process of its own (this binary, re-run), five times;
//! the median is reported with the spread.
//!
//! Run: `cargo bench -p filemap-bench --bench files` (FILEMAP_BENCH_FILE_GIB=4 by default;
//! the file is written once to the temporary directory and removed at the end).

#[cfg(unix)]
mod bench {
    use std::io::Read;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::Instant;

    const ROLE: &str = "FILEMAP_BENCH_FILES_ROLE";
    const WINDOW: u64 = 64 << 20;
    const RANDOM_READS: usize = 200_000;
    const REPEATS: usize = 5;

    /// Folds bytes so the compiler cannot skip reading them.
    fn fold(acc: u64, bytes: &[u8]) -> u64 {
        let mut a = acc;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            a = a.rotate_left(5) ^ u64::from_le_bytes(c.try_into().unwrap());
        }
        for b in chunks.remainder() {
            a = a.rotate_left(5) ^ u64::from(*b);
        }
        a
    }

    /// Offsets of the random reads: a fixed LCG sequence, 4 KiB aligned.
    fn random_offsets(size: u64) -> Vec<u64> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..RANDOM_READS)
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

    /// One measurement, in the child: prints "seconds checksum peak_mib".
    fn measure(system: &str, path: &Path) {
        let size = std::fs::metadata(path).unwrap().len();
        let started = Instant::now();
        let mut acc = 0u64;
        match system {
            "seq-filemap-copy" => {
                let m = filemap::Mapping::from_path(path)
                    .protection(filemap::Protection::ReadOnly)
                    .create()
                    .unwrap();
                let mut buf = vec![0u8; 1 << 20];
                for view in m.windows(WINDOW).unwrap() {
                    let view = view.unwrap();
                    let mut at = 0;
                    while at < view.len() {
                        let n = buf.len().min(view.len() - at);
                        view.read_at(at, &mut buf[..n]).unwrap();
                        acc = fold(acc, &buf[..n]);
                        at += n;
                    }
                }
            }
            "seq-filemap-slice" => {
                let m = filemap::Mapping::from_path(path)
                    .protection(filemap::Protection::ReadOnly)
                    .create()
                    .unwrap();
                for view in m.windows(WINDOW).unwrap() {
                    let view = view.unwrap();
                    // SAFETY: nobody writes the benchmark's file while it is read.
                    acc = fold(acc, unsafe { view.as_slice() });
                }
            }
            "seq-memmap2" => {
                let file = std::fs::File::open(path).unwrap();
                // SAFETY: nobody writes the benchmark's file while it is read.
                let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
                acc = fold(acc, &map);
            }
            "seq-read" => {
                let mut file = std::fs::File::open(path).unwrap();
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = file.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    acc = fold(acc, &buf[..n]);
                }
            }
            "rand-filemap" => {
                let m = filemap::Mapping::from_path(path)
                    .protection(filemap::Protection::ReadOnly)
                    .create()
                    .unwrap();
                let v = m.view().map().unwrap();
                v.advise(filemap::Advice::Random).unwrap();
                let mut buf = [0u8; 4096];
                for off in random_offsets(size) {
                    v.read_at(off as usize, &mut buf).unwrap();
                    acc = fold(acc, &buf);
                }
            }
            "rand-memmap2" => {
                let file = std::fs::File::open(path).unwrap();
                // SAFETY: nobody writes the benchmark's file while it is read.
                let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
                map.advise(memmap2::Advice::Random).unwrap();
                let mut buf = [0u8; 4096];
                for off in random_offsets(size) {
                    buf.copy_from_slice(&map[off as usize..off as usize + 4096]);
                    acc = fold(acc, &buf);
                }
            }
            "rand-pread" => {
                let file = std::fs::File::open(path).unwrap();
                let mut buf = [0u8; 4096];
                for off in random_offsets(size) {
                    std::os::unix::fs::FileExt::read_exact_at(&file, &mut buf, off).unwrap();
                    acc = fold(acc, &buf);
                }
            }
            other => panic!("unknown system {other}"),
        }
        let seconds = started.elapsed().as_secs_f64();
        println!("{seconds} {acc:x} {}", peak_resident_mib());
    }

    fn make_file(path: &Path, gib: u64) {
        if std::fs::metadata(path).map(|m| m.len()).ok() == Some(gib << 30) {
            return;
        }
        let mut file =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
        let mut x: u64 = 1;
        let mut block = vec![0u8; 1 << 20];
        for _ in 0..(gib << 10) {
            for c in block.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                c.copy_from_slice(&x.to_le_bytes());
            }
            std::io::Write::write_all(&mut file, &block).unwrap();
        }
    }

    fn run(system: &str, path: &Path) -> (f64, String, u64) {
        let out = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, system)
            .env("FILEMAP_BENCH_PATH", path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{system}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut f = text.split_whitespace();
        let seconds: f64 = f.next().unwrap().parse().unwrap();
        let checksum = f.next().unwrap().to_string();
        let rss: u64 = f.next().unwrap().parse().unwrap();
        (seconds, checksum, rss)
    }

    pub fn main() {
        if let Ok(system) = std::env::var(ROLE) {
            measure(
                &system,
                Path::new(&std::env::var("FILEMAP_BENCH_PATH").unwrap()),
            );
            return;
        }
        if std::env::args().any(|a| a == "--list") {
            return; // nothing for `cargo bench -- --list`
        }
        let gib: u64 = std::env::var("FILEMAP_BENCH_FILE_GIB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4);
        let path: PathBuf = std::env::temp_dir().join(format!("filemap-bench-{gib}gib.bin"));
        eprintln!("writing {} ({gib} GiB)...", path.display());
        make_file(&path, gib);
        let size = gib << 30;
        println!("file: {gib} GiB, warm page cache (one untimed read first); median of {REPEATS} runs, [min, max]");
        // Warm the cache.
        run("seq-read", &path);
        for (title, systems, bytes) in [
            (
                "sequential scan",
                &[
                    "seq-filemap-copy",
                    "seq-filemap-slice",
                    "seq-memmap2",
                    "seq-read",
                ][..],
                size,
            ),
            (
                "random 4 KiB reads",
                &["rand-filemap", "rand-memmap2", "rand-pread"][..],
                (RANDOM_READS * 4096) as u64,
            ),
        ] {
            println!("\n{title}:");
            let mut checksums = Vec::new();
            for system in systems {
                let mut runs: Vec<(f64, u64)> = Vec::new();
                for _ in 0..REPEATS {
                    let (s, sum, rss) = run(system, &path);
                    checksums.push(sum);
                    runs.push((s, rss));
                }
                runs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let median = runs[REPEATS / 2].0;
                let rss = runs.iter().map(|r| r.1).max().unwrap();
                println!(
                    "  {system:<20} {:>8.1} ms [{:.1}, {:.1}]  {:>6.2} GiB/s  peak RSS {rss} MiB",
                    median * 1e3,
                    runs[0].0 * 1e3,
                    runs[REPEATS - 1].0 * 1e3,
                    bytes as f64 / median / (1u64 << 30) as f64,
                );
            }
            checksums.dedup();
            assert_eq!(checksums.len(), 1, "all systems read the same bytes");
        }
        let _ = std::fs::remove_file(&path);
    }
}

#[cfg(unix)]
fn main() {
    bench::main();
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the file benchmarks compare against Unix peers (pread, memmap2's advice)");
}
