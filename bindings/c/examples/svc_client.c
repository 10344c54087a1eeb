/* A client: sends TEXT as a request and prints the responses as they come (the server
 * streams two), then asks again with filemap_client_call, which joins them. With --quit it
 * sets the server's quit event instead.
 *
 *   svc_client SERVICE TEXT
 *   svc_client SERVICE --quit
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filemap.h"

static int fail(const char *what, filemap_status s) {
    fprintf(stderr, "svc_client: %s: %s (%s)\n", what, filemap_last_error_message(),
            filemap_status_name(s));
    return 1;
}

static int quit(const char *service) {
    filemap_event *event = NULL;
    filemap_status s;
    char name[256];
    snprintf(name, sizeof name, "%s-quit", service);
    if ((s = filemap_event_open(name, &event)) != FILEMAP_OK) return fail("opening quit", s);
    s = filemap_event_set(event);
    filemap_event_close(event);
    return s == FILEMAP_OK ? 0 : fail("setting quit", s);
}

int main(int argc, char **argv) {
    filemap_client *client = NULL;
    filemap_request_id sent, answers;
    filemap_status s;
    const void *data;
    size_t len;
    bool last = false;
    int part = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: svc_client SERVICE TEXT | svc_client SERVICE --quit\n");
        return 2;
    }
    if (strcmp(argv[2], "--quit") == 0) return quit(argv[1]);
    if ((s = filemap_client_create_or_open(argv[1], NULL, &client)) != FILEMAP_OK)
        return fail("joining the service", s);
    if ((s = filemap_client_send_request(client, argv[2], strlen(argv[2]), &sent)) !=
        FILEMAP_OK) {
        filemap_client_close(client);
        return fail("sending the request", s);
    }
    while (!last) {
        s = filemap_client_recv_response(client, 30000, &data, &len, &answers, &last);
        if (s != FILEMAP_OK) {
            filemap_client_close(client);
            return fail("receiving a response", s);
        }
        if (answers.client != sent.client || answers.number != sent.number) {
            fprintf(stderr, "svc_client: a response to another request\n");
            filemap_client_close(client);
            return 1;
        }
        printf("svc_client: part %d%s: %.*s\n", ++part, last ? " (last)" : "", (int)len,
               (const char *)data);
    }
    if ((s = filemap_client_call(client, argv[2], strlen(argv[2]), 30000, &data, &len)) !=
        FILEMAP_OK) {
        filemap_client_close(client);
        return fail("calling", s);
    }
    printf("svc_client: call: %.*s\n", (int)len, (const char *)data);
    filemap_client_close(client);
    return 0;
}
