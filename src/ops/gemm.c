/*
 * Gemm and MatMul (ONNX Gemm-1/6/7/9/11/13, MatMul-1/9/13), float32 and float64, through
 * single-threaded cblas_sgemm/cblas_dgemm.
 *
 * Gemm: Y = alpha * A' * B' + beta * C with A' = transA ? A^T : A. C is first written into Y
 * (scaled by beta, broadcast to [M, N]) and BLAS adds alpha * A'B' onto it. Opsets 1-6 broadcast C
 * only when the attribute broadcast is 1 (otherwise C must be [M, N]); from 7 C broadcasts
 * unidirectionally, and from 11 it is optional (accepted as optional in every version).
 *
 * MatMul follows numpy.matmul: a 1-D A gets a leading 1 and a 1-D B a trailing 1 (removed again
 * from the output), and the batch dims broadcast. The per-batch element offsets of A and B are
 * computed once by infer; when B has no batch (a Linear layer on [batch, seq, K]) and A's batch is
 * not broadcast, all batches fold into one GEMM with batch * M rows.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

typedef struct gemm_params {
    qcal_dtype dt;
    int64_t m, n, k;
    bool trans_a, trans_b;
    float alpha, beta;
    bool has_c;             /* C present and beta != 0 */
    int64_t c_rows, c_cols; /* C's extent along M and N: 1 (broadcast) or m / n */
} gemm_params;

typedef struct matmul_params {
    qcal_dtype dt;
    int64_t m, n, k;
    size_t nbatch; /* GEMM calls per run (1 when folded) */
    size_t off[];  /* off[b]: A's element offset of batch b; off[nbatch + b]: B's */
} matmul_params;

static bool is_float_type(qcal_dtype dt)
{
    return dt == QCAL_DT_FLOAT || dt == QCAL_DT_DOUBLE;
}

/* Leading dimension for BLAS: at least 1 even for empty matrices. */
static blasint ld(int64_t cols)
{
    return (blasint)(cols > 1 ? cols : 1);
}

/* Shared by all Gemm versions; old (opsets 1-6) honours the broadcast attribute. */
static qcal_status gemm_infer_common(qcal__node *n, bool old, qcal_error *err)
{
    const qcal__tensor *a, *b, *c;
    gemm_params p = { 0 };
    int64_t dims[2], kb;
    qcal_status st = qcal__check_inputs(n, 2, 3, err);

    if (st != QCAL_OK)
        return st;
    a = n->in[0];
    b = n->in[1];
    c = qcal__in(n, 2);
    if (!is_float_type(a->dtype) || b->dtype != a->dtype || (c && c->dtype != a->dtype))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "inputs must all be float32 or all "
                                "float64 (A is %s, B is %s)", qcal_dtype_name(a->dtype),
                                qcal_dtype_name(b->dtype));
    if (a->rank != 2 || b->rank != 2)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "A has rank %d and B rank %d, expected 2",
                                a->rank, b->rank);
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output Y is missing");
    p.dt = a->dtype;
    p.trans_a = qcal__attr_int(n, "transA", 0) != 0;
    p.trans_b = qcal__attr_int(n, "transB", 0) != 0;
    p.alpha = qcal__attr_float(n, "alpha", 1.0f);
    p.beta = qcal__attr_float(n, "beta", 1.0f);
    p.m = p.trans_a ? a->dims[1] : a->dims[0];
    p.k = p.trans_a ? a->dims[0] : a->dims[1];
    kb = p.trans_b ? b->dims[1] : b->dims[0];
    p.n = p.trans_b ? b->dims[0] : b->dims[1];
    if (kb != p.k)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "inner dims differ: A' is %lldx%lld, B' "
                                "is %lldx%lld", (long long)p.m, (long long)p.k, (long long)kb,
                                (long long)p.n);
    if (c) {
        int64_t cr = c->rank == 2 ? c->dims[0] : 1;
        int64_t cc = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
        bool strict = old && qcal__attr_int(n, "broadcast", 0) == 0;

        if (c->rank > 2 || (cr != 1 && cr != p.m) || (cc != 1 && cc != p.n) ||
            (strict && (c->rank != 2 || cr != p.m || cc != p.n)))
            return qcal__node_error(err, n, QCAL_E_SHAPE, "C (rank %d, %zu values) does not %s "
                                    "[%lld, %lld]", c->rank, c->nelem,
                                    strict ? "equal (broadcast is 0)" : "broadcast to",
                                    (long long)p.m, (long long)p.n);
        p.c_rows = cr;
        p.c_cols = cc;
        p.has_c = p.beta != 0.0f;
    }
    dims[0] = p.m;
    dims[1] = p.n;
    st = qcal__tensor_set_shape(n->out[0], p.dt, 2, dims, err);
    if (st != QCAL_OK)
        return st;
    n->params = malloc(sizeof p);
    if (!n->params)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    memcpy(n->params, &p, sizeof p);
    n->scratch = 0;
    return QCAL_OK;
}

static qcal_status gemm1_infer(qcal__node *n, qcal_error *err)
{
    return gemm_infer_common(n, true, err);
}

static qcal_status gemm7_infer(qcal__node *n, qcal_error *err)
{
    return gemm_infer_common(n, false, err);
}

/* Y = beta * broadcast(C) for float32; beta == 1 copies C exactly. */
static void gemm_fill_c_f32(const gemm_params *p, const float *restrict c, float *restrict y)
{
    for (int64_t i = 0; i < p->m; i++) {
        const float *crow = c + (p->c_rows == 1 ? 0 : i) * p->c_cols;
        float *yrow = y + i * p->n;

        if (p->c_cols == 1) {
            const float v = p->beta * crow[0];
            for (int64_t j = 0; j < p->n; j++)
                yrow[j] = v;
        } else if (p->beta == 1.0f) {
            memcpy(yrow, crow, (size_t)p->n * sizeof *yrow);
        } else {
            for (int64_t j = 0; j < p->n; j++)
                yrow[j] = p->beta * crow[j];
        }
    }
}

/* Same as gemm_fill_c_f32 for float64 (beta widened exactly). */
static void gemm_fill_c_f64(const gemm_params *p, const double *restrict c, double *restrict y)
{
    const double beta = (double)p->beta;

    for (int64_t i = 0; i < p->m; i++) {
        const double *crow = c + (p->c_rows == 1 ? 0 : i) * p->c_cols;
        double *yrow = y + i * p->n;

        for (int64_t j = 0; j < p->n; j++)
            yrow[j] = beta * crow[p->c_cols == 1 ? 0 : j];
    }
}

static void gemm_run(const qcal__node *n, void *scratch)
{
    const gemm_params *p = n->params;
    const void *a = n->in[0]->data, *b = n->in[1]->data;
    const void *c = p->has_c ? n->in[2]->data : NULL;
    void *y = n->out[0]->data;
    const size_t esz = qcal_dtype_size(p->dt);
    const enum CBLAS_TRANSPOSE ta = p->trans_a ? CblasTrans : CblasNoTrans;
    const enum CBLAS_TRANSPOSE tb = p->trans_b ? CblasTrans : CblasNoTrans;
    const blasint lda = ld(p->trans_a ? p->m : p->k), ldb = ld(p->trans_b ? p->k : p->n);

    (void)scratch;
    if (p->m == 0 || p->n == 0)
        return;
    if (!c)
        memset(y, 0, (size_t)(p->m * p->n) * esz);
    else if (p->dt == QCAL_DT_FLOAT)
        gemm_fill_c_f32(p, c, y);
    else
        gemm_fill_c_f64(p, c, y);
    if (p->k == 0)
        return;
    if (p->dt == QCAL_DT_FLOAT)
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)p->m, (blasint)p->n, (blasint)p->k, p->alpha,
                    a, lda, b, ldb, 1.0f, y, ld(p->n));
    else
        cblas_dgemm(CblasRowMajor, ta, tb, (blasint)p->m, (blasint)p->n, (blasint)p->k,
                    (double)p->alpha, a, lda, b, ldb, 1.0, y, ld(p->n));
}

/*
 * ONNX MatMul-1/9/13 (numpy.matmul). Batch offsets are listed in params so run only loops; the
 * folded case (B without batch, A's batch matching the output's) is one GEMM of batch * M rows.
 */
static qcal_status matmul_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *a, *b;
    int64_t adims[QCAL_MAX_RANK], bdims[QCAL_MAX_RANK], obatch[QCAL_MAX_RANK];
    int64_t odims[QCAL_MAX_RANK], astr[QCAL_MAX_RANK], bstr[QCAL_MAX_RANK], idx[QCAL_MAX_RANK];
    int ra, rb, rbatch, ro = 0;
    size_t nbatch = 1, abatch = 1, bbatch = 1;
    matmul_params *p;
    qcal_status st = qcal__check_inputs(n, 2, 2, err);

    if (st != QCAL_OK)
        return st;
    a = n->in[0];
    b = n->in[1];
    if (!is_float_type(a->dtype) || b->dtype != a->dtype)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "A is %s and B is %s, expected both "
                                "float32 or both float64", qcal_dtype_name(a->dtype),
                                qcal_dtype_name(b->dtype));
    if (a->rank < 1 || b->rank < 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "operands must have rank >= 1");
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output Y is missing");
    /* Promote 1-D operands to matrices: A [K] -> [1, K], B [K] -> [K, 1]. */
    ra = a->rank;
    rb = b->rank;
    memcpy(adims, a->dims, sizeof adims);
    memcpy(bdims, b->dims, sizeof bdims);
    if (ra == 1) {
        adims[1] = adims[0];
        adims[0] = 1;
        ra = 2;
    }
    if (rb == 1) {
        bdims[1] = 1;
        rb = 2;
    }
    if (adims[ra - 1] != bdims[rb - 2])
        return qcal__node_error(err, n, QCAL_E_SHAPE, "inner dims differ: %lld vs %lld",
                                (long long)adims[ra - 1], (long long)bdims[rb - 2]);
    st = qcal__broadcast(n, ra - 2, adims, rb - 2, bdims, &rbatch, obatch, err);
    if (st != QCAL_OK)
        return st;
    for (int i = 0; i < rbatch; i++) {
        odims[ro++] = obatch[i];
        nbatch *= (size_t)obatch[i];
    }
    if (a->rank > 1)
        odims[ro++] = adims[ra - 2];
    if (b->rank > 1)
        odims[ro++] = bdims[rb - 1];
    if (ro > QCAL_MAX_RANK)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "output rank %d too large", ro);
    st = qcal__tensor_set_shape(n->out[0], a->dtype, ro, odims, err);
    if (st != QCAL_OK)
        return st;
    for (int i = 0; i < ra - 2; i++)
        abatch *= (size_t)adims[i];
    for (int i = 0; i < rb - 2; i++)
        bbatch *= (size_t)bdims[i];
    bool fold = bbatch == 1 && abatch == nbatch;
    size_t ncall = fold ? 1 : nbatch;
    p = malloc(sizeof *p + 2 * ncall * sizeof p->off[0]);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->dt = a->dtype;
    p->m = adims[ra - 2] * (fold ? (int64_t)nbatch : 1);
    p->k = adims[ra - 1];
    p->n = bdims[rb - 1];
    p->nbatch = ncall;
    n->params = p;
    n->scratch = 0;
    if (fold) {
        p->off[0] = 0;
        p->off[1] = 0;
        return QCAL_OK;
    }
    /* Batch strides of A and B aligned to the output's batch dims; 0 where broadcast. */
    for (int i = 0; i < rbatch; i++) {
        int ia = i - (rbatch - (ra - 2)), ib = i - (rbatch - (rb - 2));
        astr[i] = (ia >= 0 && adims[ia] != 1) ? 1 : 0;
        bstr[i] = (ib >= 0 && bdims[ib] != 1) ? 1 : 0;
    }
    {
        int64_t sa = adims[ra - 2] * adims[ra - 1], sb = bdims[rb - 2] * bdims[rb - 1];
        for (int i = rbatch - 1; i >= 0; i--) {
            int ia = i - (rbatch - (ra - 2)), ib = i - (rbatch - (rb - 2));
            astr[i] = astr[i] ? sa : 0;
            bstr[i] = bstr[i] ? sb : 0;
            if (ia >= 0)
                sa *= adims[ia];
            if (ib >= 0)
                sb *= bdims[ib];
        }
    }
    memset(idx, 0, sizeof idx);
    for (size_t bi = 0; bi < nbatch; bi++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < rbatch; i++) {
            oa += idx[i] * astr[i];
            ob += idx[i] * bstr[i];
        }
        p->off[bi] = (size_t)oa;
        p->off[nbatch + bi] = (size_t)ob;
        for (int i = rbatch - 1; i >= 0; i--) {
            if (++idx[i] < obatch[i])
                break;
            idx[i] = 0;
        }
    }
    return QCAL_OK;
}

static void matmul_run(const qcal__node *n, void *scratch)
{
    const matmul_params *p = n->params;
    const size_t esz = qcal_dtype_size(p->dt), ysz = (size_t)(p->m * p->n);
    const char *a = n->in[0]->data, *b = n->in[1]->data;
    char *y = n->out[0]->data;

    (void)scratch;
    if (ysz == 0)
        return;
    if (p->k == 0) {
        memset(y, 0, ysz * p->nbatch * esz);
        return;
    }
    for (size_t bi = 0; bi < p->nbatch; bi++) {
        const void *ab = a + p->off[bi] * esz, *bb = b + p->off[p->nbatch + bi] * esz;
        void *yb = y + bi * ysz * esz;

        if (p->dt == QCAL_DT_FLOAT)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)p->m, (blasint)p->n,
                        (blasint)p->k, 1.0f, ab, ld(p->k), bb, ld(p->n), 0.0f, yb, ld(p->n));
        else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)p->m, (blasint)p->n,
                        (blasint)p->k, 1.0, ab, ld(p->k), bb, ld(p->n), 0.0, yb, ld(p->n));
    }
}

void qcal__gemm_batch(qcal_dtype dt, size_t batch, int64_t m, int64_t n, int64_t k, bool ta,
                      bool tb, const void *a, const void *b, void *c)
{
    const size_t esz = qcal_dtype_size(dt), sa = (size_t)(m * k), sb = (size_t)(k * n);
    const size_t sc = (size_t)(m * n);
    const enum CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans;
    const enum CBLAS_TRANSPOSE opb = tb ? CblasTrans : CblasNoTrans;
    const blasint lda = ld(ta ? m : k), ldb = ld(tb ? k : n);

    if (sc == 0)
        return;
    if (k == 0) {
        memset(c, 0, batch * sc * esz);
        return;
    }
    for (size_t i = 0; i < batch; i++) {
        const void *ab = (const char *)a + i * sa * esz, *bb = (const char *)b + i * sb * esz;
        void *cb = (char *)c + i * sc * esz;
        if (dt == QCAL_DT_FLOAT)
            cblas_sgemm(CblasRowMajor, opa, opb, (blasint)m, (blasint)n, (blasint)k, 1.0f, ab,
                        lda, bb, ldb, 0.0f, cb, ld(n));
        else
            cblas_dgemm(CblasRowMajor, opa, opb, (blasint)m, (blasint)n, (blasint)k, 1.0, ab,
                        lda, bb, ldb, 0.0, cb, ld(n));
    }
}

const qcal__op qcal__ops_gemm[] = {
    { "Gemm", 1, 6, gemm1_infer, gemm_run, 0 },
    { "Gemm", 7, QCAL__OPSET_LAST, gemm7_infer, gemm_run, 0 },
    { "MatMul", 1, QCAL__OPSET_LAST, matmul_infer, matmul_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
