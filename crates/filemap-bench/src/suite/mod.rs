//! The suite: every section in one run, repeated, then JSON rows (`--json`) and the report
//! (`--report`: docs/benchmarks.md and the latency chart beside it). The rows of each
//! section are measured in a module of their own (`basics`: sections 1 to 5, `party_rows`:
//! 6 and 7, `waits_rows`: 8, `link_rows`: 9; 10 and 11 in the crate's `python` and `scale`),
//! the prose they share in `prose`; this module runs them and writes the report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use filemap::channel::WaitMode;
use filemap_harness::{
    self as harness, Latency, MANY_PARTIES_MESSAGE, Namespace, THROUGHPUT_MESSAGE,
};

use crate::bridge::{self, LINK_SIZES, System};
use crate::report::{self, GB_S, Kind, M_MSGS_S, MS, NS, Results, Sample, US};
use crate::waits::{self, Runtime, WAIT_ANY_EVENTS};
use crate::{
    Result, err, files, messages, mutex, parties, polls, progress, pubsub, python, repetitions,
    scale, setup,
};

mod basics;
mod link_rows;
mod party_rows;
mod prose;
mod waits_rows;

use basics::*;
use link_rows::*;
use party_rows::*;
use prose::*;
use waits_rows::*;

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
/// Section 8: a non-blocking look that finds nothing to take.
pub const EMPTY_POLL: &str = "a poll that finds nothing";
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
    /// The 1-minute load average before the run (just after `cargo run` built it, which
    /// weighs on it) and after it (before section 11, whose many processes would).
    load: (f64, f64),
    pinned: bool,
    seconds: f64,
    repetitions: usize,
    file_size: u64,
    /// The most processes the run itself keeps busy at once (9 with the many-to-one rows,
    /// 5 with the publish-subscribe rows, else 2).
    own_processes: usize,
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
    // Read before section 11, whose up to 64 processes at once would weigh on the minute's
    // average read after them.
    let load_after = load_average();
    if has(scale::SECTION) {
        scale::section(&mut results, reps)?;
    }
    drop(iceoryx2_domain);
    drop(namespace);
    // (Which rows measure the scheduler is known before the ratios: such a row is no
    // peer to compare with, and gets no ratio of its own.)
    finish_pubsub_rows(&mut results);
    finish_parties_rows(&mut results);
    pair_by_runtime(&mut results);
    results.finish();
    finish_throughput_rows(&mut results);
    finish_file_rows(&mut results);
    finish_waits_rows(&mut results);
    finish_link_rows(&mut results);
    let run = Run {
        machine,
        load: (load_before, load_after),
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

/// The command that made this report: the settings in the environment, and the sections
/// if not all of them.
fn command_line(sections: &[usize]) -> String {
    let mut line = String::new();
    for var in [
        "FILEMAP_BENCH_QUICK",
        "FILEMAP_BENCH_REPS",
        "FILEMAP_BENCH_FILE_GIB",
    ] {
        if let Ok(value) = std::env::var(var) {
            line.push_str(&format!("{var}={value} "));
        }
    }
    line.push_str("cargo run -p filemap-bench --release -- --report");
    if sections.len() != SECTION_TITLES.len() {
        let list: Vec<String> = sections.iter().map(usize::to_string).collect();
        line.push_str(&format!(" --sections {}", list.join(",")));
    }
    line
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
        "- Load average (1 minute) before the run {:.2} (read just after `cargo run` built the \
benchmark, which weighs on it), after it {:.2} (read before section 11, whose up to 64 \
processes at once would; the benchmark's own two processes count for up to 2 of that; its \
publish-subscribe rows run up to {} processes, its many-to-one rows up to {}){}\n",
        run.load.0,
        run.load.1,
        harness::SUBSCRIBERS.iter().max().map_or(2, |n| n + 1),
        harness::SENDERS.iter().max().map_or(2, |n| n + 1),
        if run.busy() {
            ": the machine was busy during the run (with other work, or, before it, with the \
build), which disturbs the numbers (the busy-polling rows most, as a polling process that \
shares its core with another one loses whole time slices)."
        } else {
            ": the machine was otherwise idle."
        }
    ));
    md.push_str(&format!(
        "- Command: `{}` ({} repetitions of every \
row; the whole run took {:.1} minutes). `--json` prints the rows as JSON. Run on {}.\n",
        command_line(sections),
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
    md.push_str(
        "The explanations after each loss are the design's account of the difference: the \
         run measures the rows, not each part of an explanation (where a row of the report \
         measures a part, a floor or section 1's raw futex row, say, the text names it).\n\n",
    );
    let losses = r.losses();
    if losses.is_empty() {
        md.push_str(
            "In this run filemap was not slower than the best peer on any row but within the \
             noise.\n",
        );
    }
    let near = r.near_losses();
    if !near.is_empty() {
        md.push_str(&format!(
            "{} row{} where filemap is slower by less than 5%, and the repetitions of filemap's \
             row and the peer's overlap (within what repeated runs move by here), {} marked \
             \"within noise\" in the tables and not discussed below; a smaller loss whose \
             repetitions do not overlap is.\n\n",
            near.len(),
            if near.len() == 1 { "" } else { "s" },
            if near.len() == 1 { "is" } else { "are" },
        ));
    }
    let busy = run.busy();
    let mut scenarios: Vec<&str> = losses.iter().map(|row| row.scenario).collect();
    scenarios.dedup();
    let mut link_path_told = false;
    for scenario in scenarios {
        let explanation = if [LINK_LATENCY, LINK_THROUGHPUT, LINK_RATE].contains(&scenario) {
            let told = why_link(scenario, !link_path_told);
            link_path_told = true;
            told
        } else {
            why(scenario).to_string()
        };
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
            explanation,
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
