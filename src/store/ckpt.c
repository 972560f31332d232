/* Checkpoint files: format "qcal-ckpt" v1 (a rank's collector + finished sample indices). */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qcal/ckpt.h"
#include "store/h5util.h"
#include "util/atomic.h"

void qcal_ckpt_fini(qcal_ckpt *k)
{
    if (!k)
        return;
    free(k->done);
    free(k->skipped);
    memset(k, 0, sizeof *k);
}

/* Per tensor: e, k0, min, max, count, nan, pinf, ninf, then the bins. */
qcal_status qcal_ckpt_write(const char *path, const qcal_collector *c, const qcal_ckpt *k,
                            qcal_error *err)
{
    size_t T = qcal_collector_tensors(c), B = qcal_collector_bins(c);
    char tmp[PATH_MAX];
    qcal__h5 h = { path, QCAL_E_IO, err };
    qcal__h5_auto saved;
    hid_t f = -1;
    int32_t *e = malloc((T + 1) * sizeof *e);
    int64_t *k0 = malloc((T + 1) * sizeof *k0);
    float *mm = malloc((2 * T + 1) * sizeof *mm);
    uint64_t *cnt = malloc((4 * T + 1) * sizeof *cnt);
    uint64_t *hist = malloc((T * B + 1) * sizeof *hist);
    uint64_t total = k->n_samples;
    qcal_status st = QCAL_OK;

    st = qcal__atomic_tmp_name(path, (long)getpid(), tmp, sizeof tmp, err);
    if (st != QCAL_OK)
        goto free_out;
    if (!e || !k0 || !mm || !cnt || !hist) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", path);
        goto free_out;
    }
    for (size_t j = 0; j < T; j++) {
        const qcal_hist *x = qcal_collector_hist(c, j);
        e[j] = x->e;
        k0[j] = x->k0;
        mm[2 * j] = x->min;
        mm[2 * j + 1] = x->max;
        cnt[4 * j] = x->count;
        cnt[4 * j + 1] = x->nan;
        cnt[4 * j + 2] = x->pinf;
        cnt[4 * j + 3] = x->ninf;
        memcpy(hist + j * B, x->counts, B * sizeof *hist);
    }
    qcal__h5_quiet(&saved);
    /* In memory, then one atomic write (see qcal__h5_mem_create: a full disk must not hit
     * HDF5's close path). */
    if ((st = qcal__h5_mem_create(&h, tmp, &f)) != QCAL_OK)
        goto out;
    if ((st = qcal__h5_attr_string(&h, f, "format", "qcal-ckpt")) != QCAL_OK ||
        (st = qcal__h5_attr_string(&h, f, "model_sha256", k->model_sha256)) != QCAL_OK ||
        (st = qcal__h5_attr_scalar(&h, f, "samples_total", H5T_STD_U64LE, H5T_NATIVE_UINT64,
                                   &total)) != QCAL_OK ||
        (st = qcal__h5_write_array(&h, f, "hist_e", H5T_STD_I32LE, H5T_NATIVE_INT32, T, 0, e)) ||
        (st = qcal__h5_write_array(&h, f, "hist_k0", H5T_STD_I64LE, H5T_NATIVE_INT64, T, 0, k0)) ||
        (st = qcal__h5_write_array(&h, f, "minmax", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, T, 2, mm)) ||
        (st = qcal__h5_write_array(&h, f, "counts", H5T_STD_U64LE, H5T_NATIVE_UINT64, T, 4, cnt)) ||
        (st = qcal__h5_write_array(&h, f, "hist", H5T_STD_U64LE, H5T_NATIVE_UINT64, T, B, hist)) ||
        (st = qcal__h5_write_array(&h, f, "done", H5T_STD_U64LE, H5T_NATIVE_UINT64, k->n_done, 0,
                                   k->done)) ||
        (st = qcal__h5_write_array(&h, f, "skipped", H5T_STD_U64LE, H5T_NATIVE_UINT64,
                                   k->n_skipped, 0, k->skipped)))
        goto out;
    st = qcal__h5_mem_publish(&h, f, path);
    f = -1;
out:
    if (f >= 0)
        H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    qcal__h5_loud(&saved);
free_out:
    free(e);
    free(k0);
    free(mm);
    free(cnt);
    free(hist);
    return st;
}

qcal_status qcal_ckpt_read(const char *path, qcal_collector *c, qcal_ckpt *k, qcal_error *err)
{
    size_t T = qcal_collector_tensors(c), B = qcal_collector_bins(c), dims[2];
    qcal__h5 h = { path, QCAL_E_CORRUPT, err };
    qcal__h5_auto saved;
    hid_t f = -1;
    char *fmt = NULL, *sha = NULL;
    int32_t *e = malloc((T + 1) * sizeof *e);
    int64_t *k0 = malloc((T + 1) * sizeof *k0);
    float *mm = malloc((2 * T + 1) * sizeof *mm);
    uint64_t *cnt = malloc((4 * T + 1) * sizeof *cnt);
    qcal_hist x;
    qcal_status st = QCAL_OK;

    memset(k, 0, sizeof *k);
    memset(&x, 0, sizeof x);
    if (!e || !k0 || !mm || !cnt || qcal_hist_init(&x, B, err) != QCAL_OK) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", path);
        goto free_out;
    }
    qcal__h5_quiet(&saved);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    QCAL__H5_CHECK(&h, f, "open");
    if ((st = qcal__h5_attr_read_string(&h, f, "format", &fmt)) != QCAL_OK)
        goto out;
    if (strcmp(fmt, "qcal-ckpt") != 0) {
        st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: not a qcal checkpoint", path);
        goto out;
    }
    if ((st = qcal__h5_attr_read_string(&h, f, "model_sha256", &sha)) != QCAL_OK ||
        (st = qcal__h5_attr_read(&h, f, "samples_total", H5T_NATIVE_UINT64, 0, &k->n_samples)))
        goto out;
    snprintf(k->model_sha256, sizeof k->model_sha256, "%s", sha);
    if ((st = qcal__h5_dims(&h, f, "hist", 2, dims)) != QCAL_OK)
        goto out;
    if (dims[0] != T || dims[1] != B) {
        st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: %zu tensors x %zu bins, this run has %zu x "
                            "%zu (other model or --bins?)", path, dims[0], dims[1], T, B);
        goto out;
    }
    if ((st = qcal__h5_read_array(&h, f, "hist_e", H5T_NATIVE_INT32, T, 0, e)) ||
        (st = qcal__h5_read_array(&h, f, "hist_k0", H5T_NATIVE_INT64, T, 0, k0)) ||
        (st = qcal__h5_read_array(&h, f, "minmax", H5T_NATIVE_FLOAT, T, 2, mm)) ||
        (st = qcal__h5_read_array(&h, f, "counts", H5T_NATIVE_UINT64, T, 4, cnt)))
        goto out;
    for (size_t j = 0; j < T; j++) {
        hid_t d = -1, fs = -1, ms = -1;
        hsize_t start[2] = { j, 0 }, count[2] = { 1, B }, mdim = B;
        x.e = e[j];
        x.k0 = k0[j];
        x.min = mm[2 * j];
        x.max = mm[2 * j + 1];
        x.count = cnt[4 * j];
        x.nan = cnt[4 * j + 1];
        x.pinf = cnt[4 * j + 2];
        x.ninf = cnt[4 * j + 3];
        d = H5Dopen2(f, "hist", H5P_DEFAULT);
        fs = d >= 0 ? H5Dget_space(d) : -1;
        ms = H5Screate_simple(1, &mdim, NULL);
        if (d < 0 || fs < 0 || ms < 0 ||
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dread(d, H5T_NATIVE_UINT64, ms, fs, H5P_DEFAULT, x.counts) < 0)
            st = qcal__h5_fail(&h, "read hist row %zu", j);
        if (ms >= 0)
            H5Sclose(ms);
        if (fs >= 0)
            H5Sclose(fs);
        if (d >= 0)
            H5Dclose(d);
        if (st != QCAL_OK)
            goto out;
        if ((st = qcal_hist_validate(&x, err)) != QCAL_OK ||
            (st = qcal_hist_merge(qcal_collector_hist_mut(c, j), &x, err)) != QCAL_OK) {
            qcal_error_prefix(err, path);
            goto out;
        }
    }
    if ((st = qcal__h5_dims(&h, f, "done", 1, dims)) != QCAL_OK)
        goto out;
    k->n_done = dims[0];
    k->done = malloc((k->n_done + 1) * sizeof *k->done);
    if (!k->done) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if ((st = qcal__h5_read_array(&h, f, "done", H5T_NATIVE_UINT64, k->n_done, 0,
                                              k->done)))
        goto out;
    if ((st = qcal__h5_dims(&h, f, "skipped", 1, dims)) != QCAL_OK)
        goto out;
    k->n_skipped = dims[0];
    k->skipped = malloc((k->n_skipped + 1) * sizeof *k->skipped);
    if (!k->skipped) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if ((st = qcal__h5_read_array(&h, f, "skipped", H5T_NATIVE_UINT64,
                                                 k->n_skipped, 0, k->skipped)))
        goto out;
out:
    if (f >= 0)
        H5Fclose(f);
    qcal__h5_loud(&saved);
free_out:
    if (st != QCAL_OK)
        qcal_ckpt_fini(k);
    qcal_hist_fini(&x);
    free(fmt);
    free(sha);
    free(e);
    free(k0);
    free(mm);
    free(cnt);
    return st;
}

/* ---- checkpoint folder ---- */

qcal_status qcal_ckpt_dir_rank_path(const char *out, int gen, int rank, char *buf, size_t size,
                                    qcal_error *err)
{
    if (snprintf(buf, size, "%s.ckpt/gen%d/rank%d.h5", out, gen, rank) >= (int)size)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: path too long", out);
    return QCAL_OK;
}

int qcal_ckpt_dir_latest(const char *out)
{
    char path[PATH_MAX];
    DIR *d;
    struct dirent *e;
    int best = -1;

    snprintf(path, sizeof path, "%s.ckpt", out);
    d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        char *end;
        long g;
        if (strncmp(e->d_name, "gen", 3) != 0)
            continue;
        g = strtol(e->d_name + 3, &end, 10);
        if (*end == '\0' && g >= 0 && g < INT_MAX && (int)g > best)
            best = (int)g;
    }
    closedir(d);
    return best;
}

/* mkdir that accepts an existing real directory only (not a symlink, file or device). */
static qcal_status make_dir(const char *path, qcal_error *err)
{
    struct stat sb;

    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return qcal_error_set(err, QCAL_E_IO, "%s: %s", path, strerror(errno));
    if (lstat(path, &sb) != 0)
        return qcal_error_set(err, QCAL_E_IO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return qcal_error_set(err, QCAL_E_INVALID, "%s: exists and is not a directory (a "
                              "checkpoint folder is never followed through a symlink)", path);
    return QCAL_OK;
}

qcal_status qcal_ckpt_dir_make(const char *out, int gen, qcal_error *err)
{
    char path[PATH_MAX];
    qcal_status st;

    if (snprintf(path, sizeof path, "%s.ckpt", out) >= (int)sizeof path)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: path too long", out);
    if ((st = make_dir(path, err)) != QCAL_OK)
        return st;
    if (snprintf(path, sizeof path, "%s.ckpt/gen%d", out, gen) >= (int)sizeof path)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: path too long", out);
    return make_dir(path, err);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void qcal_ckpt_dir_remove(const char *out)
{
    char path[PATH_MAX];
    struct stat sb;

    /* Only a real folder: a file, device or symlink of that name is not qcal's to delete. */
    if (snprintf(path, sizeof path, "%s.ckpt", out) >= (int)sizeof path ||
        lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return;
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
