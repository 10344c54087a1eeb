//! `HoldingReceiver`: a channel receiver that keeps one received message across calls, for
//! callers that cannot hold a borrowed [`RecvSlot`] (bindings to C and Python, event
//! loops that keep state in structs).

use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::time::Duration;

use super::{Receiver, RecvSlot};
use crate::error::Result;

/// A [`Receiver`] that holds the message it received until
/// [`release`](HoldingReceiver::release) (or the next receive), so the message can be read
/// in place across calls without a borrow tying it to the receiver.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::channel::{HoldingReceiver, Receiver, Sender};
/// let mut tx = Sender::create_or_open("holding-demo", 4096)?;
/// let mut rx = HoldingReceiver::new(Receiver::open("holding-demo")?);
/// tx.send(b"kept")?;
/// let len = rx.hold(None)?.len();            // received and held
/// assert_eq!(rx.held().unwrap().to_vec()?, b"kept");
/// assert!(rx.release());                    // gives its space back to the sender
/// assert_eq!(len, 4);
/// # Ok::<(), filemap::Error>(())
/// ```
pub struct HoldingReceiver {
    /// The held message; it borrows `*receiver` mutably. Always initialised (see
    /// `slot`): `MaybeUninit` only hides the reference inside from the compiler's
    /// assumptions about references held in a value that moves or is passed by value
    /// (which would otherwise protect the borrow while `drop` frees the receiver).
    slot: MaybeUninit<Option<RecvSlot<'static>>>,
    /// The receiver, from `Box::into_raw`, so its address stays put when `self` moves and
    /// moving `self` asserts nothing about the borrow `slot` has of it.
    receiver: NonNull<Receiver>,
}

// SAFETY: `HoldingReceiver` owns its receiver and the slot that borrows it; `Receiver` and
// `RecvSlot<'_>` (a `&mut Receiver` plus positions) are `Send`, and moving both together to
// another thread keeps the borrow inside the one owner.
unsafe impl Send for HoldingReceiver {}
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Receiver>();
};

impl HoldingReceiver {
    /// Wraps a receiver.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{HoldingReceiver, Receiver};
    /// let rx = HoldingReceiver::new(Receiver::create_or_open("doc-holding-new", 4096)?);
    /// assert!(rx.held().is_none()); // holds nothing yet
    /// std::thread::spawn(move || drop(rx)).join().unwrap(); // it can move to another thread
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn new(receiver: Receiver) -> HoldingReceiver {
        HoldingReceiver {
            slot: MaybeUninit::new(None),
            receiver: NonNull::from(Box::leak(Box::new(receiver))),
        }
    }

    fn slot(&self) -> &Option<RecvSlot<'static>> {
        // SAFETY: `slot` is initialised in `new` and stays so until `drop`/`into_inner`.
        unsafe { self.slot.assume_init_ref() }
    }

    fn slot_mut(&mut self) -> &mut Option<RecvSlot<'static>> {
        // SAFETY: as in `slot`.
        unsafe { self.slot.assume_init_mut() }
    }

    /// The receiver, for its other calls; releases the held message first.
    ///
    /// Use it for the receiver's calls that `HoldingReceiver` does not wrap (its
    /// [`name`](Receiver::name), [`set_wait_mode`](Receiver::set_wait_mode),
    /// [`recv_into`](Receiver::recv_into), ...).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{HoldingReceiver, Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-holding-receiver", 4096)?;
    /// let mut rx = HoldingReceiver::new(Receiver::open("doc-holding-receiver")?);
    /// tx.send(b"first")?;
    /// tx.send(b"second")?;
    /// rx.hold(None)?;
    /// assert_eq!(rx.receiver().name().base(), "doc-holding-receiver");
    /// assert!(rx.held().is_none()); // "first" was released
    /// let mut buf = Vec::new();
    /// rx.receiver().recv_into(&mut buf)?;
    /// assert_eq!(buf, b"second");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    // (Never hand the receiver out while a message is held: a receiver about to wait says
    // its positions again, `Receiver::restate_positions`, which would give the held
    // message's bytes back to the sender. The borrow rules keep that from happening with
    // a `RecvSlot`; here it rests on this type clearing its slot first.)
    pub fn receiver(&mut self) -> &mut Receiver {
        *self.slot_mut() = None;
        // SAFETY: `receiver` came from `Box::leak` and lives until `drop`; no slot borrows
        // it any more (cleared above), and `&mut self` makes this the only access.
        unsafe { self.receiver.as_mut() }
    }

    /// Releases the held message, if any, then receives the next one and holds it: waits
    /// up to `timeout` (`None`: for ever). Errors as [`Receiver::recv`] and
    /// [`Receiver::recv_timeout`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{HoldingReceiver, Receiver, Sender};
    /// use std::time::Duration;
    /// let mut tx = Sender::create_or_open("doc-holding-hold", 4096)?;
    /// let mut rx = HoldingReceiver::new(Receiver::open("doc-holding-hold")?);
    /// tx.send(b"one")?;
    /// tx.send(b"two")?;
    /// assert_eq!(rx.hold(None)?.to_vec()?, b"one");
    /// assert_eq!(rx.hold(Some(Duration::from_secs(1)))?.to_vec()?, b"two"); // "one" released
    /// let err = rx.hold(Some(Duration::from_millis(10))).unwrap_err();
    /// assert!(matches!(err, filemap::Error::Timeout { .. }));
    /// assert!(rx.held().is_none()); // "two" was released before the wait
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn hold(&mut self, timeout: Option<Duration>) -> Result<&RecvSlot<'_>> {
        *self.slot_mut() = None;
        // SAFETY: as in `receiver`. The borrow is extended to 'static and stored in `slot`:
        // the receiver lives until `drop`, which drops the slot first, and nothing else
        // touches the receiver while `slot` is `Some` (every access clears `slot` first).
        let receiver: &'static mut Receiver = unsafe { &mut *self.receiver.as_ptr() };
        let slot = match timeout {
            None => receiver.recv()?,
            Some(timeout) => receiver.recv_timeout(timeout)?,
        };
        Ok(self.slot_mut().insert(slot))
    }

    /// Like [`hold`](HoldingReceiver::hold) without waiting: `Ok(None)` if no message is
    /// there now.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{HoldingReceiver, Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-holding-try-hold", 4096)?;
    /// let mut rx = HoldingReceiver::new(Receiver::open("doc-holding-try-hold")?);
    /// assert!(rx.try_hold()?.is_none()); // nothing yet: no wait
    /// tx.send(b"here")?;
    /// assert_eq!(rx.try_hold()?.map(|m| m.len()), Some(4));
    /// assert!(rx.held().is_some());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn try_hold(&mut self) -> Result<Option<&RecvSlot<'_>>> {
        *self.slot_mut() = None;
        // SAFETY: as in `hold`.
        let receiver: &'static mut Receiver = unsafe { &mut *self.receiver.as_ptr() };
        Ok(receiver
            .try_recv()?
            .map(|slot| &*self.slot_mut().insert(slot)))
    }

    /// The held message, if any.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{HoldingReceiver, Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-holding-held", 4096)?;
    /// let mut rx = HoldingReceiver::new(Receiver::open("doc-holding-held")?);
    /// tx.send(b"kept")?;
    /// rx.hold(None)?;
    /// // Read as often as needed: no borrow ties the message to a call.
    /// assert_eq!(rx.held().map(|m| m.len()), Some(4));
    /// assert_eq!(rx.held().unwrap().to_vec()?, b"kept");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn held(&self) -> Option<&RecvSlot<'_>> {
        self.slot().as_ref()
    }

    /// Releases the held message (its space goes back to the sender); false if none was
    /// held.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{HoldingReceiver, Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-holding-release", 4096)?;
    /// let mut rx = HoldingReceiver::new(Receiver::open("doc-holding-release")?);
    /// tx.send(&vec![0u8; tx.max_message_len()])?; // fills the ring
    /// rx.hold(None)?;
    /// assert!(!tx.try_send(b"x")?); // the held message keeps its room
    /// assert!(rx.release());
    /// assert!(!rx.release()); // nothing held any more
    /// assert!(tx.try_send(b"x")?); // the room is back
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn release(&mut self) -> bool {
        self.slot_mut().take().is_some()
    }

    /// The receiver back, releasing the held message.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{HoldingReceiver, Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-holding-into-inner", 4096)?;
    /// let mut rx = HoldingReceiver::new(Receiver::open("doc-holding-into-inner")?);
    /// tx.send(b"a")?;
    /// tx.send(b"b")?;
    /// rx.hold(None)?;
    /// let mut plain = rx.into_inner(); // "a" is released
    /// assert_eq!(plain.recv()?.to_vec()?, b"b");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn into_inner(mut self) -> Receiver {
        *self.slot_mut() = None;
        let receiver = self.receiver;
        std::mem::forget(self);
        // SAFETY: from `Box::leak` in `new`; `self` is forgotten, so this is the one owner.
        *unsafe { Box::from_raw(receiver.as_ptr()) }
    }
}

impl std::fmt::Debug for HoldingReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HoldingReceiver")
            .field("held", self.slot())
            .finish_non_exhaustive()
    }
}

impl Drop for HoldingReceiver {
    fn drop(&mut self) {
        *self.slot_mut() = None;
        // SAFETY: from `Box::leak` in `new`, freed only here (or in `into_inner`, which
        // forgets `self`); the slot that borrowed it is gone.
        drop(unsafe { Box::from_raw(self.receiver.as_ptr()) });
    }
}
