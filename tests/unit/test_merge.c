/*
 * qcal_stats_merge (include/qcal/merge.h): merged statistics equal one pass over the union,
 * lists are concatenated in order, the dataset record is rebuilt (list_sha256 checked against
 * sha256sum of the concatenated list), and every mismatch is refused with dst unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "qcal/encset.h"
#include "qcal/merge.h"
#include "qcal/store.h"
#include "qtest.h"

#define BINS 16

static char *xstrdup(const char *s)
{
    char *p = strdup(s);

    if (!p)
        abort();
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);

    if (!p)
        abort();
    return p;
}

static char **strs(const char *const *v, size_t n)
{
    char **out = xcalloc(n + 1, sizeof *out);

    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

static void act(qcal_act_rec *a, const char *name, const char *kind, const char *producer,
                const char *op, size_t bins, const float *x, size_t n)
{
    a->name = xstrdup(name);
    a->kind = xstrdup(kind);
    a->dtype = xstrdup("float32");
    a->shape = xstrdup("1x3");
    a->producer = xstrdup(producer);
    a->op = xstrdup(op);
    QT_OK(qcal_hist_init(&a->hist, bins, NULL));
    QT_OK(qcal_hist_add(&a->hist, x, n, NULL));
}

/*
 * A small stats record: activations "in" (the values x) and "y" (1000 * x, finite only), one
 * Conv weight with two channels, a one-node graph, the given samples and rank counts, the
 * default encoding set and a dump link, so the merge has something to drop.
 */
static void build(qcal_stats *s, size_t bins, const char *const *paths, size_t np, const float *x,
                  size_t nx, int ranks, const uint64_t *rank_samples, const char *dataset)
{
    static const char *const NODE_IN[] = { "in", "w" }, *const NODE_OUT[] = { "y" };
    static const float CH_MIN[] = { -1.0f, -0.5f }, CH_MAX[] = { 1.0f, 0.25f };
    float *y = xcalloc(nx, sizeof *y);
    size_t ny = 0;
    qcal_encset_opts eo;

    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < nx; i++)
        if (x[i] - x[i] == 0.0f)
            y[ny++] = 1000.0f * x[i];
    s->qcal_version = xstrdup("test");
    s->created = xstrdup("2024-01-01T00:00:00Z");
    s->model_path = xstrdup("m.onnx");
    s->model_sha256 = xstrdup("abc123");
    s->bins = (int)bins;
    s->preprocess = xstrdup("{\"mean\":[0]}");
    s->dataset = xstrdup(dataset);
    s->ranks = ranks;
    s->rank_samples = xcalloc((size_t)ranks, sizeof *s->rank_samples);
    memcpy(s->rank_samples, rank_samples, (size_t)ranks * sizeof *rank_samples);
    for (int r = 0; r < ranks; r++)
        s->samples += rank_samples[r];
    s->act = xcalloc(2, sizeof *s->act);
    s->n_act = 2;
    act(&s->act[0], "in", "input", "", "", bins, x, nx);
    act(&s->act[1], "y", "output", "conv", "Conv", bins, y, ny);
    s->weights = xcalloc(1, sizeof *s->weights);
    s->n_weights = 1;
    s->weights[0].name = xstrdup("w");
    s->weights[0].consumer = xstrdup("conv");
    s->weights[0].op = xstrdup("Conv");
    s->weights[0].shape = xstrdup("2x1x1x1");
    s->weights[0].axis = 0;
    s->weights[0].min = -1.0f;
    s->weights[0].max = 1.0f;
    s->weights[0].ch_count = 2;
    s->weights[0].ch_min = xcalloc(2, sizeof(float));
    s->weights[0].ch_max = xcalloc(2, sizeof(float));
    memcpy(s->weights[0].ch_min, CH_MIN, sizeof CH_MIN);
    memcpy(s->weights[0].ch_max, CH_MAX, sizeof CH_MAX);
    s->graph.n_nodes = 1;
    s->graph.node_name = strs((const char *const[]){ "conv" }, 1);
    s->graph.node_op = strs((const char *const[]){ "Conv" }, 1);
    s->graph.in_start = xcalloc(1, sizeof(uint64_t));
    s->graph.in_count = xcalloc(1, sizeof(uint64_t));
    s->graph.out_start = xcalloc(1, sizeof(uint64_t));
    s->graph.out_count = xcalloc(1, sizeof(uint64_t));
    s->graph.in_count[0] = 2;
    s->graph.out_count[0] = 1;
    s->graph.n_inputs = 2;
    s->graph.inputs = strs(NODE_IN, 2);
    s->graph.n_outputs = 1;
    s->graph.outputs = strs(NODE_OUT, 1);
    s->graph.n_graph_outputs = 1;
    s->graph.graph_outputs = strs(NODE_OUT, 1);
    s->n_samples = np;
    s->sample_paths = strs(paths, np);
    s->skipped = xcalloc(1, sizeof *s->skipped);
    s->dumps_file = xstrdup("x.dumps.h5");
    qcal_encset_opts_default(&eo);
    eo.created = "2024-01-01T00:00:00Z";
    s->enc = xcalloc(1, sizeof *s->enc);
    QT_OK(qcal_encset_compute(s, &eo, &s->enc[0], NULL, NULL));
    s->n_enc = 1;
    free(y);
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
    QT_EQ_MEM(a->counts, b->counts, a->bins * sizeof a->counts[0]);
}

static const char *const PA[] = { "a/0.png", "a/1.png" }, *const PB[] = { "b/0.png" },
                         *const PC[] = { "c/0.png" };
static const float XA[] = { 0.5f, -0.25f, 3.0f, NAN, 0.0f, -0.0f };
static const float XB[] = { 7.75f, -3.5f, INFINITY, 1e-3f };
static const float XC[] = { -INFINITY, 100.0f };
static const uint64_t RA[] = { 1, 1 }, RB[] = { 1 };
#define DSA "{\"kind\": \"list\", \"path\": \"a.txt\", \"count\": 2, \"inputs\": 1, " \
            "\"list_sha256\": \"x\"}"
#define DSB "{\"kind\": \"dir\", \"path\": \"b\", \"count\": 1, \"inputs\": 1, " \
            "\"list_sha256\": \"y\"}"
#define DSC "{\"kind\": \"dir\", \"path\": \"c\", \"count\": 1, \"inputs\": 1, " \
            "\"list_sha256\": \"z\"}"

/* DESIGN.md: merging must equal one run over a's samples then b's. */
static void test_merge_equals_union(void)
{
    qcal_stats a, b, u;
    float all[sizeof XA / sizeof XA[0] + sizeof XB / sizeof XB[0]];
    const char *const PU[] = { "a/0.png", "a/1.png", "b/0.png" };
    const uint64_t RU[] = { 3 };

    memcpy(all, XA, sizeof XA);
    memcpy(all + 6, XB, sizeof XB);
    build(&a, BINS, PA, 2, XA, 6, 2, RA, DSA);
    build(&b, BINS, PB, 1, XB, 4, 1, RB, DSB);
    build(&u, BINS, PU, 3, all, 10, 1, RU, DSA);
    QT_OK(qcal_stats_merge(&a, &b, NULL));
    for (size_t i = 0; i < 2; i++)
        eq_hist(&a.act[i].hist, &u.act[i].hist);
    /* Hand-checked: the finite values of "in" are 8, range [-3.5, 7.75], one NaN, one +Inf. */
    QT_EQ_U64(a.act[0].hist.count, 8);
    QT_EQ_F32_BITS(a.act[0].hist.min, -3.5f);
    QT_EQ_F32_BITS(a.act[0].hist.max, 7.75f);
    QT_EQ_U64(a.act[0].hist.nan, 1);
    QT_EQ_U64(a.act[0].hist.pinf, 1);
    QT_EQ_U64(a.samples, 3);
    QT_EQ_U64(a.n_samples, 3);
    for (size_t i = 0; i < 3; i++)
        QT_EQ_STR(a.sample_paths[i], PU[i]);
    QT_EQ_I64(a.ranks, 3);
    QT_EQ_U64(a.rank_samples[0], 1);
    QT_EQ_U64(a.rank_samples[1], 1);
    QT_EQ_U64(a.rank_samples[2], 1);
    /* sha256sum of "a/0.png\na/1.png\nb/0.png\n". */
    QT_EQ_STR(a.dataset,
              "{\"kind\": \"merged\", \"path\": \"\", \"count\": 3, \"inputs\": 1, \"list_sha256\": "
              "\"bdc3fa1e7480db5943b5975d337c0caf64e7e8d05752193ca768eac05d68e784\", \"parts\": "
              "[" DSA ", " DSB "]}");
    QT_EQ_U64(a.n_enc, 0);
    QT_TRUE(a.enc == NULL);
    QT_TRUE(a.dumps_file == NULL);
    QT_EQ_STR(a.model_path, "m.onnx");
    QT_EQ_STR(a.created, "2024-01-01T00:00:00Z");
    /* src is not modified. */
    QT_EQ_U64(b.n_samples, 1);
    QT_EQ_U64(b.act[0].hist.count, 3);
    qcal_stats_fini(&a);
    qcal_stats_fini(&b);
    qcal_stats_fini(&u);
}

/* A merge of a merge keeps one flat list of parts and the hash of the whole list. */
static void test_merge_three(void)
{
    qcal_stats a, b, c;

    build(&a, BINS, PA, 2, XA, 6, 2, RA, DSA);
    build(&b, BINS, PB, 1, XB, 4, 1, RB, DSB);
    build(&c, BINS, PC, 1, XC, 2, 1, RB, DSC);
    QT_OK(qcal_stats_merge(&a, &b, NULL));
    QT_OK(qcal_stats_merge(&a, &c, NULL));
    QT_EQ_STR(a.dataset,
              "{\"kind\": \"merged\", \"path\": \"\", \"count\": 4, \"inputs\": 1, \"list_sha256\": "
              "\"879c57e7fe04b05d5bbef38fbd2c06e402f2bba7b0eef96a4f3792e40f781740\", \"parts\": "
              "[" DSA ", " DSB ", " DSC "]}");
    QT_EQ_U64(a.act[0].hist.ninf, 1);
    QT_EQ_F32_BITS(a.act[0].hist.max, 100.0f);
    QT_EQ_I64(a.ranks, 4);
    qcal_stats_fini(&a);
    qcal_stats_fini(&b);
    qcal_stats_fini(&c);
}

/* With several inputs only input 0's paths are in the file: no recomputed hash. */
static void test_multi_input(void)
{
    qcal_stats a, b;

    build(&a, BINS, PA, 2, XA, 6, 2, RA, "{\"kind\": \"list\", \"inputs\": 2}");
    build(&b, BINS, PB, 1, XB, 4, 1, RB, "{\"kind\": \"list\", \"inputs\": 2}");
    QT_OK(qcal_stats_merge(&a, &b, NULL));
    QT_EQ_STR(a.dataset, "{\"kind\": \"merged\", \"path\": \"\", \"count\": 3, \"inputs\": 2, "
              "\"list_sha256\": \"\", \"parts\": [{\"kind\": \"list\", \"inputs\": 2}, "
              "{\"kind\": \"list\", \"inputs\": 2}]}");
    qcal_stats_fini(&a);
    qcal_stats_fini(&b);
}

typedef void (*mutate_fn)(qcal_stats *b);

static void m_model(qcal_stats *b) { b->model_sha256[0] = 'X'; }
static void m_pre(qcal_stats *b) { b->preprocess[2] = 'X'; }
static void m_act_name(qcal_stats *b) { b->act[1].name[0] = 'z'; }
static void m_act_shape(qcal_stats *b) { b->act[1].shape[0] = '2'; }
static void m_act_count(qcal_stats *b) { b->n_act = 1; }
static void m_weight(qcal_stats *b) { b->weights[0].ch_max[1] = 0.5f; }
static void m_weight_axis(qcal_stats *b) { b->weights[0].axis = 1; }
static void m_graph(qcal_stats *b) { b->graph.node_op[0][0] = 'X'; }
static void m_inputs(qcal_stats *b)
{
    free(b->dataset);
    b->dataset = xstrdup("{\"inputs\": 2}");
}
static void m_dup(qcal_stats *b) { b->sample_paths[0][0] = 'a'; }
static void m_json(qcal_stats *b) { b->dataset[0] = '['; }

/* b built like a's partner, mutated; the merge must fail with code and message, a unchanged. */
static void refused(mutate_fn f, size_t bins_b, qcal_status code, const char *needle)
{
    qcal_stats a, b, a0;
    qcal_error err = { 0 };
    size_t n_act;

    build(&a, BINS, PA, 2, XA, 6, 2, RA, DSA);
    build(&a0, BINS, PA, 2, XA, 6, 2, RA, DSA);
    build(&b, bins_b, PB, 1, XB, 4, 1, RB, DSB);
    n_act = b.n_act;
    if (f)
        f(&b);
    QT_EQ_I64(qcal_stats_merge(&a, &b, &err), code);
    QT_CHECK_(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    fprintf(stderr, "  refused: %s\n", err.msg);
    /* dst unchanged. */
    QT_EQ_U64(a.samples, a0.samples);
    QT_EQ_U64(a.n_samples, a0.n_samples);
    QT_EQ_STR(a.sample_paths[1], a0.sample_paths[1]);
    QT_EQ_I64(a.ranks, a0.ranks);
    QT_EQ_STR(a.dataset, a0.dataset);
    QT_EQ_U64(a.n_enc, 1);
    QT_EQ_STR(a.dumps_file, "x.dumps.h5");
    for (size_t i = 0; i < 2; i++)
        eq_hist(&a.act[i].hist, &a0.act[i].hist);
    b.n_act = n_act;
    qcal_stats_fini(&a);
    qcal_stats_fini(&a0);
    qcal_stats_fini(&b);
}

static void test_refused(void)
{
    qcal_stats a;
    qcal_error err = { 0 };

    refused(NULL, 2 * BINS, QCAL_E_INVALID, "bins differ: 16 vs 32");
    refused(m_model, BINS, QCAL_E_INVALID, "model_sha256");
    refused(m_pre, BINS, QCAL_E_INVALID, "preprocess differs");
    refused(m_act_name, BINS, QCAL_E_INVALID, "activation 1 name differs: 'y' vs 'z'");
    refused(m_act_shape, BINS, QCAL_E_INVALID, "activation 'y': shape differs: '1x3' vs '2x3'");
    refused(m_act_count, BINS, QCAL_E_INVALID, "activation count differs: 2 vs 1");
    refused(m_weight, BINS, QCAL_E_INVALID, "weight 'w': channel 1 range differs");
    refused(m_weight_axis, BINS, QCAL_E_INVALID, "weight 'w': channel axis");
    refused(m_graph, BINS, QCAL_E_INVALID, "graph node op 0 differs");
    refused(m_inputs, BINS, QCAL_E_INVALID, "dataset input count differs: 1 vs 2");
    refused(m_dup, BINS, QCAL_E_INVALID, "sample 'a/0.png' is in both");
    refused(m_json, BINS, QCAL_E_CORRUPT, "dataset attribute");
    build(&a, BINS, PA, 2, XA, 6, 2, RA, DSA);
    QT_EQ_I64(qcal_stats_merge(&a, &a, &err), QCAL_E_INVALID);
    QT_EQ_I64(qcal_stats_merge(&a, NULL, NULL), QCAL_E_INVALID);
    QT_EQ_U64(a.n_samples, 2);
    qcal_stats_fini(&a);
}

int main(void)
{
    QT_RUN(test_merge_equals_union);
    QT_RUN(test_merge_three);
    QT_RUN(test_multi_input);
    QT_RUN(test_refused);
    return qt_report();
}
