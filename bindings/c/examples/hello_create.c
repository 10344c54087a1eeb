/* The first program of the classic "Creating Named Shared Memory" tutorial, with filemap:
 * creates a named mapping object, writes a message into a view of it, and keeps it alive
 * until Enter is pressed (the tutorial's _getch()).
 *
 *   hello_create [NAME]     (default: Local\MyFileMappingObject)
 */
#include <stdio.h>
#include <string.h>

#include "filemap.h"

#define BUF_SIZE 256

static int fail(const char *what, filemap_status status) {
    fprintf(stderr, "hello_create: %s: %s (%s)\n", what, filemap_last_error_message(),
            filemap_status_name(status));
    return 1;
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "Local\\MyFileMappingObject";
    const char *message = "Message from first process.";
    filemap_mapping *mapping = NULL;
    filemap_view *view = NULL;
    filemap_status s;

    /* CreateFileMapping(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, BUF_SIZE, name) */
    if ((s = filemap_mapping_create_new(name, BUF_SIZE, &mapping)) != FILEMAP_OK)
        return fail("could not create the file mapping object", s);
    /* MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, BUF_SIZE) */
    if ((s = filemap_view_map(mapping, 0, BUF_SIZE, FILEMAP_ACCESS_WRITE, &view)) != FILEMAP_OK) {
        filemap_mapping_close(mapping);
        return fail("could not map a view", s);
    }
    /* CopyMemory(pBuf, szMsg, ...) */
    memcpy(filemap_view_data(view), message, strlen(message) + 1);
    printf("hello_create: wrote \"%s\" to %s; press Enter to exit\n", message, name);
    fflush(stdout);
    getchar();
    /* UnmapViewOfFile, CloseHandle */
    filemap_view_unmap(view);
    filemap_mapping_close(mapping);
    return 0;
}
