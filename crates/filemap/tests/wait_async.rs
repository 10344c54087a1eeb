//! Async waits across real processes: 100 receive futures on one tokio runtime each get
//! exactly their messages; events, semaphores and mutexes under tokio's current-thread
//! runtime and smol's executor; kill -9 of a peer wakes async waiters with `Disconnected`
//! or abandoned; futures dropped at random points lose nothing (counted); blocking and
//! async waiters sharing a semaphore take every unit exactly once; a pending receive sleeps
//! at once, or set to spin, spins through the executor for a moment first, and its message
//! wakes it; a receive
//! that waits while its sender wraps around the ring gives the sender the bytes it needs;
//! an async subscriber that its publisher keeps lapping (`DropOldest`) counts every message
//! once, received or missed.

mod common;

use std::future::Future;
use std::io::Write;
use std::time::{Duration, Instant};

use common::SpawnRetrying;
use common::{Namespace, child, role, run_tests, spawn_ready, unique};
use filemap::Error;
use filemap::channel::{Receiver, Sender};
use filemap::inbox::{Inbox, InboxOptions, InboxSender};
use filemap::service::{Client, Server, ServiceOptions};
use filemap::sync::{EventReset, NamedEvent, NamedMutex, NamedSemaphore};

const PATIENCE: Duration = Duration::from_secs(20);

fn main() {
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    #[cfg(not(target_os = "linux"))]
    println!(
        "an_idle_waiter_thread_sleeps_without_ticking: Linux only (it counts the waiter \
         threads' context switches under /proc; the Windows waiter sleeps INFINITE alike)"
    );
    run_tests(&[
        (
            "hundred_futures_on_one_runtime_get_exactly_their_messages",
            hundred_futures_on_one_runtime_get_exactly_their_messages,
        ),
        (
            "sync_objects_under_tokio_and_smol",
            sync_objects_under_tokio_and_smol,
        ),
        (
            "killed_peers_wake_async_waiters",
            killed_peers_wake_async_waiters,
        ),
        (
            "futures_dropped_at_random_points_lose_nothing",
            futures_dropped_at_random_points_lose_nothing,
        ),
        (
            "blocking_and_async_waiters_share_a_semaphore_exactly",
            blocking_and_async_waiters_share_a_semaphore_exactly,
        ),
        (
            "service_and_inbox_futures_across_processes",
            service_and_inbox_futures_across_processes,
        ),
        (
            "a_response_wait_with_nothing_pending_is_refused",
            a_response_wait_with_nothing_pending_is_refused,
        ),
        #[cfg(target_os = "linux")]
        (
            "an_idle_waiter_thread_sleeps_without_ticking",
            an_idle_waiter_thread_sleeps_without_ticking,
        ),
        (
            "a_pending_receive_spins_briefly_then_sleeps",
            a_pending_receive_spins_briefly_then_sleeps,
        ),
        (
            "a_waker_whose_clone_panics_ends_no_waiter_thread",
            a_waker_whose_clone_panics_ends_no_waiter_thread,
        ),
        (
            "a_receive_waiting_across_a_wrap_lets_the_sender_on",
            a_receive_waiting_across_a_wrap_lets_the_sender_on,
        ),
        (
            "a_lapped_async_subscriber_counts_every_message_once",
            a_lapped_async_subscriber_counts_every_message_once,
        ),
        (
            "async_sends_and_waits_for_room_across_a_wrap",
            async_sends_and_waits_for_room_across_a_wrap,
        ),
        (
            "waiter_threads_outlive_a_panicking_waker_and_a_fork",
            waiter_threads_outlive_a_panicking_waker_and_a_fork,
        ),
        (
            "a_leaked_future_takes_nothing_for_long",
            a_leaked_future_takes_nothing_for_long,
        ),
        (
            "a_unit_taken_for_a_leaked_future_comes_back",
            a_unit_taken_for_a_leaked_future_comes_back,
        ),
    ]);
}

fn play(role: &str, args: &[String]) -> i32 {
    let arg = |i: usize| args[i].as_str();
    let result: Result<(), Error> = (|| {
        match role {
            // Sends `count` numbered messages to each named channel, round robin, pausing
            // now and then so that receivers fall asleep.
            "send-all" => {
                let count: u32 = arg(0).parse().unwrap();
                let mut senders: Vec<Sender> = args[1..]
                    .iter()
                    .map(Sender::open)
                    .collect::<Result<_, _>>()?;
                for seq in 0..count {
                    for (k, tx) in senders.iter_mut().enumerate() {
                        let mut message = [0u8; 64];
                        message[..4].copy_from_slice(&seq.to_le_bytes());
                        message[4..8].copy_from_slice(&(k as u32).to_le_bytes());
                        tx.send_timeout(&message, PATIENCE)?;
                    }
                    if seq % 7 == 0 {
                        std::thread::sleep(Duration::from_micros(300));
                    }
                }
            }
            "hold-sender" => {
                let _tx = Sender::open(arg(0))?;
                println!("ready");
                std::io::stdout().flush().unwrap();
                let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
            }
            "hold-lock" => {
                let m = NamedMutex::open(arg(0))?;
                let _g = m.lock()?;
                println!("ready");
                std::io::stdout().flush().unwrap();
                let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
            }
            // Releases `count` units one at a time, with pauses.
            "release" => {
                let s = NamedSemaphore::open(arg(0))?;
                let count: u32 = arg(1).parse().unwrap();
                for _ in 0..count {
                    while s.release(1).is_err() {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    std::thread::sleep(Duration::from_micros(300));
                }
            }
            // Takes units (blocking) until the stop event is set; prints how many.
            "take-units" => {
                let s = NamedSemaphore::open(arg(0))?;
                let stop = NamedEvent::open(arg(1))?;
                let mut taken = 0u64;
                loop {
                    match s.acquire_timeout(Duration::from_millis(20)) {
                        Ok(()) => taken += 1,
                        Err(Error::Timeout { .. }) => {
                            if stop.try_wait()? {
                                break;
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
                print!("{taken}");
            }
            // Answers each request with two responses (a part and the last), but for the
            // one named "late", until it is killed.
            "serve" => {
                let mut server = Server::open(arg(0))?;
                println!("ready");
                std::io::stdout().flush().unwrap();
                loop {
                    let (id, payload) = {
                        let request = server.recv_request()?;
                        (request.id(), request.to_vec()?)
                    };
                    if payload == b"late" {
                        // Left pending: the server dies first.
                        continue;
                    }
                    server.respond_part(id, &payload)?;
                    server.respond(id, b"end")?;
                }
            }
            "inbox-send" => {
                let mut sender = InboxSender::open(arg(0))?;
                let count: u32 = arg(1).parse().unwrap();
                let me: u32 = arg(2).parse().unwrap();
                for seq in 0..count {
                    sender.send(&[me.to_le_bytes(), seq.to_le_bytes()].concat())?;
                }
            }
            other => panic!("unknown role {other}"),
        }
        Ok(())
    })();
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("child {role}: {e}");
            1
        }
    }
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn hundred_futures_on_one_runtime_get_exactly_their_messages() {
    let ns = Namespace::new();
    let count = 200u32;
    let names: Vec<String> = (0..100).map(|i| unique(&format!("c{i}"))).collect();
    let receivers: Vec<Receiver> = names
        .iter()
        .map(|n| Receiver::create_or_open(n, 4096).unwrap())
        .collect();
    // Four processes, each sending to 25 of the channels.
    let senders: Vec<_> = names
        .chunks(25)
        .map(|chunk| {
            let mut args = vec![count.to_string()];
            args.extend(chunk.iter().cloned());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            child("send-all", &args).spawn_retrying()
        })
        .collect();
    let started = Instant::now();
    let runtime = multi_thread();
    let received: Vec<u32> = runtime.block_on(async {
        let tasks: Vec<_> = receivers
            .into_iter()
            .enumerate()
            .map(|(i, mut rx)| {
                tokio::spawn(async move {
                    let k = (i % 25) as u32;
                    for seq in 0..count {
                        let message = rx.recv_async().await?;
                        let bytes = message.to_vec()?;
                        assert_eq!(bytes.len(), 64);
                        let got = u32::from_le_bytes(bytes[..4].try_into().unwrap());
                        let from = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
                        assert_eq!((got, from), (seq, k), "channel {i}: in order, its own");
                    }
                    // Then the sender leaves: the next receive says so.
                    match rx.recv_async().await {
                        Err(Error::Disconnected { .. }) => Ok::<u32, Error>(count),
                        other => panic!("channel {i}: after the last message: {other:?}"),
                    }
                })
            })
            .collect();
        let mut received = Vec::new();
        for task in tasks {
            received.push(task.await.unwrap().unwrap());
        }
        received
    });
    for mut s in senders {
        assert!(s.wait().unwrap().success());
    }
    assert_eq!(received, vec![count; 100]);
    println!(
        "    100 futures x {count} messages from 4 processes in {:.2?}",
        started.elapsed()
    );
    drop(runtime);
    ns.assert_empty();
}

fn sync_objects_under_tokio_and_smol() {
    let ns = Namespace::new();
    let event = NamedEvent::create_new(unique("ev"), EventReset::Auto, false).unwrap();
    let units = NamedSemaphore::create_new(unique("sem"), 0, 100).unwrap();
    let mutex = std::rc::Rc::new(NamedMutex::create_new(unique("mx")).unwrap());
    let (event_name, units_name) = (event.name().to_string(), units.name().to_string());
    // tokio, current thread: the objects are set from another thread (another handle).
    let setter = std::thread::spawn(move || {
        let event = NamedEvent::open(event_name.as_str()).unwrap();
        let units = NamedSemaphore::open(units_name.as_str()).unwrap();
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(2));
            units.release(1).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        event.set().unwrap();
    });
    current_thread().block_on(async {
        for _ in 0..20 {
            units.acquire_async().await.unwrap();
        }
        event.wait_async().await.unwrap();
        // Two tasks of one thread take turns with the mutex: the second waits for the
        // first's unlock rather than being refused.
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let guard = mutex.lock_async().await.unwrap();
                let other = mutex.clone();
                let second = tokio::task::spawn_local(async move {
                    let guard = other.lock_async().await.unwrap();
                    assert!(!guard.abandoned());
                });
                tokio::time::sleep(Duration::from_millis(30)).await;
                assert!(!second.is_finished(), "the lock is held");
                drop(guard);
                tokio::time::timeout(PATIENCE, second)
                    .await
                    .expect("the second task got the lock")
                    .unwrap();
            })
            .await;
    });
    setter.join().unwrap();
    assert!(!event.try_wait().unwrap() && !units.try_acquire().unwrap());
    // smol's executor.
    units.release(3).unwrap();
    let executor = async_executor::Executor::new();
    let taken = futures_lite::future::block_on(executor.run(async {
        let mut n = 0;
        while n < 3 {
            units.acquire_async().await.unwrap();
            n += 1;
        }
        let guard = mutex.lock_async().await.unwrap();
        drop(guard);
        n
    }));
    assert_eq!(taken, 3);
    drop((event, units, mutex));
    ns.assert_empty();
}

fn killed_peers_wake_async_waiters() {
    let ns = Namespace::new();
    let channel = unique("chan");
    let mut rx = Receiver::create_or_open(&channel, 4096).unwrap();
    let lock = unique("lock");
    let mutex = NamedMutex::create_new(&lock).unwrap();
    let mut sender = spawn_ready("hold-sender", &[&channel]);
    let mut holder = spawn_ready("hold-lock", &[&lock]);
    let runtime = current_thread();
    runtime.block_on(async {
        let receive = async {
            let started = Instant::now();
            let result = rx.recv_async().await.map(|_| ());
            (result, started.elapsed())
        };
        let lock = async {
            let started = Instant::now();
            let guard = mutex.lock_async().await.unwrap();
            (guard.abandoned(), started.elapsed())
        };
        let kill = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            sender.kill().unwrap(); // kill -9 while the futures wait
            holder.kill().unwrap();
        };
        let ((result, receive_took), (abandoned, lock_took), ()) =
            tokio::time::timeout(PATIENCE, async { tokio::join!(receive, lock, kill) })
                .await
                .expect("the killed peers woke their waiters");
        assert!(
            matches!(result, Err(Error::Disconnected { .. })),
            "{result:?}"
        );
        assert!(abandoned, "the dead holder's mutex is abandoned");
        println!("    woken after the kill: receive {receive_took:.2?}, lock {lock_took:.2?}");
    });
    sender.wait().unwrap();
    holder.wait().unwrap();
    drop((rx, mutex));
    ns.assert_empty();
}

/// A small deterministic generator (xorshift), for the random drop points.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn futures_dropped_at_random_points_lose_nothing() {
    let ns = Namespace::new();
    let channel = unique("drops");
    let mut rx = Receiver::create_or_open(&channel, 4096).unwrap();
    let count = 3000u32;
    let mut sender = child("send-all", &[&count.to_string(), &channel]).spawn_retrying();
    let units_name = unique("units");
    let units = NamedSemaphore::create_new(&units_name, 0, 1000).unwrap();
    let released = 400u32;
    let mut releaser = None;
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let (mut next, mut dropped_receives, mut acquired, mut dropped_acquires) = (0u32, 0, 0, 0);
    multi_thread().block_on(async {
        let deadline = Instant::now() + PATIENCE;
        while next < count && Instant::now() < deadline {
            // Half the receives are polled once or twice (with a pause between, so that
            // the waiter thread may wake them meanwhile) and dropped if still pending.
            let polls = random.below(4);
            let pause = Duration::from_micros(random.below(200));
            let mut receive = std::pin::pin!(rx.recv_async());
            let message = if polls < 2 {
                let mut got = None;
                for _ in 0..=polls {
                    got = futures_lite::future::poll_once(&mut receive).await;
                    if got.is_some() {
                        break;
                    }
                    std::thread::sleep(pause);
                }
                got
            } else {
                Some(receive.await)
            };
            match message {
                Some(message) => {
                    let bytes = message.unwrap().to_vec().unwrap();
                    let seq = u32::from_le_bytes(bytes[..4].try_into().unwrap());
                    assert_eq!(seq, next, "no message lost or repeated");
                    next += 1;
                }
                None => dropped_receives += 1,
            }
        }
        // The units come while the acquires wait.
        releaser = Some(child("release", &[&units_name, &released.to_string()]).spawn_retrying());
        while acquired < released && Instant::now() < deadline {
            let polls = random.below(4);
            let pause = Duration::from_micros(random.below(300));
            let mut acquire = std::pin::pin!(units.acquire_async());
            let result = if polls < 2 {
                let mut got = None;
                for _ in 0..=polls {
                    got = futures_lite::future::poll_once(&mut acquire).await;
                    if got.is_some() {
                        break;
                    }
                    std::thread::sleep(pause);
                }
                got
            } else {
                Some(acquire.await)
            };
            match result {
                Some(result) => {
                    result.unwrap();
                    acquired += 1;
                }
                None => dropped_acquires += 1,
            }
        }
    });
    assert!(sender.wait().unwrap().success());
    assert!(releaser.unwrap().wait().unwrap().success());
    assert_eq!(next, count, "every message received");
    assert_eq!(acquired, released, "every unit acquired");
    assert_eq!(units.count().unwrap_or(0), 0, "no unit left behind");
    println!(
        "    {count} messages with {dropped_receives} receives dropped; \
         {released} units with {dropped_acquires} acquires dropped"
    );
    drop((rx, units));
    ns.assert_empty();
}

fn blocking_and_async_waiters_share_a_semaphore_exactly() {
    let ns = Namespace::new();
    let (units_name, stop_name) = (unique("shared-units"), unique("stop"));
    let units = NamedSemaphore::create_new(&units_name, 0, 1000).unwrap();
    let stop = NamedEvent::create_new(&stop_name, EventReset::Manual, false).unwrap();
    let total = 600u32;
    let takers: Vec<_> = (0..2)
        .map(|_| {
            child("take-units", &[&units_name, &stop_name])
                .stdout(std::process::Stdio::piped())
                .spawn_retrying()
        })
        .collect();
    let mut releaser = child("release", &[&units_name, &total.to_string()]).spawn_retrying();
    let units = std::sync::Arc::new(units);
    let stop = std::sync::Arc::new(stop);
    let (async_units, async_stop) = (units.clone(), stop.clone());
    // Eight async waiters on a runtime in its own thread, until the stop event.
    let waiters = std::thread::spawn(move || {
        multi_thread().block_on(async {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let (units, stop) = (async_units.clone(), async_stop.clone());
                    tokio::spawn(async move {
                        let mut taken = 0u64;
                        loop {
                            // Whichever is ready first; the other future is dropped.
                            tokio::select! {
                                result = units.acquire_async() => {
                                    result.unwrap();
                                    taken += 1;
                                }
                                result = stop.wait_async() => {
                                    result.unwrap();
                                    return taken;
                                }
                            }
                        }
                    })
                })
                .collect();
            let mut taken = 0;
            for task in tasks {
                taken += task.await.unwrap();
            }
            taken
        })
    });
    assert!(releaser.wait().unwrap().success());
    std::thread::sleep(Duration::from_millis(200));
    stop.set().unwrap();
    let taken_async = waiters.join().unwrap();
    let mut taken_blocking = 0u64;
    for taker in takers {
        let out = taker.wait_with_output().unwrap();
        assert!(out.status.success());
        taken_blocking += String::from_utf8_lossy(&out.stdout).parse::<u64>().unwrap();
    }
    let mut left = 0u64;
    while units.try_acquire().unwrap() {
        left += 1;
    }
    assert_eq!(
        taken_async + taken_blocking + left,
        u64::from(total),
        "every unit taken exactly once ({taken_async} async, {taken_blocking} blocking, {left} left)"
    );
    assert!(
        taken_async > 0 && taken_blocking > 0,
        "both kinds took units"
    );
    println!(
        "    {total} units: {taken_async} by 8 futures, {taken_blocking} by 2 blocking processes, {left} left"
    );
    drop((units, stop));
    ns.assert_empty();
}

fn service_and_inbox_futures_across_processes() {
    let ns = Namespace::new();
    let service = unique("service");
    let mut client = Client::create_or_open(&service, &ServiceOptions::new()).unwrap();
    let mut server = spawn_ready("serve", &[&service]);
    let inbox_name = unique("inbox");
    let mut inbox = Inbox::create_or_open(&inbox_name, &InboxOptions::new().senders(3)).unwrap();
    let count = 300u32;
    let senders: Vec<_> = (0..3)
        .map(|me: u32| {
            child(
                "inbox-send",
                &[&inbox_name, &count.to_string(), &me.to_string()],
            )
            .spawn_retrying()
        })
        .collect();
    current_thread().block_on(async {
        // Three calls in flight, their six responses in order per request.
        let mut asked = Vec::new();
        for i in 0..3u8 {
            let sent = tokio::time::timeout(PATIENCE, client.send_request_async(&[i])).await;
            asked.push(sent.expect("no room within the patience").unwrap());
        }
        let mut last = 0;
        let mut parts = 0;
        while last < 3 {
            let response = tokio::time::timeout(PATIENCE, client.recv_response_async())
                .await
                .expect("no response within the patience")
                .unwrap();
            assert!(asked.contains(&response.request()));
            if response.is_last() {
                assert_eq!(response.to_vec().unwrap(), b"end");
                last += 1;
            } else {
                parts += 1;
            }
        }
        assert_eq!(parts, 3);
        // The inbox: every sender's messages, each in its order (a slot freed by a sender
        // that finished may serve the next one). A sender may finish before the next one
        // connects: the inbox then says Disconnected until it does.
        let mut next = [0u32; 8];
        let mut received = 0;
        let deadline = Instant::now() + PATIENCE;
        while received < 3 * count && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(got) = tokio::time::timeout(left, inbox.recv_async()).await else {
                break;
            };
            match got {
                Ok((_slot, message)) => {
                    let bytes = message.to_vec().unwrap();
                    let me = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
                    let seq = u32::from_le_bytes(bytes[4..].try_into().unwrap());
                    assert_eq!(seq, next[me], "sender {me} in order");
                    next[me] += 1;
                    received += 1;
                }
                Err(Error::Disconnected { .. }) => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(received, 3 * count);
        // A request pending when the server is killed fails with Disconnected.
        client.send_request_async(b"late").await.unwrap();
        server.kill().unwrap();
        let started = Instant::now();
        let failed = tokio::time::timeout(PATIENCE, client.recv_response_async())
            .await
            .expect("the dead server woke the client");
        assert!(
            matches!(failed, Err(Error::Disconnected { .. })),
            "{failed:?}"
        );
        println!(
            "    the client saw the server's death after {:.2?}",
            started.elapsed()
        );
    });
    server.wait().unwrap();
    for mut s in senders {
        assert!(s.wait().unwrap().success());
    }
    drop((client, inbox));
    ns.assert_empty();
}

/// A waker that counts its wake-ups.
struct Counting(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Counting {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A receive of responses with no request pending would wait for ever (every response is
/// dropped): without a timeout it is refused, blocking and async; with one it waits it out.
fn a_response_wait_with_nothing_pending_is_refused() {
    let _ns = Namespace::new();
    let name = unique("nothing-pending");
    let _server = Server::create_or_open(name.as_str(), &ServiceOptions::new()).unwrap();
    let mut client = Client::open(name.as_str()).unwrap();
    let refused = client.recv_response().map(|r| r.request());
    assert!(
        matches!(refused, Err(Error::Unsupported { .. })),
        "{refused:?}"
    );
    let refused = filemap::wait::block_on(client.recv_response_async()).map(|r| r.request());
    assert!(
        matches!(refused, Err(Error::Unsupported { .. })),
        "{refused:?}"
    );
    let waited = client
        .recv_response_timeout(Duration::from_millis(10))
        .map(|r| r.request());
    assert!(matches!(waited, Err(Error::Timeout { .. })), "{waited:?}");
}

/// A waiter thread with no future to look at sleeps until one comes: it woke every
/// 100 ms (its tick) for the life of the process. A future registered and dropped starts
/// the threads; then, for 1 s, the context switches of every waiter thread of this process
/// are counted (`/proc/self/task`): a tick would make about ten. Linux (the threads'
/// names and counts under `/proc`).
#[cfg(target_os = "linux")]
fn an_idle_waiter_thread_sleeps_without_ticking() {
    let _ns = Namespace::new();
    let event = NamedEvent::create_new(unique("idle-waiter"), EventReset::Manual, false).unwrap();
    let waited = current_thread().block_on(async {
        tokio::time::timeout(Duration::from_millis(20), event.wait_async()).await
    });
    assert!(waited.is_err(), "the event was never set: {waited:?}");
    // Context switches of this process's waiter threads, by thread id.
    let switches = || -> std::collections::BTreeMap<String, u64> {
        let mut found = std::collections::BTreeMap::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let task = task.unwrap().path();
            let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
            if !name.starts_with("filemap-waiter") {
                continue;
            }
            let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
            let count: u64 = status
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
            found.insert(task.display().to_string(), count);
        }
        found
    };
    // Time for the dropped future's entry to go.
    std::thread::sleep(Duration::from_millis(300));
    let before = switches();
    assert!(!before.is_empty(), "no waiter thread found");
    std::thread::sleep(Duration::from_secs(1));
    let after = switches();
    for (thread, count) in &before {
        let later = after.get(thread).copied().unwrap_or(*count);
        assert!(
            later - count <= 2,
            "an idle waiter thread ({thread}) was switched {} times in 1 s",
            later - count
        );
    }
}

/// A receive future on an empty channel set to `WaitMode::Spin` asks to be polled again at
/// once for a while (it spins, so that a message that comes soon costs no wake-up), then
/// stops asking: it sleeps, and the message, sent later, wakes it through the waiter
/// thread. In the default mode it sleeps at its first poll: nothing spins.
fn a_pending_receive_spins_briefly_then_sleeps() {
    use filemap::channel::WaitMode;
    use std::future::Future;
    use std::sync::atomic::Ordering;
    use std::task::{Context, Poll};
    let _ns = Namespace::new();
    for mode in [WaitMode::Blocking, WaitMode::Spin] {
        let name = unique("spin");
        let mut rx = Receiver::create_or_open(&name, 4096).unwrap();
        let mut tx = Sender::open(&name).unwrap();
        rx.set_wait_mode(mode);
        let count = std::sync::Arc::new(Counting(Default::default()));
        let waker = std::task::Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(rx.recv_async());
        let started = Instant::now();
        let mut polls = 0u32;
        loop {
            let before = count.0.load(Ordering::SeqCst);
            assert!(future.as_mut().poll(&mut cx).is_pending());
            polls += 1;
            if count.0.load(Ordering::SeqCst) == before {
                break; // it did not ask to be polled again: it sleeps
            }
            assert!(
                started.elapsed() < PATIENCE,
                "still spinning after {polls} polls"
            );
        }
        println!(
            "    {mode:?}: {polls} polls over {:?} before it slept",
            started.elapsed()
        );
        match mode {
            WaitMode::Spin => assert!(polls > 1, "it slept at once, without spinning"),
            _ => assert_eq!(polls, 1, "it spun in the default mode"),
        }
        let woken = count.0.load(Ordering::SeqCst);
        tx.send(b"late").unwrap();
        let sent = Instant::now();
        while count.0.load(Ordering::SeqCst) == woken {
            assert!(sent.elapsed() < PATIENCE, "the message did not wake it");
            std::thread::sleep(Duration::from_millis(1));
        }
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(message)) => {
                let mut got = vec![0; message.len()];
                message.read_at(0, &mut got).unwrap();
                assert_eq!(got, b"late");
            }
            Poll::Ready(Err(e)) => panic!("the receive failed: {e}"),
            Poll::Pending => panic!("woken, yet the message was not there"),
        };
    }
}

/// A receive that waits while its sender wraps around the ring, with a message that needs
/// the wrap marker's bytes back: the receive skips the marker and gives the bytes back, and
/// the sender goes on (a wait that held out for the message after the marker would wait for
/// ever, and its sender with it). A 4 KiB ring: a 960-byte message takes a 1 KiB frame,
/// then a 3100-byte one does not fit before the ring's end and needs the first 3200 bytes
/// of the ring, up to the marker's end. Blocking and async, channel, topic and inbox.
/// Messages of near the ring's size after small ones, sent by `send_async`,
/// `reserve_async`, a client's `send_request_async`, and `try_send` after `wait_any` on
/// room: each must first leave a wrap marker at the ring's end, which the receiver passes
/// before the start is free. (The async sends waited for room for the marker and the frame
/// at once, which an empty ring never has: they waited for ever.)
fn async_sends_and_waits_for_room_across_a_wrap() {
    use filemap::wait::{Target, Waitable, block_on, wait_any};
    let _ns = Namespace::new();
    let sizes = |i: usize| if i % 2 == 0 { 100 } else { 4000 };
    const MESSAGES: usize = 12;
    let name = unique("async-send-wrap");
    let mut tx = Sender::create_or_open(&name, 4096).unwrap();
    let mut rx = Receiver::open(&name).unwrap();
    let receiver = std::thread::spawn(move || {
        (0..MESSAGES * 3)
            .map(|_| rx.recv_timeout(PATIENCE).map(|m| m.len()))
            .collect::<filemap::Result<Vec<_>>>()
    });
    for i in 0..MESSAGES {
        block_on(tx.send_async(&vec![1u8; sizes(i)])).unwrap();
    }
    for i in 0..MESSAGES {
        block_on(async {
            let mut slot = tx.reserve_async(sizes(i)).await?;
            slot.copy_from_slice(&vec![2u8; sizes(i)])?;
            slot.commit();
            Ok::<(), Error>(())
        })
        .unwrap();
    }
    for i in 0..MESSAGES {
        let message = vec![3u8; sizes(i)];
        let started = Instant::now();
        while !tx.try_send(&message).unwrap() {
            let room = Target::Sender(&tx, message.len());
            drop(wait_any(&[&room as &dyn Waitable], Some(PATIENCE)).unwrap());
            assert!(started.elapsed() < PATIENCE, "no room for message {i}");
        }
    }
    let lengths = receiver.join().unwrap().unwrap();
    let expected: Vec<usize> = (0..MESSAGES * 3).map(|i| sizes(i % MESSAGES)).collect();
    assert_eq!(lengths, expected);

    let name = unique("async-request-wrap");
    let options = ServiceOptions::new().capacity(4096);
    let mut server = Server::create_or_open(&name, &options).unwrap();
    let mut client = Client::open(&name).unwrap();
    let serving = std::thread::spawn(move || {
        (0..MESSAGES)
            .map(|_| {
                let request = server.recv_request_timeout(PATIENCE)?;
                let len = request.len();
                let id = request.id();
                drop(request);
                server.respond(id, b"")?;
                Ok(len)
            })
            .collect::<filemap::Result<Vec<_>>>()
    });
    for i in 0..MESSAGES {
        block_on(client.send_request_async(&vec![4u8; sizes(i)])).unwrap();
        drop(client.recv_response_timeout(PATIENCE).unwrap());
    }
    let lengths = serving.join().unwrap().unwrap();
    assert_eq!(lengths, (0..MESSAGES).map(sizes).collect::<Vec<_>>());
}

/// A waker that panics (an executor's bug) is caught on the waiter thread, which goes on
/// waking the futures after it (it ended, and every later future of the process hung); and
/// a child made by `fork` (no exec) starts waiter threads of its own (it registered with
/// its parent's, which it does not have, and hung).
fn waiter_threads_outlive_a_panicking_waker_and_a_fork() {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};
    struct Panics;
    impl Wake for Panics {
        fn wake(self: Arc<Self>) {
            panic!("this waker panics on purpose (the test's)");
        }
    }
    let ns = Namespace::new();
    let first = NamedSemaphore::create_new(unique("panicky"), 0, 10).unwrap();
    let waker = Waker::from(Arc::new(Panics));
    let mut pending = Box::pin(first.acquire_async());
    assert!(
        pending
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    first.release(1).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    drop(pending);
    // An unrelated future, on the same waiter thread.
    let second = NamedSemaphore::create_new(unique("after-panic"), 0, 10).unwrap();
    let second_name = second.name().clone();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(filemap::wait::block_on(second.acquire_async()).is_ok());
    });
    let releaser = NamedSemaphore::open(second_name).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    releaser.release(1).unwrap();
    assert_eq!(
        finished.recv_timeout(PATIENCE).ok(),
        Some(true),
        "a future after a panicking waker was never woken"
    );
    #[cfg(target_os = "linux")]
    {
        let forked = NamedSemaphore::create_new(unique("forked"), 0, 10).unwrap();
        // SAFETY: the child only waits on the semaphore (its own threads, its own
        // allocations: glibc's allocator is ready for a fork) and ends with `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let ok = filemap::wait::block_on(forked.acquire_async()).is_ok();
            // SAFETY: ends the child at once, running nothing of the parent's.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        std::thread::sleep(Duration::from_millis(100));
        forked.release(1).unwrap();
        let started = Instant::now();
        let mut status = 0;
        // SAFETY: waits for this test's own child.
        while unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == 0 {
            if started.elapsed() > PATIENCE {
                // SAFETY: ends and reaps this test's own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                panic!("an async wait in a forked child never ended");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the forked child's wait failed: status {status}"
        );
        drop(forked);
    }
    drop((first, releaser));
    ns.assert_empty();
}

fn a_receive_waiting_across_a_wrap_lets_the_sender_on() {
    use filemap::topic::{Publisher, Subscriber, TopicOptions};
    use filemap::wait::block_on;
    let _ns = Namespace::new();
    let (first, second) = (vec![1u8; 960], vec![2u8; 3100]);
    // The sender's second message, sent while the receiver waits; the sender is dropped
    // at the end, so a receive that never got the message fails instead of hanging.
    let later = |send: Box<dyn FnOnce() -> filemap::Result<()> + Send>| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            send()
        })
    };
    for way in ["recv", "recv_async"] {
        let name = unique(&format!("wrap-channel-{way}"));
        let mut tx = Sender::create_or_open(&name, 4096).unwrap();
        let mut rx = Receiver::open(&name).unwrap();
        tx.send(&first).unwrap();
        assert_eq!(rx.recv().unwrap().len(), 960);
        let message = second.clone();
        let sent = later(Box::new(move || {
            tx.send_timeout(&message, Duration::from_secs(5))
        }));
        let got = match way {
            "recv" => rx.recv().map(|m| m.len()),
            _ => block_on(rx.recv_async()).map(|m| m.len()),
        };
        assert_eq!(got.ok(), Some(3100), "channel, {way}");
        sent.join().unwrap().unwrap();

        let name = unique(&format!("wrap-topic-{way}"));
        let options = TopicOptions::new().capacity(4096);
        let mut publisher = Publisher::create_or_open(&name, &options).unwrap();
        let mut subscriber = Subscriber::open(&name).unwrap();
        publisher.publish(&first).unwrap();
        assert_eq!(subscriber.recv().unwrap().len(), 960);
        let message = second.clone();
        let sent = later(Box::new(move || {
            publisher.publish_timeout(&message, Duration::from_secs(5))
        }));
        let got = match way {
            "recv" => subscriber.recv().map(|m| m.len()),
            _ => block_on(subscriber.recv_async()).map(|m| m.len()),
        };
        assert_eq!(got.ok(), Some(3100), "topic, {way}");
        sent.join().unwrap().unwrap();

        let name = unique(&format!("wrap-inbox-{way}"));
        let options = InboxOptions::new().senders(1).capacity(4096);
        let mut inbox = Inbox::create_or_open(&name, &options).unwrap();
        let mut worker = InboxSender::open(&name).unwrap();
        worker.send(&first).unwrap();
        assert_eq!(inbox.recv().unwrap().1.len(), 960);
        let message = second.clone();
        let sent = later(Box::new(move || {
            worker.send_timeout(&message, Duration::from_secs(5))
        }));
        let got = match way {
            "recv" => inbox.recv().map(|(_, m)| m.len()),
            _ => block_on(inbox.recv_async()).map(|(_, m)| m.len()),
        };
        assert_eq!(got.ok(), Some(3100), "inbox, {way}");
        sent.join().unwrap().unwrap();
    }
}

/// Under `DropOldest`, a publisher thread publishes messages of many sizes into a small ring
/// as fast as it can while an async subscriber falls behind now and then: every message is
/// received intact or counted as missed, exactly once, in sequence order, and the
/// publisher's end is `Disconnected` after its last message.
fn a_lapped_async_subscriber_counts_every_message_once() {
    use filemap::topic::{Publisher, SlowSubscribers, Subscriber, TopicOptions};
    use filemap::wait::block_on;
    const COUNT: u64 = 20_000;
    let _ns = Namespace::new();
    let name = unique("lapped-async");
    let options = TopicOptions::new()
        .capacity(4096)
        .slow_subscribers(SlowSubscribers::DropOldest);
    let mut publisher = Publisher::create_or_open(&name, &options).unwrap();
    let mut subscriber = Subscriber::open(&name).unwrap();
    let published = std::thread::spawn(move || {
        for seq in 0..COUNT {
            // Sizes from 8 B to 1.5 KiB: at the larger ones the oldest frame is often
            // the one being written when the subscriber is lapped.
            let len = 8 + (seq * 7919 % 1536) as usize;
            let message: Vec<u8> = (0..len).map(|i| (seq as usize + i) as u8).collect();
            publisher.publish(&message).unwrap();
        }
    });
    let (mut received, mut missed, mut expected) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < PATIENCE, "the topic stalled");
        match block_on(subscriber.recv_async()) {
            Ok(sample) => {
                let (seq, bytes) = (sample.seq(), sample.to_vec());
                match bytes {
                    Ok(bytes) => {
                        assert_eq!(seq, expected, "out of order");
                        let len = 8 + (seq * 7919 % 1536) as usize;
                        assert_eq!(bytes.len(), len, "message {seq}'s length");
                        assert!(
                            bytes
                                .iter()
                                .enumerate()
                                .all(|(i, &b)| b == (seq as usize + i) as u8),
                            "message {seq} corrupt"
                        );
                        received += 1;
                    }
                    // Overwritten while it was copied: missed, once.
                    Err(Error::Lagged { missed: 1, .. }) => missed += 1,
                    Err(e) => panic!("copying message {seq}: {e}"),
                }
                expected = seq + 1;
                if seq % 97 == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            Err(Error::Lagged { missed: n, .. }) => {
                missed += n;
                expected += n;
            }
            Err(Error::Disconnected { .. }) => break,
            Err(e) => panic!("receiving: {e}"),
        }
    }
    published.join().unwrap();
    assert_eq!(
        received + missed,
        COUNT,
        "received {received}, missed {missed}"
    );
    assert!(
        received > 0 && missed > 0,
        "received {received}, missed {missed}"
    );
    println!("    lapped async subscriber: received {received}, missed {missed} of {COUNT}");
}

/// A future leaked while pending (never polled again nor dropped) keeps its place with the
/// waiter thread for a tick or two, not for ever: on Windows, where the thread's wait takes
/// a semaphore's unit for the future it waits for, a leaked future's place would take
/// every unit released later, and nobody would ever claim them.
fn a_leaked_future_takes_nothing_for_long() {
    let _ns = Namespace::new();
    let units = NamedSemaphore::create_new(unique("leaked-units"), 0, 10).unwrap();
    let mut leaked = Box::pin(units.acquire_async());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(leaked.as_mut().poll(&mut cx).is_pending());
    std::mem::forget(leaked);
    // Two ticks of the waiter thread (100 ms each): the first finds the future polled since
    // it registered, the second not.
    std::thread::sleep(Duration::from_millis(400));
    units.release(1).unwrap();
    // Time for a waiter thread that still waited for the leaked future to take the unit.
    std::thread::sleep(Duration::from_millis(200));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !units.try_acquire().unwrap() {
        assert!(
            Instant::now() < deadline,
            "the unit released after the future was leaked never came"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The leaked future's registration itself (with its handle of the semaphore, on
    // Windows) is leaked with it: the semaphore is not dropped here.
    std::mem::forget(units);
}

/// A future leaked after the waiter thread took what it waited for (on Windows, where the
/// thread's wait takes a semaphore's unit for the future and keeps it until the future is
/// polled or dropped): the unit goes back to the semaphore within a tick or two, where it
/// stayed taken for good. (On Linux the thread takes nothing: the unit is there at once.)
fn a_unit_taken_for_a_leaked_future_comes_back() {
    let _ns = Namespace::new();
    let units = NamedSemaphore::create_new(unique("leaked-taken"), 0, 10).unwrap();
    let mut leaked = Box::pin(units.acquire_async());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(leaked.as_mut().poll(&mut cx).is_pending());
    units.release(1).unwrap();
    // Time for the waiter thread to take the unit for the future (Windows).
    std::thread::sleep(Duration::from_millis(100));
    std::mem::forget(leaked);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !units.try_acquire().unwrap() {
        assert!(
            Instant::now() < deadline,
            "the unit taken for the leaked future never came back"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::mem::forget(units);
}

/// A waker whose clone panics (the executor's code) ends no waiter thread: the thread's
/// tick, which wakes each pending future with a copy of its waker, caught the panic of a
/// waker's wake but not of its clone, and the thread ended, leaving every future placed with
/// it asleep for good. Here a future is left pending with such a waker past a few ticks;
/// then another future, on another thread, must still be woken when its event is set.
fn a_waker_whose_clone_panics_ends_no_waiter_thread() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, RawWaker, RawWakerVTable, Waker};

    static CLONES: AtomicUsize = AtomicUsize::new(0);
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, ignore, ignore, ignore);
    // The first copy (the registration's) is made; every later one panics.
    unsafe fn clone(_: *const ()) -> RawWaker {
        if CLONES.fetch_add(1, Ordering::Relaxed) >= 1 {
            panic!("this waker's clone panics, on purpose");
        }
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    unsafe fn ignore(_: *const ()) {}

    let ns = Namespace::new();
    let (first, second) = (unique("panicking-clone"), unique("after-the-panic"));
    let first = NamedEvent::create_new(first.as_str(), EventReset::Manual, false).unwrap();
    let event = NamedEvent::create_new(second.as_str(), EventReset::Manual, false).unwrap();
    // SAFETY: the vtable's functions keep RawWaker's contract: the data pointer is unused,
    // and each function may be called from any thread.
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
    let mut pending = Box::pin(first.wait_async());
    assert!(
        pending
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    // The waiter thread ticks every 100 ms: a few ticks try to copy the waker.
    std::thread::sleep(Duration::from_millis(400));
    // Another future, pending (registered with a waiter thread) before its event is set,
    // with a waker that says when it is woken.
    struct Told(std::sync::Mutex<std::sync::mpsc::Sender<()>>);
    impl std::task::Wake for Told {
        fn wake(self: std::sync::Arc<Self>) {
            let _ = self.0.lock().unwrap().send(());
        }
    }
    let (told, woken) = std::sync::mpsc::channel();
    let told = Waker::from(std::sync::Arc::new(Told(std::sync::Mutex::new(told))));
    let mut second = Box::pin(event.wait_async());
    assert!(
        second
            .as_mut()
            .poll(&mut Context::from_waker(&told))
            .is_pending()
    );
    event.set().unwrap();
    let woke = woken.recv_timeout(PATIENCE).is_ok();
    assert!(
        woke,
        "a future was not woken after a waker's clone panicked"
    );
    assert!(
        second
            .as_mut()
            .poll(&mut Context::from_waker(&told))
            .is_ready()
    );
    drop(second);
    drop(pending);
    drop((first, event, waker));
    ns.assert_empty();
}
