//! What each measurement does on the measuring side: filemap's channel, a pipe and a Unix
//! socket (ping-pong latency and one-way throughput), filemap's topics (one-way latency from
//! one publisher to several subscriber processes), filemap's inboxes (messages per second
//! from several sender processes) and services (request-response round trips), and the
//! floors: two processes handing one cache line back and forth, a raw futex ping-pong,
//! `memcpy` on one core, and a raw hand-off of buffers between two processes. The partner's
//! side of each is in [`roles`](crate::roles).

use std::io::{Read, Write};
#[cfg(unix)]
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use filemap::Mapping;
use filemap::channel::{Receiver, Sender, WaitMode};
use filemap::inbox::{Inbox, InboxOptions};
use filemap::topic::{Publisher, TopicOptions};
use filemap::wait::block_on;

use crate::measure::{
    Latency, clock_ns, half_round_trips, message_rate, one_way_rounds, receive_throughput,
    round_trip_counts, round_trips, subscriber_cpu, throughput_messages,
};
use crate::process::{partner, unique};
use crate::{Result, THROUGHPUT_MESSAGE, err};

pub(crate) fn mode_arg(mode: WaitMode) -> &'static str {
    if mode == WaitMode::BusyPoll {
        "busy-poll"
    } else {
        "blocking"
    }
}

pub(crate) fn parse_mode(s: &str) -> WaitMode {
    if s == "busy-poll" {
        WaitMode::BusyPoll
    } else {
        WaitMode::Blocking
    }
}

/// filemap channel ping-pong: messages of `size` bytes there and back, each copied into a
/// reserved slot (the partner copies each received message into its reply).
pub fn filemap_latency(size: usize, mode: WaitMode) -> Result<Latency> {
    let (there, back) = (unique("there"), unique("back"));
    let capacity = (size as u64 * 4).max(1 << 16);
    let mut tx = Sender::create_or_open(there.as_str(), capacity)?;
    let mut rx = Receiver::create_or_open(back.as_str(), capacity)?;
    tx.set_wait_mode(mode);
    rx.set_wait_mode(mode);
    let mut child = partner(&["channel-echo", &there, &back, mode_arg(mode)])?;
    let message = vec![7u8; size];
    let r = round_trips(size, || {
        let mut slot = tx.reserve(size)?;
        slot.copy_from_slice(&message)?;
        slot.commit();
        let reply = rx.recv()?;
        if reply.len() != size {
            return Err(err("the echo returned a message of another size"));
        }
        Ok(())
    });
    drop(tx); // the partner sees Disconnected and exits
    drop(rx);
    child.wait()?;
    r
}

/// The message size of the async rows.
pub const ASYNC_MESSAGE: usize = 64;

/// filemap channel ping-pong as [`filemap_latency`] (blocking mode), both ends async: each
/// side sends with `send_async` and receives with `recv_async`, driven by
/// [`filemap::wait::block_on`] (no runtime: a pending receive parks the thread, and
/// filemap's waiter thread, which sleeps in the kernel for every pending future of the
/// process, unparks it). The measuring loop runs inside one `block_on`; the partner copies
/// each message out into a buffer (`append_to`) and sends that back.
pub fn filemap_async_latency(size: usize) -> Result<Latency> {
    let (there, back) = (unique("async-there"), unique("async-back"));
    let capacity = (size as u64 * 4).max(1 << 16);
    let mut tx = Sender::create_or_open(there.as_str(), capacity)?;
    let mut rx = Receiver::create_or_open(back.as_str(), capacity)?;
    let child = partner(&["channel-echo-async", &there, &back])?;
    let message = vec![7u8; size];
    let r = block_on(async {
        let (untimed, timed) = round_trip_counts(size);
        let mut samples = Vec::with_capacity(timed);
        for trip in 0..untimed + timed {
            let start = Instant::now();
            tx.send_async(&message).await?;
            if rx.recv_async().await?.len() != size {
                return Err(err("the echo returned a message of another size"));
            }
            if trip >= untimed {
                samples.push(start.elapsed());
            }
        }
        Ok(half_round_trips(samples))
    });
    drop(tx); // the partner sees Disconnected and exits
    drop(rx);
    finish_partner(child, r)
}

/// How far apart the messages of the receiver-asleep rows go: long enough that a
/// blocking receiver has spun out its brief spin and sleeps in the kernel when the message
/// comes (an async receiver does not spin by default).
pub const ASLEEP_GAP: Duration = Duration::from_millis(1);

/// filemap channel, one way to a receiver that is asleep: a message of `size` bytes (8 at
/// least: it carries its round) every [`ASLEEP_GAP`], so that the partner's receive sleeps
/// in the kernel when it comes. Timed one way on [`clock_ns`], as [`topic_latency`]: from
/// the measuring process's reading before it sends to the partner's reading once its
/// receive has copied the message out; the partner sends that time back over a second
/// channel, and the next message goes after the gap, up to [`ONE_WAY_BUDGET`] of them
/// (see [`one_way_rounds`]). `async_ends`: both processes send with `send_async` and
/// receive with `recv_async` under [`block_on`]; else `send` and `recv_into` (blocking
/// mode: spin briefly, then sleep).
///
/// [`ONE_WAY_BUDGET`]: crate::ONE_WAY_BUDGET
pub fn filemap_asleep_latency(size: usize, async_ends: bool) -> Result<Latency> {
    if size < 8 {
        return Err(err(
            "receiver-asleep rows carry their round number: 8 bytes at least",
        ));
    }
    let ends = if async_ends { "async" } else { "blocking" };
    let (there, back) = (
        unique(&format!("asleep-{ends}")),
        unique(&format!("asleep-{ends}-ack")),
    );
    let mut tx = Sender::create_or_open(there.as_str(), (size as u64 * 4).max(1 << 16))?;
    let mut rx = Receiver::create_or_open(back.as_str(), 1 << 16)?;
    let child = partner(&["channel-stamp", &there, &back, ends])?;
    let mut message = vec![7u8; size];
    let mut ack = Vec::with_capacity(16);
    let mut round = 0u64;
    let r = one_way_rounds(size, || {
        std::thread::sleep(ASLEEP_GAP);
        round += 1;
        message[..8].copy_from_slice(&round.to_le_bytes());
        let start = clock_ns();
        if async_ends {
            block_on(async {
                tx.send_async(&message).await?;
                let slot = rx.recv_async().await?;
                ack.clear();
                slot.append_to(&mut ack)
            })?;
        } else {
            tx.send(&message)?;
            rx.recv_into(&mut ack)?;
        }
        let (acked, at) = parse_ack(&ack)?;
        if acked != round {
            return Err(err("the partner acknowledged another message"));
        }
        Ok(at.saturating_sub(start))
    });
    drop(tx); // the partner sees Disconnected and exits
    drop(rx);
    finish_partner(child, r)
}

/// Waits for the partner; `r`, or an error if it failed.
fn finish_partner<T>(mut child: Child, r: Result<T>) -> Result<T> {
    let status = child.wait()?;
    if r.is_ok() && !status.success() {
        return Err(err(format!("the partner process failed ({status})")));
    }
    r
}

/// Subscriber counts of the publish-subscribe rows.
pub const SUBSCRIBERS: [usize; 3] = [1, 2, 4];
/// Message sizes of the publish-subscribe rows.
pub const PUBSUB_SIZES: [usize; 2] = [64, 1 << 20];

/// The acknowledgement a subscriber process sends back for each message: the message's
/// round (its first 8 bytes) and the [`clock_ns`] time at which the subscriber had copied
/// it out. The round `u64::MAX` says the subscriber has joined.
pub fn ack_bytes(round: u64, at_ns: u64) -> [u8; 16] {
    let mut ack = [0u8; 16];
    ack[..8].copy_from_slice(&round.to_le_bytes());
    ack[8..].copy_from_slice(&at_ns.to_le_bytes());
    ack
}

/// The round and time of an acknowledgement made by [`ack_bytes`].
pub fn parse_ack(ack: &[u8]) -> Result<(u64, u64)> {
    match (ack.get(..8), ack.get(8..16)) {
        (Some(round), Some(at)) if ack.len() == 16 => Ok((
            u64::from_le_bytes(round.try_into().expect("8 bytes")),
            u64::from_le_bytes(at.try_into().expect("8 bytes")),
        )),
        _ => Err(err("an acknowledgement of another size")),
    }
}

/// The round a message carries in its first 8 bytes.
pub fn message_round(message: &[u8]) -> Result<u64> {
    message
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .ok_or_else(|| err("a message shorter than its round number"))
}

/// The CPU argument of subscriber `k`'s role (`-`: do not pin).
pub fn subscriber_cpu_arg(k: usize) -> String {
    subscriber_cpu(k).map_or("-".into(), |c| c.to_string())
}

/// filemap topic, one publisher (this process) to `subscribers` subscriber processes: the
/// one-way latency of a message of `size` bytes (at least 8) until the last subscriber has
/// copied it out. The publisher reads [`clock_ns`], reserves a slot, copies the message in
/// and commits it; each subscriber receives it into its own buffer (`recv_into`), reads the
/// clock, and sends that time back over a filemap channel of its own. The latency is the
/// latest of those times minus the publisher's; the next message goes once every
/// subscriber has acknowledged this one. Subscriber `k` pins itself to
/// [`subscriber_cpu`]`(k)`; the topic, its subscribers and the channels back all wait in
/// `mode`.
pub fn topic_latency(size: usize, subscribers: usize, mode: WaitMode) -> Result<Latency> {
    if size < 8 {
        return Err(err("topic rows carry their round number: 8 bytes at least"));
    }
    let topic = unique(&format!("topic-{size}-{subscribers}"));
    let options = TopicOptions::new()
        .capacity((size as u64 * 4).max(1 << 16))
        .max_subscribers(subscribers as u32);
    let mut publisher = Publisher::create_or_open(topic.as_str(), &options)?;
    publisher.set_wait_mode(mode);
    let mut acks = Vec::with_capacity(subscribers);
    let mut children = Vec::with_capacity(subscribers);
    for k in 0..subscribers {
        let back = format!("{topic}-ack{k}");
        let mut rx = Receiver::create_or_open(back.as_str(), 1 << 16)?;
        rx.set_wait_mode(mode);
        acks.push(rx);
        children.push(partner(&[
            "topic-subscriber",
            &topic,
            &back,
            mode_arg(mode),
            &subscriber_cpu_arg(k),
        ])?);
    }
    let mut ack = Vec::with_capacity(16);
    // Every subscriber has joined (and receives every message from now on).
    for rx in &mut acks {
        rx.recv_into(&mut ack)?;
        if parse_ack(&ack)?.0 != u64::MAX {
            return Err(err("a subscriber acknowledged a message before joining"));
        }
    }
    let mut message = vec![7u8; size];
    let mut round = 0u64;
    let r = one_way_rounds(size, || {
        round += 1;
        message[..8].copy_from_slice(&round.to_le_bytes());
        let start = clock_ns();
        let mut slot = publisher.reserve(size)?;
        slot.copy_from_slice(&message)?;
        slot.commit();
        Ok(last_acknowledged(&mut acks, &mut ack, round, start)? - start)
    });
    drop(publisher); // the subscribers see Disconnected and exit
    drop(acks);
    for mut child in children {
        let status = child.wait()?;
        if r.is_ok() && !status.success() {
            return Err(err(format!("a subscriber process failed ({status})")));
        }
    }
    r
}

/// Receives one acknowledgement of message `round` from each of `acks` (into `ack`): the
/// latest time they carry, or `since` if that is later; an error if one acknowledges
/// another message.
fn last_acknowledged(
    acks: &mut [Receiver],
    ack: &mut Vec<u8>,
    round: u64,
    since: u64,
) -> Result<u64> {
    let mut last = since;
    for rx in acks {
        rx.recv_into(ack)?;
        let (acked, at) = parse_ack(ack)?;
        if acked != round {
            return Err(err("a subscriber acknowledged another message"));
        }
        last = last.max(at);
    }
    Ok(last)
}

/// Sender counts of the many-to-one rows.
pub const SENDERS: [usize; 3] = [2, 4, 8];
/// The message size of the many-to-one and request-response rows.
pub const MANY_PARTIES_MESSAGE: usize = 64;

/// A flag in shared memory with which the measuring process tells its sender processes to
/// stop (a filemap mapping: the peers' senders read it too).
pub struct StopFlag {
    name: String,
    view: filemap::View,
}

impl StopFlag {
    /// Makes the flag `name`, lowered.
    pub fn create(name: &str) -> Result<StopFlag> {
        let m = Mapping::create_new(name, 4096)?;
        Ok(StopFlag {
            name: name.to_string(),
            view: m.view().map()?,
        })
    }

    /// Opens the flag `name` (a sender process).
    pub fn open(name: &str) -> Result<StopFlag> {
        let m = Mapping::open(name)?;
        Ok(StopFlag {
            name: name.to_string(),
            view: m.view().map()?,
        })
    }

    /// The flag's name, for the sender processes.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tells the senders to stop.
    pub fn raise(&self) -> Result<()> {
        self.view.store_u32(0, 1, Ordering::Release)?;
        Ok(())
    }

    /// Whether the senders are to stop.
    pub fn raised(&self) -> bool {
        self.view
            .load_u32(0, Ordering::Relaxed)
            .map_or(true, |w| w != 0)
    }
}

/// The end of a many-to-one row: raises `stop`, then keeps receiving with `try_recv_one`
/// (which must not wait) until every sender process has exited, so that none stays blocked
/// on a full buffer; an error if one failed or they take more than 30 s.
pub fn stop_senders(
    stop: &StopFlag,
    children: Vec<Child>,
    mut try_recv_one: impl FnMut() -> Result<()>,
) -> Result<()> {
    stop.raise()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failed = None;
    for mut child in children {
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break child.wait()?;
            }
            try_recv_one()?;
        };
        if !status.success() {
            failed = Some(status);
        }
    }
    match failed {
        Some(status) => Err(err(format!("a sender process failed ({status})"))),
        None => Ok(()),
    }
}

/// filemap inbox, `senders` sender processes to one receiver (this process): messages of
/// [`MANY_PARTIES_MESSAGE`] bytes per second, counted by [`message_rate`]. Each sender
/// sends (`send`: reserve, copy in, commit) as fast as it can; the receiver copies each
/// message out (`recv_into`). Sender `k` pins itself to [`subscriber_cpu`]`(k)`; the inbox
/// (its default ring of 64 KiB per sender) and the senders wait in `mode`.
pub fn inbox_throughput(senders: usize, mode: WaitMode) -> Result<f64> {
    let name = unique(&format!("inbox-{senders}-{}", mode_arg(mode)));
    let options = InboxOptions::new().senders(senders as u32);
    let mut inbox = Inbox::create_or_open(name.as_str(), &options)?;
    inbox.set_wait_mode(mode);
    let stop = StopFlag::create(&format!("{name}-stop"))?;
    let mut children = Vec::with_capacity(senders);
    for k in 0..senders {
        children.push(partner(&[
            "inbox-sender",
            &name,
            stop.name(),
            mode_arg(mode),
            &subscriber_cpu_arg(k),
        ])?);
    }
    // Every sender has its slot.
    let deadline = Instant::now() + Duration::from_secs(30);
    while inbox.senders() < senders {
        if Instant::now() > deadline {
            return Err(err("the inbox's senders did not all connect"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut buf = Vec::with_capacity(MANY_PARTIES_MESSAGE);
    let r = message_rate(|| {
        inbox.recv_into(&mut buf)?;
        delivered_whole(buf.len(), MANY_PARTIES_MESSAGE)
    });
    stop_senders(&stop, children, || match inbox.try_recv() {
        Ok(_) | Err(filemap::Error::Disconnected { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    })?;
    r
}

/// Byte-stream ping-pong over `write`/`read` (Unix socket or pipes).
fn stream_latency(size: usize, out: &mut dyn Write, input: &mut dyn Read) -> Result<Latency> {
    let message = vec![7u8; size];
    let mut reply = vec![0u8; size];
    round_trips(size, || {
        out.write_all(&message)?;
        input.read_exact(&mut reply)?;
        Ok(())
    })
}

pub fn pipe_latency(size: usize) -> Result<Latency> {
    let mut child = partner(&["stream-echo", &size.to_string()])?;
    let mut to = child.stdin.take().expect("piped");
    let mut from = child.stdout.take().expect("piped");
    let r = stream_latency(size, &mut to, &mut from);
    drop(to);
    child.wait()?;
    r
}

/// A Unix stream socket to a partner started with `role` (which gets the socket's path
/// first, then `args`).
#[cfg(unix)]
fn unix_socket_partner(
    role: &str,
    args: &[&str],
) -> Result<(std::os::unix::net::UnixStream, Child, PathBuf)> {
    let dir = crate::process::unix_socket_dir();
    crate::process::make_scratch_dir(&dir)?;
    let path = dir.join("s");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path)?;
    let mut all = vec![
        role,
        path.to_str().ok_or_else(|| err("temp dir not UTF-8"))?,
    ];
    all.extend_from_slice(args);
    let child = partner(&all)?;
    let (stream, _) = listener.accept()?;
    Ok((stream, child, dir))
}

#[cfg(unix)]
pub fn unix_socket_latency(size: usize) -> Result<Latency> {
    let (mut stream, mut child, dir) = unix_socket_partner("socket-echo", &[&size.to_string()])?;
    let mut reader = stream.try_clone()?;
    let r = stream_latency(size, &mut stream, &mut reader);
    drop((stream, reader));
    child.wait()?;
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// 1 MiB messages one way over a Unix socket: the partner writes each from its buffer, this
/// process reads each into its own.
#[cfg(unix)]
pub fn unix_socket_throughput() -> Result<f64> {
    let count = throughput_messages();
    let (mut stream, mut child, dir) = unix_socket_partner("socket-source", &[&count.to_string()])?;
    let mut buf = vec![0u8; THROUGHPUT_MESSAGE];
    let r = receive_throughput(count, || Ok(stream.read_exact(&mut buf)?));
    drop(stream);
    child.wait()?;
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// Two processes handing one cache line back and forth by spinning: the floor.
pub fn cache_line_latency() -> Result<Latency> {
    let name = unique("line");
    let m = Mapping::create_new(name.as_str(), 4096)?;
    let v = m.view().map()?;
    // SAFETY: bytes 0..8 are reached only as this word, here and in the partner, and the
    // mapping (this process's own, private to the benchmark) is not cut short.
    let word = unsafe { v.atomic_u64(0)? };
    let mut child = partner(&["line-echo", &name])?;
    let mut value = 0u64;
    let r = round_trips(64, || {
        value += 1; // odd: the partner's turn
        word.store(value, Ordering::Release);
        spin_until(word, value + 1)?;
        value += 1;
        Ok(())
    });
    word.store(u64::MAX, Ordering::Release);
    child.wait()?;
    r
}

/// Raw futex ping-pong: both sides always sleep in FUTEX_WAIT.
#[cfg(target_os = "linux")]
pub fn futex_latency() -> Result<Latency> {
    let name = unique("futex");
    let m = Mapping::create_new(name.as_str(), 4096)?;
    let v = m.view().map()?;
    // SAFETY: each word is reached only as itself, here and in the partner, and the
    // mapping (private to the benchmark) is not cut short.
    let (ping, pong) = unsafe { (v.atomic_u32(0)?, v.atomic_u32(64)?) };
    let mut child = partner(&["futex-echo", &name])?;
    let mut i = 0u32;
    let r = round_trips(8, || {
        i += 1;
        ping.store(i, Ordering::Release);
        futex_wake(ping);
        futex_wait_for(pong, i)
    });
    ping.store(u32::MAX, Ordering::Release);
    futex_wake(ping);
    child.wait()?;
    r
}

#[cfg(target_os = "linux")]
pub(crate) fn futex_wake(word: &std::sync::atomic::AtomicU32) {
    let _ = rustix::thread::futex::wake(word, rustix::thread::futex::Flags::empty(), 1);
}

/// Sleeps until `word` holds `value` (or `u32::MAX`, the end); an error if that takes more
/// than [`PARTNER_PATIENCE`] (the other process died: neither side may wait for ever). The
/// clock is read only once a sleep has ended without the value.
#[cfg(target_os = "linux")]
pub(crate) fn futex_wait_for(word: &std::sync::atomic::AtomicU32, value: u32) -> Result<()> {
    let slice = rustix::thread::futex::Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    let mut since: Option<Instant> = None;
    let mut slept = false;
    loop {
        let now = word.load(Ordering::Acquire);
        if now == value || now == u32::MAX {
            return Ok(());
        }
        if slept && since.get_or_insert_with(Instant::now).elapsed() >= PARTNER_PATIENCE {
            return Err(err("the other process of the ping-pong stopped answering"));
        }
        let flags = rustix::thread::futex::Flags::empty();
        let _ = rustix::thread::futex::wait(word, flags, now, Some(&slice));
        slept = true;
    }
}

/// How long one process of a ping-pong or hand-off waits for the other before it takes it
/// for dead and gives up.
pub(crate) const PARTNER_PATIENCE: Duration = Duration::from_secs(10);

/// 1 MiB messages one way: the sender copies each in, the receiver copies each out.
pub fn filemap_throughput(mode: WaitMode) -> Result<f64> {
    let name = unique("stream");
    let mut rx = Receiver::create_or_open(name.as_str(), 8 << 20)?;
    rx.set_wait_mode(mode);
    let count = throughput_messages();
    let mut child = partner(&["channel-source", &name, &count.to_string(), mode_arg(mode)])?;
    let mut buf = Vec::with_capacity(THROUGHPUT_MESSAGE);
    let r = receive_throughput(count, || {
        rx.recv_into(&mut buf)?;
        delivered_whole(buf.len(), THROUGHPUT_MESSAGE)
    });
    child.wait()?;
    r
}

/// An error unless a message received is `expected` bytes long (a broken path must not
/// look fast).
fn delivered_whole(len: usize, expected: usize) -> Result<()> {
    if len == expected {
        Ok(())
    } else {
        Err(err(format!("received {len} bytes, not {expected}")))
    }
}

/// Buffers in the raw hand-off: three measured fastest here (two leave one
/// side waiting for the other, more touch more memory).
pub(crate) const HAND_OFF_BUFFERS: u64 = 3;
/// Where the hand-off's buffers start in its mapping (a view offset must be a multiple of the
/// allocation granularity, 64 KiB on Windows); the first page holds one flag per buffer.
const HAND_OFF_DATA: u64 = 64 << 10;

/// Spins until `flag` holds `value`; an error if that takes more than 10 s (the other
/// process died: neither side may spin forever).
pub(crate) fn spin_until(flag: &AtomicU64, value: u64) -> Result<()> {
    let mut spins = 0u32;
    let mut since: Option<Instant> = None;
    while flag.load(Ordering::Acquire) != value {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % 4096 == 0 && since.get_or_insert_with(Instant::now).elapsed() >= PARTNER_PATIENCE
        {
            return Err(err("the other process of the hand-off stopped answering"));
        }
    }
    Ok(())
}

/// The flags page and the buffer views of the hand-off's mapping.
pub(crate) fn hand_off_views(m: &Mapping) -> Result<(filemap::View, Vec<filemap::View>)> {
    let flags = m.view().len(4096).map()?;
    let buffers = (0..HAND_OFF_BUFFERS)
        .map(|b| {
            m.view()
                .offset(HAND_OFF_DATA + b * THROUGHPUT_MESSAGE as u64)
                .len(THROUGHPUT_MESSAGE as u64)
                .map()
        })
        .collect::<filemap::Result<Vec<_>>>()?;
    Ok((flags, buffers))
}

/// What two processes do to move 1 MiB messages with no channel at all (the throughput
/// rows' reference besides `memcpy`). The partner copies each message into one of three
/// buffers in shared memory and raises the buffer's flag; this process waits for the flag, copies the message out
/// and lowers the flag. Every byte crosses from one core to the other, as in a channel.
pub fn hand_off_throughput() -> Result<f64> {
    let name = unique("hand-off");
    let size = HAND_OFF_DATA + HAND_OFF_BUFFERS * THROUGHPUT_MESSAGE as u64;
    let m = Mapping::create_new(name.as_str(), size)?;
    let (flags, buffers) = hand_off_views(&m)?;
    let count = throughput_messages();
    let mut child = partner(&["hand-off-source", &name, &count.to_string()])?;
    let mut out = vec![0u8; THROUGHPUT_MESSAGE];
    let mut seq = 0u64;
    let r = receive_throughput(count, || {
        let b = seq % HAND_OFF_BUFFERS;
        // SAFETY: each flag word is reached only as itself, here and in the partner, and
        // the mapping (private to the benchmark) is not cut short.
        let flag = unsafe { flags.atomic_u64(b as usize * 64)? };
        seq += 1;
        spin_until(flag, seq)?;
        // SAFETY: the raised flag (acquire) hands the buffer to this process; the partner
        // does not touch it until the flag is lowered below, after the slice is gone.
        out.copy_from_slice(unsafe { buffers[b as usize].as_slice() });
        flag.store(0, Ordering::Release);
        Ok(())
    });
    child.wait()?;
    r
}

/// The memcpy bandwidth of this machine for 1 MiB copies (one core), in GB/s.
pub fn memcpy_throughput() -> f64 {
    let src = vec![1u8; THROUGHPUT_MESSAGE];
    let mut dst = vec![0u8; THROUGHPUT_MESSAGE];
    let rounds = throughput_messages();
    let start = Instant::now();
    for i in 0..rounds {
        dst.copy_from_slice(&src);
        std::hint::black_box(&mut dst);
        dst[0] = i as u8;
    }
    (rounds * THROUGHPUT_MESSAGE as u64) as f64 / start.elapsed().as_secs_f64() / 1e9
}
