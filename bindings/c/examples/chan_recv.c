/* A channel's receiver: makes the channel, says "ready", then receives in place until the
 * sender is gone, checking every message's bytes, and prints how many it got and a
 * checksum of them all.
 *
 *   chan_recv CHANNEL COUNT
 * Message i is (i * 37) % 3000 + 1 bytes long, its byte j equal to (i + j) % 251; every
 * third one is given back with filemap_recv_release, the others by the next receive.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#include "filemap.h"

static int fail(const char *what, filemap_status s) {
    fprintf(stderr, "chan_recv: %s: %s (%s)\n", what, filemap_last_error_message(),
            filemap_status_name(s));
    return 1;
}

int main(int argc, char **argv) {
    filemap_receiver *rx = NULL;
    filemap_status s;
    uint64_t count = 0, expected, bytes = 0, sum = 0;
    const void *data;
    size_t len, j;
    if (argc != 3) {
        fprintf(stderr, "usage: chan_recv CHANNEL COUNT\n");
        return 2;
    }
    expected = strtoull(argv[2], NULL, 10);
    if ((s = filemap_receiver_create_or_open(argv[1], 16384, &rx)) != FILEMAP_OK)
        return fail("making the channel", s);
    /* Nothing sent yet: a receive that does not wait says so. */
    if ((s = filemap_recv(rx, 0, &data, &len)) != FILEMAP_TIMEOUT) {
        filemap_receiver_close(rx);
        return fail("receiving from an empty channel (expected FILEMAP_TIMEOUT)", s);
    }
    printf("chan_recv: ready\n");
    fflush(stdout);
    for (;;) {
        const unsigned char *bytes_in;
        s = filemap_recv(rx, 30000, &data, &len);
        if (s == FILEMAP_DISCONNECTED) break; /* the sender closed: all received */
        if (s != FILEMAP_OK) {
            filemap_receiver_close(rx);
            return fail("receiving", s);
        }
        bytes_in = data;
        if (len != (count * 37) % 3000 + 1) {
            fprintf(stderr, "chan_recv: message %llu is %llu bytes long\n",
                    (unsigned long long)count, (unsigned long long)len);
            filemap_receiver_close(rx);
            return 1;
        }
        for (j = 0; j < len; j++) {
            if (bytes_in[j] != (count + j) % 251) {
                fprintf(stderr, "chan_recv: message %llu differs at byte %llu\n",
                        (unsigned long long)count, (unsigned long long)j);
                filemap_receiver_close(rx);
                return 1;
            }
            sum = sum * 31 + bytes_in[j];
        }
        bytes += len;
        if (count % 3 == 0 && (s = filemap_recv_release(rx)) != FILEMAP_OK) {
            filemap_receiver_close(rx);
            return fail("giving a message back", s);
        }
        count++;
    }
    filemap_receiver_close(rx);
    if (count != expected) {
        fprintf(stderr, "chan_recv: %llu messages, not %llu\n", (unsigned long long)count,
                (unsigned long long)expected);
        return 1;
    }
    printf("chan_recv: received %llu messages, %llu bytes, checksum %llu\n",
           (unsigned long long)count, (unsigned long long)bytes, (unsigned long long)sum);
    return 0;
}
