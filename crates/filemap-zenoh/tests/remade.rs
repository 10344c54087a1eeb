//! A topic removed (`filemap rm`) and made again under its name while a bridge exports
//! it: the export of the old one ends once its name is gone, and the new one is exported
//! (the bridge went on reading the old topic, which nobody published to any more, and
//! nothing of the new one ever crossed). Linux only: Windows keeps a name while any handle
//! of its object lives, the bridge's included. The far side is a plain Zenoh peer over
//! TCP on 127.0.0.1.

#[cfg(target_os = "linux")]
mod common;

/// Both, one after the other (each sets `FILEMAP_DIR`, which tests running at once in
/// this process would share).
#[cfg(target_os = "linux")]
#[test]
fn a_topic_made_again_under_its_name_is_bridged_anew() {
    a_topic_made_again_under_its_name_is_exported_anew();
    a_topic_made_again_under_its_name_is_imported_into();
}

#[cfg(target_os = "linux")]
fn a_topic_made_again_under_its_name_is_exported_anew() {
    use std::time::{Duration, Instant};

    use filemap::topic::{Publisher, TopicOptions};
    use filemap_zenoh::Bridge;
    use zenoh::Wait;

    const PATIENCE: Duration = Duration::from_secs(20);
    let dir = tempfile::tempdir().unwrap();
    common::use_namespace(dir.path());
    let name = "remade";
    let (session, endpoint) = common::loopback_peer();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let subscriber = session.declare_subscriber(key).wait().unwrap();
    let bridge = Bridge::builder()
        .export(name)
        .connect(endpoint)
        .start()
        .unwrap();
    // Publishes `what` until it crosses.
    let crosses = |publisher: &mut Publisher, what: &[u8]| {
        let started = Instant::now();
        loop {
            publisher.publish(what).unwrap();
            if let Ok(Some(sample)) = subscriber.recv_timeout(Duration::from_millis(100)) {
                if sample.payload().to_bytes().as_ref() == what {
                    return true;
                }
            }
            if started.elapsed() > PATIENCE {
                return false;
            }
        }
    };
    let mut old = Publisher::create_or_open(name, &TopicOptions::new()).unwrap();
    assert!(crosses(&mut old, b"old"), "the first topic never crossed");
    filemap::namespace::remove(name).unwrap();
    drop(old);
    let mut new = Publisher::create_or_open(name, &TopicOptions::new()).unwrap();
    let crossed = crosses(&mut new, b"new");
    drop(new);
    bridge.stop();
    assert!(crossed, "nothing of the topic made again crossed");
}

/// The same for an import: it lets the old topic go and publishes into the one made again
/// (it went on publishing into the old one, which nobody subscribed to any more).
#[cfg(target_os = "linux")]
fn a_topic_made_again_under_its_name_is_imported_into() {
    use std::time::{Duration, Instant};

    use filemap::topic::{Subscriber, TopicOptions};
    use filemap_zenoh::Bridge;
    use zenoh::Wait;
    use zenoh::bytes::ZBytes;

    const PATIENCE: Duration = Duration::from_secs(20);
    let dir = tempfile::tempdir().unwrap();
    common::use_namespace(dir.path());
    let name = "remade-import";
    let (session, endpoint) = common::loopback_peer();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let publisher = session.declare_publisher(key).wait().unwrap();
    let bridge = Bridge::builder()
        .import(name)
        .connect(endpoint)
        .start()
        .unwrap();
    // Puts `what` until it comes in.
    let comes_in = |subscriber: &mut Subscriber, what: &[u8]| {
        let started = Instant::now();
        loop {
            publisher.put(ZBytes::from(what.to_vec())).wait().unwrap();
            if let Ok(sample) = subscriber.recv_timeout(Duration::from_millis(100)) {
                if sample.to_vec().unwrap() == what {
                    return true;
                }
            }
            if started.elapsed() > PATIENCE {
                return false;
            }
        }
    };
    let mut old = Subscriber::create_or_open(name, &TopicOptions::new()).unwrap();
    assert!(
        comes_in(&mut old, b"old"),
        "nothing came into the first topic"
    );
    let published = |bridge: &Bridge| {
        let stats = bridge.stats();
        let topic = stats.iter().find(|t| t.name.ends_with(name) && !t.exported);
        topic.map_or(0, |t| t.messages)
    };
    // Fifty more into the first topic, counted (more than the topic made again gets).
    for _ in 0..50 {
        publisher.put(ZBytes::from(b"old".to_vec())).wait().unwrap();
    }
    let started = Instant::now();
    while published(&bridge) < 50 && started.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = published(&bridge);
    assert!(
        before >= 50,
        "the first topic's messages are counted: {before}"
    );
    filemap::namespace::remove(name).unwrap();
    drop(old);
    let mut new = Subscriber::create_or_open(name, &TopicOptions::new()).unwrap();
    let came = comes_in(&mut new, b"new");
    drop(new);
    // The name's counters go on from the first topic's (they restarted from 0).
    let after = published(&bridge);
    bridge.stop();
    assert!(came, "nothing came into the topic made again");
    assert!(after > before, "counted {before}, then {after}");
}

#[cfg(not(target_os = "linux"))]
#[test]
fn a_topic_made_again_under_its_name_is_bridged_anew() {
    println!("Linux only: Windows keeps a name while any handle of its object lives");
}
