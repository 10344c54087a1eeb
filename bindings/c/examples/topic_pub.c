/* The publisher of a topic: publishes COUNT messages "message 0", "message 1", ... to
 * every subscriber connected, then closes (subscribers then get FILEMAP_DISCONNECTED).
 *
 *   topic_pub TOPIC COUNT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filemap.h"

int main(int argc, char **argv) {
    filemap_publisher *pub = NULL;
    filemap_status s;
    /* A 64 KiB ring; the publisher waits for the slowest subscriber (no drop_oldest). */
    filemap_topic_config config = {64 * 1024, 8, 0, 0};
    long i, count;
    if (argc != 3) {
        fprintf(stderr, "usage: topic_pub TOPIC COUNT\n");
        return 2;
    }
    count = atol(argv[2]);
    if ((s = filemap_publisher_create_or_open(argv[1], &config, &pub)) != FILEMAP_OK) {
        fprintf(stderr, "topic_pub: %s (%s)\n", filemap_last_error_message(),
                filemap_status_name(s));
        return 1;
    }
    for (i = 0; i < count; i++) {
        char message[32];
        int len = snprintf(message, sizeof message, "message %ld", i);
        if ((s = filemap_publish(pub, message, (size_t)len, 10000)) != FILEMAP_OK) {
            fprintf(stderr, "topic_pub: publishing: %s (%s)\n", filemap_last_error_message(),
                    filemap_status_name(s));
            filemap_publisher_close(pub);
            return 1;
        }
    }
    printf("topic_pub: published %ld messages\n", count);
    filemap_publisher_close(pub);
    return 0;
}
