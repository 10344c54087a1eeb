//! `filemap bridge` between two hosts: two network namespaces this test makes and removes
//! (a veth pair, addresses used only inside them), or, where namespaces cannot be made
//! (not root), two bridges on 127.0.0.1 with namespaces directories of their own. A
//! publisher on one side, a subscriber on the other: 100,000 messages of varied sizes
//! arrive intact and in order. In the namespaces the link is taken down in the middle:
//! the publisher finishes while it is down (it never waits for the network), the bridges
//! resume when it is up, and the gap the far side reports equals what the exporting
//! bridge dropped, exactly. Every wait is bounded.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Ns, PATIENCE};

const MESSAGES: u32 = 100_000;

/// The message numbered `i`: its number, then a payload of a size and contents that
/// depend on `i` (1 to 400 bytes).
fn message(i: u32) -> String {
    let len = 1 + (i.wrapping_mul(2_654_435_761) >> 7) % 400;
    let fill = (b'a' + (i % 26) as u8) as char;
    format!(
        "{i:08} {}",
        std::iter::repeat_n(fill, len as usize).collect::<String>()
    )
}

/// Two network namespaces joined by a veth pair, removed on drop.
struct Link {
    a: String,
    b: String,
    address_a: String,
}

impl Link {
    /// Makes the namespaces, or `None` (with the reason) where this process cannot.
    fn make() -> Result<Link, String> {
        if rustix::process::geteuid().as_raw() != 0 {
            return Err("not root".into());
        }
        if std::env::var_os("FILEMAP_TEST_NO_NETNS").is_some() {
            return Err("FILEMAP_TEST_NO_NETNS is set".into());
        }
        let id = std::process::id();
        let link = Link {
            a: format!("fmbr-a-{id}"),
            b: format!("fmbr-b-{id}"),
            address_a: format!("10.213.{}.1", id % 250),
        };
        let net = format!("10.213.{}", id % 250);
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), link.a.clone()],
            vec!["netns".into(), "add".into(), link.b.clone()],
            vec![
                "link".into(),
                "add".into(),
                "veth-fmbr-a".into(),
                "netns".into(),
                link.a.clone(),
                "type".into(),
                "veth".into(),
                "peer".into(),
                "name".into(),
                "veth-fmbr-b".into(),
                "netns".into(),
                link.b.clone(),
            ],
            in_ns(
                &link.a,
                &["addr", "add", &format!("{net}.1/24"), "dev", "veth-fmbr-a"],
            ),
            in_ns(
                &link.b,
                &["addr", "add", &format!("{net}.2/24"), "dev", "veth-fmbr-b"],
            ),
            in_ns(&link.a, &["link", "set", "veth-fmbr-a", "up"]),
            in_ns(&link.b, &["link", "set", "veth-fmbr-b", "up"]),
            in_ns(&link.a, &["link", "set", "lo", "up"]),
            in_ns(&link.b, &["link", "set", "lo", "up"]),
        ];
        for step in steps {
            let out = Command::new("ip")
                .args(&step)
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!(
                    "ip {}: {}",
                    step.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(link)
    }

    /// Takes the link down (`up` false) or up, on side A.
    fn set(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        let status = Command::new("ip")
            .args(in_ns(&self.a, &["link", "set", "veth-fmbr-a", state]))
            .status()
            .unwrap();
        assert!(status.success(), "ip link set {state}");
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and so the pair.
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn in_ns(ns: &str, args: &[&str]) -> Vec<String> {
    let mut v = vec!["-n".to_string(), ns.to_string()];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

/// A running `filemap bridge`, in a namespace or not; its log lines come over a channel.
struct Bridge {
    child: Child,
    log: mpsc::Receiver<String>,
}

impl Bridge {
    fn start(ns: &Ns, netns: Option<&str>, args: &[&str]) -> Bridge {
        let exe = env!("CARGO_BIN_EXE_filemap");
        let mut cmd = match netns {
            Some(n) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", n, exe]);
                c
            }
            None => Command::new(exe),
        };
        cmd.arg("bridge")
            .args(args)
            .arg("--json")
            .env("FILEMAP_DIR", ns.0.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let (tx, log) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("    [bridge] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Bridge { child, log }
    }

    /// Waits for a log line containing `text`.
    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("the bridge did not log {text:?} within {PATIENCE:?}");
    }

    /// Stops the bridge (SIGTERM) and returns its counters for `topic`: (messages,
    /// dropped, missed).
    fn stop(mut self, topic: &str) -> (u64, u64, u64) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let status = common::wait_within(&mut self.child, "filemap bridge, stopped");
        assert!(status.success(), "filemap bridge: {status}");
        let mut out = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut out).unwrap();
        let stats = common::json(&out);
        let row = stats["topics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == topic)
            .unwrap_or_else(|| panic!("no counters for {topic} in {out}"));
        let n = |k: &str| row[k].as_u64().unwrap();
        (n("messages"), n("dropped"), n("missed"))
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The subscriber's messages, line by line, over a channel (read by a thread).
fn lines_of(stdout: ChildStdout) -> mpsc::Receiver<serde_json::Value> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(common::json(&line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// Starts `filemap pub t` on side `a` and sends warm-up messages until one crosses the
/// bridges (bounded in count): the publisher, and its input.
fn start_publishing(
    a: &Ns,
    exporter: &Bridge,
    received: &mpsc::Receiver<serde_json::Value>,
) -> (Child, std::process::ChildStdin) {
    let mut publisher = a
        .cmd(&["pub", "t", "--create", "--wait-for", "1"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    exporter.wait_for("exporting t");
    let mut input = publisher.stdin.take().unwrap();
    for _ in 0..600 {
        writeln!(input, "warm-up").unwrap();
        input.flush().unwrap();
        if received.recv_timeout(Duration::from_millis(100)).is_ok() {
            return (publisher, input);
        }
    }
    let _ = publisher.kill();
    let _ = publisher.wait();
    panic!("no message crossed the bridges within 60 s");
}

#[test]
fn a_topic_crosses_two_bridges_intact_and_gaps_are_reported_exactly() {
    let (a, b) = (Ns::new(), Ns::new());
    let link = match Link::make() {
        Ok(link) => Some(link),
        Err(why) => {
            println!(
                "network namespaces cannot be made here ({why}): running the bridges over \
                 127.0.0.1, without taking the link down"
            );
            None
        }
    };
    let port = 20_000 + std::process::id() % 20_000;
    let host = link
        .as_ref()
        .map_or("127.0.0.1".to_string(), |l| l.address_a.clone());
    let endpoint = format!("tcp/{host}:{port}");
    // The subscriber first (it makes the topic on side B), then the bridges.
    let sub = b
        .cmd(&["sub", "t", "--create", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // (Killed if the test fails before it ends it.)
    let mut sub = common::Reaped::new(sub);
    let received = lines_of(sub.stdout.take().unwrap());
    // In the namespaces a small buffer, so that the outage overflows it; over loopback a
    // large one, so that a subscriber slower than the publisher costs nothing.
    let buffer = if link.is_some() { "2000" } else { "1000000" };
    let exporter = Bridge::start(
        &a,
        link.as_ref().map(|l| l.a.as_str()),
        &["--export", "t", "--listen", &endpoint, "--buffer", buffer],
    );
    let importer = Bridge::start(
        &b,
        link.as_ref().map(|l| l.b.as_str()),
        &["--import", "t", "--connect", &endpoint],
    );
    let started = Instant::now();
    let (mut publisher, mut input) = start_publishing(&a, &exporter, &received);
    println!("    the bridges connected in {:.2?}", started.elapsed());
    // A reader of what arrives: in order, intact, up to the end marker; it says how far it
    // got, so that the publisher can be paced while the link is up.
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let reader = {
        let progress = progress.clone();
        std::thread::spawn(move || {
            let (mut next_expected, mut got) = (0u32, 0u32);
            let deadline = Instant::now() + 4 * PATIENCE;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let Ok(row) = received.recv_timeout(left) else {
                    return Err(format!("the end marker did not arrive (after {got})"));
                };
                let text = row["message"].as_str().unwrap_or_default().to_string();
                if text == "end" {
                    return Ok(got);
                }
                if text == "warm-up" {
                    continue;
                }
                let i: u32 = text[..8].parse().map_err(|e| format!("{text:?}: {e}"))?;
                if i < next_expected {
                    return Err(format!("message {i} after {next_expected}: out of order"));
                }
                if text != message(i) {
                    return Err(format!("message {i} damaged"));
                }
                next_expected = i + 1;
                got += 1;
                progress.store(next_expected, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    // The messages: while the link is up the publisher keeps at most 1,000 ahead of the
    // subscriber (a slower subscriber would make the bridge drop, by design); the link goes
    // down after 30,000, the rest are published while it is down, and the publisher must
    // finish meanwhile.
    let down_at = MESSAGES * 3 / 10;
    let mut down_since = None;
    for i in 0..MESSAGES {
        if i == down_at {
            if let Some(link) = &link {
                link.set(false);
                down_since = Some(Instant::now());
            }
        }
        if down_since.is_none() && i % 500 == 0 {
            let paced = Instant::now() + PATIENCE;
            while progress.load(std::sync::atomic::Ordering::Relaxed) + 1_000 < i {
                assert!(
                    Instant::now() < paced,
                    "the subscriber stopped at message {i}"
                );
                input.flush().unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        writeln!(input, "{}", message(i)).unwrap();
    }
    drop(input);
    let status = common::wait_within(&mut publisher, "filemap pub, with the link down");
    assert!(status.success());
    if let (Some(link), Some(since)) = (&link, down_since) {
        println!(
            "    the publisher finished {:.2?} after the link went down, while it was down",
            since.elapsed()
        );
        std::thread::sleep(Duration::from_millis(1500).saturating_sub(since.elapsed()));
        link.set(true);
    }
    let out = a.with_stdin(&["pub", "t"], b"end\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = reader.join().unwrap().unwrap();
    // `filemap info` shows the running bridge's counters (its status, rewritten twice a
    // second): the drops are there before it stops.
    std::thread::sleep(Duration::from_millis(700));
    let status = common::json(&a.ok(&[
        "info",
        &format!("filemap-bridge-{}", exporter.child.id()),
        "--json",
    ]));
    let shown_dropped = status["bridge"]["topics"][0]["dropped"].as_u64().unwrap();
    let (forwarded, dropped, lagged) = exporter.stop("t");
    assert_eq!(shown_dropped, dropped, "filemap info shows the drops");
    let (published, refused, gaps) = importer.stop("t");
    let _ = sub.kill();
    let _ = sub.wait();
    let missing = u64::from(MESSAGES - got);
    println!(
        "    {got} of {MESSAGES} messages arrived; exporter: {forwarded} put, {dropped} dropped, \
         {lagged} overwritten; importer: {published} published, {refused} refused, {gaps} \
         reported missing"
    );
    assert_eq!(refused, 0);
    assert_eq!(
        gaps, missing,
        "the gap reported is exactly what did not arrive"
    );
    assert_eq!(
        dropped + lagged,
        missing,
        "and exactly what the exporter dropped"
    );
    if link.is_none() {
        assert_eq!(missing, 0, "nothing is lost on a link that stays up");
    }
    drop(link);
}

#[test]
fn a_killed_and_restarted_bridge_resumes_and_the_far_side_counts_the_gap() {
    let (a, b) = (Ns::new(), Ns::new());
    let port = 20_000 + (std::process::id() + 7_919) % 20_000;
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let sub = b
        .cmd(&["sub", "t", "--create", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // (Killed if the test fails before it ends it.)
    let mut sub = common::Reaped::new(sub);
    let received = lines_of(sub.stdout.take().unwrap());
    let export_args = ["--export", "t", "--listen", endpoint.as_str()];
    let exporter = Bridge::start(&a, None, &export_args);
    let importer = Bridge::start(&b, None, &["--import", "t", "--connect", &endpoint]);
    let (mut publisher, mut input) = start_publishing(&a, &exporter, &received);
    let mut published = 0u32;
    let mut publish = |input: &mut std::process::ChildStdin, n: u32| {
        for _ in 0..n {
            writeln!(input, "{}", message(published)).unwrap();
            published += 1;
        }
        input.flush().unwrap();
    };
    publish(&mut input, 1_000);
    // kill -9 the exporting bridge; the publisher goes on; a new bridge takes over.
    let mut killed = exporter;
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    publish(&mut input, 1_000);
    let exporter = Bridge::start(&a, None, &export_args);
    exporter.wait_for("exporting t");
    // The importing bridge reconnects (retrying every few seconds): wait for it.
    exporter.wait_for("subscribed to on the far side");
    publish(&mut input, 1_000);
    drop(input);
    assert!(common::wait_within(&mut publisher, "filemap pub").success());
    let out = a.with_stdin(&["pub", "t"], b"end\n");
    assert!(out.status.success());
    let (mut next_expected, mut got, mut after_restart) = (0u32, 0u32, 0u32);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let row = received
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the end marker arrives");
        let text = row["message"].as_str().unwrap().to_string();
        if text == "end" {
            break;
        }
        if text == "warm-up" {
            continue;
        }
        let i: u32 = text[..8].parse().unwrap();
        assert!(
            i >= next_expected,
            "message {i} after {next_expected}: out of order"
        );
        assert_eq!(text, message(i), "message {i} damaged");
        next_expected = i + 1;
        got += 1;
        if i >= 2_000 {
            after_restart += 1;
        }
    }
    let (_, _, gaps) = importer.stop("t");
    drop(exporter);
    let _ = sub.kill();
    let _ = sub.wait();
    println!("    {got} of {published} messages arrived, {gaps} reported missing");
    // Every message published once the new bridge's far side had subscribed arrived
    // (the first thousand may have been missed by a subscriber that joined late, and the
    // second went while no bridge exported).
    assert_eq!(
        after_restart, 1_000,
        "messages 2000 to 2999, published after the restart, all arrived"
    );
    assert_eq!(
        gaps,
        u64::from(published - got),
        "the far side reports exactly what it missed while the bridge was down"
    );
}
