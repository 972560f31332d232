/*
 * NumPy .npy files, float32 only (NEP 1 / numpy.lib.format): magic "\x93NUMPY", version byte
 * pair, header length (uint16 LE for version 1, uint32 LE for 2 and 3), then a Python dict
 * literal {'descr': '<f4', 'fortran_order': False, 'shape': (1, 28, 28), } padded with spaces and
 * ended by '\n', then the data.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/data.h"
#include "qcal/npy.h"

/* A cursor over the header text. */
typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A quoted Python string without escapes, copied into out (truncated to cap - 1). */
static bool parse_str(cursor *c, char *out, size_t cap)
{
    char q;
    size_t n = 0;

    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return false;
    q = *c->p++;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\')
            return false;
        if (n + 1 < cap)
            out[n++] = *c->p;
        c->p++;
    }
    if (c->p >= c->end)
        return false;
    c->p++;
    out[n] = '\0';
    return true;
}

static bool parse_word(cursor *c, const char *w)
{
    size_t n = strlen(w);

    skip_ws(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return true;
    }
    return false;
}

/* A tuple of non-negative integers: "()", "(5,)", "(1, 28, 28)". */
static bool parse_shape(cursor *c, qcal__npy_header *h, bool *too_many)
{
    *too_many = false;
    h->rank = 0;
    if (!eat(c, '('))
        return false;
    for (;;) {
        skip_ws(c);
        if (eat(c, ')'))
            return true;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return false;
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return false;
            v = v * 10 + (*c->p - '0');
            c->p++;
        }
        /* Python 2 era files may write long literals as "28L". */
        if (c->p < c->end && *c->p == 'L')
            c->p++;
        if (h->rank == QCAL_MAX_RANK) {
            *too_many = true;
            return false;
        }
        h->dims[h->rank++] = v;
        if (!eat(c, ','))
            return eat(c, ')');
    }
}

qcal_status qcal__npy_parse(const char *name, const unsigned char *buf, size_t len,
                            qcal__npy_header *h, qcal_error *err)
{
    size_t hlen, start;
    cursor c;
    char key[64], descr[64] = "";
    bool have_descr = false, have_order = false, have_shape = false, fortran = false;
    bool too_many;

    memset(h, 0, sizeof *h);
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: not a .npy file (bad magic)", name);
    /* numpy.lib.format defines exactly 1.0, 2.0 and 3.0. */
    if (buf[7] != 0 || buf[6] < 1 || buf[6] > 3)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: .npy format version %d.%d (known: "
                              "1.0, 2.0, 3.0)", name, buf[6], buf[7]);
    if (buf[6] == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        start = 10;
    } else if (buf[6] == 2 || buf[6] == 3) {
        if (len < 12)
            return qcal_error_set(err, QCAL_E_CORRUPT, "%s: truncated .npy header", name);
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 |
               (size_t)buf[11] << 24;
        start = 12;
    } else {
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: .npy format version %d.%d", name,
                              buf[6], buf[7]);
    }
    if (hlen > len - start)
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: truncated .npy header", name);
    c.p = (const char *)buf + start;
    c.end = c.p + hlen;
    if (!eat(&c, '{'))
        goto bad;
    while (!eat(&c, '}')) {
        if (!parse_str(&c, key, sizeof key) || !eat(&c, ':'))
            goto bad;
        if (strcmp(key, "descr") == 0) {
            if (have_descr || !parse_str(&c, descr, sizeof descr))
                goto bad;
            have_descr = true;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_order)
                goto bad;
            if (parse_word(&c, "True"))
                fortran = true;
            else if (!parse_word(&c, "False"))
                goto bad;
            have_order = true;
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape)
                goto bad;
            if (!parse_shape(&c, h, &too_many)) {
                if (too_many)
                    return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                                          "%s: array rank above %d is not supported", name,
                                          QCAL_MAX_RANK);
                goto bad;
            }
            have_shape = true;
        } else {
            goto bad;
        }
        if (!eat(&c, ',')) {
            if (!eat(&c, '}'))
                goto bad;
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        goto bad;
    /* After the dict: only the padding spaces, then the '\n' that ends every header. */
    while (c.p < c.end && *c.p == ' ')
        c.p++;
    if (c.end - c.p != 1 || *c.p != '\n')
        goto bad;
    if (strcmp(descr, "<f4") != 0)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                              "%s: dtype '%s' is not supported (need float32, '<f4')", name,
                              descr);
    if (fortran)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                              "%s: Fortran-order arrays are not supported (save in C order)",
                              name);
    if (!qcal__data_nelem(h->dims, h->rank, &h->nelem) || h->nelem > SIZE_MAX / 4)
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: array shape too large", name);
    h->data_offset = start + hlen;
    if (len - h->data_offset != h->nelem * 4)
        return qcal_error_set(err, QCAL_E_CORRUPT,
                              "%s: %zu data bytes after the header, the shape needs %zu", name,
                              len - h->data_offset, h->nelem * 4);
    return QCAL_OK;
bad:
    return qcal_error_set(err, QCAL_E_CORRUPT, "%s: malformed .npy header", name);
}

qcal_status qcal_npy_load(const char *path, qcal_npy *arr, qcal_error *err)
{
    qcal_status st;
    unsigned char *buf;
    size_t len;
    qcal__npy_header h;

    memset(arr, 0, sizeof *arr);
    st = qcal__data_read_file(path, &buf, &len, err);
    if (st != QCAL_OK)
        return st;
    st = qcal__npy_parse(path, buf, len, &h, err);
    if (st != QCAL_OK)
        goto out;
    arr->data = malloc(h.nelem ? h.nelem * sizeof(float) : 1);
    if (!arr->data) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: cannot allocate %zu values", path, h.nelem);
        goto out;
    }
    qcal__data_f32_from_le(buf + h.data_offset, h.nelem, arr->data);
    arr->rank = h.rank;
    memcpy(arr->dims, h.dims, sizeof arr->dims);
    arr->nelem = h.nelem;
out:
    free(buf);
    return st;
}

void qcal_npy_fini(qcal_npy *arr)
{
    if (!arr)
        return;
    free(arr->data);
    memset(arr, 0, sizeof *arr);
}

qcal_status qcal_npy_save(const char *path, const int64_t *dims, int rank, const float *data,
                          qcal_error *err)
{
    qcal_tensor_view v;
    size_t nelem;

    if (rank < 0 || rank > QCAL_MAX_RANK || !qcal__data_nelem(dims, rank, &nelem))
        return qcal_error_set(err, QCAL_E_INVALID, "%s: invalid array shape", path);
    memset(&v, 0, sizeof v);
    v.name = path;
    v.dtype = QCAL_DT_FLOAT;
    v.rank = rank;
    for (int i = 0; i < rank; i++)
        v.dims[i] = dims[i];
    v.nelem = nelem;
    v.data = data;
    /* One writer for every dtype (include/qcal/npy.h); this keeps the float32 convenience. */
    return qcal_npy_write(path, &v, err);
}
