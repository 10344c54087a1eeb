//! Many senders to one receiver (`filemap_inbox`, `filemap_inbox_sender`) and request and
//! response (`filemap_server`, `filemap_client`). A received message, request or response
//! is copied into the receiving handle's own buffer (its ring slot is given back at once),
//! valid until that handle's next receive or close. Each handle is used by one thread at a
//! time.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use filemap_core::channel::RecvSlot;
use filemap_core::inbox::{Inbox, InboxOptions, InboxSender};
use filemap_core::service::{Client, RequestId, Server, ServiceOptions};

use crate::FILEMAP_INFINITE;
use crate::channel::send_within;
use crate::error::{Failure, put_optional, run, str_arg, timeout_arg};
use crate::error::{bytes_arg, check_data, check_out, data_out, filemap_status, put};
use crate::handle::{free, handle, handle_type, new_handle};

/// The settings of an inbox or a service when a call makes it (an existing one keeps its
/// own); 0 in a field means its default. Pass NULL for all the defaults, or set every field
/// (start from `filemap_parties_config config = {0};`): each is read.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct filemap_parties_config {
    /// The size in bytes of each party's ring (default 64 KiB; rounded up to a power of
    /// two, at least 4096; at most 1 TiB, else `FILEMAP_INVALID_ARGUMENT`).
    pub capacity: u64,
    /// How many senders (of an inbox) or clients (of a service) may be connected at once
    /// (default 8; at most 128).
    pub parties: u32,
}

/// The config a caller passed (NULL: the defaults).
///
/// # Safety
/// `config` is NULL or points to a `filemap_parties_config`.
unsafe fn config_of(config: *const filemap_parties_config) -> filemap_parties_config {
    if config.is_null() {
        return filemap_parties_config::default();
    }
    // SAFETY: the caller's contract (read byte-wise: it may be misaligned).
    unsafe { config.read_unaligned() }
}

fn inbox_options(c: filemap_parties_config) -> InboxOptions {
    let mut o = InboxOptions::new();
    if c.capacity != 0 {
        o = o.capacity(c.capacity);
    }
    if c.parties != 0 {
        o = o.senders(c.parties);
    }
    o
}

fn service_options(c: filemap_parties_config) -> ServiceOptions {
    let mut o = ServiceOptions::new();
    if c.capacity != 0 {
        o = o.capacity(c.capacity);
    }
    if c.parties != 0 {
        o = o.clients(c.parties);
    }
    o
}

/// Copies a received message into `buf` and hands it out through `data` and `len`.
///
/// # Safety
/// `data` and `len` are valid for writes (checked non-NULL by the caller).
unsafe fn hand_out_copy(
    slot: &RecvSlot<'_>,
    buf: &mut Vec<u8>,
    data: *mut *const c_void,
    len: *mut usize,
) -> Result<(), Failure> {
    buf.clear();
    slot.append_to(buf)?;
    // SAFETY: the caller's contract.
    unsafe {
        put(data, data_out(buf), "data")?;
        put(len, buf.len(), "len")
    }
}

/// The receiving end of an inbox (opaque), with the buffer its last message was copied
/// into. One thread at a time (it may pass between threads).
pub struct filemap_inbox {
    pub(crate) inbox: Inbox,
    message: Vec<u8>,
}
handle_type!(filemap_inbox, movable);

/// A sender into an inbox (opaque), in a sender slot of its own. One thread at a time (it
/// may pass between threads).
pub struct filemap_inbox_sender(pub(crate) InboxSender);
handle_type!(filemap_inbox_sender, movable);

/// Makes the inbox (with `config`, NULL for the defaults) or opens it, as its receiver.
/// `FILEMAP_BUSY` while another receiver lives.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_inbox_create_or_open(
    name: *const c_char,
    config: *const filemap_parties_config,
    out: *mut *mut filemap_inbox,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name`, `config` and `out`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        // SAFETY: `config` is NULL or a config (the caller's contract).
        let options = inbox_options(unsafe { config_of(config) });
        let inbox = Inbox::create_or_open(name, &options)?;
        let handle = new_handle(filemap_inbox {
            inbox,
            message: Vec::new(),
        });
        // SAFETY: `out` checked non-NULL, valid for a write (the caller's contract).
        unsafe { put(out, handle, "out") }
    })
}

/// Receives the next message from any sender, waiting up to `timeout_ms`
/// (`FILEMAP_INFINITE`: for ever), each sender's messages in its order and no sender
/// starving the others: `*data` and `*len` give a copy of it, valid until the next receive
/// or `filemap_inbox_close`; `*sender` (if not NULL) the sender's slot.
/// `FILEMAP_DISCONNECTED` once every sender that came is gone and all they sent was
/// received.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_inbox_recv(
    inbox: *mut filemap_inbox,
    timeout_ms: i64,
    data: *mut *const c_void,
    len: *mut usize,
    sender: *mut u32,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `inbox`.
        let i = unsafe { handle(inbox, "inbox") }?;
        check_data(data, len)?;
        let (from, slot) = match timeout_arg(timeout_ms)? {
            None => i.inbox.recv()?,
            Some(t) => i.inbox.recv_timeout(t)?,
        };
        // SAFETY: `data` and `len` checked; all three valid for writes (the caller's
        // contract).
        unsafe {
            hand_out_copy(&slot, &mut i.message, data, len)?;
            put_optional(sender, from);
        }
        Ok(())
    })
}

/// Closes an inbox's receiver (NULL: nothing): its senders get `FILEMAP_DISCONNECTED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_inbox_close(inbox: *mut filemap_inbox) {
    // SAFETY: the caller's contract.
    unsafe { free(inbox) }
}

/// Makes the inbox (with `config`, NULL for the defaults) or opens it, as a new sender in
/// a free slot; `*slot` (if not NULL) says which. `FILEMAP_BUSY` if every sender slot is
/// taken by a live sender.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_inbox_sender_create_or_open(
    name: *const c_char,
    config: *const filemap_parties_config,
    out: *mut *mut filemap_inbox_sender,
    slot: *mut u32,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name`, `config`, `out` and `slot`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        // SAFETY: `config` is NULL or a config (the caller's contract).
        let options = inbox_options(unsafe { config_of(config) });
        let tx = InboxSender::create_or_open(name, &options)?;
        // SAFETY: `slot` is NULL or valid for a write (the caller's contract).
        unsafe { put_optional(slot, tx.slot()) };
        // SAFETY: `out` checked non-NULL, valid for a write (the caller's contract).
        unsafe { put(out, new_handle(filemap_inbox_sender(tx)), "out") }
    })
}

/// Sends `len` bytes at `data` into the inbox, waiting up to `timeout_ms` for room in this
/// sender's ring (`FILEMAP_INFINITE`: for ever). `FILEMAP_DISCONNECTED` if the receiver is
/// gone. As with `memcpy`, nobody may write `data` during the call.
/// Every byte of `data` must have been written: `memset` a struct before filling it in, or
/// its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_inbox_send(
    sender: *mut filemap_inbox_sender,
    data: *const c_void,
    len: usize,
    timeout_ms: i64,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `sender`, `data` and `len`.
        let tx = unsafe { handle(sender, "sender") }?;
        // SAFETY: the bytes are readable and unwritten during the call (the caller's
        // contract).
        let message = unsafe { bytes_arg(data, len, "data") }?;
        send_within(&mut tx.0, message, timeout_ms)
    })
}

/// Closes an inbox sender (NULL: nothing): the receiver gets what it sent; its slot is
/// free for another.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_inbox_sender_close(sender: *mut filemap_inbox_sender) {
    // SAFETY: the caller's contract.
    unsafe { free(sender) }
}

/// Which request a response answers: its client's slot and the number the client gave it.
/// Given by `filemap_server_recv_request` and `filemap_client_send_request`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct filemap_request_id {
    /// The client's slot.
    pub client: u32,
    /// The request's number among its client's requests.
    pub number: u64,
}

impl From<RequestId> for filemap_request_id {
    fn from(id: RequestId) -> filemap_request_id {
        filemap_request_id {
            client: id.client(),
            number: id.number(),
        }
    }
}

/// Writes request id `id` through `out` (NULL: not wanted, or, with `what`, an error naming
/// it) field by field: the padding between the fields is left as the caller left it (a
/// whole struct written at once may fill it with whatever the stack held, undoing a
/// `memset` before a struct holding the id is sent on).
///
/// # Safety
/// `out` is NULL or valid for a write of a `filemap_request_id` (aligned or not).
unsafe fn put_id(
    out: *mut filemap_request_id,
    id: RequestId,
    what: Option<&str>,
) -> Result<(), Failure> {
    if out.is_null() {
        return match what {
            Some(what) => Err(Failure::invalid(format!("{what} is NULL"))),
            None => Ok(()),
        };
    }
    // SAFETY: non-NULL and valid for writes (the caller's contract); the fields' places
    // are computed without a reference, and written byte-wise, so alignment does not
    // matter.
    unsafe {
        (&raw mut (*out).client).write_unaligned(id.client());
        (&raw mut (*out).number).write_unaligned(id.number());
    }
    Ok(())
}

impl From<filemap_request_id> for RequestId {
    fn from(id: filemap_request_id) -> RequestId {
        RequestId::from_parts(id.client, id.number)
    }
}

/// The server of a service (opaque), with the buffer its last request was copied into. One
/// thread at a time (it may pass between threads).
pub struct filemap_server {
    pub(crate) server: Server,
    request: Vec<u8>,
}
handle_type!(filemap_server, movable);

/// A client of a service (opaque), in a client slot of its own, with the buffer its last
/// response was copied into. One thread at a time (it may pass between threads).
pub struct filemap_client {
    client: Client,
    response: Vec<u8>,
}
handle_type!(filemap_client, movable);

/// Makes the service (with `config`, NULL for the defaults) or opens it, as its server.
/// `FILEMAP_BUSY` while another server lives (a new one takes over from one that closed or
/// died).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_server_create_or_open(
    name: *const c_char,
    config: *const filemap_parties_config,
    out: *mut *mut filemap_server,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name`, `config` and `out`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        // SAFETY: `config` is NULL or a config (the caller's contract).
        let options = service_options(unsafe { config_of(config) });
        let server = Server::create_or_open(name, &options)?;
        let handle = new_handle(filemap_server {
            server,
            request: Vec::new(),
        });
        // SAFETY: `out` checked non-NULL, valid for a write (the caller's contract).
        unsafe { put(out, handle, "out") }
    })
}

/// Receives the next request from any client, waiting up to `timeout_ms`
/// (`FILEMAP_INFINITE`: for ever): `*data` and `*len` give a copy of it, valid until the
/// next receive or `filemap_server_close`; `*id` the request's id, to respond to. A
/// request that cannot be read (`FILEMAP_PAGE_FAULT`, `FILEMAP_CORRUPT`: its ring cut
/// short or damaged by another process) is failed for its client, which is told why if its
/// response ring has room for that now (the failure does not wait).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_server_recv_request(
    server: *mut filemap_server,
    timeout_ms: i64,
    data: *mut *const c_void,
    len: *mut usize,
    id: *mut filemap_request_id,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `server`.
        let s = unsafe { handle(server, "server") }?;
        check_data(data, len)?;
        if id.is_null() {
            return Err(Failure::invalid("id is NULL"));
        }
        let request = match timeout_arg(timeout_ms)? {
            None => s.server.recv_request()?,
            Some(t) => s.server.recv_request_timeout(t)?,
        };
        let request_id = request.id();
        // SAFETY: `data` and `len` checked non-NULL; valid for writes (the caller's
        // contract).
        let copied = unsafe { hand_out_copy(&request, &mut s.request, data, len) };
        drop(request);
        if let Err(failure) = copied {
            // A request that cannot be read (its ring damaged or cut short) would leave its
            // client waiting for ever, its id never handed out: it is failed, saying why.
            let reason = format!(
                "the server could not read the request: {}",
                failure.message()
            );
            let _ = s
                .server
                .respond_failure_timeout(request_id, reason.as_bytes(), Duration::ZERO);
            return Err(failure);
        }
        // SAFETY: `id` checked non-NULL; valid for writes (the caller's contract).
        unsafe { put_id(id, request_id, Some("id")) }
    })
}

/// Sends a response of `len` bytes at `data` to request `id`; `last` nonzero: the
/// request's last response (a server may stream several, the last marked). Waits while the
/// client's response ring is full, for ever (see `filemap_server_respond_timeout`). A
/// client that is gone does not get it, and this still succeeds. As with `memcpy`, nobody
/// may write `data` during the call.
/// Every byte of `data` must have been written: `memset` a struct before filling it in, or
/// its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_server_respond(
    server: *mut filemap_server,
    id: filemap_request_id,
    data: *const c_void,
    len: usize,
    last: bool,
) -> filemap_status {
    // SAFETY: the caller's contract, passed on.
    unsafe { filemap_server_respond_timeout(server, id, data, len, last, FILEMAP_INFINITE) }
}

/// `filemap_server_respond`, waiting at most `timeout_ms` (`FILEMAP_INFINITE`: for ever)
/// while the client's response ring is full: `FILEMAP_TIMEOUT` then (a live client that
/// does not read its responses would hold the server up for ever).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_server_respond_timeout(
    server: *mut filemap_server,
    id: filemap_request_id,
    data: *const c_void,
    len: usize,
    last: bool,
    timeout_ms: i64,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `server`, `data` and `len`.
        let s = unsafe { handle(server, "server") }?;
        // SAFETY: the bytes are readable and unwritten during the call (the caller's
        // contract).
        let payload = unsafe { bytes_arg(data, len, "data") }?;
        let to = id.into();
        let sent = match (timeout_arg(timeout_ms)?, last) {
            (None, true) => s.server.respond(to, payload),
            (None, false) => s.server.respond_part(to, payload),
            (Some(t), true) => s.server.respond_timeout(to, payload, t),
            (Some(t), false) => s.server.respond_part_timeout(to, payload, t),
        };
        Ok(sent?)
    })
}

/// Fails request `id`: its last response, marked as a failure, the `len` bytes at `reason`
/// saying why (its client's `filemap_client_call` or `filemap_client_recv_response`
/// returns `FILEMAP_REQUEST_FAILED`); a reason longer than the client's largest response
/// is cut to fit it (the failure matters more than all of its reason). Waits at most
/// `timeout_ms` (`FILEMAP_INFINITE`: for
/// ever) while the client's response ring is full. A client that is gone does not get it,
/// and this still succeeds. As with `memcpy`, nobody may write `reason` during the call.
/// Every byte of `reason` must have been written: `memset` a struct before filling it in, or
/// its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_server_respond_failure(
    server: *mut filemap_server,
    id: filemap_request_id,
    reason: *const c_void,
    len: usize,
    timeout_ms: i64,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `server`, `reason` and `len`.
        let s = unsafe { handle(server, "server") }?;
        // SAFETY: the bytes are readable and unwritten during the call (the caller's
        // contract).
        let payload = unsafe { bytes_arg(reason, len, "reason") }?;
        let to = id.into();
        let sent = match timeout_arg(timeout_ms)? {
            None => s.server.respond_failure(to, payload),
            Some(t) => s.server.respond_failure_timeout(to, payload, t),
        };
        Ok(sent?)
    })
}

/// Closes a server (NULL: nothing): its clients' pending requests fail with
/// `FILEMAP_DISCONNECTED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_server_close(server: *mut filemap_server) {
    // SAFETY: the caller's contract.
    unsafe { free(server) }
}

/// Makes the service (with `config`, NULL for the defaults) or opens it, as a new client
/// in a free slot. `FILEMAP_BUSY` if every client slot is taken by a live client.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_client_create_or_open(
    name: *const c_char,
    config: *const filemap_parties_config,
    out: *mut *mut filemap_client,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name`, `config` and `out`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        // SAFETY: `config` is NULL or a config (the caller's contract).
        let options = service_options(unsafe { config_of(config) });
        let client = Client::create_or_open(name, &options)?;
        let handle = new_handle(filemap_client {
            client,
            response: Vec::new(),
        });
        // SAFETY: `out` checked non-NULL, valid for a write (the caller's contract).
        unsafe { put(out, handle, "out") }
    })
}

/// Sends a request of `len` bytes at `data`, waiting while this client's request ring is
/// full, for ever (a server that does not take requests holds it up: see
/// `filemap_client_send_request_timeout`); `*id` (if not NULL) its id, which its responses
/// carry. As with `memcpy`, nobody may write `data` during the call.
/// Every byte of `data` must have been written: `memset` a struct before filling it in, or
/// its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_client_send_request(
    client: *mut filemap_client,
    data: *const c_void,
    len: usize,
    id: *mut filemap_request_id,
) -> filemap_status {
    // SAFETY: the caller's contract, passed on.
    unsafe { filemap_client_send_request_timeout(client, data, len, FILEMAP_INFINITE, id) }
}

/// `filemap_client_send_request`, waiting at most `timeout_ms` (`FILEMAP_INFINITE`: for
/// ever) for room: `FILEMAP_TIMEOUT` then, and nothing was sent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_client_send_request_timeout(
    client: *mut filemap_client,
    data: *const c_void,
    len: usize,
    timeout_ms: i64,
    id: *mut filemap_request_id,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `client`, `data`, `len` and `id`.
        let c = unsafe { handle(client, "client") }?;
        // SAFETY: the bytes are readable and unwritten during the call (the caller's
        // contract).
        let payload = unsafe { bytes_arg(data, len, "data") }?;
        let sent = match timeout_arg(timeout_ms)? {
            None => c.client.send_request(payload)?,
            Some(t) => c.client.send_request_timeout(payload, t)?,
        };
        // SAFETY: `id` is NULL or valid for a write (the caller's contract).
        unsafe { put_id(id, sent, None) }?;
        Ok(())
    })
}

/// Receives the next response to one of this client's pending requests, waiting up to
/// `timeout_ms` (`FILEMAP_INFINITE`: for ever): `*data` and `*len` give a copy of it, valid
/// until the next receive, call or `filemap_client_close`; `*id` (if not NULL) the request
/// it answers, `*last` (if not NULL) whether it is that request's last response.
/// `FILEMAP_REQUEST_FAILED` if the server failed the request with it: the out-parameters
/// are set all the same (`*data` and `*len` the server's reason, `*last` true), and the
/// request is no longer pending. `FILEMAP_DISCONNECTED` if the server is gone: every pending request has failed; or if a
/// server died holding some of them and a new one took over: those have failed, the others
/// stay pending (`filemap_client_is_pending`). `FILEMAP_UNSUPPORTED` for a wait for ever
/// (`FILEMAP_INFINITE`) while no request of the client is pending: it would never end. A
/// response that cannot be read
/// (`FILEMAP_PAGE_FAULT`, `FILEMAP_CORRUPT`: its ring cut short or damaged by another
/// process) still sets `*id` and `*last` when the response's frame could be found (a
/// damaged frame header leaves them as they were): the request it answers, and whether
/// that request has ended.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_client_recv_response(
    client: *mut filemap_client,
    timeout_ms: i64,
    data: *mut *const c_void,
    len: *mut usize,
    id: *mut filemap_request_id,
    last: *mut bool,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `client`.
        let c = unsafe { handle(client, "client") }?;
        check_data(data, len)?;
        let response = match timeout_arg(timeout_ms)? {
            None => c.client.recv_response()?,
            Some(t) => c.client.recv_response_timeout(t)?,
        };
        let (answers, is_last) = (response.request(), response.is_last());
        let failure = response.is_failure();
        // SAFETY: `data` and `len` checked non-NULL; all valid for writes (the caller's
        // contract). Which request it answers is said first: a response that cannot be
        // read still ends its request when it is the last (it is no longer pending).
        unsafe {
            put_id(id, answers, None)?;
            put_optional(last, is_last);
            hand_out_copy(&response, &mut c.response, data, len)?;
        }
        drop(response);
        if failure {
            return Err(filemap_core::Error::RequestFailed {
                service: c.client.name().to_string(),
                reason: String::from_utf8_lossy(&c.response).into_owned(),
            }
            .into());
        }
        Ok(())
    })
}

/// Sends a request and waits up to `timeout_ms` in all (`FILEMAP_INFINITE`: for ever) for
/// all of its responses: `*data` and `*len` give their payloads joined, valid until the
/// next receive, call or `filemap_client_close`. Only for a client with no other request
/// pending (`FILEMAP_UNSUPPORTED` otherwise: their responses would be lost). A call that
/// fails after sending (a timeout, say) gives its request up: its late responses are
/// dropped, and the next call may go. `FILEMAP_REQUEST_FAILED` if the server failed the
/// request: the last error message gives its reason, and `*data` and `*len` are left as
/// they were (unlike `filemap_client_recv_response`'s). As with `memcpy`, nobody may write
/// `request` during the call.
/// Every byte of `request` must have been written: `memset` a struct before filling it in, or
/// its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_client_call(
    client: *mut filemap_client,
    request: *const c_void,
    request_len: usize,
    timeout_ms: i64,
    data: *mut *const c_void,
    len: *mut usize,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `client`, `request` and `request_len`.
        let c = unsafe { handle(client, "client") }?;
        // SAFETY: the bytes are readable and unwritten during the call (the caller's
        // contract).
        let payload = unsafe { bytes_arg(request, request_len, "request") }?;
        check_data(data, len)?;
        let timeout = timeout_arg(timeout_ms)?.unwrap_or(Duration::MAX);
        c.response = c.client.call(payload, timeout)?;
        // SAFETY: `data` and `len` checked non-NULL; valid for writes (the caller's
        // contract).
        unsafe {
            put(data, data_out(&c.response), "data")?;
            put(len, c.response.len(), "len")
        }
    })
}

/// Whether request `id` of this client waits for its last response (not answered in full,
/// not failed): `*pending`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_client_is_pending(
    client: *mut filemap_client,
    id: filemap_request_id,
    pending: *mut bool,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `client`.
        let c = unsafe { handle(client, "client") }?;
        // SAFETY: `pending` is NULL (refused) or valid for writes (the caller's contract).
        unsafe { put(pending, c.client.is_pending(id.into()), "pending") }
    })
}

/// Whether a server is connected and alive now: `*alive`. After `FILEMAP_DISCONNECTED`,
/// tells a server that is gone from one that took over.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_client_server_alive(
    client: *mut filemap_client,
    alive: *mut bool,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `client`.
        let c = unsafe { handle(client, "client") }?;
        // SAFETY: `alive` is NULL (refused) or valid for writes (the caller's contract).
        unsafe { put(alive, c.client.server_alive(), "alive") }
    })
}

/// Closes a client (NULL: nothing): responses still on their way to it are dropped; its
/// slot is free for another.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_client_close(client: *mut filemap_client) {
    // SAFETY: the caller's contract.
    unsafe { free(client) }
}
