/*
 * QDQ export (include/qcal/qdq.h). Without arguments: unit tests on small hand-built models whose
 * expected nodes, codes and scales are worked out by hand (ALGORITHMS.md §5 vectors T1, T2, S1,
 * P0/P1, P0a/P1a and the bias vector), plus every error path.
 *
 * With arguments it is the driver tests/cli/test_qdq.sh uses:
 *   test_qdq STATS.h5 MODEL.onnx OUT.onnx [LABEL]
 *       writes the QDQ model of the set LABEL (default: the first set) of the stats file;
 *   test_qdq --add-set IN.h5 OUT.h5 LABEL [per-channel] [act=SYM] [param=SYM]
 *       copies the stats file with one more minmax set computed by qcal_encset_compute.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "qcal/encset.h"
#include "qcal/qdq.h"
#include "qcal/store.h"
#include "qtest.h"

static char g_dir[256];

static float f32(uint32_t bits)
{
    float f;

    memcpy(&f, &bits, sizeof f);
    return f;
}

static const char *path_in(const char *name)
{
    static char buf[4][512];
    static int k;

    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static bool exists(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0;
}

/* ---- model builder: messages in a small arena, packed to a file ---- */

static void *g_arena[4096];
static size_t g_n_arena;

static void *ar(size_t n)
{
    void *p = calloc(1, n ? n : 1);

    if (!p || g_n_arena == sizeof g_arena / sizeof g_arena[0])
        abort();
    g_arena[g_n_arena++] = p;
    return p;
}

static void ar_free(void)
{
    while (g_n_arena)
        free(g_arena[--g_n_arena]);
}

static Onnx__ValueInfoProto *vi(const char *name, size_t rank, const int64_t *dims)
{
    Onnx__ValueInfoProto *v = ar(sizeof *v);
    Onnx__TypeProto *t = ar(sizeof *t);
    Onnx__TypeProto__Tensor *tt = ar(sizeof *tt);
    Onnx__TensorShapeProto *sh = ar(sizeof *sh);

    onnx__value_info_proto__init(v);
    onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    sh->n_dim = rank;
    sh->dim = ar(rank * sizeof *sh->dim);
    for (size_t i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = ar(sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d->dim_value = dims[i];
        sh->dim[i] = d;
    }
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    v->name = (char *)name;
    v->type = t;
    return v;
}

static Onnx__TensorProto *ftensor(const char *name, size_t rank, const int64_t *dims,
                                  const float *v, size_t n)
{
    Onnx__TensorProto *t = ar(sizeof *t);

    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->n_dims = rank;
    t->dims = (int64_t *)dims;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->has_raw_data = 1;
    t->raw_data.len = n * sizeof(float);
    t->raw_data.data = (uint8_t *)v;
    return t;
}

static Onnx__AttributeProto *attr_int(const char *name, int64_t v)
{
    Onnx__AttributeProto *a = ar(sizeof *a);

    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    return a;
}

static Onnx__AttributeProto *attr_ints(const char *name, int64_t *v, size_t n)
{
    Onnx__AttributeProto *a = ar(sizeof *a);

    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = n;
    a->ints = v;
    return a;
}

static Onnx__AttributeProto *attr_tensor(const char *name, Onnx__TensorProto *t)
{
    Onnx__AttributeProto *a = ar(sizeof *a);

    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    a->t = t;
    return a;
}

static Onnx__NodeProto *node(const char *op, const char *name, const char *i0, const char *i1,
                             const char *i2, const char *out, Onnx__AttributeProto *a0,
                             Onnx__AttributeProto *a1)
{
    Onnx__NodeProto *nd = ar(sizeof *nd);
    const char *in[3] = { i0, i1, i2 };

    onnx__node_proto__init(nd);
    nd->op_type = (char *)op;
    nd->name = (char *)name;
    nd->input = ar(3 * sizeof(char *));
    for (int i = 0; i < 3 && in[i]; i++)
        nd->input[nd->n_input++] = (char *)in[i];
    nd->n_output = 1;
    nd->output = ar(sizeof(char *));
    nd->output[0] = (char *)out;
    nd->attribute = ar(2 * sizeof *nd->attribute);
    if (a0)
        nd->attribute[nd->n_attribute++] = a0;
    if (a1)
        nd->attribute[nd->n_attribute++] = a1;
    return nd;
}

/* Model variants; M_UNSQUEEZE adds a second consumer of r. */
enum { M_CONST_W = 1, M_UNSQUEEZE = 2, M_NAN_W = 4, M_COLLIDE = 8 };

/* Gemm weight [K=8, N=3] (transB = 0: channels on axis 1) with ties and clamps; the strict
 * per-channel scales 0.25, 0.5, 1 (powers of two: w / s is exact) give G_CODES. */
static const float G_VALS[24] = {
    -40.0f, 0.25f, 0.0f,    0.125f, 0.75f, 1.0f,     0.375f, 1.25f, -1.0f,
    -0.125f, -1.25f, 126.5f, -0.375f, -63.5f, 127.4f, 31.75f, -64.0f, 200.0f,
    31.875f, 0.3f, -0.49f,  1.0f, -0.3f, 3.5f,
};
static const int8_t G_CODES[24] = {
    -127, 0, 0,  0, 2, 1,  2, 2, -1,  0, -2, 126,
    -2, -127, 127,  127, -127, 127,  127, 1, 0,  4, -1, 4,
};

/*
 * x[1,1,2,2] -> Conv(w[2,1,1,1], b[2]) -> y -> Relu -> r -> Flatten -> f[1,8]
 *            -> Gemm(f, g[8,3], gb[3]) -> out[1,3] (graph output).
 */
static void write_model(const char *path, int64_t opset, int64_t ir, int flags)
{
    static int64_t xd[4] = { 1, 1, 2, 2 }, wd[4] = { 2, 1, 1, 1 }, bd[1] = { 2 };
    static int64_t gd[2] = { 8, 3 }, gbd[1] = { 3 }, od[2] = { 1, 3 }, axes[1] = { 0 };
    static float w[2] = { 0.5f, -0.02f }, b[2] = { 0.1234f, -0.05f }, gb[3] = { 0.1f, 0.2f, 0.3f };
    static float wnan[2] = { 0.5f, NAN };
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto os = ONNX__OPERATOR_SET_ID_PROTO__INIT, *osp = &os;
    Onnx__NodeProto *nodes[8];
    Onnx__TensorProto *inits[4];
    Onnx__ValueInfoProto *in[1], *out[1];
    const float *wv = (flags & M_NAN_W) ? wnan : w;
    const char *gb_name = (flags & M_COLLIDE) ? "x_scale" : "gb";
    size_t nn = 0, ni = 0, len;
    uint8_t *buf;
    FILE *fp;

    if (flags & M_CONST_W)
        nodes[nn++] = node("Constant", "cw", NULL, NULL, NULL, "w",
                           attr_tensor("value", ftensor("", 4, wd, wv, 2)), NULL);
    else
        inits[ni++] = ftensor("w", 4, wd, wv, 2);
    inits[ni++] = ftensor("b", 1, bd, b, 2);
    inits[ni++] = ftensor("g", 2, gd, G_VALS, 24);
    inits[ni++] = ftensor(gb_name, 1, gbd, gb, 3);
    nodes[nn++] = node("Conv", "conv", "x", "w", "b", "y", NULL, NULL);
    nodes[nn++] = node("Relu", "relu", "y", NULL, NULL, "r", NULL, NULL);
    nodes[nn++] = node("Flatten", "flat", "r", NULL, NULL, "f", attr_int("axis", 1), NULL);
    nodes[nn++] = node("Gemm", "gemm", "f", "g", gb_name, "out", attr_int("transB", 0), NULL);
    if ((flags & M_UNSQUEEZE) && opset < 13) /* axes is an attribute before 13 */
        nodes[nn++] = node("Unsqueeze", "unsq", "r", NULL, NULL, "u", attr_ints("axes", axes, 1),
                           NULL);
    else if (flags & M_UNSQUEEZE) /* a second consumer of r that is valid at any opset */
        nodes[nn++] = node("Sigmoid", "sig", "r", NULL, NULL, "u", NULL, NULL);
    in[0] = vi("x", 4, xd);
    out[0] = vi("out", 2, od);
    g.name = (char *)"t";
    g.n_node = nn;
    g.node = nodes;
    g.n_initializer = ni;
    g.initializer = inits;
    g.n_input = 1;
    g.input = in;
    g.n_output = 1;
    g.output = out;
    os.domain = (char *)"";
    os.has_version = 1;
    os.version = opset;
    m.has_ir_version = 1;
    m.ir_version = ir;
    m.n_opset_import = 1;
    m.opset_import = &osp;
    m.producer_name = (char *)"test_qdq";
    m.graph = &g;
    len = onnx__model_proto__get_packed_size(&m);
    buf = malloc(len);
    if (!buf || onnx__model_proto__pack(&m, buf) != len)
        abort();
    fp = fopen(path, "wb");
    if (!fp || fwrite(buf, 1, len, fp) != len || fclose(fp) != 0)
        abort();
    free(buf);
    ar_free();
}

/* ---- the encoding set ---- */

typedef struct fix {
    qcal_enc_set e;
    qcal_act_enc act[5];
    qcal_param_enc par[2];
    float w_scale[2], g_scale[3], zero[3];
    int64_t w_off[2], g_off[3];
} fix;

static void set_act(qcal_act_enc *a, const char *name, float scale, int64_t off, bool sym)
{
    memset(a, 0, sizeof *a);
    a->name = (char *)name;
    a->bitwidth = 8;
    a->scale = scale;
    a->offset = off;
    a->symmetric = sym;
}

/* x: T2 (tf, offset -81), y: S1 (signed symmetric), r: T1 (unsigned symmetric fallback, offset
 * 0), f: float, out: tf scale 0.1 offset -100. w: P0/P1 per channel (signed), g: strict per
 * channel 0.25/0.5/1. */
static void fix_init(fix *x)
{
    memset(x, 0, sizeof *x);
    set_act(&x->act[0], "x", f32(0x3c96fd64), -81, false);
    set_act(&x->act[1], "y", f32(0x3cce69a0), -128, true);
    set_act(&x->act[2], "r", f32(0x3cc0c0c1), 0, true);
    set_act(&x->act[3], "f", 0.0f, 0, false);
    x->act[3].bitwidth = 16;
    x->act[3].is_float = true;
    set_act(&x->act[4], "out", 0.1f, -100, false);
    x->w_scale[0] = f32(0x3b810204);
    x->w_scale[1] = f32(0x39a5214d);
    x->w_off[0] = x->w_off[1] = -128;
    x->g_scale[0] = 0.25f;
    x->g_scale[1] = 0.5f;
    x->g_scale[2] = 1.0f;
    x->g_off[0] = x->g_off[1] = x->g_off[2] = -127;
    x->par[0] = (qcal_param_enc){ (char *)"w", 8, true, 2, x->w_scale, x->zero, x->zero,
                                  x->w_off };
    x->par[1] = (qcal_param_enc){ (char *)"g", 8, true, 3, x->g_scale, x->zero, x->zero,
                                  x->g_off };
    x->e.label = (char *)"unit";
    x->e.n_act = 5;
    x->e.act = x->act;
    x->e.n_param = 2;
    x->e.param = x->par;
}

/* ---- reading the result back ---- */

static Onnx__ModelProto *load(const char *path)
{
    FILE *fp = fopen(path, "rb");
    static uint8_t buf[1 << 16];
    size_t n;

    if (!fp)
        return NULL;
    n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    return onnx__model_proto__unpack(NULL, n, buf);
}

static const Onnx__TensorProto *init_of(const Onnx__ModelProto *m, const char *name)
{
    for (size_t i = 0; i < m->graph->n_initializer; i++) {
        if (strcmp(m->graph->initializer[i]->name, name) == 0)
            return m->graph->initializer[i];
    }
    return NULL;
}

static const Onnx__NodeProto *producer_of(const Onnx__ModelProto *m, const char *name)
{
    for (size_t i = 0; i < m->graph->n_node; i++) {
        const Onnx__NodeProto *nd = m->graph->node[i];
        for (size_t k = 0; k < nd->n_output; k++) {
            if (strcmp(nd->output[k], name) == 0)
                return nd;
        }
    }
    return NULL;
}

/* The axis attribute of nd, -1 when absent. */
static int64_t axis_of(const Onnx__NodeProto *nd)
{
    for (size_t i = 0; nd && i < nd->n_attribute; i++) {
        if (strcmp(nd->attribute[i]->name, "axis") == 0)
            return nd->attribute[i]->i;
    }
    return -1;
}

/* Checks an initializer's type, shape and raw bytes. */
static void check_init(const Onnx__ModelProto *m, const char *name, int32_t dt, size_t rank,
                       const int64_t *dims, const void *data, size_t nbytes)
{
    const Onnx__TensorProto *t = init_of(m, name);

    QT_CHECK_(t != NULL, "initializer '%s' missing", name);
    if (!t)
        return;
    QT_EQ_I64(t->data_type, dt);
    QT_EQ_U64(t->n_dims, rank);
    for (size_t i = 0; i < rank && i < t->n_dims; i++)
        QT_EQ_I64(t->dims[i], dims[i]);
    QT_CHECK_(t->has_raw_data && t->raw_data.len == nbytes &&
              memcmp(t->raw_data.data, data, nbytes) == 0, "initializer '%s' data differs", name);
}

static void check_inputs(const Onnx__NodeProto *nd, const char *i0, const char *i1,
                         const char *i2)
{
    const char *want[3] = { i0, i1, i2 };

    QT_CHECK_(nd != NULL, "node missing");
    if (!nd)
        return;
    for (size_t k = 0; k < 3 && want[k]; k++) {
        QT_CHECK_(k < nd->n_input, "node '%s' has %zu inputs", nd->name, nd->n_input);
        if (k < nd->n_input)
            QT_EQ_STR(nd->input[k], want[k]);
    }
}

static int64_t opset_of(const Onnx__ModelProto *m)
{
    return m->opset_import[0]->version;
}

/* ---- tests ---- */

/* Per-channel layout: node order, names, every initializer, opset 11 -> 13 and IR 6 -> 7. */
static void test_per_channel(void)
{
    static const char *ops[15] = {
        "DequantizeLinear", "DequantizeLinear", "DequantizeLinear", "QuantizeLinear",
        "DequantizeLinear", "Conv", "QuantizeLinear", "DequantizeLinear", "Relu",
        "QuantizeLinear", "DequantizeLinear", "Flatten", "Gemm", "QuantizeLinear",
        "DequantizeLinear",
    };
    const int64_t d2[1] = { 2 }, d3[1] = { 3 }, wd[4] = { 2, 1, 1, 1 }, gd[2] = { 8, 3 };
    const int8_t wq[2] = { 127, -63 }, z8[3] = { 0, 0, 0 };
    const int32_t bq[2] = { 1701, -8613 }, z32[2] = { 0, 0 };
    const float bs[2] = { f32(0x38982dbf), f32(0x36c2c9eb) };
    const uint8_t x_zp = 81, r_zp = 0, out_zp = 100;
    const int8_t y_zp = 0;
    qcal_error err = { 0 };
    Onnx__ModelProto *m;
    fix x;

    write_model(path_in("pc.onnx"), 11, 6, 0);
    fix_init(&x);
    QT_OK(qcal_export_qdq(path_in("pc.onnx"), NULL, &x.e, path_in("pc_qdq.onnx"), &err));
    m = load(path_in("pc_qdq.onnx"));
    QT_TRUE(m != NULL);
    if (!m)
        return;
    QT_EQ_I64(opset_of(m), 13);
    QT_EQ_I64(m->ir_version, 7);
    QT_EQ_U64(m->graph->n_node, 15);
    for (size_t i = 0; i < 15 && i < m->graph->n_node; i++)
        QT_EQ_STR(m->graph->node[i]->op_type, ops[i]);
    /* Consumers read the DequantizeLinear outputs; weights keep their names. */
    check_inputs(producer_of(m, "y"), "x_DequantizeLinear_Output", "w", "b");
    check_inputs(producer_of(m, "r"), "y_DequantizeLinear_Output", NULL, NULL);
    check_inputs(producer_of(m, "f"), "r_DequantizeLinear_Output", NULL, NULL);
    check_inputs(producer_of(m, "out_QuantizeLinear_Input"), "f", "g", "gb");
    check_inputs(producer_of(m, "out"), "out_QuantizeLinear_Output", "out_scale",
                 "out_zero_point");
    check_inputs(producer_of(m, "out_QuantizeLinear_Output"), "out_QuantizeLinear_Input",
                 "out_scale", "out_zero_point");
    check_inputs(producer_of(m, "x_QuantizeLinear_Output"), "x", "x_scale", "x_zero_point");
    QT_EQ_STR(m->graph->output[0]->name, "out");
    QT_EQ_U64(m->graph->n_input, 1);
    /* Activation scales and zero points: float32 / uint8 / int8 scalars. */
    check_init(m, "x_scale", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &x.act[0].scale, 4);
    check_init(m, "x_zero_point", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, &x_zp, 1);
    check_init(m, "y_scale", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &x.act[1].scale, 4);
    check_init(m, "y_zero_point", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 0, NULL, &y_zp, 1);
    check_init(m, "r_zero_point", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, &r_zp, 1);
    check_init(m, "out_zero_point", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, &out_zp, 1);
    QT_TRUE(init_of(m, "f_scale") == NULL && producer_of(m, "f_QuantizeLinear_Output") == NULL);
    QT_EQ_I64(axis_of(producer_of(m, "x_QuantizeLinear_Output")), -1);
    /* Weights: int8 codes, 1-D scales, zero points, axis. */
    QT_TRUE(init_of(m, "w") == NULL && init_of(m, "g") == NULL && init_of(m, "b") == NULL);
    check_init(m, "w_quantized", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 4, wd, wq, 2);
    check_init(m, "w_scale", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d2, x.w_scale, 8);
    check_init(m, "w_zero_point", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 1, d2, z8, 2);
    check_inputs(producer_of(m, "w"), "w_quantized", "w_scale", "w_zero_point");
    QT_EQ_I64(axis_of(producer_of(m, "w")), 0);
    check_init(m, "g_quantized", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 2, gd, G_CODES, 24);
    check_init(m, "g_scale", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d3, x.g_scale, 12);
    check_init(m, "g_zero_point", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 1, d3, z8, 3);
    QT_EQ_I64(axis_of(producer_of(m, "g")), 1);
    /* Conv bias: s_b = s_x * s_w[c] (vector: 38982dbf, code 1701); the Gemm bias stays float
     * because the Gemm input f is a float override. */
    check_init(m, "b_quantized", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, d2, bq, 8);
    check_init(m, "b_scale", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d2, bs, 8);
    check_init(m, "b_zero_point", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, d2, z32, 8);
    QT_EQ_I64(axis_of(producer_of(m, "b")), 0);
    QT_TRUE(init_of(m, "gb") != NULL && init_of(m, "gb")->data_type == 1);
    QT_TRUE(producer_of(m, "gb") == NULL);
    onnx__model_proto__free_unpacked(m, NULL);
}

/* Per-tensor signed weights (scalar scale, no axis, clamp at 127), asymmetric per-channel
 * weights (uint8 with zero points) and the Constant-node weight swapped in place. */
static void test_per_tensor_asym_const(void)
{
    const int64_t d2[1] = { 2 }, wd[4] = { 2, 1, 1, 1 };
    const int8_t wq[2] = { 127, -5 }, z8 = 0;
    const int32_t bq[2] = { 1714, -694 }, z32 = 0;
    const float bs = f32(0x3896fd64);
    const uint8_t wq_a[2] = { 255, 0 }, zp_a[2] = { 170, 85 };
    float s_a[2] = { f32(0x3b40c0c1), f32(0x3976b948) }, s_t = 0.00390625f;
    int64_t off_a[2] = { -170, -85 }, off_t = -128;
    qcal_error err = { 0 };
    Onnx__ModelProto *m;
    fix x;

    write_model(path_in("pt.onnx"), 13, 7, 0);
    fix_init(&x);
    x.par[0].ch_count = 1;
    x.par[0].scale = &s_t;
    x.par[0].offset = &off_t;
    QT_OK(qcal_export_qdq(path_in("pt.onnx"), NULL, &x.e, path_in("pt_qdq.onnx"), &err));
    m = load(path_in("pt_qdq.onnx"));
    QT_TRUE(m != NULL);
    if (!m)
        return;
    QT_EQ_I64(opset_of(m), 13);
    check_init(m, "w_quantized", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 4, wd, wq, 2);
    check_init(m, "w_scale", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &s_t, 4);
    check_init(m, "w_zero_point", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 0, NULL, &z8, 1);
    QT_EQ_I64(axis_of(producer_of(m, "w")), -1);
    check_init(m, "b_quantized", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, d2, bq, 8);
    check_init(m, "b_scale", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &bs, 4);
    check_init(m, "b_zero_point", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 0, NULL, &z32, 4);
    QT_EQ_I64(axis_of(producer_of(m, "b")), -1);
    onnx__model_proto__free_unpacked(m, NULL);

    /* Asymmetric (tf) per-channel P0a/P1a: 0.5 / s0 = 170 (+170 -> 340 -> 255), -0.02 / s1 =
     * -85 (+85 -> 0). The weight is a Constant node: its slot becomes the DequantizeLinear. */
    write_model(path_in("ac.onnx"), 15, 8, M_CONST_W);
    fix_init(&x);
    x.par[0].symmetric = false;
    x.par[0].scale = s_a;
    x.par[0].offset = off_a;
    QT_OK(qcal_export_qdq(path_in("ac.onnx"), NULL, &x.e, path_in("ac_qdq.onnx"), &err));
    m = load(path_in("ac_qdq.onnx"));
    QT_TRUE(m != NULL);
    if (!m)
        return;
    QT_EQ_I64(opset_of(m), 15);
    QT_EQ_I64(m->ir_version, 8);
    check_init(m, "w_quantized", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 4, wd, wq_a, 2);
    check_init(m, "w_zero_point", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 1, d2, zp_a, 2);
    /* Order: the g and b DQs, the x pair, then the Constant's slot. */
    QT_EQ_STR(m->graph->node[4]->op_type, "DequantizeLinear");
    QT_EQ_STR(m->graph->node[4]->output[0], "w");
    QT_EQ_I64(axis_of(m->graph->node[4]), 0);
    for (size_t i = 0; i < m->graph->n_node; i++)
        QT_TRUE(strcmp(m->graph->node[i]->op_type, "Constant") != 0);
    onnx__model_proto__free_unpacked(m, NULL);
}

/* The axis comes from the stats file's /weights row when there is one. */
static void test_axis_from_stats(void)
{
    qcal_weight_rec rec;
    qcal_stats s;
    qcal_error err = { 0 };
    fix x;

    write_model(path_in("ax.onnx"), 13, 7, 0);
    fix_init(&x);
    memset(&s, 0, sizeof s);
    memset(&rec, 0, sizeof rec);
    rec.name = (char *)"g";
    rec.axis = 0; /* wrong on purpose: 8 channels along axis 0, the encoding has 3 */
    s.n_weights = 1;
    s.weights = &rec;
    QT_EQ_I64(qcal_export_qdq(path_in("ax.onnx"), &s, &x.e, path_in("ax_qdq.onnx"), &err),
              QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "'g'") && strstr(err.msg, "axis 0"));
    rec.axis = 1;
    QT_OK(qcal_export_qdq(path_in("ax.onnx"), &s, &x.e, path_in("ax_qdq.onnx"), &err));
}

/* Expects code and a message containing want; the output must not exist afterwards. */
static void expect_fail(const char *model, const qcal_enc_set *e, qcal_status code,
                        const char *want)
{
    qcal_error err = { 0 };
    const char *out = path_in("fail_qdq.onnx");

    QT_EQ_I64(qcal_export_qdq(model, NULL, e, out, &err), code);
    QT_CHECK_(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"", err.msg, want);
    QT_TRUE(!exists(out));
}

static void test_errors(void)
{
    char mp[512];
    int64_t off3[3] = { -128, -128, -128 };
    fix x;
    FILE *fp;
    DIR *d;
    struct dirent *de;
    int n_tmp = 0;

    snprintf(mp, sizeof mp, "%s", path_in("err.onnx"));
    write_model(mp, 13, 7, 0);
    fix_init(&x);
    x.act[1].bitwidth = 16;
    expect_fail(mp, &x.e, QCAL_E_UNSUPPORTED, "'y': bitwidth 16");
    fix_init(&x);
    x.par[1].bitwidth = 4;
    expect_fail(mp, &x.e, QCAL_E_UNSUPPORTED, "'g': bitwidth 4");
    fix_init(&x);
    x.act[1].name = (char *)"nope";
    expect_fail(mp, &x.e, QCAL_E_INVALID, "'nope'");
    fix_init(&x);
    x.act[1].name = (char *)"gb"; /* an initializer, not an activation */
    expect_fail(mp, &x.e, QCAL_E_INVALID, "'gb'");
    fix_init(&x);
    x.act[1].name = (char *)"x";
    expect_fail(mp, &x.e, QCAL_E_INVALID, "two encodings");
    fix_init(&x);
    x.act[0].scale = 0.0f;
    expect_fail(mp, &x.e, QCAL_E_NUMERIC, "'x': scale 0");
    fix_init(&x);
    x.act[0].offset = -300;
    expect_fail(mp, &x.e, QCAL_E_INVALID, "offset -300");
    fix_init(&x);
    x.par[0].ch_count = 3;
    x.par[0].offset = off3;
    x.par[0].scale = x.g_scale;
    expect_fail(mp, &x.e, QCAL_E_INVALID, "'w': 3 channel encodings");
    fix_init(&x);
    x.par[0].name = (char *)"y";
    expect_fail(mp, &x.e, QCAL_E_INVALID, "'y'");
    fix_init(&x);
    expect_fail(path_in("missing.onnx"), &x.e, QCAL_E_IO, "missing.onnx");
    fp = fopen(path_in("junk.onnx"), "wb");
    if (fp) {
        fputs("this is not a protobuf \xff\xff\xff\xff", fp);
        fclose(fp);
    }
    expect_fail(path_in("junk.onnx"), &x.e, QCAL_E_CORRUPT, "not an ONNX model");
    write_model(path_in("nan.onnx"), 13, 7, M_NAN_W);
    expect_fail(path_in("nan.onnx"), &x.e, QCAL_E_NUMERIC, "'w': value 1 is nan");
    write_model(path_in("unsq.onnx"), 11, 6, M_UNSQUEEZE);
    expect_fail(path_in("unsq.onnx"), &x.e, QCAL_E_UNSUPPORTED, "(Unsqueeze)");
    write_model(path_in("old.onnx"), 6, 3, 0);
    expect_fail(path_in("old.onnx"), &x.e, QCAL_E_UNSUPPORTED, "opset 6");
    /* At opset 13 nothing is relabelled; r has two consumers (Flatten, Sigmoid) that share one
     * pair. A tensor already named x_scale pushes x's scale to x_scale_1. */
    write_model(path_in("unsq13.onnx"), 13, 7, M_UNSQUEEZE | M_COLLIDE);
    {
        qcal_error err = { 0 };
        Onnx__ModelProto *m;
        const float xs = x.act[0].scale, gb[3] = { 0.1f, 0.2f, 0.3f };
        const int64_t d3[1] = { 3 };
        int n_q = 0;

        QT_OK(qcal_export_qdq(path_in("unsq13.onnx"), NULL, &x.e, path_in("unsq13_qdq.onnx"),
                              &err));
        m = load(path_in("unsq13_qdq.onnx"));
        QT_TRUE(m != NULL);
        if (m) {
            check_inputs(producer_of(m, "u"), "r_DequantizeLinear_Output", NULL, NULL);
            check_inputs(producer_of(m, "f"), "r_DequantizeLinear_Output", NULL, NULL);
            for (size_t i = 0; i < m->graph->n_node; i++)
                n_q += strcmp(m->graph->node[i]->op_type, "QuantizeLinear") == 0;
            QT_EQ_I64(n_q, 4); /* x, y, r, out */
            check_init(m, "x_scale_1", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &xs, 4);
            check_init(m, "x_scale", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d3, gb, 12);
            check_inputs(producer_of(m, "x_QuantizeLinear_Output"), "x", "x_scale_1",
                         "x_zero_point");
            onnx__model_proto__free_unpacked(m, NULL);
        }
    }
    /* Nothing temporary is left in the directory. */
    d = opendir(g_dir);
    while (d && (de = readdir(d)) != NULL)
        n_tmp += strstr(de->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    QT_EQ_I64(n_tmp, 0);
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[512];

    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* ---- driver mode ---- */

static int driver_export(int argc, char **argv)
{
    qcal_stats s;
    qcal_error err = { 0 };
    const qcal_enc_set *e = NULL;
    int rc = 1;

    if (qcal_stats_read(argv[1], &s, &err) != QCAL_OK) {
        fprintf(stderr, "test_qdq: error: %s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < s.n_enc && !e; i++) {
        if (argc < 5 || strcmp(s.enc[i].label, argv[4]) == 0)
            e = &s.enc[i];
    }
    if (!e)
        fprintf(stderr, "test_qdq: error: %s: no encoding set %s\n", argv[1],
                argc < 5 ? "at all" : argv[4]);
    else if (qcal_export_qdq(argv[2], &s, e, argv[3], &err) != QCAL_OK)
        fprintf(stderr, "test_qdq: error: %s\n", err.msg);
    else {
        printf("%s: set '%s' (%zu activations, %zu parameters)\n", argv[3], e->label, e->n_act,
               e->n_param);
        rc = 0;
    }
    qcal_stats_fini(&s);
    return rc;
}

static int driver_add_set(int argc, char **argv)
{
    qcal_stats s;
    qcal_error err = { 0 };
    qcal_encset_opts o;
    qcal_enc_set *grown;
    int rc = 1;

    if (qcal_stats_read(argv[2], &s, &err) != QCAL_OK) {
        fprintf(stderr, "test_qdq: error: %s\n", err.msg);
        return 1;
    }
    qcal_encset_opts_default(&o);
    o.label = argv[4];
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "per-channel") == 0)
            o.per_channel = true;
        else if (strncmp(argv[i], "act=", 4) == 0)
            qcal_enc_sym_parse(argv[i] + 4, &o.act_sym, &err);
        else if (strncmp(argv[i], "param=", 6) == 0)
            qcal_enc_sym_parse(argv[i] + 6, &o.param_sym, &err);
    }
    grown = realloc(s.enc, (s.n_enc + 1) * sizeof *grown);
    if (!grown)
        goto out;
    s.enc = grown;
    if (qcal_encset_compute(&s, &o, &s.enc[s.n_enc], NULL, &err) != QCAL_OK)
        goto out;
    s.n_enc++;
    if (qcal_stats_write(argv[3], &s, &err) != QCAL_OK)
        goto out;
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "test_qdq: error: %s\n", err.msg);
    qcal_stats_fini(&s);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "--add-set") == 0)
        return driver_add_set(argc, argv);
    if (argc == 4 || argc == 5)
        return driver_export(argc, argv);
    if (argc != 1) {
        fprintf(stderr, "usage: test_qdq [STATS MODEL OUT [LABEL] | --add-set IN OUT LABEL "
                        "[per-channel] [act=SYM] [param=SYM]]\n");
        return 2;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/qcal_test_qdq.%ld", (long)getpid());
    if (mkdir(g_dir, 0700) != 0) {
        perror(g_dir);
        return 1;
    }
    QT_RUN(test_per_channel);
    QT_RUN(test_per_tensor_asym_const);
    QT_RUN(test_axis_from_stats);
    QT_RUN(test_errors);
    if (getenv("QCAL_TEST_KEEP")) /* for inspection with other tools */
        fprintf(stderr, "kept %s\n", g_dir);
    else
        rm_dir(g_dir);
    return qt_report();
}
