//! A crash storm on a service: a server process and three client processes, each killed
//! at random (SIGKILL on Linux, TerminateProcess on Windows) and replaced at once, while
//! this process calls the service throughout. Every call that returns must return exactly
//! its own answer; a call whose request a dead server had taken fails with
//! `Disconnected` (and is made again), whether the server was replaced at once or not;
//! no call may be left unanswered: a call still waiting after 5 s fails the test (in this
//! process, or in a client process, which exits 1 and is seen exiting by itself). The
//! servers often hold a request a few milliseconds before they answer, so that kills find
//! them holding one.
//!
//! Bounded for CI (`FILEMAP_SOAK_SECS`, default 10 s on Linux, 5 s on Windows).

mod common;

use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::SpawnRetrying;
use common::{Namespace, child, role, run_tests, soak_secs, still_running};
use filemap::Error;
use filemap::service::{Client, Server, ServiceOptions};

const SERVICE: &str = "soak-service";
const CLIENTS: usize = 3;
/// How long a call may wait before it counts as left unanswered.
const CALL_PATIENCE: Duration = Duration::from_secs(5);

fn main() {
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    run_tests(&[("service_crash_storm", service_crash_storm)]);
}

/// The answer to `request`: its bytes reversed, in 1 to 3 parts (by its first byte).
fn answer_parts(request: &[u8]) -> Vec<Vec<u8>> {
    let reversed: Vec<u8> = request.iter().rev().copied().collect();
    let parts = 1 + request.first().map_or(0, |b| *b as usize % 3);
    let size = reversed.len().div_ceil(parts).max(1);
    reversed.chunks(size).map(<[u8]>::to_vec).collect()
}

/// Call `k` of a client: 10 to ~300 bytes, from the client's id and `k`.
fn request(who: u64, k: u64) -> Vec<u8> {
    let len = 10 + (k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize;
    let mut r: Vec<u8> = (0..len).map(|i| (k as u8) ^ (i as u8)).collect();
    r[..8].copy_from_slice(&k.to_le_bytes());
    r[8] = who as u8;
    r
}

/// Calls until `stop`, each call checked; a call that fails with `Disconnected` is made
/// again. Counts answered calls into `answered` and failed ones into `failed`. `Err` says
/// what was wrong (a wrong answer, a call left waiting, another error).
fn call_on(
    client: &mut Client,
    who: u64,
    answered: &AtomicU64,
    failed: &AtomicU64,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let r = request(who, k);
        match client.call(&r, CALL_PATIENCE) {
            Ok(got) => {
                if got != answer_parts(&r).concat() {
                    return Err(format!("call {k}: not its own answer"));
                }
                answered.fetch_add(1, Ordering::Relaxed);
                k += 1;
            }
            // The server died holding it, or is gone for a moment: call again.
            Err(Error::Disconnected { .. }) => {
                failed.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(Error::Timeout { .. }) => {
                return Err(format!("call {k} left unanswered for {CALL_PATIENCE:?}"));
            }
            Err(e) => return Err(format!("call {k}: {e}")),
        }
    }
    Ok(())
}

fn play(role: &str, args: &[String]) -> i32 {
    match role {
        // Serves until killed; holds one request in four for a few milliseconds.
        "server" => {
            let mut server = loop {
                match Server::open(SERVICE) {
                    Ok(s) => break s,
                    // The killed one's lock is not released yet: try again.
                    Err(Error::EndpointTaken { .. }) => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) => panic!("server: {e}"),
                }
            };
            loop {
                let (id, request) = {
                    let r = server.recv_request().unwrap();
                    (r.id(), r.to_vec().unwrap())
                };
                if request[0] % 4 == 0 {
                    std::thread::sleep(Duration::from_millis(1 + u64::from(request[0] % 3)));
                }
                let parts = answer_parts(&request);
                for (i, part) in parts.iter().enumerate() {
                    if i + 1 == parts.len() {
                        server.respond(id, part).unwrap();
                    } else {
                        server.respond_part(id, part).unwrap();
                    }
                }
            }
        }
        // Calls until killed; exits 1 on anything wrong.
        "client" => {
            let who: u64 = args[0].parse().unwrap();
            let mut client = Client::open(SERVICE).unwrap();
            let (answered, failed) = (AtomicU64::new(0), AtomicU64::new(0));
            match call_on(
                &mut client,
                who,
                &answered,
                &failed,
                &AtomicBool::new(false),
            ) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("client {who}: {e}");
                    1
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn service_crash_storm() {
    let ns = Namespace::new();
    let options = ServiceOptions::new().clients(8).capacity(16 << 10);
    let mut mine = Client::create_or_open(SERVICE, &options).unwrap();
    let answered = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let caller = {
        let (answered, failed, stop) = (answered.clone(), failed.clone(), stop.clone());
        std::thread::spawn(move || {
            let r = call_on(&mut mine, 99, &answered, &failed, &stop);
            (r, mine)
        })
    };
    let mut server = child("server", &[]).spawn_retrying();
    let mut clients: Vec<Child> = (0..CLIENTS)
        .map(|k| child("client", &[&k.to_string()]).spawn_retrying())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(soak_secs(10, 5));
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let (mut server_kills, mut client_kills) = (0, 0);
    let mut last_progress = (answered.load(Ordering::Relaxed), Instant::now());
    while Instant::now() < deadline {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(30 + rng % 120));
        still_running(&mut server, "the server");
        for c in &mut clients {
            still_running(c, "a client");
        }
        if rng % 2 == 0 {
            // Replaced at once: its clients may never see it dead.
            server.kill().unwrap();
            server.wait().unwrap();
            server = child("server", &[]).spawn_retrying();
            server_kills += 1;
        } else {
            let k = (rng >> 8) as usize % CLIENTS;
            clients[k].kill().unwrap();
            clients[k].wait().unwrap();
            clients[k] = child("client", &[&k.to_string()]).spawn_retrying();
            client_kills += 1;
        }
        // The calls go on (a safety net of seconds, for a loaded machine).
        let now = answered.load(Ordering::Relaxed);
        if now != last_progress.0 {
            last_progress = (now, Instant::now());
        }
        assert!(
            last_progress.1.elapsed() < Duration::from_secs(20),
            "no call answered for 20 s"
        );
    }
    // This process's last call ends (answered, or failed past its patience) before the
    // server goes.
    stop.store(true, Ordering::Relaxed);
    let (called, mine) = caller.join().unwrap();
    for mut c in clients.into_iter().chain([server]) {
        let _ = c.kill();
        let _ = c.wait();
    }
    called.unwrap();
    let total = answered.load(Ordering::Relaxed);
    assert!(total > 0, "no call was answered");
    println!(
        "    {total} calls answered exactly, {} failed by a dead server and made again, \
         across {server_kills} killed servers (each replaced at once) and {client_kills} \
         killed clients",
        failed.load(Ordering::Relaxed)
    );
    drop(mine);
    ns.assert_empty();
}
