/* The collector of many workers (`inbox_worker`): makes an inbox and a "done" semaphore,
 * says "ready", then waits on both at once with filemap_wait_any (Win32's
 * WaitForMultipleObjects): a message in the inbox, or a worker that finished. It stops when
 * every worker is done and the inbox is empty, and checks that each worker's messages came
 * in its order and none was lost.
 *
 *   inbox_collector INBOX WORKERS COUNT
 * Workers are numbered 0 to WORKERS-1; each sends COUNT messages "worker ID message K".
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filemap.h"

#define MAX_WORKERS 64

static int fail(const char *what, filemap_status s) {
    fprintf(stderr, "inbox_collector: %s: %s (%s)\n", what, filemap_last_error_message(),
            filemap_status_name(s));
    return 1;
}

/* Checks one message against what its worker should send next. */
static int check(const void *data, size_t len, unsigned long *next, unsigned long workers) {
    char text[64], expected[64];
    unsigned long id, k;
    if (len >= sizeof text) return 0;
    memcpy(text, data, len);
    text[len] = '\0';
    if (sscanf(text, "worker %lu message %lu", &id, &k) != 2 || id >= workers) return 0;
    snprintf(expected, sizeof expected, "worker %lu message %lu", id, next[id]);
    if (strcmp(text, expected) != 0) return 0;
    next[id]++;
    return 1;
}

int main(int argc, char **argv) {
    filemap_inbox *inbox = NULL;
    filemap_semaphore *done = NULL;
    filemap_parties_config config = {0};
    filemap_status s;
    char done_name[256];
    unsigned long workers, count, finished = 0, received = 0, w;
    unsigned long next[MAX_WORKERS] = {0};
    int status = 0;
    if (argc != 4) {
        fprintf(stderr, "usage: inbox_collector INBOX WORKERS COUNT\n");
        return 2;
    }
    workers = strtoul(argv[2], NULL, 10);
    count = strtoul(argv[3], NULL, 10);
    if (workers == 0 || workers > MAX_WORKERS) {
        fprintf(stderr, "inbox_collector: WORKERS must be 1 to %d\n", MAX_WORKERS);
        return 2;
    }
    snprintf(done_name, sizeof done_name, "%s-done", argv[1]);
    if ((s = filemap_semaphore_create_or_open(done_name, 0, (uint32_t)workers, &done, NULL)) !=
        FILEMAP_OK)
        return fail("making the done semaphore", s);
    config.parties = (uint32_t)workers; /* one sender slot per worker */
    if ((s = filemap_inbox_create_or_open(argv[1], &config, &inbox)) != FILEMAP_OK) {
        filemap_semaphore_close(done);
        return fail("making the inbox", s);
    }
    printf("inbox_collector: ready\n");
    fflush(stdout);
    while (finished < workers) {
        /* The inbox first: when both are ready, the lowest index wins, so messages are
         * taken before a worker's "done" is counted. */
        filemap_waitable objects[2] = {
            {FILEMAP_WAIT_INBOX, inbox, 0},
            {FILEMAP_WAIT_SEMAPHORE, done, 0},
        };
        size_t index;
        const void *data;
        size_t len;
        if ((s = filemap_wait_any(objects, 2, 30000, &index, NULL)) != FILEMAP_OK) {
            status = fail("waiting", s);
            break;
        }
        if (index == 1) { /* a worker finished (the wait took its unit) */
            finished++;
            continue;
        }
        s = filemap_inbox_recv(inbox, 0, &data, &len, NULL);
        if (s == FILEMAP_TIMEOUT) continue; /* a new worker came just after the wait looked */
        if (s == FILEMAP_DISCONNECTED) {
            /* Every worker that came is gone, and all they sent was received; the inbox
             * stays ready so until another comes. Their units arrive next: look for one
             * briefly, then wait on both again (a worker yet to come may need reading). */
            s = filemap_semaphore_acquire(done, 20);
            if (s == FILEMAP_OK) {
                finished++;
            } else if (s != FILEMAP_TIMEOUT) {
                status = fail("waiting for a worker", s);
                break;
            }
            continue;
        }
        if (s != FILEMAP_OK) {
            status = fail("receiving", s);
            break;
        }
        if (!check(data, len, next, workers)) {
            fprintf(stderr, "inbox_collector: message %lu is out of order: \"%.*s\"\n",
                    received, (int)len, (const char *)data);
            status = 1;
            break;
        }
        received++;
    }
    /* Every worker is done, and each closed before it said so: what is left is there. */
    while (status == 0) {
        const void *data;
        size_t len;
        s = filemap_inbox_recv(inbox, 0, &data, &len, NULL);
        if (s == FILEMAP_TIMEOUT || s == FILEMAP_DISCONNECTED) break;
        if (s != FILEMAP_OK) {
            status = fail("receiving", s);
        } else if (!check(data, len, next, workers)) {
            fprintf(stderr, "inbox_collector: message %lu is out of order\n", received);
            status = 1;
        } else {
            received++;
        }
    }
    for (w = 0; status == 0 && w < workers; w++) {
        if (next[w] != count) {
            fprintf(stderr, "inbox_collector: worker %lu: %lu messages, not %lu\n", w, next[w],
                    count);
            status = 1;
        }
    }
    if (status == 0)
        printf("inbox_collector: %lu messages from %lu workers, each worker's in order\n",
               received, workers);
    filemap_inbox_close(inbox);
    filemap_semaphore_close(done);
    return status;
}
