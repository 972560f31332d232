/*
 * Recurrent layers: RNN, GRU and LSTM (ONNX RNN-1/7/14/22, GRU-1/3/7/14/22, LSTM-1/7/14/22),
 * float32. Later versions only add `layout` (14) and types (22); output_sequence of the opset-1
 * forms only says that Y is optional, which every version honours.
 *
 * Inputs X, W, R, B, sequence_lens, initial_h (and LSTM's initial_c, P); outputs Y, Y_h (and
 * LSTM's Y_c), all optional but X, W, R. layout 0: X [seq, batch, in], Y [seq, dirs, batch,
 * hidden], Y_h/initial_h [dirs, batch, hidden]; layout 1: X [batch, seq, in], Y [batch, seq, dirs,
 * hidden], Y_h [batch, dirs, hidden]. direction forward, reverse or bidirectional (forward
 * direction first). Gate orders in W, R and B as the spec: RNN (i), GRU (z, r, h), LSTM (i, o, f,
 * c); peepholes P (i, o, f). Per step t (Xt W^T and Ht-1 R^T plus both biases):
 *   RNN   Ht = f(Xt Wi^T + Ht-1 Ri^T + Wbi + Rbi)
 *   GRU   z = f(..z), r = f(..r), h = g(Xt Wh^T + (r . Ht-1) Rh^T + Rbh + Wbh), or with
 *         linear_before_reset h = g(Xt Wh^T + r . (Ht-1 Rh^T + Rbh) + Wbh); Ht = (1 - z) h + z Ht-1
 *   LSTM  i = f(.. + Pi . Ct-1), f = f(.. + Pf . Ct-1), c = g(..), Ct = f Ct-1 + i c,
 *         o = f(.. + Po . Ct), Ht = o h(Ct); input_forget couples f = 1 - i.
 * clip bounds every gate's input to [-clip, clip] before its activation (as ONNX Runtime does;
 * h(Ct) is not clipped). activations/activation_alpha/activation_beta name f, g, h per direction
 * (defaults Sigmoid/Tanh as the spec); alpha and beta values are consumed in order by the
 * functions that take them, others get the spec's defaults.
 *
 * sequence_lens (int32 [batch], read per sample): batch b runs len_b steps (reverse: from
 * t = len_b - 1 down to 0); Y is 0 at t >= len_b and Y_h/Y_c hold the state after the last step.
 * A length outside [0, seq] fails the run (the rows get length 0).
 *
 * The products are single-threaded cblas_sgemm calls, as Gemm's: one for X W^T over all steps
 * and one per step for H R^T, so every rank computes the same bits. The gates and states are
 * internal (not graph tensors) and live in scratch.
 */
#include <cblas.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

enum cell { CELL_RNN, CELL_GRU, CELL_LSTM };

enum act_kind {
    ACT_RELU, ACT_TANH, ACT_SIGMOID, ACT_AFFINE, ACT_LEAKYRELU, ACT_THRESHOLDEDRELU,
    ACT_SCALEDTANH, ACT_HARDSIGMOID, ACT_ELU, ACT_SOFTSIGN, ACT_SOFTPLUS,
};

typedef struct act_fn {
    int kind;
    float alpha, beta;
} act_fn;

/* name, needs alpha, needs beta, default alpha, default beta */
static const struct {
    const char *name;
    bool has_alpha, has_beta;
    float alpha, beta;
} ACTS[] = {
    [ACT_RELU] = { "relu", false, false, 0.0f, 0.0f },
    [ACT_TANH] = { "tanh", false, false, 0.0f, 0.0f },
    [ACT_SIGMOID] = { "sigmoid", false, false, 0.0f, 0.0f },
    [ACT_AFFINE] = { "affine", true, true, 1.0f, 0.0f },
    [ACT_LEAKYRELU] = { "leakyrelu", true, false, 0.01f, 0.0f },
    [ACT_THRESHOLDEDRELU] = { "thresholdedrelu", true, false, 1.0f, 0.0f },
    [ACT_SCALEDTANH] = { "scaledtanh", true, true, 1.0f, 1.0f },
    [ACT_HARDSIGMOID] = { "hardsigmoid", true, true, 0.2f, 0.5f },
    [ACT_ELU] = { "elu", true, false, 1.0f, 0.0f },
    [ACT_SOFTSIGN] = { "softsign", false, false, 0.0f, 0.0f },
    [ACT_SOFTPLUS] = { "softplus", false, false, 0.0f, 0.0f },
};

typedef struct rnn_params {
    int cell, ndir, nact, gates, layout;
    bool reverse; /* direction "reverse" (one direction) */
    bool lbr, input_forget;
    float clip;   /* 0: none */
    size_t seq, batch, in, hid;
    act_fn act[2][3];
    size_t off_hr, off_h, off_c, off_t; /* float offsets in scratch; XW is at 0 */
} rnn_params;

static float act_apply(const act_fn *a, float x)
{
    switch (a->kind) {
    case ACT_RELU: return x > 0.0f ? x : 0.0f;
    case ACT_TANH: return tanhf(x);
    case ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case ACT_AFFINE: return a->alpha * x + a->beta;
    case ACT_LEAKYRELU: return x >= 0.0f ? x : a->alpha * x;
    case ACT_THRESHOLDEDRELU: return x > a->alpha ? x : 0.0f;
    case ACT_SCALEDTANH: return a->alpha * tanhf(a->beta * x);
    case ACT_HARDSIGMOID: {
        float v = a->alpha * x + a->beta;
        return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
    }
    case ACT_ELU: return x >= 0.0f ? x : a->alpha * (expf(x) - 1.0f);
    case ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    default: return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
    }
}

/* The activation of a gate input, after the optional clip. */
static float gate(const rnn_params *p, const act_fn *a, float x)
{
    if (p->clip > 0.0f)
        x = x < -p->clip ? -p->clip : (x > p->clip ? p->clip : x);
    return act_apply(a, x);
}

/* Case-insensitive equality of an activation name. */
static bool name_is(const char *s, const char *lower)
{
    for (; *s && *lower; s++, lower++)
        if (tolower((unsigned char)*s) != *lower)
            return false;
    return *s == '\0' && *lower == '\0';
}

/* Parses activations/activation_alpha/activation_beta into p->act (defaults per cell). */
static qcal_status parse_acts(const qcal__node *n, rnn_params *p, qcal_error *err)
{
    static const int DEF[3][3] = { { ACT_TANH }, { ACT_SIGMOID, ACT_TANH },
                                   { ACT_SIGMOID, ACT_TANH, ACT_TANH } };
    const qcal__attr *names = qcal__attr_find(n, "activations");
    const float *alpha, *beta;
    size_t na = qcal__attr_floats(n, "activation_alpha", &alpha), ia = 0;
    size_t nb = qcal__attr_floats(n, "activation_beta", &beta), ib = 0;
    const size_t want = (size_t)(p->ndir * p->nact);

    if (names && (names->type != QCAL__A_STRINGS || names->n != want))
        return qcal__node_error(err, n, QCAL_E_INVALID, "activations must list %zu names",
                                want);
    for (size_t k = 0; k < want; k++) {
        act_fn *a = &p->act[k / (size_t)p->nact][k % (size_t)p->nact];
        a->kind = DEF[p->cell][k % (size_t)p->nact];
        if (names) {
            size_t j = 0;
            while (j < sizeof ACTS / sizeof ACTS[0] && !name_is(names->strings[k], ACTS[j].name))
                j++;
            if (j == sizeof ACTS / sizeof ACTS[0])
                return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "unknown activation '%s'",
                                        names->strings[k]);
            a->kind = (int)j;
        }
        a->alpha = ACTS[a->kind].alpha;
        a->beta = ACTS[a->kind].beta;
        if (ACTS[a->kind].has_alpha && ia < na)
            a->alpha = alpha[ia++];
        if (ACTS[a->kind].has_beta && ib < nb)
            a->beta = beta[ib++];
    }
    if (p->ndir == 1)
        memcpy(p->act[1], p->act[0], sizeof p->act[0]);
    return QCAL_OK;
}

/* Checks that optional input i, if present, is float32 of the given dims. */
static qcal_status check_opt(const qcal__node *n, int i, const char *what, int rank,
                             const int64_t *dims, qcal_error *err)
{
    const qcal__tensor *t = qcal__in(n, i);
    bool ok;

    if (!t)
        return QCAL_OK;
    ok = t->dtype == (i == 4 ? QCAL_DT_INT32 : QCAL_DT_FLOAT) && t->rank == rank;
    for (int d = 0; ok && d < rank; d++)
        ok = t->dims[d] == dims[d];
    if (!ok) {
        char buf[64];
        return qcal__node_error(err, n, QCAL_E_SHAPE, "%s must be %s [%s]", what,
                                i == 4 ? "int32" : "float32", qcal__shape_str(rank, dims, buf,
                                                                             sizeof buf));
    }
    return QCAL_OK;
}

/* Sets output i (if present) to dims; out of range output indices are ignored. */
static qcal_status set_out(qcal__node *n, int i, int rank, const int64_t *dims, qcal_error *err)
{
    if (i >= n->n_out || !n->out[i])
        return QCAL_OK;
    return qcal__tensor_set_shape(n->out[i], QCAL_DT_FLOAT, rank, dims, err);
}

static qcal_status rnn_infer_common(qcal__node *n, int cell, qcal_error *err)
{
    static const int GATES[3] = { 1, 3, 4 };
    rnn_params p = { 0 };
    const qcal__tensor *x, *w, *r;
    const char *dir = qcal__attr_str(n, "direction", "forward");
    int64_t hid, seq, batch, gh, d3[3], d4[4], xw, hr, st1;
    qcal_status st = qcal__check_inputs(n, 3, cell == CELL_LSTM ? 8 : 6, err);

    if (st != QCAL_OK)
        return st;
    p.cell = cell;
    p.gates = GATES[cell];
    p.nact = cell == CELL_RNN ? 1 : (cell == CELL_GRU ? 2 : 3);
    p.layout = n->opset >= 14 ? (int)qcal__attr_int(n, "layout", 0) : 0;
    p.lbr = qcal__attr_int(n, "linear_before_reset", 0) != 0;
    p.input_forget = qcal__attr_int(n, "input_forget", 0) != 0;
    p.clip = qcal__attr_find(n, "clip") ? qcal__attr_float(n, "clip", 0.0f) : 0.0f;
    if (strcmp(dir, "forward") == 0 || strcmp(dir, "reverse") == 0) {
        p.ndir = 1;
        p.reverse = dir[0] == 'r';
    } else if (strcmp(dir, "bidirectional") == 0) {
        p.ndir = 2;
    } else {
        return qcal__node_error(err, n, QCAL_E_INVALID, "unknown direction '%s'", dir);
    }
    if (p.layout != 0 && p.layout != 1)
        return qcal__node_error(err, n, QCAL_E_INVALID, "layout must be 0 or 1");
    if (qcal__attr_find(n, "clip") && !(p.clip > 0.0f))
        return qcal__node_error(err, n, QCAL_E_INVALID, "clip must be positive");
    x = n->in[0];
    w = n->in[1];
    r = n->in[2];
    if (x->dtype != QCAL_DT_FLOAT || w->dtype != QCAL_DT_FLOAT || r->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "X, W and R must be float32 (X is "
                                "%s)", qcal_dtype_name(x->dtype));
    hid = qcal__attr_int(n, "hidden_size", r->rank == 3 ? r->dims[2] : 0);
    if (x->rank != 3 || w->rank != 3 || r->rank != 3 || hid < 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "X, W and R must have rank 3 and "
                                "hidden_size be >= 1");
    seq = x->dims[p.layout ? 1 : 0];
    batch = x->dims[p.layout ? 0 : 1];
    st = qcal__mul_i64(n, "hidden_size", hid, p.gates, &gh, err);
    if (st != QCAL_OK)
        return st;
    if (w->dims[0] != p.ndir || w->dims[1] != gh || w->dims[2] != x->dims[2] ||
        r->dims[0] != p.ndir || r->dims[1] != gh || r->dims[2] != hid)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "W must be [%d, %lld, %lld] and R [%d, "
                                "%lld, %lld]", p.ndir, (long long)gh, (long long)x->dims[2],
                                p.ndir, (long long)gh, (long long)hid);
    p.seq = (size_t)seq;
    p.batch = (size_t)batch;
    p.in = (size_t)x->dims[2];
    p.hid = (size_t)hid;
    d3[0] = p.layout ? batch : p.ndir;
    d3[1] = p.layout ? p.ndir : batch;
    d3[2] = hid;
    {
        const int64_t bd[2] = { p.ndir, 2 * gh }, sd[1] = { batch }, pd[2] = { p.ndir, 3 * hid };
        st = check_opt(n, 3, "B", 2, bd, err);
        if (st == QCAL_OK)
            st = check_opt(n, 4, "sequence_lens", 1, sd, err);
        if (st == QCAL_OK)
            st = check_opt(n, 5, "initial_h", 3, d3, err);
        if (st == QCAL_OK && cell == CELL_LSTM)
            st = check_opt(n, 6, "initial_c", 3, d3, err);
        if (st == QCAL_OK && cell == CELL_LSTM)
            st = check_opt(n, 7, "P", 2, pd, err);
    }
    if (st == QCAL_OK)
        st = parse_acts(n, &p, err);
    if (st != QCAL_OK)
        return st;
    if (p.layout) {
        d4[0] = batch;
        d4[1] = seq;
        d4[2] = p.ndir;
    } else {
        d4[0] = seq;
        d4[1] = p.ndir;
        d4[2] = batch;
    }
    d4[3] = hid;
    st = set_out(n, 0, 4, d4, err);
    if (st == QCAL_OK)
        st = set_out(n, 1, 3, d3, err);
    if (st == QCAL_OK && cell == CELL_LSTM)
        st = set_out(n, 2, 3, d3, err);
    if (st != QCAL_OK)
        return st;
    if (n->n_out > (cell == CELL_LSTM ? 3 : 2))
        return qcal__node_error(err, n, QCAL_E_INVALID, "has %d outputs, at most %d", n->n_out,
                                cell == CELL_LSTM ? 3 : 2);
    /* Scratch floats: XW [seq * batch, gh], HR [batch, gh], H and C [batch, hidden], T [2 hidden]. */
    st = qcal__mul_i64(n, "X W^T", seq * batch, gh, &xw, err);
    if (st == QCAL_OK)
        st = qcal__mul_i64(n, "H R^T", batch, gh, &hr, err);
    if (st == QCAL_OK)
        st = qcal__mul_i64(n, "state", batch, hid, &st1, err);
    if (st != QCAL_OK)
        return st;
    if ((uint64_t)xw + (uint64_t)hr + 2 * (uint64_t)st1 + 2 * (uint64_t)hid >
        SIZE_MAX / 4 / sizeof(float))
        return qcal__node_error(err, n, QCAL_E_NOMEM, "recurrent state too large");
    p.off_hr = (size_t)xw;
    p.off_h = p.off_hr + (size_t)hr;
    p.off_c = p.off_h + (size_t)st1;
    p.off_t = p.off_c + (size_t)st1;
    n->params = malloc(sizeof p);
    if (!n->params)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    memcpy(n->params, &p, sizeof p);
    n->scratch = (p.off_t + 2 * (size_t)hid) * sizeof(float);
    return QCAL_OK;
}

static qcal_status rnn_infer(qcal__node *n, qcal_error *err)
{
    return rnn_infer_common(n, CELL_RNN, err);
}

static qcal_status gru_infer(qcal__node *n, qcal_error *err)
{
    return rnn_infer_common(n, CELL_GRU, err);
}

static qcal_status lstm_infer(qcal__node *n, qcal_error *err)
{
    return rnn_infer_common(n, CELL_LSTM, err);
}

/* Leading dimension for BLAS (at least 1). */
static blasint ldim(size_t v)
{
    return (blasint)(v > 1 ? v : 1);
}

/* Element offset of Y[t, d, b, :] and of Y_h[d, b, :] for the layout. */
static size_t y_at(const rnn_params *p, size_t t, size_t d, size_t b)
{
    return (p->layout ? (b * p->seq + t) * (size_t)p->ndir + d
                      : (t * (size_t)p->ndir + d) * p->batch + b) * p->hid;
}

static size_t h_at(const rnn_params *p, size_t d, size_t b)
{
    return (p->layout ? b * (size_t)p->ndir + d : d * p->batch + b) * p->hid;
}

/* Row of X (and XW) for step t of batch b. */
static size_t x_row(const rnn_params *p, size_t t, size_t b)
{
    return p->layout ? b * p->seq + t : t * p->batch + b;
}

/*
 * Gate update of one batch row for one step. xw: the row of X W^T + biases (gh values), hr: the
 * row of H R^T (gh values; for GRU without linear_before_reset only z and r), h/c: the state
 * (updated in place), tmp: 2 * hidden floats of scratch. R is used for GRU's (r . H) Rh^T.
 */
static void cell_step(const rnn_params *p, const act_fn *a, const float *xw, const float *hr,
                      const float *rb, const float *peep, const float *rh, float *h, float *c,
                      float *tmp)
{
    const size_t H = p->hid;

    if (p->cell == CELL_RNN) {
        for (size_t j = 0; j < H; j++)
            h[j] = gate(p, &a[0], xw[j] + hr[j]);
    } else if (p->cell == CELL_GRU) {
        /* tmp gets r first, then the candidate h. */
        for (size_t j = 0; j < H; j++)
            tmp[j] = gate(p, &a[0], xw[H + j] + hr[H + j]);
        if (p->lbr) {
            for (size_t j = 0; j < H; j++)
                tmp[j] = gate(p, &a[1], xw[2 * H + j] + tmp[j] * (hr[2 * H + j] +
                                                                   (rb ? rb[2 * H + j] : 0.0f)));
        } else {
            /* (r . H) Rh^T: a [1, H] x [H, H]^T product, summed in index order. */
            float *rhv = tmp + H;
            for (size_t j = 0; j < H; j++)
                rhv[j] = tmp[j] * h[j];
            for (size_t j = 0; j < H; j++) {
                float s = 0.0f;
                for (size_t k = 0; k < H; k++)
                    s += rhv[k] * rh[j * H + k];
                tmp[j] = gate(p, &a[1], xw[2 * H + j] + s + (rb ? rb[2 * H + j] : 0.0f));
            }
        }
        for (size_t j = 0; j < H; j++) {
            const float z = gate(p, &a[0], xw[j] + hr[j]);
            h[j] = (1.0f - z) * tmp[j] + z * h[j];
        }
    } else {
        for (size_t j = 0; j < H; j++) {
            const float cp = c[j];
            const float ig = gate(p, &a[0], xw[j] + hr[j] + (peep ? peep[j] * cp : 0.0f));
            float fg = gate(p, &a[0], xw[2 * H + j] + hr[2 * H + j] +
                                          (peep ? peep[2 * H + j] * cp : 0.0f));
            const float cc = gate(p, &a[1], xw[3 * H + j] + hr[3 * H + j]);
            float og;
            if (p->input_forget)
                fg = 1.0f - ig;
            c[j] = fg * cp + ig * cc;
            og = gate(p, &a[0], xw[H + j] + hr[H + j] + (peep ? peep[H + j] * c[j] : 0.0f));
            h[j] = og * act_apply(&a[2], c[j]);
        }
    }
}

static void rnn_run(const qcal__node *n, void *scratch)
{
    const rnn_params *p = n->params;
    const size_t H = p->hid, gh = (size_t)p->gates * H, B = p->batch;
    const qcal__tensor *bias = qcal__in(n, 3), *lens = qcal__in(n, 4);
    const qcal__tensor *h0 = qcal__in(n, 5);
    const qcal__tensor *c0 = p->cell == CELL_LSTM ? qcal__in(n, 6) : NULL;
    const qcal__tensor *peep = p->cell == CELL_LSTM ? qcal__in(n, 7) : NULL;
    float *y = n->n_out > 0 && n->out[0] ? n->out[0]->data : NULL;
    float *yh = n->n_out > 1 && n->out[1] ? n->out[1]->data : NULL;
    float *yc = p->cell == CELL_LSTM && n->n_out > 2 && n->out[2] ? n->out[2]->data : NULL;
    float *xw = scratch, *hr = xw + p->off_hr, *hs = xw + p->off_h, *cs = xw + p->off_c;
    float *tmp = xw + p->off_t;
    /* GRU without linear_before_reset multiplies by Rh itself: H R^T covers z and r only. */
    const size_t hr_cols = p->cell == CELL_GRU && !p->lbr ? 2 * H : gh;

    if (y)
        memset(y, 0, n->out[0]->nelem * sizeof *y);
    for (size_t d = 0; d < (size_t)p->ndir; d++) {
        const bool rev = p->ndir == 2 ? d == 1 : p->reverse;
        const float *w = (const float *)n->in[1]->data + d * gh * p->in;
        const float *r = (const float *)n->in[2]->data + d * gh * H;
        const float *wb = bias ? (const float *)bias->data + d * 2 * gh : NULL;
        const float *rb = wb ? wb + gh : NULL;
        const float *pp = peep ? (const float *)peep->data + d * 3 * H : NULL;

        /* XW = X W^T over every (t, b) row in X's own order, plus Wb and (but for GRU's
         * linear-before-reset h gate, whose Rbh goes inside r .) Rb. */
        if (p->seq * B > 0 && p->in > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)(p->seq * B),
                        (blasint)gh, (blasint)p->in, 1.0f, n->in[0]->data, ldim(p->in), w,
                        ldim(p->in), 0.0f, xw, ldim(gh));
        else
            memset(xw, 0, p->seq * B * gh * sizeof *xw);
        if (wb)
            for (size_t row = 0; row < p->seq * B; row++)
                for (size_t j = 0; j < gh; j++)
                    xw[row * gh + j] += wb[j] + (p->cell == CELL_GRU && j >= 2 * H ? 0.0f
                                                                                  : rb[j]);
        for (size_t b = 0; b < B; b++) {
            for (size_t j = 0; j < H; j++) {
                hs[b * H + j] = h0 ? ((const float *)h0->data)[h_at(p, d, b) + j] : 0.0f;
                cs[b * H + j] = c0 ? ((const float *)c0->data)[h_at(p, d, b) + j] : 0.0f;
            }
        }
        for (size_t s = 0; s < p->seq; s++) {
            if (H > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)B,
                            (blasint)hr_cols, (blasint)H, 1.0f, hs, ldim(H), r, ldim(H), 0.0f,
                            hr, ldim(hr_cols));
            for (size_t b = 0; b < B; b++) {
                size_t len = p->seq, t;
                if (lens) {
                    int32_t v = ((const int32_t *)lens->data)[b];
                    if (v < 0 || (size_t)v > p->seq) {
                        qcal__run_fail(n, "sequence_lens value out of [0, seq_length]");
                        v = 0;
                    }
                    len = (size_t)v;
                }
                if (s >= len)
                    continue;
                t = rev ? len - 1 - s : s;
                cell_step(p, p->act[d], xw + x_row(p, t, b) * gh, hr + b * hr_cols, rb, pp,
                          r + 2 * H * H, hs + b * H, cs + b * H, tmp);
                if (y)
                    memcpy(y + y_at(p, t, d, b), hs + b * H, H * sizeof *y);
            }
        }
        for (size_t b = 0; b < B; b++) {
            if (yh)
                memcpy(yh + h_at(p, d, b), hs + b * H, H * sizeof *yh);
            if (yc)
                memcpy(yc + h_at(p, d, b), cs + b * H, H * sizeof *yc);
        }
    }
}

const qcal__op qcal__ops_rnn[] = {
    { "GRU", 1, QCAL__OPSET_LAST, gru_infer, rnn_run, 0 },
    { "LSTM", 1, QCAL__OPSET_LAST, lstm_infer, rnn_run, 0 },
    { "RNN", 1, QCAL__OPSET_LAST, rnn_infer, rnn_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
