//! Messages between two processes, the peers' side: iceoryx2 publish-subscribe (ipc
//! service, zero-copy loans) and ipc-channel, plus filemap's `NamedEvent` wake-up. filemap's
//! channel, the Unix socket, the pipe and the floors are measured by the harness of
//! `filemap bench channel` (`filemap_harness`), with the same ping-pong driver
//! ([`round_trips`]) and throughput driver ([`receive_throughput`]) as these.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use filemap::Mapping;
use filemap::sync::{EventReset, NamedEvent};
use filemap_harness::{
    Latency, THROUGHPUT_MESSAGE, partner, receive_throughput, round_trips, throughput_messages,
    unique,
};
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;
use iceoryx2::sample::Sample;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory as PubSub;

use crate::{Result, arg, err, finish, read_line, say};

pub(crate) type Ipc = ipc::Service;

/// The environment variable naming the run's private iceoryx2 domain (inherited by the
/// partners).
const DOMAIN: &str = "FILEMAP_BENCH_ICEORYX2_DOMAIN";

/// The run's iceoryx2 configuration: a domain of its own (file prefix, and a root directory
/// under the temporary directory), so that the run neither meets other iceoryx2 users nor
/// leaves anything behind ([`Iceoryx2Domain`] removes it).
fn config() -> Result<Config> {
    let domain = std::env::var(DOMAIN).map_err(|_| err("no iceoryx2 domain set up"))?;
    let mut config = Config::default();
    config.global.prefix = FileName::new(format!("{domain}_").as_bytes()).map_err(err)?;
    let root = std::env::temp_dir().join(&domain);
    let root = root.to_str().ok_or_else(|| err("temp dir not UTF-8"))?;
    config
        .global
        .set_root_path(&iceoryx2::prelude::Path::new(root.as_bytes()).map_err(err)?);
    Ok(config)
}

/// The run's private iceoryx2 domain: set up for the partners to inherit, removed on drop
/// (its global management segment in /dev/shm and its root directory).
pub struct Iceoryx2Domain {
    config: Config,
}

impl Iceoryx2Domain {
    pub fn new() -> Result<Iceoryx2Domain> {
        filemap_harness::process::set_env(DOMAIN, format!("fmbench{}", std::process::id()));
        Ok(Iceoryx2Domain { config: config()? })
    }
}

impl Drop for Iceoryx2Domain {
    fn drop(&mut self) {
        // SAFETY: the domain is this run's own, and every process of the run that used it
        // (this one's nodes, the partners) has finished with it: the measurements drop their
        // nodes and wait for their partners before returning.
        let _ = unsafe { iceoryx2::testing::remove_global_mgmt_segment::<Ipc>(&self.config) };
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(std::env::var(DOMAIN).unwrap_or_default()),
        );
    }
}

pub(crate) fn node() -> Result<Node<Ipc>> {
    set_log_level(LogLevel::Error);
    NodeBuilder::new()
        .config(&config()?)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<Ipc>()
        .map_err(err)
}

/// A publish-subscribe service of byte slices; both processes open it with the same
/// settings. `lossless`: the publisher waits for room instead of overwriting the oldest
/// unread sample (throughput); a ping-pong never has more than one sample in flight.
pub(crate) fn service(
    node: &Node<Ipc>,
    name: &str,
    lossless: bool,
) -> Result<PubSub<Ipc, [u8], ()>> {
    node.service_builder(&name.try_into().map_err(err)?)
        .publish_subscribe::<[u8]>()
        .max_publishers(1)
        .max_subscribers(1)
        .history_size(0)
        // As many messages in flight as filemap's channel holds in section 2's 8 MiB ring.
        .subscriber_max_buffer_size(8)
        .enable_safe_overflow(!lossless)
        .open_or_create()
        .map_err(err)
}

pub(crate) fn publisher(
    service: &PubSub<Ipc, [u8], ()>,
    max_len: usize,
    lossless: bool,
) -> Result<Publisher<Ipc, [u8], ()>> {
    let mut b = service
        .publisher_builder()
        .initial_max_slice_len(max_len.max(1))
        .allocation_strategy(AllocationStrategy::Static);
    if lossless {
        b = b.backpressure_strategy(BackpressureStrategy::RetryUntilDelivered);
    }
    b.create().map_err(err)
}

/// Copies `bytes` into a loaned sample and sends it (the zero-copy API: the receiver reads
/// the sample where the publisher wrote it).
/// Returns how many subscribers it reached.
pub(crate) fn publish(publisher: &Publisher<Ipc, [u8], ()>, bytes: &[u8]) -> Result<usize> {
    let sample = publisher.loan_slice_uninit(bytes.len()).map_err(err)?;
    sample.write_from_slice(bytes).send().map_err(err)
}

/// Publishes `bytes` until a subscriber gets it: a sample sent while the publisher is not
/// yet connected to the subscriber reaches nobody (a busy machine can delay the connection).
pub(crate) fn publish_delivered(publisher: &Publisher<Ipc, [u8], ()>, bytes: &[u8]) -> Result<()> {
    if publish(publisher, bytes)? > 0 {
        // (The common case: no clock read on the timed path.)
        return Ok(());
    }
    let deadline = Instant::now() + SILENCE;
    while publish(publisher, bytes)? == 0 {
        if Instant::now() > deadline {
            return Err(err("iceoryx2: no subscriber connected"));
        }
        std::thread::yield_now();
    }
    Ok(())
}

/// How long a receiver polls without a sample before it gives up (the peer died or lost
/// the message): the suite fails instead of hanging.
pub(crate) const SILENCE: Duration = Duration::from_secs(30);

/// Busy-polls the subscriber until a sample arrives and hands its payload to `f`
/// (iceoryx2's publish-subscribe has no blocking receive: waiting means polling, or a
/// separate event service).
fn receive<T>(subscriber: &Subscriber<Ipc, [u8], ()>, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
    Ok(f(next_sample(subscriber)?.payload()))
}

/// Busy-polls the subscriber until a sample arrives, for at most [`SILENCE`].
pub(crate) fn next_sample(subscriber: &Subscriber<Ipc, [u8], ()>) -> Result<Sample<Ipc, [u8], ()>> {
    let mut polls = 0u32;
    let mut since: Option<Instant> = None;
    loop {
        if let Some(sample) = subscriber.receive().map_err(err)? {
            return Ok(sample);
        }
        std::hint::spin_loop();
        polls = polls.wrapping_add(1);
        if polls & 0xfff == 0 {
            // Read the clock only now and then: the common wait is far shorter.
            let start = *since.get_or_insert_with(Instant::now);
            if start.elapsed() > SILENCE {
                return Err(err(
                    "iceoryx2: no sample for 30 s (message lost or peer gone)",
                ));
            }
        }
    }
}

/// iceoryx2 ping-pong: messages of `size` bytes there and back, each written into a loaned
/// sample (the partner copies each received payload into its reply's sample).
pub fn iceoryx2_latency(size: usize) -> Result<Latency> {
    let node = node()?;
    let (there, back) = (unique("iox-there"), unique("iox-back"));
    let to = service(&node, &there, false)?;
    let from = service(&node, &back, false)?;
    let publisher = publisher(&to, size, false)?;
    let subscriber = from.subscriber_builder().create().map_err(err)?;
    let mut child = partner(&["iceoryx2-echo", &there, &back, &size.to_string()])?;
    read_line(&mut child)?; // the partner's ports exist
    let message = vec![7u8; size];
    let r = round_trips(size, || {
        publish_delivered(&publisher, &message)?;
        let len = receive(&subscriber, |reply| reply.len())?;
        if len != size {
            return Err(err("the echo returned a message of another size"));
        }
        Ok(())
    });
    publish_delivered(&publisher, &[])?; // the end
    finish(child)?;
    r
}

/// 1 MiB messages one way over iceoryx2: the partner writes each into a loaned sample, this
/// process copies each out (as filemap's `recv_into` does).
pub fn iceoryx2_throughput() -> Result<f64> {
    let node = node()?;
    let name = unique("iox-stream");
    let service = service(&node, &name, true)?;
    let subscriber = service.subscriber_builder().create().map_err(err)?;
    let count = throughput_messages();
    let child = partner(&["iceoryx2-source", &name, &count.to_string()])?;
    let mut buf = vec![0u8; THROUGHPUT_MESSAGE];
    let r = receive_throughput(count, || {
        receive(&subscriber, |payload| buf.copy_from_slice(payload))
    });
    finish(child)?;
    r
}

/// ipc-channel ping-pong over its byte channels (no serialisation), one each way.
pub fn ipc_channel_latency(size: usize) -> Result<Latency> {
    let (server, name) = ipc_channel::ipc::IpcOneShotServer::<(
        ipc_channel::ipc::IpcBytesSender,
        ipc_channel::ipc::IpcBytesReceiver,
    )>::new()?;
    let child = partner(&["ipc-channel-echo", &name])?;
    let (_, (tx, rx)) = server.accept().map_err(err)?;
    let message = vec![7u8; size];
    let r = round_trips(size, || {
        tx.send(&message)?;
        let reply = rx.recv().map_err(err)?;
        if reply.len() != size {
            return Err(err("the echo returned a message of another size"));
        }
        Ok(())
    });
    drop((tx, rx)); // the partner's receive fails and it exits
    finish(child)?;
    r
}

/// filemap's `NamedEvent` (auto reset) ping-pong: a wake-up without payload, beside the raw
/// futex ping-pong and the cache-line floor.
pub fn event_latency() -> Result<Latency> {
    let name = unique("event");
    let ping = NamedEvent::create_new(format!("{name}-ping"), EventReset::Auto, false)?;
    let pong = NamedEvent::create_new(format!("{name}-pong"), EventReset::Auto, false)?;
    let stop = Mapping::create_new(format!("{name}-stop"), 4096)?;
    let stop_view = stop.view().map()?;
    let mut child = partner(&["event-echo", &name])?;
    read_line(&mut child)?;
    let r = round_trips(8, || {
        ping.set()?;
        pong.wait()?;
        Ok(())
    });
    stop_view.store_u32(0, 1, Ordering::Release)?;
    ping.set()?;
    finish(child)?;
    r
}

/// The partner roles of this module.
pub fn partner_role(role: &str, args: &[String]) -> Option<Result<()>> {
    let r = match role {
        "iceoryx2-echo" => iceoryx2_echo(args),
        "iceoryx2-source" => iceoryx2_source(args),
        "ipc-channel-echo" => ipc_channel_echo(args),
        "event-echo" => event_echo(args),
        _ => return None,
    };
    Some(r)
}

fn iceoryx2_echo(args: &[String]) -> Result<()> {
    let size: usize = arg(args, 3)?.parse().map_err(err)?;
    let node = node()?;
    let from = service(&node, arg(args, 1)?, false)?;
    let to = service(&node, arg(args, 2)?, false)?;
    let subscriber = from.subscriber_builder().create().map_err(err)?;
    let publisher = publisher(&to, size, false)?;
    say("ready")?;
    loop {
        let sample = next_sample(&subscriber)?;
        if sample.payload().is_empty() {
            return Ok(());
        }
        publish_delivered(&publisher, sample.payload())?;
    }
}

fn iceoryx2_source(args: &[String]) -> Result<()> {
    let count: u64 = arg(args, 2)?.parse().map_err(err)?;
    let node = node()?;
    let service = service(&node, arg(args, 1)?, true)?;
    let publisher = publisher(&service, THROUGHPUT_MESSAGE, true)?;
    let message = vec![5u8; THROUGHPUT_MESSAGE];
    for _ in 0..count {
        publish_delivered(&publisher, &message)?;
    }
    // Keep the publisher (and its samples) until the receiver has them all: it closes our
    // standard input when done.
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    Ok(())
}

fn ipc_channel_echo(args: &[String]) -> Result<()> {
    let bootstrap = ipc_channel::ipc::IpcSender::connect(arg(args, 1)?.to_string())?;
    let (to_me, from_parent) = ipc_channel::ipc::bytes_channel()?;
    let (to_parent, from_me) = ipc_channel::ipc::bytes_channel()?;
    bootstrap.send((to_me, from_me)).map_err(err)?;
    while let Ok(message) = from_parent.recv() {
        to_parent.send(&message)?;
    }
    Ok(())
}

fn event_echo(args: &[String]) -> Result<()> {
    let name = arg(args, 1)?;
    let ping = NamedEvent::open(format!("{name}-ping"))?;
    let pong = NamedEvent::open(format!("{name}-pong"))?;
    let stop = Mapping::open(format!("{name}-stop"))?;
    let stop_view = stop.view().map()?;
    say("ready")?;
    loop {
        ping.wait()?;
        if stop_view.load_u32(0, Ordering::Acquire)? != 0 {
            return Ok(());
        }
        pong.set()?;
    }
}
