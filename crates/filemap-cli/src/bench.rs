//! `filemap bench channel`: one-way latency and throughput of filemap's channel between two
//! processes, against a Unix socket, a pipe, and the floors (two processes ping-ponging one
//! cache line, and a raw futex ping-pong), all measured in the same run. The partner
//! process is this binary again (`filemap bench-partner ...`).

use std::io::{Read, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use filemap::channel::{Receiver, Sender, WaitMode};
use filemap::Mapping;
use serde_json::json;

use crate::commands::{Failure, Outcome};

const SIZES: [usize; 5] = [8, 64, 1024, 64 << 10, 1 << 20];
const THROUGHPUT_MESSAGE: usize = 1 << 20;
const THROUGHPUT_BYTES: u64 = 4 << 30;

/// `FILEMAP_BENCH_QUICK=1` runs a hundredth of the work (for tests of the command itself:
/// its numbers are then too rough to quote).
fn quick() -> bool {
    std::env::var_os("FILEMAP_BENCH_QUICK").is_some()
}

fn throughput_bytes() -> u64 {
    if quick() {
        64 << 20
    } else {
        THROUGHPUT_BYTES
    }
}

/// One result row.
struct Row {
    scenario: &'static str,
    system: &'static str,
    mode: &'static str,
    size: usize,
    p50_ns: f64,
    p99_ns: f64,
    gb_per_s: f64,
}

fn iterations(size: usize) -> usize {
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

/// Percentiles of one-way times (half the round trips), in nanoseconds.
fn percentiles(mut round_trips: Vec<Duration>) -> (f64, f64) {
    round_trips.sort();
    let at =
        |q: f64| round_trips[((round_trips.len() - 1) as f64 * q) as usize].as_nanos() as f64 / 2.0;
    (at(0.50), at(0.99))
}

fn partner(args: &[&str]) -> Result<Child, Failure> {
    Ok(Command::new(std::env::current_exe()?)
        .arg("bench-partner")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?)
}

/// Pins this process to `cpu` where the system allows it (Linux); whether it did. Call it
/// before starting partners only when two cores are available: children inherit the pin.
fn pin_to(cpu: usize) -> bool {
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

fn err(e: impl std::fmt::Display) -> Failure {
    Failure::Error(e.to_string())
}

fn run_id() -> String {
    format!("bench{}", std::process::id())
}

/// filemap channel ping-pong: messages of `size` bytes there and back.
fn filemap_latency(size: usize, mode: WaitMode) -> Result<(f64, f64), Failure> {
    let id = run_id();
    let (there, back) = (format!("{id}-there"), format!("{id}-back"));
    let capacity = (size as u64 * 4).max(1 << 16);
    let mut tx = Sender::create_or_open(there.as_str(), capacity)?;
    let mut rx = Receiver::create_or_open(back.as_str(), capacity)?;
    tx.set_wait_mode(mode);
    rx.set_wait_mode(mode);
    let mode_arg = if mode == WaitMode::BusyPoll {
        "busy-poll"
    } else {
        "blocking"
    };
    let mut child = partner(&["channel-echo", &there, &back, mode_arg])?;
    let message = vec![7u8; size];
    let n = iterations(size);
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let start = Instant::now();
        let mut slot = tx.reserve(size)?;
        slot.copy_from_slice(&message);
        slot.commit();
        let reply = rx.recv()?;
        if reply.len() != size {
            return Err(err("the echo returned a message of another size"));
        }
        drop(reply);
        if i >= n / 10 {
            samples.push(start.elapsed());
        }
    }
    drop(tx); // the partner sees Disconnected and exits
    drop(rx);
    child.wait()?;
    Ok(percentiles(samples))
}

/// Byte-stream ping-pong over `write`/`read` (Unix socket or pipes).
fn stream_latency(
    size: usize,
    out: &mut dyn Write,
    input: &mut dyn Read,
) -> Result<(f64, f64), Failure> {
    let message = vec![7u8; size];
    let mut reply = vec![0u8; size];
    let n = iterations(size);
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let start = Instant::now();
        out.write_all(&message)?;
        input.read_exact(&mut reply)?;
        if i >= n / 10 {
            samples.push(start.elapsed());
        }
    }
    Ok(percentiles(samples))
}

fn pipe_latency(size: usize) -> Result<(f64, f64), Failure> {
    let mut child = partner(&["stream-echo", &size.to_string()])?;
    let mut to = child.stdin.take().expect("piped");
    let mut from = child.stdout.take().expect("piped");
    let r = stream_latency(size, &mut to, &mut from);
    drop(to);
    child.wait()?;
    r
}

#[cfg(unix)]
fn unix_socket_latency(size: usize) -> Result<(f64, f64), Failure> {
    let dir = std::env::temp_dir().join(format!("filemap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("s");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path)?;
    let mut child = partner(&["socket-echo", &path.to_string_lossy(), &size.to_string()])?;
    let (mut stream, _) = listener.accept()?;
    let mut reader = stream.try_clone()?;
    let r = stream_latency(size, &mut stream, &mut reader);
    drop((stream, reader));
    child.wait()?;
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// Two processes handing one cache line back and forth by spinning: the floor.
fn cache_line_latency() -> Result<(f64, f64), Failure> {
    let name = format!("{}-line", run_id());
    let m = Mapping::create_new(name.as_str(), 4096)?;
    let v = m.view().map()?;
    let word = v.atomic_u64(0)?;
    let mut child = partner(&["line-echo", &name])?;
    let n = iterations(8) * 5;
    let mut samples = Vec::with_capacity(n);
    let mut value = 0u64;
    for i in 0..n + n / 10 {
        let start = Instant::now();
        value += 1; // odd: the partner's turn
        word.store(value, Ordering::Release);
        while word.load(Ordering::Acquire) != value + 1 {
            std::hint::spin_loop();
        }
        value += 1;
        if i >= n / 10 {
            samples.push(start.elapsed());
        }
    }
    word.store(u64::MAX, Ordering::Release);
    child.wait()?;
    Ok(percentiles(samples))
}

/// Raw futex ping-pong: both sides always sleep in FUTEX_WAIT.
#[cfg(target_os = "linux")]
fn futex_latency() -> Result<(f64, f64), Failure> {
    let name = format!("{}-futex", run_id());
    let m = Mapping::create_new(name.as_str(), 4096)?;
    let v = m.view().map()?;
    let (ping, pong) = (v.atomic_u32(0)?, v.atomic_u32(64)?);
    let mut child = partner(&["futex-echo", &name])?;
    let n = iterations(8);
    let mut samples = Vec::with_capacity(n);
    for i in 1..=(n + n / 10) as u32 {
        let start = Instant::now();
        ping.store(i, Ordering::Release);
        futex_wake(ping);
        futex_wait_for(pong, i);
        if i as usize > n / 10 {
            samples.push(start.elapsed());
        }
    }
    ping.store(u32::MAX, Ordering::Release);
    futex_wake(ping);
    child.wait()?;
    Ok(percentiles(samples))
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
fn filemap_throughput(mode: WaitMode) -> Result<f64, Failure> {
    let name = format!("{}-stream", run_id());
    let mut rx = Receiver::create_or_open(name.as_str(), 8 << 20)?;
    rx.set_wait_mode(mode);
    let count = throughput_bytes() / THROUGHPUT_MESSAGE as u64;
    let mode_arg = if mode == WaitMode::BusyPoll {
        "busy-poll"
    } else {
        "blocking"
    };
    let mut child = partner(&["channel-source", &name, &count.to_string(), mode_arg])?;
    let mut buf = Vec::with_capacity(THROUGHPUT_MESSAGE);
    // The first message starts the clock (the partner has started by then).
    rx.recv_into(&mut buf)?;
    let start = Instant::now();
    for _ in 1..count {
        rx.recv_into(&mut buf)?;
    }
    let secs = start.elapsed().as_secs_f64();
    child.wait()?;
    Ok(((count - 1) * THROUGHPUT_MESSAGE as u64) as f64 / secs / 1e9)
}

/// The memcpy bandwidth of this machine for 1 MiB copies (one core).
fn memcpy_throughput() -> f64 {
    let src = vec![1u8; THROUGHPUT_MESSAGE];
    let mut dst = vec![0u8; THROUGHPUT_MESSAGE];
    let rounds = throughput_bytes() / THROUGHPUT_MESSAGE as u64;
    let start = Instant::now();
    for i in 0..rounds {
        dst.copy_from_slice(&src);
        std::hint::black_box(&mut dst);
        dst[0] = i as u8;
    }
    (rounds * THROUGHPUT_MESSAGE as u64) as f64 / start.elapsed().as_secs_f64() / 1e9
}

pub fn channel(as_json: bool) -> Outcome {
    // The benchmark's objects live in a namespace directory of its own.
    #[cfg(unix)]
    let dir = {
        let dir = std::env::temp_dir().join(format!("filemap-bench-ns-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::env::set_var("FILEMAP_DIR", &dir);
        dir
    };
    // The partner pins itself to the other core (see `partner_main`).
    let two_cores = std::thread::available_parallelism()
        .map(|n| n.get() >= 2)
        .unwrap_or(false);
    let pinned = two_cores && pin_to(0);
    let mut rows = Vec::new();
    let mut latency = |system, mode, size, r: (f64, f64)| {
        rows.push(Row {
            scenario: "latency",
            system,
            mode,
            size,
            p50_ns: r.0,
            p99_ns: r.1,
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
        p50_ns: 0.0,
        p99_ns: 0.0,
        gb_per_s: gb,
    };
    rows.push(throughput("memcpy", "busy-poll", memcpy_throughput()));
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
    let _ = std::fs::remove_dir_all(&dir);

    if as_json {
        let out: Vec<_> = rows
            .iter()
            .map(|r| {
                if r.scenario == "latency" {
                    json!({"scenario": r.scenario, "system": r.system, "mode": r.mode, "size": r.size,
                           "p50_ns": r.p50_ns, "p99_ns": r.p99_ns})
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
        .map(|r| r.p50_ns)
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
            r.p50_ns,
            r.p99_ns,
            r.p50_ns / floor
        );
    }
    let memcpy = rows
        .iter()
        .find(|r| r.system == "memcpy")
        .map(|r| r.gb_per_s)
        .unwrap_or(f64::NAN);
    println!("\nthroughput, 1 MiB messages, GB/s:");
    for r in rows.iter().filter(|r| r.scenario == "throughput") {
        println!(
            "{:<12} {:<10} {:>6.2} GB/s  ({:.2}x memcpy)",
            r.system,
            r.mode,
            r.gb_per_s,
            r.gb_per_s / memcpy
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The partner process's side of each measurement.
pub fn partner_main(args: &[String]) -> Outcome {
    let arg = |i: usize| -> Result<&str, Failure> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| Failure::Usage("missing partner argument".into()))
    };
    let mode = |s: &str| {
        if s == "busy-poll" {
            WaitMode::BusyPoll
        } else {
            WaitMode::Blocking
        }
    };
    // The other core than the measuring process (which pinned itself to the first, if the
    // machine has two).
    pin_to(1);
    match arg(0)? {
        "channel-echo" => {
            let mut rx = Receiver::create_or_open(arg(1)?, 1 << 16)?;
            let mut tx = Sender::create_or_open(arg(2)?, 1 << 16)?;
            rx.set_wait_mode(mode(arg(3)?));
            tx.set_wait_mode(mode(arg(3)?));
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
            tx.set_wait_mode(mode(arg(3)?));
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
        other => return Err(Failure::Usage(format!("unknown partner role {other:?}"))),
    }
    Ok(ExitCode::SUCCESS)
}
