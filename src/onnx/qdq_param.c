/*
 * Weights and 32-bit biases of the QDQ export (ALGORITHMS.md §2.3, §2.4, §4.4): a float
 * constant W (initializer or Constant node) becomes an integer initializer W_q plus
 * DequantizeLinear(W_q, scale, zero_point) whose output keeps the name W, so no consumer changes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/qdq_util.h"
#include "qcal/encode.h"
#include "qcal/round.h"

#define MAX_RANK 16

/* A float constant of the model and its values. */
typedef struct fconst {
    const char *name;
    bool is_node;     /* a Constant node (index into the graph's nodes), else an initializer */
    size_t index;
    size_t rank;
    int64_t dims[MAX_RANK];
    float *v;         /* malloc */
    size_t n;
} fconst;

/* Finds name as an initializer or a Constant-node output of the main graph and reads it.
 * *found is false (and nothing fails) when it is neither. */
static qcal_status find_const(qcal__qdq_ctx *c, const char *name, fconst *f, bool *found,
                              qcal_error *err)
{
    const Onnx__TensorProto *tp = NULL;
    size_t i;

    memset(f, 0, sizeof *f);
    f->name = name;
    *found = false;
    if (qcal__qdq_map_get(&c->init, name, &i)) {
        tp = c->g->initializer[i];
    } else if (qcal__qdq_map_get(&c->producer, name, &i) &&
               qcal__qdq_is_op(c->g->node[i], "Constant")) {
        const Onnx__NodeProto *nd = c->g->node[i];
        f->is_node = true;
        for (size_t k = 0; k < nd->n_attribute; k++) {
            const Onnx__AttributeProto *a = nd->attribute[k];
            if (!a->name)
                continue;
            if (strcmp(a->name, "value") == 0 && a->t) {
                tp = a->t;
            } else if (strcmp(a->name, "value_float") == 0 || strcmp(a->name, "value_floats") == 0) {
                bool one = a->name[11] == '\0';
                f->index = i;
                f->rank = one ? 0 : 1;
                f->n = one ? 1 : a->n_floats;
                f->dims[0] = (int64_t)f->n;
                f->v = malloc((f->n ? f->n : 1) * sizeof *f->v);
                if (!f->v)
                    return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
                if (one)
                    f->v[0] = a->f;
                else if (f->n)
                    memcpy(f->v, a->floats, f->n * sizeof *f->v);
                *found = true;
                return QCAL_OK;
            }
        }
        if (!tp)
            return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                                  "'%s': Constant node without a float value", name);
    } else {
        return QCAL_OK;
    }
    f->index = i;
    if (tp->n_dims > MAX_RANK)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "'%s': rank %zu", name, tp->n_dims);
    f->rank = tp->n_dims;
    for (size_t d = 0; d < tp->n_dims; d++)
        f->dims[d] = tp->dims[d];
    *found = true;
    return qcal__qdq_tensor_floats(tp, name, &f->v, &f->n, err);
}

/*
 * Replaces f by DequantizeLinear(q, scale, zp) -> f->name: an initializer is dropped and the node
 * goes to the front of the graph; a Constant node is swapped for the DequantizeLinear node in
 * place. The three inputs must already be initializers.
 */
static qcal_status replace_const(qcal__qdq_ctx *c, const fconst *f, const char *q,
                                 const char *scale, const char *zp, int64_t axis, qcal_error *err)
{
    const char *in[3] = { q, scale, zp }, *out[1] = { f->name };
    Onnx__NodeProto *nd = NULL;
    char *name = NULL;
    qcal_status st = qcal__qdq_unique_name(&c->used, f->name, "_DequantizeLinear", &name, err);

    if (st == QCAL_OK)
        st = qcal__qdq_node_new("DequantizeLinear", name, in, 3, out, 1, axis, &nd, err);
    free(name);
    if (st != QCAL_OK)
        return st;
    if (f->is_node) {
        onnx__node_proto__free_unpacked(c->g->node[f->index], NULL);
        c->g->node[f->index] = nd;
        return QCAL_OK;
    }
    st = qcal__qdq_append((void ***)&c->front, &c->n_front, nd, err);
    if (st != QCAL_OK) {
        onnx__node_proto__free_unpacked(nd, NULL);
        return st;
    }
    st = qcal__qdq_add_node(c, nd, err);
    if (st != QCAL_OK) {
        c->n_front--;
        return st;
    }
    c->drop_init[f->index] = true;
    return QCAL_OK;
}

/* Adds the three initializers <name>_quantized, _scale and _zero_point and the DequantizeLinear
 * node. scale/zp hold ch values (ch > 1: 1-D, else scalars). */
static qcal_status write_const(qcal__qdq_ctx *c, const fconst *f, int32_t q_dt, const void *q,
                               size_t q_size, const float *scale, int32_t zp_dt, const void *zp,
                               size_t zp_size, size_t ch, int64_t axis, qcal_error *err)
{
    char *nq = NULL, *ns = NULL, *nz = NULL;
    Onnx__TensorProto *t = NULL;
    int64_t cdim = (int64_t)ch;
    size_t crank = ch > 1 ? 1 : 0;
    qcal_status st;

    st = qcal__qdq_unique_name(&c->used, f->name, "_quantized", &nq, err);
    if (st == QCAL_OK)
        st = qcal__qdq_unique_name(&c->used, f->name, "_scale", &ns, err);
    if (st == QCAL_OK)
        st = qcal__qdq_unique_name(&c->used, f->name, "_zero_point", &nz, err);
    if (st == QCAL_OK)
        st = qcal__qdq_tensor_new(nq, q_dt, f->rank, f->dims, q, q_size * f->n, &t, err);
    if (st == QCAL_OK)
        st = qcal__qdq_add_init(c, t, err);
    if (st == QCAL_OK)
        st = qcal__qdq_tensor_new(ns, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, crank, &cdim, scale,
                                  ch * sizeof(float), &t, err);
    if (st == QCAL_OK)
        st = qcal__qdq_add_init(c, t, err);
    if (st == QCAL_OK)
        st = qcal__qdq_tensor_new(nz, zp_dt, crank, &cdim, zp, ch * zp_size, &t, err);
    if (st == QCAL_OK)
        st = qcal__qdq_add_init(c, t, err);
    if (st == QCAL_OK)
        st = replace_const(c, f, nq, ns, nz, ch > 1 ? axis : -1, err);
    free(nq);
    free(ns);
    free(nz);
    return st;
}

/* Channel axis of weight name: its /weights row, else the §2.3 rule on its first consumer. */
static int weight_axis(const qcal__qdq_ctx *c, const char *name, size_t rank)
{
    for (size_t i = 0; c->stats && i < c->stats->n_weights; i++) {
        if (c->stats->weights[i].name && strcmp(c->stats->weights[i].name, name) == 0)
            return c->stats->weights[i].axis;
    }
    for (size_t i = 0; i < c->n_orig_nodes; i++) {
        const Onnx__NodeProto *nd = c->g->node[i];
        for (size_t k = 0; k < nd->n_input; k++) {
            if (!nd->input[k] || strcmp(nd->input[k], name) != 0)
                continue;
            if (k != 1)
                return -1;
            if (qcal__qdq_is_op(nd, "Conv"))
                return 0;
            if (qcal__qdq_is_op(nd, "ConvTranspose"))
                return 1;
            if (qcal__qdq_is_op(nd, "MatMul"))
                return rank >= 2 ? (int)rank - 1 : -1;
            if (qcal__qdq_is_op(nd, "Gemm")) {
                for (size_t a = 0; a < nd->n_attribute; a++) {
                    if (nd->attribute[a]->name && strcmp(nd->attribute[a]->name, "transB") == 0)
                        return nd->attribute[a]->i ? 0 : 1;
                }
                return 1;
            }
            return -1;
        }
    }
    return -1;
}

/* Checks one parameter entry against its tensor and fills the [outer, ch, inner] view. */
static qcal_status param_view(const qcal__qdq_ctx *c, const qcal_param_enc *p, const fconst *f,
                              size_t *outer, size_t *inner, bool *is_signed, qcal_error *err)
{
    const char *w = p->name;
    int axis;

    if (p->ch_count == 0 || !p->scale || !p->offset)
        return qcal_error_set(err, QCAL_E_INVALID, "weight '%s': encoding without channels", w);
    *outer = 1;
    *inner = f->n;
    if (p->ch_count > 1) {
        axis = weight_axis(c, w, f->rank);
        if (axis < 0 || (size_t)axis >= f->rank)
            return qcal_error_set(err, QCAL_E_INVALID, "weight '%s': %zu channels but no channel "
                                  "axis", w, p->ch_count);
        if (f->dims[axis] != (int64_t)p->ch_count)
            return qcal_error_set(err, QCAL_E_INVALID, "weight '%s': %zu channel encodings, the "
                                  "tensor has %lld along axis %d", w, p->ch_count,
                                  (long long)f->dims[axis], axis);
        *inner = 1;
        for (size_t d = 0; d < f->rank; d++) {
            if ((int)d < axis)
                *outer *= (size_t)f->dims[d];
            else if ((int)d > axis)
                *inner *= (size_t)f->dims[d];
        }
    }
    *is_signed = p->symmetric;
    for (size_t ch = 0; ch < p->ch_count; ch++) {
        if (!(p->scale[ch] > 0.0f) || !isfinite(p->scale[ch]))
            return qcal_error_set(err, QCAL_E_NUMERIC, "weight '%s': channel %zu scale %g is not a "
                                  "positive finite number", w, ch, (double)p->scale[ch]);
        if (p->offset[ch] != -128 && p->offset[ch] != -127)
            *is_signed = false;
    }
    for (size_t ch = 0; !*is_signed && ch < p->ch_count; ch++) {
        if (p->offset[ch] > 0 || p->offset[ch] < -255)
            return qcal_error_set(err, QCAL_E_INVALID, "weight '%s': channel %zu offset %lld does "
                                  "not fit a uint8 zero point", w, ch,
                                  (long long)p->offset[ch]);
    }
    return QCAL_OK;
}

/* Codes of one value: round_half_even(w / s) (float32, as QuantizeLinear) + zp, clamped. */
static int quantize_value(float w, float s, int zp, int lo, int hi)
{
    float r = qcal_round_half_evenf(w / s);

    if (r < (float)(lo - zp))
        return lo;
    if (r > (float)(hi - zp))
        return hi;
    return (int)r + zp;
}

static qcal_status quantize_param(qcal__qdq_ctx *c, const qcal_param_enc *p, const fconst *f,
                                  qcal_error *err)
{
    size_t outer = 0, inner = 0, C = p->ch_count; /* set by param_view; gcc -O2 can't see it */
    bool sgn = false;
    uint8_t *q = NULL, *zp = NULL;
    qcal_status st = param_view(c, p, f, &outer, &inner, &sgn, err);

    if (st != QCAL_OK)
        return st;
    q = malloc(f->n ? f->n : 1);
    zp = malloc(C);
    if (!q || !zp) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t ch = 0; ch < C; ch++)
        zp[ch] = sgn ? 0 : (uint8_t)-p->offset[ch];
    for (size_t o = 0; o < outer; o++) {
        for (size_t ch = 0; ch < C; ch++) {
            int lo = sgn ? (int)p->offset[ch] : 0, hi = sgn ? 127 : 255;
            for (size_t i = 0; i < inner; i++) {
                size_t j = (o * C + ch) * inner + i;
                int v;
                if (!isfinite(f->v[j])) {
                    st = qcal_error_set(err, QCAL_E_NUMERIC, "weight '%s': value %zu is %g", p->name,
                                        j, (double)f->v[j]);
                    goto out;
                }
                v = quantize_value(f->v[j], p->scale[ch], sgn ? 0 : zp[ch], lo, hi);
                q[j] = sgn ? (uint8_t)(int8_t)v : (uint8_t)v;
            }
        }
    }
    st = write_const(c, f,
                     sgn ? ONNX__TENSOR_PROTO__DATA_TYPE__INT8 : ONNX__TENSOR_PROTO__DATA_TYPE__UINT8,
                     q, 1, p->scale,
                     sgn ? ONNX__TENSOR_PROTO__DATA_TYPE__INT8 : ONNX__TENSOR_PROTO__DATA_TYPE__UINT8,
                     zp, 1, C, weight_axis(c, p->name, f->rank), err);
out:
    free(q);
    free(zp);
    return st;
}

qcal_status qcal__qdq_params(qcal__qdq_ctx *c, qcal_error *err)
{
    const qcal_enc_set *e = c->enc;
    qcal_status st = QCAL_OK;

    for (size_t i = 0; st == QCAL_OK && i < e->n_param; i++) {
        const qcal_param_enc *p = &e->param[i];
        fconst f;
        bool found = false, added = false;

        if (!p->name || !*p->name)
            return qcal_error_set(err, QCAL_E_INVALID, "parameter encoding %zu has no name", i);
        if (p->bitwidth != 8)
            return qcal_error_set(err, QCAL_E_UNSUPPORTED, "weight '%s': bitwidth %d; the QDQ "
                                  "export writes 8-bit encodings only", p->name, p->bitwidth);
        st = qcal__qdq_map_put(&c->param, p->name, i, &added, err);
        if (st != QCAL_OK)
            return st;
        if (!added)
            return qcal_error_set(err, QCAL_E_INVALID, "weight '%s': two encodings", p->name);
        st = find_const(c, p->name, &f, &found, err);
        if (st == QCAL_OK && !found)
            st = qcal_error_set(err, QCAL_E_INVALID, "weight '%s': the model has no initializer "
                                "or Constant of that name", p->name);
        if (st == QCAL_OK)
            st = quantize_param(c, p, &f, err);
        free(f.v);
    }
    return st;
}

/* The 32-bit bias of node nd, if it qualifies (see qdq.h); nothing happens otherwise. */
static qcal_status bias_of(qcal__qdq_ctx *c, const Onnx__NodeProto *nd, qcal_error *err)
{
    const char *b = nd->input[2];
    size_t a, pi, *uses;
    const qcal_param_enc *p;
    fconst f;
    bool found = false;
    float *sb = NULL;
    int32_t *q = NULL, *zp = NULL;
    size_t C;
    qcal_status st;

    if (!b || !*b || qcal__qdq_map_get(&c->param, b, NULL) ||
        !qcal__qdq_map_get(&c->act, nd->input[0], &a) ||
        !qcal__qdq_map_get(&c->param, nd->input[1], &pi) ||
        (uses = qcal__qdq_map_val(&c->uses, b)) == NULL || *uses != 1)
        return QCAL_OK;
    p = &c->enc->param[pi];
    C = p->ch_count;
    st = find_const(c, b, &f, &found, err);
    if (st != QCAL_OK || !found ||
        (C > 1 && (f.rank != 1 || f.dims[0] != (int64_t)C)))
        goto out;
    sb = malloc(C * sizeof *sb);
    q = malloc((f.n ? f.n : 1) * sizeof *q);
    zp = calloc(C, sizeof *zp);
    if (!sb || !q || !zp) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t ch = 0; ch < C; ch++) {
        sb[ch] = qcal_enc_bias_scale(c->acts[a].enc->scale, p->scale[ch]);
        if (!isnormal(sb[ch]) || sb[ch] < 0.0f) {
            st = qcal_error_set(err, QCAL_E_NUMERIC, "bias '%s': scale %g * %g = %g is not a "
                                "normal float32", b, (double)c->acts[a].enc->scale,
                                (double)p->scale[ch], (double)sb[ch]);
            goto out;
        }
    }
    for (size_t j = 0; j < f.n; j++) {
        if (!isfinite(f.v[j])) {
            st = qcal_error_set(err, QCAL_E_NUMERIC, "bias '%s': value %zu is %g", b, j,
                                (double)f.v[j]);
            goto out;
        }
        q[j] = qcal_enc_bias_code(f.v[j], sb[C > 1 ? j : 0]);
    }
    st = write_const(c, &f, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, q, sizeof(int32_t), sb,
                     ONNX__TENSOR_PROTO__DATA_TYPE__INT32, zp, sizeof(int32_t), C, 0, err);
out:
    free(f.v);
    free(sb);
    free(q);
    free(zp);
    return st;
}

qcal_status qcal__qdq_biases(qcal__qdq_ctx *c, qcal_error *err)
{
    qcal_status st = QCAL_OK;

    for (size_t i = 0; st == QCAL_OK && i < c->n_orig_nodes; i++) {
        const Onnx__NodeProto *nd = c->g->node[i];
        if (nd->n_input >= 3 && (qcal__qdq_is_op(nd, "Conv") ||
                                 qcal__qdq_is_op(nd, "ConvTranspose") ||
                                 qcal__qdq_is_op(nd, "Gemm")))
            st = bias_of(c, nd, err);
    }
    return st;
}
