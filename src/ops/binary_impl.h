/*
 * Private to the binary family (binary.c, binary_bcast.c, binary_misc.c): the broadcast plan that
 * drives every multi-input element-wise kernel, the row-kernel type, and the kernels defined
 * outside binary.c that its table names.
 *
 * A plan collapses the output shape and the inputs' broadcast strides into as few dimensions as
 * possible: dimensions of size 1 are dropped and neighbours merged whenever every input walks them
 * contiguously (or not at all). Same-shape operands become one row of nelem elements, a scalar
 * operand a row with stride 0, a per-channel operand rows of H*W with stride 0, so the innermost
 * loop carries no index arithmetic in the common cases.
 */
#ifndef QCAL_OPS_BINARY_IMPL_H
#define QCAL_OPS_BINARY_IMPL_H

#include "ops/ops.h"

#define QCAL__BC_MAX_IN 3

/*
 * A row kernel computes n output elements o[i] = f(a[i*sa], b[i*sb], c[i*sc]); every stride is 0
 * (the operand is fixed for the whole row) or 1. Two-input kernels ignore c and sc. o may be the
 * same buffer as a (variadic ops accumulate in place) but never partially overlap it.
 */
typedef void (*qcal__row_fn)(void *o, const void *a, const void *b, const void *c, size_t n,
                             int sa, int sb, int sc);

typedef struct qcal__bcast {
    int rank;                                        /* collapsed rank, >= 1 */
    int n_in;                                        /* 1..QCAL__BC_MAX_IN */
    int64_t dims[QCAL_MAX_RANK];                     /* collapsed output dims */
    int64_t strides[QCAL__BC_MAX_IN][QCAL_MAX_RANK]; /* element strides, 0 on broadcast dims */
    size_t nelem;
} qcal__bcast;

/* Parameters of every node run by qcal__bin_run: one kernel, one plan. */
typedef struct qcal__bin_params {
    qcal__row_fn fn;
    qcal__bcast bc;
} qcal__bin_params;

/*
 * Builds the plan for an output of shape (rank, dims) and n_in inputs whose shapes (ranks[k],
 * in_dims[k]) are right-aligned against it; each input dim must be 1 or equal to the output dim
 * (the caller has checked this with qcal__broadcast). Does not allocate.
 */
void qcal__bcast_init(qcal__bcast *bc, int rank, const int64_t *dims, int n_in, const int *ranks,
                      const int64_t *const *in_dims);

/* Runs fn over the plan: in[k] has elements of isz[k] bytes, o of osz bytes. */
void qcal__bcast_run(const qcal__bcast *bc, qcal__row_fn fn, void *o, size_t osz,
                     const void *const *in, const size_t *isz);

/*
 * Common infer tail: broadcasts the shapes (ranks[k], dims[k]) of n_in inputs, sets output 0 to
 * out_dt and the broadcast shape, and stores a qcal__bin_params with fn in n->params. The inputs
 * of the plan are n->in[0..n_in-1] in order (qcal__bin_run reads them so).
 */
qcal_status qcal__bin_setup_shapes(qcal__node *n, qcal__row_fn fn, qcal_dtype out_dt, int n_in,
                                   const int *ranks, const int64_t *const *dims, qcal_error *err);

/*
 * Setup for a two-input op with the ONNX broadcasting of its opset: numpy rules from opset 7; for
 * opsets 1-6 the `broadcast` and `axis` attributes (B's shape is matched against A's starting at
 * axis, or as a suffix when axis is absent; dims of 1 in B also broadcast). Output shape is the
 * broadcast shape, dtype out_dt.
 */
qcal_status qcal__bin_setup(qcal__node *n, qcal__row_fn fn, qcal_dtype out_dt, qcal_error *err);

/*
 * Infer of a two-input op whose inputs have one type: the kernel for that type from fns
 * (QCAL__NDT slots), broadcasting of the opset (qcal__bin_setup). Output: that type, or bool when
 * to_bool.
 */
qcal_status qcal__bin_two_infer(qcal__node *n, const qcal__row_fn *fns, bool to_bool,
                               qcal_error *err);

/* run() of every node set up by qcal__bin_setup*: applies params->fn over the plan. */
void qcal__bin_run(const qcal__node *n, void *scratch);

/* Output shape checks shared by infer functions: n_out >= 1 and out[0] present. */
qcal_status qcal__bin_check_out(const qcal__node *n, qcal_error *err);

/* binary_misc.c: Pow, Where and PRelu. */
qcal_status qcal__pow_infer(qcal__node *n, qcal_error *err);
qcal_status qcal__where_infer(qcal__node *n, qcal_error *err);
qcal_status qcal__prelu_infer(qcal__node *n, qcal_error *err);

/*
 * Defines a row kernel `name` with element types TA, TB (inputs) and TO (output). EXPR computes
 * one output from `x` (of type TA) and `y` (of type TB). The four stride cases get their own loop
 * so the compiler can vectorize each.
 */
#define QCAL__ROW2(name, TA, TB, TO, EXPR)                                                      \
    static void name(void *o_, const void *a_, const void *b_, const void *c_, size_t n,        \
                     int sa, int sb, int sc)                                                    \
    {                                                                                           \
        TO *o = o_;                                                                             \
        const TA *a = a_;                                                                       \
        const TB *b = b_;                                                                       \
        (void)c_;                                                                               \
        (void)sc;                                                                               \
        if (sa && sb) {                                                                         \
            for (size_t i = 0; i < n; i++) {                                                    \
                TA x = a[i];                                                                    \
                TB y = b[i];                                                                    \
                o[i] = (TO)(EXPR);                                                              \
            }                                                                                   \
        } else if (sa) {                                                                        \
            TB y = b[0];                                                                        \
            for (size_t i = 0; i < n; i++) {                                                    \
                TA x = a[i];                                                                    \
                o[i] = (TO)(EXPR);                                                              \
            }                                                                                   \
        } else if (sb) {                                                                        \
            TA x = a[0];                                                                        \
            for (size_t i = 0; i < n; i++) {                                                    \
                TB y = b[i];                                                                    \
                o[i] = (TO)(EXPR);                                                              \
            }                                                                                   \
        } else {                                                                                \
            TA x = a[0];                                                                        \
            TB y = b[0];                                                                        \
            TO v = (TO)(EXPR);                                                                  \
            for (size_t i = 0; i < n; i++)                                                      \
                o[i] = v;                                                                       \
        }                                                                                       \
    }

/* ---- type lists: X(op, suffix, C type, wide unsigned type for wrapping arithmetic, dtype) ---- */
#define FLOAT_TYPES(X, op)                                                                      \
    X(op, f32, float, float, QCAL_DT_FLOAT)                                                     \
    X(op, f64, double, double, QCAL_DT_DOUBLE)
#define SINT_TYPES(X, op)                                                                       \
    X(op, i8, int8_t, uint32_t, QCAL_DT_INT8)                                                   \
    X(op, i16, int16_t, uint32_t, QCAL_DT_INT16)                                                \
    X(op, i32, int32_t, uint32_t, QCAL_DT_INT32)                                                \
    X(op, i64, int64_t, uint64_t, QCAL_DT_INT64)
#define UINT_TYPES(X, op)                                                                       \
    X(op, u8, uint8_t, uint32_t, QCAL_DT_UINT8)                                                 \
    X(op, u16, uint16_t, uint32_t, QCAL_DT_UINT16)                                              \
    X(op, u32, uint32_t, uint32_t, QCAL_DT_UINT32)                                              \
    X(op, u64, uint64_t, uint64_t, QCAL_DT_UINT64)
#define INT_TYPES(X, op) SINT_TYPES(X, op) UINT_TYPES(X, op)
#define NUM_TYPES(X, op) FLOAT_TYPES(X, op) INT_TYPES(X, op)

/* Number of dtype slots in per-dtype kernel tables (indexed by qcal_dtype). */
#define QCAL__NDT (QCAL_DT_UINT64 + 1)

/* Kernel of fns for dtype dt, or NULL. */
static inline qcal__row_fn qcal__row_lookup(const qcal__row_fn *fns, qcal_dtype dt)
{
    return ((unsigned)dt < QCAL__NDT) ? fns[dt] : NULL;
}

#endif
