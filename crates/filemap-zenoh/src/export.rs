//! Exporting one local topic (or channel). A topic's export has a reader thread, one of
//! the topic's subscribers, that moves each message into a bounded buffer, and a sender
//! thread that puts them to the Zenoh key. The reader never waits for the network, so a
//! link that stops answering never holds up the local publisher: once the buffer is full,
//! the oldest message is dropped and counted.
//!
//! A message put while nobody subscribes to the key on the far side reaches nobody (Zenoh
//! drops it, and says the put went well). A topic's message then is one nobody receives,
//! as with a local topic with no subscriber (counted as put: Zenoh's word on whom a key
//! matches comes in its own time, and is no count of who received what).
//!
//! A channel is a queue, and stays one: its export is one thread, the channel's receiver,
//! that puts each message to Zenoh while it holds it, and receives it (gives its space back
//! to the channel's sender) only once the put went well. While nobody subscribes on the
//! far side, when a put fails, and when the export stops, the message held is left in the
//! channel (`RecvSlot::leave`), for the next put or the channel's next receiver, and the
//! channel's sender waits for room, as it would for a slow local receiver. A put that went
//! well has only handed the message to Zenoh's queue, and Zenoh's close cuts short the
//! sending of what its queue and the link still hold: a stopping bridge ends its exports
//! (each after the put it is making, as a put made while the session closes is taken and
//! not sent), and keeps its session open until a second after the last put (or service
//! reply) before it closes it. What the far side has not received by then (a far side
//! that reads slower than the link carries), and what the queue holds when the link dies,
//! or when a bridge stops while its link is stalled (the session then closes after a
//! second or two, and lets a put waiting for room in the queue return as if it went
//! well), is lost, as any put is; the far side's gap count says so for a topic (its
//! numbers go on across starts), not for a channel (a bridge started again numbers a
//! channel's messages from 0, which the far side takes for a new stream).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use filemap::channel::{Receiver, RecvSlot};
use filemap::topic::Subscriber;
use filemap::{Error, Name};
use zenoh::qos::CongestionControl;
use zenoh::sample::Locality;
use zenoh::{Session, Wait};

use crate::{Log, Settings, wire};

/// How long a thread waits at a time before it looks whether the bridge is stopping.
pub(crate) const STOP_CHECK: Duration = Duration::from_millis(100);

/// One exported topic's counters.
#[derive(Debug, Default)]
pub(crate) struct ExportCounters {
    /// Messages put to Zenoh.
    pub(crate) forwarded: AtomicU64,
    /// Messages dropped because the buffer was full (the network was too slow, or down),
    /// or still in the buffer when the export ended (a channel's: messages that could not
    /// be read, the channel's memory being lost).
    pub(crate) dropped: AtomicU64,
    /// Messages the topic overwrote before the reader got them (`DropOldest` topics).
    pub(crate) lagged: AtomicU64,
    /// Set when the reader found the topic's name removed (`filemap rm`: the name may be
    /// another topic's now) and stopped reading: the scan ends the export once its buffer
    /// is sent, and a topic made again under the name is exported anew.
    pub(crate) name_removed: AtomicBool,
}

/// The messages read and not yet put, oldest first, and their bytes.
#[derive(Default)]
struct Buffer {
    messages: VecDeque<(u64, Vec<u8>)>,
    bytes: usize,
}

/// The buffer between the two threads. The sender looks at `queued` for a moment before
/// it sleeps (a wake-up costs far more than the message), and the reader wakes it only if
/// it sleeps.
struct Queue {
    buffer: Mutex<Buffer>,
    ready: Condvar,
    /// How many messages the buffer holds (read without the lock).
    queued: AtomicUsize,
    /// Whether the sender sleeps on `ready` (set and cleared under the lock).
    asleep: AtomicBool,
}

/// How many times the sender looks at an empty buffer before it sleeps (some
/// microseconds). Longer spins cost more than they save on a machine with few cores: in
/// report section 9, 20,000 made a 64 B message through two bridges 5.6× Zenoh's own
/// latency, 2,000 made it 1.6×, 256 1.25× and none 1.22× (but 82% of Zenoh's 1 MiB
/// throughput against 95% with 256).
const SENDER_SPINS: u32 = 256;

/// An export's lines about what keeps going wrong (puts that fail, reads that fail, the far
/// side subscribing and leaving), written at most one a [`SAMPLE_LINES`]: a link down, a
/// source whose memory is lost or a far side that subscribes in a loop must not flood the
/// log. The lines left out are counted in the next; the last one left out is written
/// once the spacing has passed ([`flush`](Spaced::flush)), so that the log ends on what
/// is so now (the far side subscribed, or gone).
///
/// [`SAMPLE_LINES`]: crate::import::SAMPLE_LINES
struct Spaced {
    log: Log,
    last: Mutex<Said>,
    /// Whether a line left out waits (looked at without the lock, on every message).
    pending: AtomicBool,
}

/// What a [`Spaced`] has written and left out.
#[derive(Default)]
struct Said {
    /// When a line was last written.
    at: Option<Instant>,
    /// How many were left out since, and the last of them.
    left_out: u64,
    pending: Option<String>,
}

impl Spaced {
    fn new(log: Log) -> Spaced {
        Spaced {
            log,
            last: Mutex::new(Said::default()),
            pending: AtomicBool::new(false),
        }
    }

    /// Writes `line`, or leaves it out (counted, and kept as the last left out) if one was
    /// written less than a spacing ago.
    fn say(&self, line: &str) {
        let mut said = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if said
            .at
            .is_some_and(|at| now.duration_since(at) < crate::import::SAMPLE_LINES)
        {
            said.left_out += 1;
            said.pending = Some(line.to_string());
            self.pending.store(true, Ordering::Relaxed);
            return;
        }
        self.write(&mut said, now, line);
    }

    /// Writes the last line left out, once the spacing has passed since the last written.
    fn flush(&self) {
        if !self.pending.load(Ordering::Relaxed) {
            return;
        }
        let mut said = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let due = said
            .at
            .is_none_or(|at| now.duration_since(at) >= crate::import::SAMPLE_LINES);
        if !due {
            return;
        }
        if let Some(line) = said.pending.take() {
            said.left_out = said.left_out.saturating_sub(1);
            self.write(&mut said, now, &line);
        }
    }

    fn write(&self, said: &mut Said, now: Instant, line: &str) {
        let left_out = std::mem::take(&mut said.left_out);
        said.pending = None;
        self.pending.store(false, Ordering::Relaxed);
        said.at = Some(now);
        match left_out {
            0 => (self.log)(line),
            n => (self.log)(&format!("{line} ({n} such line(s) left out before it)")),
        }
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running export: its threads end when its `stop` is set.
pub(crate) struct Export {
    pub(crate) counters: Arc<ExportCounters>,
    /// This export's own stop flag (an export ends alone when an import takes its topic
    /// over, and with the bridge).
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The buffer, for what is left in it when the threads have ended.
    queue: Arc<Queue>,
    /// Ended while the bridge runs, because the bridge imports into its topic now (its
    /// counters are final, and stay in the bridge's stats).
    pub(crate) ended_by_import: bool,
}

impl Export {
    /// Whether the export's topic lost its name and what it read is all sent: it can end.
    pub(crate) fn orphaned_and_sent(&self) -> bool {
        self.counters.name_removed.load(Ordering::Acquire)
            && self.queue.queued.load(Ordering::Acquire) == 0
    }

    /// Asks the export's threads to end, after the put they are making, without waiting
    /// for them.
    pub(crate) fn ask_to_end(&self) {
        self.stop.store(true, Ordering::Relaxed);
        // (Under the buffer's lock and let go: a sender that looked at the flag before the
        // store is waiting by now, and is woken.)
        drop(self.queue.lock());
        self.queue.ready.notify_all();
    }

    /// Whether the export's threads have all ended.
    pub(crate) fn ended(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Stops the export's reading: once this returns, nothing more is read from its
    /// source. A topic's reader (its first thread) is waited for: at most a look. A
    /// channel's one thread reads and puts: it is waited for at most a look too, long
    /// enough to end a receive it is in; if it runs on, it is in a put (of a message
    /// received before), after which it ends without receiving again. What runs on (a
    /// topic's sender, a channel's put), which Zenoh may hold up under congestion, is
    /// joined by [`join`](Export::join) later, so that an import's callback that ends an
    /// export does not hold up Zenoh's receiving thread.
    pub(crate) fn stop_reading(&mut self) {
        self.ask_to_end();
        match self.threads.len() {
            2 => {
                let _ = self.threads.remove(0).join();
            }
            1 => {
                let until = Instant::now() + 2 * STOP_CHECK;
                while !self.threads[0].is_finished() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(1));
                }
                if self.threads[0].is_finished() {
                    let _ = self.threads.remove(0).join();
                }
            }
            _ => {}
        }
    }

    /// Stops the export and waits for its threads (its counters stay). What the reader
    /// read after the sender's last look is counted as dropped.
    pub(crate) fn join(&mut self) {
        self.ask_to_end();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let mut buffer = self.queue.lock();
        let left = buffer.messages.len() as u64;
        buffer.messages.clear();
        buffer.bytes = 0;
        self.queue.queued.store(0, Ordering::Release);
        self.counters.dropped.fetch_add(left, Ordering::Relaxed);
    }
}

/// Whether anybody subscribes to the export's key on the far side: kept by Zenoh's
/// matching listener, and asked again at most once per `STOP_CHECK` while nobody does (a
/// change between the listener's start and the first answer is not missed for long). The
/// listener's word is newer than an answer asked for before it came: each change it makes
/// counts one more, and an answer is kept only if none came since it was asked for.
#[derive(Default)]
struct MatchState {
    /// The listener's changes so far, and what the last word (the listener's or an
    /// answer) said.
    said: Mutex<(u64, bool)>,
    /// The last word, for looks without the lock.
    matched: AtomicBool,
}

impl MatchState {
    /// The listener's word.
    fn heard(&self, matching: bool) {
        let mut said = self.said.lock().unwrap_or_else(|p| p.into_inner());
        *said = (said.0.wrapping_add(1), matching);
        self.matched.store(matching, Ordering::Release);
    }

    fn now(&self) -> bool {
        self.matched.load(Ordering::Acquire)
    }
}

struct Matching {
    state: Arc<MatchState>,
    last_asked: Option<Instant>,
}

impl Matching {
    fn now(&mut self, publisher: &zenoh::pubsub::Publisher<'_>) -> bool {
        if self.state.now() {
            return true;
        }
        let due = self.last_asked.is_none_or(|at| at.elapsed() >= STOP_CHECK);
        if due {
            self.last_asked = Some(Instant::now());
            let changes = self.state.said.lock().unwrap_or_else(|p| p.into_inner()).0;
            if let Ok(status) = publisher.matching_status().wait() {
                let mut said = self.state.said.lock().unwrap_or_else(|p| p.into_inner());
                if said.0 == changes {
                    said.1 = status.matching();
                    self.state
                        .matched
                        .store(status.matching(), Ordering::Release);
                }
            }
        }
        self.state.now()
    }
}

/// What an export reads: a topic, as one of its subscribers, or a channel, as its
/// receiver.
pub(crate) enum Source {
    Topic(Subscriber),
    Channel(Receiver),
}

/// Starts exporting `source` to `key`, until the export is joined (or the bridge stops:
/// `bridge_stop`).
pub(crate) fn start(
    session: &Session,
    source: Source,
    key: String,
    settings: &Settings,
    bridge_stop: &Arc<AtomicBool>,
    log: Log,
) -> Result<Export, zenoh::Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let source_name = match &source {
        Source::Topic(s) => s.name().to_string(),
        Source::Channel(r) => r.name().to_string(),
    };
    // Only other sessions' subscribers: this bridge's own imports take none of its samples,
    // and must not count as the far side subscribing (a channel's export would take its
    // messages out for nobody).
    let publisher = session
        .declare_publisher(key.clone())
        .allowed_destination(Locality::Remote)
        .congestion_control(if settings.reliable {
            CongestionControl::Block
        } else {
            CongestionControl::Drop
        })
        .wait()?;
    // Say when the far side subscribes, and when it is gone (a link down, a bridge
    // stopped): what the export puts meanwhile reaches nobody.
    let matched = Arc::new(MatchState::default());
    let matching_lines = Arc::new(Spaced::new(log.clone()));
    let matching_log = (key.clone(), matching_lines.clone(), matched.clone());
    publisher
        .matching_listener()
        .callback(move |status| {
            let (key, said, matched) = &matching_log;
            matched.heard(status.matching());
            if status.matching() {
                said.say(&format!("{key}: subscribed to on the far side"));
            } else {
                said.say(&format!("{key}: no subscriber on the far side any more"));
            }
        })
        .background()
        .wait()?;
    let counters = Arc::new(ExportCounters::default());
    let queue = Arc::new(Queue {
        buffer: Mutex::new(Buffer::default()),
        ready: Condvar::new(),
        queued: AtomicUsize::new(0),
        asleep: AtomicBool::new(false),
    });
    let putting = Putting {
        publisher,
        key,
        origin: settings.origin_of(&source_name).to_string(),
        counters: counters.clone(),
        sent: settings.sent.clone(),
        stop: stop.clone(),
        bridge_stop: bridge_stop.clone(),
        errors: Arc::new(Spaced::new(log)),
        matching_lines,
    };
    let threads = match source {
        Source::Channel(receiver) => {
            let name = receiver.name().clone();
            let matching = Matching {
                state: matched,
                last_asked: None,
            };
            vec![spawn(format!("export {name}"), move || {
                forward_channel(receiver, matching, &putting)
            })?]
        }
        Source::Topic(subscriber) => {
            let name = subscriber.name().clone();
            let reader = {
                let (queue, counters, stop, errors, matching_lines) = (
                    queue.clone(),
                    counters.clone(),
                    stop.clone(),
                    putting.errors.clone(),
                    putting.matching_lines.clone(),
                );
                let limits = (settings.buffer_messages, settings.buffer_bytes);
                spawn(format!("export {name}"), move || {
                    let reading = Reading {
                        queue: &queue,
                        limits,
                        counters: &counters,
                        stop: &stop,
                        errors: &errors,
                        matching_lines: &matching_lines,
                    };
                    reading.run(subscriber)
                })?
            };
            let queue = queue.clone();
            let sender = spawn(format!("put {}", putting.key), move || {
                while let Some((seq, message)) = next(&queue, &putting.stop, &putting.counters) {
                    if let Err(e) = putting.put(seq, message) {
                        putting.failed(&name, &e);
                        putting.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            match sender {
                Ok(sender) => vec![reader, sender],
                Err(e) => {
                    // The reader must not run on alone.
                    stop.store(true, Ordering::Relaxed);
                    let _ = reader.join();
                    return Err(e);
                }
            }
        }
    };
    Ok(Export {
        counters,
        stop,
        threads,
        queue,
        ended_by_import: false,
    })
}

/// Starts a thread of the export's.
fn spawn(
    name: String,
    run: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, zenoh::Error> {
    std::thread::Builder::new()
        .name(name)
        .spawn(run)
        .map_err(|e| zenoh::Error::from(e.to_string()))
}

/// What puts an export's messages to Zenoh.
struct Putting {
    publisher: zenoh::pubsub::Publisher<'static>,
    key: String,
    origin: String,
    counters: Arc<ExportCounters>,
    /// The bridge's note of when it last sent.
    sent: Arc<crate::LastSent>,
    stop: Arc<AtomicBool>,
    /// Set when the bridge stops, before its session closes (which fails the puts).
    bridge_stop: Arc<AtomicBool>,
    /// The export's lines about failures (its reader's too), and the log they go to.
    errors: Arc<Spaced>,
    /// The lines about the far side subscribing and leaving (written by Zenoh's listener,
    /// the last left out by the export's loops).
    matching_lines: Arc<Spaced>,
}

impl Putting {
    /// Puts message `seq` of `name` to Zenoh: whether it went.
    fn put(&self, seq: u64, message: Vec<u8>) -> zenoh::Result<()> {
        let put = self
            .publisher
            .put(message)
            .attachment(wire::attachment(seq, &self.origin))
            .wait();
        if put.is_ok() {
            self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
            self.sent.now();
        }
        put
    }

    /// Logs a put that failed (unless the bridge stops: its session closed first).
    fn failed(&self, name: &Name, e: &zenoh::Error) {
        if !self.stopping() {
            self.errors.say(&format!(
                "putting a message of {name} to {} failed: {e}",
                self.key
            ));
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.bridge_stop.load(Ordering::Relaxed)
    }
}

/// A channel's export (see the module's docs): each message is put while it is held, and
/// received only once the put went well. Its messages are numbered by the export (a
/// channel's have no sequence numbers).
fn forward_channel(mut receiver: Receiver, mut matching: Matching, putting: &Putting) {
    let name = receiver.name().clone();
    let mut seq = 0;
    while !putting.stopping() {
        putting.matching_lines.flush();
        if !matching.now(&putting.publisher) {
            // Held in the channel until the far side comes.
            std::thread::sleep(STOP_CHECK.min(Duration::from_millis(10)));
            continue;
        }
        let error = match receiver.recv_timeout(STOP_CHECK) {
            Ok(message) => {
                if forward_message(message, seq, &name, &mut matching, putting) {
                    seq += 1;
                }
                continue;
            }
            Err(e) => e,
        };
        let removed = || receiver.name_removed();
        if ends_after(error, &name, &removed, &putting.counters, &putting.errors) {
            break;
        }
    }
}

/// Puts a channel's message `seq`, received only if the put went well (then `true`);
/// otherwise left in the channel.
fn forward_message(
    message: RecvSlot<'_>,
    seq: u64,
    name: &Name,
    matching: &mut Matching,
    putting: &Putting,
) -> bool {
    let bytes = match message.to_vec() {
        Ok(bytes) => bytes,
        Err(e) => {
            // The channel's memory is lost (its entry cut short): the message cannot be
            // read, now or later.
            putting.errors.say(&format!("reading {name}: {e}"));
            putting.counters.dropped.fetch_add(1, Ordering::Relaxed);
            drop(message);
            std::thread::sleep(STOP_CHECK);
            return false;
        }
    };
    // The far side may have gone while this waited for the message.
    if !matching.now(&putting.publisher) || putting.stopping() {
        message.leave();
        return false;
    }
    // (With a reliable link, a put waits while Zenoh's queue is full: the channel's
    // sender waits for room meanwhile, as for a slow receiver.)
    match putting.put(seq, bytes) {
        Ok(()) => {
            drop(message);
            true
        }
        Err(e) => {
            // Left for the next try, or the channel's next receiver.
            putting.failed(name, &e);
            message.leave();
            if !putting.stopping() {
                std::thread::sleep(STOP_CHECK);
            }
            false
        }
    }
}

/// What a failed receive of an export's means: whether the export ends (`removed`: its
/// name was removed, looked at when the source is idle or its publisher gone), after the
/// error is counted, logged or waited out.
fn ends_after(
    e: Error,
    name: &Name,
    removed: &dyn Fn() -> bool,
    counters: &ExportCounters,
    errors: &Spaced,
) -> bool {
    let removed = || {
        if !removed() {
            return false;
        }
        (errors.log)(&format!(
            "{name} was removed: its export ends (a topic made again under the name is \
             exported anew)"
        ));
        counters.name_removed.store(true, Ordering::Release);
        true
    };
    match e {
        Error::Timeout { .. } => removed(),
        Error::Lagged { missed, .. } => {
            counters.lagged.fetch_add(missed, Ordering::Relaxed);
            false
        }
        Error::Disconnected { .. } => {
            // The publisher (or sender) is gone: a new one may come; look again in a
            // moment.
            if removed() {
                return true;
            }
            std::thread::sleep(STOP_CHECK);
            false
        }
        e => {
            errors.say(&format!("reading {name}: {e}"));
            std::thread::sleep(STOP_CHECK);
            false
        }
    }
}

/// The reader's share of a topic's export.
struct Reading<'a> {
    queue: &'a Queue,
    /// The buffer's limits (messages, bytes): past them, the oldest message is dropped.
    limits: (usize, usize),
    counters: &'a ExportCounters,
    stop: &'a AtomicBool,
    errors: &'a Spaced,
    /// The export's lines about the far side, whose last left out it writes in time.
    matching_lines: &'a Spaced,
}

impl Reading<'_> {
    /// Every message of the topic into the buffer, until the export stops.
    fn run(&self, mut subscriber: Subscriber) {
        let name = subscriber.name().clone();
        while !self.stop.load(Ordering::Relaxed) {
            self.matching_lines.flush();
            let read = subscriber
                .recv_timeout(STOP_CHECK)
                .map(|sample| (sample.seq(), sample.to_vec()));
            match read {
                Ok((seq, Ok(bytes))) => self.push(seq, bytes),
                Ok((_, Err(e))) => {
                    // Received, and not to be read (its memory lost): dropped, as a
                    // channel's message is.
                    self.errors.say(&format!("reading {name}: {e}"));
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    // (The name is looked at while the reader is idle, a system call: a
                    // topic still published to is read on, orphan or not.)
                    let removed = || subscriber.name_removed();
                    if ends_after(e, &name, &removed, self.counters, self.errors) {
                        break;
                    }
                }
            }
        }
        self.queue.ready.notify_all();
    }

    /// Puts a message into the buffer, dropping the oldest past the limits, and wakes
    /// the sender if it sleeps.
    fn push(&self, seq: u64, bytes: Vec<u8>) {
        let (max_messages, max_bytes) = self.limits;
        let mut buffer = self.queue.lock();
        buffer.bytes += bytes.len();
        buffer.messages.push_back((seq, bytes));
        while buffer.messages.len() > max_messages
            || (buffer.bytes > max_bytes && buffer.messages.len() > 1)
        {
            if let Some((_, old)) = buffer.messages.pop_front() {
                buffer.bytes -= old.len();
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.queue
            .queued
            .store(buffer.messages.len(), Ordering::Release);
        let asleep = self.queue.asleep.load(Ordering::Relaxed);
        drop(buffer);
        if asleep {
            self.queue.ready.notify_one();
        }
    }
}

/// The next message to put, waiting for one; `None` once the bridge stops.
fn next(queue: &Queue, stop: &AtomicBool, counters: &ExportCounters) -> Option<(u64, Vec<u8>)> {
    for _ in 0..SENDER_SPINS {
        if queue.queued.load(Ordering::Acquire) > 0 || stop.load(Ordering::Relaxed) {
            break;
        }
        std::hint::spin_loop();
    }
    let mut buffer = queue.lock();
    loop {
        if stop.load(Ordering::Relaxed) {
            // What the buffer still holds is never sent: counted as dropped.
            let left = buffer.messages.len() as u64;
            buffer.messages.clear();
            buffer.bytes = 0;
            queue.queued.store(0, Ordering::Release);
            counters.dropped.fetch_add(left, Ordering::Relaxed);
            return None;
        }
        if let Some((seq, message)) = buffer.messages.pop_front() {
            buffer.bytes -= message.len();
            queue.queued.store(buffer.messages.len(), Ordering::Release);
            return Some((seq, message));
        }
        // Under the lock: the reader, which pushes under it too, sees this before it
        // decides whether to wake the sender.
        queue.asleep.store(true, Ordering::Relaxed);
        buffer = queue
            .ready
            .wait_timeout(buffer, STOP_CHECK)
            .unwrap_or_else(|p| p.into_inner())
            .0;
        queue.asleep.store(false, Ordering::Relaxed);
    }
}

/// Opens what the export of `name` reads: a subscriber of its topic, or the receiver of
/// its channel. The subscriber starts from now on, or, for a topic made while the bridge
/// runs (`made_since_start`), from the start of its history: the far side gets what is
/// published while the bridge runs.
pub(crate) fn subscribe(name: &Name, made_since_start: bool) -> filemap::Result<Source> {
    let subscribed = if made_since_start {
        Subscriber::open(name.clone())
    } else {
        Subscriber::open_latest(name.clone())
    };
    match subscribed {
        Ok(subscriber) => Ok(Source::Topic(subscriber)),
        Err(filemap::Error::KindMismatch {
            found: filemap::Kind::Channel,
            ..
        }) => Ok(Source::Channel(Receiver::open(name.clone())?)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines within a spacing of the last written are left out and counted; the last one
    /// left out is written once the spacing has passed, so the log ends on what is so now.
    #[test]
    fn the_last_line_left_out_is_written_in_time() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let log: Log = {
            let lines = lines.clone();
            Arc::new(move |line: &str| lines.lock().unwrap().push(line.to_string()))
        };
        let spaced = Spaced::new(log);
        spaced.say("subscribed");
        spaced.say("gone");
        spaced.say("subscribed");
        spaced.say("gone");
        spaced.flush(); // too soon
        assert_eq!(*lines.lock().unwrap(), ["subscribed"]);
        std::thread::sleep(crate::import::SAMPLE_LINES + Duration::from_millis(50));
        spaced.flush();
        assert_eq!(
            *lines.lock().unwrap(),
            ["subscribed", "gone (2 such line(s) left out before it)"]
        );
        spaced.flush(); // nothing more waits
        assert_eq!(lines.lock().unwrap().len(), 2);
    }
}
