//! Measuring: pinning to cores, the ping-pong and throughput drivers, percentiles, and how
//! much work a run does.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::{MEASURING_CPU, PARTNER_CPU, Result, THROUGHPUT_MESSAGE};

const THROUGHPUT_BYTES: u64 = 4 << 30;

/// `FILEMAP_BENCH_QUICK=1` runs a hundredth of the work (for tests of the benchmarks
/// themselves: their numbers are then too rough to quote).
pub fn quick() -> bool {
    std::env::var_os("FILEMAP_BENCH_QUICK").is_some()
}

/// The bytes each throughput row moves.
pub fn throughput_bytes() -> u64 {
    if quick() { 64 << 20 } else { THROUGHPUT_BYTES }
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
    if quick() { (n / 100).max(10) } else { n }
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
    let (untimed, timed) = round_trip_counts(size);
    for _ in 0..untimed {
        round_trip()?;
    }
    let mut samples = Vec::with_capacity(timed);
    for _ in 0..timed {
        let start = Instant::now();
        round_trip()?;
        samples.push(start.elapsed());
    }
    Ok(percentiles(samples))
}

/// The untimed (warm-up) and timed round trips of a row for messages of `size` bytes, for
/// loops that time their round trips themselves (async ones, which cannot hand a closure
/// to [`round_trips`]): a tenth of `iterations(size)`, then `iterations(size)`. Their
/// times go to [`half_round_trips`].
pub fn round_trip_counts(size: usize) -> (usize, usize) {
    let n = iterations(size);
    (n / 10, n)
}

/// One-way latency percentiles of timed round trips (half of each), as [`round_trips`]
/// reports them.
pub fn half_round_trips(round_trips: Vec<Duration>) -> Latency {
    percentiles(round_trips)
}

/// How long the timed messages of one publish-subscribe row may take: a row stops there
/// (after at least [`MIN_ONE_WAY`] messages) even if it has not sent `iterations(size)`
/// (a tenth of both in [`quick`] mode).
/// Rows whose busy-polling processes outnumber the cores take milliseconds per message and
/// end here; the others finish their count first.
pub const ONE_WAY_BUDGET: Duration = Duration::from_millis(500);
/// The fewest timed messages of a publish-subscribe row (unless [`quick`]).
pub const MIN_ONE_WAY: usize = 100;

/// Runs `one_way` (one message out, and back the time at which it arrived) up to
/// `iterations(size)` times, or for [`ONE_WAY_BUDGET`], after a tenth as many untimed
/// warm-up messages (at most a tenth of the budget). `one_way` returns the message's one-way
/// latency in nanoseconds, measured on [`clock_ns`] across processes; the next message
/// goes only after the last one arrived, so no message waits for another.
pub fn one_way_rounds(size: usize, mut one_way: impl FnMut() -> Result<u64>) -> Result<Latency> {
    budgeted_percentiles(size, ONE_WAY_BUDGET, || {
        Ok(Duration::from_nanos(one_way()?))
    })
}

/// Takes `sample` (one measured time) as a [`Budgeted`] row plans it; the percentiles.
fn budgeted_percentiles(
    size: usize,
    budget: Duration,
    mut sample: impl FnMut() -> Result<Duration>,
) -> Result<Latency> {
    let mut plan = Budgeted::new(size, budget);
    while plan.more() {
        plan.record(sample()?);
    }
    Ok(plan.latency())
}

/// The samples of a budgeted row, for loops that take them themselves (async ones, which
/// cannot hand a closure to [`one_way_rounds`]): up to `iterations(size)` measured times,
/// or for `budget` once [`MIN_ONE_WAY`] are in, after a tenth as many untimed ones (at
/// most a tenth of the budget); a tenth of the budget and of the fewest in [`quick`] mode.
///
/// ```
/// # use std::time::Duration;
/// let mut plan = filemap_harness::Budgeted::one_way(64);
/// while plan.more() {
///     plan.record(Duration::from_nanos(100)); // one measured time
/// }
/// assert_eq!(plan.latency().p50_ns, 100.0);
/// ```
pub struct Budgeted {
    n: usize,
    budget: Duration,
    least: usize,
    warm_up_left: usize,
    start: Instant,
    samples: Vec<Duration>,
}

impl Budgeted {
    /// The plan of a row of messages of `size` bytes that may take `budget`.
    pub fn new(size: usize, budget: Duration) -> Budgeted {
        let n = iterations(size);
        let (budget, least) = if quick() {
            (budget / 10, (MIN_ONE_WAY / 10).min(n))
        } else {
            (budget, MIN_ONE_WAY.min(n))
        };
        Budgeted {
            n,
            budget,
            least,
            warm_up_left: n / 10,
            start: Instant::now(),
            samples: Vec::with_capacity(n),
        }
    }

    /// The plan of a one-way row ([`ONE_WAY_BUDGET`], as [`one_way_rounds`]).
    pub fn one_way(size: usize) -> Budgeted {
        Budgeted::new(size, ONE_WAY_BUDGET)
    }

    /// Whether to take another sample.
    pub fn more(&self) -> bool {
        self.warm_up_left > 0
            || (self.samples.len() < self.n
                && !(self.samples.len() >= self.least && self.start.elapsed() > self.budget))
    }

    /// Records a sample just taken (an untimed one while warming up).
    pub fn record(&mut self, sample: Duration) {
        if self.warm_up_left == 0 {
            self.samples.push(sample);
            return;
        }
        self.warm_up_left -= 1;
        if self.start.elapsed() > self.budget / 10 {
            self.warm_up_left = 0;
        }
        if self.warm_up_left == 0 {
            self.start = Instant::now();
        }
    }

    /// The percentiles of the recorded samples.
    pub fn latency(self) -> Latency {
        scaled_percentiles(self.samples, 1.0)
    }
}

/// How long the timed round trips of a request-response row may take: a row stops there
/// (after at least [`MIN_ONE_WAY`] round trips) even if it has not made `iterations(size)`
/// (a tenth of both in [`quick`] mode). Only rows that sleep and wake up in the kernel on
/// every message (a socket's) take that long.
pub const ROUND_TRIP_BUDGET: Duration = Duration::from_millis(500);

/// Runs `round_trip` (a request and its response) up to `iterations(size)` times, or for
/// [`ROUND_TRIP_BUDGET`], after a tenth as many untimed ones (at most a tenth of the
/// budget), timing each; the percentiles of the whole round trips (not halved, unlike
/// [`round_trips`]).
pub fn request_round_trips(
    size: usize,
    mut round_trip: impl FnMut() -> Result<()>,
) -> Result<Latency> {
    budgeted_percentiles(size, ROUND_TRIP_BUDGET, || {
        let start = Instant::now();
        round_trip()?;
        Ok(start.elapsed())
    })
}

/// How long a many-to-one row receives untimed before it counts (the senders have all
/// started, their buffers have filled or not).
pub const RATE_WARM_UP: Duration = Duration::from_millis(100);
/// How long a many-to-one row counts the messages it receives.
pub const RATE_WINDOW: Duration = Duration::from_millis(300);

/// Receives with `recv_one` (one message, waiting for it) for [`RATE_WARM_UP`], then counts
/// the messages received in [`RATE_WINDOW`] (a tenth of both in [`quick`] mode); the rate
/// in messages per second. The clock is read every 64 messages, so the window ends up to
/// 63 messages late and the rate is of the messages counted over the time they took.
pub fn message_rate(mut recv_one: impl FnMut() -> Result<()>) -> Result<f64> {
    let (warm_up, window) = if quick() {
        (RATE_WARM_UP / 10, RATE_WINDOW / 10)
    } else {
        (RATE_WARM_UP, RATE_WINDOW)
    };
    let start = Instant::now();
    while start.elapsed() < warm_up {
        for _ in 0..64 {
            recv_one()?;
        }
    }
    let start = Instant::now();
    let mut count = 0u64;
    loop {
        for _ in 0..64 {
            recv_one()?;
        }
        count += 64;
        let elapsed = start.elapsed();
        if elapsed >= window {
            return Ok(count as f64 / elapsed.as_secs_f64());
        }
    }
}

/// Nanoseconds on a clock that every process of the machine reads alike, for one-way times
/// measured across processes: `CLOCK_MONOTONIC` on Linux, the system clock elsewhere
/// (precise to 100 ns on Windows, and subject to its adjustments).
pub fn clock_ns() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }
}

/// Percentiles of one-way times (half the round trips), in nanoseconds.
fn percentiles(round_trips: Vec<Duration>) -> Latency {
    scaled_percentiles(round_trips, 0.5)
}

/// The p50 and p99 of `samples`, each times `scale` (0.5: one way of a round trip), in
/// nanoseconds.
pub(crate) fn scaled_percentiles(mut samples: Vec<Duration>, scale: f64) -> Latency {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_nanos() as f64 * scale;
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
/// (partners pin themselves to [`PARTNER_CPU`]); whether it did. Call
/// it before starting partners: children inherit the pin until they set their own.
pub fn pin_measuring_process() -> bool {
    let two_cores = cores() >= 2;
    let pinned = two_cores && pin_to(MEASURING_CPU);
    PINNED.store(pinned, Ordering::Relaxed);
    pinned
}

/// The machine's cores as this process first saw them (before [`pin_measuring_process`]
/// narrowed them to one).
static CORES: AtomicUsize = AtomicUsize::new(0);
/// Whether [`pin_measuring_process`] pinned this process.
static PINNED: AtomicBool = AtomicBool::new(false);

/// The cores this process may run on, counted the first time it asks (call it, or
/// [`pin_measuring_process`], before pinning).
pub fn cores() -> usize {
    match CORES.load(Ordering::Relaxed) {
        0 => {
            let n = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            CORES.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// The core subscriber process `k` of a publish-subscribe row pins itself to: the cores
/// other than the measuring process's, in turn (on a machine with two cores every
/// subscriber shares the partner's core); `None` when the measuring process is not pinned.
pub fn subscriber_cpu(k: usize) -> Option<usize> {
    let cores = cores();
    (PINNED.load(Ordering::Relaxed) && cores >= 2).then(|| PARTNER_CPU + k % (cores - 1))
}

/// Whether `processes` (a publisher and its subscribers) outnumber this machine's cores:
/// then some of them take turns on a core, and a busy-polling row measures the scheduler's
/// time slices (a subscriber waits while another spins) rather than the messages.
pub fn oversubscribed(processes: usize) -> bool {
    processes > cores()
}
