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
//! - **Faults**: an export reads its topic into a bounded buffer and never waits for the
//!   network, so a link that stops answering never holds up the local publisher; past the
//!   bound, the oldest message is dropped and counted. Zenoh reconnects when the link comes
//!   back. The importing side reports every gap in the sequence numbers it sees, exactly.
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

mod export;
mod import;
pub mod keys;
mod scan;
mod service;
mod status;
pub mod wire;

pub use status::{read_status, BridgeStatus, STATUS_PREFIX};

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
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
fn escape_controls(line: &str) -> std::borrow::Cow<'_, str> {
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

/// What is wrong with the port of an IP endpoint (`tcp/`, `udp/`, `tls/`, `quic/`, `ws/`)
/// whose address Zenoh's parser takes whole and only refuses when the session opens.
fn port_problem(endpoint: &str) -> Option<String> {
    let (protocol, rest) = endpoint.split_once('/')?;
    if !["tcp", "udp", "tls", "quic", "ws"].contains(&protocol) {
        return None;
    }
    let address = rest.split(['?', '#']).next().unwrap_or(rest);
    let port = match address.rsplit_once(':') {
        Some((_, port)) => port,
        None => return Some(format!("{address:?} has no port (host:port)")),
    };
    match port.parse::<u16>() {
        Ok(_) => None,
        Err(_) => Some(format!("{port:?} is not a port (0 to 65535)")),
    }
}

/// A Zenoh error's message without where in Zenoh's source it was made (" at
/// /path/to/file.rs:123."), which tells a user nothing.
fn plain(e: &impl fmt::Display) -> String {
    let text = e.to_string();
    match text.find(" at /").or_else(|| text.find(" at C:\\")) {
        Some(at) if text[at..].contains(".rs:") => text[..at].trim_end_matches('.').to_string(),
        _ => text,
    }
}

/// A configuration parser's message on one line: where (line and column) and what, from
/// the parsers' multi-line forms (a caret diagram, or a debug dump of a message and a
/// location); any other text with its lines joined.
fn one_line(text: &str) -> String {
    let between = |from: &str, to: &str| {
        let start = text.find(from)? + from.len();
        let end = start + text[start..].find(to)?;
        Some(text[start..end].trim())
    };
    if let (Some(at), Some(what)) = (
        between("--> ", "\n"),
        between("= ", "\n").or_else(|| text.find("= ").map(|i| text[i + 2..].trim())),
    ) {
        let at = at.replace(':', ", column ");
        return format!("line {at}: {what}");
    }
    if let (Some(what), Some(line), Some(column)) = (
        between("msg: \"", "\", location"),
        between("line: ", ","),
        between("column: ", " }"),
    ) {
        return format!("line {line}, column {column}: {what}");
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("; ")
}

/// The settings every part of a bridge reads.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) prefix: String,
    pub(crate) reliable: bool,
    pub(crate) buffer_messages: usize,
    pub(crate) buffer_bytes: usize,
    pub(crate) topic_capacity: u64,
    /// How long a query of a bridged service may take (see `BridgeBuilder::query_timeout`).
    pub(crate) query_timeout: Duration,
    /// This bridge's id, in the attachments of what it exports.
    pub(crate) origin: String,
    /// Its id for `Global\` topics, which every bridge of the host that sees the same
    /// `Global\` names shares (on Windows, every session's): an import drops what carries
    /// it, as it drops what carries `origin`.
    pub(crate) global_origin: String,
}

impl Settings {
    /// The id of what this bridge exports of `name` (a topic's name, as its key names it).
    pub(crate) fn origin_of(&self, name: &str) -> &str {
        if name.starts_with("Global\\") {
            &self.global_origin
        } else {
            &self.origin
        }
    }
}

/// Builds a [`Bridge`]: what to export and import, and how to reach the other hosts.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
/// use filemap_zenoh::{Bridge, BridgeError};
/// // Settings only: nothing opens until `start()`.
/// let builder = Bridge::builder().listen("tcp/127.0.0.1:0");
/// // Nothing to export or import: refused before any session opens.
/// assert!(matches!(builder.clone().start(), Err(BridgeError::Setting(_))));
/// let bridge = builder.export("temperature").start()?;
/// bridge.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until started"]
pub struct BridgeBuilder {
    settings: Settings,
    exports: Vec<String>,
    imports: Vec<String>,
    export_services: Vec<String>,
    import_services: Vec<String>,
    listen: Vec<String>,
    connect: Vec<String>,
    config_file: Option<PathBuf>,
    multicast: bool,
}

impl BridgeBuilder {
    /// Exports the local topic `name`, or every local topic the pattern matches (`*` any
    /// run of characters, `?` one), including those made after the bridge started. A
    /// pattern matches this session's topics (`Local\`, written without the scope); a
    /// `Global\` topic is exported by its full name.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use std::time::Duration;
    /// use filemap::topic::{Publisher, TopicOptions};
    /// use filemap_zenoh::{wire, Bridge};
    /// use zenoh::Wait;
    ///
    /// let mut publisher = Publisher::create_or_open("export-demo", &TopicOptions::new())?;
    /// let bridge = Bridge::builder()
    ///     .export("export-demo")
    ///     .listen("tcp/127.0.0.1:17101")
    ///     .start()?;
    /// // The far side: a plain Zenoh peer (in this process here) subscribed to the topic's key.
    /// let mut config = zenoh::Config::default();
    /// config.insert_json5("scouting/multicast/enabled", "false")?;
    /// config.insert_json5("listen/endpoints", "[]")?;
    /// config.insert_json5("connect/endpoints", r#"["tcp/127.0.0.1:17101"]"#)?;
    /// let far = zenoh::open(config).wait()?;
    /// let samples = far.declare_subscriber("filemap/export-demo").wait()?;
    /// // Published until one comes (what is put before the subscription is known reaches nobody).
    /// let mut sample = None;
    /// for _ in 0..600 {
    ///     publisher.publish(b"21.5")?;
    ///     sample = samples.recv_timeout(Duration::from_millis(100))?;
    ///     if sample.is_some() {
    ///         break;
    ///     }
    /// }
    /// let sample = sample.expect("no message came across");
    /// assert_eq!(sample.payload().to_bytes().as_ref(), b"21.5");
    /// // The attachment: the message's sequence number in its topic, and the bridge's id.
    /// let attachment = sample.attachment().expect("a bridge's sample has one").to_bytes();
    /// let (_seq, origin) = wire::decode(&attachment).expect("a bridge's attachment");
    /// assert_eq!(origin, bridge.id());
    /// let last = bridge.stop();
    /// assert!(last[0].name == "export-demo" && last[0].exported && last[0].messages >= 1);
    /// far.close().wait()?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn export(mut self, name: impl Into<String>) -> Self {
        self.exports.push(keys::scopeless(&name.into()));
        self
    }

    /// Imports the Zenoh key of `name` (or of every name the pattern matches) into the
    /// local topic of that name, made if it does not exist. A pattern matches names of
    /// this session only: a `Global\` topic is imported into by its full name.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use std::time::Duration;
    /// use filemap::topic::{Subscriber, TopicOptions};
    /// use filemap_zenoh::Bridge;
    /// use zenoh::Wait;
    ///
    /// // The far side: a plain Zenoh peer (in this process here) listening on the loopback
    /// // interface, which puts to the topic's key.
    /// let mut config = zenoh::Config::default();
    /// config.insert_json5("scouting/multicast/enabled", "false")?;
    /// config.insert_json5("listen/endpoints", r#"["tcp/127.0.0.1:17102"]"#)?;
    /// let far = zenoh::open(config).wait()?;
    /// let mut subscriber = Subscriber::create_or_open("import-demo", &TopicOptions::new())?;
    /// let bridge = Bridge::builder()
    ///     .import("import-demo")
    ///     .connect("tcp/127.0.0.1:17102")
    ///     .start()?;
    /// // Put until one comes (a put before the bridge's subscription is known reaches nobody).
    /// let mut received = None;
    /// for _ in 0..600 {
    ///     far.put("filemap/import-demo", "21.5").wait()?;
    ///     if let Ok(message) = subscriber.recv_timeout(Duration::from_millis(100)) {
    ///         received = Some(message.to_vec()?);
    ///         break;
    ///     }
    /// }
    /// assert_eq!(received.as_deref(), Some(&b"21.5"[..]));
    /// let last = bridge.stop();
    /// assert!(last[0].name == "import-demo" && !last[0].exported && last[0].messages >= 1);
    /// far.close().wait()?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn import(mut self, name: impl Into<String>) -> Self {
        self.imports.push(keys::scopeless(&name.into()));
        self
    }

    /// Exports the local service `name` (request-response): a Zenoh queryable on its key,
    /// which asks the local server and replies with each of its responses, in order.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use std::time::Duration;
    /// use filemap::service::{Server, ServiceOptions};
    /// use filemap_zenoh::Bridge;
    /// use zenoh::Wait;
    ///
    /// // The local service, whose server answers one request.
    /// let mut server = Server::create_or_open("calc-exported", &ServiceOptions::new())?;
    /// let serving = std::thread::spawn(move || -> filemap::Result<()> {
    ///     let id = server.recv_request_timeout(Duration::from_secs(60))?.id();
    ///     server.respond(id, b"4")
    /// });
    /// let bridge = Bridge::builder()
    ///     .export_service("calc-exported")
    ///     .listen("tcp/127.0.0.1:17103")
    ///     .start()?;
    /// // The far side: a plain Zenoh peer (in this process here) that queries the service's key.
    /// let mut config = zenoh::Config::default();
    /// config.insert_json5("scouting/multicast/enabled", "false")?;
    /// config.insert_json5("listen/endpoints", "[]")?;
    /// config.insert_json5("connect/endpoints", r#"["tcp/127.0.0.1:17103"]"#)?;
    /// let far = zenoh::open(config).wait()?;
    /// let querier = far.declare_querier("filemap/calc-exported").wait()?;
    /// let changes = querier.matching_listener().wait()?;
    /// // Asked once the far side knows of the bridge's queryable, until the answer comes.
    /// let mut answer = None;
    /// for _ in 0..600 {
    ///     if querier.matching_status().wait()?.matching() {
    ///         let replies = querier.get().payload("2+2").wait()?;
    ///         if let Ok(Ok(sample)) = replies.recv().as_ref().map(|reply| reply.result()) {
    ///             answer = Some(sample.payload().to_bytes().into_owned());
    ///             break;
    ///         }
    ///     }
    ///     let _ = changes.recv_timeout(Duration::from_millis(100))?;
    /// }
    /// assert_eq!(answer.as_deref(), Some(&b"4"[..]));
    /// serving.join().unwrap()?;
    /// bridge.stop();
    /// far.close().wait()?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn export_service(mut self, name: impl Into<String>) -> Self {
        self.export_services.push(keys::scopeless(&name.into()));
        self
    }

    /// Imports the service `name` from the far side: the bridge serves it locally, and
    /// each request becomes a Zenoh query whose replies become the responses.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use std::time::Duration;
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// use filemap_zenoh::{Bridge, BridgeError};
    ///
    /// let bridge = Bridge::builder()
    ///     .import_service("calc-imported")
    ///     .listen("tcp/127.0.0.1:0")
    ///     .query_timeout(Duration::from_secs(5))
    ///     .start()?;
    /// // The bridge is the local server of "calc-imported": no other server can take it.
    /// let options = ServiceOptions::new();
    /// assert!(matches!(
    ///     Server::create_or_open("calc-imported", &options),
    ///     Err(filemap::Error::EndpointTaken { .. })
    /// ));
    /// // A request becomes a Zenoh query: with no far side here, nobody replies, and it fails.
    /// let mut client = Client::open("calc-imported")?;
    /// let failed = client.call(b"2+2", Duration::from_secs(10));
    /// assert!(matches!(failed, Err(filemap::Error::RequestFailed { .. })));
    /// drop(client);
    /// bridge.stop();
    /// Server::create_or_open("calc-imported", &options)?; // free again
    /// // A service is bridged by its full name, never a pattern.
    /// let pattern = Bridge::builder().import_service("calc-*").start();
    /// assert!(matches!(pattern, Err(BridgeError::Setting(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn import_service(mut self, name: impl Into<String>) -> Self {
        self.import_services.push(keys::scopeless(&name.into()));
        self
    }

    /// What every key starts with (default `filemap`): one or more key chunks
    /// (`site-a`, `plant/line-2`), none empty and no wildcard ([`BridgeError::Setting`] at
    /// `start`).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap_zenoh::{Bridge, BridgeError};
    /// let (lines, log) = std::sync::mpsc::channel();
    /// let bridge = Bridge::builder()
    ///     .prefix("site-a")
    ///     .import_service("calc")
    ///     .listen("tcp/127.0.0.1:0")
    ///     .start_with_log(move |line| {
    ///         let _ = lines.send(line.to_string());
    ///     })?;
    /// // The service's key is under the prefix.
    /// assert!(log.try_iter().any(|line| line == "importing the service site-a/calc into calc"));
    /// bridge.stop();
    /// // A prefix is key chunks, without wildcards.
    /// let wild = Bridge::builder().prefix("site-*").import_service("calc").start();
    /// assert!(matches!(wild, Err(BridgeError::Setting(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.prefix = prefix.into();
        self
    }

    /// A Zenoh endpoint to listen on, e.g. `tcp/0.0.0.0:7447`.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap_zenoh::{Bridge, BridgeError};
    /// // Port 0: a free port of the loopback interface.
    /// let bridge = Bridge::builder()
    ///     .export("temperature")
    ///     .listen("tcp/127.0.0.1:0")
    ///     .start()?;
    /// bridge.stop();
    /// // Not an endpoint (no port): refused before the session opens.
    /// let no_port = Bridge::builder().export("temperature").listen("tcp/127.0.0.1").start();
    /// assert!(matches!(no_port, Err(BridgeError::Setting(_))));
    /// // A port another socket listens on: Zenoh cannot open the session.
    /// let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let endpoint = format!("tcp/{}", taken.local_addr()?);
    /// let busy = Bridge::builder().export("temperature").listen(endpoint).start();
    /// assert!(matches!(busy, Err(BridgeError::Zenoh(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn listen(mut self, endpoint: impl Into<String>) -> Self {
        self.listen.push(endpoint.into());
        self
    }

    /// A Zenoh endpoint to connect to, e.g. `tcp/192.0.2.1:7447` (retried until it
    /// answers, and again whenever the link is lost).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap_zenoh::{Bridge, BridgeError};
    /// // Nobody listens on port 17104 here: the bridge starts all the same, and keeps trying.
    /// let bridge = Bridge::builder()
    ///     .export("temperature")
    ///     .connect("tcp/127.0.0.1:17104")
    ///     .start()?;
    /// bridge.stop();
    /// // Not an endpoint (no protocol): refused before the session opens.
    /// let bare = Bridge::builder().export("temperature").connect("127.0.0.1:17104").start();
    /// assert!(matches!(bare, Err(BridgeError::Setting(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect(mut self, endpoint: impl Into<String>) -> Self {
        self.connect.push(endpoint.into());
        self
    }

    /// A Zenoh configuration file (JSON5), the base the other settings are added to.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap_zenoh::{Bridge, BridgeError};
    /// let files = tempfile::tempdir()?;
    /// let path = files.path().join("zenoh.json5");
    /// let missing = Bridge::builder().export("temperature").config_file(&path).start();
    /// assert!(matches!(missing, Err(BridgeError::Config(_))));
    /// // Peer mode, listening on the loopback interface only.
    /// std::fs::write(&path, r#"{ mode: "peer", listen: { endpoints: ["tcp/127.0.0.1:0"] } }"#)?;
    /// let bridge = Bridge::builder().export("temperature").config_file(&path).start()?;
    /// bridge.stop();
    /// std::fs::write(&path, "{ mode: ")?; // cut short
    /// let broken = Bridge::builder().export("temperature").config_file(&path).start();
    /// assert!(matches!(broken, Err(BridgeError::Config(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Turns Zenoh's multicast scouting on (off by default, with a configuration file too:
    /// a file cannot turn it on without this).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap_zenoh::Bridge;
    /// // Set up, not started: `start()` would scout the local network.
    /// let scouting = Bridge::builder().export("temperature").multicast_scouting(true);
    /// assert!(format!("{scouting:?}").contains("multicast: true"));
    /// assert!(format!("{:?}", Bridge::builder()).contains("multicast: false")); // the default
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn multicast_scouting(mut self, on: bool) -> Self {
        self.multicast = on;
        self
    }

    /// Best-effort delivery: under congestion Zenoh drops instead of waiting (default:
    /// reliable).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use std::time::Duration;
    /// use filemap::topic::{Publisher, TopicOptions};
    /// use filemap_zenoh::Bridge;
    /// use zenoh::{qos::CongestionControl, Wait};
    ///
    /// // The far side: a plain Zenoh peer (in this process here), subscribed to the topic's key.
    /// let mut config = zenoh::Config::default();
    /// config.insert_json5("scouting/multicast/enabled", "false")?;
    /// config.insert_json5("listen/endpoints", r#"["tcp/127.0.0.1:17105"]"#)?;
    /// let far = zenoh::open(config).wait()?;
    /// let samples = far.declare_subscriber("filemap/temperature-best-effort").wait()?;
    /// let mut publisher = Publisher::create_or_open("temperature-best-effort", &TopicOptions::new())?;
    /// let bridge = Bridge::builder()
    ///     .export("temperature-best-effort")
    ///     .best_effort(true)
    ///     .connect("tcp/127.0.0.1:17105")
    ///     .start()?;
    /// let mut sample = None;
    /// for _ in 0..600 {
    ///     publisher.publish(b"21.5")?;
    ///     sample = samples.recv_timeout(Duration::from_millis(100))?;
    ///     if sample.is_some() {
    ///         break;
    ///     }
    /// }
    /// // Sent to be dropped under congestion rather than waited for.
    /// let sample = sample.expect("no message came across");
    /// assert_eq!(sample.congestion_control(), CongestionControl::Drop);
    /// bridge.stop();
    /// far.close().wait()?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn best_effort(mut self, on: bool) -> Self {
        self.settings.reliable = !on;
        self
    }

    /// How many messages (and bytes) an export holds while the network is slow or down
    /// before it drops the oldest (default 10,000 messages, 64 MiB). The bytes also bound
    /// the replies of each request of an imported service on their way to a client that
    /// takes them more slowly than they come (one always goes): past it, that request
    /// fails. Each must be at least 1 ([`BridgeError::Setting`] at `start`).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap_zenoh::{Bridge, BridgeError};
    /// let none = Bridge::builder().export("temperature").buffer(0, 1 << 20).start();
    /// assert!(matches!(none, Err(BridgeError::Setting(_)))); // a buffer holds something
    /// // Holds at most 1,000 messages or 1 MiB per export.
    /// let small = Bridge::builder().export("temperature").buffer(1_000, 1 << 20);
    /// assert!(format!("{small:?}").contains("buffer_messages: 1000, buffer_bytes: 1048576"));
    /// let bridge = small.listen("tcp/127.0.0.1:0").start()?;
    /// bridge.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn buffer(mut self, messages: usize, bytes: usize) -> Self {
        self.settings.buffer_messages = messages;
        self.settings.buffer_bytes = bytes;
        self
    }

    /// The capacity of the local topics an import makes (default 1 MiB).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use std::time::Duration;
    /// use filemap_zenoh::Bridge;
    /// use zenoh::Wait;
    ///
    /// // The far side: a plain Zenoh peer (in this process here) that puts to the topic's key.
    /// let mut config = zenoh::Config::default();
    /// config.insert_json5("scouting/multicast/enabled", "false")?;
    /// config.insert_json5("listen/endpoints", r#"["tcp/127.0.0.1:17106"]"#)?;
    /// let far = zenoh::open(config).wait()?;
    /// let (lines, log) = std::sync::mpsc::channel();
    /// let bridge = Bridge::builder()
    ///     .import("temperature")
    ///     .topic_capacity(64 << 10)
    ///     .connect("tcp/127.0.0.1:17106")
    ///     .start_with_log(move |line| {
    ///         let _ = lines.send(line.to_string());
    ///     })?;
    /// // Put until the import has made the local topic (the log says so).
    /// let made = (0..600).any(|_| {
    ///     far.put("filemap/temperature", "21.5").wait().unwrap();
    ///     log.recv_timeout(Duration::from_millis(100))
    ///         .is_ok_and(|line| line.starts_with("importing filemap/temperature"))
    /// });
    /// assert!(made);
    /// assert_eq!(filemap::topic::info("temperature")?.capacity, 64 << 10);
    /// bridge.stop();
    /// far.close().wait()?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn topic_capacity(mut self, bytes: u64) -> Self {
        self.settings.topic_capacity = bytes;
        self
    }

    /// How long a query of a bridged service may take (default 10 s): a request of an
    /// imported service waits that long for the far side's replies (then fails, if none
    /// came), and an exported service waits that long for its local server's responses
    /// to a query (then replies with an error and gives the request up), so that a server
    /// that never answers holds nothing for ever. More than zero, at most 10^9 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use filemap_zenoh::Bridge;
    ///
    /// // Set up, not started: `start()` would open the Zenoh session.
    /// let builder = Bridge::builder()
    ///     .export_service("calc")
    ///     .query_timeout(Duration::from_secs(2));
    /// # drop(builder);
    /// ```
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.settings.query_timeout = timeout;
        self
    }

    /// Starts the bridge, logging to standard error.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap_zenoh::{Bridge, BridgeError};
    /// let bridge = Bridge::builder()
    ///     .export("temperature")
    ///     .listen("tcp/127.0.0.1:0")
    ///     .start()?;
    /// assert!(!bridge.id().is_empty());
    /// bridge.stop();
    /// // Refused before the session opens: nothing to bridge, a name filemap does not take.
    /// assert!(matches!(Bridge::builder().start(), Err(BridgeError::Setting(_))));
    /// assert!(matches!(Bridge::builder().export("").start(), Err(BridgeError::Filemap(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(self) -> Result<Bridge, BridgeError> {
        // (Not `eprintln!`, which panics when standard error fails: a closed pipe, a tty
        // hung up. A line that cannot be written is dropped; the bridge goes on.)
        self.start_with_log(|line| {
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "filemap bridge: {line}");
        })
    }

    /// Starts the bridge with its log lines going to `log`. A line holds no control
    /// characters: those of names and ids that came from the network are escaped (a
    /// remote peer's bytes never steer the terminal, nor forge a line).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use std::time::Duration;
    /// use filemap::topic::{Publisher, TopicOptions};
    /// use filemap_zenoh::Bridge;
    ///
    /// let _publisher = Publisher::create_or_open("temperature-logged", &TopicOptions::new())?;
    /// let (lines, log) = std::sync::mpsc::channel();
    /// let bridge = Bridge::builder()
    ///     .export("temperature-logged")
    ///     .listen("tcp/127.0.0.1:0")
    ///     .start_with_log(move |line| {
    ///         let _ = lines.send(line.to_string());
    ///     })?;
    /// // The bridge's first look for local topics finds this one, and says so.
    /// let said = (0..600).any(|_| {
    ///     log.recv_timeout(Duration::from_millis(100)).is_ok_and(|line| {
    ///         line == "exporting temperature-logged to filemap/temperature-logged"
    ///     })
    /// });
    /// assert!(said);
    /// bridge.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_with_log(
        self,
        log: impl Fn(&str) + Send + Sync + 'static,
    ) -> Result<Bridge, BridgeError> {
        Bridge::start(
            self,
            Arc::new(move |line: &str| log(&escape_controls(line))),
        )
    }

    fn zenoh_config(&self) -> Result<zenoh::Config, BridgeError> {
        for (what, endpoints) in [("listen", &self.listen), ("connect", &self.connect)] {
            for endpoint in endpoints {
                let problem = match endpoint.parse::<zenoh::config::EndPoint>() {
                    Err(e) => Some(plain(&e)),
                    Ok(_) => port_problem(endpoint),
                };
                if let Some(problem) = problem {
                    return Err(BridgeError::Setting(format!(
                        "{what} endpoint {endpoint:?} is not a Zenoh endpoint such as \
                         tcp/127.0.0.1:7447: {problem}"
                    )));
                }
            }
        }
        let mut config = match &self.config_file {
            Some(path) => {
                // Read here first: a file that cannot be read is said as such (Zenoh's own
                // message for it names no file).
                if let Err(e) = std::fs::metadata(path) {
                    return Err(BridgeError::Config(format!(
                        "cannot read the Zenoh configuration {}: {e}",
                        path.display()
                    )));
                }
                zenoh::Config::from_file(path).map_err(|e| {
                    BridgeError::Config(format!(
                        "the Zenoh configuration {} is not valid: {}",
                        path.display(),
                        one_line(&plain(&e))
                    ))
                })?
            }
            None => {
                let mut config = zenoh::Config::default();
                config
                    .insert_json5("mode", "\"peer\"")
                    .map_err(zenoh_error)?;
                config
            }
        };
        // Multicast scouting only when asked for, a configuration file or not (Zenoh turns
        // it on where a file says nothing of it).
        config
            .insert_json5(
                "scouting/multicast/enabled",
                if self.multicast { "true" } else { "false" },
            )
            .map_err(zenoh_error)?;
        // Without a configuration file, the endpoints given are the only ones: Zenoh's
        // gossip would have this peer connect to whatever its peers tell it of (with a
        // file, the file says; with multicast scouting, peers are found anyway).
        if self.config_file.is_none() && !self.multicast {
            config
                .insert_json5("scouting/gossip/enabled", "false")
                .map_err(zenoh_error)?;
        }
        let list = |endpoints: &[String]| {
            let quoted: Vec<String> = endpoints.iter().map(|e| format!("{e:?}")).collect();
            format!("[{}]", quoted.join(","))
        };
        // Listen where told, and nowhere else: Zenoh's peers listen on every interface by
        // default (and tell their peers so), which a bridge given only --connect must not.
        // A configuration file's own listen endpoints stay, and so does Zenoh's default
        // with multicast scouting (which finds peers by what they listen on).
        let listen_default = zenoh::Config::default().get_json("listen/endpoints").ok();
        if !self.listen.is_empty() {
            config
                .insert_json5("listen/endpoints", &list(&self.listen))
                .map_err(zenoh_error)?;
        } else if !self.multicast && config.get_json("listen/endpoints").ok() == listen_default {
            config
                .insert_json5("listen/endpoints", "[]")
                .map_err(zenoh_error)?;
        }
        if !self.connect.is_empty() {
            config
                .insert_json5("connect/endpoints", &list(&self.connect))
                .map_err(zenoh_error)?;
        }
        Ok(config)
    }
}

/// A running bridge (see the crate's docs); stops when dropped or [`stop`](Bridge::stop)ped.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
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
/// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
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
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
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
                topic_capacity: 1 << 20,
                query_timeout: Duration::from_secs(10),
                origin: origin_id(&filemap::namespace::identity()),
                global_origin: origin_id(&filemap::namespace::global_identity()),
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
        let config = builder.zenoh_config()?;
        let session = zenoh::open(config).wait().map_err(zenoh_error)?;
        let settings = builder.settings.clone();
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
        };
        let stop = bridge.stop.clone();
        for pattern in &builder.imports {
            bridge.imports.push(
                import::start(
                    &session,
                    pattern.clone(),
                    &settings,
                    bridge.exports.clone(),
                    bridge.imported.clone(),
                    stop.clone(),
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
                        std::thread::sleep(SCAN_INTERVAL);
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
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
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
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
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
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
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
        // The session first: an export's put that waits for room in a stalled link's queue
        // is let go when it closes, so that stopping never waits for the network.
        if let Some(session) = self.session.take() {
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
    use super::{escape_controls, Bridge};

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
