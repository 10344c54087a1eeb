//! Measuring: pinning to cores, the ping-pong and throughput drivers, percentiles, and how
//! much work a run does.

use std::time::{Duration, Instant};

use crate::{Result, MEASURING_CPU, THROUGHPUT_MESSAGE};

const THROUGHPUT_BYTES: u64 = 4 << 30;

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
/// (partners pin themselves to [`PARTNER_CPU`](crate::PARTNER_CPU)); whether it did. Call
/// it before starting partners: children inherit the pin until they set their own.
pub fn pin_measuring_process() -> bool {
    let two_cores = std::thread::available_parallelism()
        .map(|n| n.get() >= 2)
        .unwrap_or(false);
    two_cores && pin_to(MEASURING_CPU)
}
