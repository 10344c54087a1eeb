//! filemap side by side with the crates users would pick instead, measured in one run on one
//! machine: `cargo run -p filemap-bench --release -- --report` (see [`suite`]).
//!
//! 1. messages between two processes ([`messages`], with `filemap_harness`, the harness of
//!    `filemap bench channel`): filemap's channel vs iceoryx2,
//!    ipc-channel, a Unix socket and a pipe, against the cache-line and futex floors;
//! 2. throughput of 1 MiB messages: filemap vs iceoryx2 vs a Unix socket, against `memcpy`;
//! 3. named shared memory set-up ([`setup`]): filemap vs `shared_memory` vs raw `shm_open`;
//! 4. named mutexes ([`mutex`]): filemap vs `raw_sync` vs a raw robust pthread mutex;
//! 5. files ([`files`]): filemap's windows vs `memmap2` vs `std::fs::File::read`;
//! 6. publish-subscribe ([`pubsub`], with the harness's topic rows of `filemap bench
//!    pubsub`): one publisher to 1, 2 and 4 subscriber processes, filemap's topics vs
//!    iceoryx2;
//! 7. many parties ([`parties`], with the harness's inbox and service drivers): messages per
//!    second from 2, 4 and 8 sender processes to one receiver, filemap's inbox vs iceoryx2
//!    publish-subscribe (several publishers) vs a Unix datagram socket; and the round trip of
//!    a request, filemap's service vs iceoryx2 request-response vs a Unix stream socket,
//!    beside the channel's one-way latency;
//! 8. async and waiting on many objects ([`waits`], with the harness's async channel rows
//!    of `filemap bench channel`): the channel's 64 B one-way latency with both ends async
//!    (under `filemap::wait::block_on`, and under tokio's current-thread and multi-thread
//!    runtimes) beside the blocking channel and tokio's `UnixStream`, and the wake-up of
//!    `wait_any` over 1, 8 and 64 named events beside a single `NamedEvent::wait`;
//! 9. across machines ([`bridge`]): filemap topics through two `filemap_zenoh` bridges (one
//!    in each of two processes with namespaces of their own) over a Zenoh TCP link on
//!    127.0.0.1, beside a plain Zenoh publisher and subscriber over the same link and a
//!    plain TCP socket: ping-pong latency at 64 B and 1 MiB, and throughput one way;
//! 10. from Python ([`python`], running `bindings/python/bench/roundtrip.py`): the round
//!     trip of 64 B and 1 MiB messages between two Python processes through filemap's
//!     channel, `multiprocessing.Pipe`, `Queue` and `shared_memory` with a polled flag, and a
//!     100 MB numpy array handed to another process.
//!
//! Every measurement that involves two processes or more re-runs this binary as the partner
//! (`filemap-bench bench-partner <role> ...`, dispatched by [`partner_main`]). [`report`]
//! turns the repetitions into rows (median, spread, ratios), JSON, Markdown and the chart.
//!
//! Linux only: the peers are Linux builds (the Windows build of the workspace compiles this
//! crate empty).
#![cfg(target_os = "linux")]

pub mod bridge;
pub mod files;
pub mod messages;
pub mod mutex;
pub mod parties;
pub mod polls;
pub mod pubsub;
pub mod python;
pub mod report;
pub mod scale;
pub mod setup;
pub mod steps;
pub mod suite;
pub mod waits;

pub use filemap_harness::{Error, Result, err};

/// `bench-partner <role> <args>...`: the partner side of a two-process measurement. Pins
/// this process to the partner's core, then plays the role (this crate's, or the harness's).
pub fn partner_main(args: &[String]) -> Result<()> {
    filemap_harness::pin_to(filemap_harness::PARTNER_CPU);
    let role = args.first().map(String::as_str).unwrap_or("");
    if let Some(r) = messages::partner_role(role, args) {
        return r;
    }
    if let Some(r) = setup::partner_role(role, args) {
        return r;
    }
    if let Some(r) = mutex::partner_role(role, args) {
        return r;
    }
    if let Some(r) = files::partner_role(role, args) {
        return r;
    }
    if let Some(r) = pubsub::partner_role(role, args) {
        return r;
    }
    if let Some(r) = parties::partner_role(role, args) {
        return r;
    }
    if let Some(r) = waits::partner_role(role, args) {
        return r;
    }
    if let Some(r) = bridge::partner_role(role, args) {
        return r;
    }
    if let Some(r) = scale::partner_role(role, args) {
        return r;
    }
    filemap_harness::partner_role(args)
        .unwrap_or_else(|| Err(err(format!("unknown partner role {role:?}"))))
}

/// The argument `i` of a partner role.
pub(crate) fn arg(args: &[String], i: usize) -> Result<&str> {
    args.get(i)
        .map(String::as_str)
        .ok_or_else(|| err("missing partner argument"))
}

/// Repetitions of each measurement (`FILEMAP_BENCH_REPS`; 5, or 2 in quick mode).
pub fn repetitions() -> usize {
    std::env::var("FILEMAP_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(if filemap_harness::quick() { 2 } else { 5 })
}

/// Reads one line the partner printed (its readiness, or its result).
pub(crate) fn read_line(child: &mut std::process::Child) -> Result<String> {
    use std::io::Read;
    let out = child
        .stdout
        .as_mut()
        .ok_or_else(|| err("partner without piped output"))?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if out.read(&mut byte)? == 0 {
            return Err(err(format!(
                "the partner exited early ({})",
                String::from_utf8_lossy(&line)
            )));
        }
        if byte[0] == b'\n' {
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        line.push(byte[0]);
    }
}

/// Tells the user of a long run what it is measuring now (on stderr, which the report
/// leaves alone).
pub(crate) fn progress(what: impl std::fmt::Display) {
    eprintln!("filemap-bench: {what}");
}

/// Prints one line for the measuring process (and flushes it: the output is a pipe).
pub(crate) fn say(line: impl std::fmt::Display) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Waits for the partner and fails if it did.
pub(crate) fn finish(mut child: std::process::Child) -> Result<()> {
    drop(child.stdin.take());
    let status = child.wait()?;
    if status.success() {
        Ok(())
    } else {
        Err(err(format!("a partner process failed ({status})")))
    }
}
