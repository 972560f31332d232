/*
 * One sample file -> one float32 input tensor, chosen by extension; plus the small helpers the
 * decoders share (reading a file, extensions, element counts).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/data.h"

qcal_data_format qcal_data_format_of(const char *path)
{
    const char *base = strrchr(path, '/');
    const char *dot;

    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    if (!dot)
        return QCAL_DATA_UNKNOWN;
    dot++;
    if (strcasecmp(dot, "png") == 0)
        return QCAL_DATA_PNG;
    if (strcasecmp(dot, "jpg") == 0 || strcasecmp(dot, "jpeg") == 0)
        return QCAL_DATA_JPEG;
    if (strcasecmp(dot, "npy") == 0)
        return QCAL_DATA_NPY;
    if (strcasecmp(dot, "raw") == 0 || strcasecmp(dot, "bin") == 0)
        return QCAL_DATA_RAW;
    return QCAL_DATA_UNKNOWN;
}

qcal_status qcal__data_read_file(const char *path, unsigned char **buf, size_t *len,
                                 qcal_error *err)
{
    qcal_status st = QCAL_OK;
    FILE *fp;
    struct stat sb;
    unsigned char *b = NULL;
    size_t n;

    *buf = NULL;
    *len = 0;
    fp = fopen(path, "rb");
    if (!fp)
        return qcal_error_set(err, QCAL_E_IO, "%s: %s", path, strerror(errno));
    if (fstat(fileno(fp), &sb) != 0) {
        st = qcal_error_set(err, QCAL_E_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = qcal_error_set(err, QCAL_E_IO, "%s: not a regular file", path);
        goto out;
    }
    n = (size_t)sb.st_size;
    if ((off_t)n != sb.st_size) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: file too large", path);
        goto out;
    }
    b = malloc(n ? n : 1);
    if (!b) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: cannot allocate %zu bytes", path, n);
        goto out;
    }
    if (n && fread(b, 1, n, fp) != n) {
        st = qcal_error_set(err, QCAL_E_IO, "%s: read error%s", path,
                            feof(fp) ? " (file shrank while reading)" : "");
        goto out;
    }
    *buf = b;
    *len = n;
    b = NULL;
out:
    free(b);
    fclose(fp);
    return st;
}

/* QCAL_MAX_IMAGE_PIXELS, parsed strictly; false when it is set but not a whole number >= 1. */
static bool max_image_pixels(uint64_t *out)
{
    const char *s = getenv("QCAL_MAX_IMAGE_PIXELS");
    char *end;
    unsigned long long v;

    *out = QCAL__MAX_IMAGE_PIXELS_DEFAULT;
    if (!s || !*s)
        return true;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v == 0)
        return false;
    *out = (uint64_t)v;
    return true;
}

qcal_status qcal__image_check_size(const char *name, const char *fmt, uint64_t width,
                                   uint64_t height, unsigned bits_per_pixel, size_t file_len,
                                   unsigned ratio, qcal_error *err)
{
    uint64_t limit, pixels, bytes, room;
    bool big;

    if (!max_image_pixels(&limit))
        return qcal_error_set(err, QCAL_E_INVALID, "QCAL_MAX_IMAGE_PIXELS='%s': expected a "
                              "whole number of pixels >= 1", getenv("QCAL_MAX_IMAGE_PIXELS"));
    big = height != 0 && width > UINT64_MAX / height;
    pixels = big ? UINT64_MAX : width * height;
    bytes = big || (bits_per_pixel && pixels > UINT64_MAX / bits_per_pixel)
                ? UINT64_MAX
                : (pixels * bits_per_pixel + 7) / 8;
    room = (uint64_t)file_len > UINT64_MAX / ratio ? UINT64_MAX : (uint64_t)file_len * ratio;
    /* A forged header first (a corrupt file), then a real image above the maximum. */
    if (bytes > room)
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: corrupt %s: the header claims %llux%llu "
                              "pixels, more than the %zu-byte file can hold", name, fmt,
                              (unsigned long long)width, (unsigned long long)height, file_len);
    if (pixels > limit)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: %s image of %llux%llu pixels "
                              "exceeds QCAL_MAX_IMAGE_PIXELS=%llu", name, fmt,
                              (unsigned long long)width, (unsigned long long)height,
                              (unsigned long long)limit);
    return QCAL_OK;
}

void qcal__data_f32_from_le(const unsigned char *src, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = src + 4 * i;
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24;
        memcpy(&out[i], &u, 4);
    }
}

bool qcal__data_nelem(const int64_t *dims, int rank, size_t *n)
{
    size_t p = 1;

    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return false;
        if (dims[i] != 0 && p > SIZE_MAX / (size_t)dims[i])
            return false;
        p *= (size_t)dims[i];
    }
    *n = p;
    return true;
}

void qcal__data_shape_str(const int64_t *dims, int rank, char *buf, size_t cap)
{
    size_t used = 0;

    if (cap == 0)
        return;
    buf[0] = '\0';
    if (rank == 0) {
        snprintf(buf, cap, "scalar");
        return;
    }
    for (int i = 0; i < rank && used < cap; i++) {
        int k = snprintf(buf + used, cap - used, "%s%lld", i ? "x" : "", (long long)dims[i]);
        if (k < 0)
            return;
        used += (size_t)k;
    }
}

qcal_status qcal_image_decode(const char *name, const void *buf, size_t len, qcal_image *img,
                              qcal_error *err)
{
    memset(img, 0, sizeof *img);
    switch (qcal_data_format_of(name)) {
    case QCAL_DATA_PNG:
        return qcal__png_decode(name, buf, len, img, err);
    case QCAL_DATA_JPEG:
        return qcal__jpeg_decode(name, buf, len, img, err);
    default:
        return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                              "%s: not an image (expected .png, .jpg or .jpeg)", name);
    }
}

qcal_status qcal_image_load(const char *path, qcal_image *img, qcal_error *err)
{
    qcal_status st;
    unsigned char *buf;
    size_t len;

    memset(img, 0, sizeof *img);
    if (qcal_data_format_of(path) != QCAL_DATA_PNG && qcal_data_format_of(path) != QCAL_DATA_JPEG)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                              "%s: not an image (expected .png, .jpg or .jpeg)", path);
    st = qcal__data_read_file(path, &buf, &len, err);
    if (st != QCAL_OK)
        return st;
    st = qcal_image_decode(path, buf, len, img, err);
    free(buf);
    return st;
}

void qcal_image_fini(qcal_image *img)
{
    if (!img)
        return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

/* Drops leading 1s, so [1,1,28,28] and [1,28,28] compare equal. */
static int strip_ones(const int64_t *dims, int rank)
{
    int k = 0;
    while (k < rank && dims[k] == 1)
        k++;
    return k;
}

static qcal_status load_npy(const char *path, const unsigned char *buf, size_t len,
                            const int64_t *dims, int rank, size_t nelem, float *out,
                            qcal_error *err)
{
    qcal__npy_header h;
    qcal_status st = qcal__npy_parse(path, buf, len, &h, err);
    int a, b;
    bool same;

    if (st != QCAL_OK)
        return st;
    a = strip_ones(h.dims, h.rank);
    b = strip_ones(dims, rank);
    same = h.rank - a == rank - b;
    for (int i = 0; same && i < rank - b; i++)
        same = h.dims[a + i] == dims[b + i];
    if (!same || h.nelem != nelem) {
        char s1[128], s2[128];
        qcal__data_shape_str(h.dims, h.rank, s1, sizeof s1);
        qcal__data_shape_str(dims, rank, s2, sizeof s2);
        return qcal_error_set(err, QCAL_E_SHAPE,
                              "%s: array shape %s does not match the input shape %s (every "
                              "sample of a run has the same shape)", path, s1, s2);
    }
    qcal__data_f32_from_le(buf + h.data_offset, nelem, out);
    return QCAL_OK;
}

qcal_status qcal_data_load_sample(const char *path, const int64_t *dims, int rank,
                                  const qcal_preprocess *pp, float *out, qcal_error *err)
{
    qcal_status st;
    qcal_data_format fmt = qcal_data_format_of(path);
    unsigned char *buf = NULL;
    size_t len, nelem;
    qcal_image img;
    char shape[128];

    memset(&img, 0, sizeof img);
    if (rank < 0 || rank > QCAL_MAX_RANK || !qcal__data_nelem(dims, rank, &nelem))
        return qcal_error_set(err, QCAL_E_SHAPE, "%s: invalid input shape", path);
    if (fmt == QCAL_DATA_UNKNOWN)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                              "%s: unknown file type (expected .png .jpg .jpeg .npy .raw .bin)",
                              path);
    st = qcal__data_read_file(path, &buf, &len, err);
    if (st != QCAL_OK)
        return st;
    switch (fmt) {
    case QCAL_DATA_NPY:
        st = load_npy(path, buf, len, dims, rank, nelem, out, err);
        break;
    case QCAL_DATA_RAW:
        if (nelem > SIZE_MAX / 4 || len != nelem * 4) {
            qcal__data_shape_str(dims, rank, shape, sizeof shape);
            st = qcal_error_set(err, QCAL_E_SHAPE,
                                "%s: raw file has %zu bytes, the input %s needs %zu float32 "
                                "values (%zu bytes)",
                                path, len, shape, nelem, nelem * 4);
            break;
        }
        qcal__data_f32_from_le(buf, nelem, out);
        break;
    default:
        st = qcal_image_decode(path, buf, len, &img, err);
        free(buf);
        buf = NULL;
        if (st != QCAL_OK)
            break;
        st = qcal_preprocess_image(&img, dims, rank, pp, out, err);
        if (st != QCAL_OK)
            qcal_error_prefix(err, path);
        break;
    }
    qcal_image_fini(&img);
    free(buf);
    return st;
}
