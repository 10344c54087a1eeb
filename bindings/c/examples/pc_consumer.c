/* The trio's consumer: prints each value the producer made, until main stores -1.
 *
 *   pc_consumer RUN
 */
#include "pc_common.h"

int main(int argc, char **argv) {
    pc_objects o;
    int seen = 0, status = 0;
    filemap_status s;
    if (argc < 2) {
        fprintf(stderr, "usage: pc_consumer RUN\n");
        return 2;
    }
    pc_objects_get(&o, "consumer", argv[1], 0);
    for (;;) {
        int value;
        if ((s = filemap_event_wait(o.produced, 10000)) != FILEMAP_OK) {
            /* No value for ten seconds: main or the producer is gone. */
            fprintf(stderr, "consumer: waiting: %s (%s)\n", filemap_last_error_message(),
                    filemap_status_name(s));
            status = 1;
            break;
        }
        pc_lock(&o, "consumer", FILEMAP_INFINITE);
        value = *o.value;
        pc_unlock(&o, "consumer");
        if (value == -1) break;
        printf("consumer: %d\n", value);
        seen++;
        filemap_event_set(o.seen);
    }
    if (status == 0) printf("consumer: saw %d values\n", seen);
    fflush(stdout);
    pc_objects_close(&o);
    return status;
}
