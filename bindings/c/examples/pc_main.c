/* The trio's main program: creates the shared int, the mutex and the events, then lets the
 * producer make values and the consumer print them until the value reaches LIMIT, when it
 * stores -1 to stop both. If the producer or consumer dies (kill -9), main notices within
 * PATIENCE_MS: it reports an abandoned mutex and exits with status 3.
 *
 *   pc_main RUN [LIMIT [PATIENCE_MS]]     (defaults: 500, 10000)
 * then, in other terminals:   pc_producer RUN   and   pc_consumer RUN
 */
#include "pc_common.h"

int main(int argc, char **argv) {
    pc_objects o;
    int limit = argc > 2 ? atoi(argv[2]) : 500;
    int64_t patience = argc > 3 ? atoll(argv[3]) : 10000;
    filemap_status s;
    if (argc < 2) {
        fprintf(stderr, "usage: pc_main RUN [LIMIT [PATIENCE_MS]]\n");
        return 2;
    }
    pc_objects_get(&o, "main", argv[1], 1);
    printf("main: ready\n");
    fflush(stdout);
    for (;;) {
        s = filemap_event_wait(o.seen, patience);
        if (s == FILEMAP_TIMEOUT) {
            bool abandoned = false;
            s = filemap_mutex_lock(o.lock, 1000, &abandoned);
            if (s == FILEMAP_OK && abandoned) {
                printf("main: a process died holding the mutex; the value is %d\n", *o.value);
                pc_unlock(&o, "main");
                pc_objects_close(&o);
                return 3;
            }
            if (s == FILEMAP_OK) pc_unlock(&o, "main");
            fprintf(stderr, "main: no progress for %lld ms\n", (long long)patience);
            pc_objects_close(&o);
            return 1;
        }
        if (s != FILEMAP_OK) pc_die("main", "waiting", s);
        pc_lock(&o, "main", FILEMAP_INFINITE);
        if (*o.value >= limit) {
            int last = *o.value;
            *o.value = -1;
            pc_unlock(&o, "main");
            filemap_event_set(o.produced);
            filemap_event_set(o.go);
            printf("main: stopped at %d\n", last);
            pc_objects_close(&o);
            return 0;
        }
        pc_unlock(&o, "main");
        filemap_event_set(o.go);
    }
}
