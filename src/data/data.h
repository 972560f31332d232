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
