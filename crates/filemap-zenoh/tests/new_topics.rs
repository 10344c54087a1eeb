//! From when an export sends: a topic there when the bridge starts is exported from the
//! messages published after that (not its history), and one made while the bridge runs
//! from the start of its history, so that what was published before a scan found it
//! crosses too (it was lost: the export subscribed from the latest message), as is one
//! made under a name another kind of object held at the start. The link is TCP over
//! 127.0.0.1, to a plain Zenoh peer that subscribes to the topics' keys.

mod common;

use std::time::{Duration, Instant};

use filemap::topic::{Publisher, TopicOptions};
use filemap_zenoh::Bridge;
use zenoh::Wait;

const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn a_topic_made_while_the_bridge_runs_crosses_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    common::use_namespace(dir.path());
    let options = TopicOptions::new().history(16);
    let mut old = Publisher::create_or_open("early-topic", &options).unwrap();
    old.publish(b"before the bridge").unwrap();
    let (session, endpoint) = common::loopback_peer();
    let subscriber = session.declare_subscriber("filemap/*").wait().unwrap();
    // A name held by another kind of object at the start, exported by name: a topic made
    // under it later is a new one too.
    let mapping = filemap::Mapping::create_new("renamed-later", 4096).unwrap();
    let bridge = Bridge::builder()
        .export("*")
        .export("renamed-later")
        .connect(endpoint)
        .start()
        .unwrap();
    // The topic there at the start: exported from now on.
    common::until_exported(&bridge);
    // A topic made now, and published to at once, before a scan can have found it; and
    // one made in the mapping's place.
    let mut new = Publisher::create_or_open("late-topic", &options).unwrap();
    let sent: Vec<String> = (0..5).map(|i| format!("late {i}")).collect();
    for message in &sent {
        new.publish(message.as_bytes()).unwrap();
    }
    drop(mapping);
    let mut replaced = Publisher::create_or_open("renamed-later", &options).unwrap();
    replaced.publish(b"in the mapping's place").unwrap();
    // Published to the early topic until its message crosses (the far side may subscribe
    // a moment after the export began).
    let mut got: Vec<(String, String)> = Vec::new();
    let started = Instant::now();
    while got
        .iter()
        .filter(|(key, _)| key.ends_with("late-topic"))
        .count()
        < sent.len()
        || !got.iter().any(|(_, m)| m == "after the bridge")
        || !got.iter().any(|(_, m)| m == "in the mapping's place")
    {
        if started.elapsed() > PATIENCE {
            let late: Vec<&(String, String)> = got
                .iter()
                .filter(|(key, _)| key.ends_with("late-topic"))
                .collect();
            panic!(
                "not everything came in time: of the late topic {late:?}, and {} messages of \
                 the early one",
                got.len() - late.len()
            );
        }
        old.publish(b"after the bridge").unwrap();
        while let Ok(Some(sample)) = subscriber.recv_timeout(Duration::from_millis(50)) {
            let payload = sample.payload().to_bytes().into_owned();
            got.push((
                sample.key_expr().to_string(),
                String::from_utf8(payload).unwrap(),
            ));
        }
    }
    let late: Vec<&String> = got
        .iter()
        .filter(|(key, _)| key.ends_with("late-topic"))
        .map(|(_, m)| m)
        .collect();
    assert_eq!(
        late,
        sent.iter().collect::<Vec<_>>(),
        "the late topic's messages"
    );
    assert!(
        !got.iter().any(|(_, m)| m == "before the bridge"),
        "the early topic's history crossed: {got:?}"
    );
    println!(
        "a topic made while the bridge ran: its {} messages published before a scan found it \
         crossed; the history of one there before did not",
        sent.len()
    );
    drop(bridge);
    drop((old, new, replaced));
    session.close().wait().unwrap();
}
