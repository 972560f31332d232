/*
 * Private to the element-wise unary families (unary.c, trig.c, act.c, math2.c): the kernel type,
 * its per-node constants, the loop macro and the shared infer/run. A family defines kernels with
 * QCAL__UNARY, lists them in a table indexed by qcal_dtype and calls qcal__unary_setup from its
 * infer; qcal__unary_run is the run() of every such node.
 */
#ifndef QCAL_OPS_UNARY_IMPL_H
#define QCAL_OPS_UNARY_IMPL_H

#include "ops/ops.h"

/* Number of dtype slots in unary kernel tables (indexed by qcal_dtype). */
#define QCAL__UNARY_NDT (QCAL_DT_UINT64 + 1)

/* Per-node constants of the formula (alpha, beta, gamma as the op's attributes name them). */
typedef struct qcal__unary_params qcal__unary_params;
typedef void (*qcal__unary_fn)(void *o, const void *x, size_t n, const qcal__unary_params *p);

struct qcal__unary_params {
    qcal__unary_fn fn;
    float alpha, beta, gamma;
};

/* Defines kernel `name` over elements of type T; EXPR maps `x` (and p's constants) to T. */
#define QCAL__UNARY(name, T, EXPR)                                                              \
    static void name(void *o_, const void *x_, size_t n, const qcal__unary_params *p)           \
    {                                                                                           \
        T *o = o_;                                                                              \
        const T *in = x_;                                                                       \
        (void)p;                                                                                \
        for (size_t i = 0; i < n; i++) {                                                        \
            T x = in[i];                                                                        \
            o[i] = (T)(EXPR);                                                                   \
        }                                                                                       \
    }

/*
 * Shared infer: one input of a type fns (QCAL__UNARY_NDT slots) supports; output of the same type
 * and shape. Stores the kernel and constants in n->params. A caller whose output type differs
 * (IsNaN: bool) sets the output again after it.
 */
qcal_status qcal__unary_setup(qcal__node *n, const qcal__unary_fn *fns, float alpha, float beta,
                              float gamma, qcal_error *err);

/* run() of every node set up by qcal__unary_setup: params->fn over all elements. */
void qcal__unary_run(const qcal__node *n, void *scratch);

#endif
