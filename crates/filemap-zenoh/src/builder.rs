//! The bridge's settings, and the builder a user sets them with (`Bridge::builder`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::{Bridge, BridgeError, escape_controls, keys, plain, zenoh_error};

/// The settings every part of a bridge reads.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) prefix: String,
    pub(crate) reliable: bool,
    pub(crate) buffer_messages: usize,
    pub(crate) buffer_bytes: usize,
    /// The largest message taken from Zenoh (its `transport/link/rx/max_message_size`).
    pub(crate) max_message: usize,
    pub(crate) topic_capacity: u64,
    /// The most topics the bridge's imports hold open (see
    /// `BridgeBuilder::max_imported_topics`).
    pub(crate) max_imported: usize,
    /// How long a query of a bridged service may take (see `BridgeBuilder::query_timeout`).
    pub(crate) query_timeout: Duration,
    /// This bridge's id, in the attachments of what it exports.
    pub(crate) origin: String,
    /// Its id for `Global\` topics, which every bridge of the host that sees the same
    /// `Global\` names shares (on Windows, every session's): an import drops what carries
    /// it, as it drops what carries `origin`.
    pub(crate) global_origin: String,
    /// When the bridge last handed something to Zenoh to send (made afresh for each
    /// bridge started).
    pub(crate) sent: Arc<crate::LastSent>,
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
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    pub(crate) settings: Settings,
    pub(crate) exports: Vec<String>,
    pub(crate) imports: Vec<String>,
    pub(crate) export_services: Vec<String>,
    pub(crate) import_services: Vec<String>,
    pub(crate) listen: Vec<String>,
    pub(crate) connect: Vec<String>,
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) multicast: bool,
}

impl BridgeBuilder {
    /// Exports the local topic `name`, or every local topic the pattern matches (`*` any
    /// run of characters, `?` one), including those made after the bridge started. A
    /// pattern matches this session's topics (`Local\`, written without the scope); a
    /// `Global\` topic is exported by its full name.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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

    /// The largest message the bridge takes from Zenoh (default 64 MiB, at least 1): what
    /// a far side may make this process gather for one message it sends in fragments
    /// (Zenoh's `transport/link/rx/max_message_size`, whose own default is 1 GiB, held per
    /// priority and per reliability of every session: a peer that connects could make the
    /// bridge hold gigabytes before any topic refused what it sends). Zenoh drops a larger
    /// message: an imported topic's message or a service's request or reply larger than
    /// this does not arrive. A configuration file that sets the value keeps it.
    ///
    /// ```
    /// use filemap_zenoh::Bridge;
    ///
    /// // Set up, not started: `start()` would open the Zenoh session.
    /// let builder = Bridge::builder().import("video-*").max_message(256 << 20);
    /// assert!(format!("{builder:?}").contains("max_message: 268435456"));
    /// // None at all is refused before anything starts.
    /// let none = Bridge::builder().import("video-*").max_message(0).start();
    /// assert!(matches!(none, Err(filemap_zenoh::BridgeError::Setting(_))));
    /// ```
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.settings.max_message = bytes;
        self
    }

    /// The capacity of the local topics an import makes (default 1 MiB; 1 byte to
    /// [`filemap::topic::MAX_CAPACITY`], rounded up as [`TopicOptions::capacity`] says,
    /// else [`BridgeError::Setting`] at `start`).
    ///
    /// [`TopicOptions::capacity`]: filemap::topic::TopicOptions::capacity
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// // No room at all is refused before anything starts.
    /// let none = Bridge::builder().import("temperature").topic_capacity(0).start();
    /// assert!(matches!(none, Err(filemap_zenoh::BridgeError::Setting(_))));
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn topic_capacity(mut self, bytes: u64) -> Self {
        self.settings.topic_capacity = bytes;
        self
    }

    /// The most local topics the bridge's imports hold open, all import patterns together
    /// (default 256, at least 1): a far side that puts to ever new keys must not make
    /// topics without end. Each holds its ring's memory and two descriptors (a process
    /// commonly may have 1,024 descriptors: raise its limit with a larger bound). A name
    /// past the bound is refused (said in the log), and tried again a second later. A topic
    /// an import opened stays open until its name is removed or the bridge stops: a far
    /// side that puts once to as many keys as the bound keeps later names out until then.
    ///
    /// ```
    /// use filemap_zenoh::Bridge;
    ///
    /// // Set up, not started: `start()` would open the Zenoh session.
    /// let builder = Bridge::builder().import("sensors-*").max_imported_topics(1000);
    /// # drop(builder);
    /// // None at all is refused before anything starts.
    /// let none = Bridge::builder().import("sensors-*").max_imported_topics(0).start();
    /// assert!(matches!(none, Err(filemap_zenoh::BridgeError::Setting(_))));
    /// ```
    pub fn max_imported_topics(mut self, topics: usize) -> Self {
        self.settings.max_imported = topics;
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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

    pub(crate) fn zenoh_config(&self) -> Result<zenoh::Config, BridgeError> {
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
        // The most a far side can make this process gather for one message: this bridge's
        // bound, unless a configuration file set one of its own.
        let key = "transport/link/rx/max_message_size";
        if config.get_json(key).ok() == zenoh::Config::default().get_json(key).ok() {
            config
                .insert_json5(key, &self.settings.max_message.to_string())
                .map_err(zenoh_error)?;
        }
        Ok(config)
    }
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
