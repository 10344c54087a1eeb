//! The two-process benchmark harness, and `filemap bench channel`: one-way latency and
//! throughput of filemap's channel between two processes, against a Unix socket, a pipe,
//! and the floors (two processes ping-ponging one cache line, a raw futex ping-pong, and
//! `memcpy` on one core for throughput, beside a raw hand-off of buffers between two
//! processes), all measured in the same run.
//!
//! The harness is public because `filemap-bench` (the side-by-side suite against iceoryx2,
//! ipc-channel, ...) measures with the same pieces: [`pin_to`] and [`PARTNER_CPU`],
//! [`round_trips`] (warm-up, timing and percentiles of a ping-pong), [`receive_throughput`],
//! [`partner`] (start the partner process) and [`partner_role`] (its side of each
//! measurement here). The partner process is the measuring binary re-run as
//! `<binary> bench-partner <role> <args>...`: every binary that uses the harness must
//! dispatch that first argument to its partner roles, ending with [`partner_role`].

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use filemap::channel::{Receiver, Sender, WaitMode};
use filemap::Mapping;
use serde_json::json;

/// The first argument that turns a benchmark binary into a partner process.
pub const PARTNER_COMMAND: &str = "bench-partner";
/// The core the measuring process pins itself to (when the machine has two).
pub const MEASURING_CPU: usize = 0;
/// The core the partner process pins itself to.
pub const PARTNER_CPU: usize = 1;

const SIZES: [usize; 5] = [8, 64, 1024, 64 << 10, 1 << 20];
/// The message size of the throughput rows.
pub const THROUGHPUT_MESSAGE: usize = 1 << 20;
const THROUGHPUT_BYTES: u64 = 4 << 30;

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

/// `FILEMAP_BENCH_QUICK=1` runs a hundredth of the work (for tests of the benchmarks
/// themselves: their numbers are then too rough to quote).
pub fn quick() -> bool {
    std::env::var_os("FILEMAP_BENCH_QUICK").is_some()
}

/// The bytes each throughput row moves.
pub fn throughput_bytes() -> u64 {
    if quick() {
        64 << 20
    } else {
        THROUGHPUT_BYTES
    }
}

/// The 1 MiB messages each throughput row sends.
pub fn throughput_messages() -> u64 {
    throughput_bytes() / THROUGHPUT_MESSAGE as u64
}

/// Timed round trips for messages of `size` bytes.
pub fn iterations(size: usize) -> usize {
    let n = match size {
        0..=1024 => 20_000,
        1025..=65536 => 5_000,
        _ => 500,
    };
    if quick() {
        (n / 100).max(10)
    } else {
        n
    }
}

/// One-way latency percentiles, in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    pub p50_ns: f64,
    pub p99_ns: f64,
}

/// Runs `round_trip` (one message there and its echo back) `iterations(size)` times after a
/// tenth as many untimed warm-up trips, timing each; one-way latency is half a round trip.
pub fn round_trips(size: usize, mut round_trip: impl FnMut() -> Result<()>) -> Result<Latency> {
    let n = iterations(size);
    for _ in 0..n / 10 {
        round_trip()?;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        round_trip()?;
        samples.push(start.elapsed());
    }
    Ok(percentiles(samples))
}

/// Percentiles of one-way times (half the round trips), in nanoseconds.
fn percentiles(mut round_trips: Vec<Duration>) -> Latency {
    round_trips.sort();
    let at =
        |q: f64| round_trips[((round_trips.len() - 1) as f64 * q) as usize].as_nanos() as f64 / 2.0;
    Latency {
        p50_ns: at(0.50),
        p99_ns: at(0.99),
    }
}

/// Receives `count` messages of [`THROUGHPUT_MESSAGE`] bytes with `recv_one` and returns the
/// rate in GB/s. The first message starts the clock (the sending partner has started by
/// then), so `count - 1` messages are timed.
pub fn receive_throughput(count: u64, mut recv_one: impl FnMut() -> Result<()>) -> Result<f64> {
    recv_one()?;
    let start = Instant::now();
    for _ in 1..count {
        recv_one()?;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(((count - 1) * THROUGHPUT_MESSAGE as u64) as f64 / secs / 1e9)
}

/// Starts the partner process: this binary again, as `bench-partner <args>...`, with piped
/// standard input and output.
pub fn partner(args: &[&str]) -> Result<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .arg(PARTNER_COMMAND)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?)
}

/// Pins this process to `cpu` where the system allows it (Linux); whether it did.
pub fn pin_to(cpu: usize) -> bool {
    #[cfg(target_os = "linux")]
    {
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu);
        rustix::thread::sched_setaffinity(None, &set).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cpu;
        false
    }
}

/// Pins the measuring process to [`MEASURING_CPU`] when the machine has two cores or more
/// (partners pin themselves to [`PARTNER_CPU`]); whether it did. Call it before starting
/// partners: children inherit the pin until they set their own.
pub fn pin_measuring_process() -> bool {
    let two_cores = std::thread::available_parallelism()
        .map(|n| n.get() >= 2)
        .unwrap_or(false);
    two_cores && pin_to(MEASURING_CPU)
}

/// A namespace directory of the benchmark's own (`FILEMAP_DIR`, inherited by partners),
/// on tmpfs where there is one, removed when dropped. Unix only: Windows has no namespace
/// directory (named kernel objects), so this does nothing there.
pub struct Namespace {
    dir: Option<PathBuf>,
}

impl Namespace {
    pub fn new() -> Result<Namespace> {
        if !cfg!(unix) {
            return Ok(Namespace { dir: None });
        }
        let shm = std::path::Path::new("/dev/shm");
        let base = if cfg!(target_os = "linux") && shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("filemap-bench-ns-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::env::set_var("FILEMAP_DIR", &dir);
        Ok(Namespace { dir: Some(dir) })
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A name unique to this run for a benchmark's object.
pub fn unique(what: &str) -> String {
    format!("bench{}-{what}", std::process::id())
}

fn mode_arg(mode: WaitMode) -> &'static str {
    if mode == WaitMode::BusyPoll {
        "busy-poll"
    } else {
        "blocking"
    }
}

fn parse_mode(s: &str) -> WaitMode {
    if s == "busy-poll" {
        WaitMode::BusyPoll
    } else {
        WaitMode::Blocking
    }
}

/// filemap channel ping-pong: messages of `size` bytes there and back, each copied into a
/// reserved slot (the partner copies each received message into its reply).
pub fn filemap_latency(size: usize, mode: WaitMode) -> Result<Latency> {
    let (there, back) = (unique("there"), unique("back"));
    let capacity = (size as u64 * 4).max(1 << 16);
    let mut tx = Sender::create_or_open(there.as_str(), capacity)?;
    let mut rx = Receiver::create_or_open(back.as_str(), capacity)?;
    tx.set_wait_mode(mode);
    rx.set_wait_mode(mode);
    let mut child = partner(&["channel-echo", &there, &back, mode_arg(mode)])?;
    let message = vec![7u8; size];
    let r = round_trips(size, || {
        let mut slot = tx.reserve(size)?;
        slot.copy_from_slice(&message);
        slot.commit();
        let reply = rx.recv()?;
        if reply.len() != size {
            return Err(err("the echo returned a message of another size"));
        }
        Ok(())
    });
    drop(tx); // the partner sees Disconnected and exits
    drop(rx);
    child.wait()?;
    r
}

/// Byte-stream ping-pong over `write`/`read` (Unix socket or pipes).
fn stream_latency(size: usize, out: &mut dyn Write, input: &mut dyn Read) -> Result<Latency> {
    let message = vec![7u8; size];
    let mut reply = vec![0u8; size];
    round_trips(size, || {
        out.write_all(&message)?;
        input.read_exact(&mut reply)?;
        Ok(())
    })
}

pub fn pipe_latency(size: usize) -> Result<Latency> {
    let mut child = partner(&["stream-echo", &size.to_string()])?;
    let mut to = child.stdin.take().expect("piped");
    let mut from = child.stdout.take().expect("piped");
    let r = stream_latency(size, &mut to, &mut from);
    drop(to);
    child.wait()?;
    r
}

/// A Unix stream socket to a partner started with `role` (which gets the socket's path
/// first, then `args`).
#[cfg(unix)]
fn unix_socket_partner(
    role: &str,
    args: &[&str],
) -> Result<(std::os::unix::net::UnixStream, Child, PathBuf)> {
    let dir = std::env::temp_dir().join(format!("filemap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("s");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path)?;
    let mut all = vec![
        role,
        path.to_str().ok_or_else(|| err("temp dir not UTF-8"))?,
    ];
    all.extend_from_slice(args);
    let child = partner(&all)?;
    let (stream, _) = listener.accept()?;
    Ok((stream, child, dir))
}

#[cfg(unix)]
pub fn unix_socket_latency(size: usize) -> Result<Latency> {
    let (mut stream, mut child, dir) = unix_socket_partner("socket-echo", &[&size.to_string()])?;
    let mut reader = stream.try_clone()?;
    let r = stream_latency(size, &mut stream, &mut reader);
    drop((stream, reader));
    child.wait()?;
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// 1 MiB messages one way over a Unix socket: the partner writes each from its buffer, this
/// process reads each into its own.
#[cfg(unix)]
pub fn unix_socket_throughput() -> Result<f64> {
    let count = throughput_messages();
    let (mut stream, mut child, dir) = unix_socket_partner("socket-source", &[&count.to_string()])?;
    let mut buf = vec![0u8; THROUGHPUT_MESSAGE];
    let r = receive_throughput(count, || Ok(stream.read_exact(&mut buf)?));
    drop(stream);
    child.wait()?;
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// Two processes handing one cache line back and forth by spinning: the floor.
pub fn cache_line_latency() -> Result<Latency> {
    let name = unique("line");
    let m = Mapping::create_new(name.as_str(), 4096)?;
    let v = m.view().map()?;
    let word = v.atomic_u64(0)?;
    let mut child = partner(&["line-echo", &name])?;
    let mut value = 0u64;
    let r = round_trips(64, || {
        value += 1; // odd: the partner's turn
        word.store(value, Ordering::Release);
        while word.load(Ordering::Acquire) != value + 1 {
            std::hint::spin_loop();
        }
        value += 1;
        Ok(())
    });
    word.store(u64::MAX, Ordering::Release);
    child.wait()?;
    r
}

/// Raw futex ping-pong: both sides always sleep in FUTEX_WAIT.
#[cfg(target_os = "linux")]
pub fn futex_latency() -> Result<Latency> {
    let name = unique("futex");
    let m = Mapping::create_new(name.as_str(), 4096)?;
    let v = m.view().map()?;
    let (ping, pong) = (v.atomic_u32(0)?, v.atomic_u32(64)?);
    let mut child = partner(&["futex-echo", &name])?;
    let mut i = 0u32;
    let r = round_trips(8, || {
        i += 1;
        ping.store(i, Ordering::Release);
        futex_wake(ping);
        futex_wait_for(pong, i);
        Ok(())
    });
    ping.store(u32::MAX, Ordering::Release);
    futex_wake(ping);
    child.wait()?;
    r
}

#[cfg(target_os = "linux")]
fn futex_wake(word: &std::sync::atomic::AtomicU32) {
    let _ = rustix::thread::futex::wake(word, rustix::thread::futex::Flags::empty(), 1);
}

#[cfg(target_os = "linux")]
fn futex_wait_for(word: &std::sync::atomic::AtomicU32, value: u32) {
    loop {
        let now = word.load(Ordering::Acquire);
        if now == value || now == u32::MAX {
            return;
        }
        let _ = rustix::thread::futex::wait(word, rustix::thread::futex::Flags::empty(), now, None);
    }
}

/// 1 MiB messages one way: the sender copies each in, the receiver copies each out.
pub fn filemap_throughput(mode: WaitMode) -> Result<f64> {
    let name = unique("stream");
    let mut rx = Receiver::create_or_open(name.as_str(), 8 << 20)?;
    rx.set_wait_mode(mode);
    let count = throughput_messages();
    let mut child = partner(&["channel-source", &name, &count.to_string(), mode_arg(mode)])?;
    let mut buf = Vec::with_capacity(THROUGHPUT_MESSAGE);
    let r = receive_throughput(count, || {
        rx.recv_into(&mut buf)?;
        Ok(())
    });
    child.wait()?;
    r
}

/// The memcpy bandwidth of this machine for 1 MiB copies (one core).
/// Buffers in the raw hand-off: three measured fastest here (two leave one
/// side waiting for the other, more touch more memory).
const HAND_OFF_BUFFERS: u64 = 3;
/// Where the hand-off's buffers start in its mapping (a view offset must be a multiple of the
/// allocation granularity, 64 KiB on Windows); the first page holds one flag per buffer.
const HAND_OFF_DATA: u64 = 64 << 10;

/// Spins until `flag` holds `value`; an error if that takes more than 10 s (the other
/// process died: neither side may spin forever).
fn spin_until(flag: &AtomicU64, value: u64) -> Result<()> {
    let mut spins = 0u32;
    let mut since: Option<Instant> = None;
    while flag.load(Ordering::Acquire) != value {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % 4096 == 0 && since.get_or_insert_with(Instant::now).elapsed().as_secs() >= 10 {
            return Err(err("the other process of the hand-off stopped answering"));
        }
    }
    Ok(())
}

/// The flags page and the buffer views of the hand-off's mapping.
fn hand_off_views(m: &Mapping) -> Result<(filemap::View, Vec<filemap::View>)> {
    let flags = m.view().len(4096).map()?;
    let buffers = (0..HAND_OFF_BUFFERS)
        .map(|b| {
            m.view()
                .offset(HAND_OFF_DATA + b * THROUGHPUT_MESSAGE as u64)
                .len(THROUGHPUT_MESSAGE as u64)
                .map()
        })
        .collect::<filemap::Result<Vec<_>>>()?;
    Ok((flags, buffers))
}

/// What two processes do to move 1 MiB messages with no channel at all (the throughput
/// rows' reference besides `memcpy`). The partner copies each message into one of three buffers in shared memory
/// and raises the buffer's flag; this process waits for the flag, copies the message out
/// and lowers the flag. Every byte crosses from one core to the other, as in a channel.
pub fn hand_off_throughput() -> Result<f64> {
    let name = unique("hand-off");
    let size = HAND_OFF_DATA + HAND_OFF_BUFFERS * THROUGHPUT_MESSAGE as u64;
    let m = Mapping::create_new(name.as_str(), size)?;
    let (flags, buffers) = hand_off_views(&m)?;
    let count = throughput_messages();
    let mut child = partner(&["hand-off-source", &name, &count.to_string()])?;
    let mut out = vec![0u8; THROUGHPUT_MESSAGE];
    let mut seq = 0u64;
    let r = receive_throughput(count, || {
        let b = seq % HAND_OFF_BUFFERS;
        let flag = flags.atomic_u64(b as usize * 64)?;
        seq += 1;
        spin_until(flag, seq)?;
        // SAFETY: the raised flag (acquire) hands the buffer to this process; the partner
        // does not touch it until the flag is lowered below, after the slice is gone.
        out.copy_from_slice(unsafe { buffers[b as usize].as_slice() });
        flag.store(0, Ordering::Release);
        Ok(())
    });
    child.wait()?;
    r
}

pub fn memcpy_throughput() -> f64 {
    let src = vec![1u8; THROUGHPUT_MESSAGE];
    let mut dst = vec![0u8; THROUGHPUT_MESSAGE];
    let rounds = throughput_messages();
    let start = Instant::now();
    for i in 0..rounds {
        dst.copy_from_slice(&src);
        std::hint::black_box(&mut dst);
        dst[0] = i as u8;
    }
    (rounds * THROUGHPUT_MESSAGE as u64) as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// One result row of `filemap bench channel`.
struct Row {
    scenario: &'static str,
    system: &'static str,
    mode: &'static str,
    size: usize,
    latency: Latency,
    gb_per_s: f64,
}

/// `filemap bench channel [--json]`.
pub fn channel(as_json: bool) -> Result<ExitCode> {
    // The benchmark's objects live in a namespace directory of its own.
    let _namespace = Namespace::new()?;
    let pinned = pin_measuring_process();
    let mut rows = Vec::new();
    let mut latency = |system, mode, size, latency| {
        rows.push(Row {
            scenario: "latency",
            system,
            mode,
            size,
            latency,
            gb_per_s: 0.0,
        })
    };
    latency("floor", "busy-poll", 8, cache_line_latency()?);
    #[cfg(target_os = "linux")]
    latency("futex", "blocking", 8, futex_latency()?);
    for size in SIZES {
        latency(
            "filemap",
            "busy-poll",
            size,
            filemap_latency(size, WaitMode::BusyPoll)?,
        );
        latency(
            "filemap",
            "blocking",
            size,
            filemap_latency(size, WaitMode::Blocking)?,
        );
        #[cfg(unix)]
        latency("unix-socket", "blocking", size, unix_socket_latency(size)?);
        latency("pipe", "blocking", size, pipe_latency(size)?);
    }
    let throughput = |system, mode, gb| Row {
        scenario: "throughput",
        system,
        mode,
        size: THROUGHPUT_MESSAGE,
        latency: Latency {
            p50_ns: 0.0,
            p99_ns: 0.0,
        },
        gb_per_s: gb,
    };
    rows.push(throughput("memcpy", "busy-poll", memcpy_throughput()));
    rows.push(throughput("hand-off", "busy-poll", hand_off_throughput()?));
    rows.push(throughput(
        "filemap",
        "busy-poll",
        filemap_throughput(WaitMode::BusyPoll)?,
    ));
    rows.push(throughput(
        "filemap",
        "blocking",
        filemap_throughput(WaitMode::Blocking)?,
    ));
    #[cfg(unix)]
    rows.push(throughput(
        "unix-socket",
        "blocking",
        unix_socket_throughput()?,
    ));

    if as_json {
        let out: Vec<_> = rows
            .iter()
            .map(|r| {
                if r.scenario == "latency" {
                    json!({"scenario": r.scenario, "system": r.system, "mode": r.mode, "size": r.size,
                           "p50_ns": r.latency.p50_ns, "p99_ns": r.latency.p99_ns})
                } else {
                    json!({"scenario": r.scenario, "system": r.system, "mode": r.mode, "size": r.size,
                           "gb_per_s": r.gb_per_s})
                }
            })
            .collect();
        println!("{}", serde_json::Value::Array(out));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "processes {} to different cores\n",
        if pinned {
            "pinned"
        } else {
            "not pinned (the system does not allow it)"
        }
    );
    let floor = rows
        .iter()
        .find(|r| r.system == "floor")
        .map(|r| r.latency.p50_ns)
        .unwrap_or(f64::NAN);
    println!("one-way latency (half a round trip between two processes), ns:");
    println!(
        "{:<12} {:<10} {:>9} {:>10} {:>10} {:>9}",
        "system", "mode", "size", "p50", "p99", "p50/floor"
    );
    for r in rows.iter().filter(|r| r.scenario == "latency") {
        println!(
            "{:<12} {:<10} {:>9} {:>10.0} {:>10.0} {:>8.1}x",
            r.system,
            r.mode,
            r.size,
            r.latency.p50_ns,
            r.latency.p99_ns,
            r.latency.p50_ns / floor
        );
    }
    let memcpy = rows
        .iter()
        .find(|r| r.system == "memcpy")
        .map(|r| r.gb_per_s)
        .unwrap_or(f64::NAN);
    let hand_off = rows
        .iter()
        .find(|r| r.system == "hand-off")
        .map(|r| r.gb_per_s)
        .unwrap_or(f64::NAN);
    println!(
        "\nthroughput, 1 MiB messages, GB/s (hand-off: two processes passing three raw buffers):"
    );
    for r in rows.iter().filter(|r| r.scenario == "throughput") {
        println!(
            "{:<12} {:<10} {:>6.2} GB/s  ({:.2}x memcpy, {:.2}x hand-off)",
            r.system,
            r.mode,
            r.gb_per_s,
            r.gb_per_s / memcpy,
            r.gb_per_s / hand_off
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The partner process's side of each measurement here (`args[0]` is the role), or `None`
/// for a role the harness does not know (the caller's own roles).
pub fn partner_role(args: &[String]) -> Option<Result<()>> {
    let role = args.first()?.as_str();
    if !matches!(
        role,
        "channel-echo"
            | "channel-source"
            | "stream-echo"
            | "socket-echo"
            | "socket-source"
            | "line-echo"
            | "futex-echo"
            | "hand-off-source"
    ) {
        return None;
    }
    Some(run_partner_role(role, args))
}

fn run_partner_role(role: &str, args: &[String]) -> Result<()> {
    let arg = |i: usize| -> Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| err("missing partner argument"))
    };
    match role {
        "channel-echo" => {
            let mut rx = Receiver::create_or_open(arg(1)?, 1 << 16)?;
            let mut tx = Sender::create_or_open(arg(2)?, 1 << 16)?;
            rx.set_wait_mode(parse_mode(arg(3)?));
            tx.set_wait_mode(parse_mode(arg(3)?));
            loop {
                let msg = match rx.recv() {
                    Ok(m) => m,
                    Err(filemap::Error::Disconnected { .. }) => break,
                    Err(e) => return Err(e.into()),
                };
                let mut slot = tx.reserve(msg.len())?;
                slot.copy_from_slice(&msg);
                slot.commit();
            }
        }
        "channel-source" => {
            let mut tx = Sender::create_or_open(arg(1)?, 8 << 20)?;
            tx.set_wait_mode(parse_mode(arg(3)?));
            let count: u64 = arg(2)?.parse().map_err(err)?;
            let message = vec![5u8; THROUGHPUT_MESSAGE];
            for _ in 0..count {
                let mut slot = tx.reserve(message.len())?;
                slot.copy_from_slice(&message);
                slot.commit();
            }
        }
        "stream-echo" => {
            let size: usize = arg(1)?.parse().map_err(err)?;
            let mut input = std::io::stdin().lock();
            let mut output = std::io::stdout().lock();
            let mut buf = vec![0u8; size];
            while input.read_exact(&mut buf).is_ok() {
                output.write_all(&buf)?;
                output.flush()?;
            }
        }
        #[cfg(unix)]
        "socket-echo" => {
            let size: usize = arg(2)?.parse().map_err(err)?;
            let mut stream = std::os::unix::net::UnixStream::connect(arg(1)?)?;
            let mut buf = vec![0u8; size];
            while stream.read_exact(&mut buf).is_ok() {
                stream.write_all(&buf)?;
            }
        }
        #[cfg(unix)]
        "socket-source" => {
            let count: u64 = arg(2)?.parse().map_err(err)?;
            let mut stream = std::os::unix::net::UnixStream::connect(arg(1)?)?;
            let message = vec![5u8; THROUGHPUT_MESSAGE];
            for _ in 0..count {
                stream.write_all(&message)?;
            }
        }
        "hand-off-source" => {
            let m = Mapping::open(arg(1)?)?;
            let count: u64 = arg(2)?.parse().map_err(err)?;
            let (flags, mut buffers) = hand_off_views(&m)?;
            let message = vec![5u8; THROUGHPUT_MESSAGE];
            for seq in 1..=count {
                let b = (seq - 1) % HAND_OFF_BUFFERS;
                let flag = flags.atomic_u64(b as usize * 64)?;
                spin_until(flag, 0)?;
                // SAFETY: a lowered flag (acquire) means the measuring process is done
                // with the buffer; it does not read it again until the flag is raised.
                unsafe { buffers[b as usize].as_mut_slice()? }.copy_from_slice(&message);
                flag.store(seq, Ordering::Release);
            }
        }
        "line-echo" => {
            let m = Mapping::open(arg(1)?)?;
            let v = m.view().map()?;
            let word: &AtomicU64 = v.atomic_u64(0)?;
            loop {
                let now = word.load(Ordering::Acquire);
                if now == u64::MAX {
                    break;
                }
                if now % 2 == 1 {
                    word.store(now + 1, Ordering::Release);
                }
                std::hint::spin_loop();
            }
        }
        #[cfg(target_os = "linux")]
        "futex-echo" => {
            let m = Mapping::open(arg(1)?)?;
            let v = m.view().map()?;
            let (ping, pong) = (v.atomic_u32(0)?, v.atomic_u32(64)?);
            let mut i = 1u32;
            loop {
                futex_wait_for(ping, i);
                if ping.load(Ordering::Acquire) == u32::MAX {
                    break;
                }
                pong.store(i, Ordering::Release);
                futex_wake(pong);
                i += 1;
            }
        }
        other => return Err(err(format!("partner role {other:?} is not available here"))),
    }
    Ok(())
}

/// `bench-partner <role> <args>...` for the roles of [`partner_role`]: pins this process to
/// [`PARTNER_CPU`] (the measuring process pinned itself to the other core, if the machine
/// has two), then plays the role.
pub fn partner_main(args: &[String]) -> Result<()> {
    pin_to(PARTNER_CPU);
    partner_role(args).unwrap_or_else(|| Err(err(format!("unknown partner role {args:?}"))))
}
