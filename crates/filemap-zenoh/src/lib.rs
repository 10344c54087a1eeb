//! # filemap-zenoh
//!
//! Bridges filemap topics between machines over [Zenoh](https://zenoh.io), the
//! publish-subscribe protocol ROS 2 and iceoryx2's gateway use: run a [`Bridge`] on each
//! host; one exports local topics to Zenoh keys (`filemap/NAME`), the other imports those
//! keys into local topics of the same name. `filemap bridge` is this crate from the shell.
//!
//! - **What travels**: each message's bytes as the sample's payload, untouched; the
//!   message's sequence number in its topic and the exporting bridge's id in the sample's
//!   attachment ([`wire`]), so that the importing side tells gaps. A plain Zenoh program
//!   in any language can publish into and subscribe to filemap topics.
//! - **Order and reliability**: each topic's messages are put in order on one Zenoh
//!   publisher; reliable by default (Zenoh's TCP transport and `CongestionControl::Block`),
//!   best-effort on request (`CongestionControl::Drop`).
//! - **Faults**: a topic's export reads its topic into a bounded buffer and never waits for
//!   the network, so a link that stops answering never holds up the local publisher; past
//!   the bound, the oldest message is dropped and counted. (A channel's export takes each
//!   message only once its put went well: its senders wait, as for a slow receiver.)
//!   Zenoh reconnects when the link comes back. The importing side counts the gaps in the
//!   sequence numbers of each exporting stream it follows (the most recent 4,096 streams;
//!   a number lower than expected, or more than 2^40 ahead, is taken for a stream begun
//!   anew, not a gap: a channel export numbers from 0 each time its bridge starts, so what
//!   a stop lost is not counted).
//! - **No loops**: an import only takes other sessions' samples, and a bridge does not
//!   export the topics it imports into.
//! - **Zenoh settings**: peer mode with `listen` and `connect` endpoints, multicast
//!   scouting off unless asked for, or a Zenoh configuration file (for a `zenohd` router
//!   deployment: connect to the router, in client or peer mode, as the file says).
//!
//! ```no_run
//! use filemap_zenoh::Bridge;
//! // Host A: export the local topic "temperature", listen for the other host.
//! let a = Bridge::builder()
//!     .export("temperature")
//!     .listen("tcp/0.0.0.0:7447")
//!     .start()?;
//! // Host B: import it, connecting to host A.
//! let b = Bridge::builder()
//!     .import("temperature")
//!     .connect("tcp/192.0.2.1:7447")
//!     .start()?;
//! # Ok::<(), filemap_zenoh::BridgeError>(())
//! ```

mod builder;
mod export;
mod import;
pub mod keys;
mod replies;
mod scan;
mod service;
mod status;
pub mod wire;

pub use builder::BridgeBuilder;
pub(crate) use builder::Settings;
pub use status::{BridgeStatus, STATUS_PREFIX, read_status};

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use filemap::Name;
use zenoh::Wait;

/// Where the bridge's log lines go.
pub(crate) type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// `line` with its control characters escaped (`\n`, `\u{1b}`, ...), and the characters
/// some terminals and viewers take as line breaks or as turning text around (U+2028,
/// U+2029, the bidirectional overrides and isolates): one line, read as written, whatever
/// the network put in it.
pub(crate) fn escape_controls(line: &str) -> std::borrow::Cow<'_, str> {
    let steers = |c: char| {
        c.is_control()
            || matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                    | '\u{200e}' | '\u{200f}' | '\u{061c}'
            )
    };
    if !line.chars().any(steers) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        if steers(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// How often the bridge looks for new local topics that an export pattern matches.
const SCAN_INTERVAL: Duration = Duration::from_millis(500);
/// The longest query timeout (about 31 years; the command line's longest duration).
const MAX_QUERY_TIMEOUT: Duration = Duration::from_secs(1_000_000_000);

/// What went wrong starting a bridge. More kinds may be added: match with a wildcard arm.
///
/// ```
/// use filemap_zenoh::BridgeError;
/// let bad_name = filemap::sync::NamedEvent::open("").unwrap_err();
/// let e = BridgeError::Filemap(bad_name);
/// assert!(std::error::Error::source(&e).is_some()); // the filemap error underneath
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BridgeError {
    /// Zenoh refused a setting or could not open the session.
    Zenoh(String),
    /// A local object could not be opened.
    Filemap(filemap::Error),
    /// A setting is not valid.
    Setting(String),
    /// The Zenoh configuration file could not be read, or is not a valid configuration.
    Config(String),
    /// The system refused something the bridge needs to run (a thread, with what the
    /// system said).
    System(String),
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeError::Zenoh(e) => write!(f, "zenoh: {e}"),
            BridgeError::Filemap(e) => write!(f, "{e}"),
            BridgeError::Setting(e) => write!(f, "{e}"),
            BridgeError::Config(e) => write!(f, "{e}"),
            BridgeError::System(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BridgeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BridgeError::Filemap(e) => Some(e),
            _ => None,
        }
    }
}

impl From<filemap::Error> for BridgeError {
    fn from(e: filemap::Error) -> Self {
        BridgeError::Filemap(e)
    }
}

pub(crate) fn zenoh_error(e: impl fmt::Display) -> BridgeError {
    BridgeError::Zenoh(plain(&e))
}

/// A Zenoh error's message without where in Zenoh's source it was made (" at
/// /path/to/file.rs:123."), which tells a user nothing.
pub(crate) fn plain(e: &impl fmt::Display) -> String {
    let text = e.to_string();
    match text.find(" at /").or_else(|| text.find(" at C:\\")) {
        Some(at) if text[at..].contains(".rs:") => text[..at].trim_end_matches('.').to_string(),
        _ => text,
    }
}

/// A running bridge (see the crate's docs); stops when dropped or [`stop`](Bridge::stop)ped.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::topic::{Publisher, TopicOptions};
/// use filemap_zenoh::Bridge;
/// // A local topic, exported on the loopback interface (the other host would import it).
/// let mut publisher = Publisher::create_or_open("temperature-bridged", &TopicOptions::new())?;
/// let (lines, log) = std::sync::mpsc::channel();
/// let bridge = Bridge::builder()
///     .export("temperature-bridged")
///     .listen("tcp/127.0.0.1:0")
///     .start_with_log(move |line| {
///         let _ = lines.send(line.to_string());
///     })?;
/// assert!(!bridge.id().is_empty());
/// // Once the bridge has found the topic (its first look says so in the log)...
/// let found = (0..600).any(|_| {
///     log.recv_timeout(std::time::Duration::from_millis(100))
///         .is_ok_and(|line| line.starts_with("exporting temperature"))
/// });
/// assert!(found);
/// publisher.publish(b"21.5")?;
/// // ...it has counters for it: messages put to Zenoh, dropped, missed.
/// let stats = bridge.stats();
/// assert_eq!(stats.len(), 1);
/// assert_eq!((stats[0].name.as_str(), stats[0].exported), ("temperature-bridged", true));
/// bridge.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Bridge {
    stop: Arc<AtomicBool>,
    exports: Arc<Mutex<HashMap<String, export::Export>>>,
    imported: import::Imported,
    imports: Vec<import::Import>,
    services: Vec<service::ServiceBridge>,
    scanner: Option<JoinHandle<()>>,
    session: Option<zenoh::Session>,
    /// When the exports last put and the services last replied (see `LINGER`).
    sent: Arc<LastSent>,
    origin: String,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("origin", &self.origin)
            .finish()
    }
}

///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use std::time::Duration;
/// use filemap::topic::{Publisher, TopicOptions};
/// use filemap_zenoh::Bridge;
///
/// let _publisher = Publisher::create_or_open("temperature-stats", &TopicOptions::new())?;
/// let (lines, log) = std::sync::mpsc::channel();
/// let bridge = Bridge::builder()
///     .export("temperature-stats")
///     .listen("tcp/127.0.0.1:0")
///     .start_with_log(move |line| {
///         let _ = lines.send(line.to_string());
///     })?;
/// // Until the bridge's first look for local topics has found this one.
/// let found = (0..600).any(|_| {
///     log.recv_timeout(Duration::from_millis(100))
///         .is_ok_and(|line| line.starts_with("exporting temperature"))
/// });
/// assert!(found);
/// let stats = bridge.stop();
/// let topic = &stats[0];
/// assert_eq!((topic.name.as_str(), topic.exported, topic.ended), ("temperature-stats", true, false));
/// // Nothing was published.
/// assert_eq!((topic.messages, topic.dropped, topic.missed), (0, 0, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
/// One topic's counters, as [`Bridge::stats`] reports them. More fields may be added.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicStats {
    /// The local topic.
    pub name: String,
    /// Exported (true) or imported (false).
    pub exported: bool,
    /// Messages put to Zenoh (exports) or published locally (imports).
    pub messages: u64,
    /// Exports: messages dropped because the buffer was full; imports: samples that could
    /// not be published locally.
    pub dropped: u64,
    /// Exports: messages the topic overwrote before the bridge read them; imports:
    /// messages missing between those received (the gaps reported).
    pub missed: u64,
    /// An export that ended while the bridge ran, because the bridge imports into its
    /// topic now (so that what comes in is never sent back out): its counters are final.
    /// The topic has an import row of its own.
    pub ended: bool,
}

impl Bridge {
    /// A builder with the defaults: prefix `filemap`, peer mode, no multicast scouting,
    /// reliable.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap_zenoh::Bridge;
    /// let (lines, log) = std::sync::mpsc::channel();
    /// let bridge = Bridge::builder()
    ///     .import_service("calc")
    ///     .listen("tcp/127.0.0.1:0")
    ///     .start_with_log(move |line| {
    ///         let _ = lines.send(line.to_string());
    ///     })?;
    /// // The default prefix: the service's key is `filemap/calc`.
    /// assert!(log.try_iter().any(|line| line == "importing the service filemap/calc into calc"));
    /// bridge.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> BridgeBuilder {
        BridgeBuilder {
            settings: Settings {
                prefix: "filemap".into(),
                reliable: true,
                buffer_messages: 10_000,
                buffer_bytes: 64 << 20,
                max_message: 64 << 20,
                topic_capacity: 1 << 20,
                max_imported: 256,
                query_timeout: Duration::from_secs(10),
                origin: origin_id(&filemap::namespace::identity()),
                global_origin: origin_id(&filemap::namespace::global_identity()),
                sent: Arc::default(),
            },
            exports: Vec::new(),
            imports: Vec::new(),
            export_services: Vec::new(),
            import_services: Vec::new(),
            listen: Vec::new(),
            connect: Vec::new(),
            config_file: None,
            multicast: false,
        }
    }

    fn start(builder: BridgeBuilder, log: Log) -> Result<Bridge, BridgeError> {
        if builder.exports.is_empty()
            && builder.imports.is_empty()
            && builder.export_services.is_empty()
            && builder.import_services.is_empty()
        {
            return Err(BridgeError::Setting(
                "nothing to bridge: give at least one export or import".into(),
            ));
        }
        if builder.settings.buffer_messages == 0 || builder.settings.buffer_bytes == 0 {
            return Err(BridgeError::Setting(format!(
                "an export's buffer must hold at least 1 message and 1 byte, not {} messages \
                 and {} bytes",
                builder.settings.buffer_messages, builder.settings.buffer_bytes
            )));
        }
        if builder.settings.max_message == 0 {
            return Err(BridgeError::Setting(
                "the largest message taken from Zenoh must be at least 1 byte, not 0".into(),
            ));
        }
        let capacity = builder.settings.topic_capacity;
        if capacity == 0 || capacity > filemap::topic::MAX_CAPACITY {
            return Err(BridgeError::Setting(format!(
                "an imported topic's capacity must be 1 byte to 1 TiB ({} bytes), not \
                 {capacity} bytes",
                filemap::topic::MAX_CAPACITY
            )));
        }
        if builder.settings.max_imported == 0 {
            return Err(BridgeError::Setting(
                "the imports must be let hold at least 1 topic open, not 0".into(),
            ));
        }
        let query_timeout = builder.settings.query_timeout;
        if query_timeout.is_zero() || query_timeout > MAX_QUERY_TIMEOUT {
            return Err(BridgeError::Setting(format!(
                "the query timeout must be more than zero and at most {}, not {}",
                filemap::HumanDuration(MAX_QUERY_TIMEOUT),
                filemap::HumanDuration(query_timeout)
            )));
        }
        if builder.settings.prefix.split('/').any(str::is_empty)
            || builder.settings.prefix.contains(['*', '$', '#', '?'])
        {
            return Err(BridgeError::Setting(format!(
                "prefix {:?} is not a Zenoh key chunk",
                builder.settings.prefix
            )));
        }
        for pattern in builder.exports.iter().chain(&builder.imports) {
            Name::new(pattern.replace(['*', '?'], "x").as_str())?;
            // A pattern matches this session's (`Local\`) topics only, by their names
            // without the scope: one written with a scope would never match anything.
            if keys::is_pattern(pattern) && pattern.contains('\\') {
                return Err(BridgeError::Setting(format!(
                    "pattern {pattern:?} names a scope: patterns match this session's topics, \
                     written without one (a Global\\ topic is bridged by its full name)"
                )));
            }
        }
        for name in builder
            .export_services
            .iter()
            .chain(&builder.import_services)
        {
            if keys::is_pattern(name) {
                return Err(BridgeError::Setting(format!(
                    "service {name:?}: services are bridged by their full names"
                )));
            }
            Name::new(name.as_str())?;
        }
        // One bridge that exports a service and imports it too would be the local server
        // of what it exports: each request would go round through it for ever.
        if let Some(both) =
            (builder.export_services.iter()).find(|n| builder.import_services.contains(n))
        {
            return Err(BridgeError::Setting(format!(
                "service {both:?} is both exported and imported: a bridge serves an imported \
                 service itself, so it would export its own import"
            )));
        }
        let config = builder.zenoh_config()?;
        let session = zenoh::open(config).wait().map_err(zenoh_error)?;
        let mut settings = builder.settings.clone();
        // (This bridge's own: a builder cloned and started twice makes two.)
        settings.sent = Arc::default();
        // Made as it goes: a part that fails to start drops it, which stops every part
        // started before (their threads end, the session closes).
        let mut bridge = Bridge {
            stop: Arc::new(AtomicBool::new(false)),
            exports: Arc::default(),
            imported: Arc::default(),
            imports: Vec::new(),
            services: Vec::new(),
            scanner: None,
            session: Some(session.clone()),
            origin: builder.settings.origin.clone(),
            sent: settings.sent.clone(),
        };
        let stop = bridge.stop.clone();
        let shared = import::Shared {
            exports: bridge.exports.clone(),
            imported: bridge.imported.clone(),
            open: Arc::default(),
            stop: stop.clone(),
        };
        for pattern in &builder.imports {
            bridge.imports.push(
                import::start(
                    &session,
                    pattern.clone(),
                    &settings,
                    shared.clone(),
                    log.clone(),
                )
                .map_err(zenoh_error)?,
            );
        }
        for name in &builder.export_services {
            bridge.services.push(service::export(
                &session,
                name.clone(),
                &settings,
                stop.clone(),
                log.clone(),
            )?);
        }
        for name in &builder.import_services {
            bridge.services.push(service::import(
                &session,
                name.clone(),
                &settings,
                stop.clone(),
                log.clone(),
            )?);
        }
        let scanner = {
            let (session, exports, imported, stop) = (
                session.clone(),
                bridge.exports.clone(),
                bridge.imported.clone(),
                stop.clone(),
            );
            let patterns = builder.exports.clone();
            // The counters where `filemap ls` and `info` find them (none if the mapping
            // cannot be made: the log says so).
            let status = match status::StatusWriter::create() {
                Ok(writer) => Some(writer),
                Err(e) => {
                    log(&format!("no status for filemap ls and info: {e}"));
                    None
                }
            };
            let id = settings.origin.clone();
            std::thread::Builder::new()
                .name("export scan".into())
                .spawn(move || {
                    let mut memory = scan::ScanMemory::default();
                    let mut status_failed = false;
                    while !stop.load(Ordering::Relaxed) {
                        let scanning = scan::Scanning {
                            session: &session,
                            settings: &settings,
                            exports: &exports,
                            imported: &imported,
                            stop: &stop,
                            log: &log,
                        };
                        scan::scan(&patterns, &scanning, &mut memory);
                        if let Some(writer) = &status {
                            let topics = collect_stats(&exports, &imported);
                            let written = writer.write(&BridgeStatus {
                                id: id.clone(),
                                topics,
                            });
                            // (Said once: another process may have cut the mapping short.)
                            if let Err(e) = written {
                                if !std::mem::replace(&mut status_failed, true) {
                                    log(&format!("writing the status for filemap ls: {e}"));
                                }
                            }
                        }
                        // (In slices: a stopping bridge waits for this thread.)
                        let next = std::time::Instant::now() + SCAN_INTERVAL;
                        while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < next {
                            std::thread::sleep(SCAN_INTERVAL / 50);
                        }
                    }
                })
                .map_err(|e| {
                    BridgeError::System(format!("starting the bridge's scanner thread: {e}"))
                })?
        };
        bridge.scanner = Some(scanner);
        Ok(bridge)
    }

    /// This bridge's id (in the attachments of what it exports): the host's name and
    /// [`filemap::namespace::identity`]. What it exports of a `Global\` topic carries the
    /// id of the host's `Global\` names instead ([`filemap::namespace::global_identity`]):
    /// the same on Linux; on Windows one for every session, so that the bridges of two
    /// sessions, which share those names, never pass each other's samples round.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap_zenoh::Bridge;
    /// let bridge = Bridge::builder()
    ///     .export("temperature")
    ///     .listen("tcp/127.0.0.1:0")
    ///     .start()?;
    /// let id = bridge.id().to_string();
    /// assert!(!id.is_empty());
    /// #[cfg(unix)] // the host's name and the namespace's directory (with its identity)
    /// assert!(id.contains(&format!(
    ///     ":{}#",
    ///     std::fs::canonicalize(filemap::namespace::directory())?.display()
    /// )));
    /// bridge.stop();
    /// // The same for the bridge started again (the far side goes on with its sequence).
    /// let again = Bridge::builder()
    ///     .export("temperature")
    ///     .listen("tcp/127.0.0.1:0")
    ///     .start()?;
    /// assert_eq!(again.id(), id);
    /// again.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn id(&self) -> &str {
        &self.origin
    }

    /// Each bridged topic's counters, exports first, by name. An export that ended because
    /// this bridge imports into its topic now keeps its row, [`ended`](TopicStats::ended).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::time::Duration;
    /// use filemap::topic::{Publisher, TopicOptions};
    /// use filemap_zenoh::Bridge;
    ///
    /// let _temperature = Publisher::create_or_open("temperature-listed", &TopicOptions::new())?;
    /// let _humidity = Publisher::create_or_open("humidity", &TopicOptions::new())?;
    /// let (lines, log) = std::sync::mpsc::channel();
    /// let bridge = Bridge::builder()
    ///     .export("*")
    ///     .listen("tcp/127.0.0.1:0")
    ///     .start_with_log(move |line| {
    ///         let _ = lines.send(line.to_string());
    ///     })?;
    /// // Until the bridge's first look for local topics has found both.
    /// let mut found = 0;
    /// for _ in 0..600 {
    ///     if found == 2 {
    ///         break;
    ///     }
    ///     if log
    ///         .recv_timeout(Duration::from_millis(100))
    ///         .is_ok_and(|line| line.starts_with("exporting "))
    ///     {
    ///         found += 1;
    ///     }
    /// }
    /// let names: Vec<String> = bridge.stats().into_iter().map(|topic| topic.name).collect();
    /// assert_eq!(names, ["humidity", "temperature-listed"]);
    /// bridge.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Vec<TopicStats> {
        collect_stats(&self.exports, &self.imported)
    }

    /// Stops the bridge: its threads end, and its Zenoh session closes. Each bridged
    /// topic's final counters (what a topic's export still held when it stopped counts as
    /// dropped; a channel's export leaves the message it has not put in the channel).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::time::Duration;
    /// use filemap::service::{Server, ServiceOptions};
    /// use filemap::topic::{Publisher, TopicOptions};
    /// use filemap_zenoh::Bridge;
    ///
    /// let _publisher = Publisher::create_or_open("temperature-stopped", &TopicOptions::new())?;
    /// let (lines, log) = std::sync::mpsc::channel();
    /// let bridge = Bridge::builder()
    ///     .export("temperature-stopped")
    ///     .import_service("calc-stopped")
    ///     .listen("tcp/127.0.0.1:0")
    ///     .start_with_log(move |line| {
    ///         let _ = lines.send(line.to_string());
    ///     })?;
    /// let found = (0..600).any(|_| {
    ///     log.recv_timeout(Duration::from_millis(100))
    ///         .is_ok_and(|line| line.starts_with("exporting temperature"))
    /// });
    /// assert!(found);
    /// let last = bridge.stop();
    /// assert_eq!(last.len(), 1);
    /// assert!(last[0].name == "temperature-stopped" && last[0].exported && last[0].messages == 0);
    /// // Its threads have ended: the service it served is free for another server.
    /// Server::create_or_open("calc-stopped", &ServiceOptions::new())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop(mut self) -> Vec<TopicStats> {
        self.shut_down();
        self.stats()
    }

    fn shut_down(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The exports and services end first, each after the put or reply it is making,
        // for at most `EXPORTS_STOP`: Zenoh's close takes what is put while it closes and
        // does not send it (a channel's message, received from the channel once put, was
        // lost so: many at each stop on a loaded machine). Then the session, at most
        // `LINGER` later: a put that waits for room in a stalled link's queue is let go
        // when it closes, so that stopping never waits for the network longer than
        // `EXPORTS_STOP` and `LINGER` together.
        // (An export the scanner starts from now on sees the stop under the exports' lock
        // and is joined by the scanner; a topic's may put its history meanwhile, as a put
        // made while the session closes: not sent.)
        lock(&self.exports)
            .values()
            .for_each(export::Export::ask_to_end);
        let deadline = std::time::Instant::now() + EXPORTS_STOP;
        while !self.senders_ended() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some(session) = self.session.take() {
            // Zenoh's close cuts short the sending of what its queue and the link still
            // hold for a far side that reads slower than the bridge sends (thousands of a
            // channel's messages, put and received, were lost so): the session stays open
            // until `LINGER` after the last put or reply.
            if let Some(since) = self.sent.since() {
                std::thread::sleep(LINGER.saturating_sub(since));
            }
            let _ = session.close().wait();
        }
        if let Some(scanner) = self.scanner.take() {
            let _ = scanner.join();
        }
        // (Kept, with their counters, for the final stats.)
        for export in lock(&self.exports).values_mut() {
            export.join();
        }
        for import in self.imports.drain(..) {
            import.join();
        }
        for service in self.services.drain(..) {
            service.join();
        }
    }
}

impl Bridge {
    /// Whether the scanner (which starts exports), every export's threads and every
    /// service's thread have ended: nothing puts to Zenoh, or replies, any more.
    fn senders_ended(&self) -> bool {
        self.scanner.as_ref().is_none_or(JoinHandle::is_finished)
            && lock(&self.exports).values().all(export::Export::ended)
            && self.services.iter().all(service::ServiceBridge::ended)
    }
}

/// How long a stopping bridge waits for its exports and services to end (each ends after
/// the put or reply it is making, and looks for the stop at least every
/// `export::STOP_CHECK`) before it closes its session anyway (a put waiting for room in a
/// stalled link's queue ends only then).
const EXPORTS_STOP: Duration = Duration::from_secs(1);

/// How long after its last put or reply a stopping bridge keeps its session open, for
/// Zenoh to send what it holds (its close cuts that short): what a far side has not
/// received by then is lost.
const LINGER: Duration = Duration::from_secs(1);

/// When a bridge last handed something to Zenoh to send (an export's put, a service's
/// reply), on a clock of the process's: nanoseconds since its first reading, plus one (0:
/// nothing yet).
#[derive(Debug, Default)]
pub(crate) struct LastSent(AtomicU64);

impl LastSent {
    /// Notes that something was handed to Zenoh now.
    pub(crate) fn now(&self) {
        self.0.fetch_max(sent_clock(), Ordering::Release);
    }

    /// How long ago something was last handed to Zenoh; `None` if nothing was.
    fn since(&self) -> Option<Duration> {
        match self.0.load(Ordering::Acquire) {
            0 => None,
            at => Some(Duration::from_nanos(sent_clock().saturating_sub(at))),
        }
    }
}

/// [`LastSent`]'s clock: nanoseconds since the process first read it, plus one (never 0).
fn sent_clock() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let nanos = START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Each bridged topic's counters, exports first, by name.
fn collect_stats(
    exports: &Mutex<HashMap<String, export::Export>>,
    imported: &import::Imported,
) -> Vec<TopicStats> {
    let mut stats: Vec<TopicStats> = lock(exports)
        .iter()
        .map(|(name, e)| TopicStats {
            name: name.clone(),
            exported: true,
            messages: e.counters.forwarded.load(Ordering::Relaxed),
            dropped: e.counters.dropped.load(Ordering::Relaxed),
            missed: e.counters.lagged.load(Ordering::Relaxed),
            ended: e.ended_by_import,
        })
        .collect();
    stats.extend(lock(imported).iter().map(|(name, c)| TopicStats {
        name: name.clone(),
        exported: false,
        messages: c.published.load(Ordering::Relaxed),
        dropped: c.refused.load(Ordering::Relaxed),
        missed: c.gaps.load(Ordering::Relaxed),
        ended: false,
    }));
    stats.sort_by(|a, b| (!a.exported, &a.name).cmp(&(!b.exported, &b.name)));
    stats
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A bridge's id for the names of `namespace` (`filemap::namespace::identity`, or its
/// global one): the host's name and the namespace's. The same for a bridge restarted on
/// that host, so that the far side counts what was missed meanwhile as a gap in the
/// sequence it already follows.
fn origin_id(namespace: &str) -> String {
    // (The kernel's name for the host first: /etc/hostname may be missing, in a container
    // say, and a fallback shared by every such host would make their ids one, and their
    // samples each other's own, which an import does not take.)
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    // The namespace as filemap tells namespaces apart: two shown under one path
    // (containers of one host name, each with a /dev/shm of its own) differ, one written
    // two ways (a symbolic link) does not; on Windows, two sessions of one user differ, but
    // not for their `Global\` names. An import drops what carries its own id.
    format!("{host}:{namespace}")
}

#[cfg(test)]
mod tests {
    use super::{Bridge, escape_controls};

    #[test]
    fn global_topics_carry_the_id_of_the_global_names() {
        let settings = &Bridge::builder().settings;
        assert_eq!(settings.origin_of("x"), settings.origin);
        assert_eq!(settings.origin_of("Global\\x"), settings.global_origin);
        #[cfg(unix)]
        assert_eq!(
            settings.origin, settings.global_origin,
            "one namespace directory"
        );
        #[cfg(windows)]
        assert!(settings.global_origin.ends_with(":\\BaseNamedObjects"));
    }

    #[test]
    fn a_pattern_with_a_scope_is_refused() {
        // (`Local\\` is the default scope, written or not: the builder takes it off.)
        for pattern in ["Global\\*", "Global\\sensors-?"] {
            for builder in [
                Bridge::builder().export(pattern),
                Bridge::builder().import(pattern),
            ] {
                assert!(
                    matches!(builder.start(), Err(super::BridgeError::Setting(_))),
                    "{pattern}"
                );
            }
        }
    }

    #[test]
    fn only_the_endpoints_given_are_used() {
        let gossip = |builder: super::BridgeBuilder| {
            let config = builder.zenoh_config().unwrap();
            config.get_json("scouting/gossip/enabled").unwrap()
        };
        assert_eq!(
            gossip(Bridge::builder().connect("tcp/127.0.0.1:7447")),
            "false"
        );
        assert_eq!(
            gossip(
                Bridge::builder()
                    .connect("tcp/127.0.0.1:7447")
                    .multicast_scouting(true)
            ),
            zenoh::Config::default()
                .get_json("scouting/gossip/enabled")
                .unwrap()
        );
    }

    #[test]
    fn the_largest_message_taken_is_the_bridges_bound() {
        let taken = |builder: super::BridgeBuilder| {
            let config = builder.zenoh_config().unwrap();
            config
                .get_json("transport/link/rx/max_message_size")
                .unwrap()
        };
        // Zenoh's own default would be 1 GiB.
        assert_eq!(taken(Bridge::builder()), (64usize << 20).to_string());
        assert_eq!(
            taken(Bridge::builder().max_message(1 << 20)),
            (1usize << 20).to_string()
        );
        // A configuration file's own value stays.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("zenoh.json5");
        std::fs::write(
            &file,
            "{ transport: { link: { rx: { max_message_size: 12345 } } } }",
        )
        .unwrap();
        assert_eq!(taken(Bridge::builder().config_file(&file)), "12345");
    }

    #[test]
    fn log_lines_are_escaped_to_one_line_read_as_written() {
        assert_eq!(escape_controls("plain text"), "plain text");
        assert_eq!(escape_controls("a\nb\u{1b}[2J"), "a\\nb\\u{1b}[2J");
        for steering in ['\u{2028}', '\u{2029}', '\u{202e}', '\u{2066}', '\u{2069}'] {
            let escaped = escape_controls(&format!("x{steering}y")).into_owned();
            assert!(!escaped.contains(steering), "{escaped:?}");
            assert!(
                escaped.starts_with("x\\u{") && escaped.ends_with("}y"),
                "{escaped:?}"
            );
        }
    }
}
