/* What the producer / consumer trio shares: a named mapping holding one int, a named
 * mutex guarding it, and three auto-reset events instead of the tutorial's Sleep polling
 * (go: the producer may make the next value; produced: a value is there; seen: the
 * consumer printed it). Objects are named after a run id so runs never meet. */
#ifndef PC_COMMON_H
#define PC_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "filemap.h"

typedef struct {
    filemap_mapping *mapping;
    filemap_view *view;
    volatile int *value; /* read and written only under the mutex */
    filemap_mutex *lock;
    filemap_event *go, *produced, *seen;
} pc_objects;

static void pc_name(char *out, size_t size, const char *run, const char *what) {
    snprintf(out, size, "pc-c-%s-%s", run, what);
}

static void pc_die(const char *who, const char *what, filemap_status s) {
    fprintf(stderr, "%s: %s: %s (%s)\n", who, what, filemap_last_error_message(),
            filemap_status_name(s));
    exit(1);
}

/* Creates (main) or opens (producer, consumer) the trio's objects. */
static void pc_objects_get(pc_objects *o, const char *who, const char *run, int create) {
    char name[200];
    filemap_status s;
    pc_name(name, sizeof name, run, "value");
    s = create ? filemap_mapping_create_new(name, sizeof(int), &o->mapping)
               : filemap_mapping_open(name, FILEMAP_ACCESS_WRITE, &o->mapping);
    if (s != FILEMAP_OK) pc_die(who, "the shared int", s);
    if ((s = filemap_view_map(o->mapping, 0, sizeof(int), FILEMAP_ACCESS_WRITE, &o->view)) != FILEMAP_OK)
        pc_die(who, "mapping the shared int", s);
    o->value = (volatile int *)filemap_view_data(o->view);
    pc_name(name, sizeof name, run, "lock");
    if ((s = create ? filemap_mutex_create_or_open(name, &o->lock, NULL)
                    : filemap_mutex_open(name, &o->lock)) != FILEMAP_OK)
        pc_die(who, "the mutex", s);
    pc_name(name, sizeof name, run, "go");
    if ((s = create ? filemap_event_create_or_open(name, false, true, &o->go, NULL)
                    : filemap_event_open(name, &o->go)) != FILEMAP_OK)
        pc_die(who, "the go event", s);
    pc_name(name, sizeof name, run, "produced");
    if ((s = create ? filemap_event_create_or_open(name, false, false, &o->produced, NULL)
                    : filemap_event_open(name, &o->produced)) != FILEMAP_OK)
        pc_die(who, "the produced event", s);
    pc_name(name, sizeof name, run, "seen");
    if ((s = create ? filemap_event_create_or_open(name, false, false, &o->seen, NULL)
                    : filemap_event_open(name, &o->seen)) != FILEMAP_OK)
        pc_die(who, "the seen event", s);
}

static void pc_objects_close(pc_objects *o) {
    filemap_event_close(o->seen);
    filemap_event_close(o->produced);
    filemap_event_close(o->go);
    filemap_mutex_close(o->lock);
    filemap_view_unmap(o->view);
    filemap_mapping_close(o->mapping);
}

/* Locks the mutex, saying so if its previous holder died holding it. */
static void pc_lock(pc_objects *o, const char *who, int64_t timeout_ms) {
    bool abandoned = false;
    filemap_status s = filemap_mutex_lock(o->lock, timeout_ms, &abandoned);
    if (s != FILEMAP_OK) pc_die(who, "locking", s);
    if (abandoned)
        printf("%s: the mutex was abandoned (its holder died); the value is %d\n", who, *o->value);
}

static void pc_unlock(pc_objects *o, const char *who) {
    filemap_status s = filemap_mutex_release(o->lock);
    if (s != FILEMAP_OK) pc_die(who, "unlocking", s);
}

#endif
