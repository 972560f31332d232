/*
 * Reading the HDF5 stats file (DESIGN.md: "HDF5 stats file (format qcal-stats, version 1)"),
 * the inverse of stats_file.c. Every table's row count comes from its first column; every other
 * column must have exactly that many rows, CSR ranges must stay inside their flat arrays, and
 * every histogram must pass qcal_hist_validate, so a damaged or foreign file is an error naming
 * the file and the first problem, never a crash.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qcal/store.h"
#include "store/h5util.h"

/* Runs a qcal_status call and jumps to out on failure (st holds its status). */
#define TRY(call)                                                                                \
    do {                                                                                         \
        if ((st = (call)) != QCAL_OK)                                                            \
            goto out;                                                                            \
    } while (0)

static qcal_status nomem(const qcal__h5 *h, const char *what)
{
    return qcal_error_set(h->err, QCAL_E_NOMEM, "%s: out of memory reading %s", h->path, what);
}

/* calloc of n elements that treats n == 0 as success (NULL) and sets *fail otherwise. */
static void *alloc_n(size_t n, size_t size, bool *fail)
{
    void *p;

    if (n == 0)
        return NULL;
    p = calloc(n, size);
    if (!p)
        *fail = true;
    return p;
}

/* Opens group `name` of loc; a missing group is an error naming it. */
static qcal_status group_open(const qcal__h5 *h, hid_t loc, const char *name, hid_t *g)
{
    *g = -1;
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: missing group /%s", h->path, name);
    }
    *g = H5Gopen2(loc, name, H5P_DEFAULT);
    if (*g < 0)
        return qcal__h5_fail(h, "open group /%s", name);
    return QCAL_OK;
}

/* True when every CSR range (start[i], count[i]) of rows rows lies inside n values. */
static bool csr_ok(const uint64_t *start, const uint64_t *count, size_t rows, size_t n)
{
    for (size_t i = 0; i < rows; i++)
        if (count[i] > n || start[i] > n - count[i])
            return false;
    return true;
}

/* True when the counts of rows rows add up to exactly n (C = sum of ch_count). */
static bool csr_sum_is(const uint64_t *count, size_t rows, size_t n)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < rows; i++) {
        if (count[i] > UINT64_MAX - sum)
            return false;
        sum += count[i];
    }
    return sum == (uint64_t)n;
}

static qcal_status read_root(const qcal__h5 *h, hid_t fid, qcal_stats *s)
{
    qcal_status st = QCAL_OK;
    char *format = NULL;
    int version = 0;
    size_t nr = 0;

    if (H5Aexists(fid, "format") <= 0 || qcal__h5_attr_read_string(h, fid, "format", &format) ||
        strcmp(format, "qcal-stats") != 0) {
        H5Eclear2(H5E_DEFAULT);
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: not a qcal-stats file", h->path);
        goto out;
    }
    TRY(qcal__h5_attr_read(h, fid, "version", H5T_NATIVE_INT, 0, &version));
    if (version != 1) {
        st = qcal_error_set(h->err, QCAL_E_UNSUPPORTED, "%s: qcal-stats version %d unsupported "
                            "(this qcal reads version 1)", h->path, version);
        goto out;
    }
    TRY(qcal__h5_attr_read_string(h, fid, "qcal_version", &s->qcal_version));
    TRY(qcal__h5_attr_read_string(h, fid, "created", &s->created));
    TRY(qcal__h5_attr_read_string(h, fid, "model_path", &s->model_path));
    TRY(qcal__h5_attr_read_string(h, fid, "model_sha256", &s->model_sha256));
    if (H5Aexists(fid, "source_dtype") > 0) {
        TRY(qcal__h5_attr_read_string(h, fid, "source_dtype", &s->source_dtype));
        if (strcmp(s->source_dtype, "float16") != 0 && strcmp(s->source_dtype, "bfloat16") != 0) {
            st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: source_dtype '%.40s' is neither "
                                "float16 nor bfloat16", h->path, s->source_dtype);
            goto out;
        }
    }
    TRY(qcal__h5_attr_read(h, fid, "samples", H5T_NATIVE_UINT64, 0, &s->samples));
    TRY(qcal__h5_attr_read(h, fid, "bins", H5T_NATIVE_INT, 0, &s->bins));
    if (s->bins < 2 || (size_t)s->bins > QCAL_HIST_MAX_BINS || (s->bins & (s->bins - 1))) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: bins %d is not a power of two in [2, "
                            "%zu]", h->path, s->bins, QCAL_HIST_MAX_BINS);
        goto out;
    }
    TRY(qcal__h5_attr_read_string(h, fid, "preprocess", &s->preprocess));
    TRY(qcal__h5_attr_read_string(h, fid, "dataset", &s->dataset));
    TRY(qcal__h5_attr_read(h, fid, "ranks", H5T_NATIVE_INT, 0, &s->ranks));
    TRY(qcal__h5_attr_len(h, fid, "rank_samples", &nr));
    if (s->ranks < 0 || nr != (size_t)s->ranks) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: ranks is %d but rank_samples has %zu "
                            "values", h->path, s->ranks, nr);
        goto out;
    }
    if (nr > 0) {
        s->rank_samples = calloc(nr, sizeof *s->rank_samples);
        if (!s->rank_samples) {
            st = nomem(h, "rank_samples");
            goto out;
        }
        TRY(qcal__h5_attr_read(h, fid, "rank_samples", H5T_NATIVE_UINT64, nr, s->rank_samples));
    }
out:
    free(format);
    return st;
}

/* Moves the n strings of column `name` into the char * field at byte offset off of n records
 * of size rsize (tmp: scratch for n pointers). */
static qcal_status str_col(const qcal__h5 *h, hid_t g, const char *name, char **tmp, void *recs,
                           size_t rsize, size_t off, size_t n)
{
    qcal_status st = qcal__h5_read_strings(h, g, name, n, tmp);

    if (st != QCAL_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        memcpy((char *)recs + i * rsize + off, &tmp[i], sizeof tmp[i]);
    return QCAL_OK;
}

#define STR_COL(g, name, tmp, recs, type, field, n)                                              \
    str_col(h, (g), (name), (tmp), (recs), sizeof(type), offsetof(type, field), (n))

/*
 * /activations/hist, row by row into each record's histogram (initialised here with the
 * file's bins), then the histogram's other fields are filled by the caller.
 */
static qcal_status read_hist(const qcal__h5 *h, hid_t g, qcal_stats *s)
{
    hsize_t count[2] = { 1, (hsize_t)s->bins }, start[2] = { 0, 0 };
    hid_t dset = -1, fspace = -1, mspace = -1;
    size_t dims[2];
    qcal_status st;

    TRY(qcal__h5_dims(h, g, "hist", 2, dims));
    if (dims[0] != s->n_act || dims[1] != (size_t)s->bins) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /activations/hist is [%zu, %zu], "
                            "expected [%zu, %d]", h->path, dims[0], dims[1], s->n_act, s->bins);
        goto out;
    }
    QCAL__H5_CHECK(h, dset = H5Dopen2(g, "hist", H5P_DEFAULT), "open /activations/hist");
    QCAL__H5_CHECK(h, fspace = H5Dget_space(dset), "read the shape of /activations/hist");
    QCAL__H5_CHECK(h, mspace = H5Screate_simple(1, &count[1], NULL), "create a dataspace");
    for (size_t t = 0; t < s->n_act; t++) {
        TRY(qcal_hist_init(&s->act[t].hist, (size_t)s->bins, h->err));
        start[0] = (hsize_t)t;
        QCAL__H5_CHECK(h, H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL),
                       "select row %zu of /activations/hist", t);
        QCAL__H5_CHECK(h, H5Dread(dset, H5T_NATIVE_UINT64, mspace, fspace, H5P_DEFAULT,
                                  s->act[t].hist.counts),
                       "read row %zu of /activations/hist", t);
    }
out:
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    if (dset >= 0)
        H5Dclose(dset);
    return st;
}

static qcal_status read_activations(const qcal__h5 *h, hid_t fid, qcal_stats *s)
{
    hid_t g = -1;
    qcal_status st;
    size_t T;
    void *buf = NULL;
    float *fv;
    uint64_t *uv;
    int32_t *iv;
    int64_t *lv;
    qcal_act_rec *a;
    bool fail = false;

    TRY(group_open(h, fid, "activations", &g));
    TRY(qcal__h5_dims(h, g, "name", 1, &T));
    s->act = alloc_n(T, sizeof *s->act, &fail);
    buf = malloc(T ? T * 3 * sizeof(uint64_t) : 1);
    if (fail || !buf) {
        st = nomem(h, "/activations");
        goto out;
    }
    s->n_act = T;
    a = s->act;
    fv = buf;
    uv = buf;
    iv = buf;
    lv = buf;
    TRY(STR_COL(g, "name", buf, a, qcal_act_rec, name, T));
    TRY(STR_COL(g, "kind", buf, a, qcal_act_rec, kind, T));
    TRY(STR_COL(g, "dtype", buf, a, qcal_act_rec, dtype, T));
    TRY(STR_COL(g, "shape", buf, a, qcal_act_rec, shape, T));
    TRY(STR_COL(g, "producer", buf, a, qcal_act_rec, producer, T));
    TRY(STR_COL(g, "op", buf, a, qcal_act_rec, op, T));
    TRY(read_hist(h, g, s));
    TRY(qcal__h5_read_array(h, g, "min", H5T_NATIVE_FLOAT, T, 0, fv));
    for (size_t t = 0; t < T; t++)
        a[t].hist.min = fv[t];
    TRY(qcal__h5_read_array(h, g, "max", H5T_NATIVE_FLOAT, T, 0, fv));
    for (size_t t = 0; t < T; t++)
        a[t].hist.max = fv[t];
    TRY(qcal__h5_read_array(h, g, "count", H5T_NATIVE_UINT64, T, 0, uv));
    for (size_t t = 0; t < T; t++)
        a[t].hist.count = uv[t];
    TRY(qcal__h5_read_array(h, g, "nonfinite", H5T_NATIVE_UINT64, T, 3, uv));
    for (size_t t = 0; t < T; t++) {
        a[t].hist.nan = uv[3 * t];
        a[t].hist.pinf = uv[3 * t + 1];
        a[t].hist.ninf = uv[3 * t + 2];
    }
    TRY(qcal__h5_read_array(h, g, "hist_e", H5T_NATIVE_INT32, T, 0, iv));
    for (size_t t = 0; t < T; t++)
        a[t].hist.e = iv[t];
    TRY(qcal__h5_read_array(h, g, "hist_k0", H5T_NATIVE_INT64, T, 0, lv));
    for (size_t t = 0; t < T; t++)
        a[t].hist.k0 = lv[t];
    for (size_t t = 0; t < T; t++) {
        if (qcal_hist_validate(&a[t].hist, h->err) != QCAL_OK) {
            char where[400];
            snprintf(where, sizeof where, "%s: activation '%s'", h->path, a[t].name);
            st = qcal_error_prefix(h->err, where);
            if (!h->err)
                st = QCAL_E_CORRUPT;
            goto out;
        }
    }
out:
    if (g >= 0)
        H5Gclose(g);
    free(buf);
    return st;
}

static qcal_status read_weights(const qcal__h5 *h, hid_t fid, qcal_stats *s)
{
    hid_t g = -1;
    qcal_status st;
    size_t W, C;
    void *buf = NULL;
    float *chmin = NULL, *chmax = NULL, *fv;
    uint64_t *start = NULL, *count = NULL;
    int32_t *iv;
    qcal_weight_rec *w;
    bool fail = false;

    TRY(group_open(h, fid, "weights", &g));
    TRY(qcal__h5_dims(h, g, "name", 1, &W));
    TRY(qcal__h5_dims(h, g, "ch_min", 1, &C));
    s->weights = alloc_n(W, sizeof *s->weights, &fail);
    start = alloc_n(W, sizeof *start, &fail);
    count = alloc_n(W, sizeof *count, &fail);
    chmin = alloc_n(C, sizeof *chmin, &fail);
    chmax = alloc_n(C, sizeof *chmax, &fail);
    buf = malloc(W ? W * sizeof(uint64_t) : 1);
    if (fail || !buf) {
        st = nomem(h, "/weights");
        goto out;
    }
    s->n_weights = W;
    w = s->weights;
    fv = buf;
    iv = buf;
    TRY(STR_COL(g, "name", buf, w, qcal_weight_rec, name, W));
    TRY(STR_COL(g, "consumer", buf, w, qcal_weight_rec, consumer, W));
    TRY(STR_COL(g, "op", buf, w, qcal_weight_rec, op, W));
    TRY(STR_COL(g, "shape", buf, w, qcal_weight_rec, shape, W));
    TRY(qcal__h5_read_array(h, g, "axis", H5T_NATIVE_INT32, W, 0, iv));
    for (size_t i = 0; i < W; i++)
        w[i].axis = iv[i];
    TRY(qcal__h5_read_array(h, g, "min", H5T_NATIVE_FLOAT, W, 0, fv));
    for (size_t i = 0; i < W; i++)
        w[i].min = fv[i];
    TRY(qcal__h5_read_array(h, g, "max", H5T_NATIVE_FLOAT, W, 0, fv));
    for (size_t i = 0; i < W; i++)
        w[i].max = fv[i];
    TRY(qcal__h5_read_array(h, g, "ch_start", H5T_NATIVE_UINT64, W, 0, start));
    TRY(qcal__h5_read_array(h, g, "ch_count", H5T_NATIVE_UINT64, W, 0, count));
    TRY(qcal__h5_read_array(h, g, "ch_min", H5T_NATIVE_FLOAT, C, 0, chmin));
    TRY(qcal__h5_read_array(h, g, "ch_max", H5T_NATIVE_FLOAT, C, 0, chmax));
    if (!csr_ok(start, count, W, C) || !csr_sum_is(count, W, C)) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /weights/ch_start, ch_count: channel "
                            "ranges exceed or do not add up to the %zu rows of ch_min", h->path,
                            C);
        goto out;
    }
    for (size_t i = 0; i < W; i++) {
        w[i].ch_count = (size_t)count[i];
        w[i].ch_min = alloc_n(count[i], sizeof(float), &fail);
        w[i].ch_max = alloc_n(count[i], sizeof(float), &fail);
        if (fail) {
            st = nomem(h, "/weights");
            goto out;
        }
        if (count[i]) {
            memcpy(w[i].ch_min, chmin + start[i], count[i] * sizeof(float));
            memcpy(w[i].ch_max, chmax + start[i], count[i] * sizeof(float));
        }
    }
out:
    if (g >= 0)
        H5Gclose(g);
    free(buf);
    free(start);
    free(count);
    free(chmin);
    free(chmax);
    return st;
}

static qcal_status read_graph(const qcal__h5 *h, hid_t fid, qcal_graph_rec *gr)
{
    hid_t g = -1;
    qcal_status st;
    size_t N, I, O;
    bool fail = false;

    TRY(group_open(h, fid, "graph", &g));
    TRY(qcal__h5_dims(h, g, "node_name", 1, &N));
    TRY(qcal__h5_dims(h, g, "inputs", 1, &I));
    TRY(qcal__h5_dims(h, g, "outputs", 1, &O));
    gr->node_name = alloc_n(N, sizeof(char *), &fail);
    gr->node_op = alloc_n(N, sizeof(char *), &fail);
    gr->in_start = alloc_n(N, sizeof(uint64_t), &fail);
    gr->in_count = alloc_n(N, sizeof(uint64_t), &fail);
    gr->out_start = alloc_n(N, sizeof(uint64_t), &fail);
    gr->out_count = alloc_n(N, sizeof(uint64_t), &fail);
    gr->inputs = alloc_n(I, sizeof(char *), &fail);
    gr->outputs = alloc_n(O, sizeof(char *), &fail);
    if (fail) {
        st = nomem(h, "/graph");
        goto out;
    }
    gr->n_nodes = N;
    gr->n_inputs = I;
    gr->n_outputs = O;
    TRY(qcal__h5_read_strings(h, g, "node_name", N, gr->node_name));
    TRY(qcal__h5_read_strings(h, g, "node_op", N, gr->node_op));
    TRY(qcal__h5_read_array(h, g, "in_start", H5T_NATIVE_UINT64, N, 0, gr->in_start));
    TRY(qcal__h5_read_array(h, g, "in_count", H5T_NATIVE_UINT64, N, 0, gr->in_count));
    TRY(qcal__h5_read_array(h, g, "out_start", H5T_NATIVE_UINT64, N, 0, gr->out_start));
    TRY(qcal__h5_read_array(h, g, "out_count", H5T_NATIVE_UINT64, N, 0, gr->out_count));
    TRY(qcal__h5_read_strings(h, g, "inputs", I, gr->inputs));
    TRY(qcal__h5_read_strings(h, g, "outputs", O, gr->outputs));
    if (!csr_ok(gr->in_start, gr->in_count, N, I) || !csr_ok(gr->out_start, gr->out_count, N, O)) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /graph node inputs/outputs out of "
                            "range", h->path);
        goto out;
    }
    TRY(qcal__h5_attr_read_strings(h, g, "graph_outputs", &gr->graph_outputs,
                                   &gr->n_graph_outputs));
out:
    if (g >= 0)
        H5Gclose(g);
    return st;
}

static qcal_status read_samples(const qcal__h5 *h, hid_t fid, qcal_stats *s)
{
    hid_t g = -1;
    qcal_status st;
    size_t S, K;
    bool fail = false;

    TRY(group_open(h, fid, "samples", &g));
    TRY(qcal__h5_dims(h, g, "path", 1, &S));
    TRY(qcal__h5_dims(h, g, "skipped", 1, &K));
    s->sample_paths = alloc_n(S, sizeof(char *), &fail);
    s->skipped = alloc_n(K, sizeof(char *), &fail);
    if (fail) {
        st = nomem(h, "/samples");
        goto out;
    }
    s->n_samples = S;
    s->n_skipped = K;
    TRY(qcal__h5_read_strings(h, g, "path", S, s->sample_paths));
    TRY(qcal__h5_read_strings(h, g, "skipped", K, s->skipped));
out:
    if (g >= 0)
        H5Gclose(g);
    return st;
}

/* The act_* columns of encoding set e (group g). */
static qcal_status read_enc_acts(const qcal__h5 *h, hid_t g, qcal_enc_set *e)
{
    qcal_status st;
    size_t n;
    void *buf = NULL;
    float *fv;
    int32_t *iv;
    int64_t *lv;
    uint8_t *bv;
    char **sv;
    bool fail = false;

    TRY(qcal__h5_dims(h, g, "act_name", 1, &n));
    e->act = alloc_n(n, sizeof *e->act, &fail);
    buf = malloc(n ? n * sizeof(uint64_t) : 1);
    if (fail || !buf) {
        st = nomem(h, "/encodings");
        goto out;
    }
    e->n_act = n;
    fv = buf;
    iv = buf;
    lv = buf;
    bv = buf;
    sv = buf;
    TRY(STR_COL(g, "act_name", buf, e->act, qcal_act_enc, name, n));
    TRY(qcal__h5_read_array(h, g, "act_bitwidth", H5T_NATIVE_INT32, n, 0, iv));
    for (size_t i = 0; i < n; i++)
        e->act[i].bitwidth = iv[i];
    TRY(qcal__h5_read_array(h, g, "act_scale", H5T_NATIVE_FLOAT, n, 0, fv));
    for (size_t i = 0; i < n; i++)
        e->act[i].scale = fv[i];
    TRY(qcal__h5_read_array(h, g, "act_min", H5T_NATIVE_FLOAT, n, 0, fv));
    for (size_t i = 0; i < n; i++)
        e->act[i].min = fv[i];
    TRY(qcal__h5_read_array(h, g, "act_max", H5T_NATIVE_FLOAT, n, 0, fv));
    for (size_t i = 0; i < n; i++)
        e->act[i].max = fv[i];
    TRY(qcal__h5_read_array(h, g, "act_offset", H5T_NATIVE_INT64, n, 0, lv));
    for (size_t i = 0; i < n; i++)
        e->act[i].offset = lv[i];
    TRY(qcal__h5_read_array(h, g, "act_symmetric", H5T_NATIVE_UINT8, n, 0, bv));
    for (size_t i = 0; i < n; i++)
        e->act[i].symmetric = bv[i] != 0;
    TRY(qcal__h5_read_strings(h, g, "act_dtype", n, sv));
    for (size_t i = 0; i < n; i++) {
        bool is_float = !strcmp(sv[i], "float");
        if (!is_float && strcmp(sv[i], "int") != 0) {
            st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /encodings/%s: act_dtype '%s' of "
                                "'%s' is neither int nor float", h->path, e->label, sv[i],
                                e->act[i].name);
            /* Free the rest of the column below. */
            for (size_t j = i; j < n; j++)
                free(sv[j]);
            goto out;
        }
        e->act[i].is_float = is_float;
        free(sv[i]);
    }
out:
    free(buf);
    return st;
}

/* The param_* columns of encoding set e (group g), per-channel values from CSR form. */
static qcal_status read_enc_params(const qcal__h5 *h, hid_t g, qcal_enc_set *e)
{
    qcal_status st;
    size_t n, C;
    void *buf = NULL;
    uint64_t *start = NULL, *count = NULL;
    float *scale = NULL, *mn = NULL, *mx = NULL;
    int64_t *offset = NULL;
    int32_t *iv;
    uint8_t *bv;
    bool fail = false;

    TRY(qcal__h5_dims(h, g, "param_name", 1, &n));
    TRY(qcal__h5_dims(h, g, "param_scale", 1, &C));
    e->param = alloc_n(n, sizeof *e->param, &fail);
    start = alloc_n(n, sizeof *start, &fail);
    count = alloc_n(n, sizeof *count, &fail);
    scale = alloc_n(C, sizeof *scale, &fail);
    mn = alloc_n(C, sizeof *mn, &fail);
    mx = alloc_n(C, sizeof *mx, &fail);
    offset = alloc_n(C, sizeof *offset, &fail);
    buf = malloc(n ? n * sizeof(uint64_t) : 1);
    if (fail || !buf) {
        st = nomem(h, "/encodings");
        goto out;
    }
    e->n_param = n;
    iv = buf;
    bv = buf;
    TRY(STR_COL(g, "param_name", buf, e->param, qcal_param_enc, name, n));
    TRY(qcal__h5_read_array(h, g, "param_ch_start", H5T_NATIVE_UINT64, n, 0, start));
    TRY(qcal__h5_read_array(h, g, "param_ch_count", H5T_NATIVE_UINT64, n, 0, count));
    TRY(qcal__h5_read_array(h, g, "param_scale", H5T_NATIVE_FLOAT, C, 0, scale));
    TRY(qcal__h5_read_array(h, g, "param_min", H5T_NATIVE_FLOAT, C, 0, mn));
    TRY(qcal__h5_read_array(h, g, "param_max", H5T_NATIVE_FLOAT, C, 0, mx));
    TRY(qcal__h5_read_array(h, g, "param_offset", H5T_NATIVE_INT64, C, 0, offset));
    TRY(qcal__h5_read_array(h, g, "param_bitwidth", H5T_NATIVE_INT32, n, 0, iv));
    for (size_t i = 0; i < n; i++)
        e->param[i].bitwidth = iv[i];
    TRY(qcal__h5_read_array(h, g, "param_symmetric", H5T_NATIVE_UINT8, n, 0, bv));
    for (size_t i = 0; i < n; i++)
        e->param[i].symmetric = bv[i] != 0;
    if (!csr_ok(start, count, n, C) || !csr_sum_is(count, n, C)) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /encodings/%s/param_ch_start, "
                            "param_ch_count: channel ranges exceed or do not add up to the %zu "
                            "rows of param_scale", h->path, e->label, C);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        qcal_param_enc *p = &e->param[i];
        size_t c = (size_t)count[i], s0 = (size_t)start[i];
        p->ch_count = c;
        p->scale = alloc_n(c, sizeof(float), &fail);
        p->min = alloc_n(c, sizeof(float), &fail);
        p->max = alloc_n(c, sizeof(float), &fail);
        p->offset = alloc_n(c, sizeof(int64_t), &fail);
        if (fail) {
            st = nomem(h, "/encodings");
            goto out;
        }
        if (c) {
            memcpy(p->scale, scale + s0, c * sizeof(float));
            memcpy(p->min, mn + s0, c * sizeof(float));
            memcpy(p->max, mx + s0, c * sizeof(float));
            memcpy(p->offset, offset + s0, c * sizeof(int64_t));
        }
    }
out:
    free(buf);
    free(start);
    free(count);
    free(scale);
    free(mn);
    free(mx);
    free(offset);
    return st;
}

/* State of the H5Literate walk over /encodings. */
typedef struct enc_walk {
    const qcal__h5 *h;
    qcal_stats *s;
    size_t cap;
    qcal_status st;
} enc_walk;

/* Reads the encoding set `name` into the next slot of s->enc; a failure stops the walk. */
static herr_t enc_visit(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    enc_walk *w = data;
    const qcal__h5 *h = w->h;
    qcal_enc_set *e;
    qcal_status st = QCAL_OK;
    hid_t ge = -1;

    (void)info;
    if (w->s->n_enc >= w->cap) {
        w->st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /encodings changed while reading",
                               h->path);
        return -1;
    }
    e = &w->s->enc[w->s->n_enc++];
    e->label = strdup(name);
    if (!e->label) {
        w->st = nomem(h, "/encodings");
        return -1;
    }
    QCAL__H5_CHECK(h, ge = H5Gopen2(g, name, H5P_DEFAULT), "open group /encodings/%s", name);
    TRY(qcal__h5_attr_read_string(h, ge, "method", &e->method));
    TRY(qcal__h5_attr_read_string(h, ge, "params", &e->params));
    TRY(qcal__h5_attr_read_string(h, ge, "created", &e->created));
    TRY(read_enc_acts(h, ge, e));
    TRY(read_enc_params(h, ge, e));
out:
    if (ge >= 0)
        H5Gclose(ge);
    w->st = st;
    return st == QCAL_OK ? 0 : -1;
}

/*
 * Every member of /encodings, in creation order when the group tracks it (files written by
 * qcal do), else in name order. A file without /encodings has no sets.
 */
static qcal_status read_encodings(const qcal__h5 *h, hid_t fid, qcal_stats *s)
{
    hid_t g = -1, gcpl = -1;
    H5G_info_t gi;
    unsigned crt = 0;
    hsize_t idx = 0;
    enc_walk w = { .h = h, .s = s, .cap = 0, .st = QCAL_OK };
    qcal_status st = QCAL_OK;
    herr_t rc;

    if (H5Lexists(fid, "encodings", H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return QCAL_OK;
    }
    TRY(group_open(h, fid, "encodings", &g));
    QCAL__H5_CHECK(h, H5Gget_info(g, &gi), "list /encodings");
    QCAL__H5_CHECK(h, gcpl = H5Gget_create_plist(g), "read the properties of /encodings");
    QCAL__H5_CHECK(h, H5Pget_link_creation_order(gcpl, &crt), "read the link order of "
                   "/encodings");
    if (gi.nlinks == 0)
        goto out;
    s->enc = calloc((size_t)gi.nlinks, sizeof *s->enc);
    if (!s->enc) {
        st = nomem(h, "/encodings");
        goto out;
    }
    w.cap = (size_t)gi.nlinks;
    rc = H5Literate(g, (crt & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME,
                    H5_ITER_INC, &idx, enc_visit, &w);
    if (w.st != QCAL_OK)
        st = w.st;
    else if (rc < 0)
        st = qcal__h5_fail(h, "list /encodings");
out:
    if (gcpl >= 0)
        H5Pclose(gcpl);
    if (g >= 0)
        H5Gclose(g);
    return st;
}

/* The target file of the /dumps external link, when there is one. */
static qcal_status read_dumps(const qcal__h5 *h, hid_t fid, qcal_stats *s)
{
    H5L_info_t li;
    char *val = NULL;
    const char *file = NULL, *obj = NULL;
    unsigned flags = 0;
    qcal_status st = QCAL_OK;

    if (H5Lexists(fid, "dumps", H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return QCAL_OK;
    }
    QCAL__H5_CHECK(h, H5Lget_info(fid, "dumps", &li, H5P_DEFAULT), "read link /dumps");
    if (li.type != H5L_TYPE_EXTERNAL) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /dumps is not an external link",
                            h->path);
        goto out;
    }
    val = malloc(li.u.val_size ? li.u.val_size : 1);
    if (!val) {
        st = nomem(h, "/dumps");
        goto out;
    }
    QCAL__H5_CHECK(h, H5Lget_val(fid, "dumps", val, li.u.val_size, H5P_DEFAULT),
                   "read link /dumps");
    QCAL__H5_CHECK(h, H5Lunpack_elink_val(val, li.u.val_size, &flags, &file, &obj),
                   "read link /dumps");
    s->dumps_file = strdup(file);
    if (!s->dumps_file)
        st = nomem(h, "/dumps");
out:
    free(val);
    return st;
}

/* ---- consistency of what was read (DESIGN.md "HDF5 stats file") ---------------------------
 *
 * Every value is checked against the schema and the other columns before any caller uses it:
 * the sample counts agree with each other, names are non-empty and unique, encodings name
 * existing tensors and hold usable numbers. The first problem is one error naming the dataset.
 */

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted copy of the n strings v (NULL when n is 0 or on failure: *fail). */
static char **sorted_copy(char *const *v, size_t n, bool *fail)
{
    char **c = alloc_n(n, sizeof *c, fail);

    if (c) {
        memcpy(c, v, n * sizeof *c);
        qsort(c, n, sizeof *c, cmp_str_ptr);
    }
    return c;
}

/* Gathers the char * field at byte offset off of n records of size rsize into a sorted array. */
static char **sorted_field(const void *recs, size_t rsize, size_t off, size_t n, bool *fail)
{
    char **c = alloc_n(n, sizeof *c, fail);

    for (size_t i = 0; c && i < n; i++)
        memcpy(&c[i], (const char *)recs + i * rsize + off, sizeof c[i]);
    if (c)
        qsort(c, n, sizeof *c, cmp_str_ptr);
    return c;
}

#define SORTED_FIELD(recs, type, field, n, fail)                                                 \
    sorted_field((recs), sizeof(type), offsetof(type, field), (n), (fail))

/* The first empty or repeated name of a sorted array, or NULL. */
static const char *bad_name(char *const *sorted, size_t n, bool *empty)
{
    for (size_t i = 0; i < n; i++) {
        *empty = !sorted[i][0];
        if (*empty || (i > 0 && !strcmp(sorted[i], sorted[i - 1])))
            return sorted[i];
    }
    return NULL;
}

static bool has_name(char *const *sorted, size_t n, const char *name)
{
    return n && bsearch(&name, sorted, n, sizeof *sorted, cmp_str_ptr) != NULL;
}

/* Fails naming dataset obj when a sorted name column has an empty or repeated entry. */
static qcal_status check_names(const qcal__h5 *h, char *const *sorted, size_t n, const char *obj)
{
    bool empty = false;
    const char *b = bad_name(sorted, n, &empty);

    if (!b)
        return QCAL_OK;
    if (empty)
        return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: %s has an empty name", h->path, obj);
    return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: %s lists '%s' twice", h->path, obj, b);
}

/* An n-bit integer encoding: scale finite > 0, finite min <= max, offset in [-(2^n - 1), 0]. */
static bool int_enc_ok(int bits, float scale, float mn, float mx, int64_t offset)
{
    return bits >= 2 && bits <= 32 && isfinite(scale) && scale > 0.0f && isfinite(mn) &&
           isfinite(mx) && mn <= mx && offset <= 0 && offset >= -(int64_t)((UINT64_C(1) << bits) - 1);
}

static qcal_status check_enc(const qcal__h5 *h, const qcal_stats *s, const qcal_enc_set *e,
                             char *const *acts, char *const *weights)
{
    char obj[320];
    qcal_status st = QCAL_OK;
    bool fail = false;
    char **names;

    snprintf(obj, sizeof obj, "/encodings/%s/act_name", e->label);
    names = SORTED_FIELD(e->act, qcal_act_enc, name, e->n_act, &fail);
    if (fail)
        return nomem(h, obj);
    st = check_names(h, names, e->n_act, obj);
    free(names);
    if (st != QCAL_OK)
        return st;
    names = SORTED_FIELD(e->param, qcal_param_enc, name, e->n_param, &fail);
    if (fail)
        return nomem(h, obj);
    snprintf(obj, sizeof obj, "/encodings/%s/param_name", e->label);
    st = check_names(h, names, e->n_param, obj);
    free(names);
    if (st != QCAL_OK)
        return st;
    for (size_t i = 0; i < e->n_act; i++) {
        const qcal_act_enc *a = &e->act[i];
        if (!has_name(acts, s->n_act, a->name))
            return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /encodings/%s/act_name: '%s' is "
                                  "not an activation of the file", h->path, e->label, a->name);
        if (a->is_float ? a->bitwidth != 0 && a->bitwidth != 16 && a->bitwidth != 32
                        : !int_enc_ok(a->bitwidth, a->scale, a->min, a->max, a->offset))
            return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /encodings/%s: activation '%s': "
                                  "bad %s encoding (bitwidth %d, scale %g, offset %lld, range "
                                  "[%g, %g])", h->path, e->label, a->name,
                                  a->is_float ? "float" : "integer", a->bitwidth,
                                  (double)a->scale, (long long)a->offset, (double)a->min,
                                  (double)a->max);
    }
    for (size_t i = 0; i < e->n_param; i++) {
        const qcal_param_enc *p = &e->param[i];
        const qcal_weight_rec *w = NULL;
        for (size_t k = 0; !w && has_name(weights, s->n_weights, p->name) && k < s->n_weights;
             k++)
            if (!strcmp(s->weights[k].name, p->name))
                w = &s->weights[k];
        if (!w)
            return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /encodings/%s/param_name: '%s' "
                                  "is not a weight of the file", h->path, e->label, p->name);
        if (p->ch_count != 1 && p->ch_count != w->ch_count)
            return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /encodings/%s/param_ch_count: "
                                  "'%s' has %zu channels, the weight %zu", h->path, e->label,
                                  p->name, p->ch_count, w->ch_count);
        for (size_t c = 0; c < p->ch_count; c++)
            if (!int_enc_ok(p->bitwidth, p->scale[c], p->min[c], p->max[c], p->offset[c]))
                return qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /encodings/%s: parameter "
                                      "'%s' channel %zu: bad encoding (bitwidth %d, scale %g, "
                                      "offset %lld, range [%g, %g])", h->path, e->label,
                                      p->name, c, p->bitwidth, (double)p->scale[c],
                                      (long long)p->offset[c], (double)p->min[c],
                                      (double)p->max[c]);
    }
    return QCAL_OK;
}

/* min <= max, or both NaN (no finite value). */
static bool range_ok(float mn, float mx)
{
    return (isnan(mn) && isnan(mx)) || (!isnan(mn) && !isnan(mx) && mn <= mx);
}

static qcal_status check_all(const qcal__h5 *h, const qcal_stats *s)
{
    char **acts = NULL, **weights = NULL, **paths = NULL, **skipped = NULL;
    uint64_t sum = 0;
    bool fail = false;
    qcal_status st = QCAL_OK;

    /* Root: samples = sum of rank_samples = listed - skipped; values seen need a sample. */
    if (s->ranks < 1) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /@ranks is %d (need at least one)",
                            h->path, s->ranks);
        goto out;
    }
    for (size_t i = 0; s->samples == 0 && i < s->n_act; i++) {
        const qcal_hist *x = &s->act[i].hist;
        if (x->count || x->nan || x->pinf || x->ninf) {
            st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /@samples is 0 but activation "
                                "'%s' has values", h->path, s->act[i].name);
            goto out;
        }
    }
    for (int r = 0; r < s->ranks; r++) {
        if (s->rank_samples[r] > UINT64_MAX - sum) {
            sum = UINT64_MAX;
            break;
        }
        sum += s->rank_samples[r];
    }
    if (sum != s->samples) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /@rank_samples adds up to %llu, "
                            "/@samples is %llu", h->path, (unsigned long long)sum,
                            (unsigned long long)s->samples);
        goto out;
    }
    if (s->n_skipped > s->n_samples || s->n_samples - s->n_skipped != s->samples) {
        st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /samples/path lists %zu samples and "
                            "/samples/skipped %zu, but /@samples is %llu", h->path, s->n_samples,
                            s->n_skipped, (unsigned long long)s->samples);
        goto out;
    }
    paths = sorted_copy(s->sample_paths, s->n_samples, &fail);
    skipped = sorted_copy(s->skipped, s->n_skipped, &fail);
    acts = SORTED_FIELD(s->act, qcal_act_rec, name, s->n_act, &fail);
    weights = SORTED_FIELD(s->weights, qcal_weight_rec, name, s->n_weights, &fail);
    if (fail) {
        st = nomem(h, "the names");
        goto out;
    }
    TRY(check_names(h, paths, s->n_samples, "/samples/path"));
    TRY(check_names(h, skipped, s->n_skipped, "/samples/skipped"));
    for (size_t i = 0; i < s->n_skipped; i++)
        if (!has_name(paths, s->n_samples, s->skipped[i])) {
            st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /samples/skipped: '%s' is not in "
                                "/samples/path", h->path, s->skipped[i]);
            goto out;
        }
    TRY(check_names(h, acts, s->n_act, "/activations/name"));
    TRY(check_names(h, weights, s->n_weights, "/weights/name"));
    for (size_t i = 0; i < s->n_act; i++) {
        const char *k = s->act[i].kind;
        if (strcmp(k, "input") && strcmp(k, "activation") && strcmp(k, "output")) {
            st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /activations/kind: '%s' of '%s' is "
                                "not input, activation or output", h->path, k, s->act[i].name);
            goto out;
        }
    }
    for (size_t i = 0; i < s->n_weights; i++) {
        const qcal_weight_rec *w = &s->weights[i];
        bool ok = w->axis >= -1 && range_ok(w->min, w->max) && (w->axis >= 0 || !w->ch_count);
        for (size_t c = 0; ok && c < w->ch_count; c++)
            ok = range_ok(w->ch_min[c], w->ch_max[c]);
        if (!ok) {
            st = qcal_error_set(h->err, QCAL_E_CORRUPT, "%s: /weights: '%s' has a bad axis (%d) "
                                "or a range with min > max", h->path, w->name, w->axis);
            goto out;
        }
    }
    for (size_t k = 0; k < s->n_enc; k++)
        TRY(check_enc(h, s, &s->enc[k], acts, weights));
out:
    free(acts);
    free(weights);
    free(paths);
    free(skipped);
    return st;
}

qcal_status qcal_stats_read(const char *path, qcal_stats *s, qcal_error *err)
{
    qcal__h5 h = { .path = path, .code = QCAL_E_CORRUPT, .err = err };
    qcal__h5_auto saved;
    hid_t fapl = -1, fid = -1;
    qcal_status st = QCAL_OK;
    htri_t is;

    if (!s)
        return qcal_error_set(err, QCAL_E_INVALID, "stats file: nowhere to read into");
    memset(s, 0, sizeof *s);
    if (!path)
        return qcal_error_set(err, QCAL_E_INVALID, "stats file: no path");
    if (access(path, R_OK) != 0)
        return qcal_error_set(err, QCAL_E_IO, "%s: %s", path, strerror(errno));
    qcal__h5_quiet(&saved);
    is = H5Fis_hdf5(path);
    if (is <= 0) {
        st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: not an HDF5 file", path);
        goto out;
    }
    QCAL__H5_CHECK(&h, fapl = H5Pcreate(H5P_FILE_ACCESS), "create file access properties");
    QCAL__H5_CHECK(&h, H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG), "set close degree");
    /* The file exists, is readable and has an HDF5 signature: failing now means damage (e.g.
     * "truncated file"), hence QCAL_E_CORRUPT. */
    QCAL__H5_CHECK(&h, fid = H5Fopen(path, H5F_ACC_RDONLY, fapl), "open");
    TRY(read_root(&h, fid, s));
    TRY(read_activations(&h, fid, s));
    TRY(read_weights(&h, fid, s));
    TRY(read_graph(&h, fid, &s->graph));
    TRY(read_samples(&h, fid, s));
    TRY(read_encodings(&h, fid, s));
    TRY(read_dumps(&h, fid, s));
    TRY(check_all(&h, s));
out:
    if (fid >= 0)
        H5Fclose(fid);
    if (fapl >= 0)
        H5Pclose(fapl);
    H5Eclear2(H5E_DEFAULT);
    qcal__h5_loud(&saved);
    if (st != QCAL_OK)
        qcal_stats_fini(s);
    return st;
}
