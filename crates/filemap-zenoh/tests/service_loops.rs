//! A service bridged both ways in one namespace: one bridge that would export and import
//! one service is refused; and of two bridges of one namespace, one importing a service
//! (so the namespace's server of it) and one exporting it, the exporting one refuses the
//! request that comes round to it (it went round for ever, each hop run again). The link
//! is TCP over 127.0.0.1.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use filemap::service::Client;
use filemap_zenoh::{Bridge, BridgeError};

const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn a_request_from_this_namespace_is_not_served_again() {
    // (A loop between the bridges can wedge them: bounded from outside.)
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(120));
        eprintln!("service_loops: still running after 120 s (requests going round?)");
        std::process::exit(1);
    });
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("FILEMAP_DIR", dir.path());
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
    let between = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("tcp/127.0.0.1:{}", listener.local_addr().unwrap().port())
    };
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
                break reason
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
