/*
 * Unit tests of the recurrent family (rnn.c). The activations are chosen so that every value is
 * a short binary fraction and the expected numbers, worked out by hand in the comments, are
 * exact: HardSigmoid with alpha 0 and beta 0.5 makes every sigmoid gate 0.5, Affine(1, 0) is the
 * identity. Comparisons are bit for bit.
 */
#include "hnode.h"
#include "qtest.h"

static char *LSTM_ACTS[6] = { "HardSigmoid", "Affine", "Affine",
                              "hardsigmoid", "AFFINE", "Affine" };
static float LSTM_ALPHA[6] = { 0, 1, 1, 0, 1, 1 }, LSTM_BETA[6] = { 0.5f, 0, 0, 0.5f, 0, 0 };

/*
 * Bidirectional LSTM, input 1, hidden 1, batch 2, seq 3, sequence_lens (3, 2). Gates i = f = o =
 * 0.5, candidate c = x + H (Wc = Rc = 1, other weights 0): C = 0.5 C + 0.5 c, H = 0.5 C.
 * x for batch 0: 1, 2, 3; batch 1: 4, 8, 16 (its t = 2 is past its length).
 * Forward b0: (C, H) = (0.5, 0.25), (1.375, 0.6875), (2.53125, 1.265625).
 * Forward b1: (2, 1), (5.5, 2.75); Y[2] = 0.
 * Reverse b0 from t 2: (1.5, 0.75) at t2, (2.125, 1.0625) at t1, (2.09375, 1.046875) at t0.
 * Reverse b1 from t 1: (4, 2) at t1, (5, 2.5) at t0; Y[2] = 0.
 */
static void lstm_case(hnode *h, int layout, const float *x, const int64_t *xd)
{
    static const float w[8] = { 0, 0, 0, 1, 0, 0, 0, 1 };
    static const int32_t lens[2] = { 3, 2 };
    const int64_t wd[3] = { 2, 4, 1 }, ld[1] = { 2 };
    qcal_error err;

    h_init(h, "LSTM", 14, 3);
    h_in(h, QCAL_DT_FLOAT, 3, xd, x, false);
    h_in(h, QCAL_DT_FLOAT, 3, wd, w, true);
    h_in(h, QCAL_DT_FLOAT, 3, wd, w, true);
    h_skip(h);
    h_in(h, QCAL_DT_INT32, 1, ld, lens, false);
    h_int(h, "hidden_size", 1);
    h_int(h, "layout", layout);
    h_str(h, "direction", "bidirectional");
    h_strs(h, "activations", LSTM_ACTS, 6);
    h_floats(h, "activation_alpha", LSTM_ALPHA, 6);
    h_floats(h, "activation_beta", LSTM_BETA, 6);
    QT_OK(h_run(h, &err));
    QT_TRUE(h->n.run_error == NULL);
}

static void test_lstm_bidirectional_seq_lens(void)
{
    /* layout 0: X [seq, batch, 1], Y [seq, dir, batch, 1], Y_h [dir, batch, 1]. */
    const float x[6] = { 1, 4, 2, 8, 3, 16 };
    const float want_y[12] = { 0.25f, 1.0f, 1.046875f, 2.5f,       /* t0: fwd b0 b1, rev b0 b1 */
                               0.6875f, 2.75f, 1.0625f, 2.0f,      /* t1 */
                               1.265625f, 0.0f, 0.75f, 0.0f };     /* t2 */
    const float want_h[4] = { 1.265625f, 2.75f, 1.046875f, 2.5f };
    const float want_c[4] = { 2.53125f, 5.5f, 2.09375f, 5.0f };
    const int64_t xd[3] = { 3, 2, 1 };
    hnode h;

    lstm_case(&h, 0, x, xd);
    QT_EQ_I64(h.out[0]->nelem, 12);
    for (int i = 0; i < 12; i++)
        QT_EQ_F32_BITS(((const float *)h.out[0]->data)[i], want_y[i]);
    for (int i = 0; i < 4; i++) {
        QT_EQ_F32_BITS(((const float *)h.out[1]->data)[i], want_h[i]);
        QT_EQ_F32_BITS(((const float *)h.out[2]->data)[i], want_c[i]);
    }
    h_fini(&h);
}

/* The same case in layout 1: X [batch, seq, 1], Y [batch, seq, dir, 1], Y_h [batch, dir, 1]. */
static void test_lstm_layout1(void)
{
    const float x[6] = { 1, 2, 3, 4, 8, 16 };
    const float want_y[12] = { 0.25f, 1.046875f, 0.6875f, 1.0625f, 1.265625f, 0.75f, /* b0 */
                               1.0f, 2.5f, 2.75f, 2.0f, 0.0f, 0.0f };                 /* b1 */
    const float want_h[4] = { 1.265625f, 1.046875f, 2.75f, 2.5f };
    const int64_t xd[3] = { 2, 3, 1 };
    hnode h;

    lstm_case(&h, 1, x, xd);
    QT_EQ_I64(h.out[0]->dims[0], 2);
    QT_EQ_I64(h.out[0]->dims[1], 3);
    for (int i = 0; i < 12; i++)
        QT_EQ_F32_BITS(((const float *)h.out[0]->data)[i], want_y[i]);
    for (int i = 0; i < 4; i++)
        QT_EQ_F32_BITS(((const float *)h.out[1]->data)[i], want_h[i]);
    h_fini(&h);
}

/*
 * GRU, one step, x = 1, initial_h = 2, z = r = 0.5, g the identity, Wh = 1, Rh = 2, Rbh = 1:
 * linear_before_reset 0: h = 1 + (0.5 * 2) * 2 + 1 = 4, H = 0.5 * 4 + 0.5 * 2 = 3;
 * linear_before_reset 1: h = 1 + 0.5 * (2 * 2 + 1) = 3.5, H = 1.75 + 1 = 2.75.
 */
static void test_gru_linear_before_reset(void)
{
    static char *acts[2] = { "HardSigmoid", "Affine" };
    float alpha[2] = { 0, 1 }, beta[2] = { 0.5f, 0 };
    const float x[1] = { 1 }, w[3] = { 0, 0, 1 }, r[3] = { 0, 0, 2 }, h0[1] = { 2 };
    const float b[6] = { 0, 0, 0, 0, 0, 1 };
    const int64_t xd[3] = { 1, 1, 1 }, wd[3] = { 1, 3, 1 }, bd[2] = { 1, 6 };
    const float want[2] = { 3.0f, 2.75f };
    qcal_error err;
    hnode h;

    for (int lbr = 0; lbr < 2; lbr++) {
        h_init(&h, "GRU", 7, 2);
        h_in(&h, QCAL_DT_FLOAT, 3, xd, x, false);
        h_in(&h, QCAL_DT_FLOAT, 3, wd, w, true);
        h_in(&h, QCAL_DT_FLOAT, 3, wd, r, true);
        h_in(&h, QCAL_DT_FLOAT, 2, bd, b, true);
        h_skip(&h);
        h_in(&h, QCAL_DT_FLOAT, 3, xd, h0, false);
        h_int(&h, "hidden_size", 1);
        h_int(&h, "linear_before_reset", lbr);
        h_strs(&h, "activations", acts, 2);
        h_floats(&h, "activation_alpha", alpha, 2);
        h_floats(&h, "activation_beta", beta, 2);
        QT_OK(h_run(&h, &err));
        QT_EQ_F32_BITS(((const float *)h.out[0]->data)[0], want[lbr]);
        QT_EQ_F32_BITS(((const float *)h.out[1]->data)[0], want[lbr]);
        h_fini(&h);
    }
}

/*
 * RNN with clip 2 and the identity: x = (5, -1), W = 1, R = 1: H1 = clip(5) = 2,
 * H2 = clip(-1 + 2) = 1. Reverse: H at t1 = -1, then clip(5 - 1) = 2. A sequence length above
 * seq_length fails the run; a length of 0 leaves initial_h (0) and Y at 0.
 */
static void test_rnn_clip_reverse_bad_len(void)
{
    static char *acts[1] = { "Affine" };
    float alpha[1] = { 1 }, beta[1] = { 0 };
    const float x[2] = { 5, -1 }, w[1] = { 1 };
    const int64_t xd[3] = { 2, 1, 1 }, wd[3] = { 1, 1, 1 }, ld[1] = { 1 };
    const int32_t bad[1] = { 3 }, zero[1] = { 0 };
    const char *dirs[2] = { "forward", "reverse" };
    const float want[2][2] = { { 2, 1 }, { 2, -1 } };
    qcal_error err;
    hnode h;

    for (int d = 0; d < 2; d++) {
        h_init(&h, "RNN", 7, 2);
        h_in(&h, QCAL_DT_FLOAT, 3, xd, x, false);
        h_in(&h, QCAL_DT_FLOAT, 3, wd, w, true);
        h_in(&h, QCAL_DT_FLOAT, 3, wd, w, true);
        h_int(&h, "hidden_size", 1);
        h_float(&h, "clip", 2.0f);
        h_str(&h, "direction", dirs[d]);
        h_strs(&h, "activations", acts, 1);
        h_floats(&h, "activation_alpha", alpha, 1);
        h_floats(&h, "activation_beta", beta, 1);
        QT_OK(h_run(&h, &err));
        QT_EQ_F32_BITS(((const float *)h.out[0]->data)[0], want[d][0]);
        QT_EQ_F32_BITS(((const float *)h.out[0]->data)[1], want[d][1]);
        QT_EQ_F32_BITS(((const float *)h.out[1]->data)[0], d ? 2.0f : 1.0f);
        h_fini(&h);
    }
    for (int k = 0; k < 2; k++) {
        h_init(&h, "RNN", 7, 2);
        h_in(&h, QCAL_DT_FLOAT, 3, xd, x, false);
        h_in(&h, QCAL_DT_FLOAT, 3, wd, w, true);
        h_in(&h, QCAL_DT_FLOAT, 3, wd, w, true);
        h_skip(&h);
        h_in(&h, QCAL_DT_INT32, 1, ld, k ? zero : bad, false);
        h_int(&h, "hidden_size", 1);
        QT_OK(h_run(&h, &err));
        QT_TRUE(k ? h.n.run_error == NULL : h.n.run_error != NULL);
        QT_EQ_F32_BITS(((const float *)h.out[0]->data)[0], 0.0f);
        QT_EQ_F32_BITS(((const float *)h.out[1]->data)[0], 0.0f);
        h_fini(&h);
    }
}

/* Shape checks: W of the wrong gate count and an unknown activation are refused. */
static void test_rnn_refusals(void)
{
    static char *acts[1] = { "Gelu" };
    const float x[2] = { 0 }, w[4] = { 0 };
    const int64_t xd[3] = { 2, 1, 1 }, wd1[3] = { 1, 1, 1 }, wd3[3] = { 1, 3, 1 };
    const int64_t wd4[3] = { 1, 4, 1 };
    qcal_error err;
    hnode h;

    h_init(&h, "LSTM", 7, 2);
    h_in(&h, QCAL_DT_FLOAT, 3, xd, x, false);
    h_in(&h, QCAL_DT_FLOAT, 3, wd3, w, true);
    h_in(&h, QCAL_DT_FLOAT, 3, wd3, w, true);
    h_int(&h, "hidden_size", 1);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_SHAPE);
    h_fini(&h);

    h_init(&h, "RNN", 7, 2);
    h_in(&h, QCAL_DT_FLOAT, 3, xd, x, false);
    h_in(&h, QCAL_DT_FLOAT, 3, wd4, w, true);
    h_in(&h, QCAL_DT_FLOAT, 3, wd4, w, true);
    h_int(&h, "hidden_size", 4);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_SHAPE); /* R must be [1, 4, 4] */
    h_fini(&h);

    h_init(&h, "RNN", 7, 2);
    h_in(&h, QCAL_DT_FLOAT, 3, xd, x, false);
    h_in(&h, QCAL_DT_FLOAT, 3, wd1, w, true);
    h_in(&h, QCAL_DT_FLOAT, 3, wd1, w, true);
    h_int(&h, "hidden_size", 1);
    h_strs(&h, "activations", acts, 1);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_UNSUPPORTED);
    h_fini(&h);
}

int main(void)
{
    QT_RUN(test_lstm_bidirectional_seq_lens);
    QT_RUN(test_lstm_layout1);
    QT_RUN(test_gru_linear_before_reset);
    QT_RUN(test_rnn_clip_reverse_bad_len);
    QT_RUN(test_rnn_refusals);
    return qt_report();
}
