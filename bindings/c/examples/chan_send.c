/* A channel's sender: opens the channel its receiver made, sends COUNT messages (the ring
 * is smaller than all of them: it waits for room), then closes, which tells the receiver
 * once it has everything.
 *
 *   chan_send CHANNEL COUNT
 * Message i is (i * 37) % 3000 + 1 bytes long, its byte j equal to (i + j) % 251.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#include "filemap.h"

static int fail(const char *what, filemap_status s) {
    fprintf(stderr, "chan_send: %s: %s (%s)\n", what, filemap_last_error_message(),
            filemap_status_name(s));
    return 1;
}

int main(int argc, char **argv) {
    filemap_sender *tx = NULL, *second = NULL;
    filemap_status s;
    static unsigned char message[3000];
    uint64_t i, count;
    size_t j, len;
    if (argc != 3) {
        fprintf(stderr, "usage: chan_send CHANNEL COUNT\n");
        return 2;
    }
    count = strtoull(argv[2], NULL, 10);
    if ((s = filemap_sender_open(argv[1], &tx)) != FILEMAP_OK)
        return fail("opening the channel", s);
    /* One sender at a time. */
    if ((s = filemap_sender_open(argv[1], &second)) != FILEMAP_BUSY) {
        filemap_sender_close(second);
        filemap_sender_close(tx);
        return fail("opening a second sender (expected FILEMAP_BUSY)", s);
    }
    for (i = 0; i < count; i++) {
        len = (size_t)((i * 37) % 3000 + 1);
        for (j = 0; j < len; j++) message[j] = (unsigned char)((i + j) % 251);
        if ((s = filemap_send(tx, message, len, 30000)) != FILEMAP_OK) {
            filemap_sender_close(tx);
            return fail("sending", s);
        }
    }
    filemap_sender_close(tx);
    printf("chan_send: sent %llu messages\n", (unsigned long long)count);
    return 0;
}
