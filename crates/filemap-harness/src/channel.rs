//! `filemap bench channel`: one-way latency and throughput of filemap's channel between two
//! processes, against a Unix socket, a pipe and the floors, all measured in the same run,
//! printed as a table or as JSON rows.
//!
//! At [`ASYNC_MESSAGE`] bytes it also measures the channel with both ends async
//! (`recv_async`, `send_async` under [`filemap::wait::block_on`]: mode `async`, with
//! `ratio_to_blocking`, its p50 over the blocking row's), and one way with the receiver
//! asleep (scenario `latency-asleep`, a message every [`ASLEEP_GAP`] (`gap_ns`), blocking
//! and async), where the blocking receiver has spun out its brief spin and sleeps in the
//! kernel as an async one always does.

use std::fmt::Write as _;

use filemap::channel::WaitMode;
use serde_json::json;

use crate::drivers::*;
use crate::measure::{Latency, pin_measuring_process};
use crate::process::Namespace;
use crate::{Result, THROUGHPUT_MESSAGE};

/// Message sizes of the latency rows.
const SIZES: [usize; 5] = [8, 64, 1024, 64 << 10, 1 << 20];

/// The scenario of the rows timed one way with the receiver asleep.
const ASLEEP: &str = "latency-asleep";

/// One result row of `filemap bench channel`.
struct Row {
    scenario: &'static str,
    system: &'static str,
    mode: &'static str,
    size: usize,
    latency: Latency,
    gb_per_s: f64,
}

impl Row {
    /// This row's p50 over the blocking row's of its scenario and size (async rows).
    fn to_blocking(&self, rows: &[Row]) -> Option<f64> {
        (self.mode == "async").then(|| {
            rows.iter()
                .find(|b| {
                    b.scenario == self.scenario
                        && b.size == self.size
                        && b.system == self.system
                        && b.mode == "blocking"
                })
                .map_or(f64::NAN, |b| self.latency.p50_ns / b.latency.p50_ns)
        })
    }
}

/// `filemap bench channel [--json]`.
pub fn channel(as_json: bool) -> Result<String> {
    let mut text = String::new();
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
        if size == ASYNC_MESSAGE {
            // recv_async and send_async under filemap::wait::block_on, beside the
            // blocking row just measured.
            latency("filemap", "async", size, filemap_async_latency(size)?);
        }
        #[cfg(unix)]
        latency("unix-socket", "blocking", size, unix_socket_latency(size)?);
        latency("pipe", "blocking", size, pipe_latency(size)?);
    }
    // One way with the receiver asleep: a message every ASLEEP_GAP, timed on a shared clock.
    for (mode, async_ends) in [("blocking", false), ("async", true)] {
        rows.push(Row {
            scenario: ASLEEP,
            system: "filemap",
            mode,
            size: ASYNC_MESSAGE,
            latency: filemap_asleep_latency(ASYNC_MESSAGE, async_ends)?,
            gb_per_s: 0.0,
        });
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
                if r.scenario != "throughput" {
                    let mut row = json!({"scenario": r.scenario, "system": r.system, "mode": r.mode,
                                         "size": r.size, "p50_ns": r.latency.p50_ns,
                                         "p99_ns": r.latency.p99_ns});
                    if let Some(ratio) = r.to_blocking(&rows) {
                        row["ratio_to_blocking"] = json!(ratio);
                    }
                    if r.scenario == ASLEEP {
                        row["gap_ns"] = json!(ASLEEP_GAP.as_nanos() as u64);
                    }
                    row
                } else {
                    json!({"scenario": r.scenario, "system": r.system, "mode": r.mode, "size": r.size,
                           "gb_per_s": r.gb_per_s})
                }
            })
            .collect();
        return Ok(serde_json::Value::Array(out).to_string());
    }
    say!(
        text,
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
    say!(
        text,
        "one-way latency (half a round trip between two processes), ns:"
    );
    say!(
        text,
        "{:<12} {:<10} {:>9} {:>10} {:>10} {:>9}",
        "system",
        "mode",
        "size",
        "p50",
        "p99",
        "p50/floor"
    );
    for r in rows.iter().filter(|r| r.scenario == "latency") {
        say!(
            text,
            "{:<12} {:<10} {:>9} {:>10.0} {:>10.0} {:>8.1}x",
            r.system,
            r.mode,
            r.size,
            r.latency.p50_ns,
            r.latency.p99_ns,
            r.latency.p50_ns / floor
        );
    }
    for r in rows
        .iter()
        .filter(|r| r.scenario == "latency" && r.mode == "async")
    {
        say!(
            text,
            "\nasync at {} B (recv_async and send_async under filemap::wait::block_on, no \
runtime): p50 {:.1}x the blocking row's. In this tight ping-pong the blocking receiver \
catches each message while it spins briefly; an async receive does not spin by default: it \
sleeps, and filemap's waiter thread wakes it (WaitMode::Spin makes it spin first).",
            r.size,
            r.to_blocking(&rows).unwrap_or(f64::NAN)
        );
    }
    say!(
        text,
        "\none-way latency with the receiver asleep (a message every {} ms, timed from before \
the send until the receiver has copied it out, on a clock both processes read), ns:",
        ASLEEP_GAP.as_millis()
    );
    say!(
        text,
        "{:<12} {:<10} {:>9} {:>10} {:>10} {:>12}",
        "system",
        "mode",
        "size",
        "p50",
        "p99",
        "p50/blocking"
    );
    for r in rows.iter().filter(|r| r.scenario == ASLEEP) {
        say!(
            text,
            "{:<12} {:<10} {:>9} {:>10.0} {:>10.0} {:>11.1}x",
            r.system,
            r.mode,
            r.size,
            r.latency.p50_ns,
            r.latency.p99_ns,
            r.to_blocking(&rows).unwrap_or(1.0)
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
    say!(
        text,
        "\nthroughput, 1 MiB messages, GB/s (hand-off: two processes passing three raw buffers):"
    );
    for r in rows.iter().filter(|r| r.scenario == "throughput") {
        say!(
            text,
            "{:<12} {:<10} {:>6.2} GB/s  ({:.2}x memcpy, {:.2}x hand-off)",
            r.system,
            r.mode,
            r.gb_per_s,
            r.gb_per_s / memcpy,
            r.gb_per_s / hand_off
        );
    }
    Ok(text)
}
