//! Publish-subscribe from one publisher to several subscriber processes: filemap's topics
//! (busy-polling and blocking) and iceoryx2 publish-subscribe (ipc service, zero-copy
//! loans), all three measured together ([`topic_rows`]): the one-way latency of a message
//! until the last subscriber has copied it out, on a clock all processes share
//! ([`clock_ns`]), one message at a time, the systems taking turns in blocks so that each
//! is measured at the same moments of a machine whose speed drifts.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use filemap::channel::WaitMode;
use filemap_harness::{
    ack_bytes, clock_ns, last_acknowledged, message_round, parse_ack, partner, pin_to,
    subscriber_cpu_arg, unique, Budgeted, Latency, ONE_WAY_BUDGET,
};
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory as PubSub;

use crate::messages::{
    next_sample, node, publish, publish_delivered, publisher, service, Ipc, SILENCE,
};
use crate::{arg, err, finish, read_line, say, Result};

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

/// Polls `acks` until the acknowledgement of `round` arrives (skipping older ones: the
/// connecting round may be acknowledged more than once); the time it carries.
fn ack_of(acks: &Subscriber<Ipc, [u8], ()>, round: u64) -> Result<u64> {
    loop {
        let sample = next_sample(acks)?;
        let (acked, at) = parse_ack(sample.payload())?;
        if acked == round {
            return Ok(at);
        }
        if acked > round {
            return Err(err("iceoryx2: a subscriber acknowledged a later message"));
        }
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

/// The ports of the measuring process: each system's publisher and the channels on which
/// the subscribers acknowledge (filemap channels for filemap's, iceoryx2 services for
/// iceoryx2's).
struct Ports {
    filemap: filemap::topic::Publisher,
    filemap_acks: Vec<filemap::channel::Receiver>,
    iceoryx2: iceoryx2::port::publisher::Publisher<Ipc, [u8], ()>,
    iceoryx2_acks: Vec<Subscriber<Ipc, [u8], ()>>,
}

impl Ports {
    /// Sets filemap's ends to system `s`'s wait mode.
    fn enter(&mut self, s: usize) {
        self.filemap.set_wait_mode(TOPIC_MODES[s]);
        for rx in &mut self.filemap_acks {
            rx.set_wait_mode(TOPIC_MODES[s]);
        }
    }

    /// Publishes `message` on system `s`.
    fn publish(&mut self, s: usize, message: &[u8]) -> Result<()> {
        if s == ICEORYX2 {
            if publish(&self.iceoryx2, message)? != self.iceoryx2_acks.len() {
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
        let mut last = start;
        if s == ICEORYX2 {
            self.publish(s, message)?;
            for a in &self.iceoryx2_acks {
                last = last.max(ack_of(a, round)?);
            }
        } else {
            let mut slot = self.filemap.reserve(message.len())?;
            slot.copy_from_slice(message)?;
            slot.commit();
            let mut ack = Vec::with_capacity(16);
            last = last_acknowledged(&mut self.filemap_acks, &mut ack, round, start)?;
        }
        Ok(last - start)
    }
}

/// One publisher (this process) to `subscribers` subscriber processes, every system of
/// [`TOPIC_SYSTEMS`] at once: the one-way latency of a message of `size` bytes (at least 8)
/// until the last subscriber has copied it out, of each system.
///
/// The publisher reads the clock, writes the message into the topic (filemap: reserve,
/// copy, commit; iceoryx2: loan, copy, send); each subscriber copies the payload into a
/// buffer of its own, reads the clock, and sends that time back (filemap: over a channel;
/// iceoryx2: over a service of its own). The next message goes once every subscriber has
/// acknowledged this one. The systems take turns in blocks of up to [`BLOCK`] messages
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
        filemap_acks: Vec::with_capacity(subscribers),
        iceoryx2: publisher(&iceoryx2_topic, size, false)?,
        iceoryx2_acks: Vec::with_capacity(subscribers),
    };
    let mut backs = Vec::with_capacity(subscribers);
    let mut children = Vec::with_capacity(subscribers);
    for k in 0..subscribers {
        let back = format!("{name}-ack{k}");
        ports
            .filemap_acks
            .push(filemap::channel::Receiver::create_or_open(
                back.as_str(),
                1 << 16,
            )?);
        let service = service(&node, &back, false)?;
        ports
            .iceoryx2_acks
            .push(service.subscriber_builder().create().map_err(err)?);
        backs.push(service);
        children.push(partner(&[
            "topic-rows-subscriber",
            &name,
            &back,
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
        read_line(child)?; // its ports exist
    }
    // Every subscriber has joined the filemap topic, then acknowledged round 0 of iceoryx2's
    // (iceoryx2's publisher connects to its subscribers when it sends).
    let mut ack = Vec::with_capacity(16);
    for rx in &mut ports.filemap_acks {
        rx.recv_into(&mut ack)?;
        if parse_ack(&ack)?.0 != u64::MAX {
            return Err(err("a subscriber acknowledged a message before joining"));
        }
    }
    let mut message = vec![7u8; size];
    message[..8].copy_from_slice(&0u64.to_le_bytes());
    publish_to_all(&ports.iceoryx2, &message, subscribers)?;
    for a in &ports.iceoryx2_acks {
        ack_of(a, 0)?;
    }
    let mut plans: [Budgeted; 3] = std::array::from_fn(|_| Budgeted::new(size, ONE_WAY_BUDGET * 3));
    let mut round = 0u64;
    let mut s = 0;
    ports.enter(s);
    loop {
        let started = Instant::now();
        for _ in 0..BLOCK {
            round += 1;
            let ns = ports.round(s, &mut message, round)?;
            plans[s].record(Duration::from_nanos(ns));
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

/// A subscriber of [`topic_rows`]: pins itself to its core, opens its ports (filemap's
/// subscriber and acknowledging channel, iceoryx2's), says so, joins; then, on the system
/// whose turn it is, acknowledges each message with the time it had copied it out, passes
/// to the next system on an empty message, and ends on a 1-byte one.
fn topic_rows_subscriber(args: &[String]) -> Result<()> {
    if let Ok(cpu) = arg(args, 4)?.parse() {
        pin_to(cpu);
    }
    let (name, back) = (arg(args, 1)?, arg(args, 2)?);
    let subscribers: usize = arg(args, 3)?.parse().map_err(err)?;
    let mut filemap_subscriber = filemap::topic::Subscriber::open(name)?;
    let mut filemap_acks = filemap::channel::Sender::create_or_open(back, 1 << 16)?;
    let node = node()?;
    let iceoryx2_topic = topic(&node, name, subscribers)?;
    let iceoryx2_back = service(&node, back, false)?;
    let iceoryx2_subscriber = iceoryx2_topic.subscriber_builder().create().map_err(err)?;
    let iceoryx2_acks = publisher(&iceoryx2_back, 16, false)?;
    say("ready")?;
    filemap_acks.send(&ack_bytes(u64::MAX, 0))?;
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
                filemap_acks.set_wait_mode(TOPIC_MODES[next]);
                s = Some(next);
            }
            1..=7 => return Ok(()),
            _ => {
                let ack = ack_bytes(message_round(&message)?, at);
                match s {
                    Some(s) if s != ICEORYX2 => filemap_acks.send(&ack)?,
                    _ => publish_delivered(&iceoryx2_acks, &ack)?,
                }
                if s.is_none() {
                    // Round 0 (perhaps published more than once: the rest wait for
                    // iceoryx2's first turn, where their acknowledgements are skipped).
                    s = Some(0);
                    filemap_subscriber.set_wait_mode(TOPIC_MODES[0]);
                    filemap_acks.set_wait_mode(TOPIC_MODES[0]);
                }
            }
        }
    }
}
