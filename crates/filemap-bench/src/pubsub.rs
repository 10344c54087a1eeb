//! Publish-subscribe from one publisher to several subscriber processes: filemap's topics
//! (busy-polling and blocking) and iceoryx2 publish-subscribe (ipc service, zero-copy
//! loans), all three measured together ([`topic_rows`]): the one-way latency of a message
//! until the last subscriber has copied it out, on a clock all processes share
//! ([`clock_ns`]), one message at a time, the systems taking turns in blocks so that each
//! is measured at the same moments of a machine whose speed drifts. The subscribers
//! acknowledge messages the same way for every system ([`Acks`]).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use filemap::channel::WaitMode;
use filemap_harness::{
    Budgeted, Latency, ONE_WAY_BUDGET, clock_ns, message_round, partner, pin_to,
    subscriber_cpu_arg, unique,
};
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory as PubSub;

use crate::messages::{Ipc, SILENCE, next_sample, node, publish, publisher};
use crate::{Result, arg, err, finish, read_line, say};

/// The topic: a publish-subscribe service of byte slices for one publisher and
/// `subscribers` subscribers; every process opens it with the same settings. One message
/// is in flight at a time, so the subscribers' buffers (4 samples) never overflow once the
/// measurement runs.
fn topic(node: &Node<Ipc>, name: &str, subscribers: usize) -> Result<PubSub<Ipc, [u8], ()>> {
    node.service_builder(&name.try_into().map_err(err)?)
        .publish_subscribe::<[u8]>()
        .max_publishers(1)
        .max_subscribers(subscribers)
        .history_size(0)
        .subscriber_max_buffer_size(4)
        .enable_safe_overflow(true)
        .open_or_create()
        .map_err(err)
}

/// Where the subscribers acknowledge messages, the same for every system: a page shared
/// by name (`<topic>-acks`) with a cache line per subscriber, holding the round it has
/// copied out last (stored last, with release ordering) and the time it had then.
///
/// The acknowledgement is not timed (a subscriber reads the clock before it acknowledges),
/// but it runs on the same cores as the next message. Each system's own return path (a
/// filemap channel for filemap, an iceoryx2 service for iceoryx2) would weigh differently
/// on the rows; one common path for all three leaves only the topics to compare.
struct Acks {
    view: filemap::View,
    _mapping: filemap::Mapping,
}

/// The bytes of one subscriber's acknowledgement: a cache line of its own.
const ACK_LINE: usize = 64;

/// The round of the message that connects iceoryx2's publisher to its subscribers (it may
/// be published more than once); the timed rounds count from 1.
const CONNECTING: u64 = u64::MAX;

impl Acks {
    fn create(topic: &str, subscribers: usize) -> Result<Acks> {
        let len = (subscribers * ACK_LINE).max(4096) as u64;
        let mapping = filemap::Mapping::create_new(format!("{topic}-acks").as_str(), len)?;
        let view = mapping.view().map()?;
        Ok(Acks {
            view,
            _mapping: mapping,
        })
    }

    fn open(topic: &str) -> Result<Acks> {
        let mapping = filemap::Mapping::open(format!("{topic}-acks").as_str())?;
        let view = mapping.view().map()?;
        Ok(Acks {
            view,
            _mapping: mapping,
        })
    }

    /// Subscriber `k` says it had copied out message `round` at `at_ns`.
    fn post(&self, k: usize, round: u64, at_ns: u64) -> Result<()> {
        self.view
            .store_u64(k * ACK_LINE + 8, at_ns, Ordering::Relaxed)?;
        // Release: whoever sees the round sees the time stored before it.
        self.view
            .store_u64(k * ACK_LINE, round, Ordering::Release)?;
        Ok(())
    }

    /// Waits until each of the first `subscribers` has acknowledged `round`: the latest
    /// time among theirs, and never earlier than `since`. Spins, and lets other processes
    /// run between short spells of spinning (subscribers may outnumber the free cores);
    /// gives up after [`SILENCE`] (a subscriber died).
    fn last(&self, subscribers: usize, round: u64, since: u64) -> Result<u64> {
        let mut last = since;
        for k in 0..subscribers {
            let mut started: Option<Instant> = None;
            // Acquire: pairs with `post`'s release, for the time stored before the round.
            while self.view.load_u64(k * ACK_LINE, Ordering::Acquire)? != round {
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
                std::thread::yield_now();
                if started.get_or_insert_with(Instant::now).elapsed() > SILENCE {
                    return Err(err("a subscriber acknowledged nothing for 30 s"));
                }
            }
            last = last.max(self.view.load_u64(k * ACK_LINE + 8, Ordering::Relaxed)?);
        }
        Ok(last)
    }
}

/// Publishes `message` until it reaches `subscribers` subscribers: the publisher connects
/// to subscribers when it sends, and a busy machine can delay a connection.
fn publish_to_all(
    publisher: &iceoryx2::port::publisher::Publisher<Ipc, [u8], ()>,
    message: &[u8],
    subscribers: usize,
) -> Result<()> {
    let deadline = Instant::now() + SILENCE;
    while publish(publisher, message)? < subscribers {
        if Instant::now() > deadline {
            return Err(err("iceoryx2: not every subscriber connected"));
        }
        std::thread::yield_now();
    }
    Ok(())
}

/// The systems of [`topic_rows`], as the rows name them, in the order of their blocks.
pub const TOPIC_SYSTEMS: [&str; 3] = [
    "filemap busy-poll",
    "filemap blocking",
    "iceoryx2 (busy-poll)",
];

/// The filemap wait mode of each system of [`TOPIC_SYSTEMS`] (iceoryx2's subscribers
/// busy-poll: its publish-subscribe has no blocking receive).
const TOPIC_MODES: [WaitMode; 3] = [WaitMode::BusyPoll, WaitMode::Blocking, WaitMode::BusyPoll];
const ICEORYX2: usize = 2;

/// The most messages of one system before the next takes its turn, and the longest a turn
/// lasts (rows whose busy-polling processes outnumber the cores take milliseconds per
/// message).
const BLOCK: usize = 500;
const BLOCK_TIME: Duration = Duration::from_millis(25);

/// What the measuring process publishes on the system whose turn it is, besides the
/// timed messages (which are at least 8 bytes): an empty message passes the turn to the
/// next system; a 1-byte message ends the run.
const END: &[u8] = &[0];

/// The ports of the measuring process: each system's publisher, and where the
/// subscribers acknowledge.
struct Ports {
    filemap: filemap::topic::Publisher,
    iceoryx2: iceoryx2::port::publisher::Publisher<Ipc, [u8], ()>,
    acks: Acks,
    subscribers: usize,
}

impl Ports {
    /// Sets filemap's publisher to system `s`'s wait mode.
    fn enter(&mut self, s: usize) {
        self.filemap.set_wait_mode(TOPIC_MODES[s]);
    }

    /// Publishes `message` on system `s`.
    fn publish(&mut self, s: usize, message: &[u8]) -> Result<()> {
        if s == ICEORYX2 {
            if publish(&self.iceoryx2, message)? != self.subscribers {
                return Err(err("iceoryx2: a message did not reach every subscriber"));
            }
        } else {
            self.filemap.publish(message)?;
        }
        Ok(())
    }

    /// One message of `message.len()` bytes through system `s`, its round number in its
    /// first 8 bytes: the time from before it was published until the last subscriber had
    /// copied it out, in ns.
    fn round(&mut self, s: usize, message: &mut [u8], round: u64) -> Result<u64> {
        message[..8].copy_from_slice(&round.to_le_bytes());
        let start = clock_ns();
        if s == ICEORYX2 {
            self.publish(s, message)?;
        } else {
            let mut slot = self.filemap.reserve(message.len())?;
            slot.copy_from_slice(message)?;
            slot.commit();
        }
        Ok(self.acks.last(self.subscribers, round, start)? - start)
    }
}

/// One publisher (this process) to `subscribers` subscriber processes, every system of
/// [`TOPIC_SYSTEMS`] at once: the one-way latency of a message of `size` bytes (at least 8)
/// until the last subscriber has copied it out, of each system.
///
/// The publisher reads the clock, writes the message into the topic (filemap: reserve,
/// copy, commit; iceoryx2: loan, copy, send); each subscriber copies the payload into a
/// buffer of its own, reads the clock, and posts that time in [`Acks`]. The next message
/// goes once every subscriber has acknowledged this one. The systems take turns in blocks of up to [`BLOCK`] messages
/// (or [`BLOCK_TIME`]); each takes as many messages as [`Budgeted::new`] plans for a row,
/// with three times [`ONE_WAY_BUDGET`] (the time of all three). Subscriber `k` serves all
/// three systems and pins itself to [`filemap_harness::subscriber_cpu`]`(k)`.
pub fn topic_rows(size: usize, subscribers: usize) -> Result<[Latency; 3]> {
    static ROW: AtomicU32 = AtomicU32::new(0);
    if size < 8 {
        return Err(err("topic rows carry their round number: 8 bytes at least"));
    }
    let name = unique(&format!(
        "topics{}-{subscribers}",
        ROW.fetch_add(1, Ordering::Relaxed)
    ));
    let options = filemap::topic::TopicOptions::new()
        .capacity((size as u64 * 4).max(1 << 16))
        .max_subscribers(subscribers as u32);
    let node = node()?;
    let iceoryx2_topic = topic(&node, &name, subscribers)?;
    let mut ports = Ports {
        filemap: filemap::topic::Publisher::create_or_open(name.as_str(), &options)?,
        iceoryx2: publisher(&iceoryx2_topic, size, false)?,
        acks: Acks::create(&name, subscribers)?,
        subscribers,
    };
    let mut children = Vec::with_capacity(subscribers);
    for k in 0..subscribers {
        children.push(partner(&[
            "topic-rows-subscriber",
            &name,
            &k.to_string(),
            &subscribers.to_string(),
            &subscriber_cpu_arg(k),
        ])?);
    }
    let r = measure_turns(&mut ports, size, subscribers, &mut children);
    drop(ports); // the subscribers of a failed run see Disconnected (filemap's)
    for child in children {
        let finished = finish(child);
        if r.is_ok() {
            finished?;
        }
    }
    r
}

/// [`topic_rows`] once its subscriber processes run.
fn measure_turns(
    ports: &mut Ports,
    size: usize,
    subscribers: usize,
    children: &mut [std::process::Child],
) -> Result<[Latency; 3]> {
    for child in children.iter_mut() {
        read_line(child)?; // it has joined the filemap topic and opened iceoryx2's
    }
    // Every subscriber acknowledges the connecting message of iceoryx2's (its publisher
    // connects to its subscribers when it sends).
    let mut message = vec![7u8; size];
    message[..8].copy_from_slice(&CONNECTING.to_le_bytes());
    publish_to_all(&ports.iceoryx2, &message, subscribers)?;
    ports.acks.last(subscribers, CONNECTING, 0)?;
    let mut plans: [Budgeted; 3] = std::array::from_fn(|_| Budgeted::new(size, ONE_WAY_BUDGET * 3));
    let mut round = 0u64;
    let mut s = 0;
    ports.enter(s);
    loop {
        let started = Instant::now();
        for _ in 0..BLOCK {
            round += 1;
            let ns = ports.round(s, &mut message, round)?;
            // A system whose plan is done keeps taking its turns (the others are measured
            // at the same moments), but records no more than its plan.
            if plans[s].more() {
                plans[s].record(Duration::from_nanos(ns));
            }
            if started.elapsed() > BLOCK_TIME {
                break;
            }
        }
        if s + 1 == plans.len() && !plans.iter().any(Budgeted::more) {
            ports.publish(s, END)?;
            break;
        }
        ports.publish(s, &[])?;
        s = (s + 1) % plans.len();
        ports.enter(s);
    }
    Ok(plans.map(Budgeted::latency))
}

/// The partner roles of this module.
pub fn partner_role(role: &str, args: &[String]) -> Option<Result<()>> {
    match role {
        "topic-rows-subscriber" => Some(topic_rows_subscriber(args)),
        _ => None,
    }
}

/// A subscriber of [`topic_rows`] (arguments: topic, its index `k`, subscribers, CPU): pins
/// itself to its core, joins filemap's topic and iceoryx2's, opens [`Acks`], says so; then,
/// on the system whose turn it is, acknowledges each message with the time it had copied
/// it out, passes to the next system on an empty message, and ends on a 1-byte one.
fn topic_rows_subscriber(args: &[String]) -> Result<()> {
    if let Ok(cpu) = arg(args, 4)?.parse() {
        pin_to(cpu);
    }
    let name = arg(args, 1)?;
    let k: usize = arg(args, 2)?.parse().map_err(err)?;
    let subscribers: usize = arg(args, 3)?.parse().map_err(err)?;
    let mut filemap_subscriber = filemap::topic::Subscriber::open(name)?;
    let node = node()?;
    let iceoryx2_topic = topic(&node, name, subscribers)?;
    let iceoryx2_subscriber = iceoryx2_topic.subscriber_builder().create().map_err(err)?;
    let acks = Acks::open(name)?;
    say("ready")?;
    let mut message = Vec::new();
    let mut s = None; // until iceoryx2's round 0 has come
    loop {
        message.clear();
        match s {
            Some(s) if s != ICEORYX2 => filemap_subscriber.recv_into(&mut message).map(drop)?,
            _ => {
                let sample = next_sample(&iceoryx2_subscriber)?;
                message.extend_from_slice(sample.payload());
            }
        }
        let at = clock_ns();
        match message.len() {
            0 => {
                let next = (s.unwrap_or(0) + 1) % TOPIC_SYSTEMS.len();
                filemap_subscriber.set_wait_mode(TOPIC_MODES[next]);
                s = Some(next);
            }
            1..=7 => return Ok(()),
            _ => {
                acks.post(k, message_round(&message)?, at)?;
                if s.is_none() {
                    // The connecting message (perhaps published more than once: the rest
                    // wait for iceoryx2's first turn, where their acknowledgements go
                    // unread).
                    s = Some(0);
                    filemap_subscriber.set_wait_mode(TOPIC_MODES[0]);
                }
            }
        }
    }
}
