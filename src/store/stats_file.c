/*
 * Writing the HDF5 stats file (DESIGN.md: "HDF5 stats file (format qcal-stats, version 1)") and
 * freeing its in-memory form. The reader is in stats_read.c.
 *
 * Layout: root attributes, then one group per table whose columns are 1-D datasets of equal
 * length (strings are variable-length UTF-8), per-channel values in CSR form (start, count into
 * a flat array), histograms as one [T, B] uint64 dataset chunked by row and compressed
 * (shuffle + deflate level 1: the rows are mostly zeros). Object times are not recorded, so
 * writing equal content twice gives byte-identical files.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qcal/store.h"
#include "store/h5util.h"
#include "util/atomic.h"

/* Deflate level of the histogram rows: level 1 already removes the zeros; more costs time. */
#define HIST_DEFLATE_LEVEL 1

static void free_strings_only(char **v, size_t n)
{
    qcal__h5_free_strings(v, n);
}

static void act_enc_free(qcal_enc_set *e)
{
    for (size_t i = 0; i < e->n_act; i++)
        free(e->act[i].name);
    free(e->act);
    for (size_t i = 0; i < e->n_param; i++) {
        qcal_param_enc *p = &e->param[i];
        free(p->name);
        free(p->scale);
        free(p->min);
        free(p->max);
        free(p->offset);
    }
    free(e->param);
    free(e->label);
    free(e->method);
    free(e->params);
    free(e->created);
}

void qcal_stats_fini(qcal_stats *s)
{
    if (!s)
        return;
    free(s->qcal_version);
    free(s->created);
    free(s->model_path);
    free(s->model_sha256);
    free(s->source_dtype);
    free(s->preprocess);
    free(s->dataset);
    free(s->rank_samples);
    for (size_t i = 0; s->act && i < s->n_act; i++) {
        qcal_act_rec *a = &s->act[i];
        free(a->name);
        free(a->kind);
        free(a->dtype);
        free(a->shape);
        free(a->producer);
        free(a->op);
        qcal_hist_fini(&a->hist);
    }
    free(s->act);
    for (size_t i = 0; s->weights && i < s->n_weights; i++) {
        qcal_weight_rec *w = &s->weights[i];
        free(w->name);
        free(w->consumer);
        free(w->op);
        free(w->shape);
        free(w->ch_min);
        free(w->ch_max);
    }
    free(s->weights);
    free_strings_only(s->graph.node_name, s->graph.node_name ? s->graph.n_nodes : 0);
    free_strings_only(s->graph.node_op, s->graph.node_op ? s->graph.n_nodes : 0);
    free(s->graph.in_start);
    free(s->graph.in_count);
    free(s->graph.out_start);
    free(s->graph.out_count);
    free_strings_only(s->graph.inputs, s->graph.inputs ? s->graph.n_inputs : 0);
    free_strings_only(s->graph.outputs, s->graph.outputs ? s->graph.n_outputs : 0);
    free_strings_only(s->graph.graph_outputs,
                      s->graph.graph_outputs ? s->graph.n_graph_outputs : 0);
    free_strings_only(s->sample_paths, s->sample_paths ? s->n_samples : 0);
    free_strings_only(s->skipped, s->skipped ? s->n_skipped : 0);
    for (size_t i = 0; s->enc && i < s->n_enc; i++)
        act_enc_free(&s->enc[i]);
    free(s->enc);
    free(s->dumps_file);
    memset(s, 0, sizeof *s);
}

/* True when a CSR table (start[i], count[i] into n values) stays inside the n values. */
static bool csr_ok(const uint64_t *start, const uint64_t *count, size_t rows, size_t n)
{
    for (size_t i = 0; i < rows; i++)
        if (count[i] > n || start[i] > n - count[i])
            return false;
    return true;
}

/* Checks what the file format cannot represent or what would make a broken file. */
static qcal_status validate(const char *path, const qcal_stats *s, qcal_error *err)
{
    const qcal_graph_rec *g = &s->graph;

    if (s->bins < 2 || (size_t)s->bins > QCAL_HIST_MAX_BINS || (s->bins & (s->bins - 1)))
        return qcal_error_set(err, QCAL_E_INVALID, "%s: bins %d is not a power of two in [2, "
                              "%zu]", path, s->bins, QCAL_HIST_MAX_BINS);
    if (s->ranks < 0 || (s->ranks > 0 && !s->rank_samples))
        return qcal_error_set(err, QCAL_E_INVALID, "%s: bad rank count %d", path, s->ranks);
    if ((s->n_act && !s->act) || (s->n_weights && !s->weights) ||
        (s->n_samples && !s->sample_paths) || (s->n_skipped && !s->skipped) ||
        (s->n_enc && !s->enc))
        return qcal_error_set(err, QCAL_E_INVALID, "%s: a table has rows but no data", path);
    for (size_t i = 0; i < s->n_act; i++)
        if (s->act[i].hist.bins != (size_t)s->bins || !s->act[i].hist.counts)
            return qcal_error_set(err, QCAL_E_INVALID, "%s: activation '%s' has a histogram of "
                                  "%zu bins, the file has %d", path,
                                  s->act[i].name ? s->act[i].name : "", s->act[i].hist.bins,
                                  s->bins);
    for (size_t i = 0; i < s->n_weights; i++)
        if (s->weights[i].ch_count && (!s->weights[i].ch_min || !s->weights[i].ch_max))
            return qcal_error_set(err, QCAL_E_INVALID, "%s: weight '%s' has no channel ranges",
                                  path, s->weights[i].name ? s->weights[i].name : "");
    if (g->n_nodes && (!g->node_name || !g->node_op || !g->in_start || !g->in_count ||
                       !g->out_start || !g->out_count))
        return qcal_error_set(err, QCAL_E_INVALID, "%s: graph has nodes but no data", path);
    if ((g->n_inputs && !g->inputs) || (g->n_outputs && !g->outputs) ||
        (g->n_graph_outputs && !g->graph_outputs) ||
        !csr_ok(g->in_start, g->in_count, g->n_nodes, g->n_inputs) ||
        !csr_ok(g->out_start, g->out_count, g->n_nodes, g->n_outputs))
        return qcal_error_set(err, QCAL_E_INVALID, "%s: graph node inputs/outputs out of range",
                              path);
    for (size_t i = 0; i < s->n_enc; i++) {
        const qcal_enc_set *e = &s->enc[i];
        const char *l = e->label;
        if (!l || !l[0] || strchr(l, '/') || !strcmp(l, ".") || !strcmp(l, ".."))
            return qcal_error_set(err, QCAL_E_INVALID, "%s: bad encoding label '%s'", path,
                                  l ? l : "");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(s->enc[j].label, l))
                return qcal_error_set(err, QCAL_E_INVALID, "%s: encoding label '%s' used twice",
                                      path, l);
        if ((e->n_act && !e->act) || (e->n_param && !e->param))
            return qcal_error_set(err, QCAL_E_INVALID, "%s: encoding '%s' has rows but no data",
                                  path, l);
        for (size_t j = 0; j < e->n_param; j++) {
            const qcal_param_enc *p = &e->param[j];
            if (p->ch_count && (!p->scale || !p->min || !p->max || !p->offset))
                return qcal_error_set(err, QCAL_E_INVALID, "%s: encoding '%s': parameter '%s' "
                                      "has no values", path, l, p->name ? p->name : "");
        }
    }
    return QCAL_OK;
}

static qcal_status write_root(const qcal__h5 *h, hid_t fid, const qcal_stats *s)
{
    const int version = 1;
    qcal_status st;

#define TRY(call)                                                                                \
    do {                                                                                         \
        if ((st = (call)) != QCAL_OK)                                                            \
            return st;                                                                           \
    } while (0)
    TRY(qcal__h5_attr_string(h, fid, "format", "qcal-stats"));
    TRY(qcal__h5_attr_scalar(h, fid, "version", H5T_STD_I32LE, H5T_NATIVE_INT, &version));
    TRY(qcal__h5_attr_string(h, fid, "qcal_version", s->qcal_version));
    TRY(qcal__h5_attr_string(h, fid, "created", s->created));
    TRY(qcal__h5_attr_string(h, fid, "model_path", s->model_path));
    TRY(qcal__h5_attr_string(h, fid, "model_sha256", s->model_sha256));
    if (s->source_dtype)
        TRY(qcal__h5_attr_string(h, fid, "source_dtype", s->source_dtype));
    TRY(qcal__h5_attr_scalar(h, fid, "samples", H5T_STD_U64LE, H5T_NATIVE_UINT64, &s->samples));
    TRY(qcal__h5_attr_scalar(h, fid, "bins", H5T_STD_I32LE, H5T_NATIVE_INT, &s->bins));
    TRY(qcal__h5_attr_string(h, fid, "preprocess", s->preprocess));
    TRY(qcal__h5_attr_string(h, fid, "dataset", s->dataset));
    TRY(qcal__h5_attr_scalar(h, fid, "ranks", H5T_STD_I32LE, H5T_NATIVE_INT, &s->ranks));
    TRY(qcal__h5_attr_vector(h, fid, "rank_samples", H5T_STD_U64LE, H5T_NATIVE_UINT64,
                             (size_t)s->ranks, s->rank_samples));
#undef TRY
    return QCAL_OK;
}

/*
 * /activations/hist [T, B] uint64: chunks of one row, shuffle + deflate when the filters are
 * available, written row by row straight from each histogram (no T x B copy). T == 0 gives a
 * contiguous [0, B] dataset (a chunk may not exceed a fixed dimension).
 */
static qcal_status write_hist(const qcal__h5 *h, hid_t g, const qcal_stats *s)
{
    hsize_t dims[2] = { (hsize_t)s->n_act, (hsize_t)s->bins };
    hsize_t chunk[2] = { 1, (hsize_t)s->bins }, start[2] = { 0, 0 };
    hid_t fspace = -1, mspace = -1, dcpl = -1, dset = -1;
    qcal_status st = QCAL_OK;

    QCAL__H5_CHECK(h, fspace = H5Screate_simple(2, dims, NULL), "create dataspace of hist");
    QCAL__H5_CHECK(h, mspace = H5Screate_simple(1, &chunk[1], NULL), "create dataspace of hist");
    QCAL__H5_CHECK(h, dcpl = H5Pcreate(H5P_DATASET_CREATE), "create properties of hist");
    QCAL__H5_CHECK(h, H5Pset_obj_track_times(dcpl, 0), "set properties of hist");
    if (s->n_act > 0) {
        QCAL__H5_CHECK(h, H5Pset_chunk(dcpl, 2, chunk), "set chunks of /activations/hist");
        if (H5Zfilter_avail(H5Z_FILTER_SHUFFLE) > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
            QCAL__H5_CHECK(h, H5Pset_shuffle(dcpl), "set shuffle filter");
            QCAL__H5_CHECK(h, H5Pset_deflate(dcpl, HIST_DEFLATE_LEVEL), "set deflate filter");
        }
    }
    QCAL__H5_CHECK(h, dset = H5Dcreate2(g, "hist", H5T_STD_U64LE, fspace, H5P_DEFAULT, dcpl,
                                        H5P_DEFAULT), "create dataset /activations/hist");
    for (size_t t = 0; t < s->n_act; t++) {
        start[0] = (hsize_t)t;
        QCAL__H5_CHECK(h, H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, chunk, NULL),
                       "select row %zu of /activations/hist", t);
        QCAL__H5_CHECK(h, H5Dwrite(dset, H5T_NATIVE_UINT64, mspace, fspace, H5P_DEFAULT,
                                   s->act[t].hist.counts),
                       "write row %zu of /activations/hist", t);
    }
out:
    if (dset >= 0)
        H5Dclose(dset);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    return st;
}

/* Scratch for one column: n rows of up to `width` bytes each (NULL only on failure; a zero
 * size gets one byte so that "no rows" is not mistaken for failure). */
static void *column_buf(size_t n, size_t width)
{
    return malloc(n ? n * width : 1);
}

static qcal_status nomem(const qcal__h5 *h, const char *what)
{
    return qcal_error_set(h->err, QCAL_E_NOMEM, "%s: out of memory writing %s", h->path, what);
}

/* Gathers the string field at byte offset off of n records of size rsize into col. */
static const char *const *gather_str(const char **col, const void *recs, size_t rsize,
                                     size_t off, size_t n)
{
    for (size_t i = 0; i < n; i++)
        memcpy(&col[i], (const char *)recs + i * rsize + off, sizeof col[i]);
    return col;
}

#define STR_COL(h, g, name, col, recs, type, field, n)                                           \
    qcal__h5_write_strings((h), (g), (name),                                                     \
                           gather_str((col), (recs), sizeof(type), offsetof(type, field), (n)),  \
                           (n))

static qcal_status write_activations(const qcal__h5 *h, hid_t fid, const qcal_stats *s)
{
    size_t T = s->n_act;
    hid_t g = -1;
    qcal_status st = QCAL_OK;
    void *buf = column_buf(T, 3 * sizeof(uint64_t));
    const char **sv = (const char **)buf;
    float *fv = buf;
    uint64_t *uv = buf;
    int32_t *iv = buf;
    int64_t *lv = buf;
    const qcal_act_rec *a = s->act;

    if (!buf)
        return nomem(h, "/activations");
    QCAL__H5_CHECK(h, g = qcal__h5_group_create(fid, "activations", 0), "create /activations");
#define COL(call)                                                                                \
    do {                                                                                         \
        if ((st = (call)) != QCAL_OK)                                                            \
            goto out;                                                                            \
    } while (0)
    COL(STR_COL(h, g, "name", sv, a, qcal_act_rec, name, T));
    COL(STR_COL(h, g, "kind", sv, a, qcal_act_rec, kind, T));
    COL(STR_COL(h, g, "dtype", sv, a, qcal_act_rec, dtype, T));
    COL(STR_COL(h, g, "shape", sv, a, qcal_act_rec, shape, T));
    COL(STR_COL(h, g, "producer", sv, a, qcal_act_rec, producer, T));
    COL(STR_COL(h, g, "op", sv, a, qcal_act_rec, op, T));
    for (size_t t = 0; t < T; t++)
        fv[t] = a[t].hist.min;
    COL(qcal__h5_write_array(h, g, "min", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, T, 0, fv));
    for (size_t t = 0; t < T; t++)
        fv[t] = a[t].hist.max;
    COL(qcal__h5_write_array(h, g, "max", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, T, 0, fv));
    for (size_t t = 0; t < T; t++)
        uv[t] = a[t].hist.count;
    COL(qcal__h5_write_array(h, g, "count", H5T_STD_U64LE, H5T_NATIVE_UINT64, T, 0, uv));
    for (size_t t = 0; t < T; t++) {
        uv[3 * t] = a[t].hist.nan;
        uv[3 * t + 1] = a[t].hist.pinf;
        uv[3 * t + 2] = a[t].hist.ninf;
    }
    COL(qcal__h5_write_array(h, g, "nonfinite", H5T_STD_U64LE, H5T_NATIVE_UINT64, T, 3, uv));
    for (size_t t = 0; t < T; t++)
        iv[t] = (int32_t)a[t].hist.e;
    COL(qcal__h5_write_array(h, g, "hist_e", H5T_STD_I32LE, H5T_NATIVE_INT32, T, 0, iv));
    for (size_t t = 0; t < T; t++)
        lv[t] = a[t].hist.k0;
    COL(qcal__h5_write_array(h, g, "hist_k0", H5T_STD_I64LE, H5T_NATIVE_INT64, T, 0, lv));
    COL(write_hist(h, g, s));
out:
    if (g >= 0)
        H5Gclose(g);
    free(buf);
    return st;
}

static qcal_status write_weights(const qcal__h5 *h, hid_t fid, const qcal_stats *s)
{
    size_t W = s->n_weights, C = 0, c;
    hid_t g = -1;
    qcal_status st = QCAL_OK;
    const qcal_weight_rec *w = s->weights;
    void *buf = column_buf(W, sizeof(uint64_t));
    float *chv = NULL;
    const char **sv = (const char **)buf;
    float *fv = buf;
    uint64_t *uv = buf;
    int32_t *iv = buf;

    for (size_t i = 0; i < W; i++)
        C += w[i].ch_count;
    chv = column_buf(C, sizeof(float));
    if (!buf || !chv) {
        st = nomem(h, "/weights");
        goto out;
    }
    QCAL__H5_CHECK(h, g = qcal__h5_group_create(fid, "weights", 0), "create /weights");
    COL(STR_COL(h, g, "name", sv, w, qcal_weight_rec, name, W));
    COL(STR_COL(h, g, "consumer", sv, w, qcal_weight_rec, consumer, W));
    COL(STR_COL(h, g, "op", sv, w, qcal_weight_rec, op, W));
    COL(STR_COL(h, g, "shape", sv, w, qcal_weight_rec, shape, W));
    for (size_t i = 0; i < W; i++)
        iv[i] = (int32_t)w[i].axis;
    COL(qcal__h5_write_array(h, g, "axis", H5T_STD_I32LE, H5T_NATIVE_INT32, W, 0, iv));
    for (size_t i = 0; i < W; i++)
        fv[i] = w[i].min;
    COL(qcal__h5_write_array(h, g, "min", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, W, 0, fv));
    for (size_t i = 0; i < W; i++)
        fv[i] = w[i].max;
    COL(qcal__h5_write_array(h, g, "max", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, W, 0, fv));
    c = 0;
    for (size_t i = 0; i < W; i++) {
        uv[i] = c;
        c += w[i].ch_count;
    }
    COL(qcal__h5_write_array(h, g, "ch_start", H5T_STD_U64LE, H5T_NATIVE_UINT64, W, 0, uv));
    for (size_t i = 0; i < W; i++)
        uv[i] = w[i].ch_count;
    COL(qcal__h5_write_array(h, g, "ch_count", H5T_STD_U64LE, H5T_NATIVE_UINT64, W, 0, uv));
    c = 0;
    for (size_t i = 0; i < W; i++)
        for (size_t j = 0; j < w[i].ch_count; j++)
            chv[c++] = w[i].ch_min[j];
    COL(qcal__h5_write_array(h, g, "ch_min", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, C, 0, chv));
    c = 0;
    for (size_t i = 0; i < W; i++)
        for (size_t j = 0; j < w[i].ch_count; j++)
            chv[c++] = w[i].ch_max[j];
    COL(qcal__h5_write_array(h, g, "ch_max", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, C, 0, chv));
out:
    if (g >= 0)
        H5Gclose(g);
    free(buf);
    free(chv);
    return st;
}

static qcal_status write_graph(const qcal__h5 *h, hid_t fid, const qcal_graph_rec *gr)
{
    size_t N = gr->n_nodes;
    hid_t g = -1;
    qcal_status st = QCAL_OK;
    const char *const *cs;

    QCAL__H5_CHECK(h, g = qcal__h5_group_create(fid, "graph", 0), "create /graph");
    cs = (const char *const *)gr->node_name;
    COL(qcal__h5_write_strings(h, g, "node_name", cs, N));
    cs = (const char *const *)gr->node_op;
    COL(qcal__h5_write_strings(h, g, "node_op", cs, N));
    COL(qcal__h5_write_array(h, g, "in_start", H5T_STD_U64LE, H5T_NATIVE_UINT64, N, 0,
                             gr->in_start));
    COL(qcal__h5_write_array(h, g, "in_count", H5T_STD_U64LE, H5T_NATIVE_UINT64, N, 0,
                             gr->in_count));
    cs = (const char *const *)gr->inputs;
    COL(qcal__h5_write_strings(h, g, "inputs", cs, gr->n_inputs));
    COL(qcal__h5_write_array(h, g, "out_start", H5T_STD_U64LE, H5T_NATIVE_UINT64, N, 0,
                             gr->out_start));
    COL(qcal__h5_write_array(h, g, "out_count", H5T_STD_U64LE, H5T_NATIVE_UINT64, N, 0,
                             gr->out_count));
    cs = (const char *const *)gr->outputs;
    COL(qcal__h5_write_strings(h, g, "outputs", cs, gr->n_outputs));
    cs = (const char *const *)gr->graph_outputs;
    COL(qcal__h5_attr_strings(h, g, "graph_outputs", cs, gr->n_graph_outputs));
out:
    if (g >= 0)
        H5Gclose(g);
    return st;
}

static qcal_status write_samples(const qcal__h5 *h, hid_t fid, const qcal_stats *s)
{
    hid_t g = -1;
    qcal_status st = QCAL_OK;

    QCAL__H5_CHECK(h, g = qcal__h5_group_create(fid, "samples", 0), "create /samples");
    COL(qcal__h5_write_strings(h, g, "path", (const char *const *)s->sample_paths,
                               s->n_samples));
    COL(qcal__h5_write_strings(h, g, "skipped", (const char *const *)s->skipped, s->n_skipped));
out:
    if (g >= 0)
        H5Gclose(g);
    return st;
}

/* The act_* columns of one encoding set. */
static qcal_status write_enc_acts(const qcal__h5 *h, hid_t g, const qcal_enc_set *e)
{
    size_t n = e->n_act;
    const qcal_act_enc *a = e->act;
    qcal_status st = QCAL_OK;
    void *buf = column_buf(n, sizeof(uint64_t));
    const char **sv = (const char **)buf;
    float *fv = buf;
    int32_t *iv = buf;
    int64_t *lv = buf;
    uint8_t *bv = buf;

    if (!buf)
        return nomem(h, "/encodings");
    COL(STR_COL(h, g, "act_name", sv, a, qcal_act_enc, name, n));
    for (size_t i = 0; i < n; i++)
        iv[i] = (int32_t)a[i].bitwidth;
    COL(qcal__h5_write_array(h, g, "act_bitwidth", H5T_STD_I32LE, H5T_NATIVE_INT32, n, 0, iv));
    for (size_t i = 0; i < n; i++)
        fv[i] = a[i].scale;
    COL(qcal__h5_write_array(h, g, "act_scale", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, n, 0, fv));
    for (size_t i = 0; i < n; i++)
        fv[i] = a[i].min;
    COL(qcal__h5_write_array(h, g, "act_min", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, n, 0, fv));
    for (size_t i = 0; i < n; i++)
        fv[i] = a[i].max;
    COL(qcal__h5_write_array(h, g, "act_max", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, n, 0, fv));
    for (size_t i = 0; i < n; i++)
        lv[i] = a[i].offset;
    COL(qcal__h5_write_array(h, g, "act_offset", H5T_STD_I64LE, H5T_NATIVE_INT64, n, 0, lv));
    for (size_t i = 0; i < n; i++)
        bv[i] = a[i].symmetric ? 1 : 0;
    COL(qcal__h5_write_array(h, g, "act_symmetric", H5T_STD_U8LE, H5T_NATIVE_UINT8, n, 0, bv));
    for (size_t i = 0; i < n; i++)
        sv[i] = a[i].is_float ? "float" : "int";
    COL(qcal__h5_write_strings(h, g, "act_dtype", sv, n));
out:
    free(buf);
    return st;
}

/* The param_* columns of one encoding set (per-channel values in CSR form). */
static qcal_status write_enc_params(const qcal__h5 *h, hid_t g, const qcal_enc_set *e)
{
    size_t n = e->n_param, C = 0, c;
    const qcal_param_enc *p = e->param;
    qcal_status st = QCAL_OK;
    void *buf = column_buf(n, sizeof(uint64_t)), *cbuf;
    const char **sv = (const char **)buf;
    uint64_t *uv = buf;
    int32_t *iv = buf;
    uint8_t *bv = buf;
    float *cf;
    int64_t *cl;

    for (size_t i = 0; i < n; i++)
        C += p[i].ch_count;
    cbuf = column_buf(C, sizeof(int64_t));
    cf = cbuf;
    cl = cbuf;
    if (!buf || !cbuf) {
        st = nomem(h, "/encodings");
        goto out;
    }
    COL(STR_COL(h, g, "param_name", sv, p, qcal_param_enc, name, n));
    c = 0;
    for (size_t i = 0; i < n; i++) {
        uv[i] = c;
        c += p[i].ch_count;
    }
    COL(qcal__h5_write_array(h, g, "param_ch_start", H5T_STD_U64LE, H5T_NATIVE_UINT64, n, 0, uv));
    for (size_t i = 0; i < n; i++)
        uv[i] = p[i].ch_count;
    COL(qcal__h5_write_array(h, g, "param_ch_count", H5T_STD_U64LE, H5T_NATIVE_UINT64, n, 0, uv));
#define FLAT_F32(field, dsname)                                                                  \
    do {                                                                                         \
        c = 0;                                                                                   \
        for (size_t i = 0; i < n; i++)                                                           \
            for (size_t j = 0; j < p[i].ch_count; j++)                                           \
                cf[c++] = p[i].field[j];                                                         \
        COL(qcal__h5_write_array(h, g, dsname, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, C, 0, cf));     \
    } while (0)
    FLAT_F32(scale, "param_scale");
    FLAT_F32(min, "param_min");
    FLAT_F32(max, "param_max");
#undef FLAT_F32
    c = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p[i].ch_count; j++)
            cl[c++] = p[i].offset[j];
    COL(qcal__h5_write_array(h, g, "param_offset", H5T_STD_I64LE, H5T_NATIVE_INT64, C, 0, cl));
    for (size_t i = 0; i < n; i++)
        iv[i] = (int32_t)p[i].bitwidth;
    COL(qcal__h5_write_array(h, g, "param_bitwidth", H5T_STD_I32LE, H5T_NATIVE_INT32, n, 0, iv));
    for (size_t i = 0; i < n; i++)
        bv[i] = p[i].symmetric ? 1 : 0;
    COL(qcal__h5_write_array(h, g, "param_symmetric", H5T_STD_U8LE, H5T_NATIVE_UINT8, n, 0, bv));
out:
    free(buf);
    free(cbuf);
    return st;
}

/* /encodings (always present; members in creation order) and one group per set. */
static qcal_status write_encodings(const qcal__h5 *h, hid_t fid, const qcal_stats *s)
{
    hid_t g = -1, ge = -1;
    qcal_status st = QCAL_OK;

    QCAL__H5_CHECK(h, g = qcal__h5_group_create(fid, "encodings", 1), "create /encodings");
    for (size_t i = 0; i < s->n_enc; i++) {
        const qcal_enc_set *e = &s->enc[i];
        QCAL__H5_CHECK(h, ge = qcal__h5_group_create(g, e->label, 0), "create /encodings/%s",
                       e->label);
        COL(qcal__h5_attr_string(h, ge, "method", e->method));
        COL(qcal__h5_attr_string(h, ge, "params", e->params));
        COL(qcal__h5_attr_string(h, ge, "created", e->created));
        COL(write_enc_acts(h, ge, e));
        COL(write_enc_params(h, ge, e));
        H5Gclose(ge);
        ge = -1;
    }
out:
    if (ge >= 0)
        H5Gclose(ge);
    if (g >= 0)
        H5Gclose(g);
    return st;
}
#undef COL

/* Everything inside the open file. */
static qcal_status write_all(const qcal__h5 *h, hid_t fid, const qcal_stats *s)
{
    qcal_status st;

    if ((st = write_root(h, fid, s)) != QCAL_OK || (st = write_activations(h, fid, s)) != QCAL_OK ||
        (st = write_weights(h, fid, s)) != QCAL_OK ||
        (st = write_graph(h, fid, &s->graph)) != QCAL_OK ||
        (st = write_samples(h, fid, s)) != QCAL_OK || (st = write_encodings(h, fid, s)) != QCAL_OK)
        return st;
    /* DESIGN.md: /dumps is an external link to the dump file's root. */
    if (s->dumps_file && H5Lcreate_external(s->dumps_file, "/", fid, "dumps", H5P_DEFAULT,
                                            H5P_DEFAULT) < 0)
        return qcal__h5_fail(h, "create external link /dumps -> %s", s->dumps_file);
    return QCAL_OK;
}

qcal_status qcal_stats_write(const char *path, const qcal_stats *s, qcal_error *err)
{
    char tmp[PATH_MAX];
    qcal__h5 h = { .path = path, .code = QCAL_E_IO, .err = err };
    qcal__h5_auto saved;
    hid_t fid = -1;
    qcal_status st;

    if (!path || !s)
        return qcal_error_set(err, QCAL_E_INVALID, "stats file: no path or no statistics");
    st = qcal__atomic_tmp_name(path, (long)getpid(), tmp, sizeof tmp, err);
    if (st != QCAL_OK)
        return st;
    st = validate(path, s, err);
    if (st != QCAL_OK)
        return st;
    qcal__h5_quiet(&saved);
    /* Built in memory, then published with one atomic write (h5util.h says why). */
    st = qcal__h5_mem_create(&h, tmp, &fid);
    if (st != QCAL_OK)
        goto out;
    st = write_all(&h, fid, s);
    if (st != QCAL_OK)
        goto out;
    st = qcal__h5_mem_publish(&h, fid, path);
    fid = -1;
out:
    if (fid >= 0)
        H5Fclose(fid);
    H5Eclear2(H5E_DEFAULT);
    qcal__h5_loud(&saved);
    return st;
}
