//! `filemap scan FILE`: a file of any size read through sliding windows (resident memory
//! bounded by the window), with its size, line count, xxh3-64 checksum and throughput.

use crate::output::outln;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use filemap::{Mapping, Protection};
use serde_json::json;
use xxhash_rust::xxh3::Xxh3;

use crate::outcome::{Failure, Outcome};
use crate::units::{format_rounded, format_size};

/// How much of a window is copied out and digested at a time.
const CHUNK: usize = 1 << 20;

/// What a scan found.
struct Summary {
    size: u64,
    lines: u64,
    xxh3: u64,
    seconds: f64,
}

fn scan_file(path: &Path, window: u64) -> Result<Summary, Failure> {
    let started = Instant::now();
    let metadata = std::fs::metadata(path)
        .map_err(|e| Failure::Error(format!("cannot read {}: {e}", path.display())))?;
    if !metadata.is_file() {
        let what = if metadata.is_dir() {
            "a directory"
        } else {
            "not a regular file (a device, a FIFO or a socket)"
        };
        return Err(Failure::Error(format!(
            "{} is {what}: scan maps regular files",
            path.display()
        )));
    }
    let size = metadata.len();
    let mut hasher = Xxh3::new();
    let mut lines = 0u64;
    if size == 0 {
        // Empty, or a kernel pseudo file (/proc, /sys) whose size says nothing of what it
        // holds: the library tells them apart (and refuses the second).
        match Mapping::from_path(path)
            .protection(Protection::ReadOnly)
            .create()
        {
            Err(filemap::Error::EmptyFile { .. }) => {}
            Err(e) => return Err(e.into()),
            Ok(_) => {
                return Err(Failure::Error(format!(
                    "{} grew while it was read",
                    path.display()
                )));
            }
        }
    } else {
        let mapping = Mapping::from_path(path)
            .protection(Protection::ReadOnly)
            .create()?;
        let progress = if size >= crate::output::PROGRESS_FROM && std::io::stderr().is_terminal() {
            crate::output::byte_progress(size)
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut buf = vec![0u8; CHUNK];
        let read = (|| -> filemap::Result<()> {
            for view in mapping.windows(window)? {
                let view = view?;
                let mut at = 0;
                while at < view.len() {
                    let n = CHUNK.min(view.len() - at);
                    // A copy, sound even if another process writes the file meanwhile.
                    view.read_at(at, &mut buf[..n])?;
                    hasher.update(&buf[..n]);
                    lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
                    at += n;
                    progress.inc(n as u64);
                }
            }
            Ok(())
        })();
        // Cleared on a failure too: the error's line stands alone.
        progress.finish_and_clear();
        read?;
    }
    Ok(Summary {
        size,
        lines,
        xxh3: hasher.digest(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

pub fn scan(path: &Path, window: u64, as_json: bool) -> Outcome {
    if window == 0 {
        return Err(Failure::Usage("--window must be at least one byte".into()));
    }
    let s = scan_file(path, window)?;
    let rate = if s.seconds > 0.0 {
        s.size as f64 / s.seconds
    } else {
        0.0
    };
    if as_json {
        outln!(
            "{}",
            json!({
                "file": path.display().to_string(),
                "size": s.size,
                "lines": s.lines,
                "xxh3": format!("{:016x}", s.xxh3),
                "seconds": s.seconds,
                "bytes_per_second": rate,
                "window": window,
            })
        );
    } else {
        outln!("file    {}", path.display());
        outln!("size    {} ({} bytes)", format_size(s.size), s.size);
        outln!("lines   {}", s.lines);
        outln!("xxh3    {:016x}", s.xxh3);
        outln!(
            "time    {} ({}/s, window {})",
            filemap::HumanDuration(
                std::time::Duration::try_from_secs_f64(s.seconds).unwrap_or_default()
            ),
            format_rounded(rate as u64),
            format_size(window)
        );
    }
    Ok(ExitCode::SUCCESS)
}
