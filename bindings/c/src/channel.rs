//! The channel: `filemap_sender` and `filemap_receiver`, variable-length messages between
//! two processes, zero-copy. A sender or receiver handle is used by one thread at a time.

use std::ffi::{c_char, c_void};

use filemap_core::channel::{HoldingReceiver, Receiver, Sender};

use crate::error::{
    Failure, bytes_arg, check_data, check_out, filemap_status, put, run, str_arg, timeout_arg,
};
use crate::handle::{free, handle, handle_type, new_handle};

/// The sending end of a channel (opaque). One thread at a time (it may pass between
/// threads).
pub struct filemap_sender(pub(crate) Sender);
handle_type!(filemap_sender, movable);

/// The receiving end of a channel (opaque); it holds the last message received until the
/// next receive or `filemap_recv_release`. One thread at a time (it may pass between
/// threads).
pub struct filemap_receiver(pub(crate) HoldingReceiver);
handle_type!(filemap_receiver, movable);

/// Creates the channel with a ring of `capacity` bytes, or opens it, as its sender.
/// `capacity` is 1 byte to 1 TiB (rounded up to a power of two, at least 4 KiB), checked
/// even when the channel exists (its own size is kept then): `FILEMAP_INVALID_ARGUMENT`
/// otherwise. `FILEMAP_BUSY` if a live sender has it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_sender_create_or_open(
    name: *const c_char,
    capacity: u64,
    out: *mut *mut filemap_sender,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name` and `out`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let tx = Sender::create_or_open(name, capacity)?;
        unsafe { put(out, new_handle(filemap_sender(tx)), "out") }
    })
}

/// Opens an existing channel as its sender. `FILEMAP_BUSY` while another live sender has
/// it (this process's included).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_sender_open(
    name: *const c_char,
    out: *mut *mut filemap_sender,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name` and `out`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let tx = Sender::open(name)?;
        unsafe { put(out, new_handle(filemap_sender(tx)), "out") }
    })
}

/// Sends `len` bytes at `data`, waiting up to `timeout_ms` for room (`FILEMAP_INFINITE`:
/// for ever). `FILEMAP_DISCONNECTED` if the receiver is gone. As with `memcpy`, nobody may
/// write `data` during the call.
/// Every byte of `data` must have been written: `memset` a struct before filling it in, or
/// its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_send(
    sender: *mut filemap_sender,
    data: *const c_void,
    len: usize,
    timeout_ms: i64,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `sender`.
        let tx = unsafe { handle(sender, "sender") }?;
        // SAFETY: the caller's contract for `data` and `len`.
        let message = unsafe { bytes_arg(data, len, "data") }?;
        send_within(&mut tx.0, message, timeout_ms)
    })
}

/// Sends `message`, waiting up to `timeout_ms` for room (a channel's send, and an inbox
/// sender's).
pub(crate) fn send_within(tx: &mut Sender, message: &[u8], timeout_ms: i64) -> Result<(), Failure> {
    match timeout_arg(timeout_ms)? {
        None => Ok(tx.send(message)?),
        Some(t) => Ok(tx.send_timeout(message, t)?),
    }
}

/// Closes a sender (NULL: nothing): the receiver gets what was sent, then
/// `FILEMAP_DISCONNECTED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_sender_close(sender: *mut filemap_sender) {
    // SAFETY: NULL or a handle from this library, closed once (the caller's contract).
    unsafe { free(sender) }
}

/// Creates the channel with a ring of `capacity` bytes, or opens it, as its receiver.
/// `capacity` as for `filemap_sender_create_or_open`. `FILEMAP_BUSY` while another live
/// receiver has it (this process's included).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_receiver_create_or_open(
    name: *const c_char,
    capacity: u64,
    out: *mut *mut filemap_receiver,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name` and `out`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let rx = HoldingReceiver::new(Receiver::create_or_open(name, capacity)?);
        unsafe { put(out, new_handle(filemap_receiver(rx)), "out") }
    })
}

/// Opens an existing channel as its receiver. `FILEMAP_BUSY` while another live receiver
/// has it (this process's included).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_receiver_open(
    name: *const c_char,
    out: *mut *mut filemap_receiver,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name` and `out`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let rx = HoldingReceiver::new(Receiver::open(name)?);
        unsafe { put(out, new_handle(filemap_receiver(rx)), "out") }
    })
}

/// Receives the next message, waiting up to `timeout_ms` (`FILEMAP_INFINITE`: for ever):
/// `*data` and `*len` give it in place, in the channel's ring, valid until the next
/// `filemap_recv`, `filemap_recv_release`, `filemap_receiver_close`, or `filemap_wait_any`
/// / `filemap_wait_all` with this receiver among its objects (which give its space back to
/// the sender). `FILEMAP_DISCONNECTED` once the sender is
/// gone and everything it sent was received. The bytes stay still only while every process
/// that can write the channel follows its protocol (see docs/c.md, "What C cannot be
/// protected from"): copy them out before trusting them not to change.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_recv(
    receiver: *mut filemap_receiver,
    timeout_ms: i64,
    data: *mut *const c_void,
    len: *mut usize,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `receiver`.
        let rx = unsafe { handle(receiver, "receiver") }?;
        check_data(data, len)?;
        let slot = rx.0.hold(timeout_arg(timeout_ms)?)?;
        // SAFETY: both checked non-NULL; valid for writes by the caller's contract.
        unsafe {
            put(data, slot.as_ptr().cast::<c_void>(), "data")?;
            put(len, slot.len(), "len")
        }
    })
}

/// Gives the message last received back to the sender (nothing if none is held).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_recv_release(receiver: *mut filemap_receiver) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `receiver`.
        let rx = unsafe { handle(receiver, "receiver") }?;
        rx.0.release();
        Ok(())
    })
}

/// Closes a receiver (NULL: nothing), releasing its held message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_receiver_close(receiver: *mut filemap_receiver) {
    // SAFETY: NULL or a handle from this library, closed once (the caller's contract).
    unsafe { free(receiver) }
}
