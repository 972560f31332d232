/*
 * Intermediate-tensor dumps (DESIGN.md: HDF5 stats file, last paragraph), written collectively
 * with parallel HDF5.
 *
 * Each rank keeps the rows of its own samples (global sample r goes to rank r mod P and is local
 * row r / P) in one preallocated buffer per selected tensor, filled by the calibration tap. The
 * write creates every dataset on all ranks with identical arguments (collective metadata), and
 * each rank writes its rows with collective H5Dwrite calls, one row per rank and call (see
 * write_rows; a rank without a row takes part with an empty selection). After every step the
 * ranks agree on a status, so they stop together and all of them return the error of the lowest
 * failing rank.
 *
 * File layout (format "qcal-dumps", version 1):
 *   /                 attrs format, version (int32), samples (uint64), model_path, model_sha256
 *   /sample_index     [S] uint64, row r holds global sample r
 *   /<tensor>         [S, ...shape] float32, chunked one sample per chunk, attr name (exact)
 * Dataset names are the tensor names with characters outside [A-Za-z0-9._-] replaced by '_'
 * (as `qcal run --all-tensors` names its .npy files); a name that is empty, "." or "..", taken
 * by an earlier tensor or "sample_index" gets "#<tensor index>" appended ('#' is never produced
 * by the replacement, so the result is unique).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "dist/dump.h"
#include "store/h5util.h"
#include "util/atomic.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define DUMP_FORMAT "qcal-dumps"
#define DUMP_VERSION 1
/* HDF5 chunks are limited to 4 GiB - 1 bytes; one sample of a tensor is one chunk. */
#define CHUNK_MAX_BYTES 0xFFFFFFFFull

typedef struct dump_tensor {
    size_t tensor;                    /* index in the model */
    char *name;                       /* exact tensor name (malloc) */
    char *dset;                       /* dataset name (malloc) */
    int rank;                         /* tensor rank; the dataset has rank + 1 dims */
    int64_t dims[QCAL_MAX_RANK];
    size_t nelem;                     /* elements of one sample */
    float *rows;                      /* n_mine x nelem, this rank's samples (malloc) */
} dump_tensor;

struct qcal_dump {
    qcal_dist d;
    size_t n_dump;      /* S: rows of every dataset */
    size_t n_mine;      /* rows this rank holds: samples r < S with r mod P == rank */
    size_t n_tensors;   /* tensors of the model */
    size_t *slot;       /* [n_tensors]: index into sel, SIZE_MAX when not dumped */
    size_t n_sel;
    dump_tensor *sel;
    char *model_path, *model_sha256;
    qcal_status tap_st; /* first failure seen by the tap (QCAL_OK: none) */
    qcal_error tap_err;
};

/*
 * Every rank passes its status; all ranks get the status of the lowest failing rank, and err
 * (never NULL here) receives that rank's message. Collective. An MPI failure is reported as
 * E_MPI on the rank that saw it.
 */
static qcal_status agree(const qcal_dist *d, qcal_status local, qcal_error *err)
{
    int mine = local != QCAL_OK ? d->rank : d->size, lowest = d->size;
    int code = (int)local;

    if (MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
        return qcal_error_set(err, QCAL_E_MPI, "MPI: status agreement (dump) failed");
    if (lowest == d->size)
        return QCAL_OK;
    if (MPI_Bcast(&code, 1, MPI_INT, lowest, MPI_COMM_WORLD) != MPI_SUCCESS ||
        MPI_Bcast(err->msg, (int)sizeof err->msg, MPI_CHAR, lowest, MPI_COMM_WORLD) !=
            MPI_SUCCESS)
        return qcal_error_set(err, QCAL_E_MPI, "MPI: error broadcast (dump) failed");
    err->msg[sizeof err->msg - 1] = '\0';
    err->code = (qcal_status)code;
    return err->code;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    if (p)
        memcpy(p, s, n);
    return p;
}

/* Whether name is already a dataset name (of sel[0..n)) or reserved. */
static bool name_taken(const dump_tensor *sel, size_t n, const char *name)
{
    if (strcmp(name, "sample_index") == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (strcmp(sel[i].dset, name) == 0)
            return true;
    return false;
}

/* The dataset name of sel[n] (see the file comment); malloc'd, NULL when out of memory. */
static char *dataset_name(const dump_tensor *sel, size_t n)
{
    const char *name = sel[n].name;
    size_t len = strlen(name);
    char *s = malloc(len + 32);

    if (!s)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
        s[i] = keep ? c : '_';
    }
    s[len] = '\0';
    if (len == 0 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || name_taken(sel, n, s))
        snprintf(s + len, 32, "#%zu", sel[n].tensor);
    return s;
}

/* Whether tensor i of m is a float32 activation (DESIGN.md: executor). */
static bool is_activation(const qcal_model *m, size_t i)
{
    qcal_tensor_kind k = qcal_model_tensor_kind(m, i);

    if (k != QCAL_TENSOR_INPUT && k != QCAL_TENSOR_ACTIVATION && k != QCAL_TENSOR_OUTPUT)
        return false;
    return qcal_model_tensor(m, i).dtype == QCAL_DT_FLOAT;
}

/*
 * Fills dp->sel with the matching activations and dp->slot with their positions, and allocates
 * the row buffers (NaN-filled, so a sample the tap never saw, e.g. one skipped with --skip-bad,
 * is visible as NaN rows). Local: no communication.
 */
static qcal_status select_tensors(qcal_dump *dp, const qcal_model *m, const char *regex,
                                  qcal_error *err)
{
    regex_t re;
    int rc;
    size_t n = 0;
    qcal_status st = QCAL_OK;

    rc = regcomp(&re, regex, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[200];
        regerror(rc, &re, msg, sizeof msg);
        return qcal_error_set(err, QCAL_E_INVALID, "--dump '%s': invalid regular expression: %s",
                              regex, msg);
    }
    for (size_t i = 0; i < dp->n_tensors; i++) {
        dp->slot[i] = SIZE_MAX;
        if (is_activation(m, i) && regexec(&re, qcal_model_tensor(m, i).name, 0, NULL, 0) == 0)
            n++;
    }
    if (n == 0) {
        st = qcal_error_set(err, QCAL_E_INVALID, "--dump '%s' matches no float32 activation of %s",
                            regex, qcal_model_path(m));
        goto out;
    }
    dp->sel = calloc(n, sizeof *dp->sel);
    if (!dp->sel)
        goto nomem;
    for (size_t i = 0; i < dp->n_tensors && dp->n_sel < n; i++) {
        qcal_tensor_view v = qcal_model_tensor(m, i);
        dump_tensor *t = &dp->sel[dp->n_sel];
        if (!is_activation(m, i) || regexec(&re, v.name, 0, NULL, 0) != 0)
            continue;
        t->tensor = i;
        t->rank = v.rank;
        memcpy(t->dims, v.dims, sizeof t->dims);
        t->nelem = v.nelem;
        t->name = dup_str(v.name);
        dp->n_sel++; /* from here on destroy frees it */
        if (!t->name || !(t->dset = dataset_name(dp->sel, dp->n_sel - 1)))
            goto nomem;
        if (t->nelem > CHUNK_MAX_BYTES / sizeof(float)) {
            st = qcal_error_set(err, QCAL_E_UNSUPPORTED,
                                "--dump: tensor '%s' has %zu elements per sample, more than an "
                                "HDF5 chunk holds",
                                v.name, t->nelem);
            goto out;
        }
        if (dp->n_mine && t->nelem > SIZE_MAX / sizeof(float) / dp->n_mine) {
            st = qcal_error_set(err, QCAL_E_NOMEM, "--dump: buffer size overflows");
            goto out;
        }
        if (dp->n_mine > 0 && t->nelem > 0) {
            t->rows = malloc(dp->n_mine * t->nelem * sizeof *t->rows);
            if (!t->rows)
                goto nomem;
            for (size_t k = 0; k < dp->n_mine * t->nelem; k++)
                t->rows[k] = NAN;
        }
        dp->slot[i] = dp->n_sel - 1;
    }
    goto out;
nomem:
    st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory (dump buffers for %zu samples)",
                        dp->n_dump);
out:
    regfree(&re);
    return st;
}

qcal_status qcal_dump_create(const qcal_dist *d, const qcal_model *m, const char *regex,
                             size_t n_dump, qcal_dump **out, qcal_error *err)
{
    qcal_dump *dp = NULL;
    qcal_error e = { .code = QCAL_OK, .msg = "" };
    qcal_status st = QCAL_OK;

    *out = NULL;
    dp = calloc(1, sizeof *dp);
    if (!dp) {
        st = qcal_error_set(&e, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    dp->d = *d;
    dp->n_dump = n_dump;
    dp->n_mine = n_dump > (size_t)d->rank ? (n_dump - (size_t)d->rank - 1) / (size_t)d->size + 1
                                          : 0;
    dp->n_tensors = qcal_model_n_tensors(m);
    dp->slot = malloc((dp->n_tensors + 1) * sizeof *dp->slot);
    dp->model_path = dup_str(qcal_model_path(m));
    dp->model_sha256 = dup_str(qcal_model_sha256(m));
    if (!dp->slot || !dp->model_path || !dp->model_sha256) {
        st = qcal_error_set(&e, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    st = select_tensors(dp, m, regex ? regex : "", &e);
out:
    /* Every rank returns the same status, so no rank goes on alone. */
    st = agree(d, st, &e);
    if (st != QCAL_OK) {
        qcal_dump_destroy(dp);
        if (err)
            *err = e;
        return st;
    }
    *out = dp;
    return QCAL_OK;
}

/* The first failure wins; later ones would only repeat it. */
static void tap_fail(qcal_dump *dp, qcal_status code, const char *fmt, const char *name,
                     size_t a, size_t b)
{
    if (dp->tap_st != QCAL_OK)
        return;
    dp->tap_st = qcal_error_set(&dp->tap_err, code, fmt, name, a, b);
}

void qcal_dump_tap(void *dump, size_t sample, size_t tensor, const qcal_tensor_view *view)
{
    qcal_dump *dp = dump;
    dump_tensor *t;

    if (!dp || sample >= dp->n_dump || tensor >= dp->n_tensors || dp->slot[tensor] == SIZE_MAX)
        return;
    t = &dp->sel[dp->slot[tensor]];
    if (sample % (size_t)dp->d.size != (size_t)dp->d.rank) {
        tap_fail(dp, QCAL_E_INVALID, "--dump: tensor '%s' of sample %zu handed to rank %zu",
                 t->name, sample, (size_t)dp->d.rank);
        return;
    }
    if (view->dtype != QCAL_DT_FLOAT || view->nelem != t->nelem) {
        tap_fail(dp, QCAL_E_SHAPE, "--dump: tensor '%s' has %zu elements, expected %zu", t->name,
                 view->nelem, t->nelem);
        return;
    }
    if (t->nelem)
        memcpy(t->rows + sample / (size_t)dp->d.size * t->nelem, view->data,
               t->nelem * sizeof *t->rows);
}


/* One dataset to write: [S, ...dims] of ftype, from this rank's rows in mtype. */
typedef struct dset_spec {
    const char *dset;    /* dataset name */
    const char *attr;    /* value of attribute `name`; NULL: none */
    hid_t ftype, mtype;
    size_t esize;        /* bytes of one element in memory */
    int rank;            /* dims of one row */
    const int64_t *dims;
    size_t nelem;        /* elements of one row */
    const void *rows;    /* the n_mine rows of this rank */
} dset_spec;

/* Creates dataset s (chunked one row per chunk) with its `name` attribute into *ds. Local part
 * of a collective step: every rank calls it with the same arguments. */
static qcal_status create_dataset(const qcal_dump *dp, const qcal__h5 *h, hid_t f,
                                  const dset_spec *s, hid_t *ds)
{
    hsize_t dims[QCAL_MAX_RANK + 1], chunk[QCAL_MAX_RANK + 1];
    hid_t dcpl = -1, space = -1;
    qcal_status st = QCAL_OK;

    dims[0] = dp->n_dump;
    chunk[0] = 1;
    for (int k = 0; k < s->rank; k++)
        dims[k + 1] = chunk[k + 1] = (hsize_t)s->dims[k];
    QCAL__H5_CHECK(h, dcpl = H5Pcreate(H5P_DATASET_CREATE), "create property list of %s",
                   s->dset);
    /* Chunk dims must be > 0 and within the extent: empty datasets stay contiguous. */
    if (dp->n_dump && s->nelem)
        QCAL__H5_CHECK(h, H5Pset_chunk(dcpl, s->rank + 1, chunk), "chunk layout of %s", s->dset);
    /* Every row is written, so HDF5 need not write fill values first. */
    QCAL__H5_CHECK(h, H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "fill time of %s", s->dset);
    QCAL__H5_CHECK(h, space = H5Screate_simple(s->rank + 1, dims, NULL), "dataspace of %s",
                   s->dset);
    QCAL__H5_CHECK(h, *ds = H5Dcreate2(f, s->dset, s->ftype, space, H5P_DEFAULT, dcpl,
                                       H5P_DEFAULT),
                   "create dataset %s", s->dset);
    if (s->attr)
        st = qcal__h5_attr_string(h, *ds, "name", s->attr);
out:
    if (space >= 0)
        H5Sclose(space);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return st;
}

/*
 * Writes this rank's rows of dataset ds (global row r = rank + k * P is local row k) with one
 * collective H5Dwrite per round k < ceil(S / P): one row (one chunk) per rank and call, a rank
 * without a row k taking part with empty selections.
 *
 * Why not one H5Dwrite of all rows: the file selection is then a strided hyperslab that is not
 * the same shape as any compact memory selection, and HDF5 1.10 maps such selections to chunks
 * element by element (H5D__chunk_mem_cb). Measured on 1000 fmnist samples (199 MB): 2.5 s (1
 * rank) and 5.1 s (2 ranks) for one call, against 0.3 s and 0.8 s for these per-row calls.
 * A row is a whole chunk and its memory space [1, ...shape] has the same shape, so each call
 * maps in O(1). Link-chunk I/O (one MPI-IO call for the round) avoids the per-chunk collective
 * calls that HDF5 otherwise picks for so few chunks.
 *
 * After a local failure the rank keeps calling H5Dwrite with empty selections until the last
 * round, so that the collective calls of all ranks stay matched; the first error is returned.
 */
static qcal_status write_rows(const qcal_dump *dp, const qcal__h5 *h, hid_t ds, hid_t dxpl,
                              const dset_spec *s)
{
    hsize_t start[QCAL_MAX_RANK + 1], row[QCAL_MAX_RANK + 1];
    hid_t fspace = -1, mspace = -1;
    size_t rounds = (dp->n_dump + (size_t)dp->d.size - 1) / (size_t)dp->d.size;
    size_t row_bytes = s->nelem * s->esize;
    static const uint64_t dummy; /* H5Dwrite wants a buffer even for an empty selection */
    qcal_status st = QCAL_OK;

    start[0] = 0;
    row[0] = 1;
    for (int k = 0; k < s->rank; k++) {
        start[k + 1] = 0;
        row[k + 1] = (hsize_t)s->dims[k];
    }
    QCAL__H5_CHECK(h, fspace = H5Dget_space(ds), "dataspace of %s", s->dset);
    QCAL__H5_CHECK(h, mspace = H5Screate_simple(s->rank + 1, row, NULL), "memory space of %s",
                   s->dset);
    for (size_t k = 0; k < rounds; k++) {
        const void *buf = NULL;
        if (st == QCAL_OK && k < dp->n_mine) {
            start[0] = (hsize_t)dp->d.rank + (hsize_t)k * (hsize_t)dp->d.size;
            if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, row, NULL) < 0 ||
                H5Sselect_all(mspace) < 0)
                st = qcal__h5_fail(h, "select row %zu of %s", (size_t)start[0], s->dset);
            else
                buf = (const char *)s->rows + k * row_bytes;
        }
        if (!buf) {
            if ((H5Sselect_none(fspace) < 0 || H5Sselect_none(mspace) < 0) && st == QCAL_OK)
                st = qcal__h5_fail(h, "select no row of %s", s->dset);
            buf = &dummy;
        }
        if (H5Dwrite(ds, s->mtype, mspace, fspace, dxpl, buf) < 0 && st == QCAL_OK)
            st = qcal__h5_fail(h, "write round %zu of %s", k, s->dset);
    }
out:
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    return st;
}

/* Creates and writes one dataset; the ranks agree after each of the two collective steps. An
 * empty dataset (no rows or no elements) is only created. */
static qcal_status write_dataset(const qcal_dump *dp, const qcal__h5 *h, hid_t f, hid_t dxpl,
                                 const dset_spec *s)
{
    hid_t ds = -1;
    qcal_status st;

    st = agree(&dp->d, create_dataset(dp, h, f, s, &ds), h->err);
    if (st == QCAL_OK && dp->n_dump && s->nelem)
        st = agree(&dp->d, write_rows(dp, h, ds, dxpl, s), h->err);
    if (ds >= 0)
        H5Dclose(ds);
    return st;
}

/* The root attributes; identical on every rank (collective metadata writes). */
static qcal_status write_root_attrs(const qcal_dump *dp, const qcal__h5 *h, hid_t f)
{
    int32_t version = DUMP_VERSION;
    uint64_t samples = dp->n_dump;
    qcal_status st;

    st = qcal__h5_attr_string(h, f, "format", DUMP_FORMAT);
    if (st == QCAL_OK)
        st = qcal__h5_attr_scalar(h, f, "version", H5T_STD_I32LE, H5T_NATIVE_INT32, &version);
    if (st == QCAL_OK)
        st = qcal__h5_attr_scalar(h, f, "samples", H5T_STD_U64LE, H5T_NATIVE_UINT64, &samples);
    if (st == QCAL_OK)
        st = qcal__h5_attr_string(h, f, "model_path", dp->model_path);
    if (st == QCAL_OK)
        st = qcal__h5_attr_string(h, f, "model_sha256", dp->model_sha256);
    return st;
}

/* Opens tmp for parallel writing on every rank (MPI-IO driver, collective metadata). */
static qcal_status create_file(const qcal__h5 *h, const char *tmp, hid_t *f, hid_t *dxpl)
{
    hid_t fapl = -1;
    qcal_status st = QCAL_OK;

    QCAL__H5_CHECK(h, fapl = H5Pcreate(H5P_FILE_ACCESS), "create file access list");
    QCAL__H5_CHECK(h, H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL), "set MPI-IO driver");
    QCAL__H5_CHECK(h, H5Pset_all_coll_metadata_ops(fapl, 1), "set collective metadata reads");
    QCAL__H5_CHECK(h, H5Pset_coll_metadata_write(fapl, 1), "set collective metadata writes");
    QCAL__H5_CHECK(h, *f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl), "create file");
    QCAL__H5_CHECK(h, *dxpl = H5Pcreate(H5P_DATASET_XFER), "create transfer list");
    QCAL__H5_CHECK(h, H5Pset_dxpl_mpio(*dxpl, H5FD_MPIO_COLLECTIVE), "set collective transfer");
    QCAL__H5_CHECK(h, H5Pset_dxpl_mpio_chunk_opt(*dxpl, H5FD_MPIO_CHUNK_ONE_IO),
                   "set link-chunk transfer");
out:
    if (fapl >= 0)
        H5Pclose(fapl);
    return st;
}

/* The collective part of qcal_dump_write: every dataset into the open file f. */
static qcal_status write_contents(const qcal_dump *dp, const qcal__h5 *h, hid_t f, hid_t dxpl)
{
    uint64_t *index = NULL;
    int64_t no_dims[1] = { 0 };
    qcal_status st;

    st = write_root_attrs(dp, h, f);
    if (st == QCAL_OK && dp->n_mine) {
        index = malloc(dp->n_mine * sizeof *index);
        if (!index)
            st = qcal_error_set(h->err, QCAL_E_NOMEM, "out of memory");
        for (size_t k = 0; index && k < dp->n_mine; k++)
            index[k] = (uint64_t)dp->d.rank + (uint64_t)k * (uint64_t)dp->d.size;
    }
    st = agree(&dp->d, st, h->err);
    if (st == QCAL_OK) {
        dset_spec s = { "sample_index", NULL, H5T_STD_U64LE, H5T_NATIVE_UINT64, sizeof *index, 0,
                        no_dims, 1, index };
        st = write_dataset(dp, h, f, dxpl, &s);
    }
    for (size_t i = 0; st == QCAL_OK && i < dp->n_sel; i++) {
        const dump_tensor *t = &dp->sel[i];
        dset_spec s = { t->dset, t->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, sizeof *t->rows,
                        t->rank, t->dims, t->nelem, t->rows };
        st = write_dataset(dp, h, f, dxpl, &s);
    }
    free(index);
    return st;
}

qcal_status qcal_dump_write(qcal_dump *dp, const char *path, qcal_error *err)
{
    char tmp[PATH_MAX];
    qcal_error e = { .code = QCAL_OK, .msg = "" };
    qcal__h5 h = { path, QCAL_E_IO, &e };
    bool made = false; /* tmp may exist */
    qcal__h5_auto saved;
    hid_t f = -1, dxpl = -1;
    long pid = (long)getpid();
    qcal_status st = QCAL_OK;
    int rc;

    qcal__h5_quiet(&saved);
    /* One temporary name for all ranks: rank 0's pid. */
    if (MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        st = qcal_error_set(&e, QCAL_E_MPI, "MPI: broadcast (dump) failed");
    else
        st = qcal__atomic_tmp_name(path, pid, tmp, sizeof tmp, &e);
    if (st == QCAL_OK && dp->tap_st != QCAL_OK)
        st = qcal_error_set(&e, dp->tap_st, "%s", dp->tap_err.msg);
    st = agree(&dp->d, st, &e);
    if (st != QCAL_OK)
        goto out;
    made = true;
    st = agree(&dp->d, create_file(&h, tmp, &f, &dxpl), &e);
    if (st == QCAL_OK)
        st = write_contents(dp, &h, f, dxpl);
    /* Closing is collective (metadata flush): every rank closes, then they agree. */
    if (f >= 0) {
        rc = H5Fclose(f);
        f = -1;
        if (rc < 0 && st == QCAL_OK)
            st = qcal__h5_fail(&h, "close");
        st = agree(&dp->d, st, &e);
    } else {
        st = agree(&dp->d, st, &e);
    }
    if (st == QCAL_OK) {
        /* Never renamed over a device, FIFO or folder (util/atomic.h). */
        if (dp->d.rank == 0)
            st = qcal__output_check(path, &e);
        if (st == QCAL_OK && dp->d.rank == 0 && rename(tmp, path) != 0)
            st = qcal_error_set(&e, QCAL_E_IO, "%s: rename from %s failed: %s", path, tmp,
                                strerror(errno));
        st = agree(&dp->d, st, &e);
    }
out:
    if (dxpl >= 0)
        H5Pclose(dxpl);
    if (st != QCAL_OK && made && dp->d.rank == 0)
        unlink(tmp);
    qcal__h5_loud(&saved);
    if (st != QCAL_OK && err)
        *err = e;
    return st;
}

void qcal_dump_destroy(qcal_dump *dp)
{
    if (!dp)
        return;
    for (size_t i = 0; i < dp->n_sel; i++) {
        free(dp->sel[i].name);
        free(dp->sel[i].dset);
        free(dp->sel[i].rows);
    }
    free(dp->sel);
    free(dp->slot);
    free(dp->model_path);
    free(dp->model_sha256);
    free(dp);
}
