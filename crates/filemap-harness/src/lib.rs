//! The two-process measuring harness behind `filemap bench channel` (the CLI) and the
//! side-by-side suite of `filemap-bench`, so that each measurement is written once.
//!
//! - [`measure`]: pinning to cores, the ping-pong driver [`round_trips`] (warm-up, timing,
//!   percentiles; [`round_trip_counts`] and [`half_round_trips`] for async loops, and
//!   [`Budgeted`] for budgeted ones), the throughput driver [`receive_throughput`], and how
//!   much work a run does ([`quick`] mode for tests);
//! - [`process`]: starting a partner process ([`partner`]), the benchmark's own namespace
//!   directory ([`Namespace`]) and names unique to a run ([`unique`]);
//! - [`drivers`]: filemap's channel, a Unix socket, a pipe and the floors (a cache line
//!   handed back and forth, a raw futex ping-pong, `memcpy`, a raw hand-off of buffers),
//!   the channel with both ends async under [`filemap::wait::block_on`]
//!   ([`filemap_async_latency`]) and one way to a receiver that is asleep
//!   ([`filemap_asleep_latency`], blocking or async), and
//!   filemap's topics to several subscriber processes ([`topic_latency`], timed one way
//!   with [`one_way_rounds`] on the shared [`clock_ns`]), filemap's inboxes from several
//!   sender processes ([`inbox_throughput`], messages counted by [`message_rate`] until a
//!   [`StopFlag`]);
//! - [`interleaved`]: a service's round trip and the channel's ping-pong measured in
//!   alternating blocks against one partner, for a ratio of the two that one moment's
//!   speed of the machine does not skew;
//! - [`roles`]: the partner process's side of each of those;
//! - [`mod@channel`]: `filemap bench channel`, every driver in one run, as a table or JSON;
//! - [`mod@pubsub`]: `filemap bench pubsub`, the topic rows, as a table or JSON.
//!
//! The partner process is the measuring binary itself, re-run (as
//! [`std::env::current_exe`]) with the arguments `bench-partner <role> <args>...` (once per
//! subscriber or sender in the publish-subscribe and many-to-one rows): every
//! binary that measures with this harness must send that first argument
//! ([`PARTNER_COMMAND`]) to its partner roles, ending with [`partner_role`], or to
//! [`partner_main`] when it has no roles of its own.

/// Appends a line to a report's text (a `String`, which a write cannot fail on): the
/// `bench` commands return their text for the caller to print, which decides what a failed
/// write of standard output means.
macro_rules! say {
    ($text:expr_2021, $($arg:tt)*) => {{
        let _ = writeln!($text, $($arg)*);
    }};
}

pub mod channel;
pub mod drivers;
pub mod interleaved;
pub mod measure;
pub mod process;
pub mod pubsub;
pub mod roles;

pub use channel::channel;
pub use drivers::*;
pub use measure::*;
pub use process::{Namespace, partner, unique};
pub use pubsub::pubsub;
pub use roles::{partner_main, partner_role};

/// The first argument that turns a benchmark binary into a partner process.
pub const PARTNER_COMMAND: &str = "bench-partner";
/// The core the measuring process pins itself to (when the machine has two).
pub const MEASURING_CPU: usize = 0;
/// The core the partner process pins itself to.
pub const PARTNER_CPU: usize = 1;
/// The message size of the throughput rows.
pub const THROUGHPUT_MESSAGE: usize = 1 << 20;

/// A benchmark failure, as one line of text.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<filemap::Error> for Error {
    fn from(e: filemap::Error) -> Error {
        Error(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error(e.to_string())
    }
}

/// Any displayable failure as an [`Error`].
pub fn err(e: impl std::fmt::Display) -> Error {
    Error(e.to_string())
}

pub type Result<T> = std::result::Result<T, Error>;
