/*
 * Unit tests of the spectral families (spectral.c: DFT, STFT; window.c: Hann/Hamming/Blackman
 * windows, MelWeightMatrix) on hand-computed transforms. float64 cases are checked to 1e-12
 * (the kernels sum in double), float32 ones to the float32 rounding of the exact value.
 */
#include "hnode.h"
#include "qtest.h"

/* DFT of the real signal (1, 2, 3, 4): (10, -2 + 2i, -2, -2 - 2i); onesided keeps 3 bins. */
static void test_dft_real_onesided(void)
{
    const double x[4] = { 1, 2, 3, 4 };
    const double want[8] = { 10, 0, -2, 2, -2, 0, -2, -2 };
    const int64_t dims[3] = { 1, 4, 1 };
    const double *y;
    qcal_error err;
    hnode h;

    h_init(&h, "DFT", 17, 1);
    h_in(&h, QCAL_DT_DOUBLE, 3, dims, x, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[1], 4);
    QT_EQ_I64(h.out[0]->dims[2], 2);
    y = h.out[0]->data;
    for (int i = 0; i < 8; i++)
        QT_NEAR(y[i], want[i], 1e-12);
    h_fini(&h);

    h_init(&h, "DFT", 17, 1);
    h_in(&h, QCAL_DT_DOUBLE, 3, dims, x, false);
    h_int(&h, "onesided", 1);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[1], 3);
    y = h.out[0]->data;
    for (int i = 0; i < 6; i++)
        QT_NEAR(y[i], want[i], 1e-12);
    h_fini(&h);
}

/*
 * The inverse of (10, -2 + 2i, -2, -2 - 2i) is (1, 2, 3, 4) with zero imaginary parts (1e-12:
 * the ONNX 1.17 test_dft_inverse data carry float32 FFT noise of 2e-7 there instead). Opset 20,
 * axis as input -2 on [1, 4, 2].
 */
static void test_dft_inverse_axis_input(void)
{
    const double x[8] = { 10, 0, -2, 2, -2, 0, -2, -2 };
    const int64_t dims[3] = { 1, 4, 2 }, axis = -2;
    const double *y;
    qcal_error err;
    hnode h;

    h_init(&h, "DFT", 20, 1);
    h_in(&h, QCAL_DT_DOUBLE, 3, dims, x, false);
    h_skip(&h);
    h_in(&h, QCAL_DT_INT64, 0, NULL, &axis, true);
    h_int(&h, "inverse", 1);
    QT_OK(h_run(&h, &err));
    y = h.out[0]->data;
    for (int i = 0; i < 4; i++) {
        QT_NEAR(y[2 * i], i + 1, 1e-12);
        QT_NEAR(y[2 * i + 1], 0.0, 1e-12);
    }
    h_fini(&h);

    /* Axis -1 (the complex dim) is refused. */
    {
        const int64_t bad = -1;
        h_init(&h, "DFT", 20, 1);
        h_in(&h, QCAL_DT_DOUBLE, 3, dims, x, false);
        h_skip(&h);
        h_in(&h, QCAL_DT_INT64, 0, NULL, &bad, true);
        QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
        h_fini(&h);
    }
}

/*
 * dft_length pads and truncates along axis 1 of [1, 3, 1] float32: (1, 2, 3) with length 4 is
 * the DFT of (1, 2, 3, 0) = (6, -2 - 2i, 2, -2 + 2i); length 2 uses (1, 2): (3, -1).
 */
static void test_dft_length(void)
{
    const float x[3] = { 1, 2, 3 };
    const float want4[8] = { 6, 0, -2, -2, 2, 0, -2, 2 }, want2[4] = { 3, 0, -1, 0 };
    const int64_t dims[3] = { 1, 3, 1 };
    int64_t len = 4;
    const float *y;
    qcal_error err;
    hnode h;

    h_init(&h, "DFT", 19, 1);
    h_in(&h, QCAL_DT_FLOAT, 3, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 0, NULL, &len, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[1], 4);
    y = h.out[0]->data;
    for (int i = 0; i < 8; i++)
        QT_NEAR(y[i], want4[i], 1e-6);
    h_fini(&h);

    len = 2;
    h_init(&h, "DFT", 19, 1);
    h_in(&h, QCAL_DT_FLOAT, 3, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 0, NULL, &len, true);
    QT_OK(h_run(&h, &err));
    y = h.out[0]->data;
    for (int i = 0; i < 4; i++)
        QT_NEAR(y[i], want2[i], 1e-6);
    h_fini(&h);
}

/*
 * STFT of (0, 1, 2, 3, 4, 5), frame_length 4, step 2: frames (0, 1, 2, 3) -> (6, -2 + 2i, -2) and
 * (2, 3, 4, 5) -> (14, -2 + 2i, -2), onesided by default. With a window (0, 1, 1, 0) and
 * onesided 0, frame 0 is (0, 1, 2, 0) -> (3, -2 - 1i, 1, -2 + 1i).
 */
static void test_stft(void)
{
    const double x[6] = { 0, 1, 2, 3, 4, 5 }, win[4] = { 0, 1, 1, 0 };
    const double want[12] = { 6, 0, -2, 2, -2, 0, 14, 0, -2, 2, -2, 0 };
    const double want_w[8] = { 3, 0, -2, -1, 1, 0, -2, 1 };
    const int64_t dims[3] = { 1, 6, 1 }, four[1] = { 4 }, step = 2, len = 4;
    const double *y;
    qcal_error err;
    hnode h;

    h_init(&h, "STFT", 17, 1);
    h_in(&h, QCAL_DT_DOUBLE, 3, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 0, NULL, &step, true);
    h_skip(&h);
    h_in(&h, QCAL_DT_INT64, 0, NULL, &len, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[1], 2);
    QT_EQ_I64(h.out[0]->dims[2], 3);
    y = h.out[0]->data;
    for (int i = 0; i < 12; i++)
        QT_NEAR(y[i], want[i], 1e-12);
    h_fini(&h);

    h_init(&h, "STFT", 17, 1);
    h_in(&h, QCAL_DT_DOUBLE, 3, dims, x, false);
    h_in(&h, QCAL_DT_INT64, 0, NULL, &step, true);
    h_in(&h, QCAL_DT_DOUBLE, 1, four, win, false);
    h_int(&h, "onesided", 0);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[2], 4);
    y = h.out[0]->data;
    for (int i = 0; i < 8; i++)
        QT_NEAR(y[i], want_w[i], 1e-12);
    h_fini(&h);

    /* A frame longer than the signal is refused. */
    {
        const int64_t big = 7;
        h_init(&h, "STFT", 17, 1);
        h_in(&h, QCAL_DT_DOUBLE, 3, dims, x, false);
        h_in(&h, QCAL_DT_INT64, 0, NULL, &step, true);
        h_skip(&h);
        h_in(&h, QCAL_DT_INT64, 0, NULL, &big, true);
        QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
        h_fini(&h);
    }
}

/* Runs a window op of size (int32) with periodic and output_datatype; returns the node. */
static void run_window(hnode *h, const char *op, const int32_t *size, int periodic,
                       int64_t out_dt)
{
    qcal_error err;

    h_init(h, op, 17, 1);
    h_in(h, QCAL_DT_INT32, 0, NULL, size, true);
    h_int(h, "periodic", periodic);
    h_int(h, "output_datatype", out_dt);
    QT_OK(h_run(h, &err));
}

/*
 * Hann periodic size 4: 0.5 - 0.5 cos(pi n / 2) = (0, 0.5, 1, 0.5). Symmetric size 1: (1).
 * Hamming symmetric size 2: 25/46 - 21/46 cos(2 pi n) = (4/46, 4/46). Blackman periodic size 4:
 * (0.42 - 0.5 + 0.08, 0.42 - 0.08, 0.42 + 0.5 + 0.08, 0.34) = (0, 0.34, 1, 0.34), float64.
 */
static void test_windows(void)
{
    const int32_t four = 4, one = 1, two = 2;
    const double *d;
    const float *f;
    hnode h;

    run_window(&h, "HannWindow", &four, 1, QCAL_DT_FLOAT);
    f = h.out[0]->data;
    QT_EQ_I64(h.out[0]->dims[0], 4);
    QT_NEAR(f[0], 0.0, 1e-7);
    QT_NEAR(f[1], 0.5, 1e-7);
    QT_NEAR(f[2], 1.0, 1e-7);
    QT_NEAR(f[3], 0.5, 1e-7);
    h_fini(&h);

    run_window(&h, "HannWindow", &one, 0, QCAL_DT_FLOAT);
    QT_EQ_F32_BITS(((const float *)h.out[0]->data)[0], 1.0f);
    h_fini(&h);

    run_window(&h, "HammingWindow", &two, 0, QCAL_DT_DOUBLE);
    QT_EQ_I64(h.out[0]->dtype, QCAL_DT_DOUBLE);
    d = h.out[0]->data;
    QT_NEAR(d[0], 4.0 / 46.0, 1e-15);
    QT_NEAR(d[1], 4.0 / 46.0, 1e-15);
    h_fini(&h);

    run_window(&h, "BlackmanWindow", &four, 1, QCAL_DT_DOUBLE);
    d = h.out[0]->data;
    QT_NEAR(d[0], 0.0, 1e-15);
    QT_NEAR(d[1], 0.34, 1e-15);
    QT_NEAR(d[2], 1.0, 1e-15);
    QT_NEAR(d[3], 0.34, 1e-15);
    h_fini(&h);

    {
        qcal_error err;
        h_init(&h, "HannWindow", 17, 1);
        h_in(&h, QCAL_DT_INT32, 0, NULL, &four, true);
        h_int(&h, "output_datatype", QCAL_DT_INT8);
        QT_EQ_I64(h_run(&h, &err), QCAL_E_UNSUPPORTED);
        h_fini(&h);
    }
}

/*
 * MelWeightMatrix(num_mel_bins 1, dft_length 8, sample_rate 8000, 0 Hz, 2000 Hz): mel(2000) =
 * 2595 log10(1 + 2000/700) = 1521.4; points at 0, 507.1, 1014.2 mel = 0, 397.8, 1021.7 Hz
 * -> bins floor(9 f / 8000) = 0, 0, 1: filter 0 has low == center, so y[0] = 1,
 * then falls: y[0] = (1 - 0) / (1 - 0) = 1 again; all else 0. Output [5, 1]. An upper edge past
 * the last bin is refused.
 */
static void test_melweightmatrix(void)
{
    const int32_t mels = 1, dft = 8, rate = 8000;
    float lo = 0.0f, hi = 2000.0f, too_high = 40000.0f;
    const float *y;
    qcal_error err;
    hnode h;

    h_init(&h, "MelWeightMatrix", 17, 1);
    h_in(&h, QCAL_DT_INT32, 0, NULL, &mels, true);
    h_in(&h, QCAL_DT_INT32, 0, NULL, &dft, true);
    h_in(&h, QCAL_DT_INT32, 0, NULL, &rate, true);
    h_in(&h, QCAL_DT_FLOAT, 0, NULL, &lo, true);
    h_in(&h, QCAL_DT_FLOAT, 0, NULL, &hi, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[0], 5);
    QT_EQ_I64(h.out[0]->dims[1], 1);
    y = h.out[0]->data;
    QT_EQ_F32_BITS(y[0], 1.0f);
    for (int i = 1; i < 5; i++)
        QT_EQ_F32_BITS(y[i], 0.0f);
    h_fini(&h);

    h_init(&h, "MelWeightMatrix", 17, 1);
    h_in(&h, QCAL_DT_INT32, 0, NULL, &mels, true);
    h_in(&h, QCAL_DT_INT32, 0, NULL, &dft, true);
    h_in(&h, QCAL_DT_INT32, 0, NULL, &rate, true);
    h_in(&h, QCAL_DT_FLOAT, 0, NULL, &lo, true);
    h_in(&h, QCAL_DT_FLOAT, 0, NULL, &too_high, true);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
    h_fini(&h);
}

int main(void)
{
    QT_RUN(test_dft_real_onesided);
    QT_RUN(test_dft_inverse_axis_input);
    QT_RUN(test_dft_length);
    QT_RUN(test_stft);
    QT_RUN(test_windows);
    QT_RUN(test_melweightmatrix);
    return qt_report();
}
