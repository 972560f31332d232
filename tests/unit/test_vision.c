/*
 * Unit tests of the sampling kernels (GridSample, AffineGrid, RoiAlign, MaxRoiPool, Col2Im,
 * CenterCropPad, DeformConv) on cases the ONNX backend tests leave out: padding modes at and
 * beyond the borders, rounding ties, far and NaN coordinates, opset-gated modes and refused
 * inputs. Every expected number is worked out by hand in the comments (from the formulas of
 * the ONNX spec), not taken from the code; tolerance 1e-6 where float rounding enters.
 */
#include "hnode.h"

/* Runs GridSample on X (1x1xHxW) at one grid point (gx, gy); returns Y[0], or -12345 when
 * infer refuses the node. */
static float gs1(int opset, const float *x, int64_t H, int64_t W, float gx, float gy,
                 const char *mode, const char *pad, int align)
{
    const int64_t xd[4] = { 1, 1, H, W }, gd[4] = { 1, 1, 1, 2 };
    const float g[2] = { gx, gy };
    qcal_error err = { 0 };
    float y = -12345.0f;
    hnode h;

    h_init(&h, "GridSample", opset, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, xd, x, false);
    h_in(&h, QCAL_DT_FLOAT, 4, gd, g, false);
    h_str(&h, "mode", mode);
    h_str(&h, "padding_mode", pad);
    h_int(&h, "align_corners", align);
    if (h_run(&h, &err) == QCAL_OK)
        y = ((const float *)h.out[0]->data)[0];
    h_fini(&h);
    return y;
}

/*
 * X = [[1, 2], [3, 4]], align_corners 0, so pixel = ((g + 1) * 2 - 1) / 2 and the reflection
 * borders are [-0.5, 1.5].
 */
static void test_gridsample_borders(void)
{
    const float x[4] = { 1, 2, 3, 4 };

    /* border: gx -1.5 -> px -1 < -0.5 -> clamped to 0; gy 0 -> py 0.5: (1 + 3) / 2. */
    QT_NEAR(gs1(20, x, 2, 2, -1.5f, 0.0f, "linear", "border", 0), 2.0, 1e-6);
    /* reflection: gx 1.5 -> px 2 -> 1.5 - 0.5 = 1; gy -1 -> py -0.5, taps -1 (mirrored to 0)
     * and 0 at 0.5 each: row 0, so X[0][1] = 2. */
    QT_NEAR(gs1(20, x, 2, 2, 1.5f, -1.0f, "linear", "reflection", 0), 2.0, 1e-6);
    /* zeros: gx 1 -> px 1.5: taps 1 (0.5) and 2 (outside, 0); py 0.5: 0.25 * (2 + 4). */
    QT_NEAR(gs1(20, x, 2, 2, 1.0f, 0.0f, "linear", "zeros", 0), 1.5, 1e-6);
    /* nearest ties go to even: (0.5, 0.5) -> (0, 0) = 1; px 1.5 -> 2, outside: zeros 0, border
     * clamps to 1: X[0][1] = 2. */
    QT_NEAR(gs1(20, x, 2, 2, 0.0f, 0.0f, "nearest", "zeros", 0), 1.0, 0);
    QT_NEAR(gs1(20, x, 2, 2, 1.0f, 0.0f, "nearest", "zeros", 0), 0.0, 0);
    QT_NEAR(gs1(20, x, 2, 2, 1.0f, 0.0f, "nearest", "border", 0), 2.0, 0);
    /* align_corners 1: g = +-1 are the corner centres: (1, 1) -> X[1][1] = 4. */
    QT_NEAR(gs1(20, x, 2, 2, 1.0f, 1.0f, "linear", "zeros", 1), 4.0, 1e-6);
    /* Far and NaN coordinates read nothing outside: zeros gives 0, border the edge pixel. */
    QT_NEAR(gs1(20, x, 2, 2, 1e30f, 0.0f, "linear", "zeros", 0), 0.0, 0);
    QT_NEAR(gs1(20, x, 2, 2, -1e30f, -1e30f, "cubic", "border", 0), 1.0, 1e-6);
    /* Reflection folds 1e30 (an even number of ranges past 1.5) to 1.5 itself: cubic taps
     * 0, 1, 2 -> 1, 3 -> 0 with weights (-0.09375, 0.59375, 0.59375, -0.09375) give per row
     * 1.1875 * X[r][1] - 0.1875 * X[r][0] = (2.1875, 4.1875), then 1.1875 * 4.1875 - 0.1875 *
     * 2.1875 = 4.5625. */
    QT_NEAR(gs1(20, x, 2, 2, 1e30f, 1e30f, "cubic", "reflection", 0), 4.5625, 1e-5);
    QT_NEAR(gs1(20, x, 2, 2, NAN, 0.0f, "linear", "zeros", 0), 0.0, 0);
}

/* Keys cubic (a = -0.75) at t = 0.5 has weights (-0.09375, 0.59375, 0.59375, -0.09375):
 * on X = [0, 1, 8, 27] (1x4) at px 1.5 (gx 0) the value is 0.59375 * 9 - 0.09375 * 27 =
 * 2.8125; with H = 1 and py 0 the row weights are (0, 1, 0, 0). A constant image stays constant
 * under border padding (the weights sum to 1). */
static void test_gridsample_cubic(void)
{
    const float x[4] = { 0, 1, 8, 27 }, c[6] = { 5, 5, 5, 5, 5, 5 };

    QT_NEAR(gs1(20, x, 1, 4, 0.0f, 0.0f, "cubic", "zeros", 0), 2.8125, 1e-6);
    QT_NEAR(gs1(16, x, 1, 4, 0.0f, 0.0f, "bicubic", "zeros", 0), 2.8125, 1e-6);
    QT_NEAR(gs1(20, c, 2, 3, -0.93f, 0.71f, "cubic", "border", 0), 5.0, 1e-5);
    QT_NEAR(gs1(20, c, 2, 3, 0.37f, -1.2f, "cubic", "border", 1), 5.0, 1e-5);
}

/* Opset 16 knows bilinear/bicubic and 4-D only; opset 20 linear/cubic. */
static void test_gridsample_opsets(void)
{
    const float x[8] = { 0 }, g[3] = { 0 };
    const int64_t xd5[5] = { 1, 1, 2, 2, 2 }, gd5[5] = { 1, 1, 1, 1, 3 };
    qcal_error err = { 0 };
    hnode h;

    QT_NEAR(gs1(16, x, 2, 2, 0.0f, 0.0f, "linear", "zeros", 0), -12345.0, 0);
    QT_NEAR(gs1(20, x, 2, 2, 0.0f, 0.0f, "bilinear", "zeros", 0), -12345.0, 0);
    QT_NEAR(gs1(20, x, 2, 2, 0.0f, 0.0f, "linear", "wrap", 0), -12345.0, 0);
    h_init(&h, "GridSample", 16, 1);
    h_in(&h, QCAL_DT_FLOAT, 5, xd5, x, false);
    h_in(&h, QCAL_DT_FLOAT, 5, gd5, g, false);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_SHAPE);
    QT_TRUE(strstr(err.msg, "node 'test' (GridSample)") != NULL);
    h_fini(&h);
    /* 3-D at opset 20: the centre of a 2x2x2 cube of 0..7 averages to 3.5. */
    {
        float x8[8];
        for (int i = 0; i < 8; i++)
            x8[i] = (float)i;
        h_init(&h, "GridSample", 20, 1);
        h_in(&h, QCAL_DT_FLOAT, 5, xd5, x8, false);
        h_in(&h, QCAL_DT_FLOAT, 5, gd5, g, false);
        QT_OK(h_run(&h, &err));
        QT_NEAR(((const float *)h.out[0]->data)[0], 3.5, 1e-6);
        h_fini(&h);
    }
}

/* AffineGrid of the identity on a 1x1x2x3 size, align_corners 0: x at pixel centres
 * (-2/3, 0, 2/3), y at (-1/2, 1/2); with align_corners 1 and a 1-pixel dim the coordinate is -1
 * (the ONNX reference's arange). A translation adds to every point. */
static void test_affine_grid(void)
{
    const int64_t td[3] = { 1, 2, 3 }, sd[1] = { 4 };
    const float theta[6] = { 1, 0, 0.25f, 0, 1, 0 };
    const int64_t size[4] = { 1, 1, 2, 3 }, size1[4] = { 1, 1, 1, 2 };
    const float want_x[3] = { -2.0f / 3.0f, 0.0f, 2.0f / 3.0f }, want_y[2] = { -0.5f, 0.5f };
    qcal_error err = { 0 };
    const float *g;
    hnode h;

    h_init(&h, "AffineGrid", 20, 1);
    h_in(&h, QCAL_DT_FLOAT, 3, td, theta, false);
    h_in(&h, QCAL_DT_INT64, 1, sd, size, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->nelem, 12);
    g = h.out[0]->data;
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++) {
            QT_NEAR(g[(y * 3 + x) * 2], want_x[x] + 0.25f, 1e-6);
            QT_NEAR(g[(y * 3 + x) * 2 + 1], (double)want_y[y], 1e-6);
        }
    h_fini(&h);

    h_init(&h, "AffineGrid", 20, 1);
    h_in(&h, QCAL_DT_FLOAT, 3, td, theta, false);
    h_in(&h, QCAL_DT_INT64, 1, sd, size1, true);
    h_int(&h, "align_corners", 1);
    QT_OK(h_run(&h, &err));
    g = h.out[0]->data;
    QT_NEAR(g[0], -1.0 + 0.25, 1e-6);
    QT_NEAR(g[1], -1.0, 1e-6);
    QT_NEAR(g[2], 1.0 + 0.25, 1e-6);
    h_fini(&h);
}

/* Runs RoiAlign (1x1 output, sampling_ratio 2) on the 4x4 ramp X[y][x] = x for one ROI;
 * ctm NULL leaves the attribute out. */
static float roialign1(int opset, const float *roi, const char *ctm, const char *mode)
{
    const int64_t xd[4] = { 1, 1, 4, 4 }, rd[2] = { 1, 4 }, bd[1] = { 1 };
    const int64_t bi[1] = { 0 };
    float x[16], y = -12345.0f;
    qcal_error err = { 0 };
    hnode h;

    for (int i = 0; i < 16; i++)
        x[i] = (float)(i % 4);
    h_init(&h, "RoiAlign", opset, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, xd, x, false);
    h_in(&h, QCAL_DT_FLOAT, 2, rd, roi, false);
    h_in(&h, QCAL_DT_INT64, 1, bd, bi, false);
    h_int(&h, "sampling_ratio", 2);
    h_str(&h, "mode", mode);
    if (ctm)
        h_str(&h, "coordinate_transformation_mode", ctm);
    if (h_run(&h, &err) == QCAL_OK)
        y = ((const float *)h.out[0]->data)[0];
    h_fini(&h);
    return y;
}

/* On a ramp bilinear samples return their x, so avg is the mean sample x. ROI x 1..3:
 * half_pixel shifts it to 0.5..2.5, samples at 1 and 2 -> 1.5; output_half_pixel (opset 10's
 * only behaviour) samples 1.5 and 2.5 -> 2. A ROI beyond the map (x >= 10) reads nothing: 0. */
static void test_roialign_modes(void)
{
    const float roi[4] = { 1, 1, 3, 3 }, far[4] = { 10, 0, 12, 2 };

    QT_NEAR(roialign1(16, roi, NULL, "avg"), 1.5, 1e-6);
    QT_NEAR(roialign1(16, roi, "half_pixel", "avg"), 1.5, 1e-6);
    QT_NEAR(roialign1(16, roi, "output_half_pixel", "avg"), 2.0, 1e-6);
    QT_NEAR(roialign1(10, roi, NULL, "avg"), 2.0, 1e-6);
    QT_NEAR(roialign1(16, far, "output_half_pixel", "avg"), 0.0, 0);
    QT_NEAR(roialign1(16, roi, "corner", "avg"), -12345.0, 0);
    /* max mode: the largest weighted corner per sample; at x = 2.5 (y = 1.5) the corners
     * weigh 0.25 each: max(0.25 * 2, 0.25 * 3) = 0.75; at x = 1.5 it is 0.5: so 0.75. */
    QT_NEAR(roialign1(16, roi, "output_half_pixel", "max"), 0.75, 1e-6);
}

/* A constant batch index outside [0, N) is refused naming the node; a per-sample one fails
 * the run (run_error) with zeros for that ROI. */
static void test_roi_batch_refused(void)
{
    const int64_t xd[4] = { 1, 1, 4, 4 }, rd[2] = { 1, 4 }, bd[1] = { 1 }, rd5[2] = { 1, 5 };
    const int64_t bi[1] = { 1 };
    const float x[16] = { 0 }, roi[4] = { 0, 0, 1, 1 }, roi5[5] = { -1, 0, 0, 1, 1 };
    int64_t pooled[2] = { 1, 1 };
    qcal_error err = { 0 };
    hnode h;

    h_init(&h, "RoiAlign", 16, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, xd, x, false);
    h_in(&h, QCAL_DT_FLOAT, 2, rd, roi, false);
    h_in(&h, QCAL_DT_INT64, 1, bd, bi, true);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "node 'test' (RoiAlign)") != NULL);
    h_fini(&h);

    h_init(&h, "MaxRoiPool", 1, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, xd, x, false);
    h_in(&h, QCAL_DT_FLOAT, 2, rd5, roi5, true);
    h_ints(&h, "pooled_shape", pooled, 2);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "node 'test' (MaxRoiPool)") != NULL);
    h_fini(&h);

    h_init(&h, "RoiAlign", 16, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, xd, x, false);
    h_in(&h, QCAL_DT_FLOAT, 2, rd, roi, false);
    h_in(&h, QCAL_DT_INT64, 1, bd, bi, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_STR(h.n.run_error, "ROI batch index out of range");
    QT_NEAR(((const float *)h.out[0]->data)[0], 0.0, 0);
    h_fini(&h);

    h_init(&h, "MaxRoiPool", 1, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, xd, x, false);
    h_in(&h, QCAL_DT_FLOAT, 2, rd5, roi5, false);
    h_ints(&h, "pooled_shape", pooled, 2);
    QT_OK(h_run(&h, &err));
    QT_EQ_STR(h.n.run_error, "ROI batch index out of range");
    h_fini(&h);
}

/* MaxRoiPool on X = 1..16 (4x4). ROI (0,0)-(3,3) in 2x2 bins of 2 pixels: maxima X[1][1] = 6,
 * X[1][3] = 8, X[3][1] = 14, X[3][3] = 16. ROI (-0.5,-0.5)-(0.4,0.4) rounds half away from zero
 * to -1..0 (2 pixels, bins of 1): bin (0, 0) covers [-1, 0) -> empty -> 0, bin (1, 1) is X[0][0]
 * = 1 (rounding -0.5 up to 0 would make bin (0, 0) = 1). */
static void test_maxroipool(void)
{
    const int64_t xd[4] = { 1, 1, 4, 4 }, rd[2] = { 2, 5 };
    const float roi[10] = { 0, 0, 0, 3, 3, 0, -0.5f, -0.5f, 0.4f, 0.4f };
    const float want[8] = { 6, 8, 14, 16, 0, 0, 0, 1 };
    int64_t pooled[2] = { 2, 2 };
    qcal_error err = { 0 };
    float x[16];
    hnode h;

    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
    h_init(&h, "MaxRoiPool", 1, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, xd, x, false);
    h_in(&h, QCAL_DT_FLOAT, 2, rd, roi, false);
    h_ints(&h, "pooled_shape", pooled, 2);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want, sizeof want);
    h_fini(&h);
}

/* Col2Im 1-D: image 4, block 2, pads (1, 1), dilation 2, stride 2: 2 block positions; pixel
 * c = 2l - 1 + 2k: (l, k) = (0, 0) -> -1 (dropped), (1, 0) and (0, 1) -> 1, (1, 1) -> 3. With
 * rows k0 = (a0, a1) = (1, 2), k1 = (b0, b1) = (10, 20): image (0, a1 + b0, 0, b1). */
static void test_col2im_1d(void)
{
    const int64_t xd[3] = { 1, 2, 2 }, sd[1] = { 1 };
    const float x[4] = { 1, 2, 10, 20 }, want[4] = { 0, 12, 0, 20 };
    const int64_t img[1] = { 4 }, blk[1] = { 2 }, big[1] = { 7 }, huge[1] = { INT64_MAX };
    int64_t pads[2] = { 1, 1 }, dil[1] = { 2 }, str[1] = { 2 };
    const int64_t *bad[2] = { big, huge };
    qcal_error err = { 0 };
    hnode h;

    h_init(&h, "Col2Im", 18, 1);
    h_in(&h, QCAL_DT_FLOAT, 3, xd, x, false);
    h_in(&h, QCAL_DT_INT64, 1, sd, img, true);
    h_in(&h, QCAL_DT_INT64, 1, sd, blk, true);
    h_ints(&h, "pads", pads, 2);
    h_ints(&h, "dilations", dil, 1);
    h_ints(&h, "strides", str, 1);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->rank, 3);
    QT_EQ_I64(h.out[0]->dims[2], 4);
    QT_EQ_MEM(h.out[0]->data, want, sizeof want);
    h_fini(&h);

    /* A block larger than the padded image, and an absurd one, are refused. */
    for (int i = 0; i < 2; i++) {
        h_init(&h, "Col2Im", 18, 1);
        h_in(&h, QCAL_DT_FLOAT, 3, xd, x, false);
        h_in(&h, QCAL_DT_INT64, 1, sd, img, true);
        h_in(&h, QCAL_DT_INT64, 1, sd, bad[i], true);
        QT_TRUE(h_run(&h, &err) != QCAL_OK);
        QT_TRUE(strstr(err.msg, "node 'test' (Col2Im)") != NULL);
        h_fini(&h);
    }
}

/* CenterCropPad on int64 (1..5): to 2 crops from (5 - 2) / 2 = 1 -> (2, 3); to 8 pads
 * (8 - 5) / 2 = 1 before and 2 after. A negative size is refused. */
static void test_center_crop_pad(void)
{
    const int64_t xd[1] = { 5 }, sd[1] = { 1 };
    const int64_t x[5] = { 1, 2, 3, 4, 5 }, s2[1] = { 2 }, s8[1] = { 8 }, sneg[1] = { -1 };
    const int64_t want2[2] = { 2, 3 }, want8[8] = { 0, 1, 2, 3, 4, 5, 0, 0 };
    qcal_error err = { 0 };
    hnode h;

    h_init(&h, "CenterCropPad", 18, 1);
    h_in(&h, QCAL_DT_INT64, 1, xd, x, false);
    h_in(&h, QCAL_DT_INT64, 1, sd, s2, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want2, sizeof want2);
    h_fini(&h);

    h_init(&h, "CenterCropPad", 18, 1);
    h_in(&h, QCAL_DT_INT64, 1, xd, x, false);
    h_in(&h, QCAL_DT_INT64, 1, sd, s8, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want8, sizeof want8);
    h_fini(&h);

    h_init(&h, "CenterCropPad", 18, 1);
    h_in(&h, QCAL_DT_INT64, 1, xd, x, false);
    h_in(&h, QCAL_DT_INT64, 1, sd, sneg, true);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
    h_fini(&h);
}

/* Runs DeformConv on X = 1..9 (3x3, X[i][j] = 3i + j + 1) with the diagonal 2x2 kernel
 * (1, 0, 0, 1): out[i][j] = s(i, j) + s(i + 1, j + 1) where s samples X at the tap moved by its
 * offset. dw is every tap's width offset; mask/bias optional. Returns infer's status. */
static qcal_status deform1(float dw, const float *mask, const float *bias, float *y,
                           const int64_t *od)
{
    const int64_t xd[4] = { 1, 1, 3, 3 }, wd[4] = { 1, 1, 2, 2 }, md[4] = { 1, 4, 2, 2 };
    const int64_t bd[1] = { 1 };
    const float w[4] = { 1, 0, 0, 1 };
    float x[9], off[32] = { 0 };
    qcal_error err = { 0 };
    qcal_status st;
    hnode h;

    for (int i = 0; i < 9; i++)
        x[i] = (float)(i + 1);
    /* Channel (k * 2 + 1) holds tap k's width offset at the 4 output positions. */
    for (int k = 0; k < 4; k++)
        for (int q = 0; q < 4; q++)
            off[(k * 2 + 1) * 4 + q] = dw;
    h_init(&h, "DeformConv", 19, 1);
    h_in(&h, QCAL_DT_FLOAT, 4, xd, x, false);
    h_in(&h, QCAL_DT_FLOAT, 4, wd, w, true);
    h_in(&h, QCAL_DT_FLOAT, 4, od, off, false);
    if (bias || mask)
        h_in(&h, QCAL_DT_FLOAT, 1, bd, bias, true);
    if (mask)
        h_in(&h, QCAL_DT_FLOAT, 4, md, mask, false);
    if (!bias && mask)
        h.in[3] = NULL; /* omitted optional B */
    st = h_run(&h, &err);
    if (st == QCAL_OK)
        memcpy(y, h.out[0]->data, 4 * sizeof *y);
    h_fini(&h);
    return st;
}

/* Zero offsets: a plain convolution, X[i][j] + X[i+1][j+1] = (6, 8, 12, 14). Width offsets of
 * 0.5 sample halfway: s = 3i + j + 1.5 inside, and a tap at column 2.5 reads 0.5 * X[i][2]
 * (the other neighbour is outside, 0): (1.5 + 5.5, 2.5 + 3, 4.5 + 8.5, 5.5 + 4.5). A mask of 0.5
 * with bias 1 gives 0.5 * conv + 1. A wrongly shaped offset is refused. */
static void test_deform_conv(void)
{
    const int64_t od[4] = { 1, 8, 2, 2 }, bad[4] = { 1, 6, 2, 2 };
    const float want0[4] = { 6, 8, 12, 14 }, want5[4] = { 7, 5.5f, 13, 10 };
    const float wantm[4] = { 4, 5, 7, 8 }, one[1] = { 1 };
    float mask[16], y[4];

    for (int i = 0; i < 16; i++)
        mask[i] = 0.5f;
    QT_OK(deform1(0.0f, NULL, NULL, y, od));
    for (int i = 0; i < 4; i++)
        QT_NEAR(y[i], (double)want0[i], 1e-6);
    QT_OK(deform1(0.5f, NULL, NULL, y, od));
    for (int i = 0; i < 4; i++)
        QT_NEAR(y[i], (double)want5[i], 1e-6);
    QT_OK(deform1(0.0f, mask, one, y, od));
    for (int i = 0; i < 4; i++)
        QT_NEAR(y[i], (double)wantm[i], 1e-6);
    QT_OK(deform1(0.0f, NULL, one, y, od));
    for (int i = 0; i < 4; i++)
        QT_NEAR(y[i], (double)want0[i] + 1.0, 1e-6);
    QT_EQ_I64(deform1(0.0f, NULL, NULL, y, bad), QCAL_E_SHAPE);
}

int main(void)
{
    QT_RUN(test_gridsample_borders);
    QT_RUN(test_gridsample_cubic);
    QT_RUN(test_gridsample_opsets);
    QT_RUN(test_affine_grid);
    QT_RUN(test_roialign_modes);
    QT_RUN(test_roi_batch_refused);
    QT_RUN(test_maxroipool);
    QT_RUN(test_col2im_1d);
    QT_RUN(test_center_crop_pad);
    QT_RUN(test_deform_conv);
    return qt_report();
}
