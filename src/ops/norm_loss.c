/*
 * Loss operators, opset 12 to 17: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (the
 * latter is LogSoftmax over axis 1 followed by the former, with log_prob as optional second
 * output). Inputs are float32 N x C x D1..Dk scores, int32/int64 N x D1..Dk targets and optional
 * float32 per-class weights; reduction is none, sum or mean (mean divides by the summed weights
 * of the targets that count), ignore_index targets contribute nothing.
 *
 * Precision: the loss sum and the weight sum accumulate in double in memory order, converted to
 * float once. Targets outside [0, C) other than ignore_index are invalid input; the kernel, which
 * cannot fail at run time, lets them contribute nothing rather than read out of bounds.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/norm_loss.h"

enum { RED_NONE, RED_SUM, RED_MEAN };

typedef struct loss_params {
    size_t n, c, inner;  /* N, C and D1 * ... * Dk */
    int reduction;
    bool has_ignore;
    int64_t ignore;
} loss_params;

/* Shared checks and output shape; `sce` adds the optional log_prob output. */
static qcal_status loss_infer(qcal__node *n, bool sce, qcal_error *err)
{
    const qcal__tensor *x, *t, *w;
    const char *red = qcal__attr_str(n, "reduction", "mean");
    loss_params *p;
    qcal_status st = qcal__check_inputs(n, 2, 3, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    t = n->in[1];
    w = qcal__in(n, 2);
    if (x->dtype != QCAL_DT_FLOAT || (w && w->dtype != QCAL_DT_FLOAT))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "scores and weights must be float32");
    if (t->dtype != QCAL_DT_INT64 && t->dtype != QCAL_DT_INT32)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "target type %s is not supported",
                                qcal_dtype_name(t->dtype));
    if (x->rank < 2 || t->rank != x->rank - 1 || t->dims[0] != x->dims[0])
        return qcal__node_error(err, n, QCAL_E_SHAPE, "expected scores N x C x D... and target "
                                "N x D...");
    for (int i = 1; i < t->rank; i++)
        if (t->dims[i] != x->dims[i + 1])
            return qcal__node_error(err, n, QCAL_E_SHAPE, "target dim %d does not match", i);
    if (w && w->nelem != (size_t)x->dims[1])
        return qcal__node_error(err, n, QCAL_E_SHAPE, "weight must hold C = %lld values",
                                (long long)x->dims[1]);
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->n = (size_t)x->dims[0];
    p->c = (size_t)x->dims[1];
    p->inner = t->nelem / (p->n ? p->n : 1);
    p->has_ignore = qcal__attr_find(n, "ignore_index") != NULL;
    p->ignore = qcal__attr_int(n, "ignore_index", 0);
    if (strcmp(red, "none") == 0)
        p->reduction = RED_NONE;
    else if (strcmp(red, "sum") == 0)
        p->reduction = RED_SUM;
    else if (strcmp(red, "mean") == 0)
        p->reduction = RED_MEAN;
    else
        return qcal__node_error(err, n, QCAL_E_INVALID, "unknown reduction '%s'", red);
    n->scratch = 0;
    if (sce) {
        /* Softmax statistics per inner position, and log_prob when it is not an output. */
        n->scratch = p->inner * (sizeof(double) + sizeof(float));
        if (n->n_out > 1 && n->out[1])
            st = qcal__tensor_set_shape(n->out[1], x->dtype, x->rank, x->dims, err);
        else
            n->scratch += x->nelem * sizeof(float);
        if (st != QCAL_OK)
            return st;
    }
    if (p->reduction == RED_NONE)
        return qcal__tensor_set_shape(n->out[0], x->dtype, t->rank, t->dims, err);
    return qcal__tensor_set_shape(n->out[0], x->dtype, 0, NULL, err);
}

qcal_status qcal__nll_infer(qcal__node *n, qcal_error *err)
{
    return loss_infer(n, false, err);
}

qcal_status qcal__sce_infer(qcal__node *n, qcal_error *err)
{
    return loss_infer(n, true, err);
}

/* The NLL of log-probabilities lp (N x C x inner) against the targets into y. */
static void nll(const qcal__node *n, const float *lp)
{
    const loss_params *p = n->params;
    const qcal__tensor *t = n->in[1], *wt = qcal__in(n, 2);
    const float *w = wt ? wt->data : NULL;
    float *y = n->out[0]->data;
    double sum = 0.0, wsum = 0.0;

    for (size_t b = 0; b < p->n; b++) {
        for (size_t i = 0; i < p->inner; i++) {
            size_t at = b * p->inner + i;
            int64_t k = t->dtype == QCAL_DT_INT64 ? ((const int64_t *)t->data)[at]
                                                  : ((const int32_t *)t->data)[at];
            float loss = 0.0f, wk = 0.0f;
            if (!(p->has_ignore && k == p->ignore) && k >= 0 && (size_t)k < p->c) {
                wk = w ? w[k] : 1.0f;
                loss = -lp[(b * p->c + (size_t)k) * p->inner + i] * wk;
            }
            if (p->reduction == RED_NONE)
                y[at] = loss;
            sum += (double)loss;
            wsum += (double)wk;
        }
    }
    if (p->reduction == RED_SUM)
        y[0] = (float)sum;
    else if (p->reduction == RED_MEAN)
        y[0] = (float)(sum / wsum);
}

void qcal__nll_run(const qcal__node *n, void *scratch)
{
    (void)scratch;
    nll(n, n->in[0]->data);
}

/* log_prob = x - max - log(sum exp(x - max)) over C, for each (n, inner) column. */
void qcal__sce_run(const qcal__node *n, void *scratch)
{
    const loss_params *p = n->params;
    const float *x = n->in[0]->data;
    double *sum = scratch;
    float *mx = (float *)(sum + p->inner);
    float *lp = (n->n_out > 1 && n->out[1]) ? n->out[1]->data : mx + p->inner;
    const size_t block = p->c * p->inner;

    for (size_t b = 0; b < p->n && p->c > 0; b++) {
        const float *xb = x + b * block;
        float *lb = lp + b * block;
        for (size_t i = 0; i < p->inner; i++) {
            mx[i] = xb[i];
            sum[i] = 0.0;
        }
        for (size_t k = 1; k < p->c; k++)
            for (size_t i = 0; i < p->inner; i++)
                if (xb[k * p->inner + i] > mx[i])
                    mx[i] = xb[k * p->inner + i];
        for (size_t k = 0; k < p->c; k++)
            for (size_t i = 0; i < p->inner; i++)
                sum[i] += (double)expf(xb[k * p->inner + i] - mx[i]);
        for (size_t k = 0; k < p->c; k++)
            for (size_t i = 0; i < p->inner; i++)
                lb[k * p->inner + i] = (xb[k * p->inner + i] - mx[i]) - (float)log(sum[i]);
    }
    nll(n, lp);
}
