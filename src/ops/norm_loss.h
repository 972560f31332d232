/*
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss kernels (norm_loss.c), listed in the
 * norm family's table in norm.c. Internal to src/ops.
 */
#ifndef QCAL_OPS_NORM_LOSS_H
#define QCAL_OPS_NORM_LOSS_H

#include "ops/ops.h"

qcal_status qcal__nll_infer(qcal__node *n, qcal_error *err);
void qcal__nll_run(const qcal__node *n, void *scratch);

qcal_status qcal__sce_infer(qcal__node *n, qcal_error *err);
void qcal__sce_run(const qcal__node *n, void *scratch);

#endif
