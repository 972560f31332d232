/*
 * Small HDF5 helpers of the store module: one call per dataset or attribute, each returning a
 * qcal_status with a message that names the file, the object and the failing step (IOR's
 * HDF5_CHECK, but returning instead of exiting). Used by the stats file reader and writer.
 *
 * Every helper closes the HDF5 handles it opens before returning, on success and on failure.
 * The caller silences HDF5's automatic error printing (qcal__h5_quiet) around all calls.
 */
#ifndef QCAL_STORE_H5UTIL_H
#define QCAL_STORE_H5UTIL_H

#include <stddef.h>

#include <hdf5.h>

#include "qcal/status.h"

/* What every helper needs to report an error. */
typedef struct qcal__h5 {
    const char *path;   /* the file named in messages */
    qcal_status code;   /* status of a failed HDF5 call: QCAL_E_IO (write), QCAL_E_CORRUPT (read) */
    qcal_error *err;
} qcal__h5;

/* Saved automatic error handler of HDF5, restored by qcal__h5_loud. */
typedef struct qcal__h5_auto {
    H5E_auto2_t func;
    void *data;
} qcal__h5_auto;

/* Turns off HDF5's automatic error printing (the library never prints) and saves the old
 * handler into *saved. */
void qcal__h5_quiet(qcal__h5_auto *saved);

/* Restores the handler saved by qcal__h5_quiet. */
void qcal__h5_loud(const qcal__h5_auto *saved);

/*
 * Fills h->err with "<path>: <step>: <detail>" and returns h->code; step is a printf format,
 * detail the most specific message on HDF5's error stack (the OS message when there is one),
 * which is then cleared.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
qcal_status qcal__h5_fail(const qcal__h5 *h, const char *fmt, ...);

/* Runs an HDF5 call; a negative result sets st (qcal__h5_fail) and jumps to the label out. */
#define QCAL__H5_CHECK(h, expr, ...)                                                             \
    do {                                                                                         \
        if ((expr) < 0) {                                                                        \
            st = qcal__h5_fail((h), __VA_ARGS__);                                                \
            goto out;                                                                            \
        }                                                                                        \
    } while (0)

/* Creates a group, with link creation order tracked when track_order is non-zero (so that
 * H5Literate can list members in the order they were written). Returns < 0 on failure (the
 * caller checks it with QCAL__H5_CHECK). */
hid_t qcal__h5_group_create(hid_t loc, const char *name, int track_order);

/*
 * Writes an n0 (cols == 0) or n0 x cols dataset `name` under loc, stored as ftype, from data in
 * memory type mtype (data may be NULL when n0 * cols is 0). Zero-length datasets are created
 * with no write. Object times are not recorded, so equal content gives equal files.
 */
qcal_status qcal__h5_write_array(const qcal__h5 *h, hid_t loc, const char *name, hid_t ftype,
                                 hid_t mtype, size_t n0, size_t cols, const void *data);

/* Writes an [n] dataset of variable-length UTF-8 strings (NULL entries are written as ""). */
qcal_status qcal__h5_write_strings(const qcal__h5 *h, hid_t loc, const char *name,
                                   const char *const *v, size_t n);

/* Attributes: a scalar string, a string array of n (n may be 0), a scalar number and a number
 * array of n (ftype in the file, mtype in memory). */
qcal_status qcal__h5_attr_string(const qcal__h5 *h, hid_t loc, const char *name, const char *v);
qcal_status qcal__h5_attr_strings(const qcal__h5 *h, hid_t loc, const char *name,
                                  const char *const *v, size_t n);
qcal_status qcal__h5_attr_scalar(const qcal__h5 *h, hid_t loc, const char *name, hid_t ftype,
                                 hid_t mtype, const void *v);
qcal_status qcal__h5_attr_vector(const qcal__h5 *h, hid_t loc, const char *name, hid_t ftype,
                                 hid_t mtype, size_t n, const void *v);

/*
 * Reads the dimensions of dataset `name` under loc, which must have `rank` (1 or 2)
 * dimensions: dims[0] (and dims[1]). A missing dataset or another rank is an error naming it.
 */
qcal_status qcal__h5_dims(const qcal__h5 *h, hid_t loc, const char *name, int rank,
                          size_t *dims);

/* Reads dataset `name`, which must be exactly [n0] (cols == 0) or [n0, cols], converting to
 * mtype into out (room for n0 * max(cols, 1) values; untouched when that is 0). */
qcal_status qcal__h5_read_array(const qcal__h5 *h, hid_t loc, const char *name, hid_t mtype,
                                size_t n0, size_t cols, void *out);

/* Reads a string dataset that must be exactly [n] into out[0..n): malloc'd NUL-terminated
 * copies the caller frees (all NULL on failure). Variable- and fixed-length strings work. */
qcal_status qcal__h5_read_strings(const qcal__h5 *h, hid_t loc, const char *name, size_t n,
                                  char **out);

/* Reads a scalar string attribute into a malloc'd copy (*out NULL on failure). */
qcal_status qcal__h5_attr_read_string(const qcal__h5 *h, hid_t loc, const char *name,
                                      char **out);

/* Reads a 1-D (or scalar: one entry) string attribute into a malloc'd array of malloc'd strings
 * (*out NULL when *n is 0 and on failure). */
qcal_status qcal__h5_attr_read_strings(const qcal__h5 *h, hid_t loc, const char *name,
                                       char ***out, size_t *n);

/* Reads a numeric attribute of exactly n values (n == 0: a scalar, one value) into out, as
 * mtype. A missing attribute is an error naming it. */
qcal_status qcal__h5_attr_read(const qcal__h5 *h, hid_t loc, const char *name, hid_t mtype,
                               size_t n, void *out);

/* Number of values of attribute `name` (1 for a scalar). */
qcal_status qcal__h5_attr_len(const qcal__h5 *h, hid_t loc, const char *name, size_t *n);

/* Frees n strings and the array. NULL-safe. */
void qcal__h5_free_strings(char **v, size_t n);

#endif

/*
 * In-memory HDF5 files (the core driver, no backing store): the writers build the whole file in
 * memory and publish its image with one atomic write. A full disk then fails in an ordinary
 * write(2) that qcal reports, never inside HDF5 (whose failed H5Fclose on ENOSPC leaves a half
 * closed file that crashes the library at exit). name only has to be unique among open files.
 */
qcal_status qcal__h5_mem_create(const qcal__h5 *h, const char *name, hid_t *fid);
/* Flushes fid, copies its image, closes it (always) and writes the image to path atomically. */
qcal_status qcal__h5_mem_publish(const qcal__h5 *h, hid_t fid, const char *path);
