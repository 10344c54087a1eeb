//! The async methods of the objects and endpoints: each waits with the [`Ready`] future
//! (see [`future`](super::future)) until the object's next call would not wait, then makes
//! that call. They live here, above the objects, so that the objects know nothing of the
//! waits built over them.

use super::future::Ready;
use super::{Taken, Target};
use crate::channel::{FAST_SPINS, Receiver, RecvSlot, SendSlot, Sender, WaitMode};
use crate::error::Result;
use crate::inbox::Inbox;
use crate::service::{Client, ForRoom, Request, RequestId, Response, Server};
use crate::sync::{MutexGuard, NamedEvent, NamedMutex, NamedSemaphore};
use crate::topic::{Sample, Subscriber};
use crate::vocabulary::Side;

impl NamedEvent {
    /// Waits until the event is set (taking the signal, for auto-reset events), as a
    /// future: for any async executor, sleeping nowhere while it waits (see
    /// [`crate::wait`]). Dropping it before it completes takes nothing.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent};
    /// let e = NamedEvent::create_new("async-event-demo", EventReset::Auto, true)?;
    /// filemap::wait::block_on(e.wait_async())?; // takes the signal
    /// assert!(!e.try_wait()?);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub async fn wait_async(&self) -> Result<()> {
        Ready::new(Target::Event(self)).await.map(|_| ())
    }
}

impl NamedSemaphore {
    /// Takes a unit, as a future: for any async executor, sleeping nowhere while it waits
    /// (see [`crate::wait`]). Dropping it before it completes takes nothing.
    ///
    /// On Windows the process's waiter thread takes the unit in the kernel's wait and
    /// holds it for the future until it is polled (or gives it back if the future was
    /// dropped): meanwhile a [`release`](NamedSemaphore::release) that would take the
    /// count past the maximum with that unit counted is let through by the kernel, and the
    /// unit then given back is lost to the maximum (the count stays at it), where Linux,
    /// whose futures take nothing until they are polled, refuses that release with
    /// [`Error::SemaphoreFull`](crate::Error::SemaphoreFull).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let s = filemap::sync::NamedSemaphore::create_new("async-sem-demo", 1, 1)?;
    /// filemap::wait::block_on(s.acquire_async())?;
    /// assert!(!s.try_acquire()?);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub async fn acquire_async(&self) -> Result<()> {
        Ready::new(Target::Semaphore(self)).await.map(|_| ())
    }
}

impl NamedMutex {
    /// Locks the mutex, as a future: for any async executor, sleeping nowhere while it
    /// waits (see [`crate::wait`]). Dropping it before it completes takes nothing.
    ///
    /// The guard belongs to the thread whose poll took the lock (it is not `Send`, as the
    /// Windows mutex is the thread's): hold it across an `.await` only on a
    /// single-threaded executor. Another task of the same thread that asks for the lock
    /// waits for it (where [`lock`](NamedMutex::lock) would say
    /// [`Error::WouldDeadlock`](crate::Error::WouldDeadlock)).
    ///
    /// On Windows the future looks for the mutex free every millisecond or so, as the
    /// system's timer allows (a mutex the
    /// waiter thread took would be that thread's): against blocking lockers that keep it
    /// always held or waited for (the system hands a released mutex straight to a blocked
    /// waiter), it waits as long as they do so.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::sync::NamedMutex::create_new("async-mutex-demo")?;
    /// let guard = filemap::wait::block_on(m.lock_async())?;
    /// assert!(!guard.abandoned());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub async fn lock_async(&self) -> Result<MutexGuard<'_>> {
        match Ready::new(Target::Mutex(self)).await? {
            Taken::Lock(guard) => Ok(guard),
            _ => unreachable!("a wait on a mutex takes its lock"),
        }
    }
}

impl Receiver {
    /// The next message, as a future: for any async executor, sleeping nowhere while it
    /// waits (see [`crate::wait`]). Dropping it before it completes loses nothing: the
    /// message stays for the next receive.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("async-recv-demo", 4096)?;
    /// let mut rx = Receiver::open("async-recv-demo")?;
    /// tx.send(b"hi")?;
    /// let message = filemap::wait::block_on(rx.recv_async())?;
    /// assert_eq!(message.to_vec()?, b"hi");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub async fn recv_async(&mut self) -> Result<RecvSlot<'_>> {
        // One look; with `WaitMode::Spin` or `BusyPoll`, `recv`'s first few polls, inline (a
        // reply in a ping-pong is caught here).
        if !self.frame_within(inline_polls(self.endpoint().mode)) {
            let mut woken = 0u32;
            // Wrap markers are skipped here (`recv` would wait after one).
            while !self.message_ready()? {
                woken = yield_after_first(woken).await;
                self.committed_async().await?;
            }
        }
        // Taken without waiting: the message seen is still there unless another process
        // broke the ring, which is then an error, not a blocking wait on this task's thread.
        self.take_ready()
    }

    /// Waits until something is committed at the receiver's position (a message, or a
    /// wrap marker to skip), or the sender is gone (`Error::Disconnected`).
    async fn committed_async(&self) -> Result<()> {
        loop {
            let _ready = Ready::new(Target::Receiver(self)).await?;
            if self.committed_now() {
                return Ok(());
            }
            if self.endpoint().peer_left(Side::Sender, true) && !self.committed_now() {
                return Err(self.endpoint().disconnected());
            }
        }
    }
}

impl Sender {
    /// Copies `message` in and sends it, as a future that waits while the ring is full:
    /// for any async executor, sleeping nowhere while it waits (see [`crate::wait`]).
    /// Dropping it before it completes sends nothing.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("async-send-demo", 4096)?;
    /// let mut rx = Receiver::open("async-send-demo")?;
    /// filemap::wait::block_on(tx.send_async(b"hi"))?;
    /// assert_eq!(rx.recv()?.to_vec()?, b"hi");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub async fn send_async(&mut self, message: &[u8]) -> Result<()> {
        if self.room_cached(message.len()) {
            // Room by the head last read, which only moves on: `send` does not wait.
            return self.send(message);
        }
        self.room_async(message.len()).await?;
        // Sent without waiting: the room seen is still there unless another process moved
        // the receiver's head back, which is then an error, not a blocking wait on this
        // task's thread.
        if self.try_send(message)? {
            return Ok(());
        }
        Err(self.room_went_away())
    }

    /// A slot of `len` bytes, as a future that waits while the ring is full (see
    /// [`send_async`](Sender::send_async)).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("async-reserve-demo", 4096)?;
    /// let mut rx = Receiver::open("async-reserve-demo")?;
    /// filemap::wait::block_on(async {
    ///     let mut slot = tx.reserve_async(5).await?;
    ///     slot.copy_from_slice(b"hello")?;
    ///     slot.commit();
    ///     Ok::<(), filemap::Error>(())
    /// })?;
    /// assert_eq!(rx.recv()?.to_vec()?, b"hello");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub async fn reserve_async(&mut self, len: usize) -> Result<SendSlot<'_>> {
        if self.room_cached(len) {
            return self.reserve(len);
        }
        self.room_async(len).await?;
        // Without waiting, as in `send_async`. (The error is made first: the slot borrows
        // the sender until it is returned.)
        let went_away = self.room_went_away();
        self.try_reserve(len)?.ok_or(went_away)
    }

    /// The error for room that was seen and then was not there: the receiver's head
    /// moved back, which only a process outside the protocol does.
    pub(crate) fn room_went_away(&self) -> crate::Error {
        self.endpoint()
            .corrupt("the room the receiver had freed went away (its head moved back)".into())
    }

    /// Waits until there is room for `len` bytes (or `reserve` would fail at once), or the
    /// receiver is gone (`Error::Disconnected`). A frame that must go to the ring's start
    /// takes two waits: for the ring's end, where its wrap marker goes, then for the start,
    /// which the receiver frees once it has passed the marker.
    pub(crate) async fn room_async(&mut self, len: usize) -> Result<()> {
        loop {
            if self.room_after_wrap(len) {
                return Ok(());
            }
            {
                let _ready = Ready::new(Target::Sender(self, len)).await?;
            }
            if self.room_after_wrap(len) {
                return Ok(());
            }
            if self.endpoint().peer_left(Side::Receiver, true) && !self.room_after_wrap(len) {
                return Err(self.endpoint().disconnected());
            }
        }
    }
}

impl Subscriber {
    /// The next message, as a future: for any async executor, sleeping nowhere while it
    /// waits (see [`crate::wait`]); the errors of [`recv`](Subscriber::recv). Dropping it
    /// before it completes loses nothing.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("async-topic-demo", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("async-topic-demo")?;
    /// publisher.publish(b"news")?;
    /// let sample = filemap::wait::block_on(subscriber.recv_async())?;
    /// assert_eq!(sample.to_vec()?, b"news");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub async fn recv_async(&mut self) -> Result<Sample<'_>> {
        let mut woken = 0u32;
        // Wrap markers are skipped here (`recv` would wait after one), and what is checked
        // is what is taken (under `DropOldest` the publisher may lap this subscriber
        // between a look and a receive); the first looks are the channel receiver's.
        let polls = inline_polls(self.endpoint().mode);
        loop {
            if self.ready_within(polls) {
                if let Some(taken) = self.take_ready()? {
                    return Ok(self.sample(taken));
                }
            }
            woken = yield_after_first(woken).await;
            let _ready = Ready::new(Target::Subscriber(self)).await?;
            let end = self.endpoint();
            if !self.ready_now() && end.peer_left(Side::Sender, true) && !self.ready_now() {
                return Err(end.disconnected());
            }
        }
    }
}

impl Inbox {
    /// The next message from any sender, and its sender's slot, as a future: for any
    /// async executor, sleeping nowhere while it waits (see [`crate::wait`]); the errors
    /// of [`recv`](Inbox::recv). Dropping it before it completes loses nothing.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// let mut inbox = Inbox::create_or_open("async-inbox-demo", &InboxOptions::new())?;
    /// let mut worker = InboxSender::open("async-inbox-demo")?;
    /// worker.send(b"done")?;
    /// let (from, message) = filemap::wait::block_on(inbox.recv_async())?;
    /// assert_eq!((from, message.to_vec()?), (worker.slot(), b"done".to_vec()));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub async fn recv_async(&mut self) -> Result<(u32, RecvSlot<'_>)> {
        let mut woken = 0u32;
        // Wrap markers are skipped here (`recv` would wait after one).
        loop {
            if let Some(i) = self.ready_index()? {
                return self.take_from(i);
            }
            woken = yield_after_first(woken).await;
            let _ready = Ready::new(Target::Inbox(self)).await?;
            if !self.committed_now() && self.all_senders_gone() && !self.committed_now() {
                return Err(self.first().disconnected());
            }
        }
    }
}

impl Server {
    /// The next request from any client, as a future: for any async executor, sleeping
    /// nowhere while it waits (see [`crate::wait`]); the errors of
    /// [`recv_request`](Server::recv_request). Dropping it before it completes loses
    /// nothing. (An example with a client: [`Client::recv_response_async`].)
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("async-request-demo", &ServiceOptions::new())?;
    /// let mut client = Client::open("async-request-demo")?;
    /// client.send_request(b"ping")?;
    /// let request = filemap::wait::block_on(server.recv_request_async())?;
    /// assert_eq!(request.to_vec()?, b"ping");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub async fn recv_request_async(&mut self) -> Result<Request<'_>> {
        let (client, slot) = self.requests_mut().recv_async().await?;
        Request::new(client, slot)
    }
}

impl Client {
    /// Sends a request, as a future that waits while the request ring is full (see
    /// [`crate::wait`]); its id. Dropping it before it completes sends nothing.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("async-send-request-demo", &ServiceOptions::new())?;
    /// let mut client = Client::open("async-send-request-demo")?;
    /// let id = filemap::wait::block_on(client.send_request_async(b"ping"))?;
    /// assert_eq!(server.recv_request()?.id(), id);
    /// assert_eq!(client.pending(), 1);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub async fn send_request_async(&mut self, payload: &[u8]) -> Result<RequestId> {
        self.request_sender_mut().room_async(payload.len()).await?;
        self.send_request_within(payload, ForRoom::Seen)
    }

    /// The next response to one of this client's pending requests, as a future: for any
    /// async executor, sleeping nowhere while it waits (see [`crate::wait`]); the errors
    /// of [`recv_response`](Client::recv_response). Dropping it before it completes loses
    /// nothing.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// use filemap::wait::block_on;
    /// let mut server = Server::create_or_open("async-service-demo", &ServiceOptions::new())?;
    /// let mut client = Client::open("async-service-demo")?;
    /// let asked = block_on(client.send_request_async(b"2+2"))?;
    /// let id = block_on(server.recv_request_async())?.id();
    /// server.respond(id, b"4")?;
    /// let answer = block_on(client.recv_response_async())?;
    /// assert_eq!((answer.request(), answer.to_vec()?), (asked, b"4".to_vec()));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub async fn recv_response_async(&mut self) -> Result<Response<'_>> {
        self.ensure_something_pending()?;
        let mut woken = 0u32;
        loop {
            if let Some((id, flags)) = self.pending_response_ready()? {
                return self.take_response(id, flags);
            }
            if self.server_replaced() {
                // Fails what the servers before the takeover took (nothing is left to
                // receive from them: the look above emptied the ring), or waits for the
                // takeover's record to be complete. (Takeovers are rare; one that comes
                // again at once is being recorded, or another process keeps changing the
                // record: the executor runs its other tasks between looks.)
                self.settle_takeover()?;
                yield_to_executor().await;
                continue;
            }
            woken = yield_after_first(woken).await;
            drop(Ready::for_client(self).await?);
            if self.responses().committed_now() || self.server_replaced() {
                continue;
            }
            let end = self.responses().endpoint();
            if end.peer_left(Side::Sender, true) && !self.responses().committed_now() {
                // The server is gone: every pending request has failed.
                let gone = end.disconnected();
                self.fail_pending();
                return Err(gone);
            }
        }
    }
}

/// How many times an async receive looks before its future: once, or, for an endpoint that
/// spins (`WaitMode::Spin`, `BusyPoll`), as many times as `recv` polls inline.
fn inline_polls(mode: WaitMode) -> u32 {
    match mode {
        WaitMode::Blocking => 1,
        WaitMode::Spin | WaitMode::BusyPoll => FAST_SPINS,
    }
}

/// Counts a receive loop's rounds (`woken`: so far), and from the second on lets the
/// executor run its other tasks first: a round ends with something committed that turned
/// out to be no message (a skipped wrap marker; again and again only if another process
/// keeps writing markers), and such a loop must not hold the executor's thread.
async fn yield_after_first(woken: u32) -> u32 {
    if woken > 0 {
        yield_to_executor().await;
    }
    woken.saturating_add(1)
}

/// Lets the executor run its other tasks once before the caller goes on (the future is
/// pending once, having asked to be polled again at once).
async fn yield_to_executor() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}
