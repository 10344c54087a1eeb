//! What the bridge's integration tests share: a plain Zenoh peer (no filemap in it) that
//! listens on a free TCP port of 127.0.0.1, with multicast scouting off, for a bridge to
//! connect to.

use std::net::TcpListener;

use zenoh::Wait;

/// Points this test process's filemap objects (and its bridges') at `dir`.
#[allow(dead_code)] // (not every test program has objects of its own)
pub fn use_namespace(dir: &std::path::Path) {
    // SAFETY: the threads of these test programs read the environment only through
    // `std::env` (filemap reads FILEMAP_DIR so, Zenoh and tokio their settings), whose lock
    // orders each read against this write; none calls C code that reads it (no name
    // resolution: every endpoint is a numeric loopback address). (On Windows the write is
    // thread-safe in any case.)
    unsafe { std::env::set_var("FILEMAP_DIR", dir) };
}

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

/// A Zenoh endpoint on a free TCP port of 127.0.0.1 (free when asked for).
pub fn free_loopback_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp/127.0.0.1:{}", listener.local_addr().unwrap().port())
}

/// Ends the test program after 120 s, saying `what` may be going round between bridges
/// (a loop can wedge them: bounded from outside).
#[allow(dead_code)] // (not every test program runs two bridges)
pub fn exit_if_still_running(test: &'static str, what: &'static str) {
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(120));
        eprintln!("{test}: still running after 120 s ({what} going round?)");
        std::process::exit(1);
    });
}

/// A plain Zenoh peer session listening on 127.0.0.1, and the endpoint a bridge connects to.
#[allow(dead_code)] // (not every test program has a plain peer)
pub fn loopback_peer() -> (zenoh::Session, String) {
    let endpoint = free_loopback_endpoint();
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
