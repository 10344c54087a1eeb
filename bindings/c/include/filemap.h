/* filemap: the Windows file-mapping model for C on Linux and Windows.
 *
 * Generated from bindings/c by cbindgen (scripts/c-header); do not edit.
 * Every function that can fail returns a filemap_status (FILEMAP_OK is 0) and
 * writes results through out-pointers; filemap_last_error_message() says what
 * the calling thread's last failure was. (The _close functions and
 * filemap_view_unmap return nothing; filemap_view_data and filemap_view_size
 * say a failure with NULL and 0.) A handle is checked wherever it is passed:
 * one of another type is FILEMAP_INVALID_ARGUMENT, and a _close leaves it
 * alone. A handle must not be used or closed after its _close (as memory after
 * free): such a use is caught the same way only on a best-effort basis. See
 * docs/c.md. */

#ifndef FILEMAP_H
#define FILEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * The value of a `timeout_ms` argument that waits for ever.
 */
#define FILEMAP_INFINITE -1

/**
 * `access`: the most the mapping allows (for a view), or write (for an open).
 */
#define FILEMAP_ACCESS_DEFAULT 0

/**
 * `access`: read only.
 */
#define FILEMAP_ACCESS_READ 1

/**
 * `access`: read and write, seen by every view in every process.
 */
#define FILEMAP_ACCESS_WRITE 2

/**
 * `access`: copy-on-write (the view's changes stay private to it).
 */
#define FILEMAP_ACCESS_COPY 3

/**
 * What a call did: `FILEMAP_OK` (0), or why it failed.
 */
typedef enum filemap_status {
  /**
   * Success.
   */
  FILEMAP_OK = 0,
  /**
   * No object has that name.
   */
  FILEMAP_NOT_FOUND = 1,
  /**
   * A create-new call found the name taken.
   */
  FILEMAP_ALREADY_EXISTS = 2,
  /**
   * Permissions, ownership or the access mode forbid it.
   */
  FILEMAP_ACCESS_DENIED = 3,
  /**
   * A wait ran past its timeout.
   */
  FILEMAP_TIMEOUT = 4,
  /**
   * The peer endpoint is gone (and everything it sent was received).
   */
  FILEMAP_DISCONNECTED = 5,
  /**
   * An argument is NULL, out of range or malformed (a name, a size, an offset).
   */
  FILEMAP_INVALID_ARGUMENT = 6,
  /**
   * Releasing a mutex this thread does not hold (through this handle).
   */
  FILEMAP_NOT_OWNER = 7,
  /**
   * This thread already holds the mutex.
   */
  FILEMAP_WOULD_DEADLOCK = 8,
  /**
   * The name belongs to an object of another kind.
   */
  FILEMAP_KIND_MISMATCH = 9,
  /**
   * An object's shared state is damaged or of another layout.
   */
  FILEMAP_CORRUPT = 10,
  /**
   * The endpoint, slot or name is taken by a live process.
   */
  FILEMAP_BUSY = 11,
  /**
   * The memory under a view could not be read or written (truncated file, I/O error).
   */
  FILEMAP_PAGE_FAULT = 12,
  /**
   * The system could not allocate the object's memory.
   */
  FILEMAP_NO_SPACE = 13,
  /**
   * This platform or object cannot do what was asked.
   */
  FILEMAP_UNSUPPORTED = 14,
  /**
   * Another operating-system error.
   */
  FILEMAP_SYSTEM_ERROR = 15,
  /**
   * A bug in filemap (a Rust panic, caught at the boundary). The handles the call was
   * given may be left in any state that is safe to use: close them rather than go on.
   */
  FILEMAP_PANIC = 16,
  /**
   * Another error.
   */
  FILEMAP_OTHER = 17,
  /**
   * A topic subscriber fell behind and missed messages (`drop_oldest` topics); it goes
   * on at the oldest message still there.
   */
  FILEMAP_LAGGED = 18,
  /**
   * A service's server failed the request (`filemap_server_respond_failure`); the last
   * error message says why.
   */
  FILEMAP_REQUEST_FAILED = 19,
} filemap_status;

/**
 * The kind of handle a `filemap_waitable` holds.
 */
typedef enum filemap_wait_kind {
  /**
   * A `filemap_event *`: ready when set (an auto-reset event's signal is taken).
   */
  FILEMAP_WAIT_EVENT = 0,
  /**
   * A `filemap_semaphore *`: ready when it has a unit (which is taken).
   */
  FILEMAP_WAIT_SEMAPHORE = 1,
  /**
   * A `filemap_mutex *`: ready when free or abandoned (it is then locked for the
   * calling thread).
   */
  FILEMAP_WAIT_MUTEX = 2,
  /**
   * A `filemap_receiver *`: ready when a message is there, or the sender is gone, or
   * the sender has just wrapped around the ring (the next receive then waits for the
   * message after the wrap, and gives the sender the wrap's bytes back). The message it
   * held is released before the wait (a wait refused, for a bad argument or a mutex
   * this thread holds, releases nothing).
   */
  FILEMAP_WAIT_RECEIVER = 3,
  /**
   * A `filemap_sender *`: ready when there is room for a message of `room` bytes (1 if
   * 0), or the receiver is gone; or at once if a send would fail at once (`room` longer
   * than the longest message: the send is then refused).
   */
  FILEMAP_WAIT_SENDER = 4,
  /**
   * A `filemap_subscriber *`: ready when a message is there, messages were missed, or
   * the publisher is gone, or has just wrapped around the ring (as for a receiver).
   */
  FILEMAP_WAIT_SUBSCRIBER = 5,
  /**
   * A `filemap_inbox *`: ready when a message from some sender is there, or every
   * sender that came is gone, or one has just wrapped around its ring (as for a
   * receiver).
   */
  FILEMAP_WAIT_INBOX = 6,
  /**
   * A `filemap_inbox_sender *`: ready when there is room for `room` bytes (1 if 0) in
   * its ring, or the receiver is gone; or at once if a send would fail at once (as for
   * a sender).
   */
  FILEMAP_WAIT_INBOX_SENDER = 7,
  /**
   * A `filemap_server *`: ready when a request is there, or a client has just wrapped
   * around its ring (as for a receiver); clients leaving do not make it ready.
   */
  FILEMAP_WAIT_SERVER = 8,
} filemap_wait_kind;

/**
 * A client of a service (opaque), in a client slot of its own, with the buffer its last
 * response was copied into. One thread at a time (it may pass between threads).
 */
typedef struct filemap_client filemap_client;

/**
 * A named event (opaque). Usable from several threads at once.
 */
typedef struct filemap_event filemap_event;

/**
 * The receiving end of an inbox (opaque), with the buffer its last message was copied
 * into. One thread at a time (it may pass between threads).
 */
typedef struct filemap_inbox filemap_inbox;

/**
 * A sender into an inbox (opaque), in a sender slot of its own. One thread at a time (it
 * may pass between threads).
 */
typedef struct filemap_inbox_sender filemap_inbox_sender;

/**
 * A mapping object (opaque). Usable from several threads at once.
 */
typedef struct filemap_mapping filemap_mapping;

/**
 * A named, robust mutex (opaque). Usable from several threads at once; a lock is held by
 * the thread that took it, which releases it.
 */
typedef struct filemap_mutex filemap_mutex;

/**
 * The publishing end of a topic (opaque). One thread at a time (it may pass between
 * threads).
 */
typedef struct filemap_publisher filemap_publisher;

/**
 * The receiving end of a channel (opaque); it holds the last message received until the
 * next receive or `filemap_recv_release`. One thread at a time (it may pass between
 * threads).
 */
typedef struct filemap_receiver filemap_receiver;

/**
 * A named counting semaphore (opaque). Usable from several threads at once.
 */
typedef struct filemap_semaphore filemap_semaphore;

/**
 * The sending end of a channel (opaque). One thread at a time (it may pass between
 * threads).
 */
typedef struct filemap_sender filemap_sender;

/**
 * The server of a service (opaque), with the buffer its last request was copied into. One
 * thread at a time (it may pass between threads).
 */
typedef struct filemap_server filemap_server;

/**
 * A subscriber of a topic (opaque), with the buffer its last received message was copied
 * into. One thread at a time (it may pass between threads).
 */
typedef struct filemap_subscriber filemap_subscriber;

/**
 * A view of a mapping (opaque). Usable from several threads at once (what they read
 * and write through it is theirs to synchronise).
 */
typedef struct filemap_view filemap_view;

/**
 * The settings of an inbox or a service when a call makes it (an existing one keeps its
 * own); 0 in a field means its default. Pass NULL for all the defaults, or set every field
 * (start from `filemap_parties_config config = {0};`): each is read.
 */
typedef struct filemap_parties_config {
  /**
   * The size in bytes of each party's ring (default 64 KiB; rounded up to a power of
   * two, at least 4096; at most 1 TiB, else `FILEMAP_INVALID_ARGUMENT`).
   */
  uint64_t capacity;
  /**
   * How many senders (of an inbox) or clients (of a service) may be connected at once
   * (default 8; at most 128).
   */
  uint32_t parties;
} filemap_parties_config;

/**
 * Which request a response answers: its client's slot and the number the client gave it.
 * Given by `filemap_server_recv_request` and `filemap_client_send_request`.
 */
typedef struct filemap_request_id {
  /**
   * The client's slot.
   */
  uint32_t client;
  /**
   * The request's number among its client's requests.
   */
  uint64_t number;
} filemap_request_id;

/**
 * A topic's settings when a call makes it (an existing topic keeps its own); 0 in a field
 * means its default. Pass NULL for all the defaults, or set every field (start from
 * `filemap_topic_config config = {0};`): each is read.
 */
typedef struct filemap_topic_config {
  /**
   * The ring's size in bytes (default 64 KiB; rounded up to a power of two, at least
   * 4096; at most 1 TiB): it holds messages of up to its size less a 32-byte frame
   * header.
   */
  uint64_t capacity;
  /**
   * How many subscribers may be connected at once (default 8; at most 128).
   */
  uint32_t max_subscribers;
  /**
   * How many of the last messages a subscriber that joins late receives first (0; at
   * most 2^20). A setting past a limit is `FILEMAP_INVALID_ARGUMENT`.
   */
  uint32_t history;
  /**
   * Nonzero: the publisher never waits; a subscriber that falls behind misses the
   * oldest messages and is told how many (`FILEMAP_LAGGED`). Zero (the default): the
   * publisher waits for the slowest live subscriber.
   */
  int32_t drop_oldest;
} filemap_topic_config;

/**
 * One object of a wait: its kind and its handle.
 */
typedef struct filemap_waitable {
  /**
   * What `handle` is: a `filemap_wait_kind` (a fixed-size integer, so that the struct's
   * layout does not depend on how the compiler sizes enums).
   */
  uint32_t kind;
  /**
   * The handle, of the kind's type (a handle of another type is refused with
   * `FILEMAP_INVALID_ARGUMENT`).
   */
  void *handle;
  /**
   * For a sender: the room to wait for, in bytes (0 means 1). Not read otherwise (it may
   * be left unset).
   */
  size_t room;
} filemap_waitable;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Creates the channel with a ring of `capacity` bytes, or opens it, as its sender.
 * `capacity` is 1 byte to 1 TiB (rounded up to a power of two, at least 4 KiB), checked
 * even when the channel exists (its own size is kept then): `FILEMAP_INVALID_ARGUMENT`
 * otherwise. `FILEMAP_BUSY` if a live sender has it.
 */
enum filemap_status filemap_sender_create_or_open(const char *name,
                                                  uint64_t capacity,
                                                  struct filemap_sender **out);

/**
 * Opens an existing channel as its sender. `FILEMAP_BUSY` while another live sender has
 * it (this process's included).
 */
enum filemap_status filemap_sender_open(const char *name, struct filemap_sender **out);

/**
 * Sends `len` bytes at `data`, waiting up to `timeout_ms` for room (`FILEMAP_INFINITE`:
 * for ever). `FILEMAP_DISCONNECTED` if the receiver is gone. As with `memcpy`, nobody may
 * write `data` during the call.
 * Every byte of `data` must have been written: `memset` a struct before filling it in, or
 * its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
 */
enum filemap_status filemap_send(struct filemap_sender *sender,
                                 const void *data,
                                 size_t len,
                                 int64_t timeout_ms);

/**
 * Closes a sender (NULL: nothing): the receiver gets what was sent, then
 * `FILEMAP_DISCONNECTED`.
 */
void filemap_sender_close(struct filemap_sender *sender);

/**
 * Creates the channel with a ring of `capacity` bytes, or opens it, as its receiver.
 * `capacity` as for `filemap_sender_create_or_open`. `FILEMAP_BUSY` while another live
 * receiver has it (this process's included).
 */
enum filemap_status filemap_receiver_create_or_open(const char *name,
                                                    uint64_t capacity,
                                                    struct filemap_receiver **out);

/**
 * Opens an existing channel as its receiver. `FILEMAP_BUSY` while another live receiver
 * has it (this process's included).
 */
enum filemap_status filemap_receiver_open(const char *name, struct filemap_receiver **out);

/**
 * Receives the next message, waiting up to `timeout_ms` (`FILEMAP_INFINITE`: for ever):
 * `*data` and `*len` give it in place, in the channel's ring, valid until the next
 * `filemap_recv`, `filemap_recv_release`, `filemap_receiver_close`, or `filemap_wait_any`
 * / `filemap_wait_all` with this receiver among its objects (which give its space back to
 * the sender). `FILEMAP_DISCONNECTED` once the sender is
 * gone and everything it sent was received. The bytes stay still only while every process
 * that can write the channel follows its protocol (see docs/c.md, "What C cannot be
 * protected from"): copy them out before trusting them not to change.
 */
enum filemap_status filemap_recv(struct filemap_receiver *receiver,
                                 int64_t timeout_ms,
                                 const void **data,
                                 size_t *len);

/**
 * Gives the message last received back to the sender (nothing if none is held).
 */
enum filemap_status filemap_recv_release(struct filemap_receiver *receiver);

/**
 * Closes a receiver (NULL: nothing), releasing its held message.
 */
void filemap_receiver_close(struct filemap_receiver *receiver);

/**
 * The message of the calling thread's last failed call ("" if none failed). Valid until
 * the thread's next failing call (or a `_close`, `filemap_view_data` or
 * `filemap_view_size` given a bad handle, which say so here though they return no
 * status).
 */
const char *filemap_last_error_message(void);

/**
 * The name of a status code ("FILEMAP_NOT_FOUND"...), a static string; for a number
 * that is no status, "(not a filemap status)".
 */
const char *filemap_status_name(int status);

/**
 * Creates a named memory-backed object of `size` bytes (zero-filled) and stores its handle
 * in `*out`. `FILEMAP_ALREADY_EXISTS` if the name is taken.
 */
enum filemap_status filemap_mapping_create_new(const char *name,
                                               uint64_t size,
                                               struct filemap_mapping **out);

/**
 * Creates the named object, or opens it if it exists (it keeps its own size);
 * `*created` (if not NULL) says which.
 */
enum filemap_status filemap_mapping_create_or_open(const char *name,
                                                   uint64_t size,
                                                   struct filemap_mapping **out,
                                                   bool *created);

/**
 * Opens an existing named object; `access` is the most its views may do
 * (`FILEMAP_ACCESS_DEFAULT` is write). `FILEMAP_NOT_FOUND` if no object has the name.
 */
enum filemap_status filemap_mapping_open(const char *name,
                                         uint32_t access,
                                         struct filemap_mapping **out);

/**
 * Maps a file (`CreateFile` + `CreateFileMapping`): `size` 0 maps the file's size, a
 * larger one grows the file; `name` (NULL: none) also publishes it under a name;
 * `readonly` opens the file read-only (then a size larger than the file is
 * `FILEMAP_ACCESS_DENIED`: growing it needs a writable file). `path` is taken as its bytes
 * on Unix (a file name need not be UTF-8 there) and as UTF-8 on Windows (not the ANSI
 * code page).
 */
enum filemap_status filemap_mapping_from_path(const char *path,
                                              uint64_t size,
                                              const char *name,
                                              bool readonly,
                                              struct filemap_mapping **out);

/**
 * The object's size in bytes.
 */
enum filemap_status filemap_mapping_size(struct filemap_mapping *mapping, uint64_t *size);

/**
 * Closes a mapping handle (NULL: nothing). Its views stay valid.
 */
void filemap_mapping_close(struct filemap_mapping *mapping);

/**
 * Maps a view of `len` bytes at `offset` (any offset; `len` 0: to the end), with
 * `access` one of `FILEMAP_ACCESS_*` (`_DEFAULT`: the most the mapping allows).
 */
enum filemap_status filemap_view_map(struct filemap_mapping *mapping,
                                     uint64_t offset,
                                     uint64_t len,
                                     uint32_t access,
                                     struct filemap_view **out);

/**
 * The view's first byte (NULL for a NULL view, or for a handle that is no view: then
 * `filemap_last_error_message` says why), for reading in place while the view is mapped,
 * and writing if the view is writable (a write through a read-only view's pointer is an
 * access violation: SIGSEGV). Other processes may write the same bytes meanwhile:
 * synchronise with them (a named mutex, an event) as with any shared memory. Memory used
 * through this pointer is plain memory: if another process truncates the view's file,
 * touching it ends this process (SIGBUS on Linux), where `filemap_view_read` and
 * `filemap_view_write` return `FILEMAP_PAGE_FAULT` (on x86_64).
 */
void *filemap_view_data(struct filemap_view *view);

/**
 * The view's length in bytes (0 for a NULL view, or for a handle that is no view: then
 * `filemap_last_error_message` says why).
 */
size_t filemap_view_size(struct filemap_view *view);

/**
 * The view's access (`*access`: `FILEMAP_ACCESS_READ`, `_WRITE` or `_COPY`): whether
 * `filemap_view_data`'s pointer may be written through (`_WRITE`, `_COPY`).
 */
enum filemap_status filemap_view_access(struct filemap_view *view, uint32_t *access);

/**
 * Copies `len` bytes at `offset` of the view into `buffer`: sound whatever other
 * processes write into the view meanwhile; `FILEMAP_PAGE_FAULT` (not a crash) if the
 * memory is gone (on x86_64: elsewhere the process dies of SIGBUS; and see "Faults" in
 * docs/c.md for a program with signal handlers of its own). As with `memcpy`, nobody may
 * write `buffer` during the call, so it must not lie in a view of shared memory.
 */
enum filemap_status filemap_view_read(struct filemap_view *view,
                                      size_t offset,
                                      void *buffer,
                                      size_t len);

/**
 * Copies `len` bytes from `data` into the view at `offset`. As with `memcpy`, nobody may
 * write `data` during the call, so it must not lie in a view of shared memory (copy
 * between views through a buffer of your own).
 * Every byte of `data` must have been written: `memset` a struct before filling it in, or
 * its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
 */
enum filemap_status filemap_view_write(struct filemap_view *view,
                                       size_t offset,
                                       const void *data,
                                       size_t len);

/**
 * Flushes the view to its file and the file to its device (`FlushViewOfFile` +
 * `FlushFileBuffers`): durable when it returns. A read view has nothing to flush, and a
 * copy view's changes are its own (never written to the file): for both this does
 * nothing and succeeds.
 */
enum filemap_status filemap_view_flush(struct filemap_view *view);

/**
 * Unmaps a view (NULL: nothing); its data pointer is invalid afterwards.
 */
void filemap_view_unmap(struct filemap_view *view);

/**
 * Makes the inbox (with `config`, NULL for the defaults) or opens it, as its receiver.
 * `FILEMAP_BUSY` while another receiver lives.
 */
enum filemap_status filemap_inbox_create_or_open(const char *name,
                                                 const struct filemap_parties_config *config,
                                                 struct filemap_inbox **out);

/**
 * Receives the next message from any sender, waiting up to `timeout_ms`
 * (`FILEMAP_INFINITE`: for ever), each sender's messages in its order and no sender
 * starving the others: `*data` and `*len` give a copy of it, valid until the next receive
 * or `filemap_inbox_close`; `*sender` (if not NULL) the sender's slot.
 * `FILEMAP_DISCONNECTED` once every sender that came is gone and all they sent was
 * received.
 */
enum filemap_status filemap_inbox_recv(struct filemap_inbox *inbox,
                                       int64_t timeout_ms,
                                       const void **data,
                                       size_t *len,
                                       uint32_t *sender);

/**
 * Closes an inbox's receiver (NULL: nothing): its senders get `FILEMAP_DISCONNECTED`.
 */
void filemap_inbox_close(struct filemap_inbox *inbox);

/**
 * Makes the inbox (with `config`, NULL for the defaults) or opens it, as a new sender in
 * a free slot; `*slot` (if not NULL) says which. `FILEMAP_BUSY` if every sender slot is
 * taken by a live sender.
 */
enum filemap_status filemap_inbox_sender_create_or_open(const char *name,
                                                        const struct filemap_parties_config *config,
                                                        struct filemap_inbox_sender **out,
                                                        uint32_t *slot);

/**
 * Sends `len` bytes at `data` into the inbox, waiting up to `timeout_ms` for room in this
 * sender's ring (`FILEMAP_INFINITE`: for ever). `FILEMAP_DISCONNECTED` if the receiver is
 * gone. As with `memcpy`, nobody may write `data` during the call.
 * Every byte of `data` must have been written: `memset` a struct before filling it in, or
 * its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
 */
enum filemap_status filemap_inbox_send(struct filemap_inbox_sender *sender,
                                       const void *data,
                                       size_t len,
                                       int64_t timeout_ms);

/**
 * Closes an inbox sender (NULL: nothing): the receiver gets what it sent; its slot is
 * free for another.
 */
void filemap_inbox_sender_close(struct filemap_inbox_sender *sender);

/**
 * Makes the service (with `config`, NULL for the defaults) or opens it, as its server.
 * `FILEMAP_BUSY` while another server lives (a new one takes over from one that closed or
 * died).
 */
enum filemap_status filemap_server_create_or_open(const char *name,
                                                  const struct filemap_parties_config *config,
                                                  struct filemap_server **out);

/**
 * Receives the next request from any client, waiting up to `timeout_ms`
 * (`FILEMAP_INFINITE`: for ever): `*data` and `*len` give a copy of it, valid until the
 * next receive or `filemap_server_close`; `*id` the request's id, to respond to. A
 * request that cannot be read (`FILEMAP_PAGE_FAULT`, `FILEMAP_CORRUPT`: its ring cut
 * short or damaged by another process) is failed for its client, which is told why if its
 * response ring has room for that now (the failure does not wait).
 */
enum filemap_status filemap_server_recv_request(struct filemap_server *server,
                                                int64_t timeout_ms,
                                                const void **data,
                                                size_t *len,
                                                struct filemap_request_id *id);

/**
 * Sends a response of `len` bytes at `data` to request `id`; `last` nonzero: the
 * request's last response (a server may stream several, the last marked). Waits while the
 * client's response ring is full, for ever (see `filemap_server_respond_timeout`). A
 * client that is gone does not get it, and this still succeeds. As with `memcpy`, nobody
 * may write `data` during the call.
 * Every byte of `data` must have been written: `memset` a struct before filling it in, or
 * its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
 */
enum filemap_status filemap_server_respond(struct filemap_server *server,
                                           struct filemap_request_id id,
                                           const void *data,
                                           size_t len,
                                           bool last);

/**
 * `filemap_server_respond`, waiting at most `timeout_ms` (`FILEMAP_INFINITE`: for ever)
 * while the client's response ring is full: `FILEMAP_TIMEOUT` then (a live client that
 * does not read its responses would hold the server up for ever).
 */
enum filemap_status filemap_server_respond_timeout(struct filemap_server *server,
                                                   struct filemap_request_id id,
                                                   const void *data,
                                                   size_t len,
                                                   bool last,
                                                   int64_t timeout_ms);

/**
 * Fails request `id`: its last response, marked as a failure, the `len` bytes at `reason`
 * saying why (its client's `filemap_client_call` or `filemap_client_recv_response`
 * returns `FILEMAP_REQUEST_FAILED`); a reason longer than the client's largest response
 * is cut to fit it (the failure matters more than all of its reason). Waits at most
 * `timeout_ms` (`FILEMAP_INFINITE`: for
 * ever) while the client's response ring is full. A client that is gone does not get it,
 * and this still succeeds. As with `memcpy`, nobody may write `reason` during the call.
 * Every byte of `reason` must have been written: `memset` a struct before filling it in, or
 * its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
 */
enum filemap_status filemap_server_respond_failure(struct filemap_server *server,
                                                   struct filemap_request_id id,
                                                   const void *reason,
                                                   size_t len,
                                                   int64_t timeout_ms);

/**
 * Closes a server (NULL: nothing): its clients' pending requests fail with
 * `FILEMAP_DISCONNECTED`.
 */
void filemap_server_close(struct filemap_server *server);

/**
 * Makes the service (with `config`, NULL for the defaults) or opens it, as a new client
 * in a free slot. `FILEMAP_BUSY` if every client slot is taken by a live client.
 */
enum filemap_status filemap_client_create_or_open(const char *name,
                                                  const struct filemap_parties_config *config,
                                                  struct filemap_client **out);

/**
 * Sends a request of `len` bytes at `data`, waiting while this client's request ring is
 * full, for ever (a server that does not take requests holds it up: see
 * `filemap_client_send_request_timeout`); `*id` (if not NULL) its id, which its responses
 * carry. As with `memcpy`, nobody may write `data` during the call.
 * Every byte of `data` must have been written: `memset` a struct before filling it in, or
 * its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
 */
enum filemap_status filemap_client_send_request(struct filemap_client *client,
                                                const void *data,
                                                size_t len,
                                                struct filemap_request_id *id);

/**
 * `filemap_client_send_request`, waiting at most `timeout_ms` (`FILEMAP_INFINITE`: for
 * ever) for room: `FILEMAP_TIMEOUT` then, and nothing was sent.
 */
enum filemap_status filemap_client_send_request_timeout(struct filemap_client *client,
                                                        const void *data,
                                                        size_t len,
                                                        int64_t timeout_ms,
                                                        struct filemap_request_id *id);

/**
 * Receives the next response to one of this client's pending requests, waiting up to
 * `timeout_ms` (`FILEMAP_INFINITE`: for ever): `*data` and `*len` give a copy of it, valid
 * until the next receive, call or `filemap_client_close`; `*id` (if not NULL) the request
 * it answers, `*last` (if not NULL) whether it is that request's last response.
 * `FILEMAP_REQUEST_FAILED` if the server failed the request with it: the out-parameters
 * are set all the same (`*data` and `*len` the server's reason, `*last` true), and the
 * request is no longer pending. `FILEMAP_DISCONNECTED` if the server is gone: every pending request has failed; or if a
 * server died holding some of them and a new one took over: those have failed, the others
 * stay pending (`filemap_client_is_pending`). `FILEMAP_UNSUPPORTED` for a wait for ever
 * (`FILEMAP_INFINITE`) while no request of the client is pending: it would never end. A
 * response that cannot be read
 * (`FILEMAP_PAGE_FAULT`, `FILEMAP_CORRUPT`: its ring cut short or damaged by another
 * process) still sets `*id` and `*last` when the response's frame could be found (a
 * damaged frame header leaves them as they were): the request it answers, and whether
 * that request has ended.
 */
enum filemap_status filemap_client_recv_response(struct filemap_client *client,
                                                 int64_t timeout_ms,
                                                 const void **data,
                                                 size_t *len,
                                                 struct filemap_request_id *id,
                                                 bool *last);

/**
 * Sends a request and waits up to `timeout_ms` in all (`FILEMAP_INFINITE`: for ever) for
 * all of its responses: `*data` and `*len` give their payloads joined, valid until the
 * next receive, call or `filemap_client_close`. Only for a client with no other request
 * pending (`FILEMAP_UNSUPPORTED` otherwise: their responses would be lost). A call that
 * fails after sending (a timeout, say) gives its request up: its late responses are
 * dropped, and the next call may go. `FILEMAP_REQUEST_FAILED` if the server failed the
 * request: the last error message gives its reason, and `*data` and `*len` are left as
 * they were (unlike `filemap_client_recv_response`'s). As with `memcpy`, nobody may write
 * `request` during the call.
 * Every byte of `request` must have been written: `memset` a struct before filling it in, or
 * its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
 */
enum filemap_status filemap_client_call(struct filemap_client *client,
                                        const void *request,
                                        size_t request_len,
                                        int64_t timeout_ms,
                                        const void **data,
                                        size_t *len);

/**
 * Whether request `id` of this client waits for its last response (not answered in full,
 * not failed): `*pending`.
 */
enum filemap_status filemap_client_is_pending(struct filemap_client *client,
                                              struct filemap_request_id id,
                                              bool *pending);

/**
 * Whether a server is connected and alive now: `*alive`. After `FILEMAP_DISCONNECTED`,
 * tells a server that is gone from one that took over.
 */
enum filemap_status filemap_client_server_alive(struct filemap_client *client, bool *alive);

/**
 * Closes a client (NULL: nothing): responses still on their way to it are dropped; its
 * slot is free for another.
 */
void filemap_client_close(struct filemap_client *client);

/**
 * Creates the named mutex or opens the existing one; `*created` (if not NULL) says which.
 */
enum filemap_status filemap_mutex_create_or_open(const char *name,
                                                 struct filemap_mutex **out,
                                                 bool *created);

/**
 * Opens an existing named mutex.
 */
enum filemap_status filemap_mutex_open(const char *name, struct filemap_mutex **out);

/**
 * Locks the mutex for the calling thread, waiting up to `timeout_ms`
 * (`FILEMAP_INFINITE`: for ever). `*abandoned` (if not NULL) is set to whether its
 * previous holder died holding it (`WAIT_ABANDONED`: check the state it protects).
 * `FILEMAP_TIMEOUT` after the timeout; `FILEMAP_WOULD_DEADLOCK` if this thread holds it.
 */
enum filemap_status filemap_mutex_lock(struct filemap_mutex *mutex,
                                       int64_t timeout_ms,
                                       bool *abandoned);

/**
 * Unlocks the mutex the calling thread locked through this handle; `FILEMAP_NOT_OWNER`
 * otherwise (another thread's lock, or one taken through another handle on the same
 * mutex).
 */
enum filemap_status filemap_mutex_release(struct filemap_mutex *mutex);

/**
 * Closes a mutex handle (NULL: nothing). A lock still held through it is not released:
 * the next holder sees the mutex abandoned (on Windows once the locking thread exits), as
 * after Win32's `CloseHandle` on an owned mutex.
 */
void filemap_mutex_close(struct filemap_mutex *mutex);

/**
 * Creates the named event or opens the existing one (which keeps its mode and state);
 * `*created` (if not NULL) says which. `manual_reset`: stays set until reset (else one
 * waiter per set); `initially_set`: its state when created.
 */
enum filemap_status filemap_event_create_or_open(const char *name,
                                                 bool manual_reset,
                                                 bool initially_set,
                                                 struct filemap_event **out,
                                                 bool *created);

/**
 * Opens an existing named event.
 */
enum filemap_status filemap_event_open(const char *name, struct filemap_event **out);

/**
 * Sets the event.
 */
enum filemap_status filemap_event_set(struct filemap_event *event);

/**
 * Resets the event.
 */
enum filemap_status filemap_event_reset(struct filemap_event *event);

/**
 * Waits until the event is set, up to `timeout_ms` (`FILEMAP_INFINITE`: for ever);
 * `FILEMAP_TIMEOUT` after that.
 */
enum filemap_status filemap_event_wait(struct filemap_event *event, int64_t timeout_ms);

/**
 * Closes an event handle (NULL: nothing).
 */
void filemap_event_close(struct filemap_event *event);

/**
 * Creates the named semaphore with `initial` units and at most `maximum`, or opens the
 * existing one (which keeps its counts); `*created` (if not NULL) says which. `maximum`
 * is 1 to `INT32_MAX` and `initial` at most `maximum` (else `FILEMAP_INVALID_ARGUMENT`).
 */
enum filemap_status filemap_semaphore_create_or_open(const char *name,
                                                     uint32_t initial,
                                                     uint32_t maximum,
                                                     struct filemap_semaphore **out,
                                                     bool *created);

/**
 * Opens an existing named semaphore.
 */
enum filemap_status filemap_semaphore_open(const char *name, struct filemap_semaphore **out);

/**
 * Adds `count` units; `*previous` (if not NULL) gets the count before.
 * `FILEMAP_INVALID_ARGUMENT` past the maximum, and for a `count` of 0 (as Win32's
 * `ReleaseSemaphore` refuses it).
 */
enum filemap_status filemap_semaphore_release(struct filemap_semaphore *semaphore,
                                              uint32_t count,
                                              uint32_t *previous);

/**
 * Takes a unit, waiting up to `timeout_ms` (`FILEMAP_INFINITE`: for ever).
 */
enum filemap_status filemap_semaphore_acquire(struct filemap_semaphore *semaphore,
                                              int64_t timeout_ms);

/**
 * Closes a semaphore handle (NULL: nothing).
 */
void filemap_semaphore_close(struct filemap_semaphore *semaphore);

/**
 * Makes the topic (with `config`, NULL for the defaults) or opens it, as its publisher.
 * `FILEMAP_BUSY` while another publisher lives (a new one takes over from one that closed
 * or died).
 */
enum filemap_status filemap_publisher_create_or_open(const char *name,
                                                     const struct filemap_topic_config *config,
                                                     struct filemap_publisher **out);

/**
 * Publishes `len` bytes at `data` to every connected subscriber, waiting up to
 * `timeout_ms` for room (`FILEMAP_INFINITE`: for ever; a `drop_oldest` topic never
 * waits). As with `memcpy`, nobody may write `data` during the call.
 * Every byte of `data` must have been written: `memset` a struct before filling it in, or
 * its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
 */
enum filemap_status filemap_publish(struct filemap_publisher *publisher,
                                    const void *data,
                                    size_t len,
                                    int64_t timeout_ms);

/**
 * Closes a publisher (NULL: nothing): subscribers receive what it published, then
 * `FILEMAP_DISCONNECTED`.
 */
void filemap_publisher_close(struct filemap_publisher *publisher);

/**
 * Makes the topic (with `config`, NULL for the defaults) or opens it, as a new
 * subscriber, which receives the messages published from now on (after the topic's
 * history). `FILEMAP_BUSY` if every subscriber slot is taken by a live subscriber.
 */
enum filemap_status filemap_subscriber_create_or_open(const char *name,
                                                      const struct filemap_topic_config *config,
                                                      struct filemap_subscriber **out);

/**
 * Receives the next message, waiting up to `timeout_ms` (`FILEMAP_INFINITE`: for ever):
 * `*data` and `*len` give a copy of it, valid until the next receive or
 * `filemap_subscriber_close` on this subscriber; `*seq` (if not NULL) its sequence number
 * in the topic. `FILEMAP_LAGGED` (only on `drop_oldest` topics) when messages were
 * overwritten before this subscriber read them: `*missed` (if not NULL; 0 after a message,
 * left alone on other failures) says how many,
 * and the next receive goes on at the oldest one still there. `FILEMAP_DISCONNECTED` once
 * the publisher is gone and every message it published was received.
 */
enum filemap_status filemap_subscriber_recv(struct filemap_subscriber *subscriber,
                                            int64_t timeout_ms,
                                            const void **data,
                                            size_t *len,
                                            uint64_t *seq,
                                            uint64_t *missed);

/**
 * Closes a subscriber (NULL: nothing); its slot is free for another.
 */
void filemap_subscriber_close(struct filemap_subscriber *subscriber);

/**
 * Waits up to `timeout_ms` (`FILEMAP_INFINITE`: for ever) until one of the `count`
 * objects is ready, and takes it as a wait on it alone would: `*index` is the lowest
 * index ready (as `WaitForMultipleObjects` with `bWaitAll` FALSE), `*abandoned` (if not
 * NULL) whether it is a mutex whose holder died. `FILEMAP_TIMEOUT` if none was ready in
 * time; `FILEMAP_INVALID_ARGUMENT` for no objects, a `count` too large, a NULL handle, an
 * unknown kind, a handle not of its kind or a handle given twice; `FILEMAP_WOULD_DEADLOCK`
 * for a mutex this thread holds.
 */
enum filemap_status filemap_wait_any(const struct filemap_waitable *objects,
                                     size_t count,
                                     int64_t timeout_ms,
                                     size_t *index,
                                     bool *abandoned);

/**
 * Waits up to `timeout_ms` (`FILEMAP_INFINITE`: for ever) until all `count` objects are
 * ready at once, and takes them all together: it never holds some while it waits for the
 * others (as `WaitForMultipleObjects` with `bWaitAll` TRUE). `abandoned` (if not NULL)
 * points to `count` bools: for each, whether it is a mutex whose holder died (on
 * Windows, whose wait names only one abandoned mutex, every mutex of the set is said to
 * be abandoned when one was: check the state of each). Errors as `filemap_wait_any`, and
 * `FILEMAP_INVALID_ARGUMENT` for one event, semaphore or mutex given through two handles
 * (it could never be taken twice) and, on Windows, for more than 64 events, semaphores
 * and mutexes in all; after `FILEMAP_TIMEOUT` nothing was taken.
 */
enum filemap_status filemap_wait_all(const struct filemap_waitable *objects,
                                     size_t count,
                                     int64_t timeout_ms,
                                     bool *abandoned);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* FILEMAP_H */
