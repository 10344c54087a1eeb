/* A worker: sends COUNT messages into the collector's inbox, each "worker ID message K",
 * then closes its sender and releases the collector's "done" semaphore once, so that its
 * last message is in the inbox before the collector counts it done.
 *
 *   inbox_worker INBOX ID COUNT
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filemap.h"

static int fail(const char *what, filemap_status s) {
    fprintf(stderr, "inbox_worker: %s: %s (%s)\n", what, filemap_last_error_message(),
            filemap_status_name(s));
    return 1;
}

int main(int argc, char **argv) {
    filemap_inbox_sender *tx = NULL;
    filemap_semaphore *done = NULL;
    filemap_status s;
    char done_name[256];
    uint32_t slot;
    unsigned long id, count, k;
    if (argc != 4) {
        fprintf(stderr, "usage: inbox_worker INBOX ID COUNT\n");
        return 2;
    }
    id = strtoul(argv[2], NULL, 10);
    count = strtoul(argv[3], NULL, 10);
    snprintf(done_name, sizeof done_name, "%s-done", argv[1]);
    if ((s = filemap_semaphore_open(done_name, &done)) != FILEMAP_OK)
        return fail("opening the done semaphore", s);
    /* NULL: the inbox's defaults if this call makes it (the collector made it first). */
    if ((s = filemap_inbox_sender_create_or_open(argv[1], NULL, &tx, &slot)) != FILEMAP_OK) {
        filemap_semaphore_close(done);
        return fail("joining the inbox", s);
    }
    for (k = 0; k < count; k++) {
        char message[64];
        int len = snprintf(message, sizeof message, "worker %lu message %lu", id, k);
        if ((s = filemap_inbox_send(tx, message, (size_t)len, 30000)) != FILEMAP_OK) {
            filemap_inbox_sender_close(tx);
            filemap_semaphore_close(done);
            return fail("sending", s);
        }
    }
    printf("inbox_worker: worker %lu (slot %u) sent %lu messages\n", id, slot, count);
    filemap_inbox_sender_close(tx);
    s = filemap_semaphore_release(done, 1, NULL);
    filemap_semaphore_close(done);
    return s == FILEMAP_OK ? 0 : fail("releasing the done semaphore", s);
}
