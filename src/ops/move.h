/*
 * Private helpers of the data-movement families (shape.c, move.c and their shape_*.c / move_*.c
 * parts): a planned N-D strided copy, element conversion between dtypes, and the kernels the two
 * tables in shape.c and move.c point at.
 */
#ifndef QCAL_OPS_MOVE_H
#define QCAL_OPS_MOVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/ops.h"

/* Tile views an N-D tensor as 2N-D, so copy plans hold twice the tensor rank. */
#define QCAL__COPY_MAX_RANK (2 * QCAL_MAX_RANK)

/*
 * A strided copy: for every index i of dims (row-major), the element at dst_off + sum(i_k *
 * dst_st[k]) receives the element at src_off + sum(i_k * src_st[k]). Offsets and strides count
 * elements of esz bytes; strides may be negative (Slice with negative steps) or zero (Expand).
 */
typedef struct qcal__copy_plan {
    int rank;
    bool empty; /* some dim is 0: nothing to copy */
    size_t esz;
    int64_t src_off, dst_off;
    int64_t dims[QCAL__COPY_MAX_RANK];
    int64_t src_st[QCAL__COPY_MAX_RANK];
    int64_t dst_st[QCAL__COPY_MAX_RANK];
} qcal__copy_plan;

/* Fills p and simplifies it: drops dims of size 1 and merges dims that are contiguous in both
 * source and destination, so contiguous parts become single memcpy calls. rank may be up to
 * QCAL__COPY_MAX_RANK; dims/strides may be NULL when rank is 0. Does not allocate. */
void qcal__copy_plan_init(qcal__copy_plan *p, int rank, const int64_t *dims,
                          const int64_t *dst_st, const int64_t *src_st, size_t esz,
                          int64_t dst_off, int64_t src_off);

/* Runs a plan from src into dst (both base pointers of whole tensors). Does not allocate. */
void qcal__copy_run(const qcal__copy_plan *p, void *dst, const void *src);

/* True for the dtypes Cast converts: float32/64, float16, bool and 8..64-bit integers. */
bool qcal__cast_supported(qcal_dtype dt);

/* Converts one element of type sdt at src into type ddt at dst (both supported). Float to
 * integer truncates toward zero and saturates (NaN gives 0); integer to integer wraps as C's
 * unsigned conversion does; anything to bool is "!= 0". */
void qcal__cast_elem(void *dst, qcal_dtype ddt, const void *src, qcal_dtype sdt);

/* Row-major strides of a shape, plus the element count (product of dims). */
int64_t qcal__move_strides(int rank, const int64_t *dims, int64_t *strides);

/* ---- kernels (shape family) ---- */
/* Copies input 0's bytes to output 0 (the ops that only change the shape). */
void qcal__copy_input_run(const qcal__node *n, void *scratch);
qcal_status qcal__dropout_infer(qcal__node *n, qcal_error *err);
void qcal__dropout_run(const qcal__node *n, void *scratch);
qcal_status qcal__cast_infer(qcal__node *n, qcal_error *err);
qcal_status qcal__castlike_infer(qcal__node *n, qcal_error *err);
void qcal__cast_run(const qcal__node *n, void *scratch);
qcal_status qcal__constant_infer(qcal__node *n, qcal_error *err);
void qcal__constant_run(const qcal__node *n, void *scratch);
qcal_status qcal__constantofshape_infer(qcal__node *n, qcal_error *err);
void qcal__constantofshape_run(const qcal__node *n, void *scratch);
qcal_status qcal__range_infer(qcal__node *n, qcal_error *err);
void qcal__range_run(const qcal__node *n, void *scratch);

/* ---- kernels (move family) ---- */
qcal_status qcal__slice_infer(qcal__node *n, qcal_error *err);
qcal_status qcal__pad_infer(qcal__node *n, qcal_error *err);
void qcal__pad_run(const qcal__node *n, void *scratch);
qcal_status qcal__gather_infer(qcal__node *n, qcal_error *err);
void qcal__gather_run(const qcal__node *n, void *scratch);
qcal_status qcal__gather_elements_infer(qcal__node *n, qcal_error *err);
void qcal__gather_elements_run(const qcal__node *n, void *scratch);
qcal_status qcal__depth_to_space_infer(qcal__node *n, qcal_error *err);
qcal_status qcal__space_to_depth_infer(qcal__node *n, qcal_error *err);
/* Runs the single copy plan stored in n->params (Transpose, Slice, Expand, Tile, D2S, S2D). */
void qcal__plan_run(const qcal__node *n, void *scratch);

#endif
