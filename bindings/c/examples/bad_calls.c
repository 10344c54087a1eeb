/* Calls made wrong on purpose: each must fail with the status it names, never crash.
 * Prints how many were checked.
 *
 *   bad_calls PREFIX
 * Objects are made under names starting with PREFIX, and closed before the end.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filemap.h"

static int checked = 0, failed = 0;

static void expect(const char *what, filemap_status got, filemap_status want) {
    checked++;
    if (got != want) {
        failed++;
        fprintf(stderr, "bad_calls: %s: %s, not %s (%s)\n", what, filemap_status_name(got),
                filemap_status_name(want), filemap_last_error_message());
    }
}

int main(int argc, char **argv) {
    char name[256];
    filemap_event *event = NULL;
    filemap_inbox *inbox = NULL;
    filemap_server *server = NULL;
    filemap_client *client = NULL;
    filemap_receiver *receiver = NULL;
    filemap_inbox_sender *inbox_sender = NULL;
    filemap_mapping *mapping = NULL;
    filemap_view *view = NULL;
    char buffer[16] = {0};
    static char big[1024];
    bool last = false;
    int i;
    filemap_waitable objects[3];
    filemap_request_id id = {0, 0};
    const void *data;
    size_t len, index;
    bool pending = false;
    filemap_status s;
    if (argc != 2) {
        fprintf(stderr, "usage: bad_calls PREFIX\n");
        return 2;
    }
    snprintf(name, sizeof name, "%s-event", argv[1]);
    if ((s = filemap_event_create_or_open(name, false, false, &event, NULL)) != FILEMAP_OK) {
        fprintf(stderr, "bad_calls: making an event: %s\n", filemap_last_error_message());
        return 1;
    }
    snprintf(name, sizeof name, "%s-inbox", argv[1]);
    expect("an inbox with no out", filemap_inbox_create_or_open(name, NULL, NULL),
           FILEMAP_INVALID_ARGUMENT);
    expect("an inbox with a NULL name", filemap_inbox_create_or_open(NULL, NULL, &inbox),
           FILEMAP_INVALID_ARGUMENT);
    /* Misaligned out-pointers (as a packed struct's fields may be) are refused before
       anything is made or received, not written through. */
    union { unsigned char bytes[32]; uint64_t align; } raw;
    expect("an inbox with a misaligned out",
           filemap_inbox_create_or_open(name, NULL, (filemap_inbox **)(void *)(raw.bytes + 1)),
           FILEMAP_INVALID_ARGUMENT);
    if ((s = filemap_inbox_create_or_open(name, NULL, &inbox)) != FILEMAP_OK) {
        fprintf(stderr, "bad_calls: making an inbox: %s\n", filemap_last_error_message());
        return 1;
    }
    expect("an inbox receive with no data", filemap_inbox_recv(inbox, 0, NULL, &len, NULL),
           FILEMAP_INVALID_ARGUMENT);
    expect("an inbox receive with a misaligned len",
           filemap_inbox_recv(inbox, 0, &data, (size_t *)(void *)(raw.bytes + 1), NULL),
           FILEMAP_INVALID_ARGUMENT);
    expect("an empty inbox's receive", filemap_inbox_recv(inbox, 0, &data, &len, NULL),
           FILEMAP_TIMEOUT);
    expect("a negative timeout", filemap_inbox_recv(inbox, -5, &data, &len, NULL),
           FILEMAP_INVALID_ARGUMENT);
    expect("a receive on a NULL inbox", filemap_inbox_recv(NULL, 0, &data, &len, NULL),
           FILEMAP_INVALID_ARGUMENT);
    expect("a channel receiver on the inbox's name",
           filemap_receiver_open(name, &receiver), FILEMAP_KIND_MISMATCH);

    snprintf(name, sizeof name, "%s-service", argv[1]);
    if ((s = filemap_server_create_or_open(name, NULL, &server)) != FILEMAP_OK ||
        (s = filemap_client_create_or_open(name, NULL, &client)) != FILEMAP_OK) {
        fprintf(stderr, "bad_calls: making a service: %s\n", filemap_last_error_message());
        return 1;
    }
    expect("a second server", filemap_server_create_or_open(name, NULL, &server), FILEMAP_BUSY);
    expect("a request with no id out", filemap_server_recv_request(server, 0, &data, &len, NULL),
           FILEMAP_INVALID_ARGUMENT);
    id.client = 1000000;
    expect("a response to a client slot the service lacks",
           filemap_server_respond(server, id, "x", 1, true), FILEMAP_INVALID_ARGUMENT);
    expect("a response to no request", filemap_client_recv_response(client, 0, &data, &len,
                                                                      NULL, NULL),
           FILEMAP_TIMEOUT);
    expect("a wait for ever for a response to no request",
           filemap_client_recv_response(client, FILEMAP_INFINITE, &data, &len, NULL, NULL),
           FILEMAP_UNSUPPORTED);
    expect("a request of NULL bytes", filemap_client_send_request(client, NULL, 5, NULL),
           FILEMAP_INVALID_ARGUMENT);
    expect("a pending question with no answer out",
           filemap_client_is_pending(client, id, NULL), FILEMAP_INVALID_ARGUMENT);
    expect("a pending question on a NULL client", filemap_client_is_pending(NULL, id, &pending),
           FILEMAP_INVALID_ARGUMENT);
    /* Not bad calls, but what the good ones hand back at their edges: an id is written
       field by field, leaving the padding between them as the caller set it (a struct
       holding it may be sent on as it is); an empty message's data pointer is a real one
       (memcpy wants one even for 0 bytes). */
    {
        filemap_request_id sent;
        unsigned char padding[sizeof sent];
        memset(&sent, 0x5a, sizeof sent);
        expect("an empty request", filemap_client_send_request(client, "", 0, &sent),
               FILEMAP_OK);
        memcpy(padding, &sent, sizeof sent);
        checked++;
        /* The padding: from the end of `client` to the start of `number` (none where a
           uint64_t needs only 4-byte alignment, as on i686). */
        if (offsetof(filemap_request_id, number) > sizeof sent.client &&
            (padding[sizeof sent.client] != 0x5a ||
             padding[offsetof(filemap_request_id, number) - 1] != 0x5a)) {
            failed++;
            fprintf(stderr, "bad_calls: the request id's padding was written over\n");
        }
        expect("an empty request's receive",
               filemap_server_recv_request(server, 0, &data, &len, &id), FILEMAP_OK);
        checked++;
        if (len != 0 || data == NULL || (uintptr_t)data < 4096) {
            failed++;
            fprintf(stderr, "bad_calls: an empty request's data is %p (%zu bytes)\n", data, len);
        }
        expect("the empty request's answer", filemap_server_respond(server, id, "", 0, true),
               FILEMAP_OK);
        expect("the empty answer's receive",
               filemap_client_recv_response(client, 0, &data, &len, NULL, NULL), FILEMAP_OK);
    }

    objects[0].kind = FILEMAP_WAIT_EVENT;
    objects[0].handle = event;
    objects[0].room = 0;
    objects[1].kind = FILEMAP_WAIT_INBOX;
    objects[1].handle = inbox;
    objects[1].room = 0;
    objects[2] = objects[0];
    expect("a wait on no objects", filemap_wait_any(objects, 0, 0, &index, NULL),
           FILEMAP_INVALID_ARGUMENT);
    expect("a wait on NULL objects", filemap_wait_any(NULL, 2, 0, &index, NULL),
           FILEMAP_INVALID_ARGUMENT);
    expect("a wait with no index out", filemap_wait_any(objects, 2, 0, NULL, NULL),
           FILEMAP_INVALID_ARGUMENT);
    expect("a wait on one handle twice", filemap_wait_any(objects, 3, 0, &index, NULL),
           FILEMAP_INVALID_ARGUMENT);
    expect("a wait on all, one handle twice", filemap_wait_all(objects, 3, 0, NULL),
           FILEMAP_INVALID_ARGUMENT);
    objects[2].handle = NULL;
    expect("a wait on a NULL handle", filemap_wait_any(objects, 3, 0, &index, NULL),
           FILEMAP_INVALID_ARGUMENT);
    objects[2].handle = server;
    objects[2].kind = 99; /* no such kind */
    expect("a wait on an unknown kind", filemap_wait_any(objects, 3, 0, &index, NULL),
           FILEMAP_INVALID_ARGUMENT);
    objects[2].kind = FILEMAP_WAIT_SERVER;
    expect("a wait on nothing ready", filemap_wait_any(objects, 3, 10, &index, NULL),
           FILEMAP_TIMEOUT);
    expect("a wait with a bad timeout", filemap_wait_any(objects, 3, -2, &index, NULL),
           FILEMAP_INVALID_ARGUMENT);
    filemap_event_set(event);
    expect("a wait on a set event", filemap_wait_any(objects, 3, 0, &index, NULL), FILEMAP_OK);
    checked++;
    if (index != 0) {
        failed++;
        fprintf(stderr, "bad_calls: the set event is not index 0 but %lu\n",
                (unsigned long)index);
    }

    expect("a request", filemap_client_send_request(client, "q", 1, &id), FILEMAP_OK);
    expect("a pending question", filemap_client_is_pending(client, id, &pending), FILEMAP_OK);
    checked++;
    if (!pending) {
        failed++;
        fprintf(stderr, "bad_calls: the request just sent is not pending\n");
    }
    expect("a server question", filemap_client_server_alive(client, &pending), FILEMAP_OK);
    checked++;
    if (!pending) {
        failed++;
        fprintf(stderr, "bad_calls: the live server does not look alive\n");
    }
    expect("a server question with no answer out", filemap_client_server_alive(client, NULL),
           FILEMAP_INVALID_ARGUMENT);

    /* Handles of one type passed as another: refused by their tags, never read as the
     * wrong struct. */
    snprintf(name, sizeof name, "%s-inbox", argv[1]);
    if ((s = filemap_inbox_sender_create_or_open(name, NULL, &inbox_sender, NULL)) !=
        FILEMAP_OK) {
        fprintf(stderr, "bad_calls: making an inbox sender: %s\n",
                filemap_last_error_message());
        return 1;
    }
    objects[0].kind = FILEMAP_WAIT_SENDER; /* the easy slip: it is an inbox sender */
    objects[0].handle = inbox_sender;
    objects[0].room = 0;
    expect("a wait on an inbox sender as a channel sender",
           filemap_wait_any(objects, 1, 0, &index, NULL), FILEMAP_INVALID_ARGUMENT);
    checked++;
    if (!strstr(filemap_last_error_message(), "filemap_sender") ||
        !strstr(filemap_last_error_message(), "filemap_inbox_sender")) {
        failed++;
        fprintf(stderr, "bad_calls: the wrong kind's message names not both kinds: %s\n",
                filemap_last_error_message());
    }
    objects[0].kind = FILEMAP_WAIT_EVENT;
    objects[0].handle = inbox;
    expect("a wait on all, an inbox as an event", filemap_wait_all(objects, 1, 0, NULL),
           FILEMAP_INVALID_ARGUMENT);
    objects[0].kind = FILEMAP_WAIT_INBOX_SENDER;
    objects[0].handle = inbox_sender;
    expect("a wait on an inbox sender with room", filemap_wait_any(objects, 1, 0, &index, NULL),
           FILEMAP_OK);
    expect("an event set on an inbox", filemap_event_set((filemap_event *)(void *)inbox),
           FILEMAP_INVALID_ARGUMENT);
    expect("an inbox send on a client",
           filemap_inbox_send((filemap_inbox_sender *)(void *)client, "x", 1, 0),
           FILEMAP_INVALID_ARGUMENT);
    /* A close given a handle of another type leaves it alone: the server still works. */
    filemap_event_close((filemap_event *)(void *)server);
    checked++;
    if (!strstr(filemap_last_error_message(), "filemap_server")) {
        failed++;
        fprintf(stderr, "bad_calls: a wrong close's message names not the server: %s\n",
                filemap_last_error_message());
    }
    expect("a request to the server after a wrong close",
           filemap_server_recv_request(server, 0, &data, &len, &id), FILEMAP_OK);

    /* A failed request: a part, then the failure, whose reason comes out with
     * FILEMAP_REQUEST_FAILED; the request is then no longer pending. */
    expect("a part before a failure", filemap_server_respond(server, id, "p", 1, false),
           FILEMAP_OK);
    expect("a failure", filemap_server_respond_failure(server, id, "no good", 7, 1000),
           FILEMAP_OK);
    expect("the part", filemap_client_recv_response(client, 1000, &data, &len, NULL, &last),
           FILEMAP_OK);
    expect("the failure", filemap_client_recv_response(client, 1000, &data, &len, NULL, &last),
           FILEMAP_REQUEST_FAILED);
    checked++;
    if (!last || len != 7 || memcmp(data, "no good", 7) != 0 ||
        !strstr(filemap_last_error_message(), "no good")) {
        failed++;
        fprintf(stderr, "bad_calls: the failure is not the last response with its reason: %s\n",
                filemap_last_error_message());
    }
    expect("a pending question after the failure", filemap_client_is_pending(client, id, &pending),
           FILEMAP_OK);
    checked++;
    if (pending) {
        failed++;
        fprintf(stderr, "bad_calls: a failed request is still pending\n");
    }
    /* The client reads no more: its response ring fills, and a timed response gives up. */
    for (i = 0; i < 1000; i++) {
        s = filemap_server_respond_timeout(server, id, big, sizeof big, false, 10);
        if (s != FILEMAP_OK) break;
    }
    expect("a response into a full ring", s, FILEMAP_TIMEOUT);
    expect("a failure into a full ring",
           filemap_server_respond_failure(server, id, big, sizeof big, 0), FILEMAP_TIMEOUT);

    /* Lengths past PTRDIFF_MAX bytes: refused before any slice is made of them. */
    snprintf(name, sizeof name, "%s-mapping", argv[1]);
    if ((s = filemap_mapping_create_new(name, 4096, &mapping)) != FILEMAP_OK ||
        (s = filemap_view_map(mapping, 0, 0, FILEMAP_ACCESS_DEFAULT, &view)) != FILEMAP_OK) {
        fprintf(stderr, "bad_calls: making a mapping: %s\n", filemap_last_error_message());
        return 1;
    }
    {
        uint32_t access = 0;
        expect("a view's access", filemap_view_access(view, &access), FILEMAP_OK);
        checked++;
        if (access != FILEMAP_ACCESS_WRITE) {
            failed++;
            fprintf(stderr, "bad_calls: a default view of a new mapping is not writable: %u\n",
                    (unsigned)access);
        }
        expect("a view's access with no answer out", filemap_view_access(view, NULL),
               FILEMAP_INVALID_ARGUMENT);
        {
            /* A misaligned answer out (a packed struct's field): written byte by byte,
               as docs/c.md says of out-pointers other than handles and arrays. */
            uint32_t got;
            memset(raw.bytes, 0, sizeof raw.bytes);
            expect("a view's access into a misaligned out",
                   filemap_view_access(view, (uint32_t *)(void *)(raw.bytes + 1)), FILEMAP_OK);
            memcpy(&got, raw.bytes + 1, sizeof got);
            checked++;
            if (got != FILEMAP_ACCESS_WRITE) {
                failed++;
                fprintf(stderr, "bad_calls: the packed access field holds %u\n",
                        (unsigned)got);
            }
        }
        expect("the access of a mapping as a view",
               filemap_view_access((filemap_view *)(void *)mapping, &access),
               FILEMAP_INVALID_ARGUMENT);
    }
    expect("a view write of (size_t)-1 bytes", filemap_view_write(view, 0, buffer, (size_t)-1),
           FILEMAP_INVALID_ARGUMENT);
    expect("a view read of (size_t)-1 bytes", filemap_view_read(view, 0, buffer, (size_t)-1),
           FILEMAP_INVALID_ARGUMENT);
    expect("a view read of PTRDIFF_MAX + 1 bytes",
           filemap_view_read(view, 0, buffer, (size_t)PTRDIFF_MAX + 1), FILEMAP_INVALID_ARGUMENT);
    expect("a view read of a few bytes", filemap_view_read(view, 0, buffer, sizeof buffer),
           FILEMAP_OK);
    expect("an inbox send of (size_t)-1 bytes",
           filemap_inbox_send(inbox_sender, "x", (size_t)-1, 0), FILEMAP_INVALID_ARGUMENT);
    expect("a request of (size_t)-1 bytes",
           filemap_client_send_request(client, "x", (size_t)-1, NULL), FILEMAP_INVALID_ARGUMENT);
    expect("a response of (size_t)-1 bytes",
           filemap_server_respond(server, id, "x", (size_t)-1, true), FILEMAP_INVALID_ARGUMENT);
    expect("a wait on (size_t)-1 objects", filemap_wait_any(objects, (size_t)-1, 0, &index, NULL),
           FILEMAP_INVALID_ARGUMENT);
    expect("a wait on all of SIZE_MAX / 8 objects",
           filemap_wait_all(objects, SIZE_MAX / 8, 0, NULL), FILEMAP_INVALID_ARGUMENT);
    checked++;
    if (filemap_view_size((filemap_view *)(void *)mapping) != 0 ||
        filemap_view_data((filemap_view *)(void *)mapping) != NULL) {
        failed++;
        fprintf(stderr, "bad_calls: a mapping taken for a view has a size or data\n");
    }
    checked++;
    if (filemap_view_size(view) != 4096 || filemap_view_data(view) == NULL) {
        failed++;
        fprintf(stderr, "bad_calls: the view has no size or data\n");
    }
    /* A NULL view has no size, and the last error says why (not an earlier failure's). */
    checked++;
    if (filemap_view_size(NULL) != 0 || !strstr(filemap_last_error_message(), "view is NULL")) {
        failed++;
        fprintf(stderr, "bad_calls: a NULL view's size: %s\n", filemap_last_error_message());
    }
    /* A missing argument is named: here `access`, not `out`. */
    checked++;
    if (filemap_view_access(view, NULL) != FILEMAP_INVALID_ARGUMENT ||
        !strstr(filemap_last_error_message(), "access is NULL")) {
        failed++;
        fprintf(stderr, "bad_calls: a NULL access: %s\n", filemap_last_error_message());
    }
    /* A read into memory fresh from malloc (never initialised) gives the view's bytes. */
    {
        unsigned char *fresh = malloc(64);
        checked++;
        if (fresh == NULL || filemap_view_write(view, 0, "fresh", 5) != FILEMAP_OK ||
            filemap_view_read(view, 0, fresh, 64) != FILEMAP_OK || memcmp(fresh, "fresh", 5)) {
            failed++;
            fprintf(stderr, "bad_calls: a read into fresh memory: %s\n",
                    filemap_last_error_message());
        }
        free(fresh);
    }

    filemap_view_unmap(view);
    filemap_mapping_close(mapping);

    /* A failed receive leaves `*missed` alone. */
    snprintf(name, sizeof name, "%s-topic", argv[1]);
    {
        filemap_subscriber *sub = NULL;
        uint64_t seq = 0, missed = 77;
        if ((s = filemap_subscriber_create_or_open(name, NULL, &sub)) != FILEMAP_OK) {
            fprintf(stderr, "bad_calls: making a topic: %s\n", filemap_last_error_message());
            return 1;
        }
        expect("a subscriber receive with a negative timeout",
               filemap_subscriber_recv(sub, -5, &data, &len, &seq, &missed),
               FILEMAP_INVALID_ARGUMENT);
        checked++;
        if (missed != 77) {
            failed++;
            fprintf(stderr, "bad_calls: a failed receive wrote missed (%lu)\n",
                    (unsigned long)missed);
        }
        filemap_subscriber_close(sub);
    }

#ifndef _WIN32
    /* A file whose name is not UTF-8 (any bytes but '/' and NUL make a Unix file name) maps:
     * a path is taken as its bytes. */
    {
        const char *dir = getenv("FILEMAP_DIR");
        char path[1024];
        FILE *f;
        snprintf(path, sizeof path, "%s/not-utf8-\xff.bin", dir ? dir : ".");
        f = fopen(path, "wb");
        if (!f || fwrite(big, 1, sizeof big, f) != sizeof big || fclose(f) != 0) {
            fprintf(stderr, "bad_calls: writing %s failed\n", path);
            return 1;
        }
        mapping = NULL;
        expect("a file whose name is not UTF-8",
               filemap_mapping_from_path(path, 0, NULL, true, &mapping), FILEMAP_OK);
        filemap_mapping_close(mapping);
        remove(path);
    }
#endif
    /* A mutex released by a thread that does not hold it, and locked again by its holder. */
    snprintf(name, sizeof name, "%s-mutex", argv[1]);
    {
        filemap_mutex *mutex = NULL;
        bool abandoned = true;
        expect("a mutex whose name is not UTF-8",
               filemap_mutex_create_or_open("not-utf8-\xff", &mutex, NULL),
               FILEMAP_INVALID_ARGUMENT);
        if ((s = filemap_mutex_create_or_open(name, &mutex, NULL)) != FILEMAP_OK) {
            fprintf(stderr, "bad_calls: making a mutex: %s\n", filemap_last_error_message());
            return 1;
        }
        expect("a release of a mutex nobody holds", filemap_mutex_release(mutex),
               FILEMAP_NOT_OWNER);
        expect("a lock", filemap_mutex_lock(mutex, 0, &abandoned), FILEMAP_OK);
        expect("a lock again by its holder", filemap_mutex_lock(mutex, 0, &abandoned),
               FILEMAP_WOULD_DEADLOCK);
        /* A refused wait changes nothing: the message a receiver holds stays held (its
           bytes are not given back to the sender, which finds no room while it is). */
        snprintf(name, sizeof name, "%s-held", argv[1]);
        {
            filemap_sender *tx = NULL;
            filemap_receiver *rx = NULL;
            filemap_waitable both[2];
            int sent = 0;
            expect("a channel for a held message",
                   filemap_sender_create_or_open(name, 4096, &tx), FILEMAP_OK);
            expect("its receiver", filemap_receiver_open(name, &rx), FILEMAP_OK);
            while (sent < 16 && filemap_send(tx, big, sizeof big, 0) == FILEMAP_OK)
                sent++;
            expect("a message held", filemap_recv(rx, 0, &data, &len), FILEMAP_OK);
            both[0].kind = FILEMAP_WAIT_RECEIVER;
            both[0].handle = rx;
            both[0].room = 0;
            both[1].kind = FILEMAP_WAIT_MUTEX;
            both[1].handle = mutex;
            both[1].room = 0;
            expect("a wait on a receiver and a mutex its thread holds",
                   filemap_wait_any(both, 2, 0, &index, NULL), FILEMAP_WOULD_DEADLOCK);
            expect("a wait on all of them", filemap_wait_all(both, 2, 0, NULL),
                   FILEMAP_WOULD_DEADLOCK);
            {
                /* One event through two handles, after a receiver: the refusal names the
                   caller's index of the repeat (2), not its place among the others. */
                filemap_event *again = NULL;
                filemap_waitable three[3];
                snprintf(name, sizeof name, "%s-event", argv[1]);
                expect("the event opened again", filemap_event_open(name, &again), FILEMAP_OK);
                three[0] = both[0];
                three[1].kind = FILEMAP_WAIT_EVENT;
                three[1].handle = event;
                three[1].room = 0;
                three[2] = three[1];
                three[2].handle = again;
                expect("a wait on all, one event twice after a receiver",
                       filemap_wait_all(three, 3, 0, NULL), FILEMAP_INVALID_ARGUMENT);
                checked++;
                if (!strstr(filemap_last_error_message(), "index 2")) {
                    failed++;
                    fprintf(stderr, "bad_calls: the repeat is not said at index 2: %s\n",
                            filemap_last_error_message());
                }
                filemap_event_close(again);
                snprintf(name, sizeof name, "%s-held", argv[1]);
            }
            expect("a send while the message is held", filemap_send(tx, big, sizeof big, 0),
                   FILEMAP_TIMEOUT);
            expect("the held message released", filemap_recv_release(rx), FILEMAP_OK);
            expect("a send once it is released", filemap_send(tx, big, sizeof big, 0),
                   FILEMAP_OK);
            checked++;
            if (sent < 2 || sent == 16) {
                failed++;
                fprintf(stderr, "bad_calls: %d messages filled the ring\n", sent);
            }
            filemap_receiver_close(rx);
            filemap_sender_close(tx);
        }
        expect("a release", filemap_mutex_release(mutex), FILEMAP_OK);
        expect("a release once more", filemap_mutex_release(mutex), FILEMAP_NOT_OWNER);
        filemap_mutex_close(mutex);
    }
    /* A mapping made, then opened by name (it keeps its size), a view of it flushed. */
    snprintf(name, sizeof name, "%s-map", argv[1]);
    {
        filemap_mapping *made = NULL, *opened = NULL;
        bool created = false;
        uint64_t size = 0;
        expect("a mapping made", filemap_mapping_create_or_open(name, 8192, &made, &created),
               FILEMAP_OK);
        checked++;
        if (!created) {
            failed++;
            fprintf(stderr, "bad_calls: a new mapping said it was opened\n");
        }
        expect("the mapping opened",
               filemap_mapping_create_or_open(name, 4096, &opened, &created), FILEMAP_OK);
        expect("its size", filemap_mapping_size(opened, &size), FILEMAP_OK);
        checked++;
        if (created || size != 8192) {
            failed++;
            fprintf(stderr, "bad_calls: the mapping opened: created %d, size %lu\n",
                    (int)created, (unsigned long)size);
        }
        expect("its size with no answer out", filemap_mapping_size(opened, NULL),
               FILEMAP_INVALID_ARGUMENT);
        view = NULL;
        expect("a view of it", filemap_view_map(opened, 0, 0, FILEMAP_ACCESS_DEFAULT, &view),
               FILEMAP_OK);
        expect("a write", filemap_view_write(view, 100, "flushed", 7), FILEMAP_OK);
        expect("a flush", filemap_view_flush(view), FILEMAP_OK);
        filemap_view_unmap(view);
        filemap_mapping_close(opened);
        filemap_mapping_close(made);
    }
    /* A set event reset is not set. */
    expect("an event set", filemap_event_set(event), FILEMAP_OK);
    expect("an event reset", filemap_event_reset(event), FILEMAP_OK);
    expect("a wait on a reset event", filemap_event_wait(event, 0), FILEMAP_TIMEOUT);
    filemap_inbox_sender_close(inbox_sender);
    filemap_client_close(client);
    filemap_server_close(server);
    filemap_inbox_close(inbox);
    filemap_event_close(event);
    filemap_inbox_close(NULL);
    filemap_server_close(NULL);
    filemap_client_close(NULL);
    filemap_inbox_sender_close(NULL);
    if (failed) return 1;
    printf("bad_calls: %d checks passed\n", checked);
    return 0;
}
