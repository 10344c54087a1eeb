/* A server: answers each request with two responses, a stream of two parts: the request's
 * text in capitals, then (the last) its length as "N bytes". It waits with filemap_wait_any
 * on its requests and a "quit" event at once, and stops when the event is set (clients
 * come and go meanwhile: a server is not told when they leave).
 *
 *   svc_server SERVICE
 * The event is named SERVICE-quit; `svc_client SERVICE --quit` sets it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filemap.h"

/* How long a response may wait for room in its client's ring. */
#define RESPOND_TIMEOUT_MS 5000

static int fail(const char *what, filemap_status s) {
    fprintf(stderr, "svc_server: %s: %s (%s)\n", what, filemap_last_error_message(),
            filemap_status_name(s));
    return 1;
}

int main(int argc, char **argv) {
    filemap_server *server = NULL;
    filemap_event *quit = NULL;
    filemap_status s;
    char quit_name[256];
    unsigned long served = 0;
    int status = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: svc_server SERVICE\n");
        return 2;
    }
    snprintf(quit_name, sizeof quit_name, "%s-quit", argv[1]);
    /* Manual reset, not set. */
    if ((s = filemap_event_create_or_open(quit_name, true, false, &quit, NULL)) != FILEMAP_OK)
        return fail("making the quit event", s);
    if ((s = filemap_server_create_or_open(argv[1], NULL, &server)) != FILEMAP_OK) {
        filemap_event_close(quit);
        return fail("making the service", s);
    }
    printf("svc_server: ready\n");
    fflush(stdout);
    for (;;) {
        filemap_waitable objects[2] = {
            {FILEMAP_WAIT_EVENT, quit, 0},
            {FILEMAP_WAIT_SERVER, server, 0},
        };
        size_t index, len, i;
        const void *data;
        filemap_request_id id;
        char *upper, count[32];
        int count_len;
        if ((s = filemap_wait_any(objects, 2, FILEMAP_INFINITE, &index, NULL)) != FILEMAP_OK) {
            status = fail("waiting", s);
            break;
        }
        if (index == 0) break; /* quit */
        s = filemap_server_recv_request(server, 0, &data, &len, &id);
        if (s == FILEMAP_TIMEOUT) continue; /* nothing after all: wait again */
        if (s != FILEMAP_OK) {
            status = fail("receiving a request", s);
            break;
        }
        upper = malloc(len ? len : 1);
        if (upper == NULL) {
            fprintf(stderr, "svc_server: no memory for a request of %lu bytes\n",
                    (unsigned long)len);
            status = 1;
            break;
        }
        for (i = 0; i < len; i++) upper[i] = (char)toupper(((const unsigned char *)data)[i]);
        count_len = snprintf(count, sizeof count, "%lu bytes", (unsigned long)len);
        /* A client that does not read its responses may hold the server up only so long. */
        if ((s = filemap_server_respond_timeout(server, id, upper, len, false,
                                                RESPOND_TIMEOUT_MS)) == FILEMAP_OK)
            s = filemap_server_respond_timeout(server, id, count, (size_t)count_len, true,
                                               RESPOND_TIMEOUT_MS);
        free(upper);
        if (s == FILEMAP_TIMEOUT) {
            fprintf(stderr, "svc_server: a client did not read its responses; left it\n");
            continue;
        }
        if (s != FILEMAP_OK) {
            status = fail("responding", s);
            break;
        }
        served++;
    }
    if (status == 0) printf("svc_server: served %lu requests\n", served);
    filemap_server_close(server);
    filemap_event_close(quit);
    return status;
}
