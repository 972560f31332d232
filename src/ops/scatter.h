/*
 * Private helpers of the index-driven families (gather_nd.c, scatter.c, index.c): reading index
 * tensors, checking constant indices at infer time, and the element-wise reductions of
 * ScatterND / ScatterElements.
 */
#ifndef QCAL_OPS_SCATTER_H
#define QCAL_OPS_SCATTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/ops.h"

/* The `reduction` attribute of ScatterND-16/18 and ScatterElements-16/18. */
typedef enum qcal__reduction {
    QCAL__RED_NONE = 0,
    QCAL__RED_ADD,
    QCAL__RED_MUL,
    QCAL__RED_MAX,
    QCAL__RED_MIN,
} qcal__reduction;

/* Value j of an int32 or int64 index tensor (the caller checked the dtype). */
static inline int64_t qcal__index_at(const qcal__tensor *t, size_t j)
{
    if (t->dtype == QCAL_DT_INT64)
        return ((const int64_t *)t->data)[j];
    return ((const int32_t *)t->data)[j];
}

/* The checks every index-driven op starts with: exactly nin inputs all present, output 0
 * present, input 0 of a fixed-size dtype and input 1 (named what in messages, "indices") int32
 * or int64. */
qcal_status qcal__index_op_check(const qcal__node *n, int nin, const char *what,
                                 qcal_error *err);

/* Parses `reduction` as the node's opset allows it (none before 16, add/mul from 16, max/min
 * from 18) and checks that dtype dt supports it (any dtype for none; numbers otherwise). */
qcal_status qcal__reduction_parse(const qcal__node *n, qcal_dtype dt, qcal__reduction *out,
                                  qcal_error *err);

/* dst[i] = red(dst[i], src[i]) for i < count, in dtype dt (red != NONE; dt accepted by
 * qcal__reduction_parse). max/min propagate NaN as numpy.maximum does. Does not allocate. */
void qcal__reduce_into(void *dst, const void *src, size_t count, qcal_dtype dt,
                       qcal__reduction red);

#endif
