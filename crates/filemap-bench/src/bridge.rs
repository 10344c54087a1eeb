//! Across machines (section 9): filemap topics carried between two namespaces by two
//! [`filemap_zenoh::Bridge`]s over a Zenoh TCP link on 127.0.0.1, against a plain Zenoh
//! publisher and subscriber over the same kind of link, and a plain TCP socket.
//!
//! Side A is the measuring process (the benchmark's namespace directory), side B a partner
//! process with a namespace directory of its own ([`FarSide`]); each runs its bridge, or its
//! Zenoh session, in-process. A listens on a free port of 127.0.0.1, B connects to it.
//!
//! - **Latency** ([`latency`]): ping-pong, one-way latency half a round trip. Through the
//!   bridges: A publishes on its topic `there`, which A's bridge exports; B's bridge imports
//!   it into B's topic `there`, where B's echo subscribes, copies each message out and
//!   publishes it on B's topic `back`, which B's bridge exports and A's bridge imports into
//!   A's `back`, where A receives it. Plain Zenoh: a publisher and a subscriber in each
//!   process on the same two keys. TCP: `write_all`, `read_exact` on one stream.
//! - **Throughput** ([`throughput`]): B sends as fast as it can one way, A counts what it
//!   receives for a window of time (after a warm-up).
//!
//! Every wait is bounded: the two sides get [`PATIENCE`] to find each other, every message
//! [`MESSAGE_WAIT`], the partner [`PARTNER_LIFETIME`] in all and [`PARTNER_EXIT`] to exit
//! once told to (it is killed then).

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use filemap::topic::{Publisher, Subscriber, TopicOptions};
use filemap_harness::{Budgeted, Latency, PARTNER_COMMAND, quick, unique};
use filemap_zenoh::Bridge;
use zenoh::Wait;
use zenoh::handlers::FifoChannelHandler;
use zenoh::qos::CongestionControl;
use zenoh::sample::Sample;

use crate::{Result, arg, err, read_line, say};

/// The message sizes of the rows.
pub const LINK_SIZES: [usize; 2] = [64, 1 << 20];
/// The ring of every topic on both sides (made before the bridges start; the importing
/// bridge's `topic_capacity` too): room for several 1 MiB messages.
pub const TOPIC_CAPACITY: u64 = 8 << 20;
/// The first chunk of the plain Zenoh rows' keys.
const ZENOH_PREFIX: &str = "filemap-bench";
/// How long timed ping-pongs of one row may take (after at least
/// [`MIN_ONE_WAY`](filemap_harness::MIN_ONE_WAY) of them; a tenth in quick mode).
pub const LATENCY_BUDGET: Duration = Duration::from_millis(500);
/// How long a throughput row receives untimed before it counts (a tenth in quick mode).
pub const RATE_WARM_UP: Duration = Duration::from_millis(200);
/// How long a throughput row counts what it receives (a tenth in quick mode).
pub const RATE_WINDOW: Duration = Duration::from_millis(500);
/// How long the two sides may take to find each other (the first message through).
pub const PATIENCE: Duration = Duration::from_secs(30);
/// How long any one message may take once they have.
pub const MESSAGE_WAIT: Duration = Duration::from_secs(10);
/// How long a partner runs at most, whatever it is told.
pub const PARTNER_LIFETIME: Duration = Duration::from_secs(120);
/// How long a partner may take to exit once told to.
pub const PARTNER_EXIT: Duration = Duration::from_secs(30);
/// How long a loop on the far side waits at a time before it looks whether to stop.
const STOP_CHECK: Duration = Duration::from_millis(100);
/// The most bytes a publisher on the bridged throughput rows gets ahead of what its
/// exporting bridge has put to Zenoh (so that the export's buffer, 64 MiB, never drops).
pub const PACING_BYTES: usize = 16 << 20;
/// The most messages it gets ahead (for small messages).
pub const PACING_MESSAGES: u64 = 4096;

/// What carries the messages of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    /// filemap topics on both sides, with a bridge on each.
    Bridged,
    /// A Zenoh publisher and subscriber, one in each process.
    Zenoh,
    /// A TCP stream.
    Tcp,
}

impl System {
    pub const ALL: [System; 3] = [System::Bridged, System::Zenoh, System::Tcp];

    fn arg(self) -> &'static str {
        match self {
            System::Bridged => "bridged",
            System::Zenoh => "zenoh",
            System::Tcp => "tcp",
        }
    }

    fn parse(s: &str) -> Result<System> {
        System::ALL
            .into_iter()
            .find(|x| x.arg() == s)
            .ok_or_else(|| err(format!("no link system {s:?}")))
    }
}

/// Messages the exporting bridge dropped on the throughput rows so far (its buffer full:
/// none is expected, the publisher is paced).
pub static EXPORT_DROPS: AtomicU64 = AtomicU64::new(0);

/// One end of a link, as a row uses it.
trait Link {
    /// Sends one message.
    fn send(&mut self, message: &[u8]) -> Result<()>;
    /// Receives the next message into `buf` (replacing its contents); `Ok(false)` if none
    /// came within `wait` (a TCP stream waits for its read timeout instead, and fails).
    fn recv(&mut self, buf: &mut Vec<u8>, wait: Duration) -> Result<bool>;
}

/// One side of the bridged rows: its topics and its bridge, dropped in this order (the
/// subscriber first, so that an import publishing to it is not held up).
struct TopicEnds {
    subscriber: Option<Subscriber>,
    publisher: Option<Publisher>,
    bridge: Bridge,
    /// Throughput rows' sender: pace the publisher to the export (see [`PACING_BYTES`]).
    pacing: Option<Pacing>,
}

struct Pacing {
    window: u64,
    published: u64,
    stop: Arc<AtomicBool>,
}

impl TopicEnds {
    /// Makes the topics (this side publishes on `send`, which its bridge exports, and
    /// subscribes to `recv`, which its bridge imports), then starts the bridge, listening
    /// on `endpoint` or connecting to it.
    fn start(
        send: Option<&str>,
        recv: Option<&str>,
        endpoint: &str,
        listen: bool,
    ) -> Result<TopicEnds> {
        let options = TopicOptions::new().capacity(TOPIC_CAPACITY);
        let subscriber = recv
            .map(|n| Subscriber::create_or_open(n, &options))
            .transpose()?;
        let publisher = send
            .map(|n| Publisher::create_or_open(n, &options))
            .transpose()?;
        let mut builder = Bridge::builder().topic_capacity(TOPIC_CAPACITY);
        if let Some(n) = send {
            builder = builder.export(n);
        }
        if let Some(n) = recv {
            builder = builder.import(n);
        }
        builder = if listen {
            builder.listen(endpoint)
        } else {
            builder.connect(endpoint)
        };
        // The bridges' log (what they export and import, the far side coming and going)
        // would clutter the report's progress; their counters are read instead.
        let bridge = builder.start_with_log(|_| {}).map_err(err)?;
        Ok(TopicEnds {
            subscriber,
            publisher,
            bridge,
            pacing: None,
        })
    }

    /// What the export has dealt with: put to Zenoh, or dropped; `None` before it started.
    fn exported(&self) -> Option<(u64, u64)> {
        self.bridge
            .stats()
            .iter()
            .find(|s| s.exported)
            .map(|s| (s.messages, s.dropped))
    }

    /// Paces the publisher from now on: waits until the export has started (so that it
    /// sees every message published after), then keeps at most `window` messages ahead.
    fn pace(&mut self, window: u64, stop: Arc<AtomicBool>) -> Result<()> {
        let start = Instant::now();
        while self.exported().is_none() {
            if start.elapsed() > PATIENCE || stop.load(Ordering::Relaxed) {
                return Err(err("the bridge did not start exporting"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let (put, dropped) = self.exported().unwrap_or_default();
        self.pacing = Some(Pacing {
            window,
            published: put + dropped,
            stop,
        });
        Ok(())
    }
}

impl Link for TopicEnds {
    fn send(&mut self, message: &[u8]) -> Result<()> {
        let publisher = self
            .publisher
            .as_mut()
            .ok_or_else(|| err("no publisher on this side"))?;
        publisher.publish_timeout(message, MESSAGE_WAIT)?;
        let Some(pacing) = &self.pacing else {
            return Ok(());
        };
        let published = pacing.published + 1;
        let (window, stop) = (pacing.window, pacing.stop.clone());
        let check = (window / 4).max(1);
        if published % check == 0 {
            let start = Instant::now();
            loop {
                let (put, dropped) = self.exported().unwrap_or_default();
                if published.saturating_sub(put + dropped) <= window || stop.load(Ordering::Relaxed)
                {
                    break;
                }
                if start.elapsed() > MESSAGE_WAIT {
                    return Err(err("the exporting bridge stopped putting messages"));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        if let Some(pacing) = &mut self.pacing {
            pacing.published = published;
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut Vec<u8>, wait: Duration) -> Result<bool> {
        let subscriber = self
            .subscriber
            .as_mut()
            .ok_or_else(|| err("no subscriber on this side"))?;
        match subscriber.recv_timeout(wait) {
            Ok(sample) => {
                buf.clear();
                sample.append_to(buf)?;
                Ok(true)
            }
            Err(filemap::Error::Timeout { .. }) => Ok(false),
            // No publisher yet: the importing bridge makes it with its first sample.
            Err(filemap::Error::Disconnected { .. }) => {
                std::thread::sleep(wait.min(Duration::from_millis(10)));
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// One side of the plain Zenoh rows: a session (peer mode, multicast scouting off), with a
/// publisher (reliable, `CongestionControl::Block`, as the bridge's) and a subscriber
/// (the default FIFO handler).
struct ZenohEnds {
    subscriber: Option<zenoh::pubsub::Subscriber<FifoChannelHandler<Sample>>>,
    publisher: Option<zenoh::pubsub::Publisher<'static>>,
    session: zenoh::Session,
}

impl ZenohEnds {
    fn start(
        send: Option<&str>,
        recv: Option<&str>,
        endpoint: &str,
        listen: bool,
    ) -> Result<ZenohEnds> {
        let mut config = zenoh::Config::default();
        let endpoints = format!("[{endpoint:?}]");
        for (key, value) in [
            ("mode", "\"peer\""),
            ("scouting/multicast/enabled", "false"),
            (
                if listen {
                    "listen/endpoints"
                } else {
                    "connect/endpoints"
                },
                endpoints.as_str(),
            ),
        ] {
            config.insert_json5(key, value).map_err(err)?;
        }
        let session = zenoh::open(config).wait().map_err(err)?;
        let subscriber = match recv {
            Some(n) => Some(
                session
                    .declare_subscriber(format!("{ZENOH_PREFIX}/{n}"))
                    .wait()
                    .map_err(err)?,
            ),
            None => None,
        };
        let publisher = match send {
            Some(n) => Some(
                session
                    .declare_publisher(format!("{ZENOH_PREFIX}/{n}"))
                    .congestion_control(CongestionControl::Block)
                    .wait()
                    .map_err(err)?,
            ),
            None => None,
        };
        Ok(ZenohEnds {
            subscriber,
            publisher,
            session,
        })
    }
}

impl Drop for ZenohEnds {
    fn drop(&mut self) {
        drop(self.subscriber.take());
        drop(self.publisher.take());
        let _ = self.session.close().wait();
    }
}

impl Link for ZenohEnds {
    /// Puts a copy of `message` (a message made in a buffer of its own, as a Zenoh
    /// program's, and as filemap's publisher copies its message into the topic).
    fn send(&mut self, message: &[u8]) -> Result<()> {
        self.publisher
            .as_ref()
            .ok_or_else(|| err("no publisher on this side"))?
            .put(message.to_vec())
            .wait()
            .map_err(err)
    }

    /// Copies the sample's payload out into `buf` (as filemap's subscriber does).
    fn recv(&mut self, buf: &mut Vec<u8>, wait: Duration) -> Result<bool> {
        let subscriber = self
            .subscriber
            .as_ref()
            .ok_or_else(|| err("no subscriber on this side"))?;
        match subscriber.recv_timeout(wait).map_err(err)? {
            Some(sample) => {
                buf.clear();
                for slice in sample.payload().slices() {
                    buf.extend_from_slice(slice);
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// One side of the TCP rows: a stream with `TCP_NODELAY`, written through a buffer (flushed
/// after every message of a ping-pong) and read through one; reads fail after
/// [`MESSAGE_WAIT`].
struct TcpEnds {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    size: usize,
    flush_each: bool,
}

/// The buffers of the TCP rows (a Zenoh link's batches are up to 64 KiB too).
const TCP_BUFFER: usize = 64 << 10;

impl TcpEnds {
    fn new(stream: TcpStream, size: usize, flush_each: bool) -> Result<TcpEnds> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(MESSAGE_WAIT))?;
        Ok(TcpEnds {
            reader: BufReader::with_capacity(TCP_BUFFER, stream.try_clone()?),
            writer: BufWriter::with_capacity(TCP_BUFFER, stream),
            size,
            flush_each,
        })
    }
}

impl Link for TcpEnds {
    fn send(&mut self, message: &[u8]) -> Result<()> {
        self.writer.write_all(message)?;
        if self.flush_each {
            self.writer.flush()?;
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut Vec<u8>, _wait: Duration) -> Result<bool> {
        buf.resize(self.size, 0);
        self.reader.read_exact(buf)?;
        Ok(true)
    }
}

/// The far side: this binary again as a partner (`bench-partner <role> ...`), in a
/// namespace directory of its own (`FILEMAP_DIR`), removed when dropped; a partner still
/// running then is killed.
struct FarSide {
    child: Child,
    dir: PathBuf,
}

impl FarSide {
    fn start(args: &[&str]) -> Result<FarSide> {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!(
            "filemap-bench-far-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let child = Command::new(std::env::current_exe()?)
            .arg(PARTNER_COMMAND)
            .args(args)
            .env("FILEMAP_DIR", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn();
        match child {
            Ok(child) => Ok(FarSide { child, dir }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e.into())
            }
        }
    }

    /// Waits for the partner's "ready".
    fn ready(&mut self) -> Result<()> {
        let line = read_line(&mut self.child)?;
        if line == "ready" {
            Ok(())
        } else {
            Err(err(format!("the far side said {line:?}")))
        }
    }

    /// Tells the partner to stop (closes its input), waits for it to exit (killing it after
    /// [`PARTNER_EXIT`]), and returns the last line it printed.
    fn finish(mut self) -> Result<String> {
        drop(self.child.stdin.take());
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if start.elapsed() > PARTNER_EXIT {
                return Err(err(format!(
                    "the far side did not exit within {} s of being told to",
                    PARTNER_EXIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if !status.success() {
            return Err(err(format!("the far side failed ({status})")));
        }
        let mut rest = String::new();
        if let Some(out) = self.child.stdout.as_mut() {
            out.read_to_string(&mut rest)?;
        }
        Ok(rest.lines().last().unwrap_or("").to_string())
    }
}

impl Drop for FarSide {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free TCP port of 127.0.0.1, for a listener to take right after.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Accepts the partner's connection, giving up after [`PATIENCE`] or if it exits.
fn accept(listener: &TcpListener, far: &mut FarSide) -> Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let start = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
        if far.child.try_wait()?.is_some() {
            return Err(err("the far side exited before it connected"));
        }
        if start.elapsed() > PATIENCE {
            return Err(err("the far side did not connect"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The round a message carries (its first 8 bytes).
fn round_of(message: &[u8]) -> Result<u64> {
    message
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| err("a message shorter than its round number"))
}

/// Sends a message (with the next round) until one comes back: the two sides have found
/// each other. Up to [`PATIENCE`], a message every 50 ms at most.
fn find_each_other(link: &mut dyn Link, message: &mut [u8], round: &mut u64) -> Result<()> {
    let mut reply = Vec::new();
    let start = Instant::now();
    let most = PATIENCE.as_millis() / 50 + 1;
    for _ in 0..most {
        *round += 1;
        message[..8].copy_from_slice(&round.to_le_bytes());
        link.send(message)?;
        if link.recv(&mut reply, Duration::from_millis(50))? {
            return Ok(());
        }
        if start.elapsed() > PATIENCE {
            break;
        }
    }
    Err(err(format!(
        "no message came back within {} s: the two sides did not find each other",
        PATIENCE.as_secs()
    )))
}

/// Ping-pong of `size`-byte messages (8 at least: each carries its round, and an echo of an
/// earlier round, sent while the sides were finding each other, is skipped): the one-way
/// latency (half of each round trip), as a [`Budgeted`] row of [`LATENCY_BUDGET`].
fn ping_pong(link: &mut dyn Link, size: usize, round: &mut u64) -> Result<Latency> {
    let mut message = vec![7u8; size.max(8)];
    let mut reply = Vec::with_capacity(message.len());
    find_each_other(link, &mut message, round)?;
    let mut plan = Budgeted::new(size, LATENCY_BUDGET);
    while plan.more() {
        *round += 1;
        message[..8].copy_from_slice(&round.to_le_bytes());
        let start = Instant::now();
        link.send(&message)?;
        let mut stale = 0;
        loop {
            if !link.recv(&mut reply, MESSAGE_WAIT)? {
                return Err(err(format!("no echo within {} s", MESSAGE_WAIT.as_secs())));
            }
            if round_of(&reply)? == *round {
                break;
            }
            stale += 1;
            if stale > PATIENCE.as_millis() / 50 + 1 {
                return Err(err("the echoes are of other messages"));
            }
        }
        let elapsed = start.elapsed();
        if reply.len() != message.len() {
            return Err(err("the echo returned a message of another size"));
        }
        plan.record(elapsed / 2);
    }
    Ok(plan.latency())
}

/// Receives messages of `size` bytes as fast as they come: waits for the first (up to
/// [`PATIENCE`]), receives for [`RATE_WARM_UP`], then counts for [`RATE_WINDOW`] (a tenth
/// of both in quick mode); messages per second. The clock is read every message of 64 KiB
/// or more, else every 64.
fn receive_rate(link: &mut dyn Link, size: usize) -> Result<f64> {
    let mut buf = Vec::with_capacity(size);
    let start = Instant::now();
    while !link.recv(&mut buf, STOP_CHECK)? {
        if start.elapsed() > PATIENCE {
            return Err(err(format!(
                "no message came within {} s: the two sides did not find each other",
                PATIENCE.as_secs()
            )));
        }
    }
    let (warm_up, window) = if quick() {
        (RATE_WARM_UP / 10, RATE_WINDOW / 10)
    } else {
        (RATE_WARM_UP, RATE_WINDOW)
    };
    let every = if size >= 64 << 10 { 1 } else { 64 };
    let mut recv_some = |buf: &mut Vec<u8>| -> Result<()> {
        for _ in 0..every {
            if !link.recv(buf, MESSAGE_WAIT)? {
                return Err(err(format!(
                    "no message within {} s",
                    MESSAGE_WAIT.as_secs()
                )));
            }
            if buf.len() != size {
                return Err(err("a message of another size"));
            }
        }
        Ok(())
    };
    let start = Instant::now();
    while start.elapsed() < warm_up {
        recv_some(&mut buf)?;
    }
    let start = Instant::now();
    let mut count = 0u64;
    loop {
        recv_some(&mut buf)?;
        count += every;
        let elapsed = start.elapsed();
        if elapsed >= window {
            return Ok(count as f64 / elapsed.as_secs_f64());
        }
    }
}

/// The one-way latency of `system` at each of `sizes`, by ping-pong (see the module's
/// docs). The bridged and Zenoh rows measure every size over one pair of sides (started
/// once); the TCP rows connect anew for each size.
pub fn latency(system: System, sizes: &[usize]) -> Result<Vec<Latency>> {
    if system == System::Tcp {
        return sizes.iter().map(|&size| tcp_latency(size)).collect();
    }
    let endpoint = format!("tcp/127.0.0.1:{}", free_port()?);
    let (there, back) = (unique("link-there"), unique("link-back"));
    let mut near: Box<dyn Link> = match system {
        System::Bridged => Box::new(TopicEnds::start(
            Some(&there),
            Some(&back),
            &endpoint,
            true,
        )?),
        _ => Box::new(ZenohEnds::start(
            Some(&there),
            Some(&back),
            &endpoint,
            true,
        )?),
    };
    let mut far = FarSide::start(&["link-echo", system.arg(), &there, &back, &endpoint])?;
    far.ready()?;
    let mut round = 0;
    let r: Result<Vec<Latency>> = sizes
        .iter()
        .map(|&size| ping_pong(near.as_mut(), size, &mut round))
        .collect();
    drop(near);
    let finished = far.finish();
    let r = r?;
    finished?;
    Ok(r)
}

fn tcp_latency(size: usize) -> Result<Latency> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port().to_string();
    let mut far = FarSide::start(&["link-tcp-echo", &port, &size.to_string()])?;
    let stream = accept(&listener, &mut far)?;
    let mut near = TcpEnds::new(stream, size, true)?;
    let r = ping_pong(&mut near, size, &mut 0);
    drop(near); // the echo reads the end of the stream and exits
    let finished = far.finish();
    let r = r?;
    finished?;
    Ok(r)
}

/// Messages per second of `size` bytes from the far side to this one (see the module's
/// docs).
pub fn throughput(system: System, size: usize) -> Result<f64> {
    if system == System::Tcp {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port().to_string();
        let mut far = FarSide::start(&["link-tcp-source", &port, &size.to_string()])?;
        let stream = accept(&listener, &mut far)?;
        let mut near = TcpEnds::new(stream, size, false)?;
        let r = receive_rate(&mut near, size);
        drop(near); // the source's next write fails, and it exits
        let finished = far.finish();
        let r = r?;
        finished?;
        return Ok(r);
    }
    let endpoint = format!("tcp/127.0.0.1:{}", free_port()?);
    let flow = unique("link-flow");
    let mut near: Box<dyn Link> = match system {
        System::Bridged => Box::new(TopicEnds::start(None, Some(&flow), &endpoint, true)?),
        _ => Box::new(ZenohEnds::start(None, Some(&flow), &endpoint, true)?),
    };
    let mut far = FarSide::start(&[
        "link-source",
        system.arg(),
        &flow,
        &endpoint,
        &size.to_string(),
    ])?;
    far.ready()?;
    let r = receive_rate(near.as_mut(), size);
    // This side goes first, so that nothing the source sends waits for it any more.
    drop(near);
    let last = far.finish();
    let r = r?;
    let last = last?;
    if let Some(dropped) = last.strip_prefix("dropped ") {
        EXPORT_DROPS.fetch_add(dropped.parse().map_err(err)?, Ordering::Relaxed);
    }
    Ok(r)
}

/// The partner roles of this module.
pub fn partner_role(role: &str, args: &[String]) -> Option<Result<()>> {
    let r = match role {
        "link-echo" => far_echo(args),
        "link-source" => far_source(args),
        "link-tcp-echo" => tcp_echo(args),
        "link-tcp-source" => tcp_source(args),
        _ => return None,
    };
    Some(r)
}

/// A flag raised when the measuring process closes this partner's input (or it goes).
fn stop_on_end_of_input() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let raised = stop.clone();
    std::thread::spawn(move || {
        let mut input = std::io::stdin();
        let mut buf = [0u8; 64];
        while matches!(input.read(&mut buf), Ok(n) if n > 0) {}
        raised.store(true, Ordering::Relaxed);
    });
    stop
}

/// Far side B of [`latency`]: `link-echo <system> <there> <back> <endpoint>`: receives on
/// `there` and sends each message back on `back`, until told to stop.
fn far_echo(args: &[String]) -> Result<()> {
    let stop = stop_on_end_of_input();
    let (there, back, endpoint) = (arg(args, 2)?, arg(args, 3)?, arg(args, 4)?);
    let mut far: Box<dyn Link> = match System::parse(arg(args, 1)?)? {
        System::Bridged => Box::new(TopicEnds::start(Some(back), Some(there), endpoint, false)?),
        System::Zenoh => Box::new(ZenohEnds::start(Some(back), Some(there), endpoint, false)?),
        System::Tcp => return Err(err("link-echo is for the bridged and Zenoh rows")),
    };
    say("ready")?;
    let mut message = Vec::new();
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) && start.elapsed() < PARTNER_LIFETIME {
        if far.recv(&mut message, STOP_CHECK)? {
            far.send(&message)?;
        }
    }
    Ok(())
}

/// Far side B of [`throughput`]: `link-source <system> <name> <endpoint> <size>`: sends
/// `size`-byte messages on `name` as fast as it can until told to stop; then prints how
/// many messages its exporting bridge dropped.
fn far_source(args: &[String]) -> Result<()> {
    let stop = stop_on_end_of_input();
    let (name, endpoint) = (arg(args, 2)?, arg(args, 3)?);
    let size: usize = arg(args, 4)?.parse().map_err(err)?;
    let system = System::parse(arg(args, 1)?)?;
    let mut topics = None;
    let mut zenoh = None;
    let far: &mut dyn Link = match system {
        System::Bridged => {
            let ends = topics.insert(TopicEnds::start(Some(name), None, endpoint, false)?);
            let window = (PACING_BYTES / size.max(1)).clamp(1, PACING_MESSAGES as usize);
            ends.pace(window as u64, stop.clone())?;
            ends
        }
        System::Zenoh => zenoh.insert(ZenohEnds::start(Some(name), None, endpoint, false)?),
        System::Tcp => return Err(err("link-source is for the bridged and Zenoh rows")),
    };
    say("ready")?;
    let message = vec![5u8; size];
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) && start.elapsed() < PARTNER_LIFETIME {
        far.send(&message)?;
    }
    let dropped = topics
        .as_ref()
        .and_then(TopicEnds::exported)
        .map_or(0, |(_, dropped)| dropped);
    drop(topics);
    drop(zenoh);
    say(format!("dropped {dropped}"))
}

/// Connects to the measuring process's listener on 127.0.0.1.
fn tcp_connect(args: &[String]) -> Result<(TcpStream, usize)> {
    let port: u16 = arg(args, 1)?.parse().map_err(err)?;
    let size: usize = arg(args, 2)?.parse().map_err(err)?;
    Ok((TcpStream::connect(("127.0.0.1", port))?, size))
}

/// Far side B of the TCP latency rows: `link-tcp-echo <port> <size>`: reads each message
/// and writes it back, until the measuring process closes the stream.
fn tcp_echo(args: &[String]) -> Result<()> {
    let (stream, size) = tcp_connect(args)?;
    let mut far = TcpEnds::new(stream, size, true)?;
    far.reader
        .get_ref()
        .set_read_timeout(Some(PARTNER_LIFETIME))?;
    let mut message = vec![0u8; size];
    loop {
        match far.reader.read_exact(&mut message) {
            Ok(()) => far.send(&message)?,
            // The measuring process closed the stream.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Far side B of the TCP throughput rows: `link-tcp-source <port> <size>`: writes
/// `size`-byte messages as fast as it can until the measuring process closes the stream.
fn tcp_source(args: &[String]) -> Result<()> {
    let (stream, size) = tcp_connect(args)?;
    let mut far = TcpEnds::new(stream, size, false)?;
    let message = vec![5u8; size];
    let start = Instant::now();
    while start.elapsed() < PARTNER_LIFETIME {
        if far.send(&message).is_err() {
            break; // the measuring process closed the stream
        }
    }
    Ok(())
}
