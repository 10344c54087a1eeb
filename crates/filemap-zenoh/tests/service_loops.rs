//! A service bridged both ways in one namespace: one bridge that would export and import
//! one service is refused; and of two bridges of one namespace, one importing a service
//! (so the namespace's server of it) and one exporting it, the exporting one refuses the
//! request that comes round to it (it went round for ever, each hop run again). The link
//! is TCP over 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use filemap::service::Client;
use filemap_zenoh::{Bridge, BridgeError};

const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn a_request_from_this_namespace_is_not_served_again() {
    common::exit_if_still_running("service_loops", "requests");
    let dir = tempfile::tempdir().unwrap();
    common::use_namespace(dir.path());
    let both = Bridge::builder()
        .export_service("calc")
        .import_service("calc")
        .listen("tcp/127.0.0.1:0")
        .start();
    assert!(
        matches!(&both, Err(BridgeError::Setting(why)) if why.contains("both exported and imported")),
        "{:?}",
        both.err()
    );
    let between = common::free_loopback_endpoint();
    let importer = Bridge::builder()
        .import_service("calc")
        .listen(between.clone())
        .query_timeout(Duration::from_secs(5))
        .start()
        .unwrap();
    let exporter = Bridge::builder()
        .export_service("calc")
        .connect(between)
        .query_timeout(Duration::from_secs(5))
        .start()
        .unwrap();
    // Asked until the request reaches the exporting bridge (before the link is up a query
    // finds nobody and fails at once, for another reason).
    let mut client = Client::open("calc").unwrap();
    let started = Instant::now();
    let refusal = loop {
        assert!(started.elapsed() < PATIENCE, "no request was refused");
        match client.call(b"2+2", Duration::from_secs(10)) {
            Err(filemap::Error::RequestFailed { reason, .. }) if reason.contains("go round") => {
                break reason;
            }
            Err(filemap::Error::RequestFailed { .. }) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => panic!("expected the request to fail, got {other:?}"),
        }
    };
    assert!(
        refusal.contains("comes from the namespace that serves it"),
        "{refusal}"
    );
    drop(client);
    exporter.stop();
    importer.stop();
}
