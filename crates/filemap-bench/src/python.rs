//! Section 10: filemap from Python. Runs `bindings/python/bench/roundtrip.py` (after
//! installing the current `bindings/python` with pip, once per run) once per repetition:
//! the round trip of 64 B and 1 MiB messages between two Python processes through
//! filemap's channel, `multiprocessing.Pipe`, `multiprocessing.Queue` and
//! `multiprocessing.shared_memory` with a polled flag byte, and a numpy array handed to
//! another process.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;

use crate::report::{Kind, MS, Results, Sample, US};
use crate::{Result, err};

pub const ROUND_TRIP: &str = "Python round trip (message as bytes at each end)";
pub const HAND_OFF: &str = "numpy array to another process";
/// The filemap rows' systems.
pub const FILEMAP_CHANNEL: &str = "filemap channel";
pub const FILEMAP_MAPPING: &str = "filemap mapping";
pub const PIPE: &str = "multiprocessing.Pipe";
/// `multiprocessing.shared_memory` with a flag byte polled by the receiver.
pub const POLLED: &str = "shared_memory + polled flag";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

static INSTALL: Once = Once::new();

/// Installs the current `bindings/python` into the Python that runs the benchmark, and numpy
/// (the hand-off row's), which a fresh machine does not have.
fn install() -> Result<()> {
    let mut result = Ok(());
    INSTALL.call_once(|| {
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(repo().join("bindings/python"))
            .arg("numpy")
            .status();
        result = match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(err(format!(
                "pip install ./bindings/python numpy failed ({s})"
            ))),
            Err(e) => Err(err(format!("cannot run python3: {e}"))),
        };
    });
    result
}

/// One repetition: the script's rows added to section 10.
pub fn section(r: &mut Results) -> Result<()> {
    install()?;
    let out = Command::new("python3")
        .arg(repo().join("bindings/python/bench/roundtrip.py"))
        .output()?;
    if !out.status.success() {
        return Err(err(format!(
            "the Python benchmark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| err(format!("the Python benchmark's output: {e}")))?;
    for row in rows
        .as_array()
        .ok_or_else(|| err("expected a JSON array"))?
    {
        let field = |k: &str| row.get(k).ok_or_else(|| err(format!("a row without {k}")));
        let system = field("system")?.as_str().unwrap_or_default().to_string();
        let size = field("size")?.as_u64().unwrap_or_default();
        let p50 = field("p50_us")?.as_f64().unwrap_or(f64::NAN);
        let p99 = field("p99_us")?.as_f64();
        let kind = if system.starts_with("filemap") {
            Kind::Filemap
        } else {
            Kind::Peer
        };
        match field("scenario")?.as_str() {
            Some("round trip") => {
                r.add(10, ROUND_TRIP, size, &system, kind, US, Sample { p50, p99 })
            }
            Some("numpy hand-off") => r.add(
                10,
                HAND_OFF,
                size,
                &system,
                kind,
                MS,
                Sample {
                    p50: p50 / 1e3,
                    p99: p99.map(|v| v / 1e3),
                },
            ),
            other => return Err(err(format!("unknown scenario {other:?}"))),
        }
    }
    Ok(())
}

/// What section 10 measures.
pub fn intro() -> String {
    // (The script's counts: `ROUNDS` in roundtrip.py, a tenth of them in quick mode.)
    let (small, large) = if filemap_harness::quick() {
        ("2,000", "30")
    } else {
        ("20,000", "300")
    };
    format!(
        "Two Python processes (CPython, the measuring one on CPU 0, its partner on CPU 1), \
started with `multiprocessing`; the script is `bindings/python/bench/roundtrip.py`, run once \
per repetition after `pip install ./bindings/python`. Round trip: the measuring process sends \
a message, the partner receives it as `bytes` and sends it back, the measuring process \
receives it as `bytes`; {small} timed round trips at 64 B and {large} at 1 MiB after a warm-up. \
filemap uses two channels (one each way) with the default wait (spin briefly, then sleep); \
`Pipe` uses `send_bytes`/`recv_bytes`; `Queue` pickles; the `shared_memory` row is a segment \
whose first byte both sides poll in a Python loop (the hand-rolled flag: no sleeping, a busy \
core on each side). numpy hand-off: from a 100 MB array in the sender to a numpy array of it \
in the receiver, which answers with its last element: filemap creates a named mapping, copies \
the array into it and sends the name (the receiver maps it, no copy); `shared_memory` does the \
same with a segment; `Pipe` and `Queue` pickle the array. filemap allocates an object's \
memory when it is created (so that a view never meets a SIGBUS), which `shared_memory` leaves \
to the first touch.\n"
    )
}

/// The line under section 10's table: the target (filemap's 64 B round trip at
/// least 10x faster than `multiprocessing.Pipe`).
pub fn note(r: &Results) -> String {
    let p50 = |system: &str| {
        r.rows
            .iter()
            .find(|row| row.scenario == ROUND_TRIP && row.size == 64 && row.system == system)
            .map(|row| row.p50)
    };
    match (p50(FILEMAP_CHANNEL), p50(PIPE), p50(POLLED)) {
        (Some(f), Some(p), polled) => format!(
            "At 64 B, filemap's round trip from Python is {:.0}x faster than \
`multiprocessing.Pipe` in this run ({} µs against {} µs), whose receiver sleeps in the kernel \
where filemap's spins briefly first{}.\n\n",
            p / f,
            crate::report::number(f),
            crate::report::number(p),
            polled.map_or(String::new(), |s| format!(
                "; against the like-for-like row, shared memory with a polled flag (whose \
receiver polls and never sleeps), it is {}x faster ({} µs)",
                crate::report::number(s / f),
                crate::report::number(s)
            ))
        ),
        _ => String::new(),
    }
}
