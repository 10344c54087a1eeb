//! The suite: every section in one run, repeated, then JSON rows (`--json`) and the report
//! (`--report`: docs/benchmarks.md and the latency chart beside it).

use std::path::{Path, PathBuf};
use std::time::Instant;

use filemap::channel::WaitMode;
use filemap_harness::{
    self as harness, Latency, Namespace, MANY_PARTIES_MESSAGE, THROUGHPUT_MESSAGE,
};

use crate::bridge::{self, System, LINK_SIZES};
use crate::report::{self, Kind, Results, Sample, GB_S, MS, M_MSGS_S, NS, US};
use crate::waits::{self, Runtime, WAIT_ANY_EVENTS};
use crate::{
    err, files, messages, mutex, parties, pubsub, python, repetitions, scale, setup, Result,
};

pub const LATENCY: &str = "one-way latency";
pub const WAKE_UP: &str = "wake-up, no payload";
pub const THROUGHPUT: &str = "throughput, 1 MiB messages";
pub const CREATE: &str = "create + map + unmap + close";
pub const OPEN: &str = "open + map + close (second process)";
pub const UNCONTENDED: &str = "uncontended lock + unlock";
pub const HANDOFF: &str = "hand-off between two processes (per turn)";
pub const SCAN: &str = "sequential scan";
pub const RANDOM: &str = "random 4 KiB reads";
/// The publish-subscribe scenarios, by subscriber count (those of the harness's
/// [`SUBSCRIBERS`](harness::SUBSCRIBERS)).
pub const PUBSUB: [(usize, &str); 3] = [
    (1, "one-way latency to 1 subscriber"),
    (2, "one-way latency to 2 subscribers"),
    (4, "one-way latency to 4 subscribers"),
];

/// The subscriber count of a publish-subscribe scenario.
pub fn subscribers_of(scenario: &str) -> Option<usize> {
    PUBSUB.iter().find(|(_, s)| *s == scenario).map(|(n, _)| *n)
}

/// The many-to-one scenarios, by sender count (those of the harness's
/// [`SENDERS`](harness::SENDERS)).
pub const MANY_TO_ONE: [(usize, &str); 3] = [
    (2, "messages from 2 senders to 1 receiver"),
    (4, "messages from 4 senders to 1 receiver"),
    (8, "messages from 8 senders to 1 receiver"),
];
pub const ROUND_TRIP: &str = "request-response round trip";
pub const CHANNEL_ONE_WAY: &str = "channel one-way latency (for the ratio)";
/// The most a service's round trip may cost, in one-way latencies of the channel.
pub const ROUND_TRIP_TARGET: f64 = 2.5;

/// Section 8: the channel's one-way latency at [`ASYNC_MESSAGE`](harness::ASYNC_MESSAGE)
/// bytes, both ends async, in a tight ping-pong (half a round trip).
pub const ASYNC_PING_PONG: &str = "one-way latency, ping-pong";
/// Section 8: the channel's one-way latency with the receiver asleep (a message every
/// [`ASLEEP_GAP`](harness::ASLEEP_GAP)), timed one way.
pub const ASYNC_ASLEEP: &str = "one-way latency, receiver asleep";
/// Section 8: the wake-up of a waiter asleep on named events, timed one way.
pub const EVENT_WAKE: &str = "wake-up of a sleeping waiter, set to wake";
/// Section 8's rows: the blocking channel beside the async ones.
const BLOCKING_CHANNEL: &str = "filemap blocking (send, recv)";
const BLOCK_ON: &str = "filemap async, block_on (no runtime)";
/// Section 8's single wait, beside `wait_any`.
const SINGLE_WAIT: &str = "filemap NamedEvent::wait, 1 event";
/// The most an async one-way latency may cost, in blocking ones.
pub const ASYNC_TARGET: f64 = 2.0;
/// The least tokio's `UnixStream` may cost, in async one-way latencies of the channel.
pub const SOCKET_TARGET: f64 = 10.0;
/// The most `wait_any` over 64 events may take to wake, in single waits.
pub const WAIT_ANY_TARGET: f64 = 1.5;

/// Section 9: one-way latency across the link (half a ping-pong's round trip).
pub const LINK_LATENCY: &str = "one-way latency across the link, ping-pong";
/// Section 9: throughput of 1 MiB messages one way across the link.
pub const LINK_THROUGHPUT: &str = "throughput across the link, 1 MiB messages";
/// Section 9: small messages per second one way across the link.
pub const LINK_RATE: &str = "messages across the link, one way";
/// Section 9's rows: filemap topics through two bridges, plain Zenoh, plain TCP.
pub const BRIDGED: &str = "filemap topics through two bridges";
pub const ZENOH: &str = "Zenoh publisher to subscriber";
pub const TCP: &str = "TCP socket (std::net)";
/// The most a message through two bridges may cost, in Zenoh's own latencies at 64 B.
pub const BRIDGE_LATENCY_TARGET: f64 = 1.2;
/// The least share of Zenoh's own 1 MiB throughput the bridges must keep.
pub const BRIDGE_THROUGHPUT_TARGET: f64 = 0.9;

/// Section 9's row of `system`, and its kind: TCP is the floor (the bridges and Zenoh run
/// over the same TCP), Zenoh the peer.
fn link_row(system: System) -> (&'static str, Kind) {
    match system {
        System::Bridged => (BRIDGED, Kind::Filemap),
        System::Zenoh => (ZENOH, Kind::Peer),
        System::Tcp => (TCP, Kind::Floor),
    }
}

/// Section 8's async row of the channel under tokio's runtime `kind`.
fn tokio_async_row(kind: Runtime) -> String {
    format!("filemap async, tokio {}", kind.name())
}

/// Section 8's row of the async channel with both ends set to `WaitMode::Spin`, under
/// tokio's runtime `kind`.
fn tokio_spin_row(kind: Runtime) -> String {
    format!("filemap async spin, tokio {}", kind.name())
}

/// Section 8's row of the async channel with both ends set to busy-poll, under tokio's
/// runtime `kind`.
fn tokio_busy_row(kind: Runtime) -> String {
    format!("filemap async busy-poll, tokio {}", kind.name())
}

/// Section 8's row of tokio's `UnixStream` under the runtime `kind`.
fn tokio_socket_row(kind: Runtime) -> String {
    format!("tokio UnixStream, {}", kind.name())
}

/// Section 8's row of `wait_any` over `n` events.
fn wait_any_row(n: usize) -> String {
    format!(
        "filemap wait_any, {n} event{}",
        if n == 1 { "" } else { "s (the last set)" }
    )
}

/// The events a section 8 wake-up row waits on.
fn events_of(system: &str) -> Option<usize> {
    if system == SINGLE_WAIT {
        return Some(1);
    }
    WAIT_ANY_EVENTS
        .into_iter()
        .find(|&n| system == wait_any_row(n))
}

/// The sender count of a many-to-one scenario.
pub fn senders_of(scenario: &str) -> Option<usize> {
    MANY_TO_ONE
        .iter()
        .find(|(_, s)| *s == scenario)
        .map(|(n, _)| *n)
}

/// Message sizes of the latency rows.
pub const SIZES: [usize; 5] = [8, 64, 1024, 64 << 10, 1 << 20];

const SECTION_TITLES: [&str; 11] = [
    "Messages between two processes",
    "Throughput",
    "Named shared memory set-up",
    "Named mutex",
    "Files (warm page cache)",
    "Publish-subscribe: one publisher, several subscriber processes",
    "Many parties: several senders to one receiver, request and response",
    "Async and waiting on many objects",
    "Across machines: the Zenoh bridge",
    "From Python",
    scale::TITLE,
];

const USAGE: &str = "usage: filemap-bench [--report] [--json] [--docs DIR] [--sections 1,2,...]

Runs filemap side by side with its peers (all eleven sections by default) and prints the
tables. --report writes DIR/benchmarks.md and its charts (DIR: the workspace's docs/); --json prints one JSON object per row. FILEMAP_BENCH_QUICK=1: a tiny
run for tests; FILEMAP_BENCH_REPS: repetitions (5); FILEMAP_BENCH_FILE_GIB: file size (4).";

struct Options {
    report: bool,
    json: bool,
    docs: PathBuf,
    sections: Vec<usize>,
}

fn options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        report: false,
        json: false,
        // crates/filemap-bench -> the workspace's docs/
        docs: Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .unwrap_or(Path::new("."))
            .join("docs"),
        sections: (1..=SECTION_TITLES.len()).collect(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--report" => o.report = true,
            "--json" => o.json = true,
            "--docs" => {
                o.docs = it
                    .next()
                    .ok_or_else(|| err("--docs needs a directory"))?
                    .into()
            }
            "--sections" => {
                o.sections = it
                    .next()
                    .ok_or_else(|| err("--sections needs a list like 1,2"))?
                    .split(',')
                    .map(|s| s.trim().parse().map_err(err))
                    .collect::<Result<_>>()?;
            }
            "-h" | "--help" => return Err(err(USAGE)),
            other => return Err(err(format!("unknown argument {other:?}\n\n{USAGE}"))),
        }
    }
    Ok(o)
}

/// What the report says about the run.
struct Run {
    machine: String,
    /// The 1-minute load average before and after the run.
    load: (f64, f64),
    pinned: bool,
    seconds: f64,
    repetitions: usize,
    file_size: u64,
    /// The most processes the run itself keeps busy at once (9 with the many-to-one rows,
    /// 5 with the publish-subscribe rows, else 2).
    own_processes: usize,
}

pub(crate) fn progress(what: impl std::fmt::Display) {
    eprintln!("filemap-bench: {what}");
}

/// `filemap-bench [--report] [--json] ...`.
pub fn main(args: &[String]) -> Result<()> {
    let o = options(args)?;
    let started = Instant::now();
    let machine = machine(); // before pinning (which narrows the cores this process sees)
    let load_before = load_average();
    if load_before > 0.5 {
        progress(format!(
            "the machine is busy (load average {load_before:.2}): other processes on the two \
cores disturb the numbers, busy-polling rows most"
        ));
    }
    // The benchmark's filemap objects live in a namespace directory of its own (on tmpfs,
    // like the peers' objects in /dev/shm), removed at the end.
    let namespace = Namespace::new()?;
    let iceoryx2_domain = messages::Iceoryx2Domain::new()?;
    let pinned = harness::pin_measuring_process();
    progress(if pinned {
        "pinned: this process to CPU 0, its partner processes to CPU 1"
    } else {
        "not pinned (one core, or the system refused the affinity)"
    });
    let reps = repetitions();
    let mut results = Results::default();
    let has = |s: usize| o.sections.contains(&s);
    for rep in 1..=reps {
        progress(format!("repetition {rep}/{reps}"));
        let memcpy = harness::memcpy_throughput();
        if has(1) {
            messages_section(&mut results, memcpy)?;
        }
        if has(2) {
            throughput_section(&mut results, memcpy)?;
        }
        if has(3) {
            setup_section(&mut results)?;
        }
        if has(4) {
            mutex_section(&mut results)?;
        }
        if has(6) {
            pubsub_section(&mut results)?;
        }
        if has(7) {
            parties_section(&mut results)?;
        }
        if has(8) {
            waits_section(&mut results)?;
        }
        if has(9) {
            link_section(&mut results)?;
        }
        if has(10) {
            progress("from Python");
            python::section(&mut results)?;
        }
    }
    let mut file_size = 0;
    if has(5) {
        file_size = files_section(&mut results, reps)?;
    }
    if has(scale::SECTION) {
        scale::section(&mut results, reps)?;
    }
    drop(iceoryx2_domain);
    drop(namespace);
    results.finish();
    finish_throughput_rows(&mut results);
    finish_file_rows(&mut results);
    finish_pubsub_rows(&mut results);
    finish_parties_rows(&mut results);
    finish_waits_rows(&mut results);
    finish_link_rows(&mut results);
    let run = Run {
        machine,
        load: (load_before, load_average()),
        pinned,
        seconds: started.elapsed().as_secs_f64(),
        repetitions: reps,
        file_size,
        own_processes: if has(7) {
            harness::SENDERS.iter().max().map_or(2, |n| n + 1)
        } else if has(6) {
            harness::SUBSCRIBERS.iter().max().map_or(2, |n| n + 1)
        } else {
            2
        },
    };
    let text = markdown(&results, &run, &o.sections);
    if o.json {
        println!("{}", json_with_subscribers(results.json()));
    } else if !o.report {
        println!("{text}");
    }
    if o.report {
        std::fs::create_dir_all(&o.docs)?;
        if has(1) {
            report::latency_chart(&results, LATENCY, &o.docs.join(CHART))?;
        }
        if has(scale::SECTION) {
            scale::charts(&results, &o.docs)?;
        }
        std::fs::write(o.docs.join("benchmarks.md"), &text)?;
        progress(format!(
            "wrote {} in {:.0} s",
            o.docs.join("benchmarks.md").display(),
            run.seconds
        ));
    }
    Ok(())
}

const CHART: &str = "benchmarks-latency.svg";

fn latency_sample(l: Latency) -> Sample {
    Sample {
        p50: l.p50_ns,
        p99: Some(l.p99_ns),
    }
}

fn messages_section(r: &mut Results, memcpy_gb_s: f64) -> Result<()> {
    progress("messages between two processes");
    let line = harness::cache_line_latency()?;
    r.add(
        1,
        WAKE_UP,
        0,
        "cache-line ping-pong (both spin)",
        Kind::Floor,
        NS,
        latency_sample(line),
    );
    r.add(
        1,
        WAKE_UP,
        0,
        "raw futex ping-pong (both always sleep)",
        Kind::Reference,
        NS,
        latency_sample(harness::futex_latency()?),
    );
    r.add(
        1,
        WAKE_UP,
        0,
        "filemap NamedEvent (auto reset)",
        Kind::Filemap,
        NS,
        latency_sample(messages::event_latency()?),
    );
    for size in SIZES {
        let s = size as u64;
        // One copy of the message at this machine's memcpy bandwidth, on top of the
        // cache-line hand-off: what any one-way transfer through shared memory costs.
        let copy_ns = size as f64 / memcpy_gb_s;
        r.add(
            1,
            LATENCY,
            s,
            "floor: cache line + one memcpy",
            Kind::Floor,
            NS,
            Sample {
                p50: line.p50_ns + copy_ns,
                p99: Some(line.p99_ns + copy_ns),
            },
        );
        let mut add =
            |system: &str, kind, l| r.add(1, LATENCY, s, system, kind, NS, latency_sample(l));
        add(
            "filemap busy-poll",
            Kind::Filemap,
            harness::filemap_latency(size, WaitMode::BusyPoll)?,
        );
        add(
            "filemap blocking",
            Kind::Filemap,
            harness::filemap_latency(size, WaitMode::Blocking)?,
        );
        add(
            "iceoryx2 (busy-poll)",
            Kind::Peer,
            messages::iceoryx2_latency(size)?,
        );
        add(
            "ipc-channel",
            Kind::Peer,
            messages::ipc_channel_latency(size)?,
        );
        add(
            "Unix socket",
            Kind::Peer,
            harness::unix_socket_latency(size)?,
        );
        add("pipe", Kind::Peer, harness::pipe_latency(size)?);
    }
    Ok(())
}

/// Publish-subscribe: filemap's topic (busy-poll and blocking) and iceoryx2 from one
/// publisher to 1, 2 and 4 subscriber processes, at 64 B and 1 MiB.
fn pubsub_section(r: &mut Results) -> Result<()> {
    progress("publish-subscribe");
    for (subscribers, scenario) in PUBSUB {
        for size in harness::PUBSUB_SIZES {
            let rows = pubsub::topic_rows(size, subscribers)?;
            for (system, latency) in pubsub::TOPIC_SYSTEMS.into_iter().zip(rows) {
                let kind = if system.starts_with("filemap") {
                    Kind::Filemap
                } else {
                    Kind::Peer
                };
                r.add(
                    6,
                    scenario,
                    size as u64,
                    system,
                    kind,
                    NS,
                    latency_sample(latency),
                );
            }
        }
    }
    Ok(())
}

/// The publish-subscribe rows' processes per core; the busy-polling rows with more
/// processes than cores measure the scheduler.
fn finish_pubsub_rows(r: &mut Results) {
    let cores = harness::cores();
    for row in r.rows.iter_mut().filter(|row| row.section == 6) {
        let processes = subscribers_of(row.scenario).unwrap_or(1) + 1;
        row.scheduler_bound =
            harness::oversubscribed(processes) && row.system.contains("busy-poll");
        row.extra = format!("{processes} / {cores}");
    }
}

/// The JSON rows, with `subscribers` (or `senders`) and `oversubscribed` (more processes
/// than cores) on the publish-subscribe (and many-to-one) rows.
fn json_with_subscribers(mut rows: serde_json::Value) -> serde_json::Value {
    for row in rows.as_array_mut().into_iter().flatten() {
        let scenario = row["scenario"].as_str().unwrap_or("");
        let parties = subscribers_of(scenario)
            .map(|n| ("subscribers", n))
            .or_else(|| senders_of(scenario).map(|n| ("senders", n)));
        if let (Some((key, n)), Some(object)) = (parties, row.as_object_mut()) {
            object.insert(key.into(), n.into());
            object.insert(
                "oversubscribed".into(),
                harness::oversubscribed(n + 1).into(),
            );
        }
        let events = (row["scenario"] == EVENT_WAKE)
            .then(|| events_of(row["system"].as_str().unwrap_or("")))
            .flatten();
        if let (Some(n), Some(object)) = (events, row.as_object_mut()) {
            object.insert("events".into(), n.into());
        }
    }
    rows
}

/// Many parties: messages per second from 2, 4 and 8 sender processes to one receiver
/// (filemap's inbox busy-poll and blocking, iceoryx2 publish-subscribe with as many
/// publishers, a Unix datagram socket), and the round trip of a request (filemap's service,
/// iceoryx2 request-response, a Unix stream socket) beside the channel's one-way latency, at
/// 64 B.
fn parties_section(r: &mut Results) -> Result<()> {
    progress("many parties");
    let size = MANY_PARTIES_MESSAGE;
    let s = size as u64;
    for (senders, scenario) in MANY_TO_ONE {
        let mut add = |system: &str, kind, msgs_s: f64| {
            r.add(
                7,
                scenario,
                s,
                system,
                kind,
                M_MSGS_S,
                Sample::value(msgs_s / 1e6),
            )
        };
        add(
            "filemap busy-poll",
            Kind::Filemap,
            harness::inbox_throughput(senders, WaitMode::BusyPoll)?,
        );
        add(
            "filemap blocking",
            Kind::Filemap,
            harness::inbox_throughput(senders, WaitMode::Blocking)?,
        );
        add(
            "iceoryx2 (busy-poll)",
            Kind::Peer,
            parties::iceoryx2_many_to_one(senders)?,
        );
        add(
            "Unix datagram socket",
            Kind::Peer,
            parties::unix_datagram_many_to_one(senders)?,
        );
    }
    let mut add = |scenario, system: &str, kind, l| {
        r.add(7, scenario, s, system, kind, NS, latency_sample(l))
    };
    // The service and the channel measured together, in alternating blocks against one
    // partner, so that the ratio of the two is of the same moments (this machine's speed
    // drifts, between repetitions and within them); the table lists the request-response
    // rows first.
    let measured = harness::interleaved::service_and_channel(size)?;
    let busy = harness::filemap_latency(size, WaitMode::BusyPoll)?;
    ROUND_TRIP_RATIOS.lock().map_err(err)?.push((
        measured.service.p50_ns / measured.channel_copied_out.p50_ns,
        measured.service.p50_ns / measured.channel.p50_ns,
    ));
    add(ROUND_TRIP, SERVICE, Kind::Filemap, measured.service);
    add(
        ROUND_TRIP,
        "iceoryx2 (busy-poll)",
        Kind::Peer,
        parties::iceoryx2_round_trip(size)?,
    );
    add(
        ROUND_TRIP,
        "Unix socket",
        Kind::Peer,
        parties::unix_socket_round_trip(size)?,
    );
    add(
        CHANNEL_ONE_WAY,
        CHANNEL_COPIED_OUT,
        Kind::Reference,
        measured.channel_copied_out,
    );
    add(
        CHANNEL_ONE_WAY,
        CHANNEL_BLOCKING,
        Kind::Reference,
        measured.channel,
    );
    add(
        CHANNEL_ONE_WAY,
        "filemap channel busy-poll",
        Kind::Reference,
        busy,
    );
    Ok(())
}

/// Async and waiting on many objects: the channel's 64 B one-way latency in a ping-pong,
/// blocking, async under `block_on` and under tokio's two runtimes, and tokio's
/// `UnixStream` under the same runtimes; the same latency with the receiver asleep,
/// blocking and async; and the wake-up of a sleeping waiter, `NamedEvent::wait` on one
/// event and `wait_any` over 1, 8 and 64.
fn waits_section(r: &mut Results) -> Result<()> {
    progress("async and waiting on many objects");
    let size = harness::ASYNC_MESSAGE;
    let s = size as u64;
    let mut add = |scenario, system: &str, kind, l| {
        r.add(8, scenario, s, system, kind, NS, latency_sample(l))
    };
    add(
        ASYNC_PING_PONG,
        BLOCKING_CHANNEL,
        Kind::Reference,
        harness::filemap_latency(size, WaitMode::Blocking)?,
    );
    add(
        ASYNC_PING_PONG,
        BLOCK_ON,
        Kind::Filemap,
        harness::filemap_async_latency(size)?,
    );
    let row_of = [tokio_async_row, tokio_spin_row, tokio_busy_row];
    let modes = [WaitMode::Blocking, WaitMode::Spin, WaitMode::BusyPoll];
    for (row, mode) in row_of.into_iter().zip(modes) {
        for kind in Runtime::ALL {
            let measured = waits::tokio_filemap_latency(kind, size, mode)?;
            ASYNC_TO_BLOCKING.lock().map_err(err)?.push((
                row(kind),
                measured.async_.p50_ns / measured.blocking.p50_ns,
                measured.blocking.p50_ns,
            ));
            add(ASYNC_PING_PONG, &row(kind), Kind::Filemap, measured.async_);
        }
    }
    for kind in Runtime::ALL {
        add(
            ASYNC_PING_PONG,
            &tokio_socket_row(kind),
            Kind::Peer,
            waits::tokio_socket_latency(kind, size)?,
        );
    }
    add(
        ASYNC_ASLEEP,
        BLOCKING_CHANNEL,
        Kind::Reference,
        harness::filemap_asleep_latency(size, false)?,
    );
    add(
        ASYNC_ASLEEP,
        BLOCK_ON,
        Kind::Filemap,
        harness::filemap_asleep_latency(size, true)?,
    );
    for kind in Runtime::ALL {
        add(
            ASYNC_ASLEEP,
            &tokio_async_row(kind),
            Kind::Filemap,
            waits::tokio_filemap_asleep_latency(kind, size)?,
        );
    }
    let mut add =
        |system: &str, kind, l| r.add(8, EVENT_WAKE, 0, system, kind, NS, latency_sample(l));
    add(
        SINGLE_WAIT,
        Kind::Reference,
        waits::event_wake_latency(None)?,
    );
    for n in WAIT_ANY_EVENTS {
        add(
            &wait_any_row(n),
            Kind::Filemap,
            waits::event_wake_latency(Some(n))?,
        );
    }
    Ok(())
}

/// Each repetition's tokio async rows against the blocking channel measured with them in
/// alternating blocks: (row, async p50 over blocking p50, blocking p50).
static ASYNC_TO_BLOCKING: std::sync::Mutex<Vec<(String, f64, f64)>> =
    std::sync::Mutex::new(Vec::new());

/// A tokio async row against the blocking channel measured with it: the median of the
/// repetitions' ratios and the median of their blocking p50s.
fn async_to_blocking(system: &str) -> Option<(f64, f64)> {
    let measured = ASYNC_TO_BLOCKING.lock().ok()?;
    let of_row = || measured.iter().filter(|m| m.0 == system);
    let (ratio, _, _) = median_and_range(of_row().map(|m| m.1).collect())?;
    let (blocking, _, _) = median_and_range(of_row().map(|m| m.2).collect())?;
    Some((ratio, blocking))
}

/// The p50 of a section 8 row.
fn waits_p50(r: &Results, scenario: &str, system: &str) -> Option<f64> {
    r.rows
        .iter()
        .find(|row| row.section == 8 && row.scenario == scenario && row.system == system)
        .map(|row| row.p50)
}

/// Section 8's last column: each async row against the blocking channel (and, under
/// tokio, tokio's `UnixStream` under the same runtime against it), each `wait_any` row
/// against the single wait, all p50 over p50 of this run's medians.
fn finish_waits_rows(r: &mut Results) {
    let medians: Vec<(&'static str, String, f64)> = r
        .rows
        .iter()
        .filter(|row| row.section == 8)
        .map(|row| (row.scenario, row.system.clone(), row.p50))
        .collect();
    let p50 = |scenario: &str, system: &str| {
        medians
            .iter()
            .find(|(sc, sy, _)| *sc == scenario && sy == system)
            .map(|m| m.2)
    };
    r.set_extras(8, |row| {
        let ratio = |x: f64| report::ratio_text(Some(x));
        if row.scenario == EVENT_WAKE {
            return match (row.system == SINGLE_WAIT, p50(EVENT_WAKE, SINGLE_WAIT)) {
                (false, Some(single)) => format!("{} single wait", ratio(row.p50 / single)),
                _ => String::new(),
            };
        }
        if !row.system.starts_with("filemap async") {
            return String::new();
        }
        // The tokio rows against the blocking channel measured with them; the others
        // against the blocking row.
        let to_blocking = async_to_blocking(&row.system)
            .map(|(r, _)| r)
            .or_else(|| p50(row.scenario, BLOCKING_CHANNEL).map(|b| row.p50 / b));
        let mut text = to_blocking.map_or(String::new(), |r| format!("{} blocking", ratio(r)));
        let socket = Runtime::ALL
            .into_iter()
            .find(|&k| {
                [tokio_async_row(k), tokio_spin_row(k), tokio_busy_row(k)].contains(&row.system)
            })
            .and_then(|k| p50(row.scenario, &tokio_socket_row(k)));
        if let Some(socket) = socket {
            text.push_str(&format!("; UnixStream {} this", ratio(socket / row.p50)));
        }
        text
    });
}

/// The lines under section 8's table: the async rows and `wait_any` against their
/// targets, from this run's medians.
fn waits_note(r: &Results) -> String {
    let verdict = |met: bool| if met { "meets" } else { "misses" };
    let mut lines = Vec::new();
    let rows = Runtime::ALL
        .into_iter()
        .map(|k| (k, tokio_async_row(k), "Async (the default: no spinning)"))
        .chain(
            Runtime::ALL
                .into_iter()
                .map(|k| (k, tokio_spin_row(k), "Async with `WaitMode::Spin` (opt-in)")),
        )
        .chain(
            Runtime::ALL
                .into_iter()
                .map(|k| (k, tokio_busy_row(k), "Async with busy-poll (opt-in)")),
        );
    for (kind, system, what) in rows {
        let (Some((to_blocking, blocking)), Some(filemap), Some(socket)) = (
            async_to_blocking(&system),
            waits_p50(r, ASYNC_PING_PONG, &system),
            waits_p50(r, ASYNC_PING_PONG, &tokio_socket_row(kind)),
        ) else {
            continue;
        };
        let socket_to = socket / filemap;
        lines.push(format!(
            "- **{what} under tokio's {} runtime, 64 B ping-pong**: {} ns one way, {}× the \
blocking channel's {} ns measured with it (target: at most {}×, which this run {}); tokio's \
`UnixStream` under the same runtime takes {} ns, {}× the async channel's (target: at least \
{}×, which this run {}).",
            kind.name(),
            report::number(filemap),
            report::number(to_blocking),
            report::number(blocking),
            ASYNC_TARGET,
            verdict(to_blocking <= ASYNC_TARGET),
            report::number(socket),
            report::number(socket_to),
            SOCKET_TARGET,
            verdict(socket_to >= SOCKET_TARGET),
        ));
    }
    if let Some(blocking) = waits_p50(r, ASYNC_ASLEEP, BLOCKING_CHANNEL) {
        let rows: Vec<String> = std::iter::once(BLOCK_ON.to_string())
            .chain(Runtime::ALL.into_iter().map(tokio_async_row))
            .filter_map(|system| {
                let p50 = waits_p50(r, ASYNC_ASLEEP, &system)?;
                Some(format!(
                    "{} {} ns ({}×)",
                    system.trim_start_matches("filemap async, "),
                    report::number(p50),
                    report::number(p50 / blocking)
                ))
            })
            .collect();
        if !rows.is_empty() {
            lines.push(format!(
                "- **With the receiver asleep** (a message every {} ms or more), where the \
blocking receive sleeps in the kernel too and takes {} ns one way, the async receive takes: \
{}.",
                harness::ASLEEP_GAP.as_millis(),
                report::number(blocking),
                rows.join(", ")
            ));
        }
    }
    let most = WAIT_ANY_EVENTS.into_iter().max().unwrap_or(64);
    if let (Some(single), Some(any)) = (
        waits_p50(r, EVENT_WAKE, SINGLE_WAIT),
        waits_p50(r, EVENT_WAKE, &wait_any_row(most)),
    ) {
        lines.push(format!(
            "- **`wait_any` over {most} events** wakes in {} ns, {}× a single \
`NamedEvent::wait`'s {} ns (target: at most {}×, which this run {}).",
            report::number(any),
            report::number(any / single),
            report::number(single),
            WAIT_ANY_TARGET,
            verdict(any / single <= WAIT_ANY_TARGET),
        ));
    }
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "Against the targets, from the medians in the table:\n\n{}\n\n",
        lines.join("\n")
    )
}

/// Across machines: filemap topics through two bridges, plain Zenoh and a TCP socket over
/// 127.0.0.1 (see [`bridge`]): ping-pong latency at 64 B and 1 MiB, then throughput one
/// way, 1 MiB messages and 64 B ones. The systems are measured one after another for each
/// scenario, the bridged row and Zenoh's back to back; the rows go in by size.
fn link_section(r: &mut Results) -> Result<()> {
    progress("across machines: the Zenoh bridge");
    let mut latencies = Vec::new();
    for system in System::ALL {
        latencies.push((system, bridge::latency(system, &LINK_SIZES)?));
    }
    for (i, size) in LINK_SIZES.into_iter().enumerate() {
        for (system, l) in &latencies {
            let (name, kind) = link_row(*system);
            let sample = Sample {
                p50: l[i].p50_ns / 1e3,
                p99: Some(l[i].p99_ns / 1e3),
            };
            r.add(9, LINK_LATENCY, size as u64, name, kind, US, sample);
        }
    }
    let big = harness::THROUGHPUT_MESSAGE;
    for system in System::ALL {
        let (name, kind) = link_row(system);
        let gb_s = bridge::throughput(system, big)? * big as f64 / 1e9;
        r.add(
            9,
            LINK_THROUGHPUT,
            big as u64,
            name,
            kind,
            GB_S,
            Sample::value(gb_s),
        );
    }
    let small = LINK_SIZES[0];
    for system in System::ALL {
        let (name, kind) = link_row(system);
        let msgs_s = bridge::throughput(system, small)?;
        r.add(
            9,
            LINK_RATE,
            small as u64,
            name,
            kind,
            M_MSGS_S,
            Sample::value(msgs_s / 1e6),
        );
    }
    Ok(())
}

/// The median of a section 9 row.
fn link_p50(r: &Results, scenario: &str, size: usize, system: &str) -> Option<f64> {
    r.rows
        .iter()
        .find(|row| {
            row.section == 9
                && row.scenario == scenario
                && row.size == size as u64
                && row.system == system
        })
        .map(|row| row.p50)
}

/// Section 9's last column: the bridged rows against Zenoh's of the same scenario and
/// size, from this run's medians: latency as a ratio, throughput as a share.
fn finish_link_rows(r: &mut Results) {
    let zenoh: Vec<(&'static str, u64, f64)> = r
        .rows
        .iter()
        .filter(|row| row.section == 9 && row.system == ZENOH)
        .map(|row| (row.scenario, row.size, row.p50))
        .collect();
    r.set_extras(9, |row| {
        let Some(&(_, _, z)) = zenoh
            .iter()
            .find(|(sc, size, _)| *sc == row.scenario && *size == row.size)
            .filter(|_| row.system == BRIDGED)
        else {
            return String::new();
        };
        if row.unit.higher_is_better {
            format!("{:.0}% of Zenoh's", row.p50 / z * 100.0)
        } else {
            format!("{} Zenoh's", report::ratio_text(Some(row.p50 / z)))
        }
    });
}

/// The lines under section 9's table: the bridges against the targets (64 B
/// latency, 1 MiB throughput), and the other two scenarios for context, from this run's
/// medians.
fn link_note(r: &Results) -> String {
    let verdict = |met: bool| if met { "meets" } else { "misses" };
    let (small, big) = (LINK_SIZES[0], harness::THROUGHPUT_MESSAGE);
    let mut lines = Vec::new();
    let pair = |scenario, size| {
        Some((
            link_p50(r, scenario, size, BRIDGED)?,
            link_p50(r, scenario, size, ZENOH)?,
        ))
    };
    if let Some((b, z)) = pair(LINK_LATENCY, small) {
        lines.push(format!(
            "- **A {small} B message through two bridges** takes {} µs one way, {}× Zenoh's \
own {} µs over the same link (target: at most {}×, which this run {}).",
            report::number(b),
            report::number(b / z),
            report::number(z),
            BRIDGE_LATENCY_TARGET,
            verdict(b / z <= BRIDGE_LATENCY_TARGET),
        ));
    }
    if let Some((b, z)) = pair(LINK_THROUGHPUT, big) {
        lines.push(format!(
            "- **1 MiB messages through two bridges** flow at {} GB/s, {:.0}% of Zenoh's own \
{} GB/s over the same link (target: at least {:.0}%, which this run {}).",
            report::number(b),
            b / z * 100.0,
            report::number(z),
            BRIDGE_THROUGHPUT_TARGET * 100.0,
            verdict(b / z >= BRIDGE_THROUGHPUT_TARGET),
        ));
    }
    let mut context = Vec::new();
    if let Some((b, z)) = pair(LINK_LATENCY, big) {
        context.push(format!(
            "a 1 MiB message takes {} µs one way through the bridges, {}× Zenoh's {} µs",
            report::number(b),
            report::number(b / z),
            report::number(z)
        ));
    }
    if let Some((b, z)) = pair(LINK_RATE, small) {
        context.push(format!(
            "{small} B messages flow at {} million a second through the bridges, {:.0}% of \
Zenoh's {} million",
            report::number(b),
            b / z * 100.0,
            report::number(z)
        ));
    }
    if !context.is_empty() {
        lines.push(format!("- Beyond the targets: {}.", context.join("; ")));
    }
    if lines.is_empty() {
        return String::new();
    }
    let dropped = bridge::EXPORT_DROPS.load(std::sync::atomic::Ordering::Relaxed);
    lines.push(format!(
        "- The exporting bridge dropped {} on the throughput rows (its publisher keeps at \
most {} MiB, or {} messages, ahead of what the bridge has put to Zenoh).",
        match dropped {
            0 => "no message".to_string(),
            1 => "1 message".to_string(),
            n => format!("{n} messages"),
        },
        bridge::PACING_BYTES >> 20,
        bridge::PACING_MESSAGES,
    ));
    format!(
        "Against the targets, from the medians in the table:\n\n{}\n\n",
        lines.join("\n")
    )
}

/// Each repetition's service round trip over the channel's one-way latency (blocking),
/// measured together with it in alternating blocks (p50 over p50): with the echo copied out
/// (as the client copies each response out), and as section 1 measures it.
static ROUND_TRIP_RATIOS: std::sync::Mutex<Vec<(f64, f64)>> = std::sync::Mutex::new(Vec::new());

/// The channel row of the ratio: its measuring side copies each echo out.
const CHANNEL_COPIED_OUT: &str = "filemap channel blocking, echo copied out";
/// The channel row measured as section 1 measures it.
const CHANNEL_BLOCKING: &str = "filemap channel blocking";

/// filemap's service row (its one wait mode).
const SERVICE: &str = "filemap (spin, then sleep)";

/// The processes of a section 7 row: the senders and the receiver, or two.
fn parties_processes(scenario: &str) -> usize {
    senders_of(scenario).map_or(2, |n| n + 1)
}

/// The many-parties rows' processes per core; the busy-polling many-to-one rows with more
/// processes than cores measure the scheduler.
fn finish_parties_rows(r: &mut Results) {
    let cores = harness::cores();
    for row in r.rows.iter_mut().filter(|row| row.section == 7) {
        let processes = parties_processes(row.scenario);
        row.scheduler_bound = senders_of(row.scenario).is_some()
            && harness::oversubscribed(processes)
            && row.system == "filemap busy-poll";
        row.extra = format!("{processes} / {cores}");
    }
}

/// The line under section 7's table: the service's round trip against the channel's
/// one-way latency in this run: the median of the repetitions' ratios (each of two rows
/// measured together, in alternating blocks), and the ratio of the table's medians.
fn round_trip_note(r: &Results) -> String {
    let p50 = |scenario: &str, system: &str| {
        r.rows
            .iter()
            .find(|row| row.scenario == scenario && row.system == system)
            .map(|row| row.p50)
    };
    let service = p50(ROUND_TRIP, SERVICE);
    let copied = p50(CHANNEL_ONE_WAY, CHANNEL_COPIED_OUT);
    let blocking = p50(CHANNEL_ONE_WAY, CHANNEL_BLOCKING);
    let pairs = ROUND_TRIP_RATIOS
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    let (Some(service), Some(copied), Some(blocking), Some(range), Some(uncopied)) = (
        service,
        copied,
        blocking,
        median_and_range(pairs.iter().map(|p| p.0).collect()),
        median_and_range(pairs.iter().map(|p| p.1).collect()),
    ) else {
        return String::new();
    };
    let (ratio, low, high) = range;
    format!(
        "**A service's round trip costs {}× the channel's one-way latency** in this run, at \
64 B, both in the channel's default wait mode (spin, then sleep), where both copy the same \
bytes: the server copies each request into its response and the client copies each \
response out; the channel's partner copies each message into its echo and the measuring \
side copies each echo out. That is the median of the {} repetitions' ratios, each of the \
service's p50 to the channel's p50 measured in the same moments, in alternating blocks \
({} – {}); the medians in the table give {}× ({} ns against {} ns). The target is at most \
{}×, which this run {}. Against the channel measured as section 1 measures it, whose \
measuring side does not copy the echo out (one copy across the cores fewer per round trip), \
the service's round trip costs {}× (median of the repetitions' ratios; the table's medians: \
{} ns against {} ns).\n\n",
        report::number(ratio),
        pairs.len(),
        report::number(low),
        report::number(high),
        report::number(service / copied),
        report::number(service),
        report::number(copied),
        ROUND_TRIP_TARGET,
        if ratio <= ROUND_TRIP_TARGET {
            "meets"
        } else {
            "misses"
        },
        report::number(uncopied.0),
        report::number(service),
        report::number(blocking),
    )
}

/// The median of `values` and their range: `(median, min, max)`; `None` if there are none.
fn median_and_range(mut values: Vec<f64>) -> Option<(f64, f64, f64)> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = match n {
        0 => return None,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    };
    Some((median, values[0], values[n - 1]))
}

fn throughput_section(r: &mut Results, memcpy_gb_s: f64) -> Result<()> {
    progress("throughput");
    let s = THROUGHPUT_MESSAGE as u64;
    let mut add =
        |system: &str, kind, gb_s| r.add(2, THROUGHPUT, s, system, kind, GB_S, Sample::value(gb_s));
    add("memcpy (one core)", Kind::Floor, memcpy_gb_s);
    add(
        "raw hand-off, 3 buffers",
        Kind::Reference,
        harness::hand_off_throughput()?,
    );
    add(
        "filemap busy-poll",
        Kind::Filemap,
        harness::filemap_throughput(WaitMode::BusyPoll)?,
    );
    add(
        "filemap blocking",
        Kind::Filemap,
        harness::filemap_throughput(WaitMode::Blocking)?,
    );
    add(
        "iceoryx2 (busy-poll)",
        Kind::Peer,
        messages::iceoryx2_throughput()?,
    );
    add(
        "Unix socket",
        Kind::Peer,
        harness::unix_socket_throughput()?,
    );
    Ok(())
}

fn kind_of(system: &str) -> Kind {
    if system.starts_with("reference:") {
        Kind::Reference
    } else if system.starts_with("filemap") {
        Kind::Filemap
    } else if system.starts_with("raw ") || system.starts_with("shm_open") {
        Kind::Floor
    } else {
        Kind::Peer
    }
}

fn setup_section(r: &mut Results) -> Result<()> {
    progress("named shared memory set-up");
    let size = setup::SIZE as u64;
    let created = setup::create()?;
    for (system, (p50, p99)) in setup::CREATE_SYSTEMS.into_iter().zip(created) {
        let sample = Sample {
            p50,
            p99: Some(p99),
        };
        r.add(3, CREATE, size, system, kind_of(system), US, sample);
    }
    let opened = setup::open_by_partner()?;
    for (system, (p50, p99)) in setup::SYSTEMS.into_iter().zip(opened) {
        let sample = Sample {
            p50,
            p99: Some(p99),
        };
        r.add(3, OPEN, size, system, kind_of(system), US, sample);
    }
    crate::steps::measure()
}

fn mutex_section(r: &mut Results) -> Result<()> {
    progress("named mutex");
    for system in std::iter::once("filemap NamedMutex").chain(mutex::SYSTEMS) {
        let ns = mutex::uncontended(system)?;
        r.add(
            4,
            UNCONTENDED,
            0,
            system,
            kind_of(system),
            NS,
            Sample::value(ns),
        );
    }
    for system in mutex::SYSTEMS {
        let ns = mutex::handoff(system)?;
        r.add(
            4,
            HANDOFF,
            0,
            system,
            kind_of(system),
            NS,
            Sample::value(ns),
        );
    }
    Ok(())
}

/// Peak resident memory of the file rows, largest over the repetitions, by row name.
static FILE_RSS: std::sync::Mutex<Vec<(String, u64)>> = std::sync::Mutex::new(Vec::new());

fn files_section(r: &mut Results, reps: usize) -> Result<u64> {
    progress(format!(
        "files: writing {} of pseudo-random bytes",
        report::size_text(files::file_size())
    ));
    let file = files::TestFile::make()?;
    for rep in 1..=reps {
        progress(format!("files, repetition {rep}/{reps}"));
        let mut results = Vec::new();
        for (role, system) in files::SEQUENTIAL {
            let (seconds, checksum, rss) = file.run(role)?;
            results.push((SCAN, system, seconds, checksum, rss));
        }
        for (system, (seconds, checksum, rss)) in files::RANDOM.into_iter().zip(file.run_random()?)
        {
            results.push((RANDOM, system, seconds, checksum, rss));
        }
        for scenario in [SCAN, RANDOM] {
            let mut checksums: Vec<&String> = results
                .iter()
                .filter(|x| x.0 == scenario)
                .map(|x| &x.3)
                .collect();
            checksums.dedup();
            if checksums.len() != 1 {
                return Err(err(format!("{scenario}: the systems read different bytes")));
            }
        }
        for (scenario, system, seconds, _, rss) in results {
            r.add(
                5,
                scenario,
                file.size,
                system,
                kind_of(system),
                MS,
                Sample::value(seconds * 1e3),
            );
            let mut all = FILE_RSS.lock().map_err(err)?;
            match all.iter_mut().find(|(s, _)| s == system) {
                Some(e) => e.1 = e.1.max(rss),
                None => all.push((system.to_string(), rss)),
            }
        }
    }
    Ok(file.size)
}

/// The throughput rows' rate in messages per second.
fn finish_throughput_rows(r: &mut Results) {
    r.set_extras(2, |row| {
        report::number(row.p50 * 1e9 / THROUGHPUT_MESSAGE as f64)
    });
}

/// The file rows' throughput and peak resident memory.
fn finish_file_rows(r: &mut Results) {
    let rss = FILE_RSS.lock().map(|v| v.clone()).unwrap_or_default();
    let reads = files::random_reads() as f64 * 4096.0;
    r.set_extras(5, |row| {
        let bytes = if row.scenario == SCAN {
            row.size as f64
        } else {
            reads
        };
        let gib_s = bytes / (row.p50 / 1e3) / (1u64 << 30) as f64;
        let peak = rss
            .iter()
            .find(|(s, _)| *s == row.system)
            .map(|(_, m)| *m)
            .unwrap_or(0);
        format!("{} GiB/s, {peak} MiB", report::number(gib_s))
    });
}

impl Run {
    /// Whether other work kept the machine busy: load before the run, or more load after it
    /// than the benchmark's own processes make.
    fn busy(&self) -> bool {
        self.load.0 > 1.0 || self.load.1 > self.own_processes as f64 + 1.0
    }
}

/// The 1-minute load average.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .map(|kb| kb / (1 << 20) as f64)
        .unwrap_or(0.0);
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "rustc (version unknown)".into());
    format!(
        "{model} ({cores} cores available), {memory_gib:.0} GiB memory, Linux {kernel}, {rustc}, release profile"
    )
}

/// Today's date (UTC), as YYYY-MM-DD.
fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// What each section measures, how, and what its floor is.
fn section_intro(section: usize, run: &Run) -> String {
    match section {
        scale::SECTION => scale::intro(),
        1 => format!(
            "One-way latency is half a round trip: the measuring process sends a message, the \
partner process echoes it (copying it into its reply), {} to {} timed round trips per row after \
a tenth as many untimed ones. filemap's channel writes each message into a reserved slot; \
iceoryx2 (publish-subscribe, ipc service) writes each into a loaned sample (its zero-copy API) \
and its receiver polls, as iceoryx2's publish-subscribe has no blocking receive; ipc-channel \
uses its byte channels (no serialisation). The floor at each size is the cache-line ping-pong \
below plus one `memcpy` of the message at this machine's `memcpy` bandwidth.\n\n\
![One-way latency against message size, log-log]({CHART})\n",
            harness::iterations(1 << 20),
            harness::iterations(64),
        ),
        2 => "1 MiB messages one way: the sender copies each message in (a reserved slot, a \
loaned sample, `write`), the receiver copies each out into its own buffer (`recv_into`, \
`copy_from_slice` from the sample, `read`). iceoryx2's publisher waits for room instead of \
overwriting unread samples. The floor is `memcpy` of 1 MiB on one core, where nothing \
crosses cores. For reference, the raw hand-off row is what two processes do with no channel \
at all: three 1 MiB buffers in shared memory, each guarded by a flag (the partner copies a \
message in and raises the flag, this process copies it out and lowers it), so every byte \
crosses from one core to the other as in the other rows. Ratios here are of cost (time per \
byte), so 2× is half the bandwidth.\n"
            .to_string(),
        3 => "A named 4 KiB object: create, map a view, unmap, close, in one process; and open, \
map, unmap, close, by a second process while the first holds the object. Every operation is \
timed on its own, and the systems take turns in blocks of 50 operations (the opens all in \
the one second process), so that each is measured at the same moments of a machine whose \
speed drifts. filemap's objects live in a namespace directory on tmpfs (like /dev/shm, \
where `shared_memory` and `shm_open` put theirs). The floor is the raw system calls: \
`shm_open` (+ `ftruncate`) or `fstat`, `mmap`, `munmap`, `close` (+ `shm_unlink`).\n"
            .to_string(),
        4 => "Uncontended: one thread locks, adds one to a counter in the shared memory, and \
unlocks, millions of times (filemap's `NamedMutex` without the counter). Hand-off: two \
processes take turns on the counter under the mutex, so every turn passes the mutex to the \
other process. The floor is a raw robust, process-shared pthread mutex in shared memory, the \
usual mechanism for a robust mutex on Linux (filemap's own is a futex word whose owner's \
liveness is a byte-range lock taken once per handle, because a pthread mutex keeps pointers \
of its holder in the shared memory).\n"
            .to_string(),
        5 => format!(
            "A {} file of pseudo-random bytes in the temporary directory, read once untimed \
first so the page cache is warm. Every scan runs in a fresh process; every byte read is \
folded into a checksum (all systems must agree). Random reads: {} reads of 4 KiB at fixed \
pseudo-random offsets, all systems in one fresh process, each with a mapping (or descriptor) \
of its own, taking turns in blocks of 1,000 reads so that all are measured at the same \
moments; each reads every block once, a quarter of the run apart from the others, so that no \
system finds another's bytes in the CPU's caches. The last column is the throughput at the \
median time and the largest resident memory over the repetitions: the scans' peak \
(`VmHWM`); for the random reads, the process's before them plus what the system's own mapping \
has resident after them (its `Rss` in `/proc/self/smaps`). The reference rows copy the way \
filemap's `read_at` did before its assembly copy routine (word-sized relaxed atomic loads), \
over the same views.\n",
            report::size_text(run.file_size),
            files::random_reads()
        ),
        6 => pubsub_intro(),
        7 => parties_intro(),
        8 => waits_intro(),
        9 => link_intro(run.pinned),
        10 => python::intro(),
        _ => String::new(),
    }
}

/// What section 6 measures, and which of its rows measure the scheduler on this machine.
fn pubsub_intro() -> String {
    let cores = harness::cores();
    let shared: Vec<String> = PUBSUB
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| harness::oversubscribed(n + 1))
        .map(|n| n.to_string())
        .collect();
    let mut text = format!(
        "One publisher (the measuring process) and 1, 2 or 4 subscriber processes. A \
message's latency is until the **last** subscriber has it: from the publisher's clock reading \
before it reserves (filemap) or loans (iceoryx2) the message and copies it in, to the latest \
of the subscribers' readings after each copied the payload into its own buffer and released \
it (`CLOCK_MONOTONIC`, which every process reads alike). It is a one-way time measured \
directly, not half a round trip as in section 1. Each subscriber then posts its time on a \
cache line of its own in a shared page, the same way for all three systems (the publisher \
spins on those lines and lets other processes run every few microseconds), and the next \
message goes only once every subscriber has answered, so no message waits behind another. \
Earlier reports sent the times back over each system itself (a filemap channel, an iceoryx2 \
service): that return path is not timed, but it runs on the same cores as the next message, \
and in probe runs it put filemap's 1 MiB row 1-16% behind iceoryx2's, where the common path \
puts them within 8% of each other, filemap sometimes ahead and sometimes behind. The three \
systems of a scenario run together: each subscriber process serves all three, and they take \
turns in blocks of up to 500 messages or 25 ms, so that all are measured at the same moments \
of a machine whose speed drifts. Up to {} (1 MiB) to {} (64 B) messages per row after a \
tenth as many untimed ones, stopping after {} ms of the three rows' timed messages once {} \
are in. filemap's topic (a ring of four times the message \
size, as in section 1) is made with `SlowSubscribers::Block` (the publisher never has to \
wait here); iceoryx2's service keeps 4 samples per subscriber, with safe overflow, and its \
subscribers can only poll. The publisher runs on CPU 0 and subscriber k pins itself to \
CPU 1 + k mod (cores − 1): on a machine with two cores every subscriber shares CPU 1. There \
is no floor row: with several subscribers it depends on how many cores they have.\n",
        harness::iterations(1 << 20),
        harness::iterations(64),
        harness::ONE_WAY_BUDGET.as_millis() * 3,
        harness::MIN_ONE_WAY,
    );
    if !shared.is_empty() {
        text.push_str(&format!(
            "\n**This machine has {cores} cores, so the rows with {} subscribers run more \
processes than cores** (the column before the note). Their busy-polling rows (filemap \
busy-poll, and iceoryx2) measure the scheduler, not the messages: a subscriber that has yet \
to see the message waits for its time slice while another subscriber spins on the same core, \
so those rows come out in milliseconds for both systems, and their ratios say nothing about \
either (they are no loss or win of filemap's). In filemap's blocking rows a subscriber that \
finds nothing to receive while another subscriber has yet to read what it has read (and the \
topic's processes outnumber the cores) first gives its core away (`sched_yield`), then spins \
briefly and sleeps, so the subscriber behind \
it on the core waits for a switch (microseconds), not for a spin. Read those rows as what a \
machine with too few cores does, and the 1-subscriber rows as the systems' own cost.\n",
            shared.join(" and ")
        ));
    }
    text
}

/// What section 8 measures.
fn waits_intro() -> String {
    let workers = waits::multi_thread_workers();
    format!(
        "**Async, {size} B**: the channel's one-way latency with both ends async, each \
process sending with `send_async` and receiving with `recv_async`: under \
`filemap::wait::block_on` (no runtime: a pending receive parks the thread), and under \
tokio's current-thread and multi-thread runtimes (both processes the same kind, with their \
I/O and time drivers; the measuring loop and the echo are each a spawned task, so under the \
multi-thread runtime they run on a worker thread: {workers} worker{} in a process pinned to one \
core). By default a pending filemap future does not spin, and sleeps nowhere itself: the \
process's waiter thread sleeps in `futex_waitv` for every pending future and wakes the \
task's waker. The spin rows set both ends to `WaitMode::Spin` (an opt-in: a pending receive \
asks the runtime to poll it again at once for up to 50 µs, the runtime running its other \
tasks in between, then sleeps), the busy-poll rows to `WaitMode::BusyPoll` (the other \
opt-in: it never stops asking, so the runtime's thread stays busy). Beside them, in the same \
run: the blocking channel (`send`, `recv`: spin briefly, then sleep), and tokio's \
`UnixStream` under the same runtimes (`write_all`, `read_exact`). **Ping-pong**: half a round \
trip, the partner copying each message out and sending it back, {} timed round trips per row \
after a tenth as many untimed ones. In a ping-pong the blocking receiver, and an async one \
set to spin, catches each message while it spins; a default async receive sleeps every time, \
as a socket's reader does. **Receiver asleep**: a message every {} ms (1 to 2 ms under tokio, whose timer ticks \
in milliseconds), so that the blocking receiver too is asleep in the kernel when it comes, timed one way on `CLOCK_MONOTONIC` (which both \
processes read) from before the send until the receiver has copied the message out, up to \
{} ms of timed messages per row (at least {}) after a tenth as many untimed ones.\n\n\
**Waiting on many objects**: a waiter process sleeps on named events (auto reset), in \
`wait_any` over 1, 8 or 64 of them (of which the measuring process sets the last: \
`futex_waitv` over all their words) or in `NamedEvent::wait` on one; the measuring process \
sets one every {} ms, so the waiter is asleep in the kernel (a single wait spins briefly \
first, `wait_any` never spins). Timed one way like the receiver-asleep rows, from before \
`set` until the waiter's wait has returned, and the same number of wake-ups.\n\n\
The last column sets each row against the same run's: the async rows under tokio against \
a blocking ping-pong measured with each of them, in alternating blocks of up to 500 round trips \
(both processes switch between `send_async`/`recv_async` in the row's mode and `send`/`recv` \
in the default mode, from the same tasks: this machine's two cores are at times hyperthreads \
of one physical core and at times not, which changes a ping-pong several times over from one \
second to the next), the median of the repetitions' ratios; the `block_on` rows against the \
blocking channel's row; tokio's `UnixStream` against the async channel under the same \
runtime; the `wait_any` rows against the single wait. No floor rows (section 1's cache-line and futex \
ping-pongs are this machine's bounds).\n",
        if workers == 1 { "" } else { "s" },
        harness::iterations(harness::ASYNC_MESSAGE),
        harness::ASLEEP_GAP.as_millis(),
        harness::ONE_WAY_BUDGET.as_millis(),
        harness::MIN_ONE_WAY,
        harness::ASLEEP_GAP.as_millis(),
        size = harness::ASYNC_MESSAGE,
    )
}

/// What section 9 measures (`pinned`: whether the run pinned its processes).
fn link_intro(pinned: bool) -> String {
    format!(
        "Two sides, A and B, as two hosts would have them, on this one machine: **the link \
is TCP over 127.0.0.1 (loopback)**, so no network adds its own latency or limits the \
bandwidth, and what the rows show is what each system costs on top of the TCP connection \
(a real network adds its own time to every row alike). Side A is the measuring process, \
side B a partner process, each with a namespace directory of its own (`FILEMAP_DIR`, \
made for the row and removed after it){}. A listens on a free port of 127.0.0.1, \
B connects to it. **filemap topics through two bridges**: each side runs a \
`filemap_zenoh::Bridge` in-process (its defaults: peer mode, multicast scouting off, \
reliable with `CongestionControl::Block`); the topics on both sides are made with an \
{} MiB ring before the bridges start. A's publisher publishes on its topic, which A's \
bridge exports; B's bridge imports it into B's topic of that name, where B's subscriber \
gets it. **Zenoh publisher to subscriber**: a Zenoh session in each process (peer mode, \
multicast scouting off), a publisher (`CongestionControl::Block`, reliable) and a \
subscriber with the default FIFO handler, on the same kind of link. Every system copies \
a message in once at the sender (filemap: into the topic; Zenoh: into a fresh buffer \
that is put; TCP: `write`) and out once at the receiver (filemap: out of the topic; Zenoh: \
the payload's slices into a buffer; TCP: `read`). **TCP socket**: a `std::net` stream \
with `TCP_NODELAY`, written and read through 64 KiB buffers (flushed after every message \
of a ping-pong): the floor, as the other two run over TCP too.\n\n\
**Latency**: a ping-pong, one-way latency half a round trip: A sends a message, B \
receives it and sends it back the same way (through a second pair of topics and the same \
two bridges: B exports the reply's topic, A imports it), up to {} (1 MiB) to {} (64 B) \
timed round trips per row, stopping after {} ms of them once {} are in, after a tenth as \
many untimed ones; before them, A sends a message every 50 ms or less until one comes back \
(the sides have found each other: until each side's Zenoh has learnt of the other's \
subscriptions, what is put reaches nobody), and echoes of those are skipped. **Throughput**: B sends as fast as it can, A receives, for \
{} ms untimed after the first message, then counts for {} ms. Nobody drops anything: \
Zenoh's publisher waits for room (`CongestionControl::Block`), and so does a TCP writer; \
a bridge never holds up its local publisher, so B's publisher keeps at most {} MiB ({} \
messages) ahead of what its bridge has put to Zenoh, reading the bridge's counters \
(`Bridge::stats`), and the note below says whether the bridge dropped anything anyway.\n\n\
The last column sets the bridged rows against Zenoh's of the same run: latency as a ratio \
(the bridges' own cost), throughput as a share. Ratios to the floor are to the TCP row.\n",
        if pinned {
            " and pinned to its core (A to CPU 0, B to CPU 1, with all their threads: each \
side has one core)"
        } else {
            ", not pinned"
        },
        bridge::TOPIC_CAPACITY >> 20,
        harness::iterations(1 << 20),
        harness::iterations(64),
        bridge::LATENCY_BUDGET.as_millis(),
        harness::MIN_ONE_WAY,
        bridge::RATE_WARM_UP.as_millis(),
        bridge::RATE_WINDOW.as_millis(),
        bridge::PACING_BYTES >> 20,
        bridge::PACING_MESSAGES,
    )
}

/// What section 7 measures, and which of its rows run more processes than cores.
fn parties_intro() -> String {
    let cores = harness::cores();
    let shared: Vec<String> = MANY_TO_ONE
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| harness::oversubscribed(n + 1))
        .map(|n| n.to_string())
        .collect();
    let mut text = format!(
        "**Several senders to one receiver**: 2, 4 or 8 sender processes send {size} B \
messages as fast as they can to one receiver (the measuring process), which copies each \
message out into a buffer of its own; the rows are the messages it receives per second, \
counted over {} ms after {} ms of untimed receiving (the clock is read every 64 messages). \
Nobody drops messages: a sender waits when its receiver's buffer is full. filemap: an inbox \
(`InboxSender::send`, `Inbox::recv_into`) with one 64 KiB ring per sender, senders and \
receiver both busy-polling or both blocking (spin, then sleep). iceoryx2: publish-subscribe \
with one publisher per sender process and one subscriber, {} samples per publisher in the \
subscriber's buffer, `RetryUntilDelivered` (a publisher with a full buffer yields, then \
sleeps), the subscriber polling. Unix datagram socket: each sender `send`s on its own socket \
connected to the receiver's bound socket, which `recv`s (the kernel blocks a sender while \
the receiver's queue is full). Every sender stops when the receiver raises a flag in shared \
memory, which it reads before each message.\n\n\
**Request and response**: one client (the measuring process) and one server process, which \
copies each request out and sends it back as the response; the round trip of a {size} B \
request until the client has copied the response out, up to {} timed round trips per row \
(stopping after {} ms once {} are in: only the socket's row, which sleeps and wakes up in the \
kernel every time, takes that long) after a tenth as many untimed ones. filemap: a service (`Client::send_request`, `recv_response`, \
`read_at`; the server `recv_request`, `read_at`, `respond`), which has one wait mode, the \
channel's default (spin briefly, then sleep). iceoryx2: request-response with slices loaned \
on both sides, client and server polling (iceoryx2 has no blocking receive). Unix socket: a \
stream socket (`write_all`, `read_exact`; the server is section 1's echo). The channel rows under them are \
section 1's one-way latency (half a ping-pong's round trip) at {size} B, measured again here \
for the ratio below the table: the blocking ones together with the service's row, against \
one partner process that serves both, in alternating blocks of {} round trips of each ({} \
timed of each), so that both are measured at the same moments, once as section 1 measures \
it and once with the measuring side copying each echo out, as the client copies each \
response out (the two alternate within the channel's blocks); the busy-polling one right \
after, as section 1 measures it. No floor rows.\n\n\
The receiver and the client run on CPU 0; sender k and the server pin themselves to CPU \
1 + k mod (cores − 1), so on a machine with two cores every sender shares CPU 1.\n",
        harness::RATE_WINDOW.as_millis(),
        harness::RATE_WARM_UP.as_millis(),
        parties::ICEORYX2_BUFFER,
        harness::iterations(MANY_PARTIES_MESSAGE),
        harness::ROUND_TRIP_BUDGET.as_millis(),
        harness::MIN_ONE_WAY,
        harness::interleaved::BLOCK,
        harness::iterations(MANY_PARTIES_MESSAGE),
        size = MANY_PARTIES_MESSAGE,
    );
    if !shared.is_empty() {
        text.push_str(&format!(
            "\n**This machine has {cores} cores, so the rows with {} senders run more \
processes than cores** (the column before the note): the senders take turns on one core, \
so those rows measure how many messages one core's worth of senders, switched by the \
scheduler, gets to one receiver (more senders add switches, not cores). Where a sender \
busy-polls (filemap busy-poll) a sender that waits for room spins out its time slice while \
the senders behind it on the core could send: those rows measure the scheduler and are no \
loss or win of filemap's. The other systems' senders sleep or yield when they wait.\n",
            match shared.split_last() {
                Some((last, [])) => last.clone(),
                Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                None => String::new(),
            }
        ));
    }
    text
}

/// The file rows that do the same work (a safe copy of every byte into a buffer) set side
/// by side: filemap's `read_at` against memmap2's `copy_from_slice`, in both scenarios.
fn same_work_note(r: &Results) -> String {
    let p50 = |system: &str| {
        r.rows
            .iter()
            .find(|row| row.section == 5 && row.system == system)
            .map(|row| row.p50)
    };
    let mut pairs = Vec::new();
    for (scenario, ours, theirs) in [
        (SCAN, files::SEQUENTIAL[1].1, files::SEQUENTIAL[3].1),
        (RANDOM, files::RANDOM[0], files::RANDOM[1]),
    ] {
        if let (Some(a), Some(b)) = (p50(ours), p50(theirs)) {
            pairs.push(format!(
                "{scenario}: {}× ({} ms against {} ms)",
                report::number(a / b),
                report::number(a),
                report::number(b)
            ));
        }
    }
    if pairs.is_empty() {
        return String::new();
    }
    format!(
        "The same work side by side, filemap's guarded `read_at` against memmap2's \
`copy_from_slice` (each copying every byte into a buffer, medians of this run): {}.\n\n",
        pairs.join("; ")
    )
}

/// Added to the messages' explanations when other work kept the machine busy.
const BUSY: &str = " In this run the machine was also busy with other work (see the load \
average at the top), which hits busy-polling endpoints hardest: one that shares its core with \
another process spends its time slices spinning, and the scheduler, which charges spinning like \
work, then favours the other process just when the endpoint has something to do. An endpoint \
that sleeps while it waits keeps its turn: filemap's blocking mode (spin briefly, then sleep), \
and iceoryx2's publisher, which yields and then sleeps while the subscriber's buffer is full.";

/// Why filemap loses where it does (printed only for the scenarios where it lost in this run).
fn why(scenario: &str) -> &'static str {
    match scenario {
        LATENCY => {
            "Both systems copy the message once each way (into a reserved slot, into a \
loaned sample), so for large messages the copy decides, and what differs is where it lands. \
iceoryx2 allocates samples from a pool whose free list is a stack (last freed, first reused): \
in a ping-pong every message is written into the same sample, which stays in the caches. \
filemap's channel is a ring: successive messages are written one after another through a ring \
of four times the message size here, so each copy writes memory that was last touched several \
messages ago and is colder in the caches. The ring is what lets filemap's channel carry \
messages of any length up to its capacity, with no per-sample maximum fixed in advance."
        }
        WAKE_UP => {
            "filemap's `NamedEvent` spins briefly before sleeping; when the other process \
answers within the spin the wake-up costs a cache-line transfer, not a system call, and the \
raw futex row (which always sleeps) is then slower; when the spin runs out it pays for the \
kernel's wake-up like the futex row."
        }
        THROUGHPUT => {
            "Both sides copy every byte once (in and out), so the rates are bounded by \
`memcpy`, and the differences come from where the copies land: iceoryx2 reuses its most \
recently freed samples (its pool's free list is a stack) while filemap's channel writes \
through an 8 MiB ring, so its copies touch more memory and miss the caches more often."
        }
        CREATE => {
            "Creating a filemap object does more than `shm_open`, and the table \
\"where the time goes\" in section 3 prices each step: the inode is made nameless \
(`O_TMPFILE`), sized and allocated up front with its header in one write (committed, so a \
later write never dies of SIGBUS when memory is short), locked (`flock`, so its lifetime \
follows its handles across processes and crashes) and only then linked under its name; \
closing checks with `flock` whether it was the last handle and whether the name is still its \
own before removing it, and the last `close` frees the pages allocated up front. The \
allocation (writing and later freeing two pages, the header's and the data's) and the \
nameless creation and linking account for most of the difference; the reference row makes \
the raw calls with the allocation alone (one page, with no header). `shared_memory` and the \
raw calls create a name that stays until someone unlinks it, and allocate nothing."
        }
        OPEN => {
            "Opening a filemap object checks what it opens (no symlink, owner and \
permissions, the header's kind and size) and takes a shared `flock` to hold the object alive; \
closing tries an exclusive lock to learn whether it was the last handle (section 3's table \
\"where the time goes\" prices each step). `shared_memory` and the raw calls only open and \
map."
        }
        UNCONTENDED => {
            "filemap's `NamedMutex` lock is one compare-and-swap on a futex word and its \
unlock one swap, plus a few loads and stores on a thread-local list of held mutexes, so that \
relocking from the owning thread is `Error::WouldDeadlock` on both platforms (Windows mutexes \
are recursive). `SharedMutex` adds a copy of the value out of the shared memory when it locks \
and back when it unlocks, through the copy routine that turns a truncated entry's fault into an \
error, so that safe code never holds a reference into memory another process may write. \
`raw_sync`'s mutex is a plain process-shared pthread mutex, not robust (a holder that dies \
leaves it locked forever)."
        }
        HANDOFF => {
            "A hand-off costs the cache-line transfers of the lock word and the \
counter, and a futex wake when the waiter slept; filemap's waiters spin briefly before they \
sleep, and a waiter that slept keeps the waiters bit set for the next unlock."
        }
        SCAN => {
            "The safe `read_at` path copies every byte through filemap's copy routine \
(sound even if another process writes the file meanwhile); the zero-copy path reads the mapping in \
place like `memmap2`, but one 64 MiB window at a time, mapping and unmapping each (resident \
memory stays bounded by the window)."
        }
        RANDOM => {
            "filemap's `read_at` checks the range and copies through its assembly copy \
routine (sound under concurrent writers: SSE moves, `rep movsb` from 4096 bytes) where \
memmap2's `copy_from_slice` is a plain `memcpy` over a `&[u8]` that its caller promised \
nobody writes."
        }
        s if subscribers_of(s).is_some() => {
            "Both systems copy a message in once and each subscriber copies it out once, so \
for 1 MiB messages the copies decide, and what differs is where they land, as in section 1: \
iceoryx2 takes samples from a pool whose free list is a stack, so with one message in flight \
every message is written into the same sample, which stays in the caches, while filemap's \
topic writes successive messages one after another through a ring of four times the message \
size, into memory last touched several messages ago. The ring is what lets one topic carry \
messages of any length up to its capacity, keep history for late joiners and tell a lagging \
subscriber exactly what it missed."
        }
        s if senders_of(s).is_some() => {
            "Every system here copies each message in once and out once; what differs is \
how a sender and the receiver meet. filemap's receiver looks at the senders' rings in turn \
(one ring each, so senders never contend with each other), and a blocking endpoint that \
finds nothing to do sleeps once its brief spin is over and is then woken with a system call. \
With the senders taking turns on one core (see above), how often each of them waits, and \
for how long, is up to the scheduler as much as to the systems."
        }
        ASYNC_PING_PONG => {
            "A default async receive never spins, so in a ping-pong every message it waits \
for is a sleep in the kernel, and its wake-up takes two hops where a socket's takes one: the \
sender's futex wake reaches filemap's waiter thread (asleep in `futex_waitv` for all the \
process's pending futures), which wakes the task's waker, which wakes the runtime's thread \
(tokio's I/O driver, or `block_on`'s parked thread); and registering each receive with the \
waiter thread wakes that thread once more, to sleep over the new set. tokio's `UnixStream` \
is woken by the kernel in its `epoll_wait` directly. On this machine a wake-up in the \
kernel costs tens of microseconds (see section 1's raw futex row), so the hops decide. By \
design nothing spins by default (a thousand idle receivers cost no CPU); the opt-in rows \
(`WaitMode::Spin`, `BusyPoll`) catch the reply while they spin."
        }
        LINK_LATENCY | LINK_THROUGHPUT | LINK_RATE => {
            "The bridges carry each message over Zenoh as the Zenoh rows do, and on top of \
that through a filemap topic on each side and two threads on the sending side. There the \
publisher copies the message into its topic; the export's reader thread, a subscriber of \
the topic (spinning briefly, then asleep), copies it out into a buffer of its own and \
queues it; the export's put thread (looking at the queue for some tens of microseconds, \
then asleep on a condition variable) takes it and puts it to Zenoh, where the Zenoh row's \
sending thread puts its message itself. On the receiving side the import publishes each \
sample into the local topic from Zenoh's callback, on the thread that received it (a copy \
in; the Zenoh row's subscriber gets the sample through its FIFO channel instead), and the \
subscriber, woken, copies it out. So a message through two bridges is copied at least \
twice more (out of the sending side's topic and into the receiving side's: a 1 MiB copy \
costs tens of microseconds) and passes between threads twice more, and a thread asleep \
when a message comes is woken in the kernel (section 1's raw futex row: tens of \
microseconds on this machine). Where the run is pinned, each side has one core, so the \
threads of a side take turns on it: a thread that spins while it waits (the put thread, \
an endpoint's brief spin) takes the core from the thread it waits for."
        }
        ROUND_TRIP => {
            "A service's request and response each travel through a channel ring as \
section 1's messages do, and on top of that carry a request id each way: the client keeps \
the ids it waits for in a set (inserted on sending, looked up and removed on receiving, so \
that it never takes another client's or an abandoned request's response), and the server \
reads a request's id before its payload and writes the response's header and payload into \
its slot separately. The ratio under the table shows what that costs against the channel."
        }
        python::HAND_OFF => {
            "filemap allocates all of an object's memory when it creates it (`fallocate`), so that no view of it can ever meet a SIGBUS when memory runs short; the copy of the array then writes pages that exist, each mapped by a fault. `shared_memory` only sets the segment's size (`ftruncate`), and its pages are allocated by the faults of the copy itself: one pass over the memory instead of two. The receiving side is the same for both (it maps the object and makes no copy)."
        }
        python::ROUND_TRIP => {
            "At 1 MiB both filemap and the polled shared-memory flag copy the message four times per round trip (into shared memory and out of it, each way), and the copies decide; the flag's two polling loops never sleep, filemap's receivers spin briefly and then sleep."
        }
        _ => "",
    }
}

fn markdown(r: &Results, run: &Run, sections: &[usize]) -> String {
    let mut md = String::new();
    md.push_str(
        "# Benchmarks\n\n\
filemap side by side with the crates users would pick instead, and with the hardware's floor, \
all measured in one run on one machine. Absolute times drift on shared machines, so read the \
ratios: every row's median against the floor of its scenario and against the best peer in the \
same run. This file and the chart are generated; do not edit them by hand.\n\n",
    );
    md.push_str(&format!("- Machine: {}.\n", run.machine));
    md.push_str(&format!(
        "- {}\n",
        if run.pinned {
            "Pinned: the measuring process runs on CPU 0, its partner process on CPU 1 (the \
subscriber and sender processes of the publish-subscribe and many-parties rows on the cores \
other than CPU 0, in turn)."
        } else {
            "Not pinned: the machine has one core, or the system refused the affinity."
        }
    ));
    md.push_str(&format!(
        "- Load average (1 minute) before the run {:.2}, after it {:.2} (the benchmark's own \
two processes count for up to 2 of that; its publish-subscribe rows run up to five processes, \
its many-to-one rows up to nine){}\n",
        run.load.0,
        run.load.1,
        if run.busy() {
            ": the machine was busy with other work during the run, which disturbs the \
numbers (the busy-polling rows most, as a polling process that shares its core with another \
one loses whole time slices)."
        } else {
            ": the machine was otherwise idle."
        }
    ));
    md.push_str(&format!(
        "- Command: `cargo run -p filemap-bench --release -- --report` ({} repetitions of every \
row; the whole run took {:.1} minutes). `--json` prints the rows as JSON. Run on {}.\n",
        run.repetitions,
        run.seconds / 60.0,
        today()
    ));
    md.push_str(
        "- Each row: the median over the repetitions (of the p50 where there are \
percentiles), the spread of that number over the repetitions, and two ratios of cost \
(time per operation or per byte: 2× is twice as slow or half the bandwidth): to the scenario's \
floor and to the best peer. **Bold** rows are filemap's; where filemap is slower than the best \
peer, the note column says so.\n\n",
    );
    for &section in sections {
        if !(1..=SECTION_TITLES.len()).contains(&section) {
            continue;
        }
        md.push_str(&format!(
            "## {section}. {}\n\n",
            SECTION_TITLES[section - 1]
        ));
        md.push_str(&section_intro(section, run));
        md.push('\n');
        let extra = match section {
            2 => Some("messages/s"),
            5 => Some("throughput, peak RSS"),
            6 | 7 => Some("processes / cores"),
            8 => Some("against the same run"),
            9 => Some("bridge ÷ Zenoh"),
            _ => None,
        };
        if section == scale::SECTION {
            md.push_str(&scale::table(r));
            md.push('\n');
            md.push_str(&scale::note(r));
            md.push('\n');
            continue;
        }
        md.push_str(&r.table(section, extra));
        md.push('\n');
        if section == 3 {
            md.push_str(&crate::steps::table().unwrap_or_default());
        }
        if section == 5 {
            md.push_str(&same_work_note(r));
        }
        if section == 7 {
            md.push_str(&round_trip_note(r));
        }
        if section == 8 {
            md.push_str(&waits_note(r));
        }
        if section == 9 {
            md.push_str(&link_note(r));
        }
        if section == 10 {
            md.push_str(&python::note(r));
        }
    }
    md.push_str("## Where filemap loses, and why\n\n");
    let losses = r.losses();
    if losses.is_empty() {
        md.push_str(
            "In this run filemap was not slower than the best peer on any row by more than 5%.\n",
        );
    }
    let near = r.near_losses();
    if !near.is_empty() {
        md.push_str(&format!(
            "{} row{} where filemap is slower by less than 5% (within what repeated runs move \
             by here) {} marked \"within 5%\" in the tables and not discussed below.\n\n",
            near.len(),
            if near.len() == 1 { "" } else { "s" },
            if near.len() == 1 { "is" } else { "are" },
        ));
    }
    let busy = run.busy();
    let mut scenarios: Vec<&str> = losses.iter().map(|row| row.scenario).collect();
    scenarios.dedup();
    for scenario in scenarios {
        let rows: Vec<String> = losses
            .iter()
            .filter(|row| row.scenario == scenario)
            .map(|row| {
                format!(
                    "{}{} is {}× the cost of {}",
                    row.system,
                    if row.size > 0 && (row.section <= 2 || row.section >= 6) {
                        format!(" at {}", report::size_text(row.size))
                    } else {
                        String::new()
                    },
                    report::number(row.ratio_to_best_peer.unwrap_or(1.0)),
                    row.best_peer.as_deref().unwrap_or("a peer")
                )
            })
            .collect();
        md.push_str(&format!(
            "- **{scenario}**: filemap is slower: {}. {}{}\n",
            rows.join("; "),
            why(scenario),
            if busy
                && (scenario == LATENCY
                    || scenario == THROUGHPUT
                    || subscribers_of(scenario).is_some()
                    || senders_of(scenario).is_some()
                    || scenario == ROUND_TRIP)
            {
                BUSY
            } else {
                ""
            }
        ));
    }
    md
}
