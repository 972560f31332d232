/*
 * Private to the pooling families (pool.c, lppool.c): the parameter block pool.c's shared infer
 * builds (output geometry and, per spatial axis and output position, the clipped window), so
 * LpPool runs over the same geometry as MaxPool and AveragePool.
 */
#ifndef QCAL_OPS_POOL_IMPL_H
#define QCAL_OPS_POOL_IMPL_H

#include "ops/ops.h"

#define POOL_MAX_SPATIAL 3

enum { POOL_MAX, POOL_AVG, POOL_LP };

/* The taps of one output position along one spatial axis. */
typedef struct tap_span {
    int64_t start;  /* input index of the first tap inside the input */
    int32_t count;  /* taps inside the input */
    int32_t padded; /* taps inside the padded input: the count_include_pad divisor factor */
} tap_span;

typedef struct pool_params {
    int kind;
    bool include_pad; /* AveragePool count_include_pad */
    bool col_major;   /* MaxPool storage_order 1: Indices are column-major over spatial axes */
    bool dilated;
    int64_t planes;   /* N * C */
    int64_t in[POOL_MAX_SPATIAL], out[POOL_MAX_SPATIAL], dil[POOL_MAX_SPATIAL];
    tap_span *span[POOL_MAX_SPATIAL]; /* point into the same allocation, after this struct */
} pool_params;

/*
 * Shared infer of MaxPool, AveragePool and LpPool (kind): kernel_shape, strides, pads, auto_pad,
 * dilations and ceil_mode resolved into Y's shape and a pool_params in n->params (1-D and 2-D
 * pools as 3-D ones with leading axes of extent 1).
 */
qcal_status qcal__pool_infer(qcal__node *n, int kind, qcal_error *err);

/* Infer of the global pools: float32/float64 N x C x D... -> N x C x 1 .... */
qcal_status qcal__pool_global_infer(qcal__node *n, qcal_error *err);

#endif
