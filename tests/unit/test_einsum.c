/*
 * Einsum (einsum.c) against a brute-force evaluator written here: for every assignment of all
 * labels, out[out labels] += product of the operands. Each case gives the equation qcal runs and
 * an equivalent letters-only, explicit one for the evaluator (ellipses spelled out), so the
 * evaluator stays trivial. The cases cover every GEMM layout (in place, transposed, packed A or
 * B, permuted output), batch/attention patterns, ellipses, and the reference loop (diagonals,
 * traces, sums, three operands, broadcasting, implicit outputs, empty contractions). float32
 * results must match the double evaluator to 1e-5 of the sum of |terms|.
 */
#include <math.h>

#include "opnode.h"

#define MAXE 4096

typedef struct ecase {
    const char *eq;    /* what qcal runs */
    const char *naive; /* "ab,bc->ac": letters only, explicit output */
    int n_ops;
    int rank[3];
    int64_t dims[3][4];
} ecase;

/* Brute force over every label assignment; fills want and bound (sum of |products|). */
static void naive(const ecase *c, const float *const *x, double *want, double *bound,
                  size_t nout)
{
    char terms[4][8] = { { 0 } };
    int64_t dim[128] = { 0 }, val[128] = { 0 };
    char labels[16];
    int nl = 0, t = 0, len = 0;

    for (const char *s = c->naive; *s; s++) {
        if (*s == ',' || *s == '-') {
            t++, len = 0;
            s += *s == '-';
            continue;
        }
        terms[t][len++] = *s;
    }
    for (int i = 0; i < c->n_ops; i++)
        for (int a = 0; terms[i][a]; a++) {
            char l = terms[i][a];
            if (!dim[(int)l]) {
                labels[nl++] = l;
                dim[(int)l] = c->dims[i][a];
            }
        }
    memset(want, 0, nout * sizeof *want);
    memset(bound, 0, nout * sizeof *bound);
    for (;;) {
        double prod = 1.0;
        size_t o = 0;
        int j;
        for (int i = 0; i < c->n_ops; i++) {
            size_t off = 0;
            for (int a = 0; terms[i][a]; a++)
                off = off * (size_t)c->dims[i][a] + (size_t)val[(int)terms[i][a]];
            prod *= (double)x[i][off];
        }
        for (int a = 0; terms[t][a]; a++)
            o = o * (size_t)dim[(int)terms[t][a]] + (size_t)val[(int)terms[t][a]];
        want[o] += prod;
        bound[o] += fabs(prod);
        for (j = nl - 1; j >= 0; j--) {
            if (++val[(int)labels[j]] < dim[(int)labels[j]])
                break;
            val[(int)labels[j]] = 0;
        }
        if (j < 0)
            break;
    }
}

static void run_case(const ecase *c)
{
    static float buf[3][MAXE];
    static double want[MAXE], bound[MAXE];
    const float *xs[3] = { buf[0], buf[1], buf[2] };
    opnode t = { 0 };
    bool empty = false;

    for (int i = 0; i < c->n_ops; i++) {
        size_t ne = qcal__shape_nelem(c->rank[i], c->dims[i]);
        for (size_t k = 0; k < ne; k++)
            buf[i][k] = (float)((int)((k * 7 + (size_t)i * 3) % 11) - 5) * 0.375f;
        opn_in(&t, i, QCAL_DT_FLOAT, c->rank[i], c->dims[i], buf[i]);
        empty = empty || ne == 0;
    }
    opn_str(&t, "equation", c->eq);
    QT_OK(opn_run(&t, "Einsum", 12));
    if (t.out[0].data) {
        const float *y = t.out[0].data;
        if (!empty)
            naive(c, xs, want, bound, t.out[0].nelem);
        else
            memset(want, 0, sizeof want), memset(bound, 0, sizeof bound);
        for (size_t o = 0; o < t.out[0].nelem; o++)
            QT_CHECK_(fabs((double)y[o] - want[o]) <= 1e-5 * bound[o] + 1e-30,
                      "%s: y[%zu] = %.9g, want %.9g", c->eq, o, (double)y[o], want[o]);
    }
    opn_done(&t);
}

static void test_patterns(void)
{
    static const ecase cases[] = {
        /* GEMM path: A and B in place, transposed, packed; output direct or permuted */
        { "ij,jk->ik", "ij,jk->ik", 2, { 2, 2 }, { { 3, 4 }, { 4, 5 } } },
        { "ij,kj->ik", "ij,kj->ik", 2, { 2, 2 }, { { 3, 4 }, { 5, 4 } } },
        { "ji,jk->ik", "ji,jk->ik", 2, { 2, 2 }, { { 4, 3 }, { 4, 5 } } },
        { "ji,kj->ik", "ji,kj->ik", 2, { 2, 2 }, { { 4, 3 }, { 5, 4 } } },
        { "ij,jk->ki", "ij,jk->ki", 2, { 2, 2 }, { { 3, 4 }, { 4, 5 } } },
        { "bij,bjk->bik", "bij,bjk->bik", 2, { 3, 3 }, { { 2, 3, 4 }, { 2, 4, 5 } } },
        { "bij,bkj->bik", "bij,bkj->bik", 2, { 3, 3 }, { { 2, 3, 4 }, { 2, 5, 4 } } },
        { "ijb,jkb->bik", "ijb,jkb->bik", 2, { 3, 3 }, { { 3, 4, 2 }, { 4, 5, 2 } } },
        { "bhqd,bhkd->bhqk", "bhqd,bhkd->bhqk", 2, { 4, 4 }, { { 2, 3, 4, 5 }, { 2, 3, 6, 5 } } },
        { "bqhd,bkhd->bhqk", "bqhd,bkhd->bhqk", 2, { 4, 4 }, { { 2, 4, 3, 5 }, { 2, 6, 3, 5 } } },
        { "ijk,kl->ijl", "ijk,kl->ijl", 2, { 3, 2 }, { { 2, 3, 4 }, { 4, 5 } } },
        { "i,i", "i,i->", 2, { 1, 1 }, { { 7 }, { 7 } } },
        { "i,j->ij", "i,j->ij", 2, { 1, 1 }, { { 3 }, { 4 } } },
        { "...ij,...jk->...ik", "xij,xjk->xik", 2, { 3, 3 }, { { 2, 3, 4 }, { 2, 4, 5 } } },
        { "...ij,jk->...ik", "xyij,jk->xyik", 2, { 4, 2 }, { { 2, 3, 3, 4 }, { 4, 5 } } },
        { "ij, jk", "ij,jk->ik", 2, { 2, 2 }, { { 3, 4 }, { 4, 5 } } },
        { "ba,ca", "ba,ca->bc", 2, { 2, 2 }, { { 3, 4 }, { 5, 4 } } },
        { "BIj,BjK->BIK", "BIj,BjK->BIK", 2, { 3, 3 }, { { 2, 3, 4 }, { 2, 4, 5 } } },
        /* reference loop */
        { "ij->ji", "ij->ji", 1, { 2 }, { { 3, 4 } } },
        { "ij->i", "ij->i", 1, { 2 }, { { 3, 4 } } },
        { "ij->", "ij->", 1, { 2 }, { { 3, 4 } } },
        { "ii->i", "ii->i", 1, { 2 }, { { 4, 4 } } },
        { "ii", "ii->", 1, { 2 }, { { 4, 4 } } },
        { "...ii->...i", "xii->xi", 1, { 3 }, { { 3, 4, 4 } } },
        { "bii,bij->bj", "bii,bij->bj", 2, { 3, 3 }, { { 2, 3, 3 }, { 2, 3, 4 } } },
        { "ij,jk,kl->il", "ij,jk,kl->il", 3, { 2, 2, 2 }, { { 2, 3 }, { 3, 4 }, { 4, 2 } } },
        { "ij,jk->i", "ij,jk->i", 2, { 2, 2 }, { { 3, 4 }, { 4, 5 } } },
        { "...j,...j->...", "xyj,xyj->xy", 2, { 3, 3 }, { { 2, 3, 4 }, { 2, 3, 4 } } },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
}

/* Broadcasting a batch of 1 against 3 (reference loop): A [1,2,3] . B [3,3,2] -> [3,2,2]. */
static void test_broadcast_batch(void)
{
    static const ecase c = { "bij,bjk->bik", "ij,bjk->bik", 2, { 3, 3 },
                             { { 1, 2, 3 }, { 3, 3, 2 } } };
    static const ecase c2 = { "ij,bjk->bik", "ij,bjk->bik", 2, { 2, 3 },
                              { { 2, 3 }, { 3, 3, 2 } } };
    static float a[6], b[18];
    static double want[12], bound[12];
    const float *xs[2] = { a, b };
    opnode t = { 0 };

    for (int k = 0; k < 6; k++)
        a[k] = (float)k - 2.5f;
    for (int k = 0; k < 18; k++)
        b[k] = (float)(k % 5) * 0.5f;
    opn_in(&t, 0, QCAL_DT_FLOAT, 3, c.dims[0], a);
    opn_in(&t, 1, QCAL_DT_FLOAT, 3, c.dims[1], b);
    opn_str(&t, "equation", c.eq);
    QT_OK(opn_run(&t, "Einsum", 12));
    QT_EQ_I64(t.out[0].dims[0], 3);
    naive(&c2, xs, want, bound, 12);
    for (int o = 0; o < 12; o++)
        QT_NEAR((double)((float *)t.out[0].data)[o], want[o], 1e-5 * bound[o] + 1e-30);
    opn_done(&t);
}

/* An empty contraction (j = 0) gives zeros through the GEMM path; K alone gives zeros too. */
static void test_empty_k(void)
{
    static const ecase c = { "ij,jk->ik", "ij,jk->ik", 2, { 2, 2 }, { { 3, 0 }, { 0, 2 } } };
    run_case(&c);
}

/* Errors: a term count that differs from the inputs, a label size mismatch, bad characters. */
static void test_errors(void)
{
    const float x[12] = { 0 };
    const char *bad[] = { "ij,jk->ik", "ij->ik", "i$->i", "ij->ii", "i..j->ij" };
    const qcal_status want[] = { QCAL_E_INVALID, QCAL_E_INVALID, QCAL_E_INVALID,
                                 QCAL_E_INVALID, QCAL_E_INVALID };

    for (int i = 0; i < 5; i++) {
        opnode t = { 0 };
        opn_in(&t, 0, QCAL_DT_FLOAT, 2, (int64_t[]){ 3, 4 }, x);
        opn_str(&t, "equation", bad[i]);
        QT_TRUE(opn_run(&t, "Einsum", 12) == want[i]);
        opn_done(&t);
    }
    {
        opnode t = { 0 };
        opn_in(&t, 0, QCAL_DT_FLOAT, 2, (int64_t[]){ 3, 4 }, x);
        opn_in(&t, 1, QCAL_DT_FLOAT, 2, (int64_t[]){ 3, 4 }, x);
        opn_str(&t, "equation", "ij,jk->ik");
        QT_TRUE(opn_run(&t, "Einsum", 12) == QCAL_E_SHAPE);
        opn_done(&t);
    }
}

int main(void)
{
    QT_RUN(test_patterns);
    QT_RUN(test_broadcast_batch);
    QT_RUN(test_empty_k);
    QT_RUN(test_errors);
    return qt_report();
}
