//! `filemap bridge` and plain Zenoh programs: a Zenoh session written against the zenoh
//! crate alone (not filemap) subscribes to what a local filemap topic (and channel)
//! carries and publishes into another, and asks and answers services, through a bridge on
//! 127.0.0.1. On Linux and under Wine. Every wait is bounded.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Ns, PATIENCE, Reaped};
use zenoh::Wait;

const COUNT: usize = 200;

/// A plain Zenoh session (peer mode, no scouting) connected to `endpoint`.
fn plain_session(endpoint: &str) -> zenoh::Session {
    let mut config = zenoh::Config::default();
    config.insert_json5("mode", "\"peer\"").unwrap();
    config
        .insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    config
        .insert_json5("connect/endpoints", &format!("[\"{endpoint}\"]"))
        .unwrap();
    zenoh::open(config).wait().unwrap()
}

#[test]
fn plain_zenoh_programs_exchange_messages_with_filemap_topics() {
    let ns = Ns::new();
    let port = 40_000 + std::process::id() % 20_000;
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let _bridge = Reaped::new(
        ns.cmd(&[
            "bridge", "--export", "out", "--import", "in", "--listen", &endpoint,
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    // The plain Zenoh program: peer mode, no scouting, connected to the bridge.
    let session = plain_session(&endpoint);
    let zenoh_sub = session.declare_subscriber("filemap/out").wait().unwrap();

    // filemap → Zenoh: a local publisher's lines arrive as samples, in order, with the
    // bridge's attachment (magic, sequence number, origin).
    let mut publisher = ns
        .cmd(&["pub", "out", "--create", "--wait-for", "1"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = publisher.stdin.take().unwrap();
    let started = Instant::now();
    let mut connected = false;
    for _ in 0..600 {
        writeln!(input, "warm-up").unwrap();
        input.flush().unwrap();
        if zenoh_sub
            .recv_timeout(Duration::from_millis(100))
            .unwrap()
            .is_some()
        {
            connected = true;
            break;
        }
    }
    assert!(connected, "no sample reached the plain subscriber in 60 s");
    for i in 0..COUNT {
        writeln!(input, "message {i}").unwrap();
    }
    drop(input);
    assert!(common::wait_within(&mut publisher, "filemap pub").success());
    let mut next = 0;
    let mut last_seq = None;
    while next < COUNT {
        let left = PATIENCE.saturating_sub(started.elapsed());
        let sample = zenoh_sub
            .recv_timeout(left)
            .unwrap()
            .expect("the messages reach the plain subscriber");
        let payload = sample.payload().to_bytes().into_owned();
        if payload == b"warm-up" {
            continue;
        }
        assert_eq!(payload, format!("message {next}").into_bytes());
        let attachment = sample.attachment().expect("an attachment").to_bytes();
        assert_eq!(&attachment[..4], b"FMB1");
        let seq = u64::from_le_bytes(attachment[4..12].try_into().unwrap());
        assert!(
            last_seq.is_none_or(|s| seq == s + 1),
            "consecutive sequence numbers"
        );
        last_seq = Some(seq);
        next += 1;
    }

    // Zenoh → filemap: plain puts (no attachment) arrive on the local topic, in order.
    let subscriber = ns
        .cmd(&["sub", "in", "--create", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut subscriber = Reaped::new(subscriber);
    let (tx, lines) = std::sync::mpsc::channel();
    let stdout = subscriber.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let zenoh_pub = session.declare_publisher("filemap/in").wait().unwrap();
    let mut connected = false;
    for _ in 0..600 {
        zenoh_pub.put("warm-up").wait().unwrap();
        if lines.recv_timeout(Duration::from_millis(100)).is_ok() {
            connected = true;
            break;
        }
    }
    assert!(
        connected,
        "no plain put reached the local subscriber in 60 s"
    );
    for i in 0..COUNT {
        zenoh_pub.put(format!("put {i}")).wait().unwrap();
    }
    let mut next = 0;
    while next < COUNT {
        let left = PATIENCE.saturating_sub(started.elapsed());
        let line = lines
            .recv_timeout(left)
            .expect("the puts reach the local subscriber");
        let message = common::json(&line)["message"].as_str().unwrap().to_string();
        if message == "warm-up" {
            continue;
        }
        assert_eq!(message, format!("put {i}", i = next));
        next += 1;
    }
    session.close().wait().unwrap();
}

#[test]
fn services_and_channels_cross_a_bridge() {
    use filemap::channel::{Receiver, Sender};
    use filemap::service::{Client, Server, ServiceOptions};
    let ns = Ns::new();
    // This test's own filemap objects live in the bridge's namespace.
    let _entered = ns.enter();
    let port = 40_000 + (std::process::id() + 4_999) % 20_000;
    let endpoint = format!("tcp/127.0.0.1:{port}");
    // A local server of "calc": for each request, two parts and a last response.
    let mut server = Server::create_or_open("calc", &ServiceOptions::new()).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let serving = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (id, text) = match server.recv_request_timeout(Duration::from_millis(20)) {
                    Ok(request) => (
                        request.id(),
                        String::from_utf8(request.to_vec().unwrap()).unwrap(),
                    ),
                    Err(_) => continue,
                };
                let upper = text.to_uppercase();
                server
                    .respond_part(id, format!("{upper}-1").as_bytes())
                    .unwrap();
                if text == "fail" {
                    server.respond_failure(id, b"calc cannot").unwrap();
                    continue;
                }
                server
                    .respond_part(id, format!("{upper}-2").as_bytes())
                    .unwrap();
                server
                    .respond(id, format!("{upper}-last").as_bytes())
                    .unwrap();
            }
        })
    };
    let _bridge = Reaped::new(
        ns.cmd(&[
            "bridge",
            "--export-service",
            "calc",
            "--import-service",
            "remote",
            "--export",
            "cin",
            "--import",
            "cout",
            "--listen",
            &endpoint,
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let session = plain_session(&endpoint);

    // A plain Zenoh get on the exported service: its three responses, in order.
    let started = Instant::now();
    let replies = loop {
        let got: Vec<String> = session
            .get("filemap/calc")
            .payload("hi")
            // Every reply, not only the latest per key (Zenoh's default).
            .consolidation(zenoh::query::ConsolidationMode::None)
            .wait()
            .unwrap()
            .iter()
            .filter_map(|reply| {
                reply
                    .result()
                    .ok()
                    .map(|s| s.payload().to_bytes().into_owned())
            })
            .map(|bytes| String::from_utf8(bytes).unwrap())
            .collect();
        if !got.is_empty() || started.elapsed() > PATIENCE {
            break got;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(replies, ["HI-1", "HI-2", "HI-last"]);
    // A failed request: its part, then an error reply with the reason.
    let replies: Vec<Result<String, String>> = session
        .get("filemap/calc")
        .payload("fail")
        .consolidation(zenoh::query::ConsolidationMode::None)
        .wait()
        .unwrap()
        .iter()
        .map(|reply| match reply.result() {
            Ok(sample) => Ok(String::from_utf8(sample.payload().to_bytes().into_owned()).unwrap()),
            Err(error) => Err(String::from_utf8(error.payload().to_bytes().into_owned()).unwrap()),
        })
        .collect();
    assert_eq!(
        replies,
        [Ok("FAIL-1".to_string()), Err("calc cannot".to_string())]
    );

    // A plain Zenoh queryable answers a local client through the imported service: each
    // reply a response, the last one last.
    let queryable = session.declare_queryable("filemap/remote").wait().unwrap();
    let answer = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let answering = {
        let answer = answer.clone();
        std::thread::spawn(move || {
            while answer.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(Some(query)) = queryable.recv_timeout(Duration::from_millis(50)) else {
                    continue;
                };
                let asked = query
                    .payload()
                    .map(|p| p.to_bytes().into_owned())
                    .unwrap_or_default();
                let text = String::from_utf8(asked).unwrap();
                if text == "bad" {
                    query.reply_err("bad question").wait().unwrap();
                    continue;
                }
                for part in ["one", "two"] {
                    query
                        .reply(query.key_expr().clone(), format!("{text}:{part}"))
                        .wait()
                        .unwrap();
                }
            }
        })
    };
    let mut client = loop {
        match Client::open("remote") {
            Ok(client) => break client,
            Err(e) if started.elapsed() > PATIENCE => panic!("the imported service: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    // Until the queryable is known to the bridge, a query finds nobody and fails: ask
    // again (bounded in count).
    let mut answered = false;
    for _ in 0..600 {
        let asked = client.send_request(b"q").unwrap();
        let first = client.recv_response_timeout(PATIENCE).unwrap();
        assert_eq!(first.request(), asked);
        let (bytes, last) = (first.to_vec().unwrap(), first.is_last());
        let failure = first.is_failure();
        drop(first);
        if failure {
            assert!(last && String::from_utf8_lossy(&bytes).contains("no reply"));
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        assert_eq!((bytes, last), (b"q:one".to_vec(), false));
        let second = client.recv_response_timeout(PATIENCE).unwrap();
        assert_eq!(
            (second.to_vec().unwrap(), second.is_last()),
            (b"q:two".to_vec(), true)
        );
        answered = true;
        break;
    }
    assert!(answered, "the queryable answered within 30 s");
    // An error reply fails the request, its payload the reason.
    assert!(matches!(
        client.call(b"bad", PATIENCE),
        Err(filemap::Error::RequestFailed { reason, .. }) if reason == "bad question"
    ));
    answer.store(false, std::sync::atomic::Ordering::Relaxed);
    answering.join().unwrap();

    // Channels: the bridge is the receiver of an exported channel and the sender of an
    // imported one.
    let mut cin = Sender::create_or_open("cin", 1 << 16).unwrap();
    let zenoh_sub = session.declare_subscriber("filemap/cin").wait().unwrap();
    let mut arrived = Vec::new();
    for i in 0..600 {
        if cin.try_send(format!("c{i}").as_bytes()).unwrap_or(false) {
            if let Some(sample) = zenoh_sub.recv_timeout(Duration::from_millis(100)).unwrap() {
                arrived.push(String::from_utf8(sample.payload().to_bytes().into_owned()).unwrap());
            }
        }
        if arrived.len() >= 3 {
            break;
        }
    }
    assert!(
        arrived.len() >= 3,
        "the channel's messages reach Zenoh: {arrived:?}"
    );
    let numbers: Vec<u32> = arrived.iter().map(|m| m[1..].parse().unwrap()).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "in order: {arrived:?}"
    );
    let mut cout = Receiver::create_or_open("cout", 1 << 16).unwrap();
    let zenoh_pub = session.declare_publisher("filemap/cout").wait().unwrap();
    let mut got = None;
    for i in 0..600 {
        zenoh_pub.put(format!("p{i}")).wait().unwrap();
        if let Ok(message) = cout.recv_timeout(Duration::from_millis(100)) {
            got = Some(String::from_utf8(message.to_vec().unwrap()).unwrap());
            break;
        }
    }
    assert!(
        got.is_some_and(|m| m.starts_with('p')),
        "Zenoh's puts reach the imported channel"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    serving.join().unwrap();
    session.close().wait().unwrap();
}
