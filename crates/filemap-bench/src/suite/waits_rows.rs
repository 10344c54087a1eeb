//! Section 8 (async and waiting on many objects): measuring its rows, the ratios and
//! notes added afterwards, and its introduction.

use super::*;

/// Async and waiting on many objects: the channel's 64 B one-way latency in a ping-pong,
/// blocking, async under `block_on` and under tokio's two runtimes, and tokio's
/// `UnixStream` under the same runtimes; the same latency with the receiver asleep,
/// blocking and async; the wake-up of a sleeping waiter, `NamedEvent::wait` on one event
/// and `wait_any` over 1, 8 and 64; and a poll that finds nothing.
pub(super) fn waits_section(r: &mut Results) -> Result<()> {
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
    // Measured together, taking turns (see `event_wake_latencies`).
    let waits: Vec<waits::EventWait> = std::iter::once(None)
        .chain(WAIT_ANY_EVENTS.map(Some))
        .collect();
    let mut latencies = waits::event_wake_latencies(&waits)?.into_iter();
    if let Some(single) = latencies.next() {
        add(SINGLE_WAIT, Kind::Reference, single);
    }
    for (n, latency) in WAIT_ANY_EVENTS.into_iter().zip(latencies) {
        add(&wait_any_row(n), Kind::Filemap, latency);
    }
    for (system, ns) in polls::SYSTEMS.into_iter().zip(polls::empty_polls()?) {
        let kind = match system {
            polls::FLOOR => Kind::Floor,
            polls::ICEORYX2 | polls::SOCKET => Kind::Peer,
            _ => Kind::Filemap,
        };
        r.add(8, EMPTY_POLL, 0, system, kind, NS, Sample::value(ns));
    }
    Ok(())
}

/// Each repetition's tokio async rows against the blocking channel measured with them in
/// alternating blocks: (row, async p50 over blocking p50, blocking p50).
pub(super) static ASYNC_TO_BLOCKING: std::sync::Mutex<Vec<(String, f64, f64)>> =
    std::sync::Mutex::new(Vec::new());

/// A tokio async row against the blocking channel measured with it: the median of the
/// repetitions' ratios and the median of their blocking p50s.
pub(super) fn async_to_blocking(system: &str) -> Option<(f64, f64)> {
    let measured = ASYNC_TO_BLOCKING.lock().ok()?;
    let of_row = || measured.iter().filter(|m| m.0 == system);
    let (ratio, _, _) = median_and_range(of_row().map(|m| m.1).collect())?;
    let (blocking, _, _) = median_and_range(of_row().map(|m| m.2).collect())?;
    Some((ratio, blocking))
}

/// The p50 of a section 8 row.
pub(super) fn waits_p50(r: &Results, scenario: &str, system: &str) -> Option<f64> {
    r.rows
        .iter()
        .find(|row| row.section == 8 && row.scenario == scenario && row.system == system)
        .map(|row| row.p50)
}

/// Section 8's rows under a tokio runtime are set against tokio's `UnixStream` under the
/// same runtime, not the faster of the two (a row with no runtime, `block_on`'s, against
/// the faster). Before the ratios are made.
pub(super) fn pair_by_runtime(r: &mut Results) {
    for row in r.rows.iter_mut().filter(|row| row.section == 8) {
        row.peer_key = [Runtime::CurrentThread, Runtime::MultiThread]
            .into_iter()
            .map(Runtime::name)
            .find(|name| row.system.ends_with(name));
    }
}

/// Section 8's last column: each async row against the blocking channel (and, under
/// tokio, tokio's `UnixStream` under the same runtime against it), each `wait_any` row
/// against the single wait, all p50 over p50 of this run's medians.
pub(super) fn finish_waits_rows(r: &mut Results) {
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
        // The tokio ping-pong rows against the blocking channel measured with them (in
        // alternating blocks); the others against the blocking row of their scenario.
        let alternated = (row.scenario == ASYNC_PING_PONG)
            .then(|| async_to_blocking(&row.system))
            .flatten();
        let to_blocking = alternated
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
pub(super) fn waits_note(r: &Results) -> String {
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
            "- **{what} under tokio's {} runtime, 64 B ping-pong**: {} ns one way (the table's \
median); against the blocking channel measured in turns with it, the median of the \
repetitions' ratios is {}× (target: at most {}×, which this run {}; the blocking channel's \
median in those turns: {} ns, not a row of the table); tokio's `UnixStream` under the same \
runtime, measured on its own, takes {} ns, {}× the async channel's row (target: at least \
{}×, which this run {}).",
            kind.name(),
            report::number(filemap),
            report::number(to_blocking),
            ASYNC_TARGET,
            verdict(to_blocking <= ASYNC_TARGET),
            report::number(blocking),
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
/// What section 8 measures.
pub(super) fn waits_intro() -> String {
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
first, `wait_any` never spins). The four waits take turns, one wake-up each (before each, \
the measuring process tells the waiter which is next), so that all are measured at the \
same moments of a machine whose wake-ups drift. Timed one way like the receiver-asleep rows, \
from before `set` until the waiter's wait has returned, and the same number of wake-ups \
each.\n\n\
**A poll that finds nothing**: a non-blocking look with nothing to take, as an event loop \
that polls many sources pays it on every pass, in one process: filemap's channel \
`try_recv`, a topic subscriber's `try_recv` and an auto-reset `NamedEvent`'s `try_wait`, \
beside iceoryx2's subscriber `receive` (its only receive: it polls), a Unix socket's `recv` \
with `MSG_DONTWAIT`, and the floor, one acquire load of a word in shared memory (the least \
any look at another process's progress does); the mean of {} looks each, the six taking \
turns in blocks of a twentieth.\n\n\
The last column sets each row against the same run's: the ping-pong rows under tokio against \
a blocking ping-pong measured with each of them, in alternating blocks of up to 500 round trips \
(both processes switch between `send_async`/`recv_async` in the row's mode and `send`/`recv` \
in the default mode, from the same tasks: on a shared machine whose two cores are at times \
hyperthreads of one physical core and at times not, a ping-pong can change several times \
over from one second to the next), the median of the repetitions' ratios; the other async \
rows (`block_on`, and the receiver-asleep rows) against the blocking channel's row of their \
scenario, measured on its own (a ratio of medians taken at different moments; the blocking \
ping-pong row's partner is section 1's, which forwards each message from one ring to the \
other in one copy, where the async partners copy it out and send it back); tokio's `UnixStream` (measured on its own, not in turns \
with the async rows) against the async channel under the same \
runtime; the `wait_any` rows against the single wait. No floor rows but the poll's (section \
1's cache-line and futex ping-pongs are this machine's bounds).\n",
        if workers == 1 { "" } else { "s" },
        harness::iterations(harness::ASYNC_MESSAGE),
        harness::ASLEEP_GAP.as_millis(),
        harness::ONE_WAY_BUDGET.as_millis(),
        harness::MIN_ONE_WAY,
        harness::ASLEEP_GAP.as_millis(),
        polls::looks(),
        size = harness::ASYNC_MESSAGE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row with one repetition's p50.
    fn add(r: &mut Results, scenario: &'static str, system: &str, p50: f64) {
        r.add(
            8,
            scenario,
            64,
            system,
            Kind::Filemap,
            NS,
            Sample::value(p50),
        );
    }

    #[test]
    fn each_async_row_is_set_against_the_blocking_row_of_its_own_scenario() {
        let tokio_row = tokio_async_row(Runtime::CurrentThread);
        let mut r = Results::default();
        add(&mut r, ASYNC_PING_PONG, BLOCKING_CHANNEL, 200.0);
        add(&mut r, ASYNC_PING_PONG, &tokio_row, 50_000.0);
        add(&mut r, ASYNC_ASLEEP, BLOCKING_CHANNEL, 70_000.0);
        add(&mut r, ASYNC_ASLEEP, &tokio_row, 77_000.0);
        // The ping-pong's alternating blocks measured 240× (not the medians' 250×).
        ASYNC_TO_BLOCKING
            .lock()
            .unwrap()
            .push((tokio_row.clone(), 240.0, 210.0));
        r.finish();
        finish_waits_rows(&mut r);
        let extra = |scenario: &str| {
            let row = r
                .rows
                .iter()
                .find(|row| row.scenario == scenario && row.system == tokio_row);
            row.map(|row| row.extra.clone()).unwrap_or_default()
        };
        assert!(
            extra(ASYNC_PING_PONG).starts_with("240× blocking"),
            "{}",
            extra(ASYNC_PING_PONG)
        );
        assert!(
            extra(ASYNC_ASLEEP).starts_with("1.10× blocking"),
            "{}",
            extra(ASYNC_ASLEEP)
        );
    }
}
