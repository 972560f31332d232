/* Internal helpers of the data module (include/qcal/data.h is the public side). */
#ifndef QCAL_DATA_INTERNAL_H
#define QCAL_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "qcal/data.h"

/* Reads the whole file into a malloc'ed buffer (*buf, *len; a zero-length file gives a 1-byte
 * buffer and len 0). QCAL_E_IO naming path on failure; *buf is NULL then. */
qcal_status qcal__data_read_file(const char *path, unsigned char **buf, size_t *len,
                                 qcal_error *err);

/* Decoders of bytes in memory; name is used in messages only. On failure img is zeroed. */
qcal_status qcal__png_decode(const char *name, const unsigned char *buf, size_t len,
                             qcal_image *img, qcal_error *err);
qcal_status qcal__jpeg_decode(const char *name, const unsigned char *buf, size_t len,
                              qcal_image *img, qcal_error *err);

/* The default of QCAL_MAX_IMAGE_PIXELS, the largest width x height a decoder accepts. */
#define QCAL__MAX_IMAGE_PIXELS_DEFAULT ((uint64_t)1 << 28)

/*
 * Checks an image header before any pixel buffer is allocated (checked 64-bit arithmetic):
 * - the pixel data it declares, width x height x bits_per_pixel / 8 bytes, must fit in what
 *   file_len bytes can expand to, file_len x ratio (PNG: 1032, deflate's largest ratio; JPEG:
 *   1024): QCAL_E_CORRUPT "<name>: corrupt <fmt>: the header claims WxH pixels, more than the
 *   N-byte file can hold", so a forged header is a bad file (skipped by --skip-bad), not an
 *   allocation of gigabytes;
 * - then width x height must be at most QCAL_MAX_IMAGE_PIXELS (environment, a whole number
 *   >= 1; default 2^28): QCAL_E_UNSUPPORTED "<name>: <fmt> image of WxH pixels exceeds
 *   QCAL_MAX_IMAGE_PIXELS=N". A malformed setting is QCAL_E_INVALID.
 */
qcal_status qcal__image_check_size(const char *name, const char *fmt, uint64_t width,
                                   uint64_t height, unsigned bits_per_pixel, size_t file_len,
                                   unsigned ratio, qcal_error *err);

/* A parsed .npy header: shape and where the float32 data starts. */
typedef struct qcal__npy_header {
    int rank;
    int64_t dims[QCAL_MAX_RANK];
    size_t nelem;
    size_t data_offset;
} qcal__npy_header;

/* Parses and validates the header of a .npy file held in buf[len], including that exactly
 * nelem * 4 data bytes follow. Errors name the file. */
qcal_status qcal__npy_parse(const char *name, const unsigned char *buf, size_t len,
                            qcal__npy_header *h, qcal_error *err);

/* Copies n little-endian float32 values from bytes to out (any host byte order). */
void qcal__data_f32_from_le(const unsigned char *src, size_t n, float *out);

/* Product of dims[rank] into *n; false if a dim is negative or the product overflows size_t. */
bool qcal__data_nelem(const int64_t *dims, int rank, size_t *n);

/* Formats dims as "1x3x224x224" ("scalar" for rank 0) into buf. */
void qcal__data_shape_str(const int64_t *dims, int rank, char *buf, size_t cap);

#endif
