//! An export that cannot start (its name is a plain mapping, not a topic or channel) says
//! why in the log, once, while the bridge keeps trying it (it said nothing at all, and an
//! explicit `--export` never ran without a word). No network: the bridge links to nobody.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use filemap_zenoh::Bridge;

#[test]
fn a_name_that_cannot_be_exported_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    common::use_namespace(dir.path());
    let name = "not-a-topic";
    let _mapping = filemap::Mapping::create_new(name, 4096).unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let bridge = {
        let lines = lines.clone();
        Bridge::builder()
            .export(name)
            .start_with_log(move |line| lines.lock().unwrap().push(line.to_string()))
            .unwrap()
    };
    // Three scans, half a second apart.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1600) {
        std::thread::sleep(Duration::from_millis(50));
    }
    bridge.stop();
    let said: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains("cannot export") && line.contains(name))
        .cloned()
        .collect();
    assert_eq!(said.len(), 1, "{:?}", lines.lock().unwrap());
    assert!(said[0].contains("mapping"), "{said:?}");
}
