/*
 * Resize/Upsample kernels through the kernel interface (registry lookup, infer, run), with
 * hand-built tensors and nodes. Expected values are worked out by hand from the ONNX Resize-13
 * formulas in the comments; all of them are exact in float32, so most checks are bitwise.
 */
#include <stdlib.h>

#include "ops/ops.h"
#include "qtest.h"

#define MAXT 4

/* A node under test: up to 4 inputs (NULL = omitted), attributes, one output. */
typedef struct tcase {
    qcal__tensor in[MAXT];
    bool has[MAXT];
    int n_in;
    qcal__attr attr[8];
    int n_attr;
    qcal__tensor y;
} tcase;

static void set_in(tcase *t, int i, qcal_dtype dt, int rank, const int64_t *dims, const void *data,
                   bool is_const)
{
    qcal__tensor *x = &t->in[i];

    QT_OK(qcal__tensor_set_shape(x, dt, rank, dims, NULL));
    x->name = "x";
    x->data = (void *)data;
    x->kind = is_const ? QCAL__T_CONST : QCAL__T_INPUT;
    t->has[i] = true;
    if (i + 1 > t->n_in)
        t->n_in = i + 1;
}

static void attr_str(tcase *t, const char *name, const char *v)
{
    qcal__attr *a = &t->attr[t->n_attr++];
    a->name = (char *)name;
    a->type = QCAL__A_STRING;
    a->s = (char *)v;
}

static void attr_float(tcase *t, const char *name, float v)
{
    qcal__attr *a = &t->attr[t->n_attr++];
    a->name = (char *)name;
    a->type = QCAL__A_FLOAT;
    a->f = v;
}

static void attr_floats(tcase *t, const char *name, float *v, size_t n)
{
    qcal__attr *a = &t->attr[t->n_attr++];
    a->name = (char *)name;
    a->type = QCAL__A_FLOATS;
    a->floats = v;
    a->n = n;
}

/* Resolves op at opset, runs infer and run. On success t->y.data holds the output (caller
 * frees). Returns infer's status. */
static qcal_status run_case(tcase *t, const char *op, int opset)
{
    const qcal__op *k = qcal__op_find(op, opset);
    qcal__tensor *ins[MAXT], *outs[1] = { &t->y };
    qcal__node n;
    qcal_error err;
    qcal_status st;
    void *scratch;

    QT_TRUE(k != NULL);
    if (!k)
        return QCAL_E_UNSUPPORTED;
    for (int i = 0; i < MAXT; i++)
        ins[i] = t->has[i] ? &t->in[i] : NULL;
    memset(&n, 0, sizeof n);
    n.name = "resize_test";
    n.op_type = (char *)op;
    n.domain = "";
    n.opset = opset;
    n.n_in = t->n_in;
    n.in = ins;
    n.n_out = 1;
    n.out = outs;
    n.n_attr = t->n_attr;
    n.attr = t->attr;
    t->y.name = "y";
    t->y.data = NULL;
    st = k->infer(&n, &err);
    if (st != QCAL_OK) {
        free(n.params);
        return st;
    }
    t->y.data = malloc(t->y.nelem * qcal_dtype_size(t->y.dtype) + 1);
    scratch = aligned_alloc(64, (n.scratch + 64) & ~(size_t)63);
    k->run(&n, scratch);
    free(scratch);
    free(n.params);
    return QCAL_OK;
}

static void check_f32(const qcal__tensor *y, const float *want, size_t n)
{
    QT_EQ_U64(y->nelem, n);
    for (size_t i = 0; i < n && i < y->nelem; i++)
        QT_EQ_F32_BITS(((const float *)y->data)[i], want[i]);
}

static const int64_t D4[] = { 1, 1, 2, 2 };
static const float X22[] = { 1, 2, 3, 4 };

/* Each pixel of a 2x2 image copied into a 2x2 block: asymmetric x/2 gives 0, 0.5, 1, 1.5, and
 * both round_prefer_floor (Resize-13) and floor (Upsample, Resize-10) pick 0, 0, 1, 1. */
static const float NEAREST44[] = { 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4 };

static void test_nearest_asymmetric_2x2_to_4x4(void)
{
    static const float scales[] = { 1, 1, 2, 2 };
    static const int64_t d1[] = { 4 };
    tcase t;

    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_FLOAT, 4, D4, X22, false);
    set_in(&t, 2, QCAL_DT_FLOAT, 1, d1, scales, true);
    attr_str(&t, "mode", "nearest");
    attr_str(&t, "coordinate_transformation_mode", "asymmetric");
    QT_OK(run_case(&t, "Resize", 13));
    QT_EQ_I64(t.y.rank, 4);
    QT_EQ_I64(t.y.dims[2], 4);
    QT_EQ_I64(t.y.dims[3], 4);
    check_f32(&t.y, NEAREST44, 16);
    free(t.y.data);

    /* Same through Upsample-9 (scales input) and Resize-10. */
    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_FLOAT, 4, D4, X22, false);
    set_in(&t, 1, QCAL_DT_FLOAT, 1, d1, scales, true);
    QT_OK(run_case(&t, "Upsample", 9));
    check_f32(&t.y, NEAREST44, 16);
    free(t.y.data);
    QT_OK(run_case(&t, "Resize", 10));
    check_f32(&t.y, NEAREST44, 16);
    free(t.y.data);
}

/* Upsample-7 (scales attribute) and Upsample-1 (height_scale/width_scale). */
static void test_upsample_attribute_forms(void)
{
    float scales[] = { 1, 1, 2, 2 };
    tcase t;

    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_FLOAT, 4, D4, X22, false);
    attr_floats(&t, "scales", scales, 4);
    QT_OK(run_case(&t, "Upsample", 7));
    check_f32(&t.y, NEAREST44, 16);
    free(t.y.data);

    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_FLOAT, 4, D4, X22, false);
    attr_float(&t, "height_scale", 2.0f);
    attr_float(&t, "width_scale", 2.0f);
    QT_OK(run_case(&t, "Upsample", 1));
    check_f32(&t.y, NEAREST44, 16);
    free(t.y.data);
}

/*
 * Bilinear, half_pixel, scale 2 on [[1, 2], [3, 4]]: x_original = (o + 0.5) / 2 - 0.5 =
 * -0.25, 0.25, 0.75, 1.25, i.e. (edge-clamped) weights on (x0, x1): (1, 0), (0.75, 0.25),
 * (0.25, 0.75), (0, 1). Rows: [1, 1.25, 1.75, 2] and [3, 3.25, 3.75, 4]; the middle rows mix
 * them 3:1 and 1:3.
 */
static void test_bilinear_half_pixel(void)
{
    static const float scales[] = { 1, 1, 2, 2 };
    static const int64_t d1[] = { 4 };
    static const float want[] = { 1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f,
                                  2.5f, 2.75f, 3.25f, 3.5f, 3.0f, 3.25f, 3.75f, 4.0f };
    tcase t;

    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_FLOAT, 4, D4, X22, false);
    set_in(&t, 2, QCAL_DT_FLOAT, 1, d1, scales, true);
    attr_str(&t, "mode", "linear"); /* half_pixel is the default */
    QT_OK(run_case(&t, "Resize", 13));
    check_f32(&t.y, want, 16);
    free(t.y.data);
}

/*
 * align_corners, 2 -> 4: x_original = o * (2 - 1) / (4 - 1) = 0, 1/3, 2/3, 1. Row [1, 2] gives
 * [1, 4/3, 5/3, 2]; rows move by (3 - 1) / 3 = 2/3 each step. Not exact in float: 1e-6.
 */
static void test_bilinear_align_corners(void)
{
    static const float scales[] = { 1, 1, 2, 2 };
    static const int64_t d1[] = { 4 };
    double want[16];
    tcase t;

    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            want[i * 4 + j] = 1.0 + j / 3.0 + 2.0 * i / 3.0;
    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_FLOAT, 4, D4, X22, false);
    set_in(&t, 2, QCAL_DT_FLOAT, 1, d1, scales, true);
    attr_str(&t, "mode", "linear");
    attr_str(&t, "coordinate_transformation_mode", "align_corners");
    QT_OK(run_case(&t, "Resize", 11));
    QT_EQ_U64(t.y.nelem, 16);
    for (int i = 0; i < 16; i++)
        QT_NEAR((double)((float *)t.y.data)[i], want[i], 1e-6);
    /* Corners are exact. */
    QT_EQ_F32_BITS(((float *)t.y.data)[0], 1.0f);
    QT_EQ_F32_BITS(((float *)t.y.data)[15], 4.0f);
    free(t.y.data);
}

/* Output size is floor(len * scale): 2x4 with scale 0.6 -> 1x2 (1.2, 2.4). half_pixel nearest
 * on the width: (0.5 / 0.6 - 0.5) = 0.33 -> 0, (1.5 / 0.6 - 0.5) = 2 -> 2: values 1 and 3. */
static void test_downsample_floor(void)
{
    static const int64_t dx[] = { 1, 1, 2, 4 }, d1[] = { 4 };
    static const float x[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    static const float scales[] = { 1.0f, 1.0f, 0.6f, 0.6f };
    static const float want[] = { 1, 3 };
    tcase t;

    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_FLOAT, 4, dx, x, false);
    set_in(&t, 2, QCAL_DT_FLOAT, 1, d1, scales, true);
    QT_OK(run_case(&t, "Resize", 13));
    QT_EQ_I64(t.y.dims[2], 1);
    QT_EQ_I64(t.y.dims[3], 2);
    check_f32(&t.y, want, 2);
    free(t.y.data);
}

/* Empty roi/scales mean absent; sizes decide. nearest on int8 copies bytes: 2x2 -> 3x1,
 * half_pixel: rows (o + 0.5) / 1.5 - 0.5 = -0.17, 0.5, 1.17 -> 0, 0 (prefer floor), 1; the
 * column 0.5 / 0.5 - 0.5 = 0.5 -> 0. */
static void test_sizes_int8(void)
{
    static const int8_t x[] = { -1, 2, -3, 4 };
    static const int64_t sizes[] = { 1, 1, 3, 1 }, d1[] = { 4 }, d0[] = { 0 };
    static const float empty[1] = { 0 };
    static const int8_t want[] = { -1, -1, -3 };
    tcase t;

    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_INT8, 4, D4, x, false);
    set_in(&t, 1, QCAL_DT_FLOAT, 1, d0, empty, true);
    set_in(&t, 2, QCAL_DT_FLOAT, 1, d0, empty, true);
    set_in(&t, 3, QCAL_DT_INT64, 1, d1, sizes, true);
    QT_OK(run_case(&t, "Resize", 17));
    QT_EQ_I64(t.y.dtype, QCAL_DT_INT8);
    QT_EQ_U64(t.y.nelem, 3);
    QT_EQ_MEM(t.y.data, want, 3);
    free(t.y.data);
}

/* tf_crop_and_resize, width 4 -> 3 over roi [0, 1.5]: x_original = o * 1.5 * 3 / 2 = 0, 2.25,
 * 4.5; the last is outside [0, 3] and takes extrapolation_value 10. 2.25 -> 0.75 * 3 + 0.25 * 4.
 * The height (1 -> 1, roi [0, 1]) maps to 0.5 * (0 + 1) * 0 = 0. */
static void test_crop_and_resize_extrapolation(void)
{
    static const int64_t dx[] = { 1, 1, 1, 4 }, d1[] = { 4 }, d8[] = { 8 };
    static const float x[] = { 1, 2, 3, 4 };
    static const float roi[] = { 0, 0, 0, 0, 1, 1, 1, 1.5f };
    static const int64_t sizes[] = { 1, 1, 1, 3 };
    static const float want[] = { 1.0f, 3.25f, 10.0f };
    tcase t;

    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_FLOAT, 4, dx, x, false);
    set_in(&t, 1, QCAL_DT_FLOAT, 1, d8, roi, true);
    set_in(&t, 3, QCAL_DT_INT64, 1, d1, sizes, true);
    attr_str(&t, "mode", "linear");
    attr_str(&t, "coordinate_transformation_mode", "tf_crop_and_resize");
    attr_float(&t, "extrapolation_value", 10.0f);
    QT_OK(run_case(&t, "Resize", 13));
    check_f32(&t.y, want, 3);
    free(t.y.data);

    /* Nearest on the same geometry: 2.25 -> 2 (value 3), 4.5 outside -> 10. */
    t.attr[0].s = "nearest";
    QT_OK(run_case(&t, "Resize", 13));
    {
        static const float want_n[] = { 1.0f, 3.0f, 10.0f };
        check_f32(&t.y, want_n, 3);
    }
    free(t.y.data);
}

/*
 * Cubic (A = -0.75) at r = 0.5 has coefficients (-0.09375, 0.59375, 0.59375, -0.09375).
 * Rank 1, asymmetric, scale 2 on [1, 2, 4, 8]; even o copy x[o / 2]; odd o sit at o / 2 = k + 0.5
 * and read x[k - 1 .. k + 2] with edge clamping:
 *   o = 1: (x0, x0, x1, x2) = -0.09375 + 0.59375 + 1.1875 - 0.375 = 1.3125
 *   o = 3: (x0, x1, x2, x3) = -0.09375 + 1.1875 + 2.375 - 0.75 = 2.71875
 *   o = 5: (x1, x2, x3, x3) = -0.1875 + 2.375 + 4.75 - 0.75 = 6.1875
 *   o = 7: (x2, x3, x3, x3) = -0.375 + 4.75 + 4.75 - 0.75 = 8.375
 * Every term is a short dyadic fraction, so the sums are exact in float32.
 */
static void test_cubic_rank1(void)
{
    static const int64_t dx[] = { 4 }, d1[] = { 1 };
    static const float x[] = { 1, 2, 4, 8 };
    static const float scales[] = { 2 };
    static const float want[] = { 1.0f, 1.3125f, 2.0f, 2.71875f, 4.0f, 6.1875f, 8.0f, 8.375f };
    tcase t;

    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_FLOAT, 1, dx, x, false);
    set_in(&t, 2, QCAL_DT_FLOAT, 1, d1, scales, true);
    attr_str(&t, "mode", "cubic");
    attr_str(&t, "coordinate_transformation_mode", "asymmetric");
    QT_OK(run_case(&t, "Resize", 13));
    check_f32(&t.y, want, 8);
    free(t.y.data);
}

/* Scale 1 with half_pixel maps every index to itself: cubic is a copy. */
static void test_cubic_identity(void)
{
    static const int64_t dx[] = { 1, 1, 3, 3 }, d1[] = { 4 };
    static const float x[] = { 1, -2, 3, 4.5f, 5, 6, -7, 8, 9.25f };
    static const float scales[] = { 1, 1, 1, 1 };
    tcase t;

    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_FLOAT, 4, dx, x, false);
    set_in(&t, 2, QCAL_DT_FLOAT, 1, d1, scales, true);
    attr_str(&t, "mode", "cubic");
    QT_OK(run_case(&t, "Resize", 13));
    check_f32(&t.y, x, 9);
    free(t.y.data);
}

/* Trilinear (N-D linear) on 2x2x2, asymmetric scale 2: per axis o/2 = 0, 0.5, 1, 1.5 -> weights
 * (1, 0), (0.5, 0.5), (0, 1), (0, 1) on (x0, x1). y[1][1][1] is the mean of all eight values,
 * y[3][3][3] = x[1][1][1], y[0][0][1] = (x000 + x001) / 2, y[2][1][0] = (x100 + x110) / 2. */
static void test_trilinear(void)
{
    static const int64_t dx[] = { 2, 2, 2 }, d1[] = { 3 };
    static const float x[] = { 1, 2, 4, 8, 16, 32, 64, 128 };
    static const float scales[] = { 2, 2, 2 };
    tcase t;

    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_FLOAT, 3, dx, x, false);
    set_in(&t, 2, QCAL_DT_FLOAT, 1, d1, scales, true);
    attr_str(&t, "mode", "linear");
    attr_str(&t, "coordinate_transformation_mode", "asymmetric");
    QT_OK(run_case(&t, "Resize", 13));
    QT_EQ_U64(t.y.nelem, 64);
    if (t.y.nelem == 64) {
        const float *y = t.y.data;
        QT_EQ_F32_BITS(y[0], 1.0f);
        QT_EQ_F32_BITS(y[1 * 16 + 1 * 4 + 1], 255.0f / 8.0f);
        QT_EQ_F32_BITS(y[3 * 16 + 3 * 4 + 3], 128.0f);
        QT_EQ_F32_BITS(y[1], 1.5f);
        QT_EQ_F32_BITS(y[2 * 16 + 1 * 4 + 0], 40.0f);
    }
    free(t.y.data);
}

static void test_errors_and_registry(void)
{
    static const float scales3[] = { 1, 2, 2 };
    static const int64_t d3[] = { 3 };
    static const int32_t xi[] = { 1, 2, 3, 4 };
    static const float scales[] = { 1, 1, 2, 2 };
    static const int64_t d1[] = { 4 };
    tcase t;

    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_FLOAT, 4, D4, X22, false);
    set_in(&t, 2, QCAL_DT_FLOAT, 1, d3, scales3, true);
    QT_EQ_I64(run_case(&t, "Resize", 13), QCAL_E_INVALID);

    memset(&t, 0, sizeof t);
    set_in(&t, 0, QCAL_DT_INT32, 4, D4, xi, false);
    set_in(&t, 2, QCAL_DT_FLOAT, 1, d1, scales, true);
    attr_str(&t, "mode", "linear");
    QT_EQ_I64(run_case(&t, "Resize", 13), QCAL_E_UNSUPPORTED);

    QT_TRUE(qcal__op_find("Resize", 17) != NULL);
    QT_TRUE(qcal__op_find("Resize", 18) != NULL); /* antialias, axes, keep_aspect_ratio_policy */
    QT_TRUE(qcal__op_find("Resize", 9) == NULL);
    QT_TRUE(qcal__op_find("Upsample", 9) != NULL);
    QT_TRUE(qcal__op_find("Upsample", 10) == NULL);
}

int main(void)
{
    QT_RUN(test_nearest_asymmetric_2x2_to_4x4);
    QT_RUN(test_upsample_attribute_forms);
    QT_RUN(test_bilinear_half_pixel);
    QT_RUN(test_bilinear_align_corners);
    QT_RUN(test_downsample_floor);
    QT_RUN(test_sizes_int8);
    QT_RUN(test_crop_and_resize_extrapolation);
    QT_RUN(test_cubic_rank1);
    QT_RUN(test_cubic_identity);
    QT_RUN(test_trilinear);
    QT_RUN(test_errors_and_registry);
    return qt_report();
}
