//! What the bridge's integration tests share: a plain Zenoh peer (no filemap in it) that
//! listens on a free TCP port of 127.0.0.1, with multicast scouting off, for a bridge to
//! connect to.

use std::net::TcpListener;

use zenoh::Wait;

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
