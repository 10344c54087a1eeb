//! A child made by `fork` (without `exec`), as Python's multiprocessing makes its workers
//! on Linux, has copies of every endpoint its parent held: a channel's sender and
//! receiver, a topic's publisher and subscriber, an inbox and its sender, a service's
//! server and client. The roles stay the parent's: every call on a copy in the child is
//! `Error::Unsupported`, and dropping the copies changes nothing the parent sees. Runs one
//! test at a time, on one thread (it forks).

mod common;

fn main() {
    #[cfg(unix)]
    common::run_tests(&[
        (
            "calls_on_forked_copies_fail_and_change_nothing",
            unix::calls_on_forked_copies_fail_and_change_nothing,
        ),
        (
            "dropping_forked_copies_changes_nothing",
            unix::dropping_forked_copies_changes_nothing,
        ),
        (
            "slots_held_across_a_fork_stay_the_parents",
            unix::slots_held_across_a_fork_stay_the_parents,
        ),
    ]);
    #[cfg(not(unix))]
    println!("\nrunning 0 tests (fork is a Unix call: nothing to test here)");
}

#[cfg(unix)]
mod unix {
    use std::time::Duration;

    use crate::common::{unique, Namespace};
    use filemap::channel::WaitMode;
    use filemap::channel::{Receiver, Sender};
    use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    use filemap::service::{Client, RequestId, Server, ServiceOptions};
    use filemap::topic::{Publisher, Subscriber, TopicOptions};
    use filemap::wait::wait_any;
    use filemap::Error;

    /// A message long enough to be marked as being written while it is (so a reserve that
    /// went through would write a mark into the ring).
    const WRITING_MARKED: usize = 2048;

    /// Everything the parent holds, each with a message or request waiting.
    struct Parties {
        tx: Sender,
        rx: Receiver,
        publisher: Publisher,
        subscriber: Subscriber,
        inbox: Inbox,
        inbox_sender: InboxSender,
        server: Server,
        client: Client,
        /// The client's request, which the server has yet to take.
        asked: RequestId,
    }

    impl Parties {
        fn new() -> Parties {
            let channel = unique("forked-channel");
            let topic = unique("forked-topic");
            let inbox = unique("forked-inbox");
            let service = unique("forked-service");
            let server = Server::create_or_open(service.as_str(), &ServiceOptions::new()).unwrap();
            let mut client = Client::open(service.as_str()).unwrap();
            let asked = client.send_request(b"before").unwrap();
            let parties = Parties {
                rx: Receiver::create_or_open(channel.as_str(), 4096).unwrap(),
                tx: Sender::open(channel.as_str()).unwrap(),
                publisher: Publisher::create_or_open(topic.as_str(), &TopicOptions::new()).unwrap(),
                subscriber: Subscriber::open(topic.as_str()).unwrap(),
                inbox: Inbox::create_or_open(inbox.as_str(), &InboxOptions::new()).unwrap(),
                inbox_sender: InboxSender::open(inbox.as_str()).unwrap(),
                server,
                client,
                asked,
            };
            let mut parties = parties;
            parties.tx.send(b"before").unwrap();
            parties.publisher.publish(b"before").unwrap();
            parties.inbox_sender.send(b"before").unwrap();
            parties
        }
    }

    /// In the child: every call on the copies, each of which must fail with
    /// `Unsupported`; the calls that did not, by name.
    fn calls_in_the_child(p: &mut Parties) -> Vec<String> {
        let asked = p.asked;
        let results: Vec<(&str, filemap::Result<()>)> = vec![
            ("channel send", p.tx.send(b"child")),
            ("channel try_send", p.tx.try_send(b"child").map(drop)),
            ("channel recv", p.rx.recv().map(drop)),
            ("channel try_recv", p.rx.try_recv().map(drop)),
            (
                "wait_any on the receiver",
                wait_any(&[&p.rx], Some(Duration::ZERO)).map(drop),
            ),
            (
                "wait_any on the sender",
                wait_any(&[&p.tx], Some(Duration::ZERO)).map(drop),
            ),
            (
                "channel recv_async",
                filemap::wait::block_on(p.rx.recv_async()).map(drop),
            ),
            ("topic publish", p.publisher.publish(b"child")),
            ("topic recv", p.subscriber.recv().map(drop)),
            ("inbox recv", p.inbox.recv().map(drop)),
            ("inbox try_recv", p.inbox.try_recv().map(drop)),
            ("inbox send", p.inbox_sender.send(b"child")),
            (
                "service send_request",
                p.client.send_request(b"child").map(drop),
            ),
            ("service recv_response", p.client.recv_response().map(drop)),
            ("service recv_request", p.server.recv_request().map(drop)),
            ("service respond", p.server.respond(asked, b"child")),
            (
                "service try_recv_request",
                p.server.try_recv_request().map(drop),
            ),
            (
                "topic try_publish",
                p.publisher.try_publish(b"child").map(drop),
            ),
            ("topic try_recv", p.subscriber.try_recv().map(drop)),
            ("channel reserve", p.tx.reserve(WRITING_MARKED).map(drop)),
            (
                "wait_all on the receiver",
                filemap::wait::wait_all(&[&p.rx], Some(Duration::ZERO)).map(drop),
            ),
        ];
        // Local to the copy: the parent's mode, which its peers read, stays.
        p.rx.set_wait_mode(WaitMode::BusyPoll);
        results
            .into_iter()
            .filter_map(|(call, result)| match result {
                Err(Error::Unsupported { what }) if what.contains("fork") => None,
                other => Some(format!("{call}: {other:?}")),
            })
            .collect()
    }

    pub fn calls_on_forked_copies_fail_and_change_nothing() {
        in_a_child_then_check(true);
    }

    pub fn dropping_forked_copies_changes_nothing() {
        in_a_child_then_check(false);
    }

    /// Forks a child that (if `calls`) makes every call on its copies, then drops them;
    /// then checks that the parent's endpoints go on as if there had been no child.
    fn in_a_child_then_check(calls: bool) {
        let ns = Namespace::new();
        let mut parties = Parties::new();
        // SAFETY: this test binary runs its tests one at a time on its main thread, and
        // the child only calls this library (which keeps no lock across a fork that the
        // child needs) before it ends with `_exit`.
        match unsafe { libc::fork() } {
            0 => {
                let wrong = if calls {
                    calls_in_the_child(&mut parties)
                } else {
                    Vec::new()
                };
                for w in &wrong {
                    eprintln!("in the child, not refused: {w}");
                }
                drop(parties);
                // SAFETY: ends the child at once, running no destructors or atexit handlers.
                unsafe { libc::_exit(i32::from(!wrong.is_empty())) };
            }
            -1 => panic!("fork failed"),
            pid => {
                let status = wait_for_child(pid, Duration::from_secs(30));
                assert!(
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                    "the child's calls were not all refused (its stderr says which)"
                );
            }
        }
        let p = &mut parties;
        // Every message and request is still there, once, and the roles still work: the
        // child's drops marked nothing closed and gave no slot away.
        assert_eq!(
            p.rx.try_recv().unwrap().unwrap().to_vec().unwrap(),
            b"before"
        );
        assert!(p.rx.try_recv().unwrap().is_none());
        assert_eq!(
            p.subscriber.try_recv().unwrap().unwrap().to_vec().unwrap(),
            b"before"
        );
        assert!(p.subscriber.try_recv().unwrap().is_none());
        assert_eq!(
            p.publisher.subscribers(),
            1,
            "the subscriber is still connected"
        );
        assert_eq!(
            p.inbox.senders(),
            1,
            "the inbox's sender is still connected"
        );
        assert_eq!(p.server.clients(), 1, "the client is still connected");
        assert!(p.client.server_alive(), "the server is still there");
        let (_, message) = p.inbox.try_recv().unwrap().unwrap();
        assert_eq!(message.to_vec().unwrap(), b"before");
        drop(message);
        assert!(p.inbox.try_recv().unwrap().is_none());
        let (id, request) = {
            let request = p.server.try_recv_request().unwrap().unwrap();
            (request.id(), request.to_vec().unwrap())
        };
        assert_eq!(request, b"before");
        p.server.respond(id, b"answer").unwrap();
        let response = p
            .client
            .recv_response_timeout(Duration::from_secs(5))
            .unwrap();
        assert_eq!(response.to_vec().unwrap(), b"answer");
        drop(response);
        // A channel whose receiver were marked closed would say so once full: fill it.
        let mut sent = 0;
        while p
            .tx
            .try_send(&[7u8; 64])
            .expect("the receiver is still there")
        {
            sent += 1;
            assert!(
                sent < 1000,
                "a 4 KiB ring holds fewer than 1000 messages of 64 bytes"
            );
        }
        for _ in 0..sent {
            drop(p.rx.try_recv().unwrap().expect("every message sent"));
        }
        p.publisher.publish(b"after").unwrap();
        assert_eq!(
            p.subscriber.try_recv().unwrap().unwrap().to_vec().unwrap(),
            b"after"
        );
        p.inbox_sender.send(b"after").unwrap();
        assert_eq!(
            p.inbox.try_recv().unwrap().unwrap().1.to_vec().unwrap(),
            b"after"
        );
        drop(parties);
        ns.assert_empty();
    }

    /// Slots the parent holds when it forks (a message received, a sample, a reserved
    /// message and a reserved publication): in the child they read nothing, and commit
    /// and give back nothing.
    pub fn slots_held_across_a_fork_stay_the_parents() {
        let ns = Namespace::new();
        let (channel, topic) = (unique("forked-slots"), unique("forked-samples"));
        let mut rx = Receiver::create_or_open(channel.as_str(), 4096).unwrap();
        let mut tx = Sender::open(channel.as_str()).unwrap();
        let mut publisher =
            Publisher::create_or_open(topic.as_str(), &TopicOptions::new()).unwrap();
        let mut subscriber = Subscriber::open(topic.as_str()).unwrap();
        tx.send(b"held").unwrap();
        publisher.publish(b"sampled").unwrap();
        let held = rx.recv().unwrap();
        let sample = subscriber.recv().unwrap();
        let mut reserved = tx.reserve(5).unwrap();
        let mut publishing = publisher.reserve(5).unwrap();
        // SAFETY: as in `in_a_child_then_check`.
        match unsafe { libc::fork() } {
            0 => {
                let refused = |r: filemap::Result<()>| matches!(r, Err(Error::Unsupported { what }) if what.contains("fork"));
                let ok = refused(held.read_at(0, &mut [0; 4]))
                    && refused(held.to_vec().map(drop))
                    && refused(sample.to_vec().map(drop))
                    && refused(reserved.copy_from_slice(b"child"))
                    && refused(publishing.write_at(0, b"child"));
                reserved.commit();
                publishing.commit();
                drop(held);
                drop(sample);
                // SAFETY: ends the child at once, running no destructors or atexit handlers.
                unsafe { libc::_exit(i32::from(!ok)) };
            }
            -1 => panic!("fork failed"),
            pid => {
                let status = wait_for_child(pid, Duration::from_secs(30));
                assert!(
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                    "the child's reads or writes of the slots were not refused"
                );
            }
        }
        // The child committed nothing, and released nothing the parent still reads.
        drop(reserved);
        drop(publishing);
        assert_eq!(held.to_vec().unwrap(), b"held");
        assert_eq!(sample.to_vec().unwrap(), b"sampled");
        drop(held);
        drop(sample);
        assert!(
            rx.try_recv().unwrap().is_none(),
            "the child's commit sent nothing"
        );
        assert!(
            subscriber.try_recv().unwrap().is_none(),
            "nor published anything"
        );
        tx.send(b"after").unwrap();
        assert_eq!(rx.try_recv().unwrap().unwrap().to_vec().unwrap(), b"after");
        drop((rx, tx, publisher, subscriber));
        ns.assert_empty();
    }

    /// The exit status of child `pid`, waited for at most `limit`: a child still running
    /// then (a call on a copy that waited instead of failing) is killed, and the test fails.
    fn wait_for_child(pid: libc::pid_t, limit: Duration) -> i32 {
        let started = std::time::Instant::now();
        let mut status = 0;
        loop {
            // SAFETY: asks about the child just made, without waiting.
            match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
                0 if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(10)),
                0 => {
                    // SAFETY: kills and reaps this test's own child.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                        libc::waitpid(pid, &mut status, 0);
                    }
                    panic!("the child was still in a call on its copies after {limit:?}");
                }
                r => {
                    assert_eq!(r, pid, "waitpid failed");
                    return status;
                }
            }
        }
    }
}
