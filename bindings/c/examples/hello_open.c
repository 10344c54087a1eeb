/* The second program of the classic tutorial: opens the named mapping object the first
 * one made and prints its message (the tutorial's MessageBox).
 *
 *   hello_open [NAME]       (default: Local\MyFileMappingObject)
 */
#include <stdio.h>

#include "filemap.h"

#define BUF_SIZE 256

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "Local\\MyFileMappingObject";
    filemap_mapping *mapping = NULL;
    filemap_view *view = NULL;
    filemap_status s;

    /* OpenFileMapping(FILE_MAP_ALL_ACCESS, FALSE, name) */
    if ((s = filemap_mapping_open(name, FILEMAP_ACCESS_READ, &mapping)) != FILEMAP_OK) {
        fprintf(stderr, "hello_open: could not open the file mapping object: %s (%s)\n",
                filemap_last_error_message(), filemap_status_name(s));
        return 1;
    }
    if ((s = filemap_view_map(mapping, 0, BUF_SIZE, FILEMAP_ACCESS_READ, &view)) != FILEMAP_OK) {
        fprintf(stderr, "hello_open: could not map a view: %s\n", filemap_last_error_message());
        filemap_mapping_close(mapping);
        return 1;
    }
    /* The message is copied out, bounded by the view (the other process may write it
     * meanwhile, and may have left no NUL), then printed up to its NUL. */
    char message[BUF_SIZE + 1] = {0};
    if ((s = filemap_view_read(view, 0, message, BUF_SIZE)) != FILEMAP_OK) {
        fprintf(stderr, "hello_open: could not read the message: %s\n",
                filemap_last_error_message());
        filemap_view_unmap(view);
        filemap_mapping_close(mapping);
        return 1;
    }
    printf("hello_open: %s\n", message);
    filemap_view_unmap(view);
    filemap_mapping_close(mapping);
    return 0;
}
