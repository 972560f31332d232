/*
 * Dataset listing: a directory (recursive), a list file, a glob pattern or one file, turned into
 * a list of paths (include/qcal/data.h gives the exact rules). The paths live in one growing
 * string buffer; after listing, an array of pointers into it is built and, for directories and
 * globs, sorted with strcmp() (byte order, independent of the locale).
 */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data.h"

struct qcal_dataset {
    qcal_dataset_kind kind;
    char *spec;
    char *buf; /* all paths, each NUL-terminated */
    size_t buf_len, buf_cap;
    size_t *offs; /* start of each path in buf while listing */
    size_t n, cap;
    char **paths; /* n pointers into buf, final order */
};

/* A directory on the current descent path, to skip symbolic links back to an ancestor. */
typedef struct walk_dir {
    dev_t dev;
    ino_t ino;
    const struct walk_dir *parent;
} walk_dir;

static const char *const KIND_NAMES[] = { "dir", "list", "glob", "file" };

const char *qcal_dataset_kind_name(qcal_dataset_kind kind)
{
    if ((unsigned)kind >= sizeof KIND_NAMES / sizeof KIND_NAMES[0])
        return "unknown";
    return KIND_NAMES[kind];
}

static bool is_data_file(const char *path)
{
    return qcal_data_format_of(path) != QCAL_DATA_UNKNOWN;
}

/* Appends the concatenation a + b as one more path. */
static qcal_status add_path(qcal_dataset *ds, const char *a, size_t la, const char *b, size_t lb,
                            qcal_error *err)
{
    size_t need = la + lb + 1;

    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 256;
        size_t *offs = realloc(ds->offs, cap * sizeof *offs);
        if (!offs)
            return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory listing paths", ds->spec);
        ds->offs = offs;
        ds->cap = cap;
    }
    if (ds->buf_cap - ds->buf_len < need) {
        size_t cap = ds->buf_cap ? ds->buf_cap : 4096;
        while (cap - ds->buf_len < need)
            cap *= 2;
        char *buf = realloc(ds->buf, cap);
        if (!buf)
            return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory listing paths", ds->spec);
        ds->buf = buf;
        ds->buf_cap = cap;
    }
    ds->offs[ds->n++] = ds->buf_len;
    memcpy(ds->buf + ds->buf_len, a, la);
    memcpy(ds->buf + ds->buf_len + la, b, lb);
    ds->buf[ds->buf_len + la + lb] = '\0';
    ds->buf_len += need;
    return QCAL_OK;
}

static int cmp_paths(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Builds ds->paths from the offsets (the buffer no longer moves), optionally sorted. */
static qcal_status finish(qcal_dataset *ds, bool sort, qcal_error *err)
{
    if (ds->n == 0)
        return qcal_error_set(err, QCAL_E_INVALID,
                              "%s: no .png/.jpg/.jpeg/.npy/.raw/.bin files in this %s", ds->spec,
                              qcal_dataset_kind_name(ds->kind));
    ds->paths = malloc(ds->n * sizeof *ds->paths);
    if (!ds->paths)
        return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory listing paths", ds->spec);
    for (size_t i = 0; i < ds->n; i++)
        ds->paths[i] = ds->buf + ds->offs[i];
    free(ds->offs);
    ds->offs = NULL;
    if (sort)
        qsort(ds->paths, ds->n, sizeof *ds->paths, cmp_paths);
    return QCAL_OK;
}

/*
 * Lists the directory held in path[0..len) (path is a growing buffer owned by the caller) and
 * its subdirectories. Entries whose d_type is known avoid a stat(); links and unknown types are
 * stat()ed (following links). A directory equal to one on the descent path is skipped, which
 * breaks link cycles.
 */
static qcal_status walk(qcal_dataset *ds, char **path, size_t *path_cap, size_t len,
                        const walk_dir *parent, qcal_error *err)
{
    qcal_status st = QCAL_OK;
    DIR *dir = NULL;
    struct dirent *de;
    struct stat sb;
    walk_dir self;

    if (stat(*path, &sb) != 0)
        return qcal_error_set(err, QCAL_E_IO, "%s: %s", *path, strerror(errno));
    for (const walk_dir *w = parent; w; w = w->parent)
        if (w->dev == sb.st_dev && w->ino == sb.st_ino)
            return QCAL_OK;
    self.dev = sb.st_dev;
    self.ino = sb.st_ino;
    self.parent = parent;
    dir = opendir(*path);
    if (!dir)
        return qcal_error_set(err, QCAL_E_IO, "%s: %s", *path, strerror(errno));
    for (;;) {
        (*path)[len] = '\0';
        errno = 0;
        de = readdir(dir);
        if (!de) {
            if (errno != 0)
                st = qcal_error_set(err, QCAL_E_IO, "%s: %s", *path, strerror(errno));
            break;
        }
        const char *name = de->d_name;
        size_t nl = strlen(name);
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (len + 1 + nl + 1 > *path_cap) {
            size_t cap = (len + 1 + nl + 1) * 2;
            char *p = realloc(*path, cap);
            if (!p) {
                st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", ds->spec);
                break;
            }
            *path = p;
            *path_cap = cap;
        }
        (*path)[len] = '/';
        memcpy(*path + len + 1, name, nl + 1);
        bool is_dir = de->d_type == DT_DIR, is_reg = de->d_type == DT_REG;
        if (de->d_type == DT_LNK || de->d_type == DT_UNKNOWN) {
            /* Links and file systems without d_type: ask the inode (following links). A broken
             * link is an error only when its name says it is a data file. */
            if (stat(*path, &sb) != 0) {
                if (!is_data_file(name))
                    continue;
                st = qcal_error_set(err, QCAL_E_IO, "%s: %s", *path, strerror(errno));
                break;
            }
            is_dir = S_ISDIR(sb.st_mode);
            is_reg = S_ISREG(sb.st_mode);
        }
        if (is_dir) {
            st = walk(ds, path, path_cap, len + 1 + nl, &self, err);
            if (st != QCAL_OK)
                break;
        } else if (is_reg && is_data_file(name)) {
            st = add_path(ds, *path, len + 1 + nl, "", 0, err);
            if (st != QCAL_OK)
                break;
        }
    }
    closedir(dir);
    return st;
}

static qcal_status open_dir(qcal_dataset *ds, qcal_error *err)
{
    qcal_status st;
    size_t len = strlen(ds->spec);
    size_t cap = len + 256;
    char *path = malloc(cap);

    if (!path)
        return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", ds->spec);
    memcpy(path, ds->spec, len + 1);
    /* "data/" and "data" list the same paths; "/" stays "/" (its entries become "//x"). */
    while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
    st = walk(ds, &path, &cap, len, NULL, err);
    free(path);
    if (st != QCAL_OK)
        return st;
    return finish(ds, true, err);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static qcal_status open_list(qcal_dataset *ds, unsigned flags, qcal_error *err)
{
    qcal_status st = QCAL_OK;
    FILE *fp = fopen(ds->spec, "r");
    char *line = NULL;
    size_t line_cap = 0, lineno = 0;
    ssize_t got;
    const char *slash = strrchr(ds->spec, '/');
    size_t dir_len = slash ? (size_t)(slash - ds->spec) + 1 : 0;

    if (!fp)
        return qcal_error_set(err, QCAL_E_IO, "%s: %s", ds->spec, strerror(errno));
    while ((got = getline(&line, &line_cap, fp)) >= 0) {
        size_t a = 0, b = (size_t)got;
        lineno++;
        if (memchr(line, '\0', (size_t)got)) {
            st = qcal_error_set(err, QCAL_E_INVALID, "%s:%zu: NUL byte in list file", ds->spec,
                                lineno);
            break;
        }
        while (a < b && is_blank(line[a]))
            a++;
        while (b > a && is_blank(line[b - 1]))
            b--;
        if (a == b || line[a] == '#')
            continue;
        line[b] = '\0';
        const char *entry = line + a;
        if (!is_data_file(entry)) {
            st = qcal_error_set(err, QCAL_E_INVALID,
                                "%s:%zu: '%s' is not a .png/.jpg/.jpeg/.npy/.raw/.bin file",
                                ds->spec, lineno, entry);
            break;
        }
        if (entry[0] == '/')
            st = add_path(ds, entry, b - a, "", 0, err);
        else
            st = add_path(ds, ds->spec, dir_len, entry, b - a, err);
        if (st != QCAL_OK)
            break;
        if (flags & QCAL_DATASET_CHECK) {
            const char *p = ds->buf + ds->offs[ds->n - 1];
            struct stat sb;
            if (stat(p, &sb) != 0) {
                st = qcal_error_set(err, QCAL_E_IO, "%s:%zu: %s: %s", ds->spec, lineno, p,
                                    strerror(errno));
                break;
            }
            if (S_ISDIR(sb.st_mode)) {
                st = qcal_error_set(err, QCAL_E_INVALID, "%s:%zu: %s is a directory", ds->spec,
                                    lineno, p);
                break;
            }
        }
    }
    if (st == QCAL_OK && ferror(fp))
        st = qcal_error_set(err, QCAL_E_IO, "%s: read error", ds->spec);
    free(line);
    fclose(fp);
    if (st != QCAL_OK)
        return st;
    return finish(ds, false, err);
}

static qcal_status open_glob(qcal_dataset *ds, qcal_error *err)
{
    qcal_status st = QCAL_OK;
    glob_t g;
    int rc;

    memset(&g, 0, sizeof g);
    /* GLOB_MARK appends '/' to directories, so they are dropped without a stat(). */
    rc = glob(ds->spec, GLOB_MARK | GLOB_NOSORT, NULL, &g);
    if (rc == GLOB_NOMATCH)
        st = qcal_error_set(err, QCAL_E_IO, "%s: no file matches this pattern", ds->spec);
    else if (rc == GLOB_NOSPACE)
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory in glob", ds->spec);
    else if (rc != 0)
        st = qcal_error_set(err, QCAL_E_IO, "%s: glob failed (read error)", ds->spec);
    for (size_t i = 0; st == QCAL_OK && i < g.gl_pathc; i++) {
        const char *p = g.gl_pathv[i];
        size_t len = strlen(p);
        if (len == 0 || p[len - 1] == '/' || !is_data_file(p))
            continue;
        st = add_path(ds, p, len, "", 0, err);
    }
    if (rc == 0 || rc == GLOB_NOMATCH)
        globfree(&g);
    if (st != QCAL_OK)
        return st;
    return finish(ds, true, err);
}

qcal_status qcal_dataset_open(const char *spec, unsigned flags, qcal_dataset **out,
                              qcal_error *err)
{
    qcal_status st;
    qcal_dataset *ds;
    struct stat sb;

    *out = NULL;
    if (!spec || !*spec)
        return qcal_error_set(err, QCAL_E_INVALID, "empty dataset path");
    ds = calloc(1, sizeof *ds);
    if (!ds)
        return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", spec);
    ds->spec = strdup(spec);
    if (!ds->spec) {
        free(ds);
        return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", spec);
    }
    if (stat(spec, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            ds->kind = QCAL_DATASET_DIR;
            st = open_dir(ds, err);
        } else if (is_data_file(spec)) {
            ds->kind = QCAL_DATASET_FILE;
            st = add_path(ds, spec, strlen(spec), "", 0, err);
            if (st == QCAL_OK)
                st = finish(ds, false, err);
        } else {
            ds->kind = QCAL_DATASET_LIST;
            st = open_list(ds, flags, err);
        }
    } else if (errno == ENOENT && strpbrk(spec, "*?[")) {
        ds->kind = QCAL_DATASET_GLOB;
        st = open_glob(ds, err);
    } else {
        st = qcal_error_set(err, QCAL_E_IO, "%s: %s", spec, strerror(errno));
    }
    if (st != QCAL_OK) {
        qcal_dataset_close(ds);
        return st;
    }
    *out = ds;
    return QCAL_OK;
}

void qcal_dataset_close(qcal_dataset *ds)
{
    if (!ds)
        return;
    free(ds->spec);
    free(ds->buf);
    free(ds->offs);
    free(ds->paths);
    free(ds);
}

size_t qcal_dataset_count(const qcal_dataset *ds)
{
    return ds->n;
}

const char *qcal_dataset_path(const qcal_dataset *ds, size_t i)
{
    return i < ds->n ? ds->paths[i] : NULL;
}

qcal_dataset_kind qcal_dataset_get_kind(const qcal_dataset *ds)
{
    return ds->kind;
}

const char *qcal_dataset_spec(const qcal_dataset *ds)
{
    return ds->spec;
}
