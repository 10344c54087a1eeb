//! `filemap pub`, `filemap sub`, `filemap hz` and a topic's `filemap info`, run as a user
//! would, each test in a namespace directory of its own.

mod common;

use common::*;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Polls `filemap info NAME --json` until the topic has `n` subscribers.
fn wait_for_subscribers(ns: &Ns, name: &str, n: usize) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let out = ns.run(&["info", name, "--json"]);
        if out.status.success() {
            let info = json(&String::from_utf8_lossy(&out.stdout));
            if info["topic"]["subscribers"].as_array().map(Vec::len) == Some(n) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{name} never had {n} subscribers"
        );
        std::thread::sleep(POLL);
    }
}

/// Lines piped into `filemap pub` (ending in `\n` or `\r\n`) come out of two `filemap sub`
/// processes, in order, without their newlines; with
/// `--json` each carries its sequence number; `filemap info` shows the topic's endpoints.
#[test]
fn lines_published_reach_every_subscriber() {
    let ns = Ns::new();
    let mut json_sub = ns.start(
        &["sub", "news", "--create", "--count", "3", "--json"],
        Stdio::piped,
    );
    wait_for_subscribers(&ns, "news", 1);
    let mut text_sub = ns.start(&["sub", "news", "--count", "3"], Stdio::piped);
    wait_for_subscribers(&ns, "news", 2);
    let info = ns.ok(&["info", "news"]);
    assert!(info.contains("topic") && info.contains("2 of 8"), "{info}");
    // (A line may end as Windows' text files end theirs: `\r\n` is a newline too.)
    let out = ns.with_stdin(&["pub", "news"], b"hello\r\nworld\n\xffbytes\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("published 3 messages"));
    assert!(wait_within(&mut json_sub, "filemap sub --json").success());
    assert!(wait_within(&mut text_sub, "filemap sub").success());
    let mut rows = String::new();
    std::io::Read::read_to_string(json_sub.stdout.as_mut().unwrap(), &mut rows).unwrap();
    let rows: Vec<_> = rows.lines().map(json).collect();
    assert_eq!(rows.len(), 3);
    for (i, (row, text)) in rows.iter().zip(["hello", "world"]).enumerate() {
        assert_eq!(row["seq"], i as u64);
        assert_eq!(row["message"], text);
    }
    // A message that is not UTF-8 text comes whole, in base64 (b"\xffbytes").
    assert_eq!(rows[2]["seq"], 2);
    assert_eq!(rows[2]["message_base64"], "/2J5dGVz");
    assert!(rows[2].get("message").is_none());
    let mut lines = Vec::new();
    std::io::Read::read_to_end(text_sub.stdout.as_mut().unwrap(), &mut lines).unwrap();
    assert_eq!(
        lines, b"hello\nworld\n\xffbytes\n",
        "raw bytes, one message a line"
    );
    #[cfg(unix)]
    assert_eq!(ns.entries(), 0);
}

/// `filemap hz` counts the messages a publisher sends each second.
#[test]
fn hz_counts_messages_per_second() {
    let ns = Ns::new();
    // A subscriber that keeps the topic alive and reads everything.
    let mut keeper = ns.start(
        &["sub", "rate", "--create", "--count", "20000"],
        Stdio::piped,
    );
    wait_for_subscribers(&ns, "rate", 1);
    let mut publisher = ns.start(&["pub", "rate"], Stdio::piped);
    let mut input = publisher.stdin.take().unwrap();
    let started = Instant::now();
    let mut sent = 0;
    // About 2,000 lines a second, already flowing when `hz` starts (its two seconds begin
    // as it subscribes, however long the start takes: under Wine, longer than they last),
    // for as long as it runs (bounded by count and time).
    let mut hz: Option<Reaped> = None;
    while sent < 20_000 && started.elapsed() < Duration::from_secs(10) {
        writeln!(input, "message {sent}").unwrap();
        sent += 1;
        if sent == 200 {
            hz = Some(ns.start(&["hz", "rate", "--for", "2s", "--json"], Stdio::piped));
        }
        if let Some(hz) = &mut hz {
            if hz.try_wait().unwrap().is_some() {
                break;
            }
        }
        if sent % 20 == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let mut hz = hz.expect("hz started");
    assert!(wait_within(&mut hz, "filemap hz").success());
    let mut rows = String::new();
    std::io::Read::read_to_string(hz.stdout.as_mut().unwrap(), &mut rows).unwrap();
    let rows: Vec<_> = rows.lines().map(json).collect();
    assert_eq!(rows.len(), 2, "one row a second for 2 s");
    let rate = rows[1]["messages_per_second"].as_f64().unwrap();
    assert!(rate > 0.0, "hz saw no messages: {rows:?}");
    println!("hz saw {rate:.0} msg/s while about 2,000 a second were sent");
    drop(input);
    assert!(wait_within(&mut publisher, "filemap pub").success());
    let _ = keeper.kill();
    let _ = keeper.wait();
}

/// Mistakes exit 1 with one line on stderr (no such topic, a second publisher, the wrong
/// kind); usage errors exit 2.
#[test]
fn topic_errors_exit_1_usage_exits_2() {
    let ns = Ns::new();
    let out = ns.run(&["sub", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("missing"), "{err}");
    let mut keeper = ns.start(&["sub", "taken", "--create"], Stdio::piped);
    wait_for_subscribers(&ns, "taken", 1);
    let mut first = ns.start(&["pub", "taken"], Stdio::piped);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let info = json(&ns.ok(&["info", "taken", "--json"]));
        if info["topic"]["publisher_alive"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first publisher never connected"
        );
        std::thread::sleep(POLL);
    }
    let out = ns.with_stdin(&["pub", "taken"], b"x\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("publisher"));
    drop(first.stdin.take());
    assert!(wait_within(&mut first, "filemap pub").success());
    let out = ns.run(&["sub", "x", "--create", "--subscribers", "0"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a setting out of range is bad usage"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 to 128"));
    for usage in [
        &["pub"][..],
        &["sub", "x", "--count", "many"],
        &["hz"],
        &["sub", "x", "--create", "--capacity", "0"],
        &["pub", "x", "--create", "--wait-for", "200"],
        // A capacity the library refuses (past 1 TiB): the command line's, so usage.
        &["pub", "x", "--create", "--capacity", "2TiB"],
        &["sub", "x", "--create", "--capacity", "2TiB"],
    ] {
        assert_eq!(ns.run(usage).status.code(), Some(2), "{usage:?}");
    }
    let _ = keeper.kill();
    let _ = keeper.wait();
}

/// `filemap info` on an inbox and a service (made by a program) shows their endpoints.
#[test]
fn info_shows_inbox_and_service_endpoints() {
    let ns = Ns::new();
    // This test's own objects, in the same namespace directory as its commands.
    let _entered = ns.enter();
    let opts = filemap::inbox::InboxOptions::new().senders(3);
    let _inbox = filemap::inbox::Inbox::create_or_open("jobs", &opts).unwrap();
    let _sender = filemap::inbox::InboxSender::open("jobs").unwrap();
    let service_options = filemap::service::ServiceOptions::new();
    let _client = filemap::service::Client::create_or_open("ask", &service_options).unwrap();
    let text = ns.ok(&["info", "jobs"]);
    assert!(
        text.contains("inbox") && text.contains("1 of 3: slots 0"),
        "{text}"
    );
    let info = json(&ns.ok(&["info", "ask", "--json"]));
    assert_eq!(info["kind"], "service");
    assert_eq!(info["service"]["server_alive"], false);
    assert_eq!(info["service"]["clients"], serde_json::json!([0]));
    // Linux: the holders are this process alone; its endpoints' locks, which name no
    // pid, add no unknown holder ("?", 0).
    if cfg!(unix) {
        let me = serde_json::json!([std::process::id()]);
        assert_eq!(info["holders"], me);
        assert_eq!(json(&ns.ok(&["info", "jobs", "--json"]))["holders"], me);
    }
    // `filemap ls` sums the endpoints up (Linux: Windows lists no objects).
    if cfg!(unix) {
        let listed = ns.ok(&["ls"]);
        assert!(listed.contains("receiver, 1 of 3 senders"), "{listed}");
        assert!(listed.contains("no server, 1 of 8 clients"), "{listed}");
    }
}

/// `filemap sub` stops on SIGTERM while messages keep coming (it looks for the signal
/// before every receive, not only when one times out), closing its subscriber; and one
/// blocked writing into a pipe nobody reads is ended shortly after the signal.
#[test]
#[cfg(unix)]
fn a_busy_subscriber_stops_on_a_signal() {
    use filemap::topic::{Publisher, TopicOptions};
    let ns = Ns::new();
    let _entered = ns.enter();
    let options = TopicOptions::new().slow_subscribers(filemap::topic::SlowSubscribers::DropOldest);
    let mut publisher = Publisher::create_or_open("busy", &options).unwrap();
    for (case, stdout) in [("read", Stdio::null()), ("unread", Stdio::piped())] {
        let mut c = ns
            .cmd(&["sub", "busy"])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn_retrying();
        let deadline = Instant::now() + PATIENCE;
        while publisher.subscribers() == 0 {
            assert!(Instant::now() < deadline, "{case}: sub never joined");
            std::thread::sleep(POLL);
        }
        // Messages every millisecond or so, then the signal while they still come: the
        // unread pipe fills (64 KiB) long before.
        for i in 0..300u32 {
            publisher.publish(&[b'x'; 1000]).unwrap();
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let stop = Instant::now() + PATIENCE;
        let status = loop {
            publisher.publish(&[b'y'; 1000]).unwrap();
            if let Some(status) = c.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < stop, "{case}: sub did not stop");
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(status.code(), Some(130), "{case}");
        drop(c);
    }
    drop(publisher);
    assert_eq!(ns.entries(), 0);
}
