//! An exported service whose local server does not answer a query within the bridge's
//! query timeout replies to it with an error and gives the request up, holding nothing for
//! it (it held the query for ever); what the server answers in time goes through, and a
//! late answer is dropped. The asker is a plain Zenoh peer over TCP on 127.0.0.1.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use filemap::service::{RequestId, Server, ServiceOptions};
use filemap_zenoh::Bridge;
use zenoh::Wait;

const PATIENCE: Duration = Duration::from_secs(20);

/// Asks `key` with `payload` (the query itself waiting up to `timeout`): the first reply,
/// `Ok` or `Err` with its payload, if one comes within `PATIENCE`.
fn ask(
    session: &zenoh::Session,
    key: &str,
    payload: &str,
    timeout: Duration,
) -> Option<Result<String, String>> {
    let (tx, rx) = mpsc::channel();
    session
        .get(key)
        .payload(payload.to_string())
        .timeout(timeout)
        .callback(move |reply| {
            let text =
                |b: &zenoh::bytes::ZBytes| String::from_utf8_lossy(&b.to_bytes()).into_owned();
            let _ = tx.send(match reply.result() {
                Ok(sample) => Ok(text(sample.payload())),
                Err(error) => Err(text(error.payload())),
            });
        })
        .wait()
        .unwrap();
    rx.recv_timeout(PATIENCE.min(timeout + Duration::from_secs(1)))
        .ok()
}

/// Serves `server` on a thread of its own until `stop` is set (or three times `PATIENCE`
/// pass): each request's id and payload go to `answer`, which says whether to serve on.
fn serve_until(
    mut server: Server,
    stop: &Arc<AtomicBool>,
    mut answer: impl FnMut(&mut Server, RequestId, Vec<u8>) -> bool + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let stop = stop.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        while !stop.load(Ordering::Relaxed) && started.elapsed() < PATIENCE * 3 {
            let (id, payload) = match server.recv_request_timeout(Duration::from_millis(20)) {
                Ok(request) => (request.id(), request.to_vec().unwrap()),
                Err(_) => continue,
            };
            if !answer(&mut server, id, payload) {
                return;
            }
        }
    })
}

/// The query of a request `client` sends with `payload`, asked again until one reaches
/// `queryable` (the bridge's link may not be up yet: a query that finds no queryable
/// fails at once), for at most `PATIENCE`.
fn reaching_query(
    client: &mut filemap::service::Client,
    queryable: &zenoh::query::Queryable<zenoh::handlers::FifoChannelHandler<zenoh::query::Query>>,
    payload: &[u8],
) -> zenoh::query::Query {
    let started = Instant::now();
    'asking: loop {
        client.send_request(payload).unwrap();
        loop {
            assert!(
                started.elapsed() < PATIENCE,
                "no request reached the far side"
            );
            if let Ok(Some(query)) = queryable.try_recv() {
                return query;
            }
            match client.recv_response_timeout(Duration::from_millis(10)) {
                Err(filemap::Error::Timeout { .. }) => {}
                Ok(failed) if failed.is_failure() => continue 'asking,
                other => panic!("a response before the far side answered: {other:?}"),
            }
        }
    }
}

/// A client of the service `name` a bridge imports, once the bridge has made it.
fn client_of_import(name: &str) -> filemap::service::Client {
    let started = Instant::now();
    loop {
        if let Ok(client) = filemap::service::Client::open(name) {
            return client;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the imported service never appeared"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One after the other, in one namespace (the environment is the process's, and a process
/// runs one bridge's status object at a time).
#[test]
fn services() {
    let dir = tempfile::tempdir().unwrap();
    common::use_namespace(dir.path());
    query_timeouts_out_of_range_are_refused();
    an_unanswered_query_gets_an_error_after_the_query_timeout();
    replies_faster_than_the_client_takes_them_fail_the_request_past_the_buffer();
    a_client_that_takes_no_responses_holds_up_no_other();
    a_client_with_too_many_requests_waiting_is_refused_more();
    many_queries_with_streamed_answers_are_all_answered();
    a_busy_server_holds_up_no_other_key();
    what_is_asked_when_a_bridge_stops_is_told_so();
    a_stream_cut_short_is_no_whole_answer();
    queries_being_served_count_against_the_buffer();
}

/// The queries an exported service's server has taken and not yet answered count against
/// the bridge's buffer, with those waiting for room: past it a query is refused at once
/// (each was held, with its payload, until the query timeout, however many came). The
/// queries go one at a time, each once the server has the one before: none waits for
/// room.
fn queries_being_served_count_against_the_buffer() {
    const QUERIES: usize = 64;
    let name = "slow-service";
    let server = Server::create_or_open(name, &ServiceOptions::new()).unwrap();
    let (first, came) = mpsc::channel::<()>();
    let stop = Arc::new(AtomicBool::new(false));
    // Takes every request and answers none.
    let serving = serve_until(server, &stop, move |_, _, _| {
        let _ = first.send(());
        true
    });
    let (session, endpoint) = common::loopback_peer();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let bridge = Bridge::builder()
        .export_service(name)
        .connect(endpoint)
        .buffer(16, 16 << 10)
        .query_timeout(PATIENCE * 3)
        .start()
        .unwrap();
    let payload = vec![b'q'; 1024];
    let get = |payload: &[u8]| {
        session
            .get(&key)
            .payload(payload.to_vec())
            .timeout(PATIENCE * 3)
            .wait()
            .unwrap()
    };
    // Until a request reaches the server (the link and the queryable are up).
    let started = Instant::now();
    let mut asked = Vec::new();
    while came.recv_timeout(Duration::from_millis(50)).is_err() {
        assert!(
            started.elapsed() < PATIENCE,
            "no request reached the server"
        );
        asked.push(get(&payload));
    }
    let refused = 'asking: {
        for _ in 0..QUERIES {
            let replies = get(&payload);
            let sent = Instant::now();
            // Taken by the server, or refused.
            loop {
                if came.try_recv().is_ok() {
                    break;
                }
                if let Ok(Some(reply)) = replies.try_recv() {
                    let e = reply
                        .result()
                        .expect_err("no answer from a server that gives none");
                    break 'asking String::from_utf8_lossy(&e.payload().to_bytes()).into_owned();
                }
                assert!(
                    sent.elapsed() < PATIENCE,
                    "a query neither taken nor refused"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            asked.push(replies);
        }
        panic!("none of {QUERIES} queries of 1 KiB was refused past a buffer of 16 KiB");
    };
    assert!(refused.contains("being served already"), "{refused}");
    bridge.stop();
    stop.store(true, Ordering::Relaxed);
    serving.join().unwrap();
    drop(session);
}

/// An exporting bridge marks each reply of a stream, and the last as the last; an
/// importing bridge whose query ends after marked replies but none marked last (the link,
/// or the exporting bridge, went away mid-stream: Zenoh ends the query as if it were
/// answered) fails the request after the parts, rather than pass the stream for whole (it
/// sent the last part as the last response). The far side here is a plain Zenoh
/// queryable that replies with the marks, and a plain get that reads them.
fn a_stream_cut_short_is_no_whole_answer() {
    use filemap_zenoh::wire::{decode_reply_mark, reply_mark};
    let marks_of = |who: &str| (reply_mark(false, who), reply_mark(true, who));
    let (part, last) = marks_of("far");
    let (other_part, other_last) = marks_of("other");
    let (session, endpoint) = common::loopback_peer();
    let name = "cut-short";
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let queryable = session.declare_queryable(key.as_str()).wait().unwrap();
    let bridge = Bridge::builder()
        .import_service(name)
        .connect(endpoint.clone())
        .start()
        .unwrap();
    let mut client = filemap::service::Client::open(name).unwrap();
    // Longer than a response can be (the response rings are as large as the request's).
    let long = "x".repeat(2 * client.max_request_len());
    // As long as a response can be (a client's rings are of one size).
    let longest = "y".repeat(client.max_request_len());
    // The responses of a request whose query the far side answers with `replies` (each
    // with its mark, if any), then ends: (payload, last, failure) each.
    let mut answered = |replies: &[(&str, Option<&[u8]>)]| {
        let query = reaching_query(&mut client, &queryable, b"ask");
        for (payload, mark) in replies {
            let reply = query.reply(key.as_str(), payload.to_string());
            match mark {
                Some(mark) => reply.attachment(mark.to_vec()).wait().unwrap(),
                None => reply.wait().unwrap(),
            }
        }
        drop(query);
        let mut got = Vec::new();
        loop {
            let response = client.recv_response_timeout(PATIENCE).unwrap();
            let text = String::from_utf8(response.to_vec().unwrap()).unwrap();
            let (last, failure) = (response.is_last(), response.is_failure());
            got.push((text, last, failure));
            if last {
                return got;
            }
        }
    };
    let cut = answered(&[("a", Some(&part[..])), ("b", Some(&part[..]))]);
    assert_eq!(cut.len(), 3, "{cut:?}");
    assert_eq!(
        cut[..2],
        [("a".into(), false, false), ("b".into(), false, false)]
    );
    assert!(cut[2].2 && cut[2].0.contains("cut short"), "{cut:?}");
    let whole = answered(&[("a", Some(&part[..])), ("b", Some(&last[..]))]);
    assert_eq!(
        whole,
        [("a".into(), false, false), ("b".into(), true, false)]
    );
    // Two exporting bridges answer one query: one's stream whole, the other's cut short.
    let two = answered(&[
        ("a", Some(&part[..])),
        ("x", Some(&other_part[..])),
        ("b", Some(&last[..])),
    ]);
    assert_eq!(two.len(), 4, "{two:?}");
    assert!(two[3].2 && two[3].0.contains("cut short"), "{two:?}");
    let both = answered(&[
        ("x", Some(&other_part[..])),
        ("a", Some(&last[..])),
        ("y", Some(&other_last[..])),
    ]);
    assert!(both.iter().all(|(_, _, failure)| !failure), "{both:?}");
    // Parts marked by ever new bridges: past 16 the request fails (the set is bounded).
    let many: Vec<Vec<u8>> = (0..17)
        .map(|i| reply_mark(false, &format!("b{i}")))
        .collect();
    let replies: Vec<(&str, Option<&[u8]>)> = many.iter().map(|m| ("p", Some(&m[..]))).collect();
    let flood = answered(&replies);
    let failed = flood.last().unwrap();
    assert!(failed.2 && failed.0.contains("more than 16"), "{flood:?}");
    // A plain queryable's replies carry no marks: its last is the last response.
    let plain = answered(&[("a", None), ("b", None)]);
    assert_eq!(
        plain,
        [("a".into(), false, false), ("b".into(), true, false)]
    );
    // A marked reply as long as a response can be is passed on whole (the mark is not
    // part of the response: it was counted as such, and the reply refused as too long).
    let exact = answered(&[(&longest, Some(&last[..]))]);
    assert_eq!(
        exact
            .iter()
            .map(|r| (r.0.len(), r.1, r.2))
            .collect::<Vec<_>>(),
        [(longest.len(), true, false)],
        "{:?}",
        exact
            .iter()
            .map(|r| &r.0[..r.0.len().min(200)])
            .collect::<Vec<_>>()
    );
    // A reply no response can carry fails the request as it comes.
    let refused = answered(&[("a", None), (&long, None), ("b", None)]);
    assert_eq!(
        refused.len(),
        1,
        "{:?}",
        refused.iter().map(|r| r.0.len()).collect::<Vec<_>>()
    );
    assert!(
        refused[0].2 && refused[0].0.contains("longer than a response"),
        "{refused:?}"
    );
    drop((client, queryable));
    bridge.stop();
    // Exported: a stream of three responses comes marked part, part, last.
    let name = "marked";
    let server = Server::create_or_open(name, &ServiceOptions::new()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let serving = serve_until(server, &stop, |server, id, _| {
        server.respond_part(id, b"1").unwrap();
        server.respond_part(id, b"2").unwrap();
        server.respond(id, b"3").unwrap();
        true
    });
    let bridge = Bridge::builder()
        .export_service(name)
        .connect(endpoint)
        .start()
        .unwrap();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let started = Instant::now();
    let marks = loop {
        let (tx, rx) = mpsc::channel();
        session
            .get(key.as_str())
            .consolidation(zenoh::query::ConsolidationMode::None)
            .callback(move |reply| {
                if let Ok(sample) = reply.result() {
                    let mark = sample.attachment().map(|a| a.to_bytes().into_owned());
                    let _ = tx.send((sample.payload().to_bytes().into_owned(), mark));
                }
            })
            .wait()
            .unwrap();
        let marks: Vec<_> = rx.iter().collect();
        if !marks.is_empty() {
            break marks;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the exported service never answered"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    // Each marked with the exporting bridge's id: part, part, last.
    let said: Vec<(Vec<u8>, Option<bool>)> = marks
        .iter()
        .map(|(payload, mark)| {
            let last = mark
                .as_deref()
                .and_then(decode_reply_mark)
                .map(|(last, _)| last);
            (payload.clone(), last)
        })
        .collect();
    let want = [
        (b"1".to_vec(), Some(false)),
        (b"2".to_vec(), Some(false)),
        (b"3".to_vec(), Some(true)),
    ];
    assert_eq!(said, want);
    bridge.stop();
    stop.store(true, Ordering::Relaxed);
    serving.join().unwrap();
    session.close().wait().unwrap();
}

/// A bridge stopped while a query waits for its exported service's server, and while a
/// local client's request waits for the far side of an imported one: the asker gets an
/// error reply that says the bridge stopped (the query ended with no reply), and the
/// client a failed response that says so (it was told only that the server was gone).
fn what_is_asked_when_a_bridge_stops_is_told_so() {
    let (session, endpoint) = common::loopback_peer();
    // Exported: a server that answers "ping" and holds everything else.
    let name = "stopping-export";
    let server = Server::create_or_open(name, &ServiceOptions::new()).unwrap();
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let stop = Arc::new(AtomicBool::new(false));
    let serving = serve_until(server, &stop, move |server, id, payload| {
        match payload.as_slice() {
            b"ping" => server.respond(id, b"pong").unwrap(),
            _ => held_tx.send(()).unwrap(),
        }
        true
    });
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let bridge = Bridge::builder()
        .export_service(name)
        .connect(endpoint.clone())
        .query_timeout(Duration::from_secs(30))
        .start()
        .unwrap();
    let started = Instant::now();
    while ask(&session, &key, "ping", Duration::from_secs(2)) != Some(Ok("pong".into())) {
        assert!(
            started.elapsed() < PATIENCE,
            "the exported service never answered"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let asking = {
        let (session, key) = (session.clone(), key.clone());
        std::thread::spawn(move || ask(&session, &key, "hold", Duration::from_secs(15)))
    };
    held_rx
        .recv_timeout(PATIENCE)
        .expect("the query never reached the server");
    bridge.stop();
    match asking.join().unwrap() {
        Some(Err(reason)) => assert!(reason.contains("stopped"), "{reason}"),
        other => panic!("a query pending at the stop: expected an error reply, got {other:?}"),
    }
    stop.store(true, Ordering::Relaxed);
    serving.join().unwrap();
    // Imported: the far side holds every query without a reply.
    let name = "stopping-import";
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let queryable = session.declare_queryable(key.as_str()).wait().unwrap();
    let bridge = Bridge::builder()
        .import_service(name)
        .connect(endpoint)
        .query_timeout(Duration::from_secs(30))
        .start()
        .unwrap();
    let mut client = filemap::service::Client::open(name).unwrap();
    let held = reaching_query(&mut client, &queryable, b"hold");
    bridge.stop();
    match client.recv_response_timeout(Duration::from_secs(5)) {
        Ok(failed) if failed.is_failure() => {
            let reason = String::from_utf8(failed.to_vec().unwrap()).unwrap();
            assert!(reason.contains("stopped"), "{reason}")
        }
        other => panic!("a request pending at the stop: expected its failure, got {other:?}"),
    }
    drop((client, held, queryable));
    session.close().wait().unwrap();
}

/// Far more queries than Zenoh's queue of a queryable holds, to a service whose server
/// takes none for a while (its request ring of 4 KiB full): a sample of another key on
/// the same link still comes in meanwhile (the export left the queries in Zenoh's queue
/// once its request ring was full, the full queue held up the link's receiving thread,
/// and with it every key: here the server waits for that sample, so it never served),
/// and then every query is answered.
fn a_busy_server_holds_up_no_other_key() {
    const QUERIES: usize = 600;
    let name = "busy-service";
    let topic = "beside-the-busy-service";
    let options = ServiceOptions::new().capacity(4096);
    let mut server = Server::create_or_open(name, &options).unwrap();
    let mut subscriber =
        filemap::topic::Subscriber::create_or_open(topic, &filemap::topic::TopicOptions::new())
            .unwrap();
    let (came_in, wait_for_it) = mpsc::channel::<()>();
    let (burst_comes, burst) = mpsc::channel::<()>();
    let (busy_now, busy) = mpsc::channel::<()>();
    let serving = std::thread::spawn(move || {
        // Answers the probes (the queryable reaches the peer in its own time) until told
        // the burst comes; then busy until the other key's sample has come in.
        let started = Instant::now();
        while burst.try_recv().is_err() && started.elapsed() < PATIENCE * 2 {
            let probe = server
                .recv_request_timeout(Duration::from_millis(10))
                .map(|request| (request.id(), request.to_vec().unwrap()));
            if let Ok((id, payload)) = probe {
                server.respond(id, &payload).unwrap();
            }
        }
        let _ = busy_now.send(());
        if wait_for_it.recv_timeout(PATIENCE * 2).is_err() {
            return 0;
        }
        let mut served = 0;
        while served < QUERIES {
            let (id, payload) = match server.recv_request_timeout(PATIENCE) {
                Ok(request) => (request.id(), request.to_vec().unwrap()),
                Err(_) => break,
            };
            server.respond(id, &payload).unwrap();
            served += 1;
        }
        served
    });
    let (session, endpoint) = common::loopback_peer();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let topic_key = filemap_zenoh::keys::key_for("filemap", topic);
    let bridge = Bridge::builder()
        .export_service(name)
        .import(topic)
        .connect(endpoint)
        .query_timeout(PATIENCE * 3)
        .start()
        .unwrap();
    // Until the import's subscription reaches the peer.
    let started = Instant::now();
    loop {
        session
            .put(&topic_key, zenoh::bytes::ZBytes::from(b"hello".to_vec()))
            .wait()
            .unwrap();
        if subscriber.recv_timeout(Duration::from_millis(50)).is_ok() {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "nothing came in");
    }
    // Until the queryable reaches the peer and answers.
    while ask(&session, &key, "probe", Duration::from_secs(2)) != Some(Ok("probe".into())) {
        assert!(
            started.elapsed() < PATIENCE,
            "the exported service never answered"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    burst_comes.send(()).unwrap();
    busy.recv_timeout(PATIENCE).unwrap();
    let asked: Vec<_> = (0..QUERIES)
        .map(|i| {
            session
                .get(&key)
                .payload(format!("q{i}"))
                .timeout(PATIENCE * 3)
                .wait()
                .unwrap()
        })
        .collect();
    session
        .put(&topic_key, zenoh::bytes::ZBytes::from(b"beside".to_vec()))
        .wait()
        .unwrap();
    loop {
        match subscriber.recv_timeout(PATIENCE) {
            Ok(message) if message.to_vec().unwrap() == b"beside" => break,
            Ok(_) => {}
            Err(e) => panic!("the other key's sample, while the server was busy: {e}"),
        }
    }
    came_in.send(()).unwrap();
    for (i, replies) in asked.into_iter().enumerate() {
        let reply = replies
            .recv()
            .unwrap_or_else(|_| panic!("query {i}: no reply"));
        let answer = reply.result().unwrap_or_else(|e| {
            panic!(
                "query {i}: {}",
                String::from_utf8_lossy(&e.payload().to_bytes())
            )
        });
        assert_eq!(
            answer.payload().to_bytes().as_ref(),
            format!("q{i}").as_bytes()
        );
    }
    assert_eq!(serving.join().unwrap(), QUERIES);
    println!("    {QUERIES} queries answered after the other key's sample came in");
    bridge.stop();
}

/// A hundred queries at once to an exported service whose server answers each in six
/// parts, with rings of 4 KiB (six parts fill the response ring): every query gets all six
/// parts. The export read one response between batches of queries, and waited a second
/// for room for each query that found the request ring full (the server was itself
/// waiting for room to answer), answering those with an error.
fn many_queries_with_streamed_answers_are_all_answered() {
    const QUERIES: usize = 100;
    const PARTS: usize = 6;
    let name = "streaming-service";
    let options = ServiceOptions::new().capacity(4096);
    let server = Server::create_or_open(name, &options).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let serving = serve_until(server, &stop, |server, id, payload| {
        (0..PARTS).all(|part| {
            let mut answer = payload.clone();
            answer.resize(600, b'.');
            answer[599] = b'0' + part as u8;
            let sent = if part + 1 == PARTS {
                server.respond_timeout(id, &answer, PATIENCE)
            } else {
                server.respond_part_timeout(id, &answer, PATIENCE)
            };
            sent.is_ok()
        })
    });
    let (session, endpoint) = common::loopback_peer();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let bridge = Bridge::builder()
        .export_service(name)
        .connect(endpoint)
        .query_timeout(PATIENCE)
        .start()
        .unwrap();
    let started = Instant::now();
    while ask(&session, &key, "probe", Duration::from_secs(2)).is_none_or(|r| r.is_err()) {
        assert!(
            started.elapsed() < PATIENCE,
            "the exported service never answered"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let asked: Vec<_> = (0..QUERIES)
        .map(|i| {
            session
                .get(&key)
                .payload(format!("q{i}"))
                .consolidation(zenoh::query::ConsolidationMode::None)
                .timeout(PATIENCE * 2)
                .wait()
                .unwrap()
        })
        .collect();
    for (i, replies) in asked.into_iter().enumerate() {
        let mut parts = Vec::new();
        while let Ok(reply) = replies.recv() {
            match reply.result() {
                Ok(sample) => parts.push(sample.payload().to_bytes().into_owned()),
                Err(e) => panic!(
                    "query {i}: an error reply after {} parts: {}",
                    parts.len(),
                    String::from_utf8_lossy(&e.payload().to_bytes())
                ),
            }
        }
        assert_eq!(parts.len(), PARTS, "query {i}");
        for (part, bytes) in parts.iter().enumerate() {
            assert!(bytes.starts_with(format!("q{i}").as_bytes()), "query {i}");
            assert_eq!(
                bytes[599],
                b'0' + part as u8,
                "query {i}: part {part} out of order"
            );
        }
    }
    println!("    {QUERIES} queries of {PARTS} parts each answered in full");
    bridge.stop();
    stop.store(true, Ordering::Relaxed);
    serving.join().unwrap();
}

fn query_timeouts_out_of_range_are_refused() {
    for timeout in [Duration::ZERO, Duration::MAX] {
        match Bridge::builder()
            .export_service("any")
            .query_timeout(timeout)
            .start()
        {
            Err(e) => assert!(e.to_string().contains("query timeout"), "{e}"),
            Ok(_) => panic!("a query timeout of {timeout:?} was taken"),
        }
    }
}

fn an_unanswered_query_gets_an_error_after_the_query_timeout() {
    let name = "slow-service";
    let mut server = Server::create_or_open(name, &ServiceOptions::new()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Answers "ping" at once; keeps "hang" unanswered until told to answer it late.
    let (late_tx, late_rx) = mpsc::channel::<()>();
    let serving = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut hung = Vec::new();
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < PATIENCE * 3 {
                if late_rx.try_recv().is_ok() {
                    for id in hung.drain(..) {
                        server.respond(id, b"late").unwrap();
                    }
                }
                let (id, payload) = match server.recv_request_timeout(Duration::from_millis(20)) {
                    Ok(request) => (request.id(), request.to_vec().unwrap()),
                    Err(_) => continue,
                };
                match payload.as_slice() {
                    b"ping" => server.respond(id, b"pong").unwrap(),
                    _ => hung.push(id),
                }
            }
        })
    };
    let (session, endpoint) = common::loopback_peer();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let query_timeout = Duration::from_millis(300);
    let bridge = Bridge::builder()
        .export_service(name)
        .connect(endpoint)
        .query_timeout(query_timeout)
        .start()
        .unwrap();
    // Until the bridge's queryable is known on the peer and answers.
    let started = Instant::now();
    loop {
        if ask(&session, &key, "ping", Duration::from_secs(2)) == Some(Ok("pong".into())) {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the exported service never answered"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A query the server leaves unanswered: an error reply once the query timeout passes,
    // long before the asker's own timeout.
    let asked = Instant::now();
    match ask(&session, &key, "hang", Duration::from_secs(15)) {
        Some(Err(reason)) => {
            println!("after {:?}: {reason}", asked.elapsed());
            assert!(reason.contains("did not answer within"), "{reason}");
        }
        other => panic!("an unanswered query: expected an error reply, got {other:?}"),
    }
    // The server's late answer is dropped, and the service goes on. (Asked again while a
    // ping's whole round trip takes longer than the query timeout, as it may on a loaded
    // machine: a service that stopped answering fails at `PATIENCE`.)
    late_tx.send(()).unwrap();
    std::thread::sleep(query_timeout);
    let started = Instant::now();
    loop {
        match ask(&session, &key, "ping", Duration::from_secs(5)) {
            Some(Ok(answer)) => {
                assert_eq!(answer, "pong");
                break;
            }
            other => assert!(
                started.elapsed() < PATIENCE,
                "the service stopped answering after a late answer: {other:?}"
            ),
        }
    }
    bridge.stop();
    stop.store(true, Ordering::Relaxed);
    serving.join().unwrap();
}

/// An imported service whose far side replies faster than the local client takes the
/// responses fails that request once the replies on their way pass the bridge's buffer,
/// rather than holding them all in memory (they were queued without bound).
fn replies_faster_than_the_client_takes_them_fail_the_request_past_the_buffer() {
    let name = "flooding-service";
    let (session, endpoint) = common::loopback_peer();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let (parts, part_len) = (200usize, 16usize << 10);
    let _queryable = {
        let key = key.clone();
        session
            .declare_queryable(key.clone())
            .callback(move |query| {
                let probe = query
                    .payload()
                    .is_some_and(|p| p.to_bytes().as_ref() == b"probe");
                if probe {
                    let _ = query.reply(key.clone(), b"ok".to_vec()).wait();
                    return;
                }
                for i in 0..parts {
                    let _ = query.reply(key.clone(), vec![i as u8; part_len]).wait();
                }
            })
            .wait()
            .unwrap()
    };
    let bridge = Bridge::builder()
        .import_service(name)
        .connect(endpoint)
        .buffer(10_000, 1 << 20)
        .start()
        .unwrap();
    let started = Instant::now();
    let mut client = client_of_import(name);
    // Until a query reaches the far side's queryable.
    loop {
        if client
            .call(b"probe", Duration::from_secs(2))
            .ok()
            .as_deref()
            == Some(b"ok")
        {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "the far side never answered");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A request whose replies flood in while the client takes one response per 20 ms.
    client.send_request(b"flood").unwrap();
    let mut taken = 0usize;
    let reason = loop {
        std::thread::sleep(Duration::from_millis(20));
        let response = client
            .recv_response_timeout(Duration::from_secs(5))
            .expect("a response");
        let failure = response.is_failure();
        let last = response.is_last();
        let bytes = response.to_vec().unwrap();
        if failure {
            break String::from_utf8_lossy(&bytes).into_owned();
        }
        taken += 1;
        assert!(
            !last,
            "all {taken} responses came: the replies were queued without bound"
        );
    };
    println!("after {taken} of {parts} parts: {reason}");
    assert!(
        reason.contains("faster than the bridge could pass them on"),
        "{reason}"
    );
    drop(client);
    bridge.stop();
}

/// An imported service with two clients: one asks for more than its response ring holds
/// and takes nothing. The other's call is answered at once, while the first request waits
/// for room (it fails after a second without it). Before, the serving thread waited for
/// the first client's room, up to a second for each response, and took no other request
/// meanwhile: the second call was answered only after the first request had failed.
fn a_client_that_takes_no_responses_holds_up_no_other() {
    let name = "one-slow-client";
    let (session, endpoint) = common::loopback_peer();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    // Set once every reply to the large request is on its way.
    let flooded = Arc::new(AtomicBool::new(false));
    let _queryable = {
        let (key, flooded) = (key.clone(), flooded.clone());
        session
            .declare_queryable(key.clone())
            .callback(move |query| {
                let large = query
                    .payload()
                    .is_some_and(|p| p.to_bytes().as_ref() == b"large");
                if !large {
                    let _ = query.reply(key.clone(), b"ok".to_vec()).wait();
                    return;
                }
                // Eight parts of 16 KiB: twice what a 64 KiB response ring holds.
                for i in 0..8u8 {
                    let _ = query.reply(key.clone(), vec![i; 16 << 10]).wait();
                }
                flooded.store(true, Ordering::Release);
            })
            .wait()
            .unwrap()
    };
    let (lines, log) = mpsc::channel();
    let bridge = Bridge::builder()
        .import_service(name)
        .connect(endpoint)
        .start_with_log(move |line| {
            let _ = lines.send((Instant::now(), line.to_string()));
        })
        .unwrap();
    let started = Instant::now();
    let open = || client_of_import(name);
    let (mut stalled, mut other) = (open(), open());
    // Until a query reaches the far side's queryable.
    while other.call(b"probe", Duration::from_secs(2)).ok().as_deref() != Some(b"ok") {
        assert!(started.elapsed() < PATIENCE, "the far side never answered");
        std::thread::sleep(Duration::from_millis(10));
    }
    stalled.send_request(b"large").unwrap();
    while !flooded.load(Ordering::Acquire) {
        assert!(started.elapsed() < PATIENCE, "the far side never replied");
        std::thread::sleep(Duration::from_millis(1));
    }
    let answer = other.call(b"small", PATIENCE).unwrap();
    let answered = Instant::now();
    assert_eq!(answer, b"ok");
    // The stalled request fails (said in the log) after the other call was answered.
    let (failed_at, line) = loop {
        let (at, line) = log
            .recv_timeout(PATIENCE)
            .expect("no line says the stalled request failed");
        if line.contains("a response to request") {
            break (at, line);
        }
    };
    assert!(
        answered < failed_at,
        "the other call was answered only after the stalled request failed: {line}"
    );
    // Reading again, the stalled client gets the parts that went, then the failure (which
    // waited for room: it was dropped when there was none, and the client got nothing).
    let failure = loop {
        let response = stalled
            .recv_response_timeout(PATIENCE)
            .expect("the stalled request's failure never came");
        if response.is_failure() {
            break String::from_utf8_lossy(&response.to_vec().unwrap()).into_owned();
        }
        assert!(
            !response.is_last(),
            "a last response to a request that failed"
        );
    };
    assert!(failure.contains("took no response"), "{failure}");
    drop((stalled, other));
    bridge.stop();
}

/// An imported service holds at most 1,024 requests of one client waiting for their
/// answers (each a Zenoh query, and what the bridge keeps for it): the next fails at once
/// (a client that kept asking made queries without end).
fn a_client_with_too_many_requests_waiting_is_refused_more() {
    let name = "many-waiting";
    let (session, endpoint) = common::loopback_peer();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    // The far side holds every query unanswered (until the test ends).
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let _queryable = {
        let held = held.clone();
        session
            .declare_queryable(key.clone())
            .callback(move |query| held.lock().unwrap().push(query))
            .wait()
            .unwrap()
    };
    let bridge = Bridge::builder()
        .import_service(name)
        .connect(endpoint)
        .query_timeout(Duration::from_secs(60))
        .start()
        .unwrap();
    let started = Instant::now();
    let mut client = client_of_import(name);
    // Until the far side has the first query (the bridge reaches it).
    let first = client.send_request(b"0").unwrap();
    while held.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < PATIENCE,
            "no query reached the far side"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for i in 1..1024 {
        client.send_request(format!("{i}").as_bytes()).unwrap();
    }
    let refused = client.send_request(b"one too many").unwrap();
    let response = client.recv_response_timeout(PATIENCE).unwrap();
    let reason = String::from_utf8(response.to_vec().unwrap()).unwrap();
    assert_eq!(response.request(), refused, "{reason}");
    assert!(
        response.is_failure() && reason.contains("1024 requests waiting"),
        "{reason}"
    );
    assert_ne!(first, refused);
    drop(response);
    drop(client);
    bridge.stop();
    held.lock().unwrap().clear();
}
