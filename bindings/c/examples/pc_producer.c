/* The trio's producer: waits for its turn, adds one to the shared int under the mutex,
 * tells the consumer, until main stores -1.
 *
 *   pc_producer RUN [DIE_HOLDING_AT]
 * With DIE_HOLDING_AT, it stops with the mutex held once the value reaches that number
 * and waits to be killed (the crash story: main then sees the mutex abandoned).
 */
#include "pc_common.h"

#ifdef _WIN32
#include <windows.h>
#define pause_forever() Sleep(INFINITE)
#else
#include <unistd.h>
#define pause_forever() pause()
#endif

int main(int argc, char **argv) {
    pc_objects o;
    int made = 0;
    int die_at = argc > 2 ? atoi(argv[2]) : -1, status = 0;
    filemap_status s;
    if (argc < 2) {
        fprintf(stderr, "usage: pc_producer RUN [DIE_HOLDING_AT]\n");
        return 2;
    }
    pc_objects_get(&o, "producer", argv[1], 0);
    for (;;) {
        if ((s = filemap_event_wait(o.go, 10000)) != FILEMAP_OK) {
            /* No turn for ten seconds: main is gone. */
            fprintf(stderr, "producer: waiting: %s (%s)\n", filemap_last_error_message(),
                    filemap_status_name(s));
            status = 1;
            break;
        }
        pc_lock(&o, "producer", FILEMAP_INFINITE);
        if (*o.value == -1) {
            pc_unlock(&o, "producer");
            break;
        }
        *o.value += 1;
        made++;
        if (*o.value == die_at) {
            printf("producer: holding the mutex at %d\n", *o.value);
            fflush(stdout);
            for (;;) pause_forever();
        }
        pc_unlock(&o, "producer");
        filemap_event_set(o.produced);
    }
    if (status == 0) printf("producer: made %d values\n", made);
    pc_objects_close(&o);
    return status;
}
