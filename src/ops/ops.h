/*
 * Operator kernels: the interface every op family implements, and small helpers for reading
 * attributes and constant inputs.
 *
 * Life of a node: the loader resolves (op_type, opset) to a qcal__op from the registry. At prepare
 * time the executor calls infer() in execution order, after the shapes (and, for CONST tensors, the
 * values) of all inputs are known; infer parses attributes, checks inputs, sets every output's
 * dtype and shape with qcal__tensor_set_shape(), may store parsed parameters in n->params (malloc,
 * freed with free() by the graph; infer is always called with n->params == NULL) and sets
 * n->scratch (bytes). When all inputs are CONST the executor runs the node at prepare time
 * (constant folding). run() reads n->in[i]->data and writes n->out[i]->data; it cannot fail and
 * must not allocate; scratch is n->scratch bytes, 64-byte aligned, uninitialised.
 *
 * Inputs named in value_inputs (bit i = input i) must have known values at infer time (shape
 * arguments: Reshape's shape, Slice's starts, ...). The executor binds graph inputs feeding such
 * slots to the values given at prepare time, or fails with a message naming the input.
 */
#ifndef QCAL_OPS_H
#define QCAL_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"

#define QCAL__OPSET_LAST 1000

typedef struct qcal__op {
    const char *op_type;
    int since, until; /* closed opset range */
    qcal_status (*infer)(qcal__node *n, qcal_error *err);
    void (*run)(const qcal__node *n, void *scratch);
    uint32_t value_inputs; /* bit i: input i's value is needed by infer */
} qcal__op;

/*
 * Data-dependent kernels (output shapes depend on input values: NonZero, Unique, ...) and control
 * flow (If, Loop, Scan): their registry entry has run = qcal__xop_run (never called) and the
 * executor calls the exec of the qcal__xop of the same op_type instead. infer then only checks
 * attributes and what it can without values (inputs may be unshaped) and sets no output shape;
 * exec computes the outputs at run time, giving each its shape and buffer through
 * qcal__exec_output(). exec may allocate and fail (dynamic mode, DESIGN.md). dtype gives output
 * k's dtype without values (QCAL_DT_UNDEFINED: unknown); the run checks the outputs against it.
 */
typedef struct qcal__exec qcal__exec; /* executor services (src/exec/model.c) */

typedef struct qcal__xop {
    const char *op_type;
    qcal_status (*exec)(qcal__node *n, qcal__exec *x, qcal_error *err);
    qcal_dtype (*dtype)(const qcal__node *n, int k);
} qcal__xop;

void qcal__xop_run(const qcal__node *n, void *scratch);
/* The exec kernel of n, NULL for ordinary kernels. */
const qcal__xop *qcal__xop_of(const qcal__node *n);

/* Gives output k of n (of an exec kernel) its dtype and shape and a buffer, valid until the
 * node runs again. Fails on shape overflow or out of memory. */
qcal_status qcal__exec_output(qcal__exec *x, qcal__node *n, int k, qcal_dtype dt, int rank,
                              const int64_t *dims, qcal_error *err);
/* Runs subgraph g once: its formal inputs take in[0..n_in) (shape, dtype and data copied; the
 * observer sees them), then its nodes run (each observed). Afterwards g->outputs[k] hold the
 * results (shape and data valid until g runs again). */
qcal_status qcal__exec_graph(qcal__exec *x, qcal__graph *g, const qcal_tensor_view *in,
                             int n_in, qcal_error *err);

/* Each family file defines one table, terminated by an entry with op_type NULL. */
extern const qcal__op qcal__ops_conv[];    /* conv.c: Conv, ConvTranspose */
extern const qcal__op qcal__ops_gemm[];    /* gemm.c: Gemm, MatMul */
extern const qcal__op qcal__ops_unary[];   /* unary.c: math and activation functions */
extern const qcal__op qcal__ops_binary[];  /* binary.c: broadcasting arithmetic, compare, logic,
                                              variadic, Where, PRelu */
extern const qcal__op qcal__ops_pool[];    /* pool.c: MaxPool, AveragePool, Global*, LRN */
extern const qcal__op qcal__ops_norm[];    /* norm.c: BatchNorm, InstanceNorm, LayerNorm,
                                              Softmax, LogSoftmax */
extern const qcal__op qcal__ops_reduce[];  /* reduce.c: Reduce*, ArgMax, TopK */
extern const qcal__op qcal__ops_shape[];   /* shape.c: Reshape, Flatten, Squeeze, ... */
extern const qcal__op qcal__ops_move[];    /* move.c: Transpose, Concat, Split, Slice, Gather,
                                              GatherElements, Pad, Tile, Expand, D2S, S2D */
extern const qcal__op qcal__ops_resize[];  /* resize.c: Resize, Upsample */
extern const qcal__op qcal__ops_quant[];   /* quant.c: QuantizeLinear, DequantizeLinear */
extern const qcal__op qcal__ops_gather_nd[]; /* gather_nd.c: GatherND, ScatterND */
extern const qcal__op qcal__ops_scatter[];   /* scatter.c: ScatterElements, Scatter */
extern const qcal__op qcal__ops_index[];     /* index.c: OneHot, ReverseSequence */
extern const qcal__op qcal__ops_grid[];      /* grid.c: GridSample, AffineGrid */
extern const qcal__op qcal__ops_trig[];    /* trig.c: Sin, Cos, Tan, their inverses, hyperbolics */
extern const qcal__op qcal__ops_act[];     /* act.c: Celu, Mish, Gelu, Shrink, ThresholdedRelu,
                                              Sign, IsInf, IsNaN */
extern const qcal__op qcal__ops_qlinear[]; /* qlinear.c: MatMulInteger, QLinearMatMul,
                                              DynamicQuantizeLinear */
extern const qcal__op qcal__ops_qconv[];   /* qconv.c: ConvInteger, QLinearConv */
extern const qcal__op qcal__ops_bitwise[]; /* bitwise.c: BitShift, Bitwise*, Mod */
extern const qcal__op qcal__ops_math2[];   /* math2.c: CumSum, Trilu, EyeLike, Det */
extern const qcal__op qcal__ops_spectral[]; /* spectral.c: DFT, STFT */
extern const qcal__op qcal__ops_window[];   /* window.c: Hann/Hamming/BlackmanWindow,
                                               MelWeightMatrix */
extern const qcal__op qcal__ops_groupnorm[]; /* groupnorm.c: GroupNormalization, LpNormalization */
extern const qcal__op qcal__ops_roi[];       /* roi.c: RoiAlign, MaxRoiPool */
extern const qcal__op qcal__ops_col2im[];    /* col2im.c: Col2Im, CenterCropPad */
extern const qcal__op qcal__ops_control[]; /* control.c: If, Loop, Scan (exec kernels) */
extern const qcal__op qcal__ops_dynamic[]; /* dynamic.c: NonZero, Unique, Compress,
                                              NonMaxSuppression (exec kernels) */
extern const qcal__xop qcal__xops_control[], qcal__xops_dynamic[]; /* their exec halves */
extern const qcal__op qcal__ops_lppool[];  /* lppool.c: LpPool, GlobalLpPool */
extern const qcal__op qcal__ops_deform[];    /* deform.c: DeformConv */
extern const qcal__op qcal__ops_rnn[];      /* rnn.c: RNN, GRU, LSTM */
extern const qcal__op qcal__ops_einsum[];  /* einsum.c: Einsum */

/* Finds the kernel for (op_type, opset) in the default domain; NULL if none. */
const qcal__op *qcal__op_find(const char *op_type, int opset);
/* True if some opset of op_type is registered (to word the error). */
bool qcal__op_known(const char *op_type);
/* Calls fn for every registered entry (tests, README table). */
void qcal__op_foreach(void (*fn)(const qcal__op *op, void *ctx), void *ctx);

/* ---- attributes (absent attribute: the default is returned) ---- */
const qcal__attr *qcal__attr_find(const qcal__node *n, const char *name);
int64_t qcal__attr_int(const qcal__node *n, const char *name, int64_t def);
float qcal__attr_float(const qcal__node *n, const char *name, float def);
const char *qcal__attr_str(const qcal__node *n, const char *name, const char *def);
/* Returns the element count and sets *out (NULL and 0 when absent). */
size_t qcal__attr_ints(const qcal__node *n, const char *name, const int64_t **out);
size_t qcal__attr_floats(const qcal__node *n, const char *name, const float **out);

/* Reads the per-dim INTS attribute name (count values; absent: count copies of def) into out,
 * each in [lo, QCAL__DIM_ATTR_MAX] (2^40: sums and products of a few such values and of tensor
 * dims fit int64). Fails naming the attribute on a wrong count or value. */
#define QCAL__DIM_ATTR_MAX ((int64_t)1 << 40)
qcal_status qcal__attr_dims(const qcal__node *n, const char *name, size_t count, int64_t def,
                            int64_t lo, int64_t *out, qcal_error *err);

/* ---- errors: "node 'name' (Op): <message>" ---- */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
qcal_status qcal__node_error(qcal_error *err, const qcal__node *n, qcal_status code,
                             const char *fmt, ...);

/* ---- run-time failure ---- */
/* run() cannot return an error: on invalid per-sample data (an index out of range) it writes a
 * defined output (zeros), calls this with a static message, and the executor fails the run with
 * "node 'x' (Op): <msg>". The node is not const underneath (nodes live in the graph's heap). */
static inline void qcal__run_fail(const qcal__node *n, const char *msg)
{
    qcal__node *w = (qcal__node *)(uintptr_t)n;
    if (!w->run_error)
        w->run_error = msg;
}

/* ---- inputs ---- */
/* Input i if present (i < n_in and not omitted), else NULL. */
static inline const qcal__tensor *qcal__in(const qcal__node *n, int i)
{
    return (i < n->n_in) ? n->in[i] : NULL;
}
/* Checks n_in within [lo, hi] and the presence of inputs 0..lo-1. */
qcal_status qcal__check_inputs(const qcal__node *n, int lo, int hi, qcal_error *err);
/* Reads CONST input i (int64, int32, or any integer type) into out[max]; *count gets the
 * element count. Fails naming the input if it is not CONST or has more than max elements. */
qcal_status qcal__const_ints(const qcal__node *n, int i, int64_t *out, size_t max, size_t *count,
                             qcal_error *err);
/* Same for float-valued (float32/float64/float16 not supported) CONST inputs. */
qcal_status qcal__const_floats(const qcal__node *n, int i, float *out, size_t max, size_t *count,
                               qcal_error *err);

/* Normalizes axis (may be negative) against rank; fails with E_INVALID when out of range. */
qcal_status qcal__norm_axis(const qcal__node *n, int64_t axis, int rank, int *out,
                            qcal_error *err);

/* Numpy-style broadcast of shapes a and b into out (rank *out_rank). E_SHAPE if incompatible. */
qcal_status qcal__broadcast(const qcal__node *n, int ra, const int64_t *a, int rb,
                            const int64_t *b, int *out_rank, int64_t *out, qcal_error *err);

/*
 * Checked int64 shape arithmetic: every size, stride, offset or pad sum an infer function
 * computes from attributes or input values goes through these. On overflow they fail with
 * QCAL_E_SHAPE "node 'x' (Op): <what>: a + b overflows int64" (what names the attribute).
 */
qcal_status qcal__add_i64(const qcal__node *n, const char *what, int64_t a, int64_t b,
                          int64_t *out, qcal_error *err);
qcal_status qcal__sub_i64(const qcal__node *n, const char *what, int64_t a, int64_t b,
                          int64_t *out, qcal_error *err);
qcal_status qcal__mul_i64(const qcal__node *n, const char *what, int64_t a, int64_t b,
                          int64_t *out, qcal_error *err);
/* Product of rank dims into *out; fails on a negative dim, or when the product of the non-zero
 * dims overflows (so strides derived from the shape are safe even when a dim is 0). */
qcal_status qcal__dims_product(const qcal__node *n, const char *what, int rank,
                               const int64_t *dims, int64_t *out, qcal_error *err);

/* norm.c: two-pass mean and population variance of v[0..len) in double, in index order
 * (0 and 0 when len is 0). Used by the normalisation kernels of several families. */
void qcal__mean_var_f32(const float *v, size_t len, double *mean, double *var);

/* gemm.c: batch row-major products C[i] = op(A[i]) * op(B[i]) (op: transpose when ta/tb) of
 * contiguous float32 or float64 matrices, C[i] m x n, through single-threaded BLAS; A[i] has
 * m * k elements, B[i] k * n, C[i] m * n. k == 0 gives zeros. Does not allocate. */
void qcal__gemm_batch(qcal_dtype dt, size_t batch, int64_t m, int64_t n, int64_t k, bool ta,
                      bool tb, const void *a, const void *b, void *c);

/* Row-major strides (in elements) of a shape. */
void qcal__strides(int rank, const int64_t *dims, int64_t *strides);

#endif
