//! What idle async receivers cost: N channels, each with a `recv_async` future pending on
//! one tokio runtime and nothing sent, for S seconds; prints the process's CPU time over
//! that span as a share of one core. (A pending future sleeps nowhere itself, but the
//! waiter threads wake each every 100 ms to look for a dead sender.) Then one message to
//! each ends them all.
//!
//! ```text
//! idle_futures [N [S]]    N futures (default 1000) for S seconds (default 10)
//! ```

use std::time::{Duration, Instant};

use filemap::channel::{Receiver, Sender};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// This process's user and system CPU time so far, in seconds (Linux's `/proc`; `None`
/// elsewhere).
#[cfg(target_os = "linux")]
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / per_second)
}

#[cfg(not(target_os = "linux"))]
fn cpu_seconds() -> Option<f64> {
    None
}

/// Raises this process's soft limit on open descriptors to its hard limit: each channel
/// holds four (each end's entry and liveness lock), more than the usual soft limit of 1024
/// allows for a thousand channels.
#[cfg(target_os = "linux")]
fn allow_descriptors() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit with a pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn allow_descriptors() {}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().map_or(Ok(1000), |a| a.parse())?;
    let seconds: u64 = args.get(1).map_or(Ok(10), |a| a.parse())?;
    allow_descriptors();
    let tag = std::process::id();
    let mut senders = Vec::with_capacity(n);
    let mut receivers = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("idle-{tag}-{i}");
        receivers.push(Receiver::create_or_open(name.as_str(), 4096)?);
        senders.push(Sender::open(name.as_str())?);
    }
    let waiting = std::thread::spawn(move || -> Result<usize> {
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        runtime.block_on(async move {
            let tasks: Vec<_> = receivers
                .into_iter()
                .map(|mut rx| tokio::spawn(async move { rx.recv_async().await.map(|m| m.len()) }))
                .collect();
            let mut received = 0;
            for task in tasks {
                received += task.await??;
            }
            Ok(received)
        })
    });
    // Let every future register and settle first.
    std::thread::sleep(Duration::from_secs(1));
    let (cpu, started) = (cpu_seconds(), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let (cpu_after, span) = (cpu_seconds(), started.elapsed().as_secs_f64());
    match (cpu, cpu_after) {
        (Some(a), Some(b)) => println!(
            "{n} idle recv_async futures: {:.1}% of one core ({:.2} s of CPU in {span:.1} s)",
            100.0 * (b - a) / span,
            b - a
        ),
        _ => println!("{n} idle recv_async futures (no CPU time to read on this system)"),
    }
    for tx in &mut senders {
        tx.send(b"x")?;
    }
    let received = waiting
        .join()
        .map_err(|_| "the runtime's thread panicked")??;
    println!("each future then received its message ({received} in all)");
    Ok(())
}
