//! Sections 6 (publish-subscribe) and 7 (many parties): measuring their rows, the ratios
//! and notes added afterwards, and their introductions.

use super::*;

/// Publish-subscribe: filemap's topic (busy-poll and blocking) and iceoryx2 from one
/// publisher to 1, 2 and 4 subscriber processes, at 64 B and 1 MiB.
pub(super) fn pubsub_section(r: &mut Results) -> Result<()> {
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
pub(super) fn finish_pubsub_rows(r: &mut Results) {
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
pub(super) fn json_with_subscribers(mut rows: serde_json::Value) -> serde_json::Value {
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
pub(super) fn parties_section(r: &mut Results) -> Result<()> {
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

/// Each repetition's service round trip over the channel's one-way latency (blocking),
/// measured together with it in alternating blocks (p50 over p50): with the echo copied out
/// (as the client copies each response out), and as section 1 measures it.
pub(super) static ROUND_TRIP_RATIOS: std::sync::Mutex<Vec<(f64, f64)>> =
    std::sync::Mutex::new(Vec::new());

/// The channel row of the ratio: its measuring side copies each echo out.
pub(super) const CHANNEL_COPIED_OUT: &str = "filemap channel blocking, echo copied out";
/// The channel row measured as section 1 measures it.
pub(super) const CHANNEL_BLOCKING: &str = "filemap channel blocking";

/// filemap's service row (its one wait mode).
pub(super) const SERVICE: &str = "filemap (spin, then sleep)";

/// The processes of a section 7 row: the senders and the receiver, or two.
pub(super) fn parties_processes(scenario: &str) -> usize {
    senders_of(scenario).map_or(2, |n| n + 1)
}

/// The many-parties rows' processes per core; the busy-polling many-to-one rows with more
/// processes than cores measure the scheduler.
pub(super) fn finish_parties_rows(r: &mut Results) {
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
pub(super) fn round_trip_note(r: &Results) -> String {
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
64 B, both in the channel's default wait mode (spin, then sleep): the server copies each \
request out into a buffer and that into its response (a server has no call that answers \
from the request's slot in one copy), and the client copies each response out; the \
channel's partner forwards each message into its echo in one copy (`Sender::forward`) and \
the measuring side copies each echo out, so the service's round trip copies once more. That is the median of the {} repetitions' ratios, each of the \
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

/// What section 6 measures, and which of its rows measure the scheduler on this machine.
pub(super) fn pubsub_intro() -> String {
    let cores = harness::cores();
    let shared = oversubscribed_counts(&PUBSUB);
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
service): that return path was not timed, but it ran on the same cores as the next \
message, which it could slow. The three \
systems of a scenario run together: each subscriber process serves all three, and they take \
turns in blocks of up to 500 messages or 25 ms, so that all are measured at the same moments \
of a machine whose speed drifts. Up to {} (1 MiB) to {} (64 B) messages per row after a \
tenth as many untimed ones, stopping after {} ms of the three rows' timed messages once {} \
are in. filemap's topic (a ring of four times the message \
size, at least 64 KiB) is made with `SlowSubscribers::Block` (the publisher never has to \
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

/// What section 7 measures, and which of its rows run more processes than cores.
pub(super) fn parties_intro() -> String {
    let cores = harness::cores();
    let shared = oversubscribed_counts(&MANY_TO_ONE);
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

/// The party counts of `scenarios` (subscribers or senders, each with the measuring
/// process) that run more processes than this machine has cores.
fn oversubscribed_counts(scenarios: &[(usize, &str)]) -> Vec<String> {
    scenarios
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| harness::oversubscribed(n + 1))
        .map(|n| n.to_string())
        .collect()
}
