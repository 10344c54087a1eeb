//! A child made by `fork` (without `exec`), as Python's multiprocessing makes its workers
//! on Linux, has copies of every endpoint its parent held: a channel's sender and
//! receiver, a topic's publisher and subscriber, an inbox and its sender, a service's
//! server and client. The roles stay the parent's: every call on a copy in the child is
//! `Error::Unsupported`, and dropping the copies changes nothing the parent sees. The same
//! holds for named objects and mutexes, told by the fork count (a grandchild may have its
//! dead grandparent's pid), and a child may lock a mutex its parent's thread held at the
//! fork (it waits for it). Runs one test at a time, on one thread (it forks).

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
        (
            "a_child_may_wait_for_a_mutex_its_parent_held_at_the_fork",
            unix::a_child_may_wait_for_a_mutex_its_parent_held_at_the_fork,
        ),
        (
            "a_grandchild_with_its_dead_grandparents_pid_removes_no_name",
            unix::a_grandchild_with_its_dead_grandparents_pid_removes_no_name,
        ),
        (
            "a_childs_copy_of_a_shared_mutex_guard_writes_nothing_back",
            unix::a_childs_copy_of_a_shared_mutex_guard_writes_nothing_back,
        ),
        (
            "a_killed_parents_locks_and_endpoints_are_dead_while_its_child_lives",
            unix::a_killed_parents_locks_and_endpoints_are_dead_while_its_child_lives,
        ),
    ]);
    #[cfg(not(unix))]
    println!("\nrunning 0 tests (fork is a Unix call: nothing to test here)");
}

#[cfg(unix)]
mod unix {
    use std::time::Duration;

    use crate::common::{Namespace, unique};
    use filemap::Error;
    use filemap::channel::WaitMode;
    use filemap::channel::{Receiver, Sender};
    use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    use filemap::service::{Client, RequestId, Server, ServiceOptions};
    use filemap::topic::{Publisher, Subscriber, TopicOptions};
    use filemap::wait::wait_any;

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
                let status =
                    wait_for_child(pid, Duration::from_secs(30), "in a call on its copies");
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
    /// message and a reserved publication): in the child they read nothing (a message
    /// forwarded into another channel through a sender of the child's own included), and
    /// commit and give back nothing.
    pub fn slots_held_across_a_fork_stay_the_parents() {
        let ns = Namespace::new();
        let (channel, topic) = (unique("forked-slots"), unique("forked-samples"));
        let onward = unique("forked-onward");
        let mut rx = Receiver::create_or_open(channel.as_str(), 4096).unwrap();
        let mut onward_rx = Receiver::create_or_open(onward.as_str(), 4096).unwrap();
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
                    && refused(Sender::open(onward.as_str()).and_then(|mut t| t.forward(&held)))
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
                let status =
                    wait_for_child(pid, Duration::from_secs(30), "in a call on its copies");
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
        // (The child's sender came and went: nothing, or Disconnected.)
        assert!(
            !matches!(onward_rx.try_recv(), Ok(Some(_))),
            "nor forwarded anything"
        );
        tx.send(b"after").unwrap();
        assert_eq!(rx.try_recv().unwrap().unwrap().to_vec().unwrap(), b"after");
        drop((rx, tx, publisher, subscriber, onward_rx));
        ns.assert_empty();
    }

    /// A child made by `fork` while its parent's thread held a mutex holds none of it: a
    /// lock of that mutex there (through a handle of its own) waits for the parent, rather
    /// than be refused as a relock by the thread that holds it (`WouldDeadlock`, which the
    /// thread's list of held mutexes, copied with the thread, used to say).
    pub fn a_child_may_wait_for_a_mutex_its_parent_held_at_the_fork() {
        let ns = Namespace::new();
        let name = unique("held-at-fork");
        let mutex = filemap::sync::NamedMutex::create_new(name.as_str()).unwrap();
        let guard = mutex.lock().unwrap();
        // SAFETY: as in `in_a_child_then_check`.
        match unsafe { libc::fork() } {
            0 => {
                let code = match filemap::sync::NamedMutex::open(name.as_str()).map(|m| {
                    let now = m.try_lock().map(|g| g.is_some());
                    let later = m.lock_timeout(Duration::from_millis(50)).map(drop);
                    (now, later)
                }) {
                    Ok((Ok(false), Err(Error::Timeout { .. }))) => 0,
                    Ok((now, later)) => {
                        eprintln!("in the child: try_lock {now:?}, lock_timeout {later:?}");
                        1
                    }
                    Err(e) => {
                        eprintln!("in the child: {e}");
                        1
                    }
                };
                // SAFETY: ends the child at once.
                unsafe { libc::_exit(code) }
            }
            -1 => panic!("fork failed"),
            pid => {
                let status = wait_for_child(pid, Duration::from_secs(30), "waiting for the mutex");
                assert!(
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                    "the child's lock of the mutex its parent held did not wait for it (its \
                     stderr says what it got)"
                );
            }
        }
        drop(guard);
        drop(mutex);
        ns.assert_empty();
    }

    /// A child's copy of its parent's `SharedMutexGuard`, whose value the parent had
    /// changed, writes nothing back when the child drops it: the parent lets go of the
    /// mutex, locks it again and writes a new value, and only then does the child drop its
    /// copy. The copy wrote its old value over the new one, without the lock (it unlocked
    /// nothing, as a copy of a guard must, but the write came first).
    pub fn a_childs_copy_of_a_shared_mutex_guard_writes_nothing_back() {
        let ns = Namespace::new();
        let name = unique("forked-shared");
        let shared = filemap::sync::SharedMutex::<u64>::create_new(name.as_str(), 0).unwrap();
        let go = filemap::sync::NamedEvent::create_new(
            format!("{name}-go").as_str(),
            filemap::sync::EventReset::Manual,
            false,
        )
        .unwrap();
        let mut guard = shared.lock().unwrap();
        *guard = 1;
        // SAFETY: as in `in_a_child_then_check`.
        match unsafe { libc::fork() } {
            0 => {
                // The child drops its copy of the guard once the parent has written 5.
                let code = match go.wait_timeout(Duration::from_secs(20)) {
                    Ok(()) => {
                        drop(guard);
                        0
                    }
                    Err(e) => {
                        eprintln!("in the child, waiting for the parent: {e}");
                        1
                    }
                };
                // SAFETY: ends the child at once.
                unsafe { libc::_exit(code) }
            }
            -1 => panic!("fork failed"),
            pid => {
                drop(guard);
                *shared.lock().unwrap() = 5;
                go.set().unwrap();
                let status = wait_for_child(pid, Duration::from_secs(30), "waiting for the event");
                assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
                assert_eq!(
                    *shared.lock().unwrap(),
                    5,
                    "the child's copy of the guard wrote its value over the parent's"
                );
            }
        }
        drop((shared, go));
        ns.assert_empty();
    }

    /// A handle copied by `fork` is told from its owner's by the fork count, not the pid:
    /// a process opens a named object and locks a named mutex, forks a child (which has
    /// copies of the handles and of the guard), then dies; the child then forks a
    /// grandchild that gets the dead process's pid (in a PID namespace of the test's own,
    /// whose next pid it sets). The grandchild drops its copies: told by pid, they looked
    /// like the owner's, so the object's ran the last-handle check (which the copies'
    /// shared lock lets through) and removed the name while the child still held the
    /// object, and the guard's unlocked the dead owner's lock. Needs root (to make the PID
    /// namespace and set its next pid); says so and checks nothing without it.
    pub fn a_grandchild_with_its_dead_grandparents_pid_removes_no_name() {
        let ns = Namespace::new();
        let name = unique("reused-pid");
        // SAFETY: as in `in_a_child_then_check`; every process below ends with `_exit`.
        let code = match unsafe { libc::fork() } {
            0 => {
                // SAFETY: `unshare` and `_exit` touch nothing of this process's memory.
                let code = if unsafe { libc::unshare(libc::CLONE_NEWPID) } == 0 {
                    in_a_pid_namespace(&name)
                } else {
                    let why = std::io::Error::last_os_error();
                    eprintln!("    making a PID namespace: {why}");
                    SKIPPED
                };
                // SAFETY: ends the process at once.
                unsafe { libc::_exit(code) }
            }
            -1 => panic!("fork failed"),
            pid => {
                let status = wait_for_child(
                    pid,
                    Duration::from_secs(30),
                    "in the PID namespace (its processes are killed with it)",
                );
                assert!(
                    libc::WIFEXITED(status),
                    "the namespace's process was killed"
                );
                libc::WEXITSTATUS(status)
            }
        };
        match code {
            SKIPPED => {
                println!(
                    "    skipped: making a PID namespace and setting its next pid \
                     (/proc/sys/kernel/ns_last_pid) needs CAP_SYS_ADMIN (root); why it \
                     failed is on stderr above"
                );
            }
            0 => {}
            NAME_GONE => panic!(
                "the grandchild with its dead grandparent's pid removed the name the child held"
            ),
            UNLOCKED => panic!(
                "the grandchild with its dead grandparent's pid unlocked its grandparent's lock"
            ),
            PID_NOT_REUSED => panic!("the grandchild did not get the dead process's pid"),
            other => panic!("a process of the test failed (exit {other}; its stderr says why)"),
        }
        // The child's copies, dropped there, removed nothing either: the entries are stale,
        // and the next open reclaims them.
        assert!(matches!(
            filemap::Mapping::open(name.as_str()),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            filemap::sync::NamedMutex::open(format!("{name}-mutex")),
            Err(Error::NotFound { .. })
        ));
        ns.assert_empty();
    }

    /// Exit codes of the processes of the reused-pid test.
    const SKIPPED: i32 = 77;
    const NAME_GONE: i32 = 10;
    const PID_NOT_REUSED: i32 = 11;
    const UNLOCKED: i32 = 12;

    /// In a process whose children start a new PID namespace: its first child (the
    /// namespace's init, pid 1) makes the owner (pid 2), which opens `name` and forks the
    /// child (pid 3) before it ends; the child makes the grandchild with pid 2.
    fn in_a_pid_namespace(name: &str) -> i32 {
        // SAFETY: this process is single-threaded (a fork of the test's main thread).
        let init = match unsafe { libc::fork() } {
            0 => {
                let code = init_of_the_namespace(name);
                // SAFETY: ends the process at once.
                unsafe { libc::_exit(code) }
            }
            -1 => return 1,
            pid => pid,
        };
        exit_code(init)
    }

    /// The namespace's init: makes the owner, reaps it when it ends, and waits for the
    /// child, whose exit code it returns.
    fn init_of_the_namespace(name: &str) -> i32 {
        // Killed with its parent (which the test kills if it runs too long): and the
        // namespace's other processes with it, its init.
        // SAFETY: sets this process's parent-death signal.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
            return 1;
        }
        let mut fds = [0; 2];
        // SAFETY: a pipe, for the owner to tell init its child's pid.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return 1;
        }
        let (from_owner, to_init) = (fds[0], fds[1]);
        // SAFETY: as above.
        let owner = match unsafe { libc::fork() } {
            0 => {
                // SAFETY: closes the pipe's read end, which the owner does not use.
                unsafe { libc::close(from_owner) };
                let code = owner(name, to_init);
                // SAFETY: ends the process at once, its handle not dropped (its copy in the
                // child holds the object).
                unsafe { libc::_exit(code) }
            }
            -1 => return 1,
            pid => pid,
        };
        // SAFETY: closes init's copy of the write end: a read ends if the owner ends
        // without writing.
        unsafe { libc::close(to_init) };
        let mut child: libc::pid_t = 0;
        // SAFETY: reads the child's pid, which the owner writes before it ends.
        let n = unsafe {
            libc::read(
                from_owner,
                (&mut child as *mut libc::pid_t).cast(),
                size_of::<libc::pid_t>(),
            )
        };
        // The owner is reaped before the child is told to go on (it waits for the pid to
        // be free).
        if exit_code(owner) != 0 || n != size_of::<libc::pid_t>() as isize || owner != 2 {
            return 1;
        }
        exit_code(child)
    }

    /// The owner (pid 2): opens the object, locks the mutex, forks the child, tells init
    /// its pid, ends.
    fn owner(name: &str, to_init: i32) -> i32 {
        let Ok(mapping) = filemap::Mapping::create_new(name, 4096) else {
            return 1;
        };
        let Ok(mutex) = filemap::sync::NamedMutex::create_new(format!("{name}-mutex")) else {
            return 1;
        };
        let Ok(guard) = mutex.lock() else {
            return 1;
        };
        // SAFETY: as above.
        match unsafe { libc::fork() } {
            0 => {
                let code = child(name, mapping, guard);
                // SAFETY: ends the process at once.
                unsafe { libc::_exit(code) }
            }
            -1 => 1,
            pid => {
                // SAFETY: writes the child's pid to init.
                let n = unsafe {
                    libc::write(
                        to_init,
                        (&pid as *const libc::pid_t).cast(),
                        size_of::<libc::pid_t>(),
                    )
                };
                std::mem::forget(guard);
                std::mem::forget((mapping, mutex));
                i32::from(n != size_of::<libc::pid_t>() as isize)
            }
        }
    }

    /// The child (pid 3), with its copy of the owner's handle: once the owner is gone,
    /// sets the namespace's next pid to the owner's and forks the grandchild, which drops
    /// its copy; then looks whether the name is still there.
    fn child(name: &str, mapping: filemap::Mapping, guard: filemap::sync::MutexGuard<'_>) -> i32 {
        // The owner is gone once its pid is free (init reaped it).
        let started = std::time::Instant::now();
        // SAFETY: asks whether pid 2 exists, sending no signal.
        while unsafe { libc::kill(2, 0) } == 0 {
            if started.elapsed() > Duration::from_secs(20) {
                return 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Err(why) = std::fs::write("/proc/sys/kernel/ns_last_pid", "1") {
            eprintln!("    setting the PID namespace's next pid: {why}");
            return SKIPPED;
        }
        // SAFETY: as above.
        let grandchild = match unsafe { libc::fork() } {
            0 => {
                // SAFETY: getpid reads this process's id.
                let reused = unsafe { libc::getpid() } == 2;
                drop(guard);
                drop(mapping);
                // SAFETY: ends the process at once.
                unsafe { libc::_exit(if reused { 0 } else { PID_NOT_REUSED }) }
            }
            -1 => return 1,
            pid => pid,
        };
        let code = exit_code(grandchild);
        if code != 0 {
            return code;
        }
        std::mem::forget(guard);
        let there = filemap::Mapping::open(name).is_ok();
        drop(mapping);
        if !there {
            return NAME_GONE;
        }
        // Still the dead owner's: taken over as abandoned (the grandchild's drop of its copy
        // of the guard left it alone; had it unlocked it, it would be free, not abandoned).
        match filemap::sync::NamedMutex::open(format!("{name}-mutex"))
            .map(|m| m.try_lock().map(|g| g.map(|g| g.abandoned())))
        {
            Ok(Ok(Some(true))) => 0,
            Ok(Ok(_)) => UNLOCKED,
            Ok(Err(e)) | Err(e) => {
                eprintln!("in the child, looking at the mutex: {e}");
                1
            }
        }
    }

    /// Waits for child `pid` to end: its exit code (1 if it did not exit).
    fn exit_code(pid: libc::pid_t) -> i32 {
        let mut status = 0;
        // SAFETY: waits for this process's own child.
        if unsafe { libc::waitpid(pid, &mut status, 0) } != pid || !libc::WIFEXITED(status) {
            return 1;
        }
        libc::WEXITSTATUS(status)
    }

    /// A process killed with kill -9 while a child it made by `fork` lives on: its mutex
    /// lock is abandoned and its sender gone, at once, not when the child exits. (The
    /// child's copies of the parent's liveness locks kept them held: a lock is the open
    /// file description's, which a fork shares, so the next locker waited for as long as
    /// the child lived, and the receiver was never told its sender had gone.)
    pub fn a_killed_parents_locks_and_endpoints_are_dead_while_its_child_lives() {
        let ns = Namespace::new();
        let name = unique("dead-parent");
        let channel = format!("{name}-channel");
        let mutex = filemap::sync::NamedMutex::create_new(name.as_str()).unwrap();
        let mut rx = Receiver::create_or_open(channel.as_str(), 4096).unwrap();
        let mut ready = [0 as libc::c_int; 2];
        // SAFETY: a pipe into a local array of two descriptors.
        assert_eq!(unsafe { libc::pipe(ready.as_mut_ptr()) }, 0, "pipe failed");
        // SAFETY: as in `in_a_child_then_check`; every process below ends with `_exit` or
        // is killed.
        let parent = match unsafe { libc::fork() } {
            0 => {
                let code = match holding_parent(&name, &channel, ready[1]) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("in the parent to be killed: {e}");
                        1
                    }
                };
                // SAFETY: ends the process at once.
                unsafe { libc::_exit(code) }
            }
            -1 => panic!("fork failed"),
            pid => pid,
        };
        // SAFETY: closes this process's copy of the pipe's write end.
        unsafe { libc::close(ready[1]) };
        // The grandchild's pid, once the parent holds the lock and the sender.
        let mut said = [0u8; 4];
        // SAFETY: reads up to 4 bytes into a local buffer from the pipe's read end.
        let got = unsafe { libc::read(ready[0], said.as_mut_ptr().cast(), 4) };
        // SAFETY: closes the read end, used no more.
        unsafe { libc::close(ready[0]) };
        let grandchild = i32::from_ne_bytes(said);
        // SAFETY: kills and reaps this test's own child (the grandchild lives on).
        unsafe {
            libc::kill(parent, libc::SIGKILL);
            libc::waitpid(parent, std::ptr::null_mut(), 0);
        }
        assert_eq!(
            got, 4,
            "the parent to be killed failed (its stderr says why)"
        );
        let locked = mutex
            .lock_timeout(Duration::from_secs(5))
            .map(|g| g.abandoned());
        let received = rx.recv_timeout(Duration::from_secs(5)).map(|m| m.len());
        // SAFETY: kills the grandchild, whose pid the parent sent (it sleeps, holding
        // nothing of its own; the system reaps it, its parent gone).
        unsafe { libc::kill(grandchild, libc::SIGKILL) };
        // Its copies of the entries' descriptors hold the names until it is gone (a zombie
        // holds none).
        let started = std::time::Instant::now();
        while std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
            .is_ok_and(|stat| !stat.rsplit(')').next().unwrap_or("").starts_with(" Z"))
            && started.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        match locked {
            Ok(abandoned) => assert!(abandoned, "the dead parent's lock was not abandoned"),
            Err(e) => {
                panic!("the dead parent's lock was not taken over while its child lived: {e}")
            }
        }
        assert!(
            matches!(received, Err(Error::Disconnected { .. })),
            "the dead parent's sender looked alive while its child lived: {received:?}"
        );
        drop(rx);
        drop(mutex);
        ns.assert_empty();
    }

    /// The parent of `a_killed_parents_...`: opens the mutex and the channel's sender, makes
    /// a child that sleeps, locks the mutex, then says the child's pid on `ready` and waits
    /// to be killed.
    fn holding_parent(name: &str, channel: &str, ready: libc::c_int) -> Result<(), String> {
        let mutex = filemap::sync::NamedMutex::open(name).map_err(|e| e.to_string())?;
        let _tx = Sender::open(channel).map_err(|e| e.to_string())?;
        // SAFETY: this process has one thread (the test's, forked); the child only closes
        // a descriptor, sleeps and ends with `_exit`, all async-signal-safe.
        let child = match unsafe { libc::fork() } {
            // (It closes its copy of the pipe first: a parent that fails after the fork
            // ends the test's read at once.)
            0 => unsafe {
                libc::close(ready);
                libc::sleep(60);
                libc::_exit(0)
            },
            -1 => return Err(format!("fork: {}", std::io::Error::last_os_error())),
            pid => pid,
        };
        mutex.lock_unguarded(None).map_err(|e| e.to_string())?;
        let said = child.to_ne_bytes();
        // SAFETY: writes 4 bytes from a local buffer to the pipe's write end.
        unsafe { libc::write(ready, said.as_ptr().cast(), 4) };
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// The exit status of child `pid`, waited for at most `limit`: a child still running
    /// then is killed, and the test fails, saying it was still `doing`.
    fn wait_for_child(pid: libc::pid_t, limit: Duration, doing: &str) -> i32 {
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
                    panic!("the child was still {doing} after {limit:?}");
                }
                r => {
                    assert_eq!(r, pid, "waitpid failed");
                    return status;
                }
            }
        }
    }
}
