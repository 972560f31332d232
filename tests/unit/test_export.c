/*
 * Encoding sets and exports: a hand-built qcal_stats whose tensors reproduce ALGORITHMS.md §5
 * vectors (T1, T2, T5, T9b, S1, S4, P0-P2, P0a, P1a, TRT lines), checked bit for bit in the set
 * and in every written format after parsing the files back with jansson.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "qcal/encset.h"
#include "qcal/export.h"
#include "qtest.h"

static float f32(uint32_t bits)
{
    float f;

    memcpy(&f, &bits, sizeof f);
    return f;
}

/* ---- the fixture ---- */

enum { A_INPUT, A_RELU, A_HEAD, A_NAN, A_ZERO, N_ACT };
enum { W_CONV, W_BIAS, W_GEMM, N_W };

typedef struct fixture {
    qcal_stats s;
    qcal_act_rec act[N_ACT];
    qcal_weight_rec w[N_W];
    float conv_min[3], conv_max[3], gemm_min[2], gemm_max[2];
    char *node_name[3], *node_op[3], *inputs[8], *outputs[3], *gouts[1];
    uint64_t in_start[3], in_count[3], out_start[3], out_count[3];
} fixture;

static void add_act(qcal_act_rec *r, const char *name, const float *x, size_t n)
{
    memset(r, 0, sizeof *r);
    r->name = (char *)name;
    r->kind = (char *)"activation";
    QT_OK(qcal_hist_init(&r->hist, 256, NULL));
    QT_OK(qcal_hist_add(&r->hist, x, n, NULL));
}

static void set_weight(qcal_weight_rec *w, const char *name, const char *op, const char *shape,
                       float mn, float mx, size_t ch, float *ch_min, float *ch_max)
{
    memset(w, 0, sizeof *w);
    w->name = (char *)name;
    w->consumer = (char *)op;
    w->op = (char *)op;
    w->shape = (char *)shape;
    w->axis = ch ? 0 : -1;
    w->min = mn;
    w->max = mx;
    w->ch_count = ch;
    w->ch_min = ch_min;
    w->ch_max = ch_max;
}

/*
 * input [-1.5, 3.2] (T2) -> Conv(conv1.weight P0/P1/P2, conv1.bias) -> Relu [0, 6] (T1) ->
 * Gemm(gemm.weight with a NaN channel) -> /head/Add_output_0; plus a NaN-only and an all-zero
 * tensor.
 */
static void fixture_init(fixture *f)
{
    static const float in[] = { -1.5f, 0.25f, 3.2f, 1.0f };
    static const float relu[] = { 0.0f, 6.0f, 2.0f, 0.0f };
    static const float head[] = { -7.0f, 0.5f };
    const float nan_only[] = { NAN, NAN, INFINITY };
    static const float zero[] = { 0.0f, -0.0f, 0.0f };
    static const char *const ins[] = { "input", "conv1.weight", "conv1.bias", "conv_out",
                                       "/relu/Relu_output_0", "gemm.weight", "" };

    memset(f, 0, sizeof *f);
    add_act(&f->act[A_INPUT], "input", in, 4);
    add_act(&f->act[A_RELU], "/relu/Relu_output_0", relu, 4);
    add_act(&f->act[A_HEAD], "/head/Add_output_0", head, 2);
    add_act(&f->act[A_NAN], "nan_only", nan_only, 3);
    add_act(&f->act[A_ZERO], "zero", zero, 3);
    /* P0: [-0.5, 0.25], P1: [-0.02, 0.04], P2: [0, 0]. */
    f->conv_min[0] = -0.5f, f->conv_max[0] = 0.25f;
    f->conv_min[1] = -0.02f, f->conv_max[1] = 0.04f;
    f->conv_min[2] = 0.0f, f->conv_max[2] = 0.0f;
    f->gemm_min[0] = -1.0f, f->gemm_max[0] = 2.0f;
    f->gemm_min[1] = NAN, f->gemm_max[1] = NAN;
    set_weight(&f->w[W_CONV], "conv1.weight", "Conv", "3x1x1x1", -0.5f, 0.25f, 3, f->conv_min,
               f->conv_max);
    set_weight(&f->w[W_BIAS], "conv1.bias", "Conv", "3", -0.1f, 0.2f, 0, NULL, NULL);
    set_weight(&f->w[W_GEMM], "gemm.weight", "Gemm", "2x2", -1.0f, 2.0f, 2, f->gemm_min,
               f->gemm_max);

    f->node_name[0] = (char *)"conv1", f->node_op[0] = (char *)"Conv";
    f->node_name[1] = (char *)"relu", f->node_op[1] = (char *)"Relu";
    f->node_name[2] = (char *)"gemm", f->node_op[2] = (char *)"Gemm";
    for (size_t i = 0; i < 7; i++)
        f->inputs[i] = (char *)ins[i];
    f->in_start[0] = 0, f->in_count[0] = 3;
    f->in_start[1] = 3, f->in_count[1] = 1;
    f->in_start[2] = 4, f->in_count[2] = 3;
    f->outputs[0] = (char *)"conv_out";
    f->outputs[1] = (char *)"/relu/Relu_output_0";
    f->outputs[2] = (char *)"/head/Add_output_0";
    for (size_t i = 0; i < 3; i++)
        f->out_start[i] = i, f->out_count[i] = 1;
    f->gouts[0] = (char *)"/head/Add_output_0";

    f->s.n_act = N_ACT;
    f->s.act = f->act;
    f->s.n_weights = N_W;
    f->s.weights = f->w;
    f->s.graph = (qcal_graph_rec){ 3, f->node_name, f->node_op, f->in_start, f->in_count,
                                   f->out_start, f->out_count, 7, 3, f->inputs, f->outputs,
                                   1, f->gouts };
}

static void fixture_fini(fixture *f)
{
    for (size_t i = 0; i < N_ACT; i++)
        qcal_hist_fini(&f->act[i].hist);
}

static const qcal_act_enc *find_act(const qcal_enc_set *e, const char *name)
{
    for (size_t i = 0; i < e->n_act; i++)
        if (strcmp(e->act[i].name, name) == 0)
            return &e->act[i];
    return NULL;
}

static const qcal_param_enc *find_param(const qcal_enc_set *e, const char *name)
{
    for (size_t i = 0; i < e->n_param; i++)
        if (strcmp(e->param[i].name, name) == 0)
            return &e->param[i];
    return NULL;
}

static void check_act(const qcal_act_enc *a, uint32_t scale, int64_t offset, float mn, float mx,
                      bool sym)
{
    QT_TRUE(a != NULL);
    if (!a)
        return;
    QT_EQ_F32_BITS(a->scale, f32(scale));
    QT_EQ_I64(a->offset, offset);
    QT_EQ_F32_BITS(a->min, mn);
    QT_EQ_F32_BITS(a->max, mx);
    QT_EQ_I64(a->symmetric, sym);
    QT_EQ_I64(a->is_float, 0);
}

/* P0, P1, P2 of §5 in channels 0..2 of conv1.weight (signed symmetric). */
static void check_p012(const qcal_param_enc *p)
{
    static const uint32_t sc[3] = { 0x3b810204u, 0x39a5214du, 0x38a5214du };
    static const float mn[3] = { -0.503937006f, -0.0403149612f, -0.0100787403f };
    static const float mx[3] = { 0.5f, 0.0399999991f, 0.00999999978f };

    QT_TRUE(p != NULL);
    if (!p)
        return;
    QT_EQ_U64(p->ch_count, 3);
    QT_EQ_I64(p->bitwidth, 8);
    QT_EQ_I64(p->symmetric, 1);
    for (int c = 0; c < 3 && p->ch_count == 3; c++) {
        QT_EQ_F32_BITS(p->scale[c], f32(sc[c]));
        QT_EQ_I64(p->offset[c], -128);
        QT_EQ_F32_BITS(p->min[c], mn[c]);
        QT_EQ_F32_BITS(p->max[c], mx[c]);
    }
}

/* ---- the encoding set ---- */

static void test_default_set(void)
{
    fixture f;
    qcal_encset_opts o;
    qcal_enc_set e;
    qcal_encset_warnings w;
    const qcal_param_enc *p;

    fixture_init(&f);
    qcal_encset_opts_default(&o);
    QT_OK(qcal_encset_compute(&f.s, &o, &e, &w, NULL));
    QT_EQ_STR(e.label, "minmax-a8-w8");
    QT_EQ_STR(e.method, "minmax");
    QT_EQ_STR(e.params, "{\"act_bitwidth\":8,\"act_symmetric\":\"none\",\"bias_bitwidth\":32,"
                        "\"method\":\"minmax\",\"overrides\":[],\"param_bitwidth\":8,"
                        "\"param_symmetric\":\"signed\",\"per_channel\":false,"
                        "\"percentile\":99.99}");
    /* input (T2), relu (T1), head, zero (T5); nan_only has no entry. */
    QT_EQ_U64(e.n_act, 4);
    check_act(find_act(&e, "input"), 0x3c96fd64u, -81, -1.49294114f, 3.20705891f, false);
    check_act(find_act(&e, "/relu/Relu_output_0"), 0x3cc0c0c1u, 0, 0.0f, 6.0f, false);
    check_act(find_act(&e, "zero"), 0x38247b86u, 0, 0.0f, 0.00999999978f, false);
    QT_TRUE(find_act(&e, "nan_only") == NULL);
    /* Per tensor: conv1.weight [-0.5, 0.25] -> A = 0.5 = P0; gemm.weight [-1, 2]; no bias. */
    QT_EQ_U64(e.n_param, 2);
    QT_TRUE(find_param(&e, "conv1.bias") == NULL);
    p = find_param(&e, "conv1.weight");
    QT_TRUE(p && p->ch_count == 1);
    if (p && p->ch_count == 1) {
        QT_EQ_F32_BITS(p->scale[0], f32(0x3b810204u));
        QT_EQ_I64(p->offset[0], -128);
        QT_EQ_F32_BITS(p->min[0], -0.503937006f);
        QT_EQ_F32_BITS(p->max[0], 0.5f);
        QT_EQ_I64(p->symmetric, 1);
    }
    p = find_param(&e, "gemm.weight");
    QT_TRUE(p && p->ch_count == 1);
    if (p && p->ch_count == 1)
        QT_EQ_F32_BITS(p->scale[0], (float)(2.0 / 127.0));
    /* The order of the stats is kept. */
    QT_EQ_STR(e.act[0].name, "input");
    QT_EQ_STR(e.param[0].name, "conv1.weight");
    QT_EQ_U64(w.n, 1);
    QT_TRUE(w.n >= 1 && strstr(w.msg[0], "nan_only") && strstr(w.msg[0], "2 NaN"));
    {
        regex_t rx;

        QT_EQ_I64(regcomp(&rx, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
                          REG_EXTENDED | REG_NOSUB), 0);
        QT_EQ_I64(regexec(&rx, e.created, 0, NULL, 0), 0);
        regfree(&rx);
    }
    qcal_encset_warnings_fini(&w);
    qcal_enc_set_fini(&e);
    QT_TRUE(e.act == NULL && e.label == NULL);
    qcal_enc_set_fini(NULL);
    fixture_fini(&f);
}

static void test_per_channel_and_symmetry(void)
{
    fixture f;
    qcal_encset_opts o;
    qcal_enc_set e;
    qcal_encset_warnings w;
    const qcal_param_enc *p;

    fixture_init(&f);
    qcal_encset_opts_default(&o);
    o.per_channel = true;
    o.act_sym = QCAL_SYM_SIGNED;
    o.label = "pc";
    QT_OK(qcal_encset_compute(&f.s, &o, &e, &w, NULL));
    QT_EQ_STR(e.label, "pc");
    check_p012(find_param(&e, "conv1.weight"));
    /* gemm.weight has a NaN channel: skipped whole, with a warning naming the channel. */
    QT_TRUE(find_param(&e, "gemm.weight") == NULL);
    QT_EQ_U64(w.n, 2);
    QT_TRUE(w.n == 2 && strstr(w.msg[1], "gemm.weight") && strstr(w.msg[1], "channel 1"));
    /* S1 (signed symmetric input), S3 (signed symmetric ReLU). */
    check_act(find_act(&e, "input"), 0x3cce69a0u, -128, -3.22519684f, 3.2f, true);
    check_act(find_act(&e, "/relu/Relu_output_0"), 0x3d418306u, -128, -6.04724407f, 6.0f, true);
    qcal_encset_warnings_fini(&w);
    qcal_enc_set_fini(&e);

    /* Unsigned symmetric ReLU falls back to tf with offset 0 but is flagged symmetric (S4). */
    o.act_sym = QCAL_SYM_UNSIGNED;
    o.param_sym = QCAL_SYM_NONE;
    QT_OK(qcal_encset_compute(&f.s, &o, &e, NULL, NULL));
    check_act(find_act(&e, "/relu/Relu_output_0"), 0x3cc0c0c1u, 0, 0.0f, 6.0f, true);
    /* P0a, P1a: per-channel tf weights. */
    p = find_param(&e, "conv1.weight");
    QT_TRUE(p && p->ch_count == 3);
    if (p && p->ch_count == 3) {
        QT_EQ_I64(p->symmetric, 0);
        QT_EQ_F32_BITS(p->scale[0], f32(0x3b40c0c1u));
        QT_EQ_I64(p->offset[0], -170);
        QT_EQ_F32_BITS(p->min[0], -0.5f);
        QT_EQ_F32_BITS(p->max[0], 0.25f);
        QT_EQ_F32_BITS(p->scale[1], f32(0x3976b948u));
        QT_EQ_I64(p->offset[1], -85);
        QT_EQ_F32_BITS(p->min[1], -0.0199999996f);
        QT_EQ_F32_BITS(p->max[1], 0.0399999991f);
    }
    qcal_enc_set_fini(&e);
    fixture_fini(&f);
}

static void test_bias_and_determinism(void)
{
    fixture f;
    qcal_encset_opts o;
    qcal_enc_set a, b;
    qcal_encset_warnings w;
    const qcal_param_enc *p;

    fixture_init(&f);
    QT_TRUE(qcal_encset_is_bias(&f.s, W_BIAS));
    QT_TRUE(!qcal_encset_is_bias(&f.s, W_CONV));
    QT_TRUE(!qcal_encset_is_bias(&f.s, W_GEMM));
    QT_TRUE(!qcal_encset_is_bias(&f.s, N_W));
    qcal_encset_opts_default(&o);
    o.bias_bitwidth = 8;
    o.created = "2024-01-02T03:04:05Z";
    QT_OK(qcal_encset_compute(&f.s, &o, &a, &w, NULL));
    p = find_param(&a, "conv1.bias");
    QT_TRUE(p && p->ch_count == 1 && p->bitwidth == 8 && !p->symmetric);
    if (p && p->ch_count == 1) {
        /* tf of [-0.1, 0.2]: s = (0.2f - -0.1f) / 255 in double. */
        QT_EQ_F32_BITS(p->scale[0], (float)(((double)0.2f - (double)-0.1f) / 255.0));
    }
    QT_EQ_U64(w.n, 2);
    QT_TRUE(w.n == 2 && strstr(w.msg[1], "8 bits"));
    QT_OK(qcal_encset_compute(&f.s, &o, &b, NULL, NULL));
    QT_EQ_STR(a.created, "2024-01-02T03:04:05Z");
    QT_EQ_STR(a.params, b.params);
    QT_EQ_U64(a.n_act, b.n_act);
    QT_EQ_U64(a.n_param, b.n_param);
    for (size_t i = 0; i < a.n_act && i < b.n_act; i++) {
        QT_EQ_STR(a.act[i].name, b.act[i].name);
        QT_EQ_MEM(&a.act[i].scale, &b.act[i].scale, sizeof(float));
        QT_EQ_I64(a.act[i].offset, b.act[i].offset);
    }
    qcal_encset_warnings_fini(&w);
    qcal_enc_set_fini(&a);
    qcal_enc_set_fini(&b);
    fixture_fini(&f);
}

static void test_overrides(void)
{
    fixture f;
    qcal_encset_opts o;
    qcal_enc_set e;
    qcal_enc_override ov[3];
    qcal_error err;
    const qcal_act_enc *a;

    QT_OK(qcal_enc_override_parse("a=b=float32", &ov[0], NULL));
    QT_EQ_STR(ov[0].regex, "a=b");
    QT_TRUE(ov[0].is_float && ov[0].bitwidth == 32);
    qcal_enc_override_fini(&ov[0]);
    QT_EQ_I64(qcal_enc_override_parse("x=1", &ov[0], &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "'1'") != NULL);
    QT_EQ_I64(qcal_enc_override_parse("(=8", &ov[0], &err), QCAL_E_INVALID);
    QT_TRUE(ov[0].regex == NULL);
    QT_EQ_I64(qcal_enc_override_parse("=8", &ov[0], NULL), QCAL_E_INVALID);
    QT_EQ_I64(qcal_enc_override_parse("novalue", &ov[0], NULL), QCAL_E_INVALID);

    /* Later overrides win: everything 16-bit, then /head/ float, nan_only float too. */
    QT_OK(qcal_enc_override_parse(".*=16", &ov[0], NULL));
    QT_OK(qcal_enc_override_parse("^/head/=float", &ov[1], NULL));
    QT_OK(qcal_enc_override_parse("^nan_only$=fp16", &ov[2], NULL));
    fixture_init(&f);
    qcal_encset_opts_default(&o);
    o.overrides = ov;
    o.n_overrides = 3;
    QT_OK(qcal_encset_compute(&f.s, &o, &e, NULL, NULL));
    /* T9b: 16-bit ReLU; T9: 16-bit signed. */
    a = find_act(&e, "/relu/Relu_output_0");
    QT_TRUE(a && a->bitwidth == 16);
    check_act(a, 0x38c000c0u, 0, 0.0f, 6.0f, false);
    check_act(find_act(&e, "input"), 0x389666fdu, -20915, -1.49996948f, 3.20003057f, false);
    a = find_act(&e, "/head/Add_output_0");
    QT_TRUE(a && a->is_float && a->bitwidth == 16 && a->scale == 0.0f && a->offset == 0);
    a = find_act(&e, "nan_only");
    QT_TRUE(a && a->is_float && a->bitwidth == 16);
    QT_TRUE(strstr(e.params, "\"overrides\":[{\"bitwidth\":16,\"dtype\":\"int\",\"regex\":\".*\"}"
                             ",{\"bitwidth\":16,\"dtype\":\"float\",\"regex\":\"^/head/\"}") !=
            NULL);
    qcal_enc_set_fini(&e);
    /* Bad options fail with the set empty. */
    o.act_bitwidth = 1;
    QT_EQ_I64(qcal_encset_compute(&f.s, &o, &e, NULL, &err), QCAL_E_INVALID);
    QT_TRUE(e.label == NULL && e.act == NULL);
    for (int i = 0; i < 3; i++)
        qcal_enc_override_fini(&ov[i]);
    fixture_fini(&f);
}

/* A malformed histogram fails naming the tensor; a weight without any finite value warns. */
static void test_errors(void)
{
    fixture f;
    qcal_encset_opts o;
    qcal_enc_set e;
    qcal_encset_warnings w;
    qcal_error err;

    fixture_init(&f);
    qcal_encset_opts_default(&o);
    f.act[A_INPUT].hist.count++;
    QT_EQ_I64(qcal_encset_compute(&f.s, &o, &e, &w, &err), QCAL_E_INVALID);
    QT_TRUE(strncmp(err.msg, "activation 'input': ", 20) == 0);
    QT_TRUE(e.act == NULL);
    qcal_encset_warnings_fini(&w);
    f.act[A_INPUT].hist.count--;
    f.w[W_GEMM].min = NAN;
    f.w[W_GEMM].max = NAN;
    QT_OK(qcal_encset_compute(&f.s, &o, &e, &w, NULL));
    QT_TRUE(find_param(&e, "gemm.weight") == NULL);
    QT_TRUE(w.n == 2 && strstr(w.msg[1], "'gemm.weight': no finite value"));
    qcal_encset_warnings_fini(&w);
    qcal_enc_set_fini(&e);
    fixture_fini(&f);
}

/* ---- exports ---- */

static char g_dir[64];

static char *path_in(const char *name)
{
    static char buf[256];

    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long n;

    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = calloc((size_t)n + 1, 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    return buf;
}

/* Number of directory entries of g_dir whose name contains ".tmp.". */
static int tmp_files(void)
{
    DIR *d = opendir(g_dir);
    struct dirent *de;
    int n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)))
        n += strstr(de->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static float real_f32(const json_t *v)
{
    QT_TRUE(json_is_real(v));
    return (float)json_real_value(v);
}

static void compute_pc(fixture *f, qcal_enc_set *e, qcal_method m, const qcal_enc_override *ov,
                       size_t n_ov)
{
    qcal_encset_opts o;

    fixture_init(f);
    qcal_encset_opts_default(&o);
    o.method = m;
    o.per_channel = true;
    o.percentile = 100.0;
    o.overrides = ov;
    o.n_overrides = n_ov;
    QT_OK(qcal_encset_compute(&f->s, &o, e, NULL, NULL));
}

static void test_aimet_061(void)
{
    fixture f;
    qcal_enc_set e;
    qcal_enc_override ov;
    json_t *root, *acts, *v, *ent, *params, *args;
    char *a, *q;

    QT_OK(qcal_enc_override_parse("^/head/=float", &ov, NULL));
    compute_pc(&f, &e, QCAL_METHOD_MINMAX, &ov, 1);
    QT_OK(qcal_export_aimet(&e, path_in("enc.json"), NULL));
    QT_OK(qcal_export_qnn(&e, path_in("qnn.json"), NULL));
    a = slurp(path_in("enc.json"));
    q = slurp(path_in("qnn.json"));
    QT_TRUE(a && q && strcmp(a, q) == 0);
    /* %.9g of the float32 value, indent 4, final newline. */
    QT_TRUE(a && strstr(a, "\"scale\": 0.0235294122") && strstr(a, "\n    \"activation_enc"));
    QT_TRUE(a && a[strlen(a) - 1] == '\n');
    free(a);
    free(q);

    root = json_load_file(path_in("enc.json"), 0, NULL);
    QT_TRUE(json_is_object(root));
    QT_EQ_STR(json_string_value(json_object_get(root, "version")), "0.6.1");
    acts = json_object_get(root, "activation_encodings");
    QT_EQ_U64(json_object_size(acts), 4);
    v = json_object_get(acts, "/relu/Relu_output_0");
    QT_TRUE(json_is_array(v) && json_array_size(v) == 1);
    ent = json_array_get(v, 0);
    QT_EQ_U64(json_object_size(ent), 7);
    QT_EQ_STR(json_string_value(json_object_get(ent, "is_symmetric")), "False");
    QT_EQ_STR(json_string_value(json_object_get(ent, "dtype")), "int");
    QT_TRUE(json_is_integer(json_object_get(ent, "offset")));
    QT_EQ_I64(json_integer_value(json_object_get(ent, "offset")), 0);
    QT_EQ_I64(json_integer_value(json_object_get(ent, "bitwidth")), 8);
    QT_EQ_F32_BITS(real_f32(json_object_get(ent, "scale")), f32(0x3cc0c0c1u));
    QT_EQ_F32_BITS(real_f32(json_object_get(ent, "max")), 6.0f);
    ent = json_array_get(json_object_get(acts, "input"), 0);
    QT_EQ_F32_BITS(real_f32(json_object_get(ent, "scale")), f32(0x3c96fd64u));
    QT_EQ_F32_BITS(real_f32(json_object_get(ent, "min")), -1.49294114f);
    QT_EQ_I64(json_integer_value(json_object_get(ent, "offset")), -81);
    /* Float entries carry only bitwidth and dtype. */
    ent = json_array_get(json_object_get(acts, "/head/Add_output_0"), 0);
    QT_EQ_U64(json_object_size(ent), 2);
    QT_EQ_I64(json_integer_value(json_object_get(ent, "bitwidth")), 16);
    QT_EQ_STR(json_string_value(json_object_get(ent, "dtype")), "float");

    params = json_object_get(root, "param_encodings");
    QT_EQ_U64(json_object_size(params), 1); /* no bias, gemm.weight skipped (NaN channel) */
    v = json_object_get(params, "conv1.weight");
    QT_TRUE(json_is_array(v) && json_array_size(v) == 3);
    for (size_t c = 0; c < 3 && json_array_size(v) == 3; c++) {
        static const uint32_t sc[3] = { 0x3b810204u, 0x39a5214du, 0x38a5214du };

        ent = json_array_get(v, c);
        QT_EQ_STR(json_string_value(json_object_get(ent, "is_symmetric")), "True");
        QT_EQ_I64(json_integer_value(json_object_get(ent, "offset")), -128);
        QT_EQ_F32_BITS(real_f32(json_object_get(ent, "scale")), f32(sc[c]));
    }
    ent = json_array_get(v, 1);
    QT_EQ_F32_BITS(real_f32(json_object_get(ent, "min")), -0.0403149612f);
    QT_EQ_F32_BITS(real_f32(json_object_get(ent, "max")), 0.0399999991f);

    args = json_object_get(root, "quantizer_args");
    QT_TRUE(json_is_true(json_object_get(args, "is_symmetric")));
    QT_TRUE(json_is_true(json_object_get(args, "per_channel_quantization")));
    QT_EQ_I64(json_integer_value(json_object_get(args, "activation_bitwidth")), 8);
    QT_EQ_I64(json_integer_value(json_object_get(args, "param_bitwidth")), 8);
    QT_EQ_STR(json_string_value(json_object_get(args, "dtype")), "int");
    QT_EQ_STR(json_string_value(json_object_get(args, "quant_scheme")), "post_training_tf");
    QT_TRUE(json_object_get(args, "qcal_method") == NULL);
    json_decref(root);
    qcal_enc_set_fini(&e);
    fixture_fini(&f);
    qcal_enc_override_fini(&ov);
}

static void test_aimet_100(void)
{
    fixture f;
    qcal_enc_set e;
    qcal_enc_override ov;
    json_t *root, *acts, *ent, *params, *args;

    QT_OK(qcal_enc_override_parse("^/head/=float", &ov, NULL));
    compute_pc(&f, &e, QCAL_METHOD_ENTROPY, &ov, 1);
    QT_OK(qcal_export_aimet1(&e, path_in("enc1.json"), NULL));
    root = json_load_file(path_in("enc1.json"), 0, NULL);
    QT_TRUE(json_is_object(root));
    QT_EQ_STR(json_string_value(json_object_get(root, "version")), "1.0.0");
    QT_TRUE(json_is_array(json_object_get(root, "excluded_layers")) &&
            json_array_size(json_object_get(root, "excluded_layers")) == 0);
    acts = json_object_get(root, "activation_encodings");
    QT_TRUE(json_is_array(acts) && json_array_size(acts) == 4);
    ent = json_array_get(acts, 1); /* stats order: input, relu, head, zero */
    QT_EQ_STR(json_string_value(json_object_get(ent, "name")), "/relu/Relu_output_0");
    QT_EQ_STR(json_string_value(json_object_get(ent, "dtype")), "INT");
    QT_EQ_STR(json_string_value(json_object_get(ent, "enc_type")), "PER_TENSOR");
    QT_TRUE(json_is_false(json_object_get(ent, "is_sym")));
    QT_EQ_I64(json_integer_value(json_object_get(ent, "bw")), 8);
    QT_TRUE(json_object_get(ent, "min") == NULL);
    ent = json_array_get(acts, 2);
    QT_EQ_STR(json_string_value(json_object_get(ent, "name")), "/head/Add_output_0");
    QT_EQ_STR(json_string_value(json_object_get(ent, "dtype")), "FLOAT");
    QT_EQ_U64(json_object_size(ent), 4);
    params = json_object_get(root, "param_encodings");
    QT_TRUE(json_is_array(params) && json_array_size(params) == 1);
    ent = json_array_get(params, 0);
    QT_EQ_STR(json_string_value(json_object_get(ent, "enc_type")), "PER_CHANNEL");
    QT_TRUE(json_is_true(json_object_get(ent, "is_sym")));
    QT_EQ_U64(json_array_size(json_object_get(ent, "scale")), 3);
    QT_EQ_F32_BITS(real_f32(json_array_get(json_object_get(ent, "scale"), 1)), f32(0x39a5214du));
    QT_TRUE(json_is_integer(json_array_get(json_object_get(ent, "offset"), 2)));
    QT_EQ_I64(json_integer_value(json_array_get(json_object_get(ent, "offset"), 2)), -128);
    args = json_object_get(root, "quantizer_args");
    QT_EQ_STR(json_string_value(json_object_get(args, "quant_scheme")), "post_training_tf");
    QT_EQ_STR(json_string_value(json_object_get(args, "qcal_method")), "entropy");
    json_decref(root);
    qcal_enc_set_fini(&e);
    fixture_fini(&f);
    qcal_enc_override_fini(&ov);
}

static void test_quant_scheme(void)
{
    const char *qm;

    QT_EQ_STR(qcal_export_quant_scheme("minmax", &qm), "post_training_tf");
    QT_TRUE(qm == NULL);
    QT_EQ_STR(qcal_export_quant_scheme("enhanced", &qm), "post_training_tf_enhanced");
    QT_EQ_STR(qcal_export_quant_scheme("percentile", &qm), "post_training_percentile");
    QT_TRUE(qm == NULL);
    QT_EQ_STR(qcal_export_quant_scheme("mse", &qm), "post_training_tf");
    QT_EQ_STR(qm, "mse");
}

static void test_formats(void)
{
    qcal_export_format fmt;
    qcal_error err;

    QT_OK(qcal_export_format_parse("aimet1", &fmt, NULL));
    QT_EQ_I64(fmt, QCAL_EXPORT_AIMET1);
    QT_OK(qcal_export_format_parse("trt", &fmt, NULL));
    QT_EQ_I64(fmt, QCAL_EXPORT_TRT);
    QT_EQ_STR(qcal_export_format_name(QCAL_EXPORT_QNN), "qnn");
    QT_EQ_I64(qcal_export_format_parse("onnx", &fmt, &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "aimet1") != NULL);
    QT_EQ_I64(qcal_export_format_parse("qdq", &fmt, NULL), QCAL_E_UNSUPPORTED);
}

static void test_trt(void)
{
    fixture f;
    qcal_encset_opts o;
    qcal_enc_override ov;
    qcal_error err;
    char *text;

    fixture_init(&f);
    QT_OK(qcal_enc_override_parse("^/head/=float", &ov, NULL));
    qcal_encset_opts_default(&o);
    o.overrides = &ov;
    o.n_overrides = 1;
    QT_OK(qcal_export_trt(&f.s, &o, 0, path_in("trt.cache"), NULL));
    text = slurp(path_in("trt.cache"));
    /* amax 3.2 -> 3cce69a0, amax 6.0 -> 3d418306, all zero -> 0 (no 0.01 widening). */
    QT_EQ_STR(text, "TRT-8601-MinMaxCalibration\n"
                    "input: 3cce69a0\n"
                    "/relu/Relu_output_0: 3d418306\n"
                    "zero: 0\n");
    free(text);
    /* Percentile 100 keeps [dmin, dmax]: same lines, entropy-style header, TRT 10 version. */
    o.method = QCAL_METHOD_PERCENTILE;
    o.percentile = 100.0;
    QT_OK(qcal_export_write(QCAL_EXPORT_TRT, NULL, &f.s, &o, 100900, path_in("trt.cache"),
                            NULL));
    text = slurp(path_in("trt.cache"));
    QT_TRUE(text && strncmp(text, "TRT-100900-EntropyCalibration2\ninput: 3cce69a0\n", 47) == 0);
    free(text);
    /* int8 only. */
    o.act_bitwidth = 16;
    QT_EQ_I64(qcal_export_trt(&f.s, &o, 0, path_in("trt16.cache"), NULL), QCAL_E_UNSUPPORTED);
    o.act_bitwidth = 8;
    /* A ':' in a name is refused, naming the tensor, and nothing is written. */
    f.act[A_RELU].name = (char *)"ssd/Relu:0";
    QT_EQ_I64(qcal_export_trt(&f.s, &o, 0, path_in("colon.cache"), &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "'ssd/Relu:0'") != NULL);
    QT_TRUE(access(path_in("colon.cache"), F_OK) != 0);
    QT_EQ_I64(tmp_files(), 0);
    qcal_enc_override_fini(&ov);
    fixture_fini(&f);
}

static void test_atomic_failures(void)
{
    fixture f;
    qcal_enc_set e;
    qcal_error err;
    qcal_encset_opts o;

    compute_pc(&f, &e, QCAL_METHOD_MINMAX, NULL, 0);
    qcal_encset_opts_default(&o);
    /* Missing directory: E_IO naming the file, nothing created. */
    QT_EQ_I64(qcal_export_aimet(&e, path_in("missing/enc.json"), &err), QCAL_E_IO);
    QT_TRUE(strstr(err.msg, "missing/enc.json.tmp.") != NULL);
    QT_TRUE(access(path_in("missing"), F_OK) != 0);
    QT_EQ_I64(qcal_export_trt(&f.s, &o, 0, path_in("missing/trt.cache"), NULL), QCAL_E_IO);
    /* The target is a directory, a FIFO or a symlink to a device: refused (E_INVALID naming
     * it), the target left as it was, no temporary file left. */
    QT_EQ_I64(mkdir(path_in("adir"), 0700), 0);
    QT_EQ_I64(qcal_export_aimet1(&e, path_in("adir"), &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "is a directory, not a regular file") != NULL);
    QT_EQ_I64(tmp_files(), 0);
    QT_EQ_I64(qcal_export_trt(&f.s, &o, 0, path_in("adir"), NULL), QCAL_E_INVALID);
    QT_EQ_I64(tmp_files(), 0);
    rmdir(path_in("adir"));
    {
        struct stat sb;
        char stale[PATH_MAX], victim[PATH_MAX];

        QT_EQ_I64(mkfifo(path_in("fifo"), 0600), 0);
        QT_EQ_I64(qcal_export_aimet(&e, path_in("fifo"), &err), QCAL_E_INVALID);
        QT_TRUE(strstr(err.msg, "is a FIFO, not a regular file") != NULL);
        QT_TRUE(lstat(path_in("fifo"), &sb) == 0 && S_ISFIFO(sb.st_mode));
        unlink(path_in("fifo"));
        QT_EQ_I64(symlink("/dev/null", path_in("null")), 0);
        QT_EQ_I64(qcal_export_aimet(&e, path_in("null"), &err), QCAL_E_INVALID);
        QT_TRUE(strstr(err.msg, "is a symlink to a character device") != NULL);
        QT_TRUE(lstat(path_in("null"), &sb) == 0 && S_ISLNK(sb.st_mode));
        QT_TRUE(stat("/dev/null", &sb) == 0 && S_ISCHR(sb.st_mode));
        unlink(path_in("null"));
        QT_EQ_I64(tmp_files(), 0);
        /* A symlink left under the temporary name is not written through: the file it points
         * to keeps its contents, the export is written and the link is gone. */
        snprintf(victim, sizeof victim, "%s", path_in("victim"));
        {
            FILE *fp = fopen(victim, "wb");
            QT_TRUE(fp && fputs("keep", fp) >= 0 && fclose(fp) == 0);
        }
        snprintf(stale, sizeof stale, "%s.tmp.%ld", path_in("enc.json"), (long)getpid());
        QT_EQ_I64(symlink(victim, stale), 0);
        QT_OK(qcal_export_aimet(&e, path_in("enc.json"), &err));
        QT_TRUE(stat(victim, &sb) == 0 && sb.st_size == 4);
        QT_TRUE(lstat(stale, &sb) != 0);
        QT_TRUE(lstat(path_in("enc.json"), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 4);
        unlink(victim);
    }
    /* A duplicate activation name is a malformed set. */
    if (e.n_act >= 2) {
        char *keep = e.act[1].name;

        e.act[1].name = e.act[0].name;
        QT_EQ_I64(qcal_export_aimet(&e, path_in("dup.json"), &err), QCAL_E_INVALID);
        QT_TRUE(strstr(err.msg, "duplicate") != NULL);
        QT_EQ_I64(qcal_export_aimet1(&e, path_in("dup.json"), NULL), QCAL_E_INVALID);
        QT_TRUE(access(path_in("dup.json"), F_OK) != 0);
        e.act[1].name = keep;
    }
    qcal_enc_set_fini(&e);
    fixture_fini(&f);
}

/* Removes the written files; QCAL_TEST_KEEP=1 keeps them for a look (the path is printed). */
static void cleanup_dir(void)
{
    static const char *const files[] = { "enc.json", "qnn.json", "enc1.json", "trt.cache" };

    if (getenv("QCAL_TEST_KEEP")) {
        fprintf(stderr, "kept %s\n", g_dir);
        return;
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(path_in(files[i]));
    rmdir(g_dir);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/qcal_test_export.XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    QT_RUN(test_default_set);
    QT_RUN(test_per_channel_and_symmetry);
    QT_RUN(test_bias_and_determinism);
    QT_RUN(test_overrides);
    QT_RUN(test_errors);
    QT_RUN(test_aimet_061);
    QT_RUN(test_aimet_100);
    QT_RUN(test_quant_scheme);
    QT_RUN(test_formats);
    QT_RUN(test_trt);
    QT_RUN(test_atomic_failures);
    cleanup_dir();
    return qt_report();
}
