/*
 * Unit tests of the shape and move kernel families (Transpose, Slice, Pad, Gather, Split,
 * Concat, Tile, Expand, DepthToSpace, Reshape, Cast, Dropout, ...) through the kernel
 * interface: nodes are built by hand, resolved with qcal__op_find, inferred and run. Expected
 * values are worked out by hand in the comments; data movement is exact, so comparisons are
 * bit for bit.
 */
#include <stdint.h>
#include <stdlib.h>

#include "hnode.h"

/* Transpose of a 2x3x4 tensor holding 0..23 with perm (1, 2, 0): out[i][j][k] = in[k][i][j]
 * = 12k + 4i + j, shape 3x4x2. */
static void test_transpose_perm(void)
{
    const int64_t dims[3] = { 2, 3, 4 }, want_dims[3] = { 3, 4, 2 };
    int64_t perm[3] = { 1, 2, 0 };
    float x[24];
    const float *y;
    qcal_error err;
    hnode h;

    for (int i = 0; i < 24; i++)
        x[i] = (float)i;
    h_init(&h, "Transpose", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 3, dims, x, false);
    h_ints(&h, "perm", perm, 3);
    QT_OK(h_run(&h, &err));
    check_dims(h.out[0], 3, want_dims);
    y = h.out[0]->data;
    /* Row-major output: [0][0][*] = in[0][0][0], in[1][0][0] = 0, 12; [0][1][*] = 1, 13;
     * [2][3][*] = in[*][2][3] = 11, 23. */
    QT_EQ_F32_BITS(y[0], 0.0f);
    QT_EQ_F32_BITS(y[1], 12.0f);
    QT_EQ_F32_BITS(y[2], 1.0f);
    QT_EQ_F32_BITS(y[3], 13.0f);
    QT_EQ_F32_BITS(y[22], 11.0f);
    QT_EQ_F32_BITS(y[23], 23.0f);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 2; k++)
                QT_EQ_F32_BITS(y[(i * 4 + j) * 2 + k], (float)(12 * k + 4 * i + j));
    h_fini(&h);

    /* Default perm reverses the axes: 2x3x4 -> 4x3x2, out[i][j][k] = in[k][j][i]. */
    h_init(&h, "Transpose", 1, 1);
    h_in(&h, QCAL_DT_FLOAT, 3, dims, x, false);
    QT_OK(h_run(&h, &err));
    y = h.out[0]->data;
    QT_EQ_I64(h.out[0]->dims[0], 4);
    QT_EQ_F32_BITS(y[1], 12.0f); /* out[0][0][1] = in[1][0][0] */
    QT_EQ_F32_BITS(y[2], 4.0f);  /* out[0][1][0] = in[0][1][0] */
    QT_EQ_F32_BITS(y[6], 1.0f);  /* out[1][0][0] = in[0][0][1] */
    h_fini(&h);
}

/* Slice-13 with a negative step on a 10-element vector 0..9: starts 8, ends 1, step -3 picks
 * 8, 5, 2. Starts INT64_MAX / ends INT64_MIN with step -1 clamp to 9 and -1: the whole vector
 * reversed. */
static void test_slice_negative_step(void)
{
    const int64_t dims[1] = { 10 }, one[1] = { 1 };
    int64_t starts[1] = { 8 }, ends[1] = { 1 }, axes[1] = { 0 }, steps[1] = { -3 };
    int64_t x[10];
    const int64_t *y;
    qcal_error err;
    hnode h;

    for (int i = 0; i < 10; i++)
        x[i] = i;
    h_init(&h, "Slice", 13, 1);
    h_in(&h, QCAL_DT_INT64, 1, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 1, one, starts, true);
    h_in(&h, QCAL_DT_INT64, 1, one, ends, true);
    h_in(&h, QCAL_DT_INT64, 1, one, axes, true);
    h_in(&h, QCAL_DT_INT64, 1, one, steps, true);
    QT_OK(h_run(&h, &err));
    y = h.out[0]->data;
    QT_EQ_I64(h.out[0]->dims[0], 3);
    QT_EQ_I64(y[0], 8);
    QT_EQ_I64(y[1], 5);
    QT_EQ_I64(y[2], 2);
    h_fini(&h);

    starts[0] = INT64_MAX;
    ends[0] = INT64_MIN;
    steps[0] = -1;
    h_init(&h, "Slice", 13, 1);
    h_in(&h, QCAL_DT_INT64, 1, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 1, one, starts, true);
    h_in(&h, QCAL_DT_INT64, 1, one, ends, true);
    h_in(&h, QCAL_DT_INT64, 1, one, axes, true);
    h_in(&h, QCAL_DT_INT64, 1, one, steps, true);
    QT_OK(h_run(&h, &err));
    y = h.out[0]->data;
    QT_EQ_I64(h.out[0]->dims[0], 10);
    for (int i = 0; i < 10; i++)
        QT_EQ_I64(y[i], 9 - i);
    h_fini(&h);
}

/* Slice-1 (attributes) on a 3x4 grid 0..11: axes (-1, 0), starts (1, 1), ends (-1, 1000):
 * rows 1..2, columns 1..2 -> [[5, 6], [9, 10]]. */
static void test_slice_attributes(void)
{
    const int64_t dims[2] = { 3, 4 };
    int64_t starts[2] = { 1, 1 }, ends[2] = { -1, 1000 }, axes[2] = { -1, 0 };
    float x[12];
    const float *y;
    qcal_error err;
    hnode h;

    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    h_init(&h, "Slice", 1, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dims, x, false);
    h_ints(&h, "starts", starts, 2);
    h_ints(&h, "ends", ends, 2);
    h_ints(&h, "axes", axes, 2);
    QT_OK(h_run(&h, &err));
    y = h.out[0]->data;
    QT_EQ_I64(h.out[0]->dims[0], 2);
    QT_EQ_I64(h.out[0]->dims[1], 2);
    QT_EQ_F32_BITS(y[0], 5.0f);
    QT_EQ_F32_BITS(y[1], 6.0f);
    QT_EQ_F32_BITS(y[2], 9.0f);
    QT_EQ_F32_BITS(y[3], 10.0f);
    h_fini(&h);
}

/* Pad-11 reflect of [1, 2, 3] by (2, 3): mirror without repeating the edge, period 4:
 * [3, 2, | 1, 2, 3, | 2, 1, 2]. */
static void test_pad_reflect(void)
{
    const int64_t dims[1] = { 3 }, pdims[1] = { 2 };
    const float x[3] = { 1.0f, 2.0f, 3.0f }, want[8] = { 3, 2, 1, 2, 3, 2, 1, 2 };
    int64_t pads[2] = { 2, 3 };
    qcal_error err;
    hnode h;

    h_init(&h, "Pad", 13, 1);
    h_str(&h, "mode", "reflect");
    h_in(&h, QCAL_DT_FLOAT, 1, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 1, pdims, pads, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[0], 8);
    QT_EQ_MEM(h.out[0]->data, want, sizeof want);
    h_fini(&h);
}

/* Pad-2 (attributes) on int32 2x2 [[1, 2], [3, 4]]: edge with pads (1, 0, 0, 1) repeats the
 * border -> [[1, 2, 2], [1, 2, 2], [3, 4, 4]]; constant value 7 with a negative pad (0, -1, 1,
 * 0) crops column 0 and adds a row of 7 -> [[2], [4], [7]]. */
static void test_pad_edge_constant_crop(void)
{
    const int64_t dims[2] = { 2, 2 };
    const int32_t x[4] = { 1, 2, 3, 4 };
    const int32_t want_edge[9] = { 1, 2, 2, 1, 2, 2, 3, 4, 4 }, want_crop[3] = { 2, 4, 7 };
    int64_t pads_edge[4] = { 1, 0, 0, 1 }, pads_crop[4] = { 0, -1, 1, 0 };
    qcal__attr *a;
    qcal_error err;
    hnode h;

    h_init(&h, "Pad", 2, 1);
    h_str(&h, "mode", "edge");
    h_ints(&h, "pads", pads_edge, 4);
    h_in(&h, QCAL_DT_INT32, 2, dims, x, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[0], 3);
    QT_EQ_I64(h.out[0]->dims[1], 3);
    QT_EQ_MEM(h.out[0]->data, want_edge, sizeof want_edge);
    h_fini(&h);

    h_init(&h, "Pad", 2, 1);
    h_ints(&h, "pads", pads_crop, 4);
    a = h_attr(&h, "value", QCAL__A_FLOAT);
    a->f = 7.0f;
    h_in(&h, QCAL_DT_INT32, 2, dims, x, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[0], 3);
    QT_EQ_I64(h.out[0]->dims[1], 1);
    QT_EQ_MEM(h.out[0]->data, want_crop, sizeof want_crop);
    h_fini(&h);
}

/* Gather axis 0 on [[1, 2], [3, 4], [5, 6]] with int64 indices (-1, 0): the last row, then the
 * first -> [[5, 6], [1, 2]]. Axis 1 with int32 indices [[1], [0]] (shape 2x1) gives shape 3x2x1:
 * [[[2], [1]], [[4], [3]], [[6], [5]]]. */
static void test_gather_negative_index(void)
{
    const int64_t dims[2] = { 3, 2 }, idims[1] = { 2 }, idims2[2] = { 2, 1 };
    const float x[6] = { 1, 2, 3, 4, 5, 6 }, want0[4] = { 5, 6, 1, 2 };
    const float want1[6] = { 2, 1, 4, 3, 6, 5 };
    const int64_t idx[2] = { -1, 0 };
    const int32_t idx32[2] = { 1, 0 };
    qcal_error err;
    hnode h;

    h_init(&h, "Gather", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 1, idims, idx, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->rank, 2);
    QT_EQ_I64(h.out[0]->dims[0], 2);
    QT_EQ_MEM(h.out[0]->data, want0, sizeof want0);
    h_fini(&h);

    h_init(&h, "Gather", 11, 1);
    h_int(&h, "axis", -1);
    h_in(&h, QCAL_DT_FLOAT, 2, dims, x, false);
    h_in(&h, QCAL_DT_INT32, 2, idims2, idx32, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->rank, 3);
    QT_EQ_I64(h.out[0]->dims[0], 3);
    QT_EQ_I64(h.out[0]->dims[1], 2);
    QT_EQ_I64(h.out[0]->dims[2], 1);
    QT_EQ_MEM(h.out[0]->data, want1, sizeof want1);
    h_fini(&h);
}

/* GatherElements axis 1 on [[1, 2], [3, 4]] with [[0, 0], [1, -2]] -> [[1, 1], [4, 3]]. */
static void test_gather_elements(void)
{
    const int64_t dims[2] = { 2, 2 };
    const float x[4] = { 1, 2, 3, 4 }, want[4] = { 1, 1, 4, 3 };
    const int64_t idx[4] = { 0, 0, 1, -2 };
    qcal_error err;
    hnode h;

    h_init(&h, "GatherElements", 13, 1);
    h_int(&h, "axis", 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 2, dims, idx, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want, sizeof want);
    h_fini(&h);
}

/* Split-2 of 0..5 (uint8) into (1, 2, 3) along axis 0, then Concat-4 of the parts in reverse
 * order on axis 0: [3, 4, 5, 1, 2, 0]. */
static void test_split_concat(void)
{
    const int64_t dims[1] = { 6 };
    const uint8_t x[6] = { 0, 1, 2, 3, 4, 5 }, want[6] = { 3, 4, 5, 1, 2, 0 };
    int64_t split[3] = { 1, 2, 3 };
    qcal_error err;
    hnode s, c;

    h_init(&s, "Split", 2, 3);
    h_ints(&s, "split", split, 3);
    h_in(&s, QCAL_DT_UINT8, 1, dims, x, false);
    QT_OK(h_run(&s, &err));
    QT_EQ_I64(s.out[2]->dims[0], 3);
    QT_EQ_I64(((const uint8_t *)s.out[1]->data)[0], 1);
    h_init(&c, "Concat", 4, 1);
    h_int(&c, "axis", 0);
    for (int i = 2; i >= 0; i--)
        h_in(&c, QCAL_DT_UINT8, 1, s.out[i]->dims, s.out[i]->data, false);
    QT_OK(h_run(&c, &err));
    QT_EQ_I64(c.out[0]->dims[0], 6);
    QT_EQ_MEM(c.out[0]->data, want, sizeof want);
    h_fini(&c);
    h_fini(&s);
}

/* Tile-6 of [[1, 2]] by (2, 2) -> [[1, 2, 1, 2], [1, 2, 1, 2]]; Expand-8 of the column
 * [[1], [2]] (bool-sized uint8) to shape (2, 3) -> [[1, 1, 1], [2, 2, 2]]. */
static void test_tile_expand(void)
{
    const int64_t dims[2] = { 1, 2 }, rdims[1] = { 2 }, cdims[2] = { 2, 1 };
    const float x[2] = { 1, 2 }, want[8] = { 1, 2, 1, 2, 1, 2, 1, 2 };
    const uint8_t col[2] = { 1, 2 }, want_e[6] = { 1, 1, 1, 2, 2, 2 };
    const int64_t reps[2] = { 2, 2 }, shape[2] = { 2, 3 };
    qcal_error err;
    hnode h;

    h_init(&h, "Tile", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 1, rdims, reps, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[0], 2);
    QT_EQ_I64(h.out[0]->dims[1], 4);
    QT_EQ_MEM(h.out[0]->data, want, sizeof want);
    h_fini(&h);

    h_init(&h, "Expand", 13, 1);
    h_in(&h, QCAL_DT_UINT8, 2, cdims, col, false);
    h_in(&h, QCAL_DT_INT64, 1, rdims, shape, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[1], 3);
    QT_EQ_MEM(h.out[0]->data, want_e, sizeof want_e);
    h_fini(&h);
}

/* DepthToSpace b=2 on 1x4x1x1 [a, b, c, d]: DCR puts channel k at (k / 2, k % 2) of a 2x2 block,
 * giving [[a, b], [c, d]] (1x1x2x2); SpaceToDepth undoes it. */
static void test_depth_space(void)
{
    const int64_t dims[4] = { 1, 4, 1, 1 };
    const float x[4] = { 10, 20, 30, 40 };
    qcal_error err;
    hnode d, s;

    h_init(&d, "DepthToSpace", 13, 1);
    h_int(&d, "blocksize", 2);
    h_in(&d, QCAL_DT_FLOAT, 4, dims, x, false);
    QT_OK(h_run(&d, &err));
    QT_EQ_I64(d.out[0]->dims[1], 1);
    QT_EQ_I64(d.out[0]->dims[2], 2);
    QT_EQ_MEM(d.out[0]->data, x, sizeof x);
    h_init(&s, "SpaceToDepth", 13, 1);
    h_int(&s, "blocksize", 2);
    h_in(&s, QCAL_DT_FLOAT, 4, d.out[0]->dims, d.out[0]->data, false);
    QT_OK(h_run(&s, &err));
    QT_EQ_I64(s.out[0]->dims[1], 4);
    QT_EQ_MEM(s.out[0]->data, x, sizeof x);
    h_fini(&s);
    h_fini(&d);
}

/* Reshape-14 of 2x3x4: shape (0, -1) keeps dim 0 and infers 12; Reshape-1 takes the attribute;
 * a second -1 is an error. Unsqueeze-11 with axes (0, -1) on 3 gives 1x3x1. */
static void test_reshape_unsqueeze(void)
{
    const int64_t dims[3] = { 2, 3, 4 }, sdims[1] = { 2 }, d1[1] = { 3 };
    float x[24] = { 0 };
    int64_t shape[2] = { 0, -1 }, bad[2] = { -1, -1 }, attr_shape[2] = { 4, 6 };
    int64_t axes[2] = { 0, -1 };
    qcal_error err;
    hnode h;

    h_init(&h, "Reshape", 14, 1);
    h_in(&h, QCAL_DT_FLOAT, 3, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 1, sdims, shape, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->rank, 2);
    QT_EQ_I64(h.out[0]->dims[0], 2);
    QT_EQ_I64(h.out[0]->dims[1], 12);
    h_fini(&h);

    h_init(&h, "Reshape", 1, 1);
    h_in(&h, QCAL_DT_FLOAT, 3, dims, x, false);
    h_ints(&h, "shape", attr_shape, 2);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[0], 4);
    QT_EQ_I64(h.out[0]->dims[1], 6);
    h_fini(&h);

    h_init(&h, "Reshape", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 3, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 1, sdims, bad, true);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_SHAPE);
    h_fini(&h);

    h_init(&h, "Unsqueeze", 11, 1);
    h_in(&h, QCAL_DT_FLOAT, 1, d1, x, false);
    h_ints(&h, "axes", axes, 2);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->rank, 3);
    QT_EQ_I64(h.out[0]->dims[0], 1);
    QT_EQ_I64(h.out[0]->dims[1], 3);
    QT_EQ_I64(h.out[0]->dims[2], 1);
    h_fini(&h);
}

/* Cast-13 float -> int32 truncates toward zero and saturates (NaN -> 0); float -> float16 rounds
 * to nearest even: 0.1f -> 0x2e66, 65520 (the overflow midpoint) -> inf 0x7c00, 2^-25 (a tie
 * with 0) -> 0, 3 * 2^-26 (above the tie) -> 0x0001; Cast-1 spells 'to' as a name. Casting to
 * string is refused. */
static void test_cast(void)
{
    const int64_t dims[1] = { 6 }, d4[1] = { 4 };
    const float x[6] = { 2.7f, -2.7f, 3e9f, -3e9f, NAN, -0.5f };
    const int32_t want[6] = { 2, -2, INT32_MAX, INT32_MIN, 0, 0 };
    const float h_in_vals[4] = { 0.1f, 65520.0f, 0x1p-25f, 0x1.8p-25f };
    /* float16 0x2e66, 0x7c00, 0x0000, 0x0001, held as float32 (DESIGN.md: float16 models). */
    const float want_h[4] = { 0x1.998p-4f, INFINITY, 0.0f, 0x1p-24f };
    const int64_t big[4] = { 300, -1, 70000, 5 };
    const uint8_t want_u8[4] = { 44, 255, 112, 5 }; /* wrap modulo 256 */
    qcal_error err;
    hnode h;

    h_init(&h, "Cast", 13, 1);
    h_int(&h, "to", QCAL_DT_INT32);
    h_in(&h, QCAL_DT_FLOAT, 1, dims, x, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dtype, QCAL_DT_INT32);
    QT_EQ_MEM(h.out[0]->data, want, sizeof want);
    h_fini(&h);

    h_init(&h, "Cast", 13, 1);
    h_int(&h, "to", QCAL_DT_FLOAT16);
    h_in(&h, QCAL_DT_FLOAT, 1, d4, h_in_vals, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dtype, QCAL_DT_FLOAT);
    QT_EQ_MEM(h.out[0]->data, want_h, sizeof want_h);
    h_fini(&h);

    h_init(&h, "Cast", 1, 1);
    h_str(&h, "to", "UINT8");
    h_in(&h, QCAL_DT_INT64, 1, d4, big, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dtype, QCAL_DT_UINT8);
    QT_EQ_MEM(h.out[0]->data, want_u8, sizeof want_u8);
    h_fini(&h);

    h_init(&h, "Cast", 13, 1);
    h_int(&h, "to", QCAL_DT_STRING);
    h_in(&h, QCAL_DT_FLOAT, 1, dims, x, false);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_UNSUPPORTED);
    h_fini(&h);
}

/* Dropout-13 in training mode with seed 0 and ratio 0.6: numpy's np.random.seed(0);
 * np.random.rand(5) is 0.5488135, 0.71518937, 0.60276338, 0.54488318, 0.4236548, so the mask
 * is (0, 1, 1, 0, 0) and kept values are scaled by 1 / (1 - 0.6f). Inference mode (no
 * training input) is the identity with an all-true mask. */
static void test_dropout(void)
{
    const int64_t dims[1] = { 5 };
    const float x[5] = { 1, 1, 1, 1, 1 }, ratio = 0.6f, scale = 1.0f / (1.0f - 0.6f);
    const uint8_t training = 1, want_mask[5] = { 0, 1, 1, 0, 0 }, all[5] = { 1, 1, 1, 1, 1 };
    int64_t seed_dims[1] = { 0 };
    const float *y;
    qcal_error err;
    hnode h;

    h_init(&h, "Dropout", 13, 2);
    h_int(&h, "seed", 0);
    h_in(&h, QCAL_DT_FLOAT, 1, dims, x, false);
    h_in(&h, QCAL_DT_FLOAT, 0, seed_dims, &ratio, true);
    h_in(&h, QCAL_DT_BOOL, 0, seed_dims, &training, true);
    QT_OK(h_run(&h, &err));
    y = h.out[0]->data;
    QT_EQ_MEM(h.out[1]->data, want_mask, sizeof want_mask);
    QT_EQ_F32_BITS(y[0], 0.0f);
    QT_EQ_F32_BITS(y[1], scale);
    QT_EQ_F32_BITS(y[2], scale);
    QT_EQ_F32_BITS(y[4], 0.0f);
    h_fini(&h);

    h_init(&h, "Dropout", 13, 2);
    h_in(&h, QCAL_DT_FLOAT, 1, dims, x, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, x, sizeof x);
    QT_EQ_MEM(h.out[1]->data, all, sizeof all);
    h_fini(&h);
}

/* Shape-15 of a 2x3x4 tensor with start -2: (3, 4). Range-11 int32 (10, 4, -3): 10, 7. */
static void test_shape_range(void)
{
    const int64_t dims[3] = { 2, 3, 4 }, sdims[1] = { 0 };
    const int32_t start = 10, limit = 4, delta = -3;
    float x[24] = { 0 };
    const int64_t *y;
    qcal_error err;
    hnode h;

    h_init(&h, "Shape", 15, 1);
    h_int(&h, "start", -2);
    h_in(&h, QCAL_DT_FLOAT, 3, dims, x, false);
    QT_OK(h_run(&h, &err));
    y = h.out[0]->data;
    QT_EQ_I64(h.out[0]->dims[0], 2);
    QT_EQ_I64(y[0], 3);
    QT_EQ_I64(y[1], 4);
    h_fini(&h);

    h_init(&h, "Range", 11, 1);
    h_in(&h, QCAL_DT_INT32, 0, sdims, &start, true);
    h_in(&h, QCAL_DT_INT32, 0, sdims, &limit, true);
    h_in(&h, QCAL_DT_INT32, 0, sdims, &delta, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[0], 2);
    QT_EQ_I64(((const int32_t *)h.out[0]->data)[0], 10);
    QT_EQ_I64(((const int32_t *)h.out[0]->data)[1], 7);
    h_fini(&h);
}

int main(void)
{
    QT_RUN(test_transpose_perm);
    QT_RUN(test_slice_negative_step);
    QT_RUN(test_slice_attributes);
    QT_RUN(test_pad_reflect);
    QT_RUN(test_pad_edge_constant_crop);
    QT_RUN(test_gather_negative_index);
    QT_RUN(test_gather_elements);
    QT_RUN(test_split_concat);
    QT_RUN(test_tile_expand);
    QT_RUN(test_depth_space);
    QT_RUN(test_reshape_unsqueeze);
    QT_RUN(test_cast);
    QT_RUN(test_dropout);
    QT_RUN(test_shape_range);
    return qt_report();
}
