/*
 * Tests of the HDF5 stats file (src/store/stats_file.c, stats_read.c): a hand-built qcal_stats
 * survives a write/read round trip bit for bit, equal content gives byte-identical files, the
 * file is readable without qcal (h5dump), empty tables work, and every failure (missing file,
 * non-HDF5 file, foreign HDF5 file, unsupported version, corrupt histogram, unwritable path)
 * is an error naming the file that leaves no temporary file behind.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "qcal/store.h"
#include "qtest.h"

static char g_dir[64];

static char *xstrdup(const char *s)
{
    char *d = strdup(s);

    if (!d) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return d;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);

    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static char *path_in_dir(const char *name)
{
    static char buf[4][256];
    static int k;

    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static char **str_array(const char *const *v, size_t n)
{
    char **a = xcalloc(n, sizeof *a);

    for (size_t i = 0; i < n; i++)
        a[i] = xstrdup(v[i]);
    return a;
}

static void act_init(qcal_act_rec *a, const char *name, const char *kind, const char *producer,
                     const char *op, const char *shape, const float *x, size_t n, size_t bins)
{
    a->name = xstrdup(name);
    a->kind = xstrdup(kind);
    a->dtype = xstrdup("float32");
    a->shape = xstrdup(shape);
    a->producer = xstrdup(producer);
    a->op = xstrdup(op);
    QT_OK(qcal_hist_init(&a->hist, bins, NULL));
    QT_OK(qcal_hist_add(&a->hist, x, n, NULL));
}

/* The hand-built statistics every test starts from. */
static void build_stats(qcal_stats *s)
{
    static const float in[] = { 0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 0.5f };
    const float conv[] = { -1.5f, -0.0f, 0.125f, 3.0f, NAN, INFINITY, -INFINITY, INFINITY, 2.0f };
    const float nans[] = { NAN, NAN, NAN };
    static const char *const names[] = { "conv1", "relu/1" };
    static const char *const ops[] = { "Conv", "Relu" };
    static const char *const ins[] = { "input", "conv1.weight", "", "conv1/Conv_output_0" };
    static const char *const outs[] = { "conv1/Conv_output_0", "relu_out" };
    static const char *const gouts[] = { "relu_out" };
    static const char *const paths[] = { "data/a.png", "data/sub/b.png",
                                         "data/donn\xc3\xa9\x65s/\xc3\xbc.png" };
    /* A skipped sample is one of the listed ones; samples counts the others. */
    static const char *const skipped[] = { "data/sub/b.png" };
    qcal_weight_rec *w;
    qcal_enc_set *e;
    qcal_param_enc *p;

    memset(s, 0, sizeof *s);
    s->qcal_version = xstrdup("0.1.0");
    s->created = xstrdup("2024-05-01T12:00:00Z");
    s->model_path = xstrdup("models/m.onnx");
    s->model_sha256 = xstrdup("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    s->samples = 2;
    s->bins = 16;
    s->preprocess = xstrdup("{\"size\":[28,28],\"mean\":[0.5]}");
    s->dataset = xstrdup("{\"kind\":\"dir\",\"path\":\"data\",\"count\":4}");
    s->ranks = 2;
    s->rank_samples = xcalloc(2, sizeof *s->rank_samples);
    s->rank_samples[0] = 1;
    s->rank_samples[1] = 1;

    s->n_act = 3;
    s->act = xcalloc(3, sizeof *s->act);
    act_init(&s->act[0], "input", "input", "", "", "1x1x2x3", in, 6, 16);
    act_init(&s->act[1], "conv1/Conv_output_0", "activation", "conv1", "Conv", "1x9", conv, 9,
             16);
    act_init(&s->act[2], "relu_out", "output", "relu/1", "Relu", "3", nans, 3, 16);

    s->n_weights = 2;
    s->weights = w = xcalloc(2, sizeof *s->weights);
    w[0].name = xstrdup("conv1.weight");
    w[0].consumer = xstrdup("conv1");
    w[0].op = xstrdup("Conv");
    w[0].shape = xstrdup("3x1x3x3");
    w[0].axis = 0;
    w[0].min = -0.75f;
    w[0].max = 1.25f;
    w[0].ch_count = 3;
    w[0].ch_min = xcalloc(3, sizeof(float));
    w[0].ch_max = xcalloc(3, sizeof(float));
    w[0].ch_min[0] = -0.75f, w[0].ch_min[1] = 0.0f, w[0].ch_min[2] = NAN;
    w[0].ch_max[0] = 0.5f, w[0].ch_max[1] = 1.25f, w[0].ch_max[2] = NAN;
    w[1].name = xstrdup("fc.bias");
    w[1].consumer = xstrdup("relu/1");
    w[1].op = xstrdup("Gemm");
    w[1].shape = xstrdup("10");
    w[1].axis = -1;
    w[1].min = 1e-30f;
    w[1].max = 3.4e38f;

    s->graph.n_nodes = 2;
    s->graph.node_name = str_array(names, 2);
    s->graph.node_op = str_array(ops, 2);
    s->graph.in_start = xcalloc(2, sizeof(uint64_t));
    s->graph.in_count = xcalloc(2, sizeof(uint64_t));
    s->graph.out_start = xcalloc(2, sizeof(uint64_t));
    s->graph.out_count = xcalloc(2, sizeof(uint64_t));
    s->graph.in_start[0] = 0, s->graph.in_count[0] = 3;
    s->graph.in_start[1] = 3, s->graph.in_count[1] = 1;
    s->graph.out_start[0] = 0, s->graph.out_count[0] = 1;
    s->graph.out_start[1] = 1, s->graph.out_count[1] = 1;
    s->graph.n_inputs = 4;
    s->graph.inputs = str_array(ins, 4);
    s->graph.n_outputs = 2;
    s->graph.outputs = str_array(outs, 2);
    s->graph.n_graph_outputs = 1;
    s->graph.graph_outputs = str_array(gouts, 1);

    s->n_samples = 3;
    s->sample_paths = str_array(paths, 3);
    s->n_skipped = 1;
    s->skipped = str_array(skipped, 1);

    s->n_enc = 1;
    s->enc = e = xcalloc(1, sizeof *s->enc);
    e->label = xstrdup("minmax-a8-w8");
    e->method = xstrdup("minmax");
    e->params = xstrdup("{\"act_bitwidth\":8,\"param_bitwidth\":8}");
    e->created = xstrdup("2024-05-01T12:01:00Z");
    e->n_act = 2;
    e->act = xcalloc(2, sizeof *e->act);
    e->act[0] = (qcal_act_enc){ .name = xstrdup("input"), .bitwidth = 8, .scale = 1.0f / 255.0f,
                                .min = 0.0f, .max = 1.0f, .offset = 0, .symmetric = false };
    e->act[1] = (qcal_act_enc){ .name = xstrdup("conv1/Conv_output_0"), .bitwidth = 16,
                                .scale = 0.1f, .min = -1.5f, .max = 3.0f, .offset = -15,
                                .symmetric = true, .is_float = true };
    e->n_param = 1;
    e->param = p = xcalloc(1, sizeof *e->param);
    p->name = xstrdup("conv1.weight");
    p->bitwidth = 8;
    p->symmetric = true;
    p->ch_count = 3;
    p->scale = xcalloc(3, sizeof(float));
    p->min = xcalloc(3, sizeof(float));
    p->max = xcalloc(3, sizeof(float));
    p->offset = xcalloc(3, sizeof(int64_t));
    for (int c = 0; c < 3; c++) {
        p->scale[c] = 0.01f * (float)(c + 1);
        p->min[c] = -1.28f * (float)(c + 1);
        p->max[c] = 1.27f * (float)(c + 1);
        p->offset[c] = -128 + c;
    }
    s->dumps_file = xstrdup("stats.h5.dumps.h5");
}

static void eq_strs(char *const *a, char *const *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        QT_EQ_STR(a[i], b[i]);
}

static void eq_hist(const qcal_hist *a, const qcal_hist *b)
{
    QT_EQ_I64(a->e, b->e);
    QT_EQ_I64(a->k0, b->k0);
    QT_EQ_U64(a->bins, b->bins);
    QT_EQ_F32_BITS(a->min, b->min);
    QT_EQ_F32_BITS(a->max, b->max);
    QT_EQ_U64(a->count, b->count);
    QT_EQ_U64(a->nan, b->nan);
    QT_EQ_U64(a->pinf, b->pinf);
    QT_EQ_U64(a->ninf, b->ninf);
    if (a->bins == b->bins && a->counts && b->counts)
        QT_EQ_MEM(a->counts, b->counts, a->bins * sizeof a->counts[0]);
}

/* Every field of a and b, floats bit for bit. */
#define S_(x) ((x) ? (x) : "")

static void eq_stats(const qcal_stats *a, const qcal_stats *b)
{
    QT_EQ_STR(S_(a->qcal_version), S_(b->qcal_version));
    QT_EQ_STR(S_(a->created), S_(b->created));
    QT_EQ_STR(S_(a->model_path), S_(b->model_path));
    QT_EQ_STR(S_(a->model_sha256), S_(b->model_sha256));
    QT_EQ_U64(a->samples, b->samples);
    QT_EQ_I64(a->bins, b->bins);
    QT_EQ_STR(S_(a->preprocess), S_(b->preprocess));
    QT_EQ_STR(S_(a->dataset), S_(b->dataset));
    QT_EQ_I64(a->ranks, b->ranks);
    if (a->ranks == b->ranks && a->ranks > 0)
        QT_EQ_MEM(a->rank_samples, b->rank_samples, (size_t)a->ranks * sizeof(uint64_t));

    QT_EQ_U64(a->n_act, b->n_act);
    for (size_t i = 0; i < a->n_act && i < b->n_act; i++) {
        const qcal_act_rec *x = &a->act[i], *y = &b->act[i];
        QT_EQ_STR(S_(x->name), S_(y->name));
        QT_EQ_STR(S_(x->kind), S_(y->kind));
        QT_EQ_STR(S_(x->dtype), S_(y->dtype));
        QT_EQ_STR(S_(x->shape), S_(y->shape));
        QT_EQ_STR(S_(x->producer), S_(y->producer));
        QT_EQ_STR(S_(x->op), S_(y->op));
        eq_hist(&x->hist, &y->hist);
    }
    QT_EQ_U64(a->n_weights, b->n_weights);
    for (size_t i = 0; i < a->n_weights && i < b->n_weights; i++) {
        const qcal_weight_rec *x = &a->weights[i], *y = &b->weights[i];
        QT_EQ_STR(S_(x->name), S_(y->name));
        QT_EQ_STR(S_(x->consumer), S_(y->consumer));
        QT_EQ_STR(S_(x->op), S_(y->op));
        QT_EQ_STR(S_(x->shape), S_(y->shape));
        QT_EQ_I64(x->axis, y->axis);
        QT_EQ_F32_BITS(x->min, y->min);
        QT_EQ_F32_BITS(x->max, y->max);
        QT_EQ_U64(x->ch_count, y->ch_count);
        for (size_t c = 0; c < x->ch_count && c < y->ch_count; c++) {
            QT_EQ_F32_BITS(x->ch_min[c], y->ch_min[c]);
            QT_EQ_F32_BITS(x->ch_max[c], y->ch_max[c]);
        }
    }
    QT_EQ_U64(a->graph.n_nodes, b->graph.n_nodes);
    QT_EQ_U64(a->graph.n_inputs, b->graph.n_inputs);
    QT_EQ_U64(a->graph.n_outputs, b->graph.n_outputs);
    QT_EQ_U64(a->graph.n_graph_outputs, b->graph.n_graph_outputs);
    if (a->graph.n_nodes == b->graph.n_nodes && a->graph.n_nodes > 0) {
        size_t nb = a->graph.n_nodes * sizeof(uint64_t);
        eq_strs(a->graph.node_name, b->graph.node_name, a->graph.n_nodes);
        eq_strs(a->graph.node_op, b->graph.node_op, a->graph.n_nodes);
        QT_EQ_MEM(a->graph.in_start, b->graph.in_start, nb);
        QT_EQ_MEM(a->graph.in_count, b->graph.in_count, nb);
        QT_EQ_MEM(a->graph.out_start, b->graph.out_start, nb);
        QT_EQ_MEM(a->graph.out_count, b->graph.out_count, nb);
    }
    if (a->graph.n_inputs == b->graph.n_inputs)
        eq_strs(a->graph.inputs, b->graph.inputs, a->graph.n_inputs);
    if (a->graph.n_outputs == b->graph.n_outputs)
        eq_strs(a->graph.outputs, b->graph.outputs, a->graph.n_outputs);
    if (a->graph.n_graph_outputs == b->graph.n_graph_outputs)
        eq_strs(a->graph.graph_outputs, b->graph.graph_outputs, a->graph.n_graph_outputs);
    QT_EQ_U64(a->n_samples, b->n_samples);
    if (a->n_samples == b->n_samples)
        eq_strs(a->sample_paths, b->sample_paths, a->n_samples);
    QT_EQ_U64(a->n_skipped, b->n_skipped);
    if (a->n_skipped == b->n_skipped)
        eq_strs(a->skipped, b->skipped, a->n_skipped);

    QT_EQ_U64(a->n_enc, b->n_enc);
    for (size_t i = 0; i < a->n_enc && i < b->n_enc; i++) {
        const qcal_enc_set *x = &a->enc[i], *y = &b->enc[i];
        QT_EQ_STR(S_(x->label), S_(y->label));
        QT_EQ_STR(S_(x->method), S_(y->method));
        QT_EQ_STR(S_(x->params), S_(y->params));
        QT_EQ_STR(S_(x->created), S_(y->created));
        QT_EQ_U64(x->n_act, y->n_act);
        for (size_t j = 0; j < x->n_act && j < y->n_act; j++) {
            QT_EQ_STR(S_(x->act[j].name), S_(y->act[j].name));
            QT_EQ_I64(x->act[j].bitwidth, y->act[j].bitwidth);
            QT_EQ_F32_BITS(x->act[j].scale, y->act[j].scale);
            QT_EQ_F32_BITS(x->act[j].min, y->act[j].min);
            QT_EQ_F32_BITS(x->act[j].max, y->act[j].max);
            QT_EQ_I64(x->act[j].offset, y->act[j].offset);
            QT_EQ_I64(x->act[j].symmetric, y->act[j].symmetric);
            QT_EQ_I64(x->act[j].is_float, y->act[j].is_float);
        }
        QT_EQ_U64(x->n_param, y->n_param);
        for (size_t j = 0; j < x->n_param && j < y->n_param; j++) {
            const qcal_param_enc *p = &x->param[j], *q = &y->param[j];
            QT_EQ_STR(S_(p->name), S_(q->name));
            QT_EQ_I64(p->bitwidth, q->bitwidth);
            QT_EQ_I64(p->symmetric, q->symmetric);
            QT_EQ_U64(p->ch_count, q->ch_count);
            for (size_t c = 0; c < p->ch_count && c < q->ch_count; c++) {
                QT_EQ_F32_BITS(p->scale[c], q->scale[c]);
                QT_EQ_F32_BITS(p->min[c], q->min[c]);
                QT_EQ_F32_BITS(p->max[c], q->max[c]);
                QT_EQ_I64(p->offset[c], q->offset[c]);
            }
        }
    }
    QT_TRUE((a->dumps_file == NULL) == (b->dumps_file == NULL));
    if (a->dumps_file && b->dumps_file)
        QT_EQ_STR(S_(a->dumps_file), S_(b->dumps_file));
}

/* Number of entries of g_dir whose name contains ".tmp." (left-over temporary files). */
static int count_tmp_files(void)
{
    DIR *d = opendir(g_dir);
    struct dirent *de;
    int n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".tmp."))
            n++;
    closedir(d);
    return n;
}

/* Reads a whole file (NULL if it cannot); *n its size. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf = NULL;
    long len;

    *n = 0;
    if (!fp)
        return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (len = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
        buf = xcalloc((size_t)len + 1, 1);
        *n = fread(buf, 1, (size_t)len, fp);
    }
    fclose(fp);
    return buf;
}

/* The stats survive a write/read round trip bit for bit (the hand-built values first checked
 * against what the histogram API must have produced). */
static void test_roundtrip(void)
{
    qcal_stats s, r;
    qcal_error err = { 0 };
    const char *path = path_in_dir("stats.h5");

    build_stats(&s);
    /* The input is fixture: what the file must carry for the NaN-only and mixed tensors. */
    QT_EQ_U64(s.act[1].hist.count, 5);
    QT_EQ_U64(s.act[1].hist.nan, 1);
    QT_EQ_U64(s.act[1].hist.pinf, 2);
    QT_EQ_U64(s.act[1].hist.ninf, 1);
    QT_TRUE(isnan(s.act[2].hist.min) && isnan(s.act[2].hist.max));
    QT_EQ_U64(s.act[2].hist.nan, 3);

    QT_OK(qcal_stats_write(path, &s, &err));
    if (err.msg[0])
        fprintf(stderr, "  error: %s\n", err.msg);
    QT_EQ_I64(count_tmp_files(), 0);
    memset(&r, 0xa5, sizeof r);
    QT_OK(qcal_stats_read(path, &r, &err));
    if (err.msg[0])
        fprintf(stderr, "  error: %s\n", err.msg);
    eq_stats(&s, &r);
    if (r.n_act != 3 || r.n_weights != 2 || r.n_samples != 3 || r.n_enc != 1 ||
        r.graph.n_inputs != 4) {
        qcal_stats_fini(&s);
        return;
    }
    /* A few values by hand, so that a symmetric bug in writer and reader cannot hide. */
    QT_EQ_STR(r.act[1].name, "conv1/Conv_output_0");
    QT_EQ_F32_BITS(r.act[1].hist.min, -1.5f);
    QT_EQ_F32_BITS(r.act[1].hist.max, 3.0f);
    QT_EQ_F32_BITS(r.act[0].hist.max, 1.0f);
    QT_EQ_U64(r.act[0].hist.count, 6);
    QT_TRUE(isnan(r.weights[0].ch_min[2]));
    QT_EQ_STR(r.sample_paths[2], "data/donn\xc3\xa9\x65s/\xc3\xbc.png");
    QT_EQ_STR(r.graph.inputs[2], "");
    QT_EQ_I64(r.enc[0].param[0].offset[2], -126);
    QT_EQ_STR(r.dumps_file, "stats.h5.dumps.h5");
    qcal_stats_fini(&r);
    qcal_stats_fini(&s);
    QT_TRUE(s.act == NULL && s.n_act == 0);
    qcal_stats_fini(NULL);
}

/* Writing equal content twice gives byte-identical files (no times recorded), so a second write
 * necessarily has the same datasets. */
static void test_rewrite_identical(void)
{
    qcal_stats s;
    const char *p1 = path_in_dir("a.h5"), *p2 = path_in_dir("b.h5");
    unsigned char *b1, *b2;
    size_t n1, n2;

    build_stats(&s);
    QT_OK(qcal_stats_write(p1, &s, NULL));
    QT_OK(qcal_stats_write(p2, &s, NULL));
    /* Overwriting an existing file works too (rename replaces it). */
    QT_OK(qcal_stats_write(p2, &s, NULL));
    b1 = slurp(p1, &n1);
    b2 = slurp(p2, &n2);
    QT_TRUE(b1 && b2 && n1 > 0);
    QT_EQ_U64(n1, n2);
    if (b1 && b2 && n1 == n2)
        QT_EQ_MEM(b1, b2, n1);
    free(b1);
    free(b2);
    unlink(p1);
    unlink(p2);
    qcal_stats_fini(&s);
}

/* A stats value with every table empty (no activations, weights, nodes, samples, encodings). */
static void test_empty_tables(void)
{
    qcal_stats s, r;
    qcal_error err = { 0 };
    const char *path = path_in_dir("empty.h5");

    memset(&s, 0, sizeof s);
    s.qcal_version = xstrdup("0.1.0");
    s.bins = 4096;
    s.ranks = 1;
    s.rank_samples = xcalloc(1, sizeof(uint64_t)); /* created etc. NULL: written as "" */
    QT_OK(qcal_stats_write(path, &s, &err));
    QT_OK(qcal_stats_read(path, &r, &err));
    QT_EQ_U64(r.n_act, 0);
    QT_EQ_U64(r.n_weights, 0);
    QT_EQ_U64(r.graph.n_nodes, 0);
    QT_EQ_U64(r.n_samples, 0);
    QT_EQ_U64(r.n_skipped, 0);
    QT_EQ_U64(r.n_enc, 0);
    QT_EQ_I64(r.bins, 4096);
    QT_EQ_STR(r.created, "");
    QT_TRUE(r.dumps_file == NULL);
    qcal_stats_fini(&r);

    /* An encoding set with no rows at all, and one with a per-tensor parameter (of the one
     * weight, which has no channel axis). */
    s.n_weights = 1;
    s.weights = xcalloc(1, sizeof *s.weights);
    s.weights[0].name = xstrdup("w");
    s.weights[0].axis = -1;
    s.n_enc = 2;
    s.enc = xcalloc(2, sizeof *s.enc);
    s.enc[0].label = xstrdup("zz-empty");
    s.enc[1].label = xstrdup("aa-one");
    s.enc[1].n_param = 1;
    s.enc[1].param = xcalloc(1, sizeof *s.enc[1].param);
    s.enc[1].param[0].name = xstrdup("w");
    s.enc[1].param[0].ch_count = 1;
    s.enc[1].param[0].scale = xcalloc(1, sizeof(float));
    s.enc[1].param[0].min = xcalloc(1, sizeof(float));
    s.enc[1].param[0].max = xcalloc(1, sizeof(float));
    s.enc[1].param[0].offset = xcalloc(1, sizeof(int64_t));
    s.enc[1].param[0].scale[0] = 0.5f;
    s.enc[1].param[0].bitwidth = 8;
    QT_OK(qcal_stats_write(path, &s, &err));
    QT_OK(qcal_stats_read(path, &r, &err));
    /* Creation order, not name order. */
    QT_EQ_U64(r.n_enc, 2);
    if (r.n_enc == 2) {
        QT_EQ_STR(r.enc[0].label, "zz-empty");
        QT_EQ_STR(r.enc[1].label, "aa-one");
    }
    eq_stats(&s, &r);
    qcal_stats_fini(&r);
    qcal_stats_fini(&s);
    unlink(path);
}

static bool msg_has(const qcal_error *err, const char *needle)
{
    bool ok = strstr(err->msg, needle) != NULL;

    if (!ok)
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err->msg, needle);
    return ok;
}

/* Missing, non-HDF5, foreign HDF5, wrong version: clear errors naming the file. */
static void test_read_errors(void)
{
    qcal_stats r;
    qcal_error err = { 0 };
    const char *missing = path_in_dir("missing.h5"), *text = path_in_dir("text.h5");
    const char *foreign = path_in_dir("foreign.h5"), *v2 = path_in_dir("v2.h5");
    FILE *fp;
    hid_t f, sp, a;
    int two = 2;

    QT_EQ_I64(qcal_stats_read(missing, &r, &err), QCAL_E_IO);
    QT_TRUE(msg_has(&err, missing));
    QT_TRUE(msg_has(&err, "No such file"));
    QT_TRUE(r.act == NULL && r.n_act == 0);

    fp = fopen(text, "w");
    QT_TRUE(fp != NULL);
    if (fp) {
        fputs("this is not HDF5\n", fp);
        fclose(fp);
    }
    QT_EQ_I64(qcal_stats_read(text, &r, &err), QCAL_E_CORRUPT);
    QT_TRUE(msg_has(&err, text));
    QT_TRUE(msg_has(&err, "not an HDF5 file"));

    /* An HDF5 file of someone else. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    f = H5Fcreate(foreign, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    QT_TRUE(f >= 0);
    H5Fclose(f);
    QT_EQ_I64(qcal_stats_read(foreign, &r, &err), QCAL_E_CORRUPT);
    QT_TRUE(msg_has(&err, foreign));
    QT_TRUE(msg_has(&err, "not a qcal-stats file"));

    /* A qcal-stats file claiming version 2. */
    {
        qcal_stats s;
        build_stats(&s);
        QT_OK(qcal_stats_write(v2, &s, NULL));
        qcal_stats_fini(&s);
    }
    f = H5Fopen(v2, H5F_ACC_RDWR, H5P_DEFAULT);
    QT_TRUE(f >= 0);
    H5Adelete(f, "version");
    sp = H5Screate(H5S_SCALAR);
    a = H5Acreate2(f, "version", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    QT_TRUE(a >= 0 && H5Awrite(a, H5T_NATIVE_INT, &two) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Fclose(f);
    QT_EQ_I64(qcal_stats_read(v2, &r, &err), QCAL_E_UNSUPPORTED);
    QT_TRUE(msg_has(&err, v2));
    QT_TRUE(msg_has(&err, "version 2 unsupported"));
    unlink(missing);
    unlink(text);
    unlink(foreign);
    unlink(v2);
}

/* Opens dataset /activations/<name> of path read-write and overwrites element i (memory type
 * mt) with *v. */
static void poke(const char *path, const char *dset, hid_t mt, hsize_t i, const void *v)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    hid_t fs = H5Dget_space(d), ms;
    hsize_t one = 1;

    ms = H5Screate_simple(1, &one, NULL);
    H5Sselect_elements(fs, H5S_SELECT_SET, 1, &i);
    QT_TRUE(H5Dwrite(d, mt, ms, fs, H5P_DEFAULT, v) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    H5Fclose(f);
}

/* Damaged contents: a non-canonical histogram, a missing dataset, a truncated file. */
static void test_corrupt(void)
{
    qcal_stats s, r;
    qcal_error err = { 0 };
    const char *path = path_in_dir("bad.h5"), *cut = path_in_dir("cut.h5");
    int32_t e = 3;
    uint64_t big = 1000;
    unsigned char *bytes;
    size_t n;
    FILE *fp;

    build_stats(&s);
    QT_OK(qcal_stats_write(path, &s, NULL));
    poke(path, "/activations/hist_e", H5T_NATIVE_INT32, 1, &e);
    QT_EQ_I64(qcal_stats_read(path, &r, &err), QCAL_E_CORRUPT);
    QT_TRUE(msg_has(&err, path));
    QT_TRUE(msg_has(&err, "activation 'conv1/Conv_output_0'"));
    QT_TRUE(r.act == NULL);

    QT_OK(qcal_stats_write(path, &s, NULL));
    poke(path, "/weights/ch_count", H5T_NATIVE_UINT64, 0, &big);
    QT_EQ_I64(qcal_stats_read(path, &r, &err), QCAL_E_CORRUPT);
    QT_TRUE(msg_has(&err, "/weights/ch_start, ch_count: channel ranges exceed"));

    QT_OK(qcal_stats_write(path, &s, NULL));
    {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        QT_TRUE(H5Ldelete(f, "/graph/out_count", H5P_DEFAULT) >= 0);
        H5Fclose(f);
    }
    QT_EQ_I64(qcal_stats_read(path, &r, &err), QCAL_E_CORRUPT);
    QT_TRUE(msg_has(&err, "missing dataset /graph/out_count"));

    QT_OK(qcal_stats_write(path, &s, NULL));
    bytes = slurp(path, &n);
    fp = fopen(cut, "wb");
    if (bytes && fp)
        fwrite(bytes, 1, n / 2, fp);
    if (fp)
        fclose(fp);
    QT_EQ_I64(qcal_stats_read(cut, &r, &err), QCAL_E_CORRUPT);
    QT_TRUE(msg_has(&err, cut));
    QT_TRUE(msg_has(&err, "truncated"));
    free(bytes);
    unlink(path);
    unlink(cut);
    qcal_stats_fini(&s);
}

/* Unwritable targets fail with the file named and leave no temporary file. */
static void test_write_errors(void)
{
    qcal_stats s;
    qcal_error err = { 0 };
    char nodir[300], isdir[300];

    build_stats(&s);
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/stats.h5", g_dir);
    QT_EQ_I64(qcal_stats_write(nodir, &s, &err), QCAL_E_IO);
    QT_TRUE(msg_has(&err, nodir));
    QT_TRUE(msg_has(&err, "No such file or directory"));
    QT_EQ_I64(count_tmp_files(), 0);

    /* A directory is never replaced: refused, naming it, and no temporary file is left. */
    snprintf(isdir, sizeof isdir, "%s/adir", g_dir);
    QT_EQ_I64(mkdir(isdir, 0755), 0);
    QT_EQ_I64(qcal_stats_write(isdir, &s, &err), QCAL_E_INVALID);
    QT_TRUE(msg_has(&err, isdir));
    QT_TRUE(msg_has(&err, "is a directory, not a regular file"));
    QT_EQ_I64(count_tmp_files(), 0);
    rmdir(isdir);

    /* A histogram whose bins differ from the file's. */
    s.bins = 32;
    QT_EQ_I64(qcal_stats_write(path_in_dir("x.h5"), &s, &err), QCAL_E_INVALID);
    QT_TRUE(msg_has(&err, "activation 'input'"));
    QT_EQ_I64(count_tmp_files(), 0);
    s.bins = 16;
    qcal_stats_fini(&s);
}

/* Runs cmd and returns its whole stdout (malloc'd; NULL if it cannot run). */
static char *run_capture(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    size_t cap = 1 << 16, n = 0, k;
    char *out;

    if (!p)
        return NULL;
    out = xcalloc(cap, 1);
    while ((k = fread(out + n, 1, cap - 1 - n, p)) > 0) {
        n += k;
        if (n + 1 >= cap) {
            char *bigger = realloc(out, cap * 2);
            if (!bigger)
                break;
            out = bigger;
            cap *= 2;
        }
    }
    out[n] = '\0';
    if (pclose(p) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* h5dump (HDF5's own tool, no qcal code) reads the file and shows the names. */
static void test_h5dump(void)
{
    qcal_stats s;
    const char *path = path_in_dir("dump.h5");
    char cmd[512], *out;

    build_stats(&s);
    QT_OK(qcal_stats_write(path, &s, NULL));
    snprintf(cmd, sizeof cmd, "h5dump -d /activations/name -a /format -d /activations/hist_e "
             "-d /encodings/minmax-a8-w8/param_offset %s 2>&1", path);
    out = run_capture(cmd);
    QT_TRUE(out != NULL);
    if (out) {
        QT_TRUE(strstr(out, "DATASET \"/activations/name\"") != NULL);
        QT_TRUE(strstr(out, "\"input\", \"conv1/Conv_output_0\", \"relu_out\"") != NULL);
        QT_TRUE(strstr(out, "H5T_CSET_UTF8") != NULL);
        QT_TRUE(strstr(out, "\"qcal-stats\"") != NULL);
        QT_TRUE(strstr(out, "-128, -127, -126") != NULL);
        if (qt_fail_)
            fprintf(stderr, "%s\n", out);
    }
    free(out);
    /* The header: the histogram is [3, 16] uint64 chunked by row. */
    snprintf(cmd, sizeof cmd, "h5dump -p -H -d /activations/hist %s 2>&1", path);
    out = run_capture(cmd);
    QT_TRUE(out != NULL);
    if (out) {
        QT_TRUE(strstr(out, "H5T_STD_U64LE") != NULL);
        QT_TRUE(strstr(out, "SIMPLE { ( 3, 16 ) / ( 3, 16 ) }") != NULL);
        QT_TRUE(strstr(out, "CHUNKED ( 1, 16 )") != NULL);
    }
    free(out);
    unlink(path);
    qcal_stats_fini(&s);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A realistic size (500 tensors x 4096 bins): round trip exact; times and size reported. */
static void test_large(void)
{
    enum { T = 500, B = 4096, N = 20000 };
    qcal_stats s, r;
    qcal_error err = { 0 };
    const char *path = path_in_dir("large.h5");
    float *x = xcalloc(N, sizeof(float));
    uint32_t rng = 12345;
    double t0, t1, t2;
    struct stat sb;

    memset(&s, 0, sizeof s);
    s.bins = B;
    s.ranks = 1;
    s.rank_samples = xcalloc(1, sizeof(uint64_t));
    /* One sample gave the values (the counts must agree, see stats_read.c). */
    s.samples = 1;
    s.rank_samples[0] = 1;
    s.n_samples = 1;
    s.sample_paths = xcalloc(1, sizeof(char *));
    s.sample_paths[0] = xstrdup("sample0.npy");
    s.n_act = T;
    s.act = xcalloc(T, sizeof *s.act);
    for (size_t t = 0; t < T; t++) {
        char name[64];
        /* Sums of uniforms: bell-shaped data of a different scale per tensor. */
        for (size_t i = 0; i < N; i++) {
            float v = 0.0f;
            for (int k = 0; k < 4; k++) {
                rng = rng * 1664525u + 1013904223u;
                v += (float)(rng >> 8) * (1.0f / 16777216.0f);
            }
            x[i] = (v - 2.0f) * (float)(t % 7 + 1);
        }
        snprintf(name, sizeof name, "/layer%zu/Conv_output_0", t);
        act_init(&s.act[t], name, "activation", "n", "Conv", "1x20000", x, N, B);
    }
    t0 = now_s();
    QT_OK(qcal_stats_write(path, &s, &err));
    t1 = now_s();
    QT_OK(qcal_stats_read(path, &r, &err));
    t2 = now_s();
    eq_stats(&s, &r);
    QT_EQ_I64(stat(path, &sb), 0);
    fprintf(stderr, "  %d tensors x %d bins: write %.1f ms, read %.1f ms, file %lld bytes "
            "(raw histograms %zu bytes)\n", T, B, 1e3 * (t1 - t0), 1e3 * (t2 - t1),
            (long long)sb.st_size, (size_t)T * B * sizeof(uint64_t));
    qcal_stats_fini(&r);
    qcal_stats_fini(&s);
    free(x);
    unlink(path);
}

/*
 * A stats file whose root attribute's heap reference makes HDF5 1.10's H5HG_read copy between
 * overlapping buffers (found by tests/fuzz/fuzz_stats; SIGSEGV in the Release build): refused
 * as corrupt before HDF5 reads the string.
 */
static void test_heap_reference(void)
{
    const char *base = getenv("QCAL_TEST_DATA");
    char path[1200];
    qcal_stats r;
    qcal_error err = { 0 };

    snprintf(path, sizeof path, "%s/stats/h5hg-read-overlap-root-attr.h5",
             base && *base ? base : "data");
    QT_EQ_I64(qcal_stats_read(path, &r, &err), QCAL_E_CORRUPT);
    QT_TRUE(msg_has(&err, "h5hg-read-overlap-root-attr.h5: "));
    QT_TRUE(r.act == NULL && r.qcal_version == NULL);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/qcal_test_store_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 2;
    }
    QT_RUN(test_roundtrip);
    QT_RUN(test_rewrite_identical);
    QT_RUN(test_empty_tables);
    QT_RUN(test_read_errors);
    QT_RUN(test_corrupt);
    QT_RUN(test_write_errors);
    QT_RUN(test_h5dump);
    QT_RUN(test_large);
    QT_RUN(test_heap_reference);
    unlink(path_in_dir("stats.h5"));
    if (rmdir(g_dir) != 0)
        fprintf(stderr, "note: %s not empty: %s\n", g_dir, strerror(errno));
    return qt_report();
}
