//! `filemap`: the command-line tool. Creates, inspects, writes, dumps, holds and removes
//! named objects, collects stale ones, and runs the demonstration.
//!
//! Errors are one line on stderr and exit code 1; usage errors exit 2 (clap's convention).

mod bridge;
mod commands;
mod demo;
mod names;
mod outcome;
mod output;
mod scan;
mod service_commands;
mod signals;
mod sync_commands;
mod topic_commands;
mod units;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use output::errln;

/// Named shared memory and file mappings with the Windows model: objects live while a
/// handle on them is open in any process, crashes never leave names blocked.
#[derive(Parser, Debug)]
#[command(
    name = "filemap",
    version,
    long_about = None,
    after_help = "Linux: the objects are files in the namespace directory, $FILEMAP_DIR or \
                  /dev/shm (foreign POSIX segments, --foreign, always in /dev/shm). Windows: they are named kernel objects, Local\\ in this session's \
                  namespace, Global\\ in the machine's."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn mode_arg(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not an octal mode like 600 or 644"))
}

/// A count that must be at least one (a buffer of 0 messages holds none; a server that
/// stops after 0 requests serves none).
fn at_least_one<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = std::num::ParseIntError> + PartialEq + From<u8>,
{
    match s.parse::<T>() {
        Ok(n) if n == T::from(0) => Err("it must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{s:?} is not a count: {e}")),
    }
}

/// A size of memory to hold (at least one byte, and one this machine can address).
fn memory_size(s: &str) -> Result<usize, String> {
    let size = units::parse_nonzero_size(s)?;
    usize::try_from(size).map_err(|_| format!("{s:?} is more than this machine can address"))
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a named mapping object (memory-backed, or file-backed with --file).
    Create {
        /// The name: NAME, Local\NAME or Global\NAME.
        name: String,
        /// Size, e.g. 4096, 64KiB, 1MiB, 2GiB (for --file: 0 or absent = the file's size).
        #[arg(long, value_parser = units::parse_size)]
        size: Option<u64>,
        /// Keep the object after filemap exits, until `filemap rm`. Required: an object
        /// without it would vanish as filemap exits (`filemap hold --create` keeps one while
        /// it runs). Linux only: Windows removes an object with its last handle.
        #[arg(long)]
        persistent: bool,
        /// Create it in the Global scope (machine-wide).
        #[arg(long)]
        global: bool,
        /// Permissions, in octal (default 600: this user only).
        #[arg(long, value_parser = mode_arg)]
        mode: Option<u32>,
        /// Map this file instead of memory (made, with --size, if it does not exist; removed
        /// again if the object cannot be made).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Create a foreign segment: POSIX shared memory without filemap's header, which
        /// other programs open by NAME (it stays until `filemap rm --foreign`).
        #[arg(long, conflicts_with_all = ["file", "global", "mode", "persistent"])]
        foreign: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one object: kind, size, persistence, holders.
    ///
    /// Holders are the pids of the processes holding the object (Linux: from /proc/locks;
    /// `?` when it is held but no holder's pid can be seen from this PID namespace, null in
    /// --json).
    Info {
        /// The name.
        name: String,
        /// A foreign segment: POSIX shared memory without filemap's header (made by Python,
        /// C's shm_open, ...), by the name those programs use; a plain named section on
        /// Windows.
        #[arg(long)]
        foreign: bool,
        /// Use the Global scope for a name without prefix.
        #[arg(long, conflicts_with = "foreign")]
        global: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the objects in the namespace.
    ///
    /// Linux: every filemap entry of the namespace
    /// directory (stale and corrupt ones too; its other files are not filemap's).
    /// Windows: filemap's sections and the named mutexes, events and semaphores of this
    /// session's and the global object directory.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write standard input into an object, at an offset, a mebibyte at a time; more
    /// input than fits from there to the object's end is an error (input that fits in one
    /// mebibyte is then not written at all; longer input, up to the last whole mebibyte
    /// that fits, and the error says how much).
    Write {
        /// The name.
        name: String,
        /// A foreign segment: POSIX shared memory without filemap's header (made by Python,
        /// C's shm_open, ...), by the name those programs use; a plain named section on
        /// Windows.
        #[arg(long)]
        foreign: bool,
        /// Use the Global scope for a name without prefix.
        #[arg(long, conflicts_with = "foreign")]
        global: bool,
        /// Where to write, in bytes from the start of the object.
        #[arg(long, default_value = "0", value_parser = units::parse_size)]
        offset: u64,
    },
    /// Print an object's bytes (a hex dump as hexdump -C prints it, a run of repeated lines
    /// as one `*`, unless --raw). A dump of 64 MiB or more going to a file or a pipe shows
    /// its progress on the terminal.
    Dump {
        /// The name.
        name: String,
        /// A foreign segment: POSIX shared memory without filemap's header (made by Python,
        /// C's shm_open, ...), by the name those programs use; a plain named section on
        /// Windows.
        #[arg(long)]
        foreign: bool,
        /// Use the Global scope for a name without prefix.
        #[arg(long, conflicts_with = "foreign")]
        global: bool,
        /// Where to start.
        #[arg(long, default_value = "0", value_parser = units::parse_size)]
        offset: u64,
        /// How many bytes (default: to the end).
        #[arg(long, value_parser = units::parse_size)]
        len: Option<u64>,
        /// Write the bytes as they are instead of a hex dump.
        #[arg(long)]
        raw: bool,
    },
    /// Remove a name now (holders keep their object).
    ///
    /// Linux only: on Windows an object goes away with its last handle.
    Rm {
        /// The name.
        name: String,
        /// A foreign segment: POSIX shared memory without filemap's header (made by Python,
        /// C's shm_open, ...), by the name those programs use; a plain named section on
        /// Windows.
        #[arg(long)]
        foreign: bool,
        /// Use the Global scope for a name without prefix.
        #[arg(long, conflicts_with = "foreign")]
        global: bool,
    },
    /// Remove stale objects (every holder died) and corrupt entries nobody holds.
    ///
    /// Prints a line for each (with --json, an array): removed, or why it could not be; if any
    /// could not be, exits 1 after the report, with a line on stderr saying how many.
    ///
    /// Windows never has any: the kernel removes an object with its last handle.
    Gc {
        /// Only report what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hold a handle on a mapping until interrupted (SIGINT, SIGTERM or SIGHUP).
    #[command(after_help = signals::STOPPED_HELP)]
    Hold {
        /// The name.
        name: String,
        /// Create the object (not persistent) if it does not exist.
        #[arg(long, requires = "size")]
        create: bool,
        /// Size for --create.
        #[arg(long, requires = "create", value_parser = units::parse_nonzero_size)]
        size: Option<u64>,
        /// Use the Global scope for a name without prefix.
        #[arg(long)]
        global: bool,
    },
    /// Read a file through sliding windows and print its size, lines, xxh3 and throughput.
    ///
    /// The windows let it read files of any size with bounded memory.
    Scan {
        /// The file.
        file: PathBuf,
        /// The window size (e.g. 64MiB).
        #[arg(long, default_value = "64MiB", value_parser = units::parse_nonzero_size)]
        window: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a command while holding a named mutex (like flock(1), but robust).
    ///
    /// If a holder dies, the next one is told the mutex was abandoned and proceeds. Exits
    /// with the command's status.
    ///
    /// Interrupted (SIGINT, SIGTERM, SIGHUP, Ctrl-C) while it waits for the mutex, it closes it and
    /// exits 130; while the command runs, it passes the signal on to the command (but a
    /// terminal's Ctrl-C, which the command got too) and lets the mutex go only once the
    /// command has ended.
    Lock {
        /// The mutex's name (created if it does not exist).
        name: String,
        /// Give up after this long (e.g. 500ms, 2s, 1m): exit 1.
        #[arg(long, value_parser = units::parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Use the Global scope for a name without prefix.
        #[arg(long)]
        global: bool,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<std::ffi::OsString>,
    },
    /// Wait for any (or, with --all, every) one of named events, semaphores and mutexes.
    ///
    /// Like WaitForMultipleObjects: takes what it waited for (an auto-reset
    /// event's signal, a semaphore's unit; a mutex is locked, then released on exit) and
    /// prints its name. Exits 1 on a timeout.
    #[command(after_help = signals::INTERRUPTED_HELP)]
    Wait {
        /// The objects' names.
        #[arg(required = true)]
        names: Vec<String>,
        /// Use the Global scope for names without prefix.
        #[arg(long)]
        global: bool,
        /// Wait until all are ready together, and take them all at once.
        #[arg(long)]
        all: bool,
        /// Give up after this long (e.g. 500ms, 2s, 1m): exit 1.
        #[arg(long, value_parser = units::parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Bridge topics to other machines over Zenoh until interrupted.
    ///
    /// --export sends what
    /// local topics carry to the Zenoh keys PREFIX/NAME, --import republishes what those
    /// keys carry into local topics. Logs to stderr; prints each topic's counters when it
    /// stops (messages, dropped, missed).
    #[command(after_help = signals::STOPPED_HELP)]
    Bridge {
        /// A local topic to export, or a pattern (`*`, `?`) matching topics, also those
        /// made later.
        #[arg(long, value_name = "NAME")]
        export: Vec<String>,
        /// A topic to import from Zenoh into a local topic of the same name, or a pattern.
        #[arg(long, value_name = "NAME")]
        import: Vec<String>,
        /// A local service to answer Zenoh queries on PREFIX/NAME (request-response).
        #[arg(long, value_name = "NAME")]
        export_service: Vec<String>,
        /// A service to serve locally by asking the far side (Zenoh queries on PREFIX/NAME).
        #[arg(long, value_name = "NAME")]
        import_service: Vec<String>,
        /// The first chunk of the Zenoh keys.
        #[arg(long, default_value = "filemap")]
        prefix: String,
        /// A Zenoh endpoint to listen on (e.g. tcp/0.0.0.0:7447).
        #[arg(long, value_name = "ENDPOINT")]
        listen: Vec<String>,
        /// A Zenoh endpoint to connect to (e.g. tcp/192.0.2.1:7447); retried until it answers.
        #[arg(long, value_name = "ENDPOINT")]
        connect: Vec<String>,
        /// A Zenoh configuration file (JSON5), e.g. to reach a zenohd router.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Turn Zenoh's multicast scouting on (off by default).
        #[arg(long)]
        multicast: bool,
        /// Best-effort delivery: drop under congestion instead of waiting.
        #[arg(long)]
        best_effort: bool,
        /// How many messages an export holds while the network is slow or down, before it
        /// drops the oldest (at least 1; and at most --buffer-bytes of them).
        #[arg(long, default_value_t = 10_000, value_parser = at_least_one::<usize>)]
        buffer: usize,
        /// How many bytes of messages an export holds at most (see --buffer); also the
        /// most replies of one request of an imported service on their way to a client
        /// that takes them more slowly than they come (past it, the request fails).
        #[arg(long, default_value = "64MiB", value_name = "SIZE", value_parser = memory_size)]
        buffer_bytes: usize,
        /// The largest message taken from Zenoh (a larger one does not arrive): what a far
        /// side may make the bridge gather for one message (Zenoh's own default is 1GiB).
        #[arg(long, default_value = "64MiB", value_name = "SIZE", value_parser = memory_size)]
        max_message: usize,
        /// The most local topics the imports hold open, all together (at least 1): a far
        /// side that puts to ever new keys makes no more. Each takes two descriptors.
        #[arg(long, default_value_t = 256, value_name = "TOPICS", value_parser = at_least_one::<usize>)]
        max_imported: usize,
        /// How long a query of a bridged service may take: an imported service's request
        /// waits that long for the far side, an exported service's query for the local
        /// server (then it fails).
        #[arg(long, default_value = "10s", value_parser = units::parse_duration)]
        query_timeout: std::time::Duration,
        /// Print the counters as JSON when stopping.
        #[arg(long)]
        json: bool,
    },
    /// Create, set, reset or wait for a named event.
    Event {
        #[command(subcommand)]
        action: sync_commands::EventAction,
    },
    /// Create, release or acquire a named semaphore.
    Sem {
        #[command(subcommand)]
        action: sync_commands::SemAction,
    },
    /// Publish each line of standard input as one message on a topic (without its newline,
    /// `\n` or `\r\n`).
    #[command(after_help = signals::INTERRUPTED_HELP)]
    Pub {
        /// The topic's name.
        name: String,
        #[command(flatten)]
        create: topic_commands::CreateTopic,
        /// Wait until this many subscribers are connected before publishing.
        #[arg(long, value_name = "N")]
        wait_for: Option<u32>,
    },
    /// Print a topic's messages, one per line, until --count messages or the publisher
    /// closes.
    #[command(after_help = signals::INTERRUPTED_HELP)]
    Sub {
        /// The topic's name.
        name: String,
        #[command(flatten)]
        create: topic_commands::CreateTopic,
        /// Stop after this many messages (at least 1).
        #[arg(long, value_parser = at_least_one::<u64>)]
        count: Option<u64>,
        /// One JSON object per message: its sequence number ("seq"), the message
        /// ("message", or "message_base64" for one that is not UTF-8 text), and after a
        /// lag how many were missed ("missed"). A last object with "missed" alone (no
        /// "seq") counts the messages missed after the last one received.
        #[arg(long)]
        json: bool,
    },
    /// Serve a service's requests with a command (the service is made if it does not exist).
    ///
    /// Each request is given to COMMAND on its standard input, and its standard output is
    /// the response, streamed as it comes; the response ends when COMMAND has closed its
    /// standard output and ended. A COMMAND that fails (a status other than 0, killed by a
    /// signal, or that cannot be run any more: 127) fails the request: its client is told
    /// how it ended. A COMMAND whose client leaves is stopped (SIGTERM, and SIGKILL a second later), and a request whose client
    /// left while it waited is not run. Requests are served one at a time (a COMMAND that
    /// runs on after closing its output holds up only its own request's end; a client that
    /// stops reading its answer holds the server up, as a full pipe would) until
    /// interrupted, or until --count requests have been taken (answered, failed, or
    /// dropped because their clients left).
    #[command(after_help = signals::INTERRUPTED_HELP)]
    Serve {
        /// The service's name.
        name: String,
        #[command(flatten)]
        create: service_commands::CreateService,
        /// Stop after taking this many requests (at least 1; those whose clients left
        /// count too).
        #[arg(long, value_parser = at_least_one::<u64>)]
        count: Option<u64>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<std::ffi::OsString>,
    },
    /// Send standard input as one request to a service's server and print the response.
    ///
    /// Exits 1 if no server serves the service, or on a timeout. If the server fails the
    /// request (the command of `filemap serve` failed), says so on stderr and exits with
    /// that command's status (128 + N for one killed by signal N).
    #[command(after_help = signals::REQUEST_INTERRUPTED_HELP)]
    Request {
        /// The service's name.
        name: String,
        /// Give up after this long (e.g. 500ms, 2s, 1m): exit 1.
        #[arg(long, value_parser = units::parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Use the Global scope for a name without prefix.
        #[arg(long)]
        global: bool,
    },
    /// Messages per second on a topic, printed once a second.
    #[command(after_help = signals::INTERRUPTED_HELP)]
    Hz {
        /// The topic's name.
        name: String,
        /// Stop after this many whole seconds (e.g. 10s, 2m); until interrupted by default.
        #[arg(long = "for", value_name = "DURATION", value_parser = topic_commands::parse_seconds)]
        seconds: Option<u64>,
        /// Use the Global scope for a name without prefix.
        #[arg(long)]
        global: bool,
        /// One JSON object per second.
        #[arg(long)]
        json: bool,
    },
    /// Measure filemap against its peers on this machine.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Internal: the partner process of a benchmark.
    #[command(hide = true)]
    BenchPartner {
        /// The role and its arguments.
        args: Vec<String>,
    },
    /// Demonstrate: the classic main / producer / consumer as three processes sharing an
    /// int under a robust named mutex, with events instead of polling.
    Demo,
    /// Internal: a demonstration process.
    #[command(hide = true)]
    DemoChild {
        /// Which part to play.
        role: String,
        /// The run's id.
        run: String,
    },
}

/// What `filemap bench` measures.
#[derive(Subcommand, Debug)]
enum BenchWhat {
    /// The channel between two processes against a socket, a pipe and the floors.
    ///
    /// One-way latency (8 B to 1 MiB, busy-poll and blocking) and 1 MiB throughput of the
    /// channel between two processes, against a Unix socket, a pipe, a raw futex ping-pong
    /// and the cache-line floor, all in this run; at 64 B also with both ends async
    /// (`recv_async`, `send_async` under `filemap::wait::block_on`), and one way with the
    /// receiver asleep (a message every millisecond), blocking and async.
    Channel {
        /// One JSON array of rows.
        #[arg(long)]
        json: bool,
    },
    /// A topic's one-way latency from one publisher to 1, 2 and 4 subscriber processes.
    ///
    /// 64 B and 1 MiB, busy-poll and blocking, until the last subscriber has copied the
    /// message out. Rows with more processes than cores are marked (`oversubscribed` in
    /// JSON): subscribers then share a core, and busy-poll rows measure the scheduler.
    Pubsub {
        /// One JSON array of rows (those of `bench channel`, with `subscribers`).
        #[arg(long)]
        json: bool,
    },
}

/// The command line's grammar, every option that takes a value accepting one that starts
/// with a minus sign (`--size -1`): its parser then says what is wrong with the value,
/// rather than clap taking it for an unexpected argument (whose tip, `-- -1`, does not
/// work for an option).
fn grammar() -> clap::Command {
    fn negatives_are_values(command: clap::Command) -> clap::Command {
        command
            .mut_args(|arg| {
                if arg.get_action().takes_values() && !arg.is_positional() {
                    arg.allow_negative_numbers(true)
                } else {
                    arg
                }
            })
            .mut_subcommands(negatives_are_values)
    }
    negatives_are_values(Cli::command())
}

fn main() -> ExitCode {
    let parsed = grammar()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        // --help and --version: their text on standard output, whose failure (a full
        // disk) is said like any command's; a closed pipe ends them quietly.
        Err(e) if !e.use_stderr() => {
            return match e
                .print()
                .and_then(|()| std::io::Write::flush(&mut std::io::stdout()))
            {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    errln!("filemap: error: cannot write to standard output: {e}");
                    ExitCode::from(1)
                }
                _ => ExitCode::SUCCESS,
            };
        }
        Err(e) => e.exit(),
    };
    let outcome = commands::run(cli.command);
    match output::stdout_failure() {
        // A reader that stopped reading (`filemap ls | head -1`) wanted no more.
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Some(e) => {
            errln!("filemap: error: cannot write to standard output: {e}");
            return ExitCode::from(1);
        }
        None => {}
    }
    match outcome {
        Ok(code) => code,
        // One line, with what other processes chose (a backing file's path recorded in an
        // entry, a name) escaped: see `output::printable`.
        Err(outcome::Failure::Usage(message)) => {
            errln!("filemap: error: {}", output::printable(&message));
            ExitCode::from(2)
        }
        Err(outcome::Failure::ReaderGone) => ExitCode::SUCCESS,
        Err(outcome::Failure::Error(e)) => {
            errln!("filemap: error: {}", output::printable(&e));
            ExitCode::from(1)
        }
    }
}
