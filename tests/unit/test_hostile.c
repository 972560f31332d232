/*
 * Hostile attribute and index values for the existing operators (issue: shape-arithmetic class).
 * Each case gives an infer function values whose sizes, strides or offsets overflow int64 (or
 * divide by zero): infer must fail with a one-line error naming the node, without undefined
 * behaviour (the sanitizer build aborts on any). Index operators refuse out-of-range indices:
 * constant ones at infer, per-sample ones by setting the node's run_error.
 */
#include <stdint.h>
#include <stdlib.h>

#include "hnode.h"
#include "qcal/model.h"

#define BIG (INT64_C(1) << 62)

/* Runs infer only; returns its status and checks the message names the node. */
static qcal_status infer_only(hnode *h, qcal_error *err)
{
    const qcal__op *op = qcal__op_find(h->n.op_type, h->n.opset);
    qcal_status st;

    memset(err, 0, sizeof *err);
    if (!op)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "no kernel");
    h->n.op = op;
    st = op->infer(&h->n, err);
    if (st != QCAL_OK)
        QT_TRUE(strstr(err->msg, "node 'test'") != NULL);
    return st;
}

#define EXPECT(h, code)                                                                          \
    do {                                                                                         \
        qcal_error e_;                                                                           \
        QT_EQ_I64(infer_only((h), &e_), (code));                                                 \
        h_fini(h);                                                                               \
    } while (0)

static void test_helpers(void)
{
    hnode h;
    qcal_error err;
    int64_t v = 0;
    const int64_t dims[3] = { BIG, 4, 0 }, ok[3] = { 3, 0, 5 };

    h_init(&h, "Relu", 14, 1);
    QT_OK(qcal__add_i64(&h.n, "a", INT64_MAX - 1, 1, &v, &err));
    QT_EQ_I64(v, INT64_MAX);
    QT_EQ_I64(qcal__add_i64(&h.n, "pads", INT64_MAX, 1, &v, &err), QCAL_E_SHAPE);
    QT_TRUE(strstr(err.msg, "node 'test' (Relu): pads:") != NULL);
    QT_EQ_I64(qcal__sub_i64(&h.n, "a", INT64_MIN, 1, &v, &err), QCAL_E_SHAPE);
    QT_EQ_I64(qcal__mul_i64(&h.n, "a", BIG, 2, &v, &err), QCAL_E_SHAPE);
    QT_OK(qcal__mul_i64(&h.n, "a", BIG, -2, &v, &err));
    QT_EQ_I64(v, INT64_MIN);
    /* A zero dim does not hide an overflowing product of the others. */
    QT_EQ_I64(qcal__dims_product(&h.n, "shape", 3, dims, &v, &err), QCAL_E_SHAPE);
    QT_OK(qcal__dims_product(&h.n, "shape", 3, ok, &v, &err));
    QT_EQ_I64(v, 0);
    /* Shapes whose byte count (nelem * 8, e.g. ConstantOfShape to float64) would wrap size_t are
     * refused, even behind a zero dim. */
    {
        qcal__tensor t = { .name = "t" };
        const int64_t huge[1] = { INT64_C(1) << 61 }, hidden[2] = { 0, INT64_C(1) << 61 };
        const int64_t fine[2] = { 1 << 20, 1 << 20 };
        QT_EQ_I64(qcal__tensor_set_shape(&t, QCAL_DT_DOUBLE, 1, huge, &err), QCAL_E_SHAPE);
        QT_EQ_I64(qcal__tensor_set_shape(&t, QCAL_DT_DOUBLE, 2, hidden, &err), QCAL_E_SHAPE);
        QT_OK(qcal__tensor_set_shape(&t, QCAL_DT_DOUBLE, 2, fine, &err));
    }
}

/* Slice with steps of INT64_MAX and INT64_MIN: each takes one element, the strides stay in
 * range and the output is that element. */
static void test_slice_steps(void)
{
    const int64_t dims[2] = { 4, 2 }, one[1] = { 1 };
    const float x[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    int64_t starts[1] = { 0 }, ends[1] = { 4 }, axes[1] = { 0 }, steps[1] = { INT64_MAX };
    int64_t starts2[1] = { 3 }, ends2[1] = { INT64_MIN }, steps2[1] = { INT64_MIN };
    qcal_error err;
    hnode h;

    h_init(&h, "Slice", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 1, one, starts, true);
    h_in(&h, QCAL_DT_INT64, 1, one, ends, true);
    h_in(&h, QCAL_DT_INT64, 1, one, axes, true);
    h_in(&h, QCAL_DT_INT64, 1, one, steps, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[0], 1);
    QT_EQ_F32_BITS(((const float *)h.out[0]->data)[1], 1.0f);
    h_fini(&h);

    h_init(&h, "Slice", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 1, one, starts2, true);
    h_in(&h, QCAL_DT_INT64, 1, one, ends2, true);
    h_in(&h, QCAL_DT_INT64, 1, one, axes, true);
    h_in(&h, QCAL_DT_INT64, 1, one, steps2, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[0], 1);
    QT_EQ_F32_BITS(((const float *)h.out[0]->data)[0], 6.0f);
    h_fini(&h);
}

static void test_pad(void)
{
    const int64_t dims[1] = { 2 }, two[1] = { 2 }, one[1] = { 1 };
    int64_t pads[2] = { INT64_MAX, 0 }, pads2[2] = { BIG, BIG }, axes[1] = { 0 };
    hnode h;

    h_init(&h, "Pad", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 1, dims, NULL, false);
    h_in(&h, QCAL_DT_INT64, 1, two, pads, true);
    EXPECT(&h, QCAL_E_SHAPE);
    /* Pad-18 with axes: the scattered pads overflow the same way. */
    h_init(&h, "Pad", 18, 1);
    h_in(&h, QCAL_DT_FLOAT, 1, dims, NULL, false);
    h_in(&h, QCAL_DT_INT64, 1, two, pads2, true);
    h_in(&h, QCAL_DT_FLOAT, 0, NULL, NULL, false);
    h.in[2] = NULL; /* no constant_value */
    h_in(&h, QCAL_DT_INT64, 1, one, axes, true);
    EXPECT(&h, QCAL_E_SHAPE);
    /* Pad-2 attribute form */
    h_init(&h, "Pad", 2, 1);
    h_in(&h, QCAL_DT_FLOAT, 1, dims, NULL, false);
    h_ints(&h, "pads", pads, 2);
    EXPECT(&h, QCAL_E_SHAPE);
}

static void test_tile(void)
{
    const int64_t dims[2] = { 4, 4 }, two[1] = { 2 };
    int64_t rep[2] = { BIG, BIG }, rep2[2] = { INT64_MAX / 2, 1 };
    hnode h;

    h_init(&h, "Tile", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dims, NULL, false);
    h_in(&h, QCAL_DT_INT64, 1, two, rep, true);
    EXPECT(&h, QCAL_E_SHAPE);
    h_init(&h, "Tile", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dims, NULL, false);
    h_in(&h, QCAL_DT_INT64, 1, two, rep2, true);
    EXPECT(&h, QCAL_E_SHAPE);
}

static void test_split_concat_expand(void)
{
    const int64_t dims[1] = { 3 }, two[1] = { 2 }, big[1] = { INT64_C(1) << 61 };
    const int64_t three[1] = { 3 };
    int64_t split[2] = { INT64_MAX, 4 }, shape[3] = { INT64_C(1) << 40, INT64_C(1) << 40, 0 };
    hnode h;

    h_init(&h, "Split", 13, 2);
    h_in(&h, QCAL_DT_FLOAT, 1, dims, NULL, false);
    h_in(&h, QCAL_DT_INT64, 1, two, split, true);
    EXPECT(&h, QCAL_E_SHAPE);
    /* Split-18 num_outputs larger than the dim */
    h_init(&h, "Split", 18, 4);
    h_in(&h, QCAL_DT_FLOAT, 1, dims, NULL, false);
    h_int(&h, "num_outputs", 4);
    EXPECT(&h, QCAL_E_SHAPE);
    /* Inputs of 2^61 elements cannot be made through set_shape any more: their dims are set by
     * hand, as a graph that got them another way would have them. */
    h_init(&h, "Concat", 13, 1);
    for (int i = 0; i < 4; i++) {
        h_in(&h, QCAL_DT_FLOAT, 1, three, NULL, false);
        h.ins[i].dims[0] = big[0];
    }
    h_int(&h, "axis", 0);
    EXPECT(&h, QCAL_E_SHAPE);
    h_init(&h, "Expand", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 1, dims + 0, NULL, false);
    h.ins[0].dims[0] = 1;
    h.ins[0].nelem = 1;
    h_in(&h, QCAL_DT_INT64, 1, three, shape, true);
    EXPECT(&h, QCAL_E_SHAPE);
}

static void test_depth_space(void)
{
    const int64_t dims[4] = { 1, 4, 2, 2 }, zero[4] = { 1, 1, 0, 0 };
    hnode h;

    h_init(&h, "DepthToSpace", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, dims, NULL, false);
    h_int(&h, "blocksize", INT64_C(1) << 32); /* b * b wraps to 0: C % 0 before */
    EXPECT(&h, QCAL_E_SHAPE);
    h_init(&h, "DepthToSpace", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, dims, NULL, false);
    h_int(&h, "blocksize", 0);
    EXPECT(&h, QCAL_E_INVALID);
    h_init(&h, "SpaceToDepth", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, zero, NULL, false);
    h_int(&h, "blocksize", INT64_C(1) << 40);
    EXPECT(&h, QCAL_E_SHAPE);
}

static void test_conv(void)
{
    const int64_t xd[4] = { 1, 1, 4, 4 }, wd[4] = { 1, 1, 2, 2 };
    int64_t pads[4] = { INT64_MAX, 0, 0, 0 }, strides[2] = { INT64_MAX, 1 };
    int64_t dil[2] = { INT64_MAX, 1 }, opad[2] = { INT64_MAX, 0 }, oshape[2] = { INT64_MIN, 4 };
    static const float w[4] = { 1, 1, 1, 1 };
    hnode h;

    h_init(&h, "Conv", 11, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, xd, NULL, false);
    h_in(&h, QCAL_DT_FLOAT, 4, wd, w, true);
    h_ints(&h, "pads", pads, 4);
    EXPECT(&h, QCAL_E_SHAPE);
    h_init(&h, "Conv", 11, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, xd, NULL, false);
    h_in(&h, QCAL_DT_FLOAT, 4, wd, w, true);
    h_ints(&h, "dilations", dil, 2);
    EXPECT(&h, QCAL_E_SHAPE);
    h_init(&h, "ConvTranspose", 11, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, xd, NULL, false);
    h_in(&h, QCAL_DT_FLOAT, 4, wd, w, true);
    h_ints(&h, "strides", strides, 2);
    EXPECT(&h, QCAL_E_SHAPE);
    h_init(&h, "ConvTranspose", 11, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, xd, NULL, false);
    h_in(&h, QCAL_DT_FLOAT, 4, wd, w, true);
    h_ints(&h, "output_padding", opad, 2);
    EXPECT(&h, QCAL_E_SHAPE);
    h_init(&h, "ConvTranspose", 11, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, xd, NULL, false);
    h_in(&h, QCAL_DT_FLOAT, 4, wd, w, true);
    h_ints(&h, "output_shape", oshape, 2);
    QT_TRUE(infer_only(&h, &(qcal_error){ 0 }) != QCAL_OK);
    h_fini(&h);
}

static void test_pool(void)
{
    const int64_t xd[4] = { 1, 1, 4, 4 }, ud[4] = { 1, 1, 2, 2 };
    int64_t ks[2] = { 2, 2 }, dil[2] = { INT64_MAX, 1 }, pads[4] = { INT64_MAX, 0, 0, 0 };
    int64_t big_k[2] = { INT64_MAX, 1 }, strides[2] = { INT64_MAX, 1 };
    static const int64_t bad_idx[4] = { 0, 1, 2, 16 }, good_idx[4] = { 0, 5, 10, 15 };
    const char *ops[2] = { "MaxPool", "AveragePool" };
    hnode h;

    for (int o = 0; o < 2; o++) {
        h_init(&h, ops[o], 19, 1);
        h_in(&h, QCAL_DT_FLOAT, 4, xd, NULL, false);
        h_ints(&h, "kernel_shape", ks, 2);
        h_ints(&h, "dilations", dil, 2);
        EXPECT(&h, QCAL_E_SHAPE);
        h_init(&h, ops[o], 19, 1);
        h_in(&h, QCAL_DT_FLOAT, 4, xd, NULL, false);
        h_ints(&h, "kernel_shape", ks, 2);
        h_ints(&h, "pads", pads, 4);
        EXPECT(&h, QCAL_E_SHAPE);
        h_init(&h, ops[o], 19, 1);
        h_in(&h, QCAL_DT_FLOAT, 4, xd, NULL, false);
        h_ints(&h, "kernel_shape", big_k, 2);
        QT_TRUE(infer_only(&h, &(qcal_error){ 0 }) != QCAL_OK);
        h_fini(&h);
    }
    /* MaxUnpool: huge strides; constant indices beyond the 4x4 output; per-sample ones. */
    h_init(&h, "MaxUnpool", 11, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, ud, NULL, false);
    h_in(&h, QCAL_DT_INT64, 4, ud, good_idx, true);
    h_ints(&h, "kernel_shape", ks, 2);
    h_ints(&h, "strides", strides, 2);
    EXPECT(&h, QCAL_E_SHAPE);
    h_init(&h, "MaxUnpool", 11, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, ud, NULL, false);
    h_in(&h, QCAL_DT_INT64, 4, ud, bad_idx, true);
    h_ints(&h, "kernel_shape", ks, 2);
    h_ints(&h, "strides", ks, 2);
    EXPECT(&h, QCAL_E_INVALID);
    {
        static const float x[4] = { 1, 2, 3, 4 };
        qcal_error err;
        h_init(&h, "MaxUnpool", 11, 1);
        h_in(&h, QCAL_DT_FLOAT, 4, ud, x, false);
        h_in(&h, QCAL_DT_INT64, 4, ud, bad_idx, false);
        h_ints(&h, "kernel_shape", ks, 2);
        h_ints(&h, "strides", ks, 2);
        QT_OK(h_run(&h, &err));
        QT_TRUE(h.n.run_error != NULL);
        QT_EQ_F32_BITS(((const float *)h.out[0]->data)[2], 3.0f); /* the in-range ones land */
        h_fini(&h);
        h_init(&h, "MaxUnpool", 11, 1);
        h_in(&h, QCAL_DT_FLOAT, 4, ud, x, false);
        h_in(&h, QCAL_DT_INT64, 4, ud, good_idx, false);
        h_ints(&h, "kernel_shape", ks, 2);
        h_ints(&h, "strides", ks, 2);
        QT_OK(h_run(&h, &err));
        QT_TRUE(h.n.run_error == NULL);
        QT_EQ_F32_BITS(((const float *)h.out[0]->data)[15], 4.0f);
        h_fini(&h);
    }
}

/* Gather and GatherElements: constant indices out of range fail infer; per-sample ones (even
 * INT64_MAX, whose offset used to be formed before the check) set run_error and write 0. */
static void test_gather(void)
{
    const int64_t xd[2] = { 2, 3 }, id[2] = { 2, 1 };
    static const float x[6] = { 1, 2, 3, 4, 5, 6 };
    static const int64_t bad[2] = { 0, INT64_MAX }, good[2] = { 1, 0 }, neg[2] = { -3, 0 };
    const char *ops[2] = { "Gather", "GatherElements" };
    qcal_error err;
    hnode h;

    for (int o = 0; o < 2; o++) {
        h_init(&h, ops[o], 13, 1);
        h_in(&h, QCAL_DT_FLOAT, 2, xd, x, false);
        h_in(&h, QCAL_DT_INT64, 2, id, bad, true);
        EXPECT(&h, QCAL_E_INVALID);
        h_init(&h, ops[o], 13, 1);
        h_in(&h, QCAL_DT_FLOAT, 2, xd, x, false);
        h_in(&h, QCAL_DT_INT64, 2, id, bad, false);
        QT_OK(h_run(&h, &err));
        QT_TRUE(h.n.run_error != NULL);
        h_fini(&h);
        h_init(&h, ops[o], 13, 1);
        h_in(&h, QCAL_DT_FLOAT, 2, xd, x, false);
        h_in(&h, QCAL_DT_INT64, 2, id, neg, false);
        QT_OK(h_run(&h, &err));
        QT_TRUE(h.n.run_error != NULL);
        h_fini(&h);
        h_init(&h, ops[o], 13, 1);
        h_in(&h, QCAL_DT_FLOAT, 2, xd, x, false);
        h_in(&h, QCAL_DT_INT64, 2, id, good, false);
        QT_OK(h_run(&h, &err));
        QT_TRUE(h.n.run_error == NULL);
        /* Gather axis 0 rows [1, 0] -> 4 5 6 1 2 3; GatherElements [[x[1][0]], [x[0][0]]]. */
        QT_EQ_F32_BITS(((const float *)h.out[0]->data)[0], 4.0f);
        h_fini(&h);
    }
}

/* Through the executor: a per-sample index out of range fails qcal_model_run with an error
 * naming the node; a valid one runs (the same model, next sample). */
static void test_run_error_model(void)
{
    qcal_model_opts opts = { .batch = 1, .defer_prepare = true };
    const float data[6] = { 1, 2, 3, 4, 5, 6 };
    const int64_t bad[2] = { 0, 3 }, good[2] = { 2, -3 };
    const void *in[2] = { data, bad };
    qcal_tensor_view v[2];
    qcal_model *m = NULL;
    qcal_error err = { 0 };

    QT_OK(qcal_model_load("data/hostile/gather_dynamic.onnx", &opts, &m, &err));
    if (!m)
        return;
    memset(v, 0, sizeof v);
    v[0].name = "data";
    v[0].dtype = QCAL_DT_FLOAT;
    v[0].rank = 2;
    v[0].dims[0] = 3;
    v[0].dims[1] = 2;
    v[0].nelem = 6;
    v[0].data = data;
    v[1].name = "idx";
    v[1].dtype = QCAL_DT_INT64;
    v[1].rank = 1;
    v[1].dims[0] = 2;
    v[1].nelem = 2;
    v[1].data = bad;
    QT_OK(qcal_model_prepare(m, v, 2, &err));
    QT_EQ_I64(qcal_model_run(m, in, NULL, NULL, &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "node 'g' (Gather)") != NULL);
    QT_TRUE(strstr(err.msg, "out of range") != NULL);
    in[1] = good;
    QT_OK(qcal_model_run(m, in, NULL, NULL, &err));
    {
        qcal_tensor_view y = qcal_model_output(m, 0);
        const float *yf = y.data;
        QT_EQ_I64(y.nelem, 4);
        if (yf && y.nelem == 4) {
            QT_EQ_F32_BITS(yf[0], 5.0f); /* row 2 */
            QT_EQ_F32_BITS(yf[3], 2.0f); /* row -3 = 0 */
        }
    }
    qcal_model_destroy(m);
}

int main(void)
{
    QT_RUN(test_helpers);
    QT_RUN(test_slice_steps);
    QT_RUN(test_pad);
    QT_RUN(test_tile);
    QT_RUN(test_split_concat_expand);
    QT_RUN(test_depth_space);
    QT_RUN(test_conv);
    QT_RUN(test_pool);
    QT_RUN(test_gather);
    QT_RUN(test_run_error_model);
    return qt_report();
}
