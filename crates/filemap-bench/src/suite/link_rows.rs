//! Section 9 (across machines, the Zenoh bridge): measuring its rows, the notes added
//! afterwards, and its introduction.

use super::*;

/// Across machines: filemap topics through two bridges, plain Zenoh and a TCP socket over
/// 127.0.0.1 (see [`bridge`]): ping-pong latency at 64 B and 1 MiB, then throughput one
/// way, 1 MiB messages and 64 B ones. The systems are measured one after another for each
/// scenario, the bridged row and Zenoh's back to back; the rows go in by size.
pub(super) fn link_section(r: &mut Results) -> Result<()> {
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
pub(super) fn link_p50(r: &Results, scenario: &str, size: usize, system: &str) -> Option<f64> {
    section_9_row(r, scenario, size, system).map(|row| row.p50)
}

/// A row of section 9.
fn section_9_row<'r>(
    r: &'r Results,
    scenario: &str,
    size: usize,
    system: &str,
) -> Option<&'r report::Row> {
    r.rows.iter().find(|row| {
        row.section == 9
            && row.scenario == scenario
            && row.size == size as u64
            && row.system == system
    })
}

/// The bridged row's samples over Zenoh's of the same scenario and size, repetition by
/// repetition (both measured in each, one after the other).
fn link_ratios(r: &Results, scenario: &str, size: usize) -> Vec<f64> {
    let samples = |system: &str| {
        section_9_row(r, scenario, size, system)
            .map(|row| row.samples.iter().map(|s| s.p50).collect::<Vec<f64>>())
            .unwrap_or_default()
    };
    let (bridged, zenoh) = (samples(BRIDGED), samples(ZENOH));
    bridged.iter().zip(&zenoh).map(|(b, z)| b / z).collect()
}

/// Section 9's last column: the bridged rows against Zenoh's of the same scenario and
/// size, from this run's medians: latency as a ratio, throughput as a share.
pub(super) fn finish_link_rows(r: &mut Results) {
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
pub(super) fn link_note(r: &Results) -> String {
    // Each repetition measures both systems one after the other: the verdict is the
    // repetitions', each ratio of the two rows' samples of one repetition.
    let verdict = |scenario: &str, size: usize, met: &dyn Fn(f64) -> bool| {
        let per_rep = link_ratios(r, scenario, size);
        let n = per_rep.len();
        let k = per_rep.iter().filter(|&&x| met(x)).count();
        let low = per_rep.iter().copied().fold(f64::INFINITY, f64::min);
        let high = per_rep.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let spread = format!(
            "the two measured one after the other in each of {n} repetitions, their ratio \
             from {} to {}",
            report::number(low),
            report::number(high)
        );
        match k {
            _ if n == 0 => "cannot tell (no repetitions)".to_string(),
            0 => format!("misses in every repetition ({spread})"),
            _ if k == n => format!("meets in every repetition ({spread})"),
            _ => format!("meets in {k} of {n} repetitions only ({spread})"),
        }
    };
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
            verdict(LINK_LATENCY, small, &|x| x <= BRIDGE_LATENCY_TARGET),
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
            verdict(LINK_THROUGHPUT, big, &|x| x >= BRIDGE_THROUGHPUT_TARGET),
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
/// What section 9 measures (`pinned`: whether the run pinned its processes).
pub(super) fn link_intro(pinned: bool) -> String {
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
