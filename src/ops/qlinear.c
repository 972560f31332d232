/*
 * Integer matrix products and dynamic quantization: MatMulInteger-10, QLinearMatMul-10/21 and
 * DynamicQuantizeLinear-11, computed exactly as the spec's integer math.
 *
 * Both products follow numpy.matmul (1-D operands promoted, batch dims broadcast) on
 * A' = A - a_zero_point and B' = B - b_zero_point, accumulated exactly and wrapped to int32 (the
 * spec: "accumulation may overflow if and only if in 32 bits"). Zero points and scales are per
 * tensor (one value), per row of A (M values, or [D1, .., M, 1] with A's batch) and per column of
 * B (N values, or [D1, .., 1, N]). MatMulInteger outputs the int32 sums. QLinearMatMul requantizes
 * each sum C as the ONNX reference does: the multiplier (a_scale * b_scale) / y_scale is formed
 * in float32, then y = saturate(round_half_even((double)C * multiplier + y_zero_point)).
 *
 * DynamicQuantizeLinear (uint8) in float32: scale = (max(0, max x) - min(0, min x)) / 255,
 * zero_point = saturate(round_half_even((0 - min) / scale)), y = saturate(round_half_even(x /
 * scale) + zero_point); NaNs are ignored by min/max and quantize to 0. An all-zero input gives
 * scale 0, zero point 0 and y 0.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "ops/qint.h"
#include "qcal/round.h"

typedef struct imm_params {
    bool qlinear;
    int64_t m, n, k;
    size_t nbatch;
    size_t a_q, b_q; /* element count of a's / b's zero point and scale: 1, M or batch*M */
    size_t idx[];    /* idx[bi]: A's batch index of output batch bi; idx[nbatch + bi]: B's */
} imm_params;

/* Checks that a quantization parameter of count values fits "per tensor", "per row/column" (per
 * values) or "per batch and row/column" (batch * per values). */
static qcal_status check_qcount(const qcal__node *n, const qcal__tensor *t, const char *what,
                                size_t per, size_t batch, qcal_error *err)
{
    if (!t || t->nelem == 1 || t->nelem == per || t->nelem == batch * per)
        return QCAL_OK;
    return qcal__node_error(err, n, QCAL_E_SHAPE, "%s '%s' has %zu values, expected 1, %zu or "
                            "%zu", what, t->name, t->nelem, per, batch * per);
}

/*
 * Shared infer of both products. ia/ib: indices of A and B; za/zb: of their zero points; sa/sb/sy
 * and zy: the scales and the output zero point of QLinearMatMul (-1 for MatMulInteger).
 */
static qcal_status imm_infer(qcal__node *n, bool qlinear, qcal_error *err)
{
    const int ia = 0, ib = qlinear ? 3 : 1, za = 2, zb = qlinear ? 5 : 3;
    const qcal__tensor *a, *b, *zy = NULL;
    int64_t ad[QCAL_MAX_RANK], bd[QCAL_MAX_RANK], ob[QCAL_MAX_RANK], od[QCAL_MAX_RANK];
    int ra, rb, rbatch, ro = 0;
    size_t nbatch = 1, abatch = 1, bbatch = 1, bytes;
    qcal_dtype ydt = QCAL_DT_INT32;
    imm_params *p;
    qcal_status st = qlinear ? qcal__check_inputs(n, 8, 8, err) : qcal__check_inputs(n, 2, 4, err);

    if (st != QCAL_OK)
        return st;
    a = n->in[ia];
    b = n->in[ib];
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output Y is missing");
    st = qcal__qint_check(n, a, qcal__in(n, za), "A", err);
    if (st == QCAL_OK)
        st = qcal__qint_check(n, b, qcal__in(n, zb), "B", err);
    if (st == QCAL_OK && qlinear) {
        zy = n->in[7];
        st = qcal__qint_check(n, zy, NULL, "y_zero_point", err);
        for (int i = 1; st == QCAL_OK && i < 7; i += 3)
            st = qcal__qscale_check(n, n->in[i], err);
        if (st == QCAL_OK)
            st = qcal__qscale_check(n, n->in[6], err);
        if (st == QCAL_OK && (n->in[6]->nelem != 1 || zy->nelem != 1))
            return qcal__node_error(err, n, QCAL_E_SHAPE, "y_scale and y_zero_point must be "
                                    "scalars");
        if (st == QCAL_OK && (n->in[1]->nelem != n->in[2]->nelem ||
                              n->in[4]->nelem != n->in[5]->nelem))
            return qcal__node_error(err, n, QCAL_E_SHAPE, "a scale and its zero point (or b's) "
                                    "differ in size");
        ydt = zy->dtype;
    }
    if (st != QCAL_OK)
        return st;
    if (a->rank < 1 || b->rank < 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "operands must have rank >= 1");
    ra = a->rank;
    rb = b->rank;
    memcpy(ad, a->dims, sizeof ad);
    memcpy(bd, b->dims, sizeof bd);
    if (ra == 1) { /* [K] -> [1, K] */
        ad[1] = ad[0];
        ad[0] = 1;
        ra = 2;
    }
    if (rb == 1) { /* [K] -> [K, 1] */
        bd[1] = 1;
        rb = 2;
    }
    if (ad[ra - 1] != bd[rb - 2])
        return qcal__node_error(err, n, QCAL_E_SHAPE, "inner dims differ: %lld vs %lld",
                                (long long)ad[ra - 1], (long long)bd[rb - 2]);
    st = qcal__broadcast(n, ra - 2, ad, rb - 2, bd, &rbatch, ob, err);
    if (st != QCAL_OK)
        return st;
    for (int i = 0; i < rbatch; i++) {
        od[ro++] = ob[i];
        nbatch *= (size_t)ob[i];
    }
    if (a->rank > 1)
        od[ro++] = ad[ra - 2];
    if (b->rank > 1)
        od[ro++] = bd[rb - 1];
    if (ro > QCAL_MAX_RANK)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "output rank %d too large", ro);
    st = qcal__tensor_set_shape(n->out[0], ydt, ro, od, err);
    if (st != QCAL_OK)
        return st;
    abatch = qcal__shape_nelem(ra - 2, ad);
    bbatch = qcal__shape_nelem(rb - 2, bd);
    st = check_qcount(n, qcal__in(n, za), "a_zero_point", (size_t)ad[ra - 2], abatch, err);
    if (st == QCAL_OK)
        st = check_qcount(n, qcal__in(n, zb), "b_zero_point", (size_t)bd[rb - 1], bbatch, err);
    if (st == QCAL_OK && qlinear)
        st = check_qcount(n, n->in[1], "a_scale", (size_t)ad[ra - 2], abatch, err);
    if (st == QCAL_OK && qlinear)
        st = check_qcount(n, n->in[4], "b_scale", (size_t)bd[rb - 1], bbatch, err);
    if (st != QCAL_OK)
        return st;
    if (__builtin_mul_overflow(nbatch, 2 * sizeof p->idx[0], &bytes) || bytes > SIZE_MAX / 2)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "too many batches");
    p = malloc(sizeof *p + bytes);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->qlinear = qlinear;
    p->m = ad[ra - 2];
    p->k = ad[ra - 1];
    p->n = bd[rb - 1];
    p->nbatch = nbatch;
    p->a_q = qcal__in(n, za) ? qcal__in(n, za)->nelem : 1;
    p->b_q = qcal__in(n, zb) ? qcal__in(n, zb)->nelem : 1;
    qcal__bcast_index(rbatch, ob, ra - 2, ad, p->idx);
    qcal__bcast_index(rbatch, ob, rb - 2, bd, p->idx + nbatch);
    /* Scratch: B' as int32 [K, N], then one int64 accumulator row [N]. */
    if (__builtin_mul_overflow((size_t)p->k, (size_t)p->n, &bytes) ||
        __builtin_mul_overflow(bytes, sizeof(int32_t), &bytes) || bytes > SIZE_MAX / 4 ||
        (size_t)p->n > SIZE_MAX / 4 / sizeof(int64_t))
        return qcal__node_error(err, n, QCAL_E_NOMEM, "B is too large");
    n->scratch = bytes + 64 + (size_t)p->n * sizeof(int64_t);
    return QCAL_OK;
}

static qcal_status matmulinteger_infer(qcal__node *n, qcal_error *err)
{
    return imm_infer(n, false, err);
}

static qcal_status qlinearmatmul_infer(qcal__node *n, qcal_error *err)
{
    return imm_infer(n, true, err);
}

/* Index of a per-row/column parameter of count values for row/column i of batch bi. */
static size_t qidx(size_t count, size_t per, size_t bi, size_t i)
{
    return count == 1 ? 0 : (count == per ? i : bi * per + i);
}

static void imm_run(const qcal__node *n, void *scratch)
{
    const imm_params *p = n->params;
    const bool q = p->qlinear;
    const qcal__tensor *a = n->in[0], *b = n->in[q ? 3 : 1];
    const qcal__tensor *za = qcal__in(n, 2), *zb = qcal__in(n, q ? 5 : 3);
    const size_t m = (size_t)p->m, k = (size_t)p->k, nn = (size_t)p->n;
    int32_t *bq = scratch;
    int64_t *row = (int64_t *)(void *)((char *)scratch +
                                       ((k * nn * sizeof(int32_t) + 63) & ~(size_t)63));
    const qcal__tensor *y = n->out[0];
    float ys = q ? ((const float *)n->in[6]->data)[0] : 0.0f;
    double yz = q ? (double)qcal__qint_at(n->in[7], 0) : 0.0;

    for (size_t bi = 0; bi < p->nbatch; bi++) {
        const size_t ab = p->idx[bi], bb = p->idx[p->nbatch + bi];

        for (size_t kk = 0; kk < k; kk++)
            for (size_t j = 0; j < nn; j++)
                bq[kk * nn + j] = qcal__qint_at(b, (bb * k + kk) * nn + j) -
                                  (zb ? qcal__qint_at(zb, qidx(p->b_q, nn, bb, j)) : 0);
        for (size_t i = 0; i < m; i++) {
            const int32_t zr = za ? qcal__qint_at(za, qidx(p->a_q, m, ab, i)) : 0;
            const size_t yo = (bi * m + i) * nn;

            memset(row, 0, nn * sizeof *row);
            for (size_t kk = 0; kk < k; kk++) {
                const int64_t av = (int64_t)qcal__qint_at(a, (ab * m + i) * k + kk) - zr;
                const int32_t *brow = bq + kk * nn;
                if (av == 0)
                    continue;
                for (size_t j = 0; j < nn; j++)
                    row[j] += av * brow[j];
            }
            for (size_t j = 0; j < nn; j++) {
                const int32_t c = qcal__wrap_i32(row[j]);
                float as, bs;
                if (!q) {
                    ((int32_t *)y->data)[yo + j] = c;
                    continue;
                }
                as = ((const float *)n->in[1]->data)[qidx(p->a_q, m, ab, i)];
                bs = ((const float *)n->in[4]->data)[qidx(p->b_q, nn, bb, j)];
                qcal__qint_store(y, yo + j, (double)c * (double)(as * bs / ys) + yz);
            }
        }
    }
}

/* ---- DynamicQuantizeLinear ---- */

static qcal_status dql_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 1, 1, err);
    const qcal__tensor *x;

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (x->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "x is %s, expected float32",
                                qcal_dtype_name(x->dtype));
    if (n->n_out != 3 || !n->out[0] || !n->out[1] || !n->out[2])
        return qcal__node_error(err, n, QCAL_E_INVALID, "needs the outputs y, y_scale and "
                                "y_zero_point");
    st = qcal__tensor_set_shape(n->out[0], QCAL_DT_UINT8, x->rank, x->dims, err);
    if (st == QCAL_OK)
        st = qcal__tensor_set_shape(n->out[1], QCAL_DT_FLOAT, 0, NULL, err);
    if (st == QCAL_OK)
        st = qcal__tensor_set_shape(n->out[2], QCAL_DT_UINT8, 0, NULL, err);
    n->scratch = 0;
    return st;
}

static void dql_run(const qcal__node *n, void *scratch)
{
    const float *x = n->in[0]->data;
    const size_t cnt = n->in[0]->nelem;
    uint8_t *y = n->out[0]->data;
    float lo = 0.0f, hi = 0.0f, scale, zf;

    (void)scratch;
    for (size_t i = 0; i < cnt; i++) {
        if (x[i] < lo)
            lo = x[i];
        if (x[i] > hi)
            hi = x[i];
    }
    scale = (hi - lo) / 255.0f;
    zf = scale > 0.0f ? qcal_round_half_evenf((0.0f - lo) / scale) : 0.0f;
    zf = zf < 0.0f ? 0.0f : (zf > 255.0f ? 255.0f : zf);
    for (size_t i = 0; i < cnt; i++) {
        float v = scale > 0.0f ? qcal_round_half_evenf(x[i] / scale) + zf : 0.0f;
        /* NaN fails both comparisons and maps to 0. */
        y[i] = (uint8_t)(v >= 0.0f ? (v <= 255.0f ? v : 255.0f) : 0.0f);
    }
    *(float *)n->out[1]->data = scale;
    *(uint8_t *)n->out[2]->data = (uint8_t)zf;
}

const qcal__op qcal__ops_qlinear[] = {
    { "DynamicQuantizeLinear", 11, QCAL__OPSET_LAST, dql_infer, dql_run, 0 },
    { "MatMulInteger", 10, QCAL__OPSET_LAST, matmulinteger_infer, imm_run, 0 },
    { "QLinearMatMul", 10, QCAL__OPSET_LAST, qlinearmatmul_infer, imm_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
