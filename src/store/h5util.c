/* HDF5 helpers of the store module (see h5util.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/h5util.h"
#include "util/atomic.h"

/* Bytes kept of an object's path in messages ("/encodings/minmax-a8-w8/act_scale"). */
#define OBJ_MAX 256

void qcal__h5_quiet(qcal__h5_auto *saved)
{
    saved->func = NULL;
    saved->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &saved->func, &saved->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void qcal__h5_loud(const qcal__h5_auto *saved)
{
    H5Eset_auto2(H5E_DEFAULT, saved->func, saved->data);
}

typedef struct walk_data {
    char desc[512];
    int found;
} walk_data;

/* Keeps the first (walking upward: the most specific) non-empty description on the stack. */
static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    walk_data *w = data;

    (void)n;
    if (!w->found && e->desc && e->desc[0]) {
        snprintf(w->desc, sizeof w->desc, "%s", e->desc);
        w->found = 1;
    }
    return 0;
}

/*
 * The detail of the last HDF5 failure. The sec2 driver's messages carry the OS error as
 * "error message = '...'", which is all a user needs; other messages are kept whole.
 */
static void h5_detail(char *out, size_t size)
{
    static const char key[] = "error message = '";
    walk_data w = { .desc = "", .found = 0 };
    const char *p, *q;

    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    p = strstr(w.desc, key);
    if (p) {
        p += sizeof key - 1;
        q = strchr(p, '\'');
        snprintf(out, size, "%.*s", (int)(q ? (size_t)(q - p) : strlen(p)), p);
    } else {
        snprintf(out, size, "%s", w.desc);
    }
}

qcal_status qcal__h5_fail(const qcal__h5 *h, const char *fmt, ...)
{
    char step[320], detail[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(step, sizeof step, fmt, ap);
    va_end(ap);
    h5_detail(detail, sizeof detail);
    if (detail[0])
        return qcal_error_set(h->err, h->code, "%s: %s failed: %s", h->path, step, detail);
    return qcal_error_set(h->err, h->code, "%s: %s failed", h->path, step);
}

/* "<path of loc>/<name>" for messages; the root's members are "/<name>". */
static const char *objname(hid_t loc, const char *name, char *buf)
{
    char where[OBJ_MAX];
    ssize_t len = H5Iget_name(loc, where, sizeof where);

    size_t used, nlen = strlen(name);

    if (len <= 0 || (len == 1 && where[0] == '/'))
        where[0] = '\0';
    /* Built by hand: snprintf of two unbounded parts trips -Wformat-truncation. */
    used = strnlen(where, OBJ_MAX - 2);
    memcpy(buf, where, used);
    buf[used++] = '/';
    if (nlen > OBJ_MAX - 1 - used)
        nlen = OBJ_MAX - 1 - used;
    memcpy(buf + used, name, nlen);
    buf[used + nlen] = '\0';
    return buf;
}

/* A variable-length UTF-8 string type (closed by the caller). */
static hid_t vlen_utf8(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);

    if (t < 0)
        return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

hid_t qcal__h5_group_create(hid_t loc, const char *name, int track_order)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE), g = -1;

    if (gcpl < 0)
        return -1;
    if (H5Pset_obj_track_times(gcpl, 0) >= 0 &&
        (!track_order ||
         H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0))
        g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

qcal_status qcal__h5_write_array(const qcal__h5 *h, hid_t loc, const char *name, hid_t ftype,
                                 hid_t mtype, size_t n0, size_t cols, const void *data)
{
    hsize_t dims[2] = { (hsize_t)n0, (hsize_t)cols };
    hid_t space = -1, dcpl = -1, dset = -1;
    qcal_status st = QCAL_OK;
    char obj[OBJ_MAX];

    objname(loc, name, obj);
    QCAL__H5_CHECK(h, space = H5Screate_simple(cols ? 2 : 1, dims, NULL),
                   "create dataspace of %s", obj);
    QCAL__H5_CHECK(h, dcpl = H5Pcreate(H5P_DATASET_CREATE), "create properties of %s", obj);
    QCAL__H5_CHECK(h, H5Pset_obj_track_times(dcpl, 0), "set properties of %s", obj);
    QCAL__H5_CHECK(h, dset = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                   "create dataset %s", obj);
    if (n0 > 0)
        QCAL__H5_CHECK(h, H5Dwrite(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "write %s",
                       obj);
out:
    if (dset >= 0)
        H5Dclose(dset);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return st;
}

/* A copy of v[0..n) with NULL replaced by "" (HDF5 would store NULL as a null string, which
 * readers see as None). NULL when n is 0 or on allocation failure (*ok says which). */
static const char **strings_or_empty(const char *const *v, size_t n, int *ok)
{
    const char **c;

    *ok = 1;
    if (n == 0)
        return NULL;
    c = malloc(n * sizeof *c);
    if (!c) {
        *ok = 0;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        c[i] = (v && v[i]) ? v[i] : "";
    return c;
}

qcal_status qcal__h5_write_strings(const qcal__h5 *h, hid_t loc, const char *name,
                                   const char *const *v, size_t n)
{
    hid_t t = -1;
    qcal_status st = QCAL_OK;
    int ok;
    const char **c = strings_or_empty(v, n, &ok);
    char obj[OBJ_MAX];

    if (!ok)
        return qcal_error_set(h->err, QCAL_E_NOMEM, "%s: out of memory writing %s", h->path,
                              objname(loc, name, obj));
    QCAL__H5_CHECK(h, t = vlen_utf8(), "create string type");
    st = qcal__h5_write_array(h, loc, name, t, t, n, 0, c);
out:
    if (t >= 0)
        H5Tclose(t);
    free(c);
    return st;
}

/* Creates attribute `name` of type ftype and shape (n values, or a scalar when scalar is
 * non-zero) and writes buf as mtype. */
static qcal_status attr_write(const qcal__h5 *h, hid_t loc, const char *name, hid_t ftype,
                              hid_t mtype, int scalar, size_t n, const void *buf)
{
    hsize_t dims[1] = { (hsize_t)n };
    hid_t space = -1, attr = -1;
    qcal_status st = QCAL_OK;
    char obj[OBJ_MAX];

    objname(loc, name, obj);
    QCAL__H5_CHECK(h, space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL),
                   "create dataspace of attribute %s", obj);
    QCAL__H5_CHECK(h, attr = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT),
                   "create attribute %s", obj);
    if (scalar || n > 0)
        QCAL__H5_CHECK(h, H5Awrite(attr, mtype, buf), "write attribute %s", obj);
out:
    if (attr >= 0)
        H5Aclose(attr);
    if (space >= 0)
        H5Sclose(space);
    return st;
}

qcal_status qcal__h5_attr_string(const qcal__h5 *h, hid_t loc, const char *name, const char *v)
{
    hid_t t = -1;
    qcal_status st = QCAL_OK;
    const char *s = v ? v : "";

    QCAL__H5_CHECK(h, t = vlen_utf8(), "create string type");
    st = attr_write(h, loc, name, t, t, 1, 1, &s);
out:
    if (t >= 0)
        H5Tclose(t);
    return st;
}

qcal_status qcal__h5_attr_strings(const qcal__h5 *h, hid_t loc, const char *name,
                                  const char *const *v, size_t n)
{
    hid_t t = -1;
    qcal_status st = QCAL_OK;
    int ok;
    const char **c = strings_or_empty(v, n, &ok);
    char obj[OBJ_MAX];

    if (!ok)
        return qcal_error_set(h->err, QCAL_E_NOMEM, "%s: out of memory writing %s", h->path,
                              objname(loc, name, obj));
    QCAL__H5_CHECK(h, t = vlen_utf8(), "create string type");
    st = attr_write(h, loc, name, t, t, 0, n, c);
out:
    if (t >= 0)
        H5Tclose(t);
    free(c);
    return st;
}

qcal_status qcal__h5_attr_scalar(const qcal__h5 *h, hid_t loc, const char *name, hid_t ftype,
                                 hid_t mtype, const void *v)
{
    return attr_write(h, loc, name, ftype, mtype, 1, 1, v);
}

qcal_status qcal__h5_attr_vector(const qcal__h5 *h, hid_t loc, const char *name, hid_t ftype,
                                 hid_t mtype, size_t n, const void *v)
{
    return attr_write(h, loc, name, ftype, mtype, 0, n, v);
}

/* Opens dataset `name` (missing: an error naming it). */
static qcal_status dset_open(const qcal__h5 *h, hid_t loc, const char *name, hid_t *out)
{
    char obj[OBJ_MAX];
    htri_t ex = H5Lexists(loc, name, H5P_DEFAULT);

    objname(loc, name, obj);
    *out = -1;
    if (ex <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: missing dataset %s", h->path, obj);
    }
    *out = H5Dopen2(loc, name, H5P_DEFAULT);
    if (*out < 0)
        return qcal__h5_fail(h, "open dataset %s", obj);
    return QCAL_OK;
}

/* Checks that space has `rank` dimensions and stores them in dims. */
static qcal_status space_dims(const qcal__h5 *h, hid_t space, const char *obj, int rank,
                              size_t *dims)
{
    hsize_t d[2] = { 0, 0 };
    int r = H5Sget_simple_extent_ndims(space);

    if (r < 0)
        return qcal__h5_fail(h, "read the shape of %s", obj);
    if (r != rank)
        return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: %s has %d dimensions, expected %d",
                              h->path, obj, r, rank);
    H5Sget_simple_extent_dims(space, d, NULL);
    for (int i = 0; i < rank; i++) {
        if (d[i] > (hsize_t)SIZE_MAX / 64)
            return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: %s is too large", h->path, obj);
        dims[i] = (size_t)d[i];
    }
    return QCAL_OK;
}

qcal_status qcal__h5_dims(const qcal__h5 *h, hid_t loc, const char *name, int rank,
                          size_t *dims)
{
    hid_t dset = -1, space = -1;
    qcal_status st;
    char obj[OBJ_MAX];

    objname(loc, name, obj);
    st = dset_open(h, loc, name, &dset);
    if (st != QCAL_OK)
        return st;
    QCAL__H5_CHECK(h, space = H5Dget_space(dset), "read the shape of %s", obj);
    st = space_dims(h, space, obj, rank, dims);
out:
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(dset);
    return st;
}

/* Checks that dataset dset (named obj) is exactly [n0] or [n0, cols]; returns its space. */
static qcal_status check_shape(const qcal__h5 *h, hid_t dset, const char *obj, size_t n0,
                               size_t cols, hid_t *space)
{
    size_t dims[2] = { 0, 0 };
    qcal_status st;

    *space = H5Dget_space(dset);
    if (*space < 0)
        return qcal__h5_fail(h, "read the shape of %s", obj);
    st = space_dims(h, *space, obj, cols ? 2 : 1, dims);
    if (st == QCAL_OK && (dims[0] != n0 || (cols && dims[1] != cols)))
        st = cols ? qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: %s is [%zu, %zu], expected [%zu, "
                                   "%zu]", h->path, obj, dims[0], dims[1], n0, cols)
                  : qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: %s has %zu rows, expected %zu",
                                   h->path, obj, dims[0], n0);
    return st;
}

/* The stored type of a numeric dataset or attribute must be of the class it is read as (an
 * integer column stored as floats would be truncated silently, a string one not converted). */
static qcal_status check_class(const qcal__h5 *h, hid_t ftype, hid_t mtype, const char *obj)
{
    H5T_class_t fc = ftype >= 0 ? H5Tget_class(ftype) : H5T_NO_CLASS;

    if (fc == H5T_NO_CLASS)
        return qcal__h5_fail(h, "read the type of %s", obj);
    if (fc != H5Tget_class(mtype))
        return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: %s is stored as %s, expected %s",
                              h->path, obj, fc == H5T_INTEGER ? "integers" : fc == H5T_FLOAT ?
                              "floating-point numbers" : fc == H5T_STRING ? "strings" :
                              "another type", H5Tget_class(mtype) == H5T_INTEGER ? "integers"
                              : "floating-point numbers");
    return QCAL_OK;
}

qcal_status qcal__h5_read_array(const qcal__h5 *h, hid_t loc, const char *name, hid_t mtype,
                                size_t n0, size_t cols, void *out)
{
    hid_t dset = -1, space = -1, ftype = -1;
    qcal_status st;
    char obj[OBJ_MAX];

    objname(loc, name, obj);
    st = dset_open(h, loc, name, &dset);
    if (st != QCAL_OK)
        return st;
    st = check_shape(h, dset, obj, n0, cols, &space);
    if (st != QCAL_OK)
        goto out;
    ftype = H5Dget_type(dset);
    st = check_class(h, ftype, mtype, obj);
    if (st != QCAL_OK)
        goto out;
    if (n0 > 0)
        QCAL__H5_CHECK(h, H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out), "read %s",
                       obj);
out:
    if (ftype >= 0)
        H5Tclose(ftype);
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(dset);
    return st;
}

void qcal__h5_free_strings(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- variable-length string references ----------------------------------------------------
 *
 * A variable-length string element on disk is (length: uint32, global heap collection address:
 * sizeof_addr bytes, object index: uint32). HDF5 1.10's H5HG_read trusts the index (an
 * assertion only) and copies the heap object's size into a buffer of the element's length, so
 * a damaged column crashes it. Before any H5Dread of such a column, check_vlen_refs reads the
 * raw elements and each referenced collection itself (file format: "GCOL", version 1, 3
 * reserved bytes, collection size; then objects of (index: uint16, reference count: uint16,
 * 4 reserved, size: sizeof_size) with their data padded to 8 bytes, index 0 being the free
 * space) and requires every non-empty element to name an existing object of exactly its
 * length inside the collection and the file.
 */

/* Little-endian unsigned integer of n (<= 8) bytes. */
static uint64_t le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static bool read_at(int fd, void *buf, size_t n, uint64_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r <= 0)
            return false;
        done += (size_t)r;
    }
    return true;
}

/* The objects of the collection at absolute offset addr: sizes[idx] (UINT64_MAX: absent). */
static bool parse_collection(int fd, uint64_t fsize, uint64_t addr, size_t ssize,
                             uint64_t *sizes)
{
    unsigned char hdr[24];
    uint64_t csize, pos, end;
    size_t hlen = 8 + ssize, olen = (4 + 4 + ssize + 7) / 8 * 8;

    for (size_t i = 0; i < 65536; i++)
        sizes[i] = UINT64_MAX;
    if (addr > fsize || fsize - addr < hlen || !read_at(fd, hdr, hlen, addr) ||
        memcmp(hdr, "GCOL", 4) != 0 || hdr[4] != 1)
        return false;
    csize = le(hdr + 8, ssize);
    if (csize < hlen || csize > fsize - addr)
        return false;
    end = addr + csize;
    for (pos = addr + hlen; end - pos >= olen; ) {
        unsigned char o[24];
        uint64_t idx, size, padded;
        if (!read_at(fd, o, olen, pos))
            return false;
        idx = le(o, 2);
        size = le(o + 8, ssize);
        if (idx == 0) /* the free space: the rest of the collection */
            break;
        padded = size > UINT64_MAX - 7 ? UINT64_MAX : (size + 7) / 8 * 8;
        if (padded > end - pos - olen || sizes[idx] != UINT64_MAX)
            return false;
        sizes[idx] = size;
        pos += olen + padded;
    }
    return true;
}

/* What the reference checks need to know about the open file. */
typedef struct raw_file {
    int fd;
    uint64_t size, base;  /* file size; base address (the user block) */
    size_t asize, ssize;  /* sizes of addresses and lengths in the file */
} raw_file;

/* Opens h->path for raw reads, with the geometry of the HDF5 file that loc belongs to. */
static qcal_status raw_open(const qcal__h5 *h, hid_t loc, const char *obj, raw_file *rf)
{
    hid_t fid = -1, fcpl = -1;
    hsize_t ub = 0;
    struct stat sb;
    qcal_status st = QCAL_OK;

    rf->fd = -1;
    QCAL__H5_CHECK(h, fid = H5Iget_file_id(loc), "read the file of %s", obj);
    QCAL__H5_CHECK(h, fcpl = H5Fget_create_plist(fid), "read the properties of %s", obj);
    QCAL__H5_CHECK(h, H5Pget_sizes(fcpl, &rf->asize, &rf->ssize), "read the properties of %s",
                   obj);
    QCAL__H5_CHECK(h, H5Pget_userblock(fcpl, &ub), "read the properties of %s", obj);
    rf->base = (uint64_t)ub;
    if (rf->asize < 1 || rf->asize > 8 || rf->ssize < 1 || rf->ssize > 8) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: unexpected address sizes (%zu, %zu)",
                            h->path, rf->asize, rf->ssize);
        goto out;
    }
    rf->fd = open(h->path, O_RDONLY | O_CLOEXEC);
    if (rf->fd < 0 || fstat(rf->fd, &sb) != 0) {
        st = qcal_error_set(h->err, QCAL_E_IO, "%s: %s", h->path, strerror(errno));
        goto out;
    }
    rf->size = (uint64_t)sb.st_size;
out:
    if (st != QCAL_OK && rf->fd >= 0) {
        close(rf->fd);
        rf->fd = -1;
    }
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fid >= 0)
        H5Fclose(fid);
    return st;
}

/* Checks the n raw references at raw (each 4 + asize + 4 bytes) against the heap. */
static qcal_status check_refs(const qcal__h5 *h, const raw_file *rf, const unsigned char *raw,
                              size_t n, const char *obj)
{
    size_t esize = 4 + rf->asize + 4;
    uint64_t *sizes = n ? malloc(65536 * sizeof *sizes) : NULL, cached = UINT64_MAX;
    qcal_status st = QCAL_OK;

    if (n && !sizes)
        return qcal_error_set(h->err, QCAL_E_NOMEM, "%s: out of memory reading %s", h->path,
                              obj);
    for (size_t i = 0; i < n && st == QCAL_OK; i++) {
        const unsigned char *e = raw + i * esize;
        uint64_t len = le(e, 4), addr = le(e + 4, rf->asize), idx = le(e + 4 + rf->asize, 4);
        if (len == 0)
            continue; /* read as "" without touching the heap */
        if (addr > UINT64_MAX - rf->base || idx == 0 || idx > 65535) {
            st = QCAL_E_CORRUPT;
        } else if (addr + rf->base != cached) {
            cached = addr + rf->base;
            if (!parse_collection(rf->fd, rf->size, cached, rf->ssize, sizes)) {
                cached = UINT64_MAX;
                st = QCAL_E_CORRUPT;
            }
        }
        if (st == QCAL_OK && sizes[idx] != len)
            st = QCAL_E_CORRUPT;
        if (st != QCAL_OK)
            st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: %s: row %zu references a string "
                                "that is not in the file (damaged heap reference)", h->path, obj,
                                i);
    }
    free(sizes);
    return st;
}

static qcal_status check_vlen_refs(const qcal__h5 *h, hid_t dset, const char *obj, size_t n)
{
    raw_file rf;
    size_t esize;
    haddr_t off;
    unsigned char *raw = NULL;
    qcal_status st = raw_open(h, dset, obj, &rf);

    if (st != QCAL_OK)
        return st;
    esize = 4 + rf.asize + 4;
    off = H5Dget_offset(dset);
    H5Eclear2(H5E_DEFAULT);
    if (off == HADDR_UNDEF || H5Dget_storage_size(dset) != (hsize_t)n * esize) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: %s: the strings are not stored as one "
                            "contiguous block of %zu references", h->path, obj, n);
        goto out;
    }
    if (!(raw = malloc(n * esize))) {
        st = qcal_error_set(h->err, QCAL_E_NOMEM, "%s: out of memory reading %s", h->path, obj);
        goto out;
    }
    if ((uint64_t)off > rf.size || rf.size - (uint64_t)off < n * esize ||
        !read_at(rf.fd, raw, n * esize, (uint64_t)off)) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: %s: the string references lie outside "
                            "the file", h->path, obj);
        goto out;
    }
    st = check_refs(h, &rf, raw, n, obj);
out:
    close(rf.fd);
    free(raw);
    return st;
}

/*
 * The same for the n-element variable-length string attribute `name` of object loc, whose raw
 * references live in loc's object header: the version 1 header (all qcal and h5py files; the
 * prefix is version 1, reserved, message count u16, reference count u32, chunk size u32, padded
 * to 16) is walked chunk by chunk (messages: type u16, size u16, flags u8, 3 reserved, data;
 * type 0x10 continues at (address, length), type 0x0C is an attribute: version, reserved, name
 * size u16, datatype size u16, dataspace size u16, [encoding u8 in version 3], then the name,
 * datatype and dataspace, each padded to 8 bytes in version 1, then the data).
 */
static qcal_status check_attr_vlen_refs(const qcal__h5 *h, hid_t loc, const char *name,
                                        const char *obj, size_t n)
{
    enum { MAX_CHUNKS = 64, MAX_CHUNK = 1 << 20 };
    raw_file rf;
    H5O_info_t oi;
    uint64_t chunk_at[MAX_CHUNKS], chunk_len[MAX_CHUNKS];
    size_t n_chunks = 0, nlen = strlen(name) + 1, esize;
    unsigned char pre[16], *c = NULL;
    bool found = false, damaged = false;
    char what[OBJ_MAX + 16];
    qcal_status st;

    snprintf(what, sizeof what, "attribute %s", obj);

    if (H5Oget_info2(loc, &oi, H5O_INFO_BASIC) < 0)
        return qcal__h5_fail(h, "read the object header of %s", obj);
    st = raw_open(h, loc, obj, &rf);
    if (st != QCAL_OK)
        return st;
    esize = 4 + rf.asize + 4;
    if ((uint64_t)oi.addr > UINT64_MAX - rf.base - 16 || oi.addr + rf.base + 16 > rf.size ||
        !read_at(rf.fd, pre, 16, oi.addr + rf.base) || pre[0] != 1) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: %s: the object header is damaged or "
                            "not of version 1", h->path, obj);
        goto out;
    }
    chunk_at[0] = oi.addr + rf.base + 16;
    chunk_len[0] = le(pre + 8, 4);
    n_chunks = 1;
    for (size_t k = 0; k < n_chunks && !found && !damaged; k++) {
        uint64_t len = chunk_len[k];
        if (len > MAX_CHUNK || chunk_at[k] > rf.size || rf.size - chunk_at[k] < len ||
            !(c = malloc(len ? len : 1)) || !read_at(rf.fd, c, len, chunk_at[k])) {
            damaged = true;
            break;
        }
        for (uint64_t pos = 0; pos + 8 <= len && !found && !damaged;) {
            unsigned type = (unsigned)le(c + pos, 2);
            uint64_t msize = le(c + pos + 2, 2);
            const unsigned char *m = c + pos + 8;
            if (msize > len - pos - 8) {
                damaged = true;
                break;
            }
            if (type == 0x10) {
                if (msize < rf.asize + rf.ssize || n_chunks == MAX_CHUNKS ||
                    le(m, rf.asize) > UINT64_MAX - rf.base) {
                    damaged = true;
                    break;
                }
                chunk_at[n_chunks] = le(m, rf.asize) + rf.base;
                chunk_len[n_chunks++] = le(m + rf.asize, rf.ssize);
            } else if (type == 0x0C && msize >= 8 && (m[0] >= 1 && m[0] <= 3) &&
                       le(m + 2, 2) == nlen) {
                int v = m[0];
                uint64_t dts = le(m + 4, 2), dss = le(m + 6, 2), off = v == 3 ? 9 : 8;
                uint64_t pn = v == 1 ? (nlen + 7) / 8 * 8 : nlen;
                uint64_t pt = v == 1 ? (dts + 7) / 8 * 8 : dts;
                uint64_t ps = v == 1 ? (dss + 7) / 8 * 8 : dss;
                if (off + pn <= msize && memcmp(m + off, name, nlen) == 0) {
                    uint64_t data = off + pn + pt + ps;
                    found = true;
                    /* A variable-length string type: class 9 (vlen), type 1 (string). */
                    if (dts < 2 || off + pn + dts > msize || (m[off + pn] & 0x0F) != 9 ||
                        (m[off + pn + 1] & 0x0F) != 1 || data > msize ||
                        (msize - data) < (uint64_t)n * esize)
                        damaged = true;
                    else
                        st = check_refs(h, &rf, m + data, n, what);
                }
            }
            pos += 8 + msize;
        }
        free(c);
        c = NULL;
    }
    if (damaged || !found)
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: attribute %s: its object header is "
                            "damaged (the string references cannot be checked)", h->path, obj);
out:
    free(c);
    close(rf.fd);
    return st;
}

/*
 * Reads the n strings of a dataset (is_attr 0) or attribute (is_attr 1) obj_id with file type
 * ftype and dataspace space into malloc'd copies out[0..n). Variable-length strings are copied
 * and HDF5's buffers reclaimed; fixed-length ones are read NUL-terminated.
 */
static qcal_status read_strs(const qcal__h5 *h, hid_t obj_id, int is_attr, hid_t ftype,
                             hid_t space, const char *obj, size_t n, char **out)
{
    hid_t mt = -1;
    qcal_status st = QCAL_OK;
    char **vl = NULL, *fixed = NULL;
    size_t width = 0;
    htri_t var;

    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (H5Tget_class(ftype) != H5T_STRING)
        return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: %s does not hold strings", h->path,
                              obj);
    if (n == 0)
        return QCAL_OK;
    QCAL__H5_CHECK(h, var = H5Tis_variable_str(ftype), "read the type of %s", obj);
    QCAL__H5_CHECK(h, mt = H5Tcopy(H5T_C_S1), "create string type");
    QCAL__H5_CHECK(h, H5Tset_cset(mt, H5Tget_cset(ftype)), "create string type");
    if (var) {
        /* A damaged heap reference must not reach HDF5's heap reader (see above). */
        if (!is_attr && (st = check_vlen_refs(h, obj_id, obj, n)) != QCAL_OK)
            goto out;
        QCAL__H5_CHECK(h, H5Tset_size(mt, H5T_VARIABLE), "create string type");
        vl = calloc(n, sizeof *vl);
        if (!vl)
            goto nomem;
        QCAL__H5_CHECK(h, is_attr ? H5Aread(obj_id, mt, vl)
                                  : H5Dread(obj_id, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, vl),
                       "read %s", obj);
        for (size_t i = 0; i < n && st == QCAL_OK; i++)
            if (!(out[i] = strdup(vl[i] ? vl[i] : "")))
                st = QCAL_E_NOMEM;
        H5Dvlen_reclaim(mt, space, H5P_DEFAULT, vl);
        if (st != QCAL_OK)
            goto nomem;
    } else {
        width = H5Tget_size(ftype) + 1;
        QCAL__H5_CHECK(h, H5Tset_size(mt, width), "create string type");
        QCAL__H5_CHECK(h, H5Tset_strpad(mt, H5T_STR_NULLTERM), "create string type");
        fixed = calloc(n, width);
        if (!fixed)
            goto nomem;
        QCAL__H5_CHECK(h, is_attr ? H5Aread(obj_id, mt, fixed)
                                  : H5Dread(obj_id, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, fixed),
                       "read %s", obj);
        for (size_t i = 0; i < n; i++)
            if (!(out[i] = strndup(fixed + i * width, width)))
                goto nomem;
    }
    goto out;
nomem:
    st = qcal_error_set(h->err, QCAL_E_NOMEM, "%s: out of memory reading %s", h->path, obj);
out:
    if (st != QCAL_OK)
        for (size_t i = 0; i < n; i++) {
            free(out[i]);
            out[i] = NULL;
        }
    if (mt >= 0)
        H5Tclose(mt);
    free(vl);
    free(fixed);
    return st;
}

qcal_status qcal__h5_read_strings(const qcal__h5 *h, hid_t loc, const char *name, size_t n,
                                  char **out)
{
    hid_t dset = -1, space = -1, ftype = -1;
    qcal_status st;
    char obj[OBJ_MAX];

    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    objname(loc, name, obj);
    st = dset_open(h, loc, name, &dset);
    if (st != QCAL_OK)
        return st;
    st = check_shape(h, dset, obj, n, 0, &space);
    if (st != QCAL_OK)
        goto out;
    QCAL__H5_CHECK(h, ftype = H5Dget_type(dset), "read the type of %s", obj);
    st = read_strs(h, dset, 0, ftype, space, obj, n, out);
out:
    if (ftype >= 0)
        H5Tclose(ftype);
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(dset);
    return st;
}

/* Opens attribute `name` of loc with its space and its number of values (1 for a scalar). */
static qcal_status attr_open(const qcal__h5 *h, hid_t loc, const char *name, const char *obj,
                             hid_t *attr, hid_t *space, size_t *n)
{
    htri_t ex = H5Aexists(loc, name);
    hssize_t np;

    *attr = *space = -1;
    if (ex <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: missing attribute %s", h->path, obj);
    }
    *attr = H5Aopen(loc, name, H5P_DEFAULT);
    if (*attr < 0)
        return qcal__h5_fail(h, "open attribute %s", obj);
    *space = H5Aget_space(*attr);
    if (*space < 0)
        return qcal__h5_fail(h, "read the shape of attribute %s", obj);
    np = H5Sget_simple_extent_npoints(*space);
    if (np < 0)
        return qcal__h5_fail(h, "read the shape of attribute %s", obj);
    *n = (size_t)np;
    return QCAL_OK;
}

static void attr_close(hid_t attr, hid_t space)
{
    if (space >= 0)
        H5Sclose(space);
    if (attr >= 0)
        H5Aclose(attr);
}

qcal_status qcal__h5_attr_read_strings(const qcal__h5 *h, hid_t loc, const char *name,
                                       char ***out, size_t *n)
{
    hid_t attr, space, ftype = -1;
    qcal_status st;
    char obj[OBJ_MAX], **v = NULL;
    size_t len = 0;

    *out = NULL;
    *n = 0;
    objname(loc, name, obj);
    st = attr_open(h, loc, name, obj, &attr, &space, &len);
    if (st != QCAL_OK)
        goto out;
    QCAL__H5_CHECK(h, ftype = H5Aget_type(attr), "read the type of attribute %s", obj);
    if (len > 0) {
        v = calloc(len, sizeof *v);
        if (!v) {
            st = qcal_error_set(h->err, QCAL_E_NOMEM, "%s: out of memory reading %s", h->path,
                                obj);
            goto out;
        }
    }
    /* A damaged heap reference must not reach HDF5's heap reader (see check_vlen_refs). */
    if (len > 0 && H5Tget_class(ftype) == H5T_STRING && H5Tis_variable_str(ftype) > 0)
        st = check_attr_vlen_refs(h, loc, name, obj, len);
    if (st == QCAL_OK)
        st = read_strs(h, attr, 1, ftype, space, obj, len, v);
    if (st == QCAL_OK) {
        *out = v;
        *n = len;
        v = NULL;
    }
out:
    free(v);
    if (ftype >= 0)
        H5Tclose(ftype);
    attr_close(attr, space);
    return st;
}

qcal_status qcal__h5_attr_read_string(const qcal__h5 *h, hid_t loc, const char *name,
                                      char **out)
{
    char **v = NULL, obj[OBJ_MAX];
    size_t n = 0;
    qcal_status st = qcal__h5_attr_read_strings(h, loc, name, &v, &n);

    *out = NULL;
    if (st != QCAL_OK)
        return st;
    if (n != 1) {
        qcal__h5_free_strings(v, n);
        return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: attribute %s has %zu values, "
                              "expected one string", h->path, objname(loc, name, obj), n);
    }
    *out = v[0];
    free(v);
    return QCAL_OK;
}

qcal_status qcal__h5_attr_len(const qcal__h5 *h, hid_t loc, const char *name, size_t *n)
{
    hid_t attr, space;
    char obj[OBJ_MAX];
    qcal_status st = attr_open(h, loc, name, objname(loc, name, obj), &attr, &space, n);

    attr_close(attr, space);
    return st;
}

qcal_status qcal__h5_attr_read(const qcal__h5 *h, hid_t loc, const char *name, hid_t mtype,
                               size_t n, void *out)
{
    hid_t attr, space, ftype = -1;
    char obj[OBJ_MAX];
    size_t len = 0;
    qcal_status st = attr_open(h, loc, name, objname(loc, name, obj), &attr, &space, &len);

    if (st != QCAL_OK)
        goto out;
    if (len != (n ? n : 1)) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: attribute %s has %zu values, expected "
                            "%zu", h->path, obj, len, n ? n : 1);
        goto out;
    }
    ftype = H5Aget_type(attr);
    {
        char what[OBJ_MAX + 16];
        snprintf(what, sizeof what, "attribute %s", obj);
        st = check_class(h, ftype, mtype, what);
    }
    if (st != QCAL_OK)
        goto out;
    if (len > 0)
        QCAL__H5_CHECK(h, H5Aread(attr, mtype, out), "read attribute %s", obj);
out:
    if (ftype >= 0)
        H5Tclose(ftype);
    attr_close(attr, space);
    return st;
}

qcal_status qcal__h5_mem_create(const qcal__h5 *h, const char *name, hid_t *fid)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);

    *fid = -1;
    if (fapl < 0 || H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
        (*fid = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0) {
        if (fapl >= 0)
            H5Pclose(fapl);
        return qcal__h5_fail(h, "create the file in memory");
    }
    H5Pclose(fapl);
    return QCAL_OK;
}

qcal_status qcal__h5_mem_publish(const qcal__h5 *h, hid_t fid, const char *path)
{
    ssize_t size = 0;
    void *image = NULL;
    qcal_status st = QCAL_OK;

    if (H5Fflush(fid, H5F_SCOPE_LOCAL) < 0 || (size = H5Fget_file_image(fid, NULL, 0)) < 0) {
        st = qcal__h5_fail(h, "build the file image");
    } else if (!(image = malloc(size ? (size_t)size : 1))) {
        st = qcal_error_set(h->err, QCAL_E_NOMEM, "%s: out of memory (%zd bytes)", path, size);
    } else if (H5Fget_file_image(fid, image, (size_t)size) != size) {
        st = qcal__h5_fail(h, "copy the file image");
    }
    if (H5Fclose(fid) < 0 && st == QCAL_OK)
        st = qcal__h5_fail(h, "close the in-memory file");
    if (st == QCAL_OK)
        st = qcal__atomic_write(path, image, (size_t)size, h->err);
    free(image);
    return st;
}
