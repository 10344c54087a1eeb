//! What the bridge's integration tests share: a plain Zenoh peer (no filemap in it) that
//! listens on a free TCP port of 127.0.0.1, with multicast scouting off, for a bridge to
//! connect to.

use std::net::TcpListener;

use zenoh::Wait;

/// Waits until `bridge` exports something (its first scan found the topic), for at most
/// 20 s.
#[allow(dead_code)] // (not every test program waits so)
pub fn until_exported(bridge: &filemap_zenoh::Bridge) {
    let started = std::time::Instant::now();
    while !bridge.stats().iter().any(|t| t.exported) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "nothing was exported in 20 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A plain Zenoh peer session listening on 127.0.0.1, and the endpoint a bridge connects to.
pub fn loopback_peer() -> (zenoh::Session, String) {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let mut config = zenoh::Config::default();
    for (key, value) in [
        ("mode", "\"peer\"".to_string()),
        ("scouting/multicast/enabled", "false".to_string()),
        ("listen/endpoints", format!("[{endpoint:?}]")),
    ] {
        config.insert_json5(key, &value).unwrap();
    }
    (zenoh::open(config).wait().unwrap(), endpoint)
}
