/*
 * The operator registry: (op_type, opset range) -> kernel. Each family file owns one table;
 * this file only chains them. test_registry checks there are no overlapping ranges.
 */
#include <string.h>

#include "ops/ops.h"

static const qcal__op *const FAMILIES[] = {
    qcal__ops_conv,   qcal__ops_gemm,   qcal__ops_unary, qcal__ops_binary,
    qcal__ops_pool,   qcal__ops_norm,   qcal__ops_reduce, qcal__ops_shape,
    qcal__ops_move,   qcal__ops_resize, qcal__ops_quant,
    qcal__ops_gather_nd,
    qcal__ops_scatter,
    qcal__ops_index,
    qcal__ops_grid,
    qcal__ops_trig, /* trig.c */
    qcal__ops_act,  /* act.c */
    qcal__ops_qlinear, qcal__ops_qconv,
    qcal__ops_bitwise,
    qcal__ops_math2,
    qcal__ops_groupnorm,
    qcal__ops_lppool,
    qcal__ops_einsum,
    qcal__ops_spectral, qcal__ops_window,
    qcal__ops_roi,
    qcal__ops_col2im,
    qcal__ops_dynamic,
    qcal__ops_deform,
    qcal__ops_rnn,
    qcal__ops_control,
};

const qcal__op *qcal__op_find(const char *op_type, int opset)
{
    for (size_t f = 0; f < sizeof FAMILIES / sizeof FAMILIES[0]; f++)
        for (const qcal__op *op = FAMILIES[f]; op->op_type; op++)
            if (strcmp(op->op_type, op_type) == 0 && opset >= op->since && opset <= op->until)
                return op;
    return NULL;
}

bool qcal__op_known(const char *op_type)
{
    for (size_t f = 0; f < sizeof FAMILIES / sizeof FAMILIES[0]; f++)
        for (const qcal__op *op = FAMILIES[f]; op->op_type; op++)
            if (strcmp(op->op_type, op_type) == 0)
                return true;
    return false;
}

void qcal__op_foreach(void (*fn)(const qcal__op *op, void *ctx), void *ctx)
{
    for (size_t f = 0; f < sizeof FAMILIES / sizeof FAMILIES[0]; f++)
        for (const qcal__op *op = FAMILIES[f]; op->op_type; op++)
            fn(op, ctx);
}
