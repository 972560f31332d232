/*
 * ArgMax, ArgMin and TopK kernels (reduce_arg.c), listed in the reduce family's table in
 * reduce.c. Internal to src/ops.
 */
#ifndef QCAL_OPS_REDUCE_ARG_H
#define QCAL_OPS_REDUCE_ARG_H

#include "ops/ops.h"

qcal_status qcal__argmax_infer(qcal__node *n, qcal_error *err);
qcal_status qcal__argmin_infer(qcal__node *n, qcal_error *err);
void qcal__argmax_run(const qcal__node *n, void *scratch);
void qcal__argmin_run(const qcal__node *n, void *scratch);

qcal_status qcal__topk_infer(qcal__node *n, qcal_error *err);
void qcal__topk_run(const qcal__node *n, void *scratch);

#endif
