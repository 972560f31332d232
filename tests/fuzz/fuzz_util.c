/* Helpers shared by the fuzz harnesses (fuzz.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static char g_dir[PATH_MAX];

static void die(const char *what)
{
    fprintf(stderr, "fuzz: %s: %s\n", what, strerror(errno));
    abort();
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : 0; /* best effort */
}

static void cleanup(void)
{
    if (g_dir[0])
        nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_dir(void)
{
    if (!g_dir[0]) {
        const char *base = getenv("TMPDIR");
        struct stat sb;
        if (!base || !base[0])
            base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
        if (snprintf(g_dir, sizeof g_dir, "%s/qcal-fuzz.XXXXXX", base) >= (int)sizeof g_dir)
            die("TMPDIR too long");
        if (!mkdtemp(g_dir))
            die(g_dir);
        atexit(cleanup);
    }
    return g_dir;
}

const char *fuzz_path(const char *name)
{
    static char path[PATH_MAX];

    if (snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        die(name);
    }
    return path;
}

const char *fuzz_write(const char *name, const void *data, size_t size)
{
    const char *path = fuzz_path(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const unsigned char *p = data;

    if (fd < 0)
        die(path);
    while (size > 0) {
        ssize_t w = write(fd, p, size);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die(path);
        p += w;
        size -= (size_t)w;
    }
    if (close(fd) != 0)
        die(path);
    return path;
}

void fuzz_make(const char *rel)
{
    char path[PATH_MAX];
    size_t n;

    if (snprintf(path, sizeof path, "%s/%s", fuzz_dir(), rel) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        die(rel);
    }
    n = strlen(path);
    for (size_t i = strlen(fuzz_dir()) + 1; i < n; i++) {
        if (path[i] != '/')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            die(path);
        path[i] = '/';
    }
    if (path[n - 1] != '/') {
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || close(fd) != 0)
            die(path);
    }
}

uint64_t fuzz_hash(const void *data, size_t size)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < size; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

void fuzz_touch(const void *p, size_t n)
{
    const volatile unsigned char *b = p;
    unsigned char acc = 0;

    for (size_t i = 0; i < n; i++)
        acc ^= b[i];
    (void)acc;
}

void fuzz_note(const char *what, const char *msg)
{
    static int verbose = -1;

    if (verbose < 0)
        verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "  %s: %s\n", what, msg);
}
