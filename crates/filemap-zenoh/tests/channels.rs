//! An exported channel stays a queue: messages sent before anybody subscribes on the far
//! side wait in the channel and all arrive, in order, once a subscriber comes (the export
//! took them out at once and put them to nobody, counting them as forwarded); a bridge
//! stopped while it forwards leaves what it has not put in the channel, for the next one
//! (it dropped what its buffer held). The link is TCP over 127.0.0.1, to a plain Zenoh peer
//! that subscribes to the channel's key.

mod common;

use std::time::{Duration, Instant};

use filemap::channel::Sender;
use filemap_zenoh::Bridge;
use zenoh::Wait;

const PATIENCE: Duration = Duration::from_secs(20);

/// Both, one after the other (each sets `FILEMAP_DIR`, which tests running at once in
/// this process would share).
#[test]
fn a_channel_stays_a_queue() {
    a_channel_waits_for_the_far_side();
    a_bridge_stopped_mid_stream_loses_no_message();
}

fn a_channel_waits_for_the_far_side() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("FILEMAP_DIR", dir.path());
    let name = "queued";
    let mut sender = Sender::create_or_open(name, 1 << 16).unwrap();
    let early = 20;
    for i in 0..early {
        sender.send(format!("m{i}").as_bytes()).unwrap();
    }
    let (session, endpoint) = common::loopback_peer();
    let bridge = Bridge::builder()
        .export(name)
        .connect(endpoint)
        .start()
        .unwrap();
    common::until_exported(&bridge);
    // Time for an export that reads at once to take them all out (it did, within
    // milliseconds); nobody subscribes yet.
    std::thread::sleep(Duration::from_millis(500));
    let stats = bridge.stats();
    assert_eq!(
        stats.iter().map(|t| t.messages).sum::<u64>(),
        0,
        "nothing was forwarded to nobody: {stats:?}"
    );
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let subscriber = session.declare_subscriber(key).wait().unwrap();
    let late = 10;
    for i in early..early + late {
        sender.send(format!("m{i}").as_bytes()).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < (early + late) as usize {
        let sample = subscriber
            .recv_timeout(PATIENCE)
            .unwrap()
            .unwrap_or_else(|| panic!("only {} messages came: {got:?}", got.len()));
        got.push(String::from_utf8(sample.payload().to_bytes().into_owned()).unwrap());
    }
    let expected: Vec<String> = (0..early + late).map(|i| format!("m{i}")).collect();
    assert_eq!(got, expected);
    let stats = bridge.stats();
    assert_eq!(
        (stats[0].messages, stats[0].dropped),
        ((early + late) as u64, 0),
        "{stats:?}"
    );
    drop(bridge);
    drop(sender);
    session.close().wait().unwrap();
}

fn a_bridge_stopped_mid_stream_loses_no_message() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("FILEMAP_DIR", dir.path());
    let name = "restarted";
    let total = 20_000;
    // Room for them all (a frame takes a cache line).
    let mut sender = Sender::create_or_open(name, 1 << 21).unwrap();
    for i in 0..total {
        let sent = sender.try_send(format!("m{i}").as_bytes()).unwrap();
        assert!(sent, "no room for message {i}");
    }
    let (session, endpoint) = common::loopback_peer();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let subscriber = session.declare_subscriber(key).wait().unwrap();
    let mut got = Vec::new();
    let receive = |got: &mut Vec<String>, wait: Duration| {
        while let Ok(Some(sample)) = subscriber.recv_timeout(wait) {
            got.push(String::from_utf8(sample.payload().to_bytes().into_owned()).unwrap());
        }
    };
    // Bridges stopped as soon as something crossed, while the rest was on its way.
    let mut stops = 0;
    while got.len() < total && stops < 10 {
        let bridge = Bridge::builder()
            .export(name)
            .connect(endpoint.clone())
            .start()
            .unwrap();
        let before = got.len();
        let started = Instant::now();
        while got.len() == before && started.elapsed() < PATIENCE {
            receive(&mut got, Duration::from_millis(1));
        }
        assert!(got.len() > before, "bridge {stops}: nothing crossed");
        drop(bridge);
        stops += 1;
        receive(&mut got, Duration::from_millis(200));
    }
    let in_order: Vec<String> = (0..got.len()).map(|i| format!("m{i}")).collect();
    let first_wrong = got.iter().zip(&in_order).position(|(a, b)| a != b);
    assert!(
        got == in_order,
        "after {stops} stops, {} messages came, with a gap or out of order (first at {first_wrong:?})",
        got.len()
    );
    // The last bridge forwards the rest.
    let bridge = Bridge::builder()
        .export(name)
        .connect(endpoint)
        .start()
        .unwrap();
    let started = Instant::now();
    while got.len() < total && started.elapsed() < PATIENCE {
        receive(&mut got, Duration::from_millis(100));
    }
    let expected: Vec<String> = (0..total).map(|i| format!("m{i}")).collect();
    assert!(
        got == expected,
        "{} of {total} messages came after {stops} stops",
        got.len()
    );
    println!(
        "{total} messages, {stops} bridges stopped while forwarding: each came once, in order"
    );
    drop(bridge);
    drop(sender);
    session.close().wait().unwrap();
}
