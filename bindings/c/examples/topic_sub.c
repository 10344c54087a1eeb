/* A subscriber of a topic: joins it, says "ready", then receives until the publisher is
 * gone and prints how many messages it got, their bytes, and a checksum of them all.
 *
 *   topic_sub TOPIC
 * Messages are the publisher's "message N" lines; each must carry the next N in order.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filemap.h"

static int fail(const char *what, filemap_status s) {
    fprintf(stderr, "topic_sub: %s: %s (%s)\n", what, filemap_last_error_message(),
            filemap_status_name(s));
    return 1;
}

int main(int argc, char **argv) {
    filemap_subscriber *sub = NULL;
    filemap_status s;
    uint64_t count = 0, bytes = 0, sum = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: topic_sub TOPIC\n");
        return 2;
    }
    /* NULL: the topic's defaults if this call makes it (the publisher waits for us). */
    if ((s = filemap_subscriber_create_or_open(argv[1], NULL, &sub)) != FILEMAP_OK)
        return fail("joining the topic", s);
    printf("topic_sub: ready\n");
    fflush(stdout);
    for (;;) {
        const void *data;
        size_t len, i;
        uint64_t seq, missed;
        char expected[32];
        s = filemap_subscriber_recv(sub, 30000, &data, &len, &seq, &missed);
        if (s == FILEMAP_DISCONNECTED) break; /* the publisher closed: all received */
        if (s == FILEMAP_LAGGED) {
            printf("topic_sub: missed %llu messages\n", (unsigned long long)missed);
            continue;
        }
        if (s != FILEMAP_OK) {
            filemap_subscriber_close(sub);
            return fail("receiving", s);
        }
        snprintf(expected, sizeof expected, "message %llu", (unsigned long long)count);
        if (len != strlen(expected) || memcmp(data, expected, len) != 0 || seq != count) {
            fprintf(stderr, "topic_sub: message %llu (seq %llu) is not \"%s\"\n",
                    (unsigned long long)count, (unsigned long long)seq, expected);
            filemap_subscriber_close(sub);
            return 1;
        }
        for (i = 0; i < len; i++) sum = sum * 31 + ((const unsigned char *)data)[i];
        count++;
        bytes += len;
    }
    printf("topic_sub: received %llu messages, %llu bytes, checksum %llu\n",
           (unsigned long long)count, (unsigned long long)bytes, (unsigned long long)sum);
    filemap_subscriber_close(sub);
    return 0;
}
