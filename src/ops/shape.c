/*
 * Shape operators: Reshape, Flatten, Squeeze, Unsqueeze and Identity, whose data is an unchanged
 * copy of the input, Shape and Size, and this family's table. Cast/CastLike live in shape_cast.c;
 * Constant, ConstantOfShape and Range in shape_const.c; Dropout in shape_dropout.c.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/move.h"

/* Input 0 and output 0 are present; sets *x. */
static qcal_status check_io(const qcal__node *n, int lo, int hi, const qcal__tensor **x,
                            qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, lo, hi, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    *x = n->in[0];
    if (qcal_dtype_size((*x)->dtype) == 0)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "dtype %s is not supported",
                                qcal_dtype_name((*x)->dtype));
    return QCAL_OK;
}

/* Output 0 receives input 0's bytes (Reshape, Flatten, Squeeze, Unsqueeze, Identity). */
void qcal__copy_input_run(const qcal__node *n, void *scratch)
{
    const qcal__tensor *x = n->in[0];
    size_t nbytes = x->nelem * qcal_dtype_size(x->dtype);

    (void)scratch;
    if (nbytes && n->out[0]->data != x->data)
        memmove(n->out[0]->data, x->data, nbytes);
}

/*
 * ONNX Reshape-1 ('shape' attribute), Reshape-5/13 (shape input) and Reshape-14 (allowzero).
 * A 0 copies the input dim at the same index (unless allowzero), one -1 is inferred.
 */
static qcal_status reshape_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    int64_t shape[QCAL_MAX_RANK];
    size_t ns;
    int neg = -1;
    bool allowzero = n->opset >= 14 && qcal__attr_int(n, "allowzero", 0) != 0;
    qcal_status st = check_io(n, n->opset < 5 ? 1 : 2, n->opset < 5 ? 1 : 2, &x, err);

    if (st != QCAL_OK)
        return st;
    if (n->opset < 5) {
        const int64_t *a = NULL;
        ns = qcal__attr_ints(n, "shape", &a);
        if (!a)
            return qcal__node_error(err, n, QCAL_E_INVALID, "attribute 'shape' is missing");
        if (ns > QCAL_MAX_RANK)
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "rank %zu (at most %d)", ns,
                                    QCAL_MAX_RANK);
        memcpy(shape, a, ns * sizeof *a);
    } else if ((st = qcal__const_ints(n, 1, shape, QCAL_MAX_RANK, &ns, err)) != QCAL_OK) {
        return st;
    }
    for (size_t k = 0; k < ns; k++) {
        if (shape[k] == 0 && !allowzero) {
            if ((int)k >= x->rank)
                return qcal__node_error(err, n, QCAL_E_SHAPE, "shape[%zu] = 0 copies a dim the "
                                        "rank-%d input does not have", k, x->rank);
            shape[k] = x->dims[k];
        } else if (shape[k] == -1) {
            if (neg >= 0)
                return qcal__node_error(err, n, QCAL_E_SHAPE, "more than one -1 in shape");
            neg = (int)k;
        } else if (shape[k] < 0) {
            return qcal__node_error(err, n, QCAL_E_SHAPE, "invalid dim %lld in shape",
                                    (long long)shape[k]);
        }
    }
    if (neg >= 0) {
        size_t rest;
        shape[neg] = 1;
        rest = qcal__shape_nelem((int)ns, shape);
        if (rest == 0 || rest == SIZE_MAX || x->nelem % rest != 0)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "cannot infer the -1 dim: %zu "
                                    "elements, the other dims make %zu", x->nelem, rest);
        shape[neg] = (int64_t)(x->nelem / rest);
    }
    if (qcal__shape_nelem((int)ns, shape) != x->nelem)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "cannot reshape %zu elements to a shape "
                                "of %zu", x->nelem, qcal__shape_nelem((int)ns, shape));
    return qcal__tensor_set_shape(n->out[0], x->dtype, (int)ns, shape, err);
}

/* ONNX Flatten-1/9/11/13: [prod(dims[:axis]), prod(dims[axis:])]; negative axis from 11. */
static qcal_status flatten_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    int64_t axis = qcal__attr_int(n, "axis", 1), out[2] = { 1, 1 };
    qcal_status st = check_io(n, 1, 1, &x, err);

    if (st != QCAL_OK)
        return st;
    if (axis < 0 && n->opset >= 11)
        axis += x->rank;
    if (axis < 0 || axis > x->rank)
        return qcal__node_error(err, n, QCAL_E_INVALID, "axis %lld out of range for rank %d",
                                (long long)qcal__attr_int(n, "axis", 1), x->rank);
    for (int k = 0; k < x->rank; k++)
        out[k < axis ? 0 : 1] *= x->dims[k];
    return qcal__tensor_set_shape(n->out[0], x->dtype, 2, out, err);
}

/* Reads Squeeze/Unsqueeze axes: the 'axes' attribute before opset 13, input 1 after. */
static qcal_status read_axes(const qcal__node *n, int64_t *axes, size_t *na, qcal_error *err)
{
    if (n->opset < 13) {
        const int64_t *a = NULL;
        *na = qcal__attr_ints(n, "axes", &a);
        if (*na > QCAL_MAX_RANK)
            return qcal__node_error(err, n, QCAL_E_INVALID, "%zu axes", *na);
        if (*na)
            memcpy(axes, a, *na * sizeof *a);
        return QCAL_OK;
    }
    *na = 0;
    if (!qcal__in(n, 1))
        return QCAL_OK;
    return qcal__const_ints(n, 1, axes, QCAL_MAX_RANK, na, err);
}

/* ONNX Squeeze-1/11/13: removes the listed size-1 axes, or every size-1 axis. */
static qcal_status squeeze_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    int64_t axes[QCAL_MAX_RANK], out[QCAL_MAX_RANK];
    bool drop[QCAL_MAX_RANK] = { false };
    size_t na;
    int ro = 0;
    qcal_status st = check_io(n, 1, n->opset < 13 ? 1 : 2, &x, err);

    if (st != QCAL_OK || (st = read_axes(n, axes, &na, err)) != QCAL_OK)
        return st;
    for (size_t i = 0; i < na; i++) {
        int a;
        if ((st = qcal__norm_axis(n, axes[i], x->rank, &a, err)) != QCAL_OK)
            return st;
        if (x->dims[a] != 1)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "cannot squeeze axis %d of size %lld",
                                    a, (long long)x->dims[a]);
        drop[a] = true;
    }
    for (int k = 0; k < x->rank; k++)
        if (na ? !drop[k] : x->dims[k] != 1)
            out[ro++] = x->dims[k];
    return qcal__tensor_set_shape(n->out[0], x->dtype, ro, out, err);
}

/* ONNX Unsqueeze-1/11/13: inserts size-1 axes; axes index the output. */
static qcal_status unsqueeze_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    int64_t axes[QCAL_MAX_RANK], out[QCAL_MAX_RANK];
    bool ins[QCAL_MAX_RANK] = { false };
    size_t na;
    int ro, j = 0;
    qcal_status st = check_io(n, n->opset < 13 ? 1 : 2, n->opset < 13 ? 1 : 2, &x, err);

    if (st != QCAL_OK || (st = read_axes(n, axes, &na, err)) != QCAL_OK)
        return st;
    ro = x->rank + (int)na;
    if (na == 0)
        return qcal__node_error(err, n, QCAL_E_INVALID, "no axes given");
    if (ro > QCAL_MAX_RANK)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "output rank %d (at most %d)", ro,
                                QCAL_MAX_RANK);
    for (size_t i = 0; i < na; i++) {
        int a;
        if ((st = qcal__norm_axis(n, axes[i], ro, &a, err)) != QCAL_OK)
            return st;
        if (ins[a])
            return qcal__node_error(err, n, QCAL_E_INVALID, "axis %d listed twice", a);
        ins[a] = true;
    }
    for (int k = 0; k < ro; k++)
        out[k] = ins[k] ? 1 : x->dims[j++];
    return qcal__tensor_set_shape(n->out[0], x->dtype, ro, out, err);
}

/* ONNX Identity-1/13/14/16 on tensors. */
static qcal_status identity_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    qcal_status st = check_io(n, 1, 1, &x, err);

    if (st != QCAL_OK)
        return st;
    return qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
}

/* ---- Shape (ONNX Shape-1/13/15: start and end attributes from 15) ---- */

static qcal_status shape_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    int64_t r, start = 0, end, len;
    int64_t *p;
    qcal_status st = qcal__check_inputs(n, 1, 1, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    x = n->in[0];
    r = x->rank;
    end = r;
    if (n->opset >= 15) {
        start = qcal__attr_int(n, "start", 0);
        end = qcal__attr_int(n, "end", r);
        if (start < 0)
            start += r;
        if (end < 0)
            end += r;
        start = start < 0 ? 0 : (start > r ? r : start);
        end = end < 0 ? 0 : (end > r ? r : end);
    }
    len = end > start ? end - start : 0;
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    *p = start;
    n->params = p;
    return qcal__tensor_set_shape(n->out[0], QCAL_DT_INT64, 1, &len, err);
}

static void shape_run(const qcal__node *n, void *scratch)
{
    const int64_t start = *(const int64_t *)n->params;
    qcal__tensor *y = n->out[0];

    (void)scratch;
    for (size_t i = 0; i < y->nelem; i++)
        ((int64_t *)y->data)[i] = n->in[0]->dims[start + (int64_t)i];
}

/* ---- Size (ONNX Size-1/13): the element count as an int64 scalar ---- */

static qcal_status size_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 1, 1, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    return qcal__tensor_set_shape(n->out[0], QCAL_DT_INT64, 0, NULL, err);
}

static void size_run(const qcal__node *n, void *scratch)
{
    (void)scratch;
    *(int64_t *)n->out[0]->data = (int64_t)n->in[0]->nelem;
}

/* Value inputs: bit i means input i's value decides the output shape. */
#define V(i) (1u << (i))

const qcal__op qcal__ops_shape[] = {
    { "Cast", 1, QCAL__OPSET_LAST, qcal__cast_infer, qcal__cast_run, 0 },
    { "CastLike", 15, QCAL__OPSET_LAST, qcal__castlike_infer, qcal__cast_run, 0 },
    { "Constant", 1, QCAL__OPSET_LAST, qcal__constant_infer, qcal__constant_run, 0 },
    { "ConstantOfShape", 9, QCAL__OPSET_LAST, qcal__constantofshape_infer,
      qcal__constantofshape_run, V(0) },
    { "Dropout", 1, 11, qcal__dropout_infer, qcal__dropout_run, 0 },
    /* training_mode decides whether the node is supported; the ratio matters when it is on. */
    { "Dropout", 12, QCAL__OPSET_LAST, qcal__dropout_infer, qcal__dropout_run, V(1) | V(2) },
    { "Flatten", 1, QCAL__OPSET_LAST, flatten_infer, qcal__copy_input_run, 0 },
    { "Identity", 1, QCAL__OPSET_LAST, identity_infer, qcal__copy_input_run, 0 },
    { "Range", 11, QCAL__OPSET_LAST, qcal__range_infer, qcal__range_run, V(0) | V(1) | V(2) },
    { "Reshape", 1, 4, reshape_infer, qcal__copy_input_run, 0 },
    { "Reshape", 5, QCAL__OPSET_LAST, reshape_infer, qcal__copy_input_run, V(1) },
    { "Shape", 1, QCAL__OPSET_LAST, shape_infer, shape_run, 0 },
    { "Size", 1, QCAL__OPSET_LAST, size_infer, size_run, 0 },
    { "Squeeze", 1, 12, squeeze_infer, qcal__copy_input_run, 0 },
    { "Squeeze", 13, QCAL__OPSET_LAST, squeeze_infer, qcal__copy_input_run, V(1) },
    { "Unsqueeze", 1, 12, unsqueeze_infer, qcal__copy_input_run, 0 },
    { "Unsqueeze", 13, QCAL__OPSET_LAST, unsqueeze_infer, qcal__copy_input_run, V(1) },
    { NULL, 0, 0, NULL, NULL, 0 },
};
