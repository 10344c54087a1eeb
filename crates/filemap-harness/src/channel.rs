//! `filemap bench channel`: one-way latency and throughput of filemap's channel between two
//! processes, against a Unix socket, a pipe and the floors, all measured in the same run,
//! printed as a table or as JSON rows.

use std::process::ExitCode;

use filemap::channel::WaitMode;
use serde_json::json;

use crate::drivers::*;
use crate::measure::{pin_measuring_process, Latency};
use crate::process::Namespace;
use crate::{Result, THROUGHPUT_MESSAGE};

/// Message sizes of the latency rows.
const SIZES: [usize; 5] = [8, 64, 1024, 64 << 10, 1 << 20];

/// One result row of `filemap bench channel`.
struct Row {
    scenario: &'static str,
    system: &'static str,
    mode: &'static str,
    size: usize,
    latency: Latency,
    gb_per_s: f64,
}

/// `filemap bench channel [--json]`.
pub fn channel(as_json: bool) -> Result<ExitCode> {
    // The benchmark's objects live in a namespace directory of its own.
    let _namespace = Namespace::new()?;
    let pinned = pin_measuring_process();
    let mut rows = Vec::new();
    let mut latency = |system, mode, size, latency| {
        rows.push(Row {
            scenario: "latency",
            system,
            mode,
            size,
            latency,
            gb_per_s: 0.0,
        })
    };
    latency("floor", "busy-poll", 8, cache_line_latency()?);
    #[cfg(target_os = "linux")]
    latency("futex", "blocking", 8, futex_latency()?);
    for size in SIZES {
        latency(
            "filemap",
            "busy-poll",
            size,
            filemap_latency(size, WaitMode::BusyPoll)?,
        );
        latency(
            "filemap",
            "blocking",
            size,
            filemap_latency(size, WaitMode::Blocking)?,
        );
        #[cfg(unix)]
        latency("unix-socket", "blocking", size, unix_socket_latency(size)?);
        latency("pipe", "blocking", size, pipe_latency(size)?);
    }
    let throughput = |system, mode, gb| Row {
        scenario: "throughput",
        system,
        mode,
        size: THROUGHPUT_MESSAGE,
        latency: Latency {
            p50_ns: 0.0,
            p99_ns: 0.0,
        },
        gb_per_s: gb,
    };
    rows.push(throughput("memcpy", "busy-poll", memcpy_throughput()));
    rows.push(throughput("hand-off", "busy-poll", hand_off_throughput()?));
    rows.push(throughput(
        "filemap",
        "busy-poll",
        filemap_throughput(WaitMode::BusyPoll)?,
    ));
    rows.push(throughput(
        "filemap",
        "blocking",
        filemap_throughput(WaitMode::Blocking)?,
    ));
    #[cfg(unix)]
    rows.push(throughput(
        "unix-socket",
        "blocking",
        unix_socket_throughput()?,
    ));

    if as_json {
        let out: Vec<_> = rows
            .iter()
            .map(|r| {
                if r.scenario == "latency" {
                    json!({"scenario": r.scenario, "system": r.system, "mode": r.mode, "size": r.size,
                           "p50_ns": r.latency.p50_ns, "p99_ns": r.latency.p99_ns})
                } else {
                    json!({"scenario": r.scenario, "system": r.system, "mode": r.mode, "size": r.size,
                           "gb_per_s": r.gb_per_s})
                }
            })
            .collect();
        println!("{}", serde_json::Value::Array(out));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "processes {} to different cores\n",
        if pinned {
            "pinned"
        } else {
            "not pinned (the system does not allow it)"
        }
    );
    let floor = rows
        .iter()
        .find(|r| r.system == "floor")
        .map(|r| r.latency.p50_ns)
        .unwrap_or(f64::NAN);
    println!("one-way latency (half a round trip between two processes), ns:");
    println!(
        "{:<12} {:<10} {:>9} {:>10} {:>10} {:>9}",
        "system", "mode", "size", "p50", "p99", "p50/floor"
    );
    for r in rows.iter().filter(|r| r.scenario == "latency") {
        println!(
            "{:<12} {:<10} {:>9} {:>10.0} {:>10.0} {:>8.1}x",
            r.system,
            r.mode,
            r.size,
            r.latency.p50_ns,
            r.latency.p99_ns,
            r.latency.p50_ns / floor
        );
    }
    let memcpy = rows
        .iter()
        .find(|r| r.system == "memcpy")
        .map(|r| r.gb_per_s)
        .unwrap_or(f64::NAN);
    let hand_off = rows
        .iter()
        .find(|r| r.system == "hand-off")
        .map(|r| r.gb_per_s)
        .unwrap_or(f64::NAN);
    println!(
        "\nthroughput, 1 MiB messages, GB/s (hand-off: two processes passing three raw buffers):"
    );
    for r in rows.iter().filter(|r| r.scenario == "throughput") {
        println!(
            "{:<12} {:<10} {:>6.2} GB/s  ({:.2}x memcpy, {:.2}x hand-off)",
            r.system,
            r.mode,
            r.gb_per_s,
            r.gb_per_s / memcpy,
            r.gb_per_s / hand_off
        );
    }
    Ok(ExitCode::SUCCESS)
}
