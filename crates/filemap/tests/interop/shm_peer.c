/*
 * A C program using POSIX shared memory the plain way: shm_open + mmap.
 *
 *   shm_peer raw NAME     opens the foreign segment NAME, prints its first 9 bytes,
 *                         writes "from c" at offset 100
 *   shm_peer filemap SEG  opens the filemap object whose segment is SEG, finds the data
 *                         through the header (data offset: u64 at byte 32), prints the
 *                         first 12 data bytes and writes "c was here" 200 bytes in
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: shm_peer raw|filemap NAME\n");
        return 2;
    }
    char path[300];
    snprintf(path, sizeof path, "/%s", argv[2]);
    int fd = shm_open(path, O_RDWR, 0);
    if (fd < 0) { perror("shm_open"); return 1; }
    struct stat st;
    if (fstat(fd, &st) != 0) { perror("fstat"); return 1; }
    unsigned char *p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    if (strcmp(argv[1], "raw") == 0) {
        printf("%.9s\n", (const char *)p);
        memcpy(p + 100, "from c", 6);
    } else {
        if (memcmp(p, "FILEMAP\0", 8) != 0) { fprintf(stderr, "no filemap header\n"); return 1; }
        uint64_t offset;
        memcpy(&offset, p + 32, 8); /* little-endian hosts */
        printf("%.12s\n", (const char *)(p + offset));
        memcpy(p + offset + 200, "c was here", 10);
    }
    munmap(p, st.st_size);
    close(fd);
    return 0;
}
