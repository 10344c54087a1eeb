//! Async and waiting on many objects (section 8): filemap's channel with both ends async
//! under tokio's current-thread and multi-thread runtimes, against tokio's `UnixStream`
//! under the same runtimes; and the wake-up of `wait_any` over 1, 8 and 64 named events
//! against a single `NamedEvent::wait`. The blocking channel and its async rows under
//! `filemap::wait::block_on` (no runtime) are the harness's, those of
//! `filemap bench channel`.

use std::future::Future;
use std::time::{Duration, Instant};

use filemap::channel::{Receiver, Sender, WaitMode};
use filemap::sync::{EventReset, NamedEvent};
use filemap::wait::{Waitable, wait_any};
use filemap_harness::{
    ASLEEP_GAP, Budgeted, Latency, ack_bytes, clock_ns, half_round_trips, message_round, parse_ack,
    partner, round_trip_counts, unique,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Result, arg, err, finish};

/// The tokio runtime both processes of an async row run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    CurrentThread,
    MultiThread,
}

impl Runtime {
    pub const ALL: [Runtime; 2] = [Runtime::CurrentThread, Runtime::MultiThread];

    /// The runtime as a partner's argument, and in the rows' names.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::CurrentThread => "current-thread",
            Runtime::MultiThread => "multi-thread",
        }
    }

    fn parse(s: &str) -> Result<Runtime> {
        Runtime::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| err(format!("no tokio runtime {s:?}")))
    }

    /// A fresh runtime of this kind, with its I/O and time drivers (as an application's
    /// would have; the current-thread runtime then sleeps in `epoll_wait`). The
    /// multi-thread runtime has its default workers: one per core this process may run
    /// on, so one in a process pinned to a core.
    fn build(self) -> Result<tokio::runtime::Runtime> {
        let mut builder = match self {
            Runtime::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Runtime::MultiThread => tokio::runtime::Builder::new_multi_thread(),
        };
        Ok(builder.enable_all().build()?)
    }
}

/// The worker threads of a multi-thread runtime made in this process now.
pub fn multi_thread_workers() -> usize {
    Runtime::MultiThread
        .build()
        .map_or(0, |rt| rt.metrics().num_workers())
}

/// Runs `task` as a spawned task of a fresh runtime of `kind` (so that under the
/// multi-thread runtime it runs on a worker thread, not the thread that waits for it), and
/// returns its output.
fn run_task<T: Send + 'static>(
    kind: Runtime,
    task: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    let rt = kind.build()?;
    let handle = rt.spawn(task);
    rt.block_on(handle).map_err(err)?
}

/// Round trips of one kind (async or blocking) before [`tokio_filemap_latency`] switches
/// to the other (fewer when a row makes fewer in all, as in quick mode).
const BLOCK: usize = 500;

/// The block size for `timed` round trips of each kind.
fn block_for(timed: usize) -> usize {
    (timed / 10).clamp(1, BLOCK)
}

/// Whether round trip `trip` (counted from the first, the `warm_up` ones included) is
/// async, else blocking: each phase (warm-up, then timed) alternates blocks of `block`,
/// blocking first. Both processes follow this schedule, the partner counting the messages
/// it echoes; at the start of a block, both ends switch to its wait mode (`mode` for the
/// async blocks, the default for the blocking ones).
fn enter_trip(
    trip: usize,
    (warm_up, block): (usize, usize),
    mode: WaitMode,
    tx: &mut Sender,
    rx: &mut Receiver,
) -> bool {
    let phase_trip = trip.checked_sub(warm_up).unwrap_or(trip);
    let is_async = (phase_trip / block) % 2 == 1;
    if phase_trip % block == 0 {
        let m = if is_async { mode } else { WaitMode::Blocking };
        tx.set_wait_mode(m);
        rx.set_wait_mode(m);
    }
    is_async
}

/// What [`tokio_filemap_latency`] measured, at the same moments.
pub struct AsyncAndBlocking {
    /// Both ends async (`send_async`, `recv_async`), in the row's wait mode.
    pub async_: Latency,
    /// Both ends blocking (`send`, `recv`, in the default wait mode), called from the same
    /// tasks: the row's reference.
    pub blocking: Latency,
}

/// filemap channel ping-pong with both ends async under tokio's runtime `kind` (each
/// process its own): `send_async` of a `size`-byte message, then `recv_async` of the
/// echo, timed as the harness times its ping-pongs (one-way latency is half a round
/// trip); the partner copies each message out (`append_to`) and sends it back with
/// `send_async`. In alternating blocks of [`BLOCK`] round trips, both ends instead send and
/// receive with the blocking calls in the default wait mode, from the same tasks: the
/// reference is measured at the same moments as the async rows (this machine's cores
/// change speed from one second to the next).
///
/// `mode`: both ends' wait mode in the async blocks: the default (a pending receive sleeps
/// at once), `WaitMode::Spin` (it asks the runtime to poll it again for up to 50 µs, then
/// sleeps) or `WaitMode::BusyPoll` (it never stops asking).
pub fn tokio_filemap_latency(
    kind: Runtime,
    size: usize,
    mode: WaitMode,
) -> Result<AsyncAndBlocking> {
    let there = unique(&format!("tokio-{}-there", kind.name()));
    let back = unique(&format!("tokio-{}-back", kind.name()));
    let capacity = (size as u64 * 4).max(1 << 16);
    let mut tx = Sender::create_or_open(there.as_str(), capacity)?;
    let mut rx = Receiver::create_or_open(back.as_str(), capacity)?;
    let (untimed, timed) = round_trip_counts(size);
    let (warm_up, block) = (2 * untimed, block_for(timed));
    let child = partner(&[
        "tokio-channel-echo",
        &there,
        &back,
        kind.name(),
        mode_name(mode),
        &warm_up.to_string(),
        &block.to_string(),
    ])?;
    // The endpoints go with the task, and the partner sees Disconnected when it ends.
    let r = run_task(kind, async move {
        let message = vec![7u8; size];
        let mut samples = [Vec::with_capacity(timed), Vec::with_capacity(timed)];
        for trip in 0..warm_up + 2 * timed {
            let is_async = enter_trip(trip, (warm_up, block), mode, &mut tx, &mut rx);
            let start = Instant::now();
            let len = if is_async {
                tx.send_async(&message).await?;
                rx.recv_async().await?.len()
            } else {
                tx.send(&message)?;
                rx.recv()?.len()
            };
            if len != size {
                return Err(err("the echo returned a message of another size"));
            }
            if trip >= warm_up {
                samples[usize::from(is_async)].push(start.elapsed());
            }
        }
        let [blocking, async_] = samples;
        Ok(AsyncAndBlocking {
            async_: half_round_trips(async_),
            blocking: half_round_trips(blocking),
        })
    });
    finish(child)?;
    r
}

/// filemap channel, one way to a receiver that is asleep, as the harness's
/// `filemap_asleep_latency` (a message every [`ASLEEP_GAP`], timed from before the send
/// until the receiver has copied it out, on [`clock_ns`]) with both processes async
/// under tokio's runtime `kind`: the measuring task waits out the gap with
/// `tokio::time::sleep` (tokio's timer ticks in milliseconds, so the gap is 1 to 2 ms),
/// then `send_async`s; the partner's task `recv_async`s, reads the clock and
/// `send_async`s the time back.
pub fn tokio_filemap_asleep_latency(kind: Runtime, size: usize) -> Result<Latency> {
    if size < 8 {
        return Err(err(
            "receiver-asleep rows carry their round number: 8 bytes at least",
        ));
    }
    let there = unique(&format!("tokio-asleep-{}", kind.name()));
    let back = unique(&format!("tokio-asleep-{}-ack", kind.name()));
    let mut tx = Sender::create_or_open(there.as_str(), (size as u64 * 4).max(1 << 16))?;
    let mut rx = Receiver::create_or_open(back.as_str(), 1 << 16)?;
    let child = partner(&["tokio-channel-stamp", &there, &back, kind.name()])?;
    let r = run_task(kind, async move {
        let mut plan = Budgeted::one_way(size);
        let mut message = vec![7u8; size];
        let mut ack = Vec::with_capacity(16);
        let mut round = 0u64;
        while plan.more() {
            tokio::time::sleep(ASLEEP_GAP).await;
            round += 1;
            message[..8].copy_from_slice(&round.to_le_bytes());
            let start = clock_ns();
            tx.send_async(&message).await?;
            let slot = rx.recv_async().await?;
            ack.clear();
            slot.append_to(&mut ack)?;
            let (acked, at) = parse_ack(&ack)?;
            if acked != round {
                return Err(err("the partner acknowledged another message"));
            }
            plan.record(Duration::from_nanos(at.saturating_sub(start)));
        }
        Ok(plan.latency())
    });
    finish(child)?;
    r
}

/// tokio `UnixStream` ping-pong, both ends under tokio's runtime `kind`: `write_all` of a
/// `size`-byte message, then `read_exact` of the echo (the partner `read_exact`s each
/// message and `write_all`s it back), timed as [`tokio_filemap_latency`].
pub fn tokio_socket_latency(kind: Runtime, size: usize) -> Result<Latency> {
    let dir = std::env::temp_dir().join(format!("filemap-bench-tokio-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("s");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path)?;
    let child = partner(&[
        "tokio-socket-echo",
        path.to_str().ok_or_else(|| err("temp dir not UTF-8"))?,
        kind.name(),
        &size.to_string(),
    ])?;
    let (stream, _) = listener.accept()?;
    stream.set_nonblocking(true)?;
    // The stream goes with the task, and the partner's read ends when it ends.
    let r = run_task(kind, async move {
        let mut stream = tokio::net::UnixStream::from_std(stream)?;
        let message = vec![7u8; size];
        let mut reply = vec![0u8; size];
        let (untimed, timed) = round_trip_counts(size);
        let mut samples = Vec::with_capacity(timed);
        for trip in 0..untimed + timed {
            let start = Instant::now();
            stream.write_all(&message).await?;
            stream.read_exact(&mut reply).await?;
            if trip >= untimed {
                samples.push(start.elapsed());
            }
        }
        Ok(half_round_trips(samples))
    });
    finish(child)?;
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// Event counts of the `wait_any` rows.
pub const WAIT_ANY_EVENTS: [usize; 3] = [1, 8, 64];

/// How long a waiter waits for an event before it gives up (the measuring process died):
/// the partner exits instead of hanging.
const WAITER_SILENCE: Duration = Duration::from_secs(30);

/// What a waiter in [`event_wake_latencies`] sleeps in: `None`, `NamedEvent::wait` on one
/// event; `Some(n)`, `wait_any` over `n` events, of which the measuring process sets the
/// last.
pub type EventWait = Option<usize>;

/// The message that ends the waiter of [`event_wake_latencies`].
const WAITER_STOP: u8 = u8::MAX;

/// The wake-up of a waiter in another process that sleeps on named events (auto reset), one
/// latency per entry of `waits` (see [`EventWait`]). The waits take turns, one wake-up
/// each (so each is measured at the same moments of a machine whose speed drifts, as a
/// row measured after another is not): before each, the measuring process tells the
/// waiter which wait is next, over a filemap channel; then, [`ASLEEP_GAP`] later (the
/// waiter is asleep in the kernel by then: a single wait spins briefly first, `wait_any`
/// never spins), it sets the event. Timed one way on [`clock_ns`]: from this process's
/// reading before `set` to the waiter's reading as soon as its wait returned, which it
/// sends back. Each wait takes as many wake-ups as a one-way row, in [`ONE_WAY_BUDGET`]
/// (`filemap_harness::ONE_WAY_BUDGET`) per wait.
pub fn event_wake_latencies(waits: &[EventWait]) -> Result<Vec<Latency>> {
    if waits.is_empty() || waits.len() >= usize::from(WAITER_STOP) {
        return Err(err("event waits: from 1 to 254 of them"));
    }
    let name = unique("wake");
    let sets = waits
        .iter()
        .enumerate()
        .map(|(w, wait)| {
            (0..wait.unwrap_or(1))
                .map(|i| NamedEvent::create_new(format!("{name}-{w}-{i}"), EventReset::Auto, false))
                .collect::<filemap::Result<Vec<_>>>()
        })
        .collect::<filemap::Result<Vec<_>>>()?;
    let (ack_name, next_name) = (format!("{name}-ack"), format!("{name}-next"));
    let mut acks = Receiver::create_or_open(ack_name.as_str(), 1 << 16)?;
    let mut next = Sender::create_or_open(next_name.as_str(), 1 << 12)?;
    let kinds: Vec<String> = waits
        .iter()
        .map(|w| w.map_or("single".to_string(), |n| n.to_string()))
        .collect();
    let child = partner(&[
        "event-waiter",
        &name,
        &kinds.join(","),
        &ack_name,
        &next_name,
    ])?;
    let budget = filemap_harness::ONE_WAY_BUDGET * waits.len() as u32;
    let mut plans: Vec<Budgeted> = waits.iter().map(|_| Budgeted::new(8, budget)).collect();
    let mut ack = Vec::with_capacity(16);
    let mut round = 0u64;
    let mut measured = || -> Result<()> {
        while plans.iter().any(Budgeted::more) {
            for (w, plan) in plans.iter_mut().enumerate() {
                if !plan.more() {
                    continue;
                }
                let last = sets[w].last().ok_or_else(|| err("no event to wait for"))?;
                next.send(&[w as u8])?;
                std::thread::sleep(ASLEEP_GAP);
                round += 1;
                let start = clock_ns();
                last.set()?;
                acks.recv_into(&mut ack)?;
                let (acked, at) = parse_ack(&ack)?;
                if acked != round {
                    return Err(err("the waiter acknowledged another wake-up"));
                }
                plan.record(Duration::from_nanos(at.saturating_sub(start)));
            }
        }
        Ok(())
    };
    let r = measured();
    next.send(&[WAITER_STOP])?;
    drop(acks);
    finish(child)?;
    r?;
    Ok(plans.into_iter().map(Budgeted::latency).collect())
}

/// The partner roles of this module.
pub fn partner_role(role: &str, args: &[String]) -> Option<Result<()>> {
    let r = match role {
        "tokio-channel-echo" => tokio_channel_echo(args),
        "tokio-channel-stamp" => tokio_channel_stamp(args),
        "tokio-socket-echo" => tokio_socket_echo(args),
        "event-waiter" => event_waiter(args),
        _ => return None,
    };
    Some(r)
}

/// A wait mode as the partner's argument says it.
fn mode_name(mode: WaitMode) -> &'static str {
    match mode {
        WaitMode::Spin => "spin",
        WaitMode::BusyPoll => "busy",
        _ => "sleep",
    }
}

/// The partner of [`tokio_filemap_latency`]: echoes every message, async or blocking as
/// the schedule says, until the measuring process goes.
fn tokio_channel_echo(args: &[String]) -> Result<()> {
    let mut rx = Receiver::create_or_open(arg(args, 1)?, 1 << 16)?;
    let mut tx = Sender::create_or_open(arg(args, 2)?, 1 << 16)?;
    let mode = match arg(args, 4)? {
        "busy" => WaitMode::BusyPoll,
        "spin" => WaitMode::Spin,
        _ => WaitMode::Blocking,
    };
    let warm_up: usize = arg(args, 5)?.parse().map_err(err)?;
    let block: usize = arg(args, 6)?.parse().map_err(err)?;
    if block == 0 {
        return Err(err("a block of no round trips"));
    }
    run_task(Runtime::parse(arg(args, 3)?)?, async move {
        let mut message = Vec::new();
        for trip in 0usize.. {
            let is_async = enter_trip(trip, (warm_up, block), mode, &mut tx, &mut rx);
            let received = if is_async {
                rx.recv_async().await
            } else {
                rx.recv()
            };
            match received {
                Ok(slot) => {
                    message.clear();
                    slot.append_to(&mut message)?;
                }
                Err(filemap::Error::Disconnected { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            if is_async {
                tx.send_async(&message).await?;
            } else {
                tx.send(&message)?;
            }
        }
        Ok(())
    })
}

/// The partner of [`tokio_filemap_asleep_latency`]: acknowledges each message with the
/// time it had copied it out, until the measuring process goes.
fn tokio_channel_stamp(args: &[String]) -> Result<()> {
    let mut rx = Receiver::create_or_open(arg(args, 1)?, 1 << 16)?;
    let mut tx = Sender::create_or_open(arg(args, 2)?, 1 << 16)?;
    run_task(Runtime::parse(arg(args, 3)?)?, async move {
        let mut message = Vec::new();
        loop {
            match rx.recv_async().await {
                Ok(slot) => {
                    message.clear();
                    slot.append_to(&mut message)?;
                }
                Err(filemap::Error::Disconnected { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            let at = clock_ns();
            tx.send_async(&ack_bytes(message_round(&message)?, at))
                .await?;
        }
    })
}

fn tokio_socket_echo(args: &[String]) -> Result<()> {
    let path = arg(args, 1)?.to_string();
    let size: usize = arg(args, 3)?.parse().map_err(err)?;
    run_task(Runtime::parse(arg(args, 2)?)?, async move {
        let mut stream = tokio::net::UnixStream::connect(path).await?;
        let mut buf = vec![0u8; size];
        while stream.read_exact(&mut buf).await.is_ok() {
            stream.write_all(&buf).await?;
        }
        Ok(())
    })
}

/// The partner of [`event_wake_latencies`]: opens the events of each wait its argument
/// lists ("single" or a count, comma-separated), then, for each wait the measuring process
/// names, waits in it and sends back when it returned.
fn event_waiter(args: &[String]) -> Result<()> {
    let name = arg(args, 1)?;
    let sets = arg(args, 2)?
        .split(',')
        .enumerate()
        .map(|(w, kind)| {
            let (n, any) = match kind {
                "single" => (1, false),
                n => (n.parse().map_err(err)?, true),
            };
            let events = (0..n)
                .map(|i| NamedEvent::open(format!("{name}-{w}-{i}")))
                .collect::<filemap::Result<Vec<_>>>()?;
            Ok((events, any))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut acks = Sender::create_or_open(arg(args, 3)?, 1 << 16)?;
    let mut next = Receiver::open(arg(args, 4)?)?;
    let mut which = [0u8; 1];
    let mut round = 0u64;
    loop {
        next.recv_timeout(WAITER_SILENCE)?.read_at(0, &mut which)?;
        let w = usize::from(which[0]);
        if w == usize::from(WAITER_STOP) {
            return Ok(());
        }
        let (events, any) = sets.get(w).ok_or_else(|| err("no such wait"))?;
        if *any {
            let objects: Vec<&dyn Waitable> = events.iter().map(|e| e as &dyn Waitable).collect();
            let ready = wait_any(&objects, Some(WAITER_SILENCE))?;
            if ready.index != events.len() - 1 {
                return Err(err("wait_any woke for an event that was not set"));
            }
        } else {
            events[0].wait_timeout(WAITER_SILENCE)?;
        }
        let at = clock_ns();
        round += 1;
        acks.send(&ack_bytes(round, at))?;
    }
}
