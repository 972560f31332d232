/*
 * QDQ ONNX export (include/qcal/qdq.h, ALGORITHMS.md §4.4): the model is unpacked with
 * protobuf-c, edited in place (new initializers and nodes are appended, replaced ones freed,
 * strings swapped), the nodes are put back in topological order, and the ModelProto is packed
 * and written atomically. Weights and biases are planned in qdq_param.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/qdq_util.h"
#include "qcal/qdq.h"
#include "util/atomic.h"

#define QDQ_MIN_OPSET 13
#define QDQ_MIN_IR 7
#define QDQ_OLDEST_OPSET 7

/*
 * Default-domain operators whose definition changed incompatibly at `since` (attributes moved to
 * inputs, new axis semantics, deprecation). A model of opset v < since <= 13 that uses one cannot
 * simply be relabelled opset 13.
 */
static const struct breaking_op {
    const char *op;
    int since;
} BREAKING[] = {
    { "BatchNormalization", 9 }, { "Upsample", 10 }, { "Slice", 10 }, { "TopK", 10 },
    { "Pad", 11 }, { "Clip", 11 }, { "Resize", 11 }, { "Scatter", 11 }, { "Dropout", 12 },
    { "Softmax", 13 }, { "LogSoftmax", 13 }, { "Hardmax", 13 }, { "Split", 13 },
    { "Squeeze", 13 }, { "Unsqueeze", 13 }, { "ReduceSum", 13 },
};

bool qcal__qdq_default_domain(const char *domain)
{
    return !domain || !*domain || strcmp(domain, "ai.onnx") == 0;
}

bool qcal__qdq_is_op(const Onnx__NodeProto *nd, const char *op)
{
    return nd->op_type && strcmp(nd->op_type, op) == 0 && qcal__qdq_default_domain(nd->domain);
}

/* ---- walking the graph and its subgraphs ---- */

typedef qcal_status (*graph_fn)(qcal__qdq_ctx *c, Onnx__GraphProto *g, qcal_error *err);

/* Calls fn on g and, depth first, on every graph held by a node attribute. */
static qcal_status walk(qcal__qdq_ctx *c, Onnx__GraphProto *g, graph_fn fn, qcal_error *err)
{
    qcal_status st = fn(c, g, err);

    for (size_t i = 0; st == QCAL_OK && i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        for (size_t k = 0; st == QCAL_OK && k < nd->n_attribute; k++) {
            const Onnx__AttributeProto *a = nd->attribute[k];
            if (a->g)
                st = walk(c, a->g, fn, err);
            for (size_t j = 0; st == QCAL_OK && j < a->n_graphs; j++)
                st = walk(c, a->graphs[j], fn, err);
        }
    }
    return st;
}

static qcal_status put_used(qcal__qdq_ctx *c, const char *name, qcal_error *err)
{
    return name && *name ? qcal__qdq_map_put(&c->used, name, 0, NULL, err) : QCAL_OK;
}

/* Adds every name of g to c->used and counts the uses of every tensor (node inputs, graph
 * outputs) in c->uses. */
static qcal_status collect_names(qcal__qdq_ctx *c, Onnx__GraphProto *g, qcal_error *err)
{
    qcal_status st = QCAL_OK;

    for (size_t i = 0; st == QCAL_OK && i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        st = put_used(c, nd->name, err);
        for (size_t k = 0; st == QCAL_OK && k < nd->n_output; k++)
            st = put_used(c, nd->output[k], err);
        for (size_t k = 0; st == QCAL_OK && k < nd->n_input; k++) {
            size_t *u;
            if (!nd->input[k] || !*nd->input[k])
                continue;
            st = put_used(c, nd->input[k], err);
            if (st == QCAL_OK)
                st = qcal__qdq_map_put(&c->uses, nd->input[k], 0, NULL, err);
            if (st == QCAL_OK && (u = qcal__qdq_map_val(&c->uses, nd->input[k])) != NULL)
                (*u)++;
        }
    }
    for (size_t i = 0; st == QCAL_OK && i < g->n_initializer; i++)
        st = put_used(c, g->initializer[i]->name, err);
    for (size_t i = 0; st == QCAL_OK && i < g->n_sparse_initializer; i++) {
        const Onnx__SparseTensorProto *sp = g->sparse_initializer[i];
        if (sp->values)
            st = put_used(c, sp->values->name, err);
    }
    for (size_t i = 0; st == QCAL_OK && i < g->n_input; i++)
        st = put_used(c, g->input[i]->name, err);
    for (size_t i = 0; st == QCAL_OK && i < g->n_value_info; i++)
        st = put_used(c, g->value_info[i]->name, err);
    for (size_t i = 0; st == QCAL_OK && i < g->n_output; i++) {
        const char *name = g->output[i]->name;
        size_t *u;
        st = put_used(c, name, err);
        if (st == QCAL_OK && name && *name)
            st = qcal__qdq_map_put(&c->uses, name, 0, NULL, err);
        if (st == QCAL_OK && name && (u = qcal__qdq_map_val(&c->uses, name)) != NULL)
            (*u)++;
    }
    return st;
}

/* Refuses what the export cannot keep: external data, and (below opset 13) operators that
 * changed on the way to 13. */
static qcal_status check_graph(qcal__qdq_ctx *c, Onnx__GraphProto *g, qcal_error *err)
{
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (t->has_data_location &&
            t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
            return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                                  "initializer '%s': external data is not supported by the QDQ "
                                  "export", t->name ? t->name : "");
    }
    if (c->opset >= QDQ_MIN_OPSET)
        return QCAL_OK;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        if (!qcal__qdq_default_domain(nd->domain) || !nd->op_type)
            continue;
        for (size_t k = 0; k < sizeof BREAKING / sizeof BREAKING[0]; k++) {
            if (strcmp(nd->op_type, BREAKING[k].op) == 0 && c->opset < BREAKING[k].since)
                return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                                      "node '%s' (%s): the operator changed at opset %d and the QDQ "
                                      "model needs opset %d (model opset %lld); re-export the model "
                                      "with opset >= %d", nd->name ? nd->name : "", nd->op_type,
                                      BREAKING[k].since, QDQ_MIN_OPSET, (long long)c->opset,
                                      QDQ_MIN_OPSET);
        }
    }
    return QCAL_OK;
}

/* Finds the default-domain opset and checks that it can become max(13, opset). */
static qcal_status check_opset(qcal__qdq_ctx *c, qcal_error *err)
{
    c->opset_entry = NULL;
    for (size_t i = 0; i < c->m->n_opset_import; i++) {
        Onnx__OperatorSetIdProto *o = c->m->opset_import[i];
        if (qcal__qdq_default_domain(o->domain))
            c->opset_entry = o;
    }
    if (!c->opset_entry || !c->opset_entry->has_version)
        return qcal_error_set(err, QCAL_E_CORRUPT, "no opset_import for the default domain");
    c->opset = c->opset_entry->version;
    if (c->opset < QDQ_OLDEST_OPSET)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                              "model opset %lld is older than %d; re-export the model with opset "
                              ">= %d", (long long)c->opset, QDQ_OLDEST_OPSET, QDQ_MIN_OPSET);
    return walk(c, c->g, check_graph, err);
}

static qcal_status index_graph(qcal__qdq_ctx *c, qcal_error *err)
{
    Onnx__GraphProto *g = c->g;
    qcal_status st = walk(c, g, collect_names, err);

    for (size_t i = 0; st == QCAL_OK && i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        for (size_t k = 0; st == QCAL_OK && k < nd->n_output; k++) {
            if (nd->output[k] && *nd->output[k])
                st = qcal__qdq_map_put(&c->producer, nd->output[k], i, NULL, err);
        }
    }
    for (size_t i = 0; st == QCAL_OK && i < g->n_initializer; i++) {
        if (g->initializer[i]->name)
            st = qcal__qdq_map_put(&c->init, g->initializer[i]->name, i, NULL, err);
    }
    for (size_t i = 0; st == QCAL_OK && i < g->n_input; i++) {
        if (g->input[i]->name)
            st = qcal__qdq_map_put(&c->inputs, g->input[i]->name, i, NULL, err);
    }
    for (size_t i = 0; st == QCAL_OK && i < g->n_output; i++) {
        if (g->output[i]->name)
            st = qcal__qdq_map_put(&c->outputs, g->output[i]->name, i, NULL, err);
    }
    if (st != QCAL_OK)
        return st;
    c->n_orig_nodes = g->n_node;
    c->n_orig_inits = g->n_initializer;
    c->drop_init = calloc(g->n_initializer + 1, sizeof *c->drop_init);
    if (!c->drop_init)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    return QCAL_OK;
}

/* ---- activations ---- */

/* Storage of an activation encoding: int8 zp 0 for signed/strict symmetric, else uint8 -offset. */
static qcal_status act_storage(const qcal_act_enc *a, qcal__qdq_act *p, qcal_error *err)
{
    if (!(a->scale > 0.0f) || !isfinite(a->scale))
        return qcal_error_set(err, QCAL_E_NUMERIC, "activation '%s': scale %g is not a positive "
                              "finite number", a->name, (double)a->scale);
    p->is_signed = a->symmetric && (a->offset == -128 || a->offset == -127);
    if (p->is_signed) {
        p->zp = 0;
        return QCAL_OK;
    }
    if (a->offset > 0 || a->offset < -255)
        return qcal_error_set(err, QCAL_E_INVALID, "activation '%s': offset %lld does not fit a "
                              "uint8 zero point", a->name, (long long)a->offset);
    p->zp = (int)-a->offset;
    return QCAL_OK;
}

static qcal_status plan_acts(qcal__qdq_ctx *c, const qcal_enc_set *e, qcal_error *err)
{
    qcal_status st;

    c->acts = calloc(e->n_act + 1, sizeof *c->acts);
    if (!c->acts)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    for (size_t i = 0; i < e->n_act; i++) {
        const qcal_act_enc *a = &e->act[i];
        qcal__qdq_act *p = &c->acts[c->n_acts];
        size_t node;
        bool added;

        if (!a->name || !*a->name)
            return qcal_error_set(err, QCAL_E_INVALID, "activation encoding %zu has no name", i);
        if (a->is_float)
            continue;
        if (a->bitwidth != 8)
            return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                                  "activation '%s': bitwidth %d; the QDQ export writes 8-bit "
                                  "encodings only (16-bit needs opset 21)", a->name, a->bitwidth);
        st = act_storage(a, p, err);
        if (st != QCAL_OK)
            return st;
        p->enc = a;
        p->is_output = qcal__qdq_map_get(&c->outputs, a->name, NULL);
        if (qcal__qdq_map_get(&c->producer, a->name, &node)) {
            p->producer = (long)node;
        } else if (qcal__qdq_map_get(&c->inputs, a->name, NULL) &&
                   !qcal__qdq_map_get(&c->init, a->name, NULL)) {
            p->producer = -1;
            p->is_output = false; /* an input passed through stays float at the output */
        } else {
            return qcal_error_set(err, QCAL_E_INVALID,
                                  "activation '%s': the model has no graph input or node output "
                                  "of that name", a->name);
        }
        st = qcal__qdq_map_put(&c->act, a->name, c->n_acts, &added, err);
        if (st != QCAL_OK)
            return st;
        if (!added)
            return qcal_error_set(err, QCAL_E_INVALID, "activation '%s': two encodings", a->name);
        c->n_acts++;
    }
    return QCAL_OK;
}

/* Scale and zero-point initializers of one activation. */
static qcal_status act_inits(qcal__qdq_ctx *c, const qcal__qdq_act *p, char **scale, char **zp,
                             qcal_error *err)
{
    const char *t = p->enc->name;
    Onnx__TensorProto *ts = NULL, *tz = NULL;
    uint8_t z = (uint8_t)p->zp;
    qcal_status st;

    st = qcal__qdq_unique_name(&c->used, t, "_scale", scale, err);
    if (st == QCAL_OK)
        st = qcal__qdq_unique_name(&c->used, t, "_zero_point", zp, err);
    if (st == QCAL_OK)
        st = qcal__qdq_tensor_new(*scale, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL,
                                  &p->enc->scale, sizeof(float), &ts, err);
    if (st == QCAL_OK)
        st = qcal__qdq_add_init(c, ts, err);
    if (st == QCAL_OK)
        st = qcal__qdq_tensor_new(*zp, p->is_signed ? ONNX__TENSOR_PROTO__DATA_TYPE__INT8
                                                    : ONNX__TENSOR_PROTO__DATA_TYPE__UINT8,
                                  0, NULL, &z, 1, &tz, err);
    if (st == QCAL_OK)
        st = qcal__qdq_add_init(c, tz, err);
    return st;
}

/* Builds the Q/DQ pair of one activation (appended to the graph); for a graph output renames
 * the producer's output. */
static qcal_status act_nodes(qcal__qdq_ctx *c, qcal__qdq_act *p, qcal_error *err)
{
    const char *t = p->enc->name;
    char *scale = NULL, *zp = NULL, *q_in = NULL, *q_out = NULL, *dq_out = NULL;
    char *q_name = NULL, *dq_name = NULL;
    qcal_status st = act_inits(c, p, &scale, &zp, err);

    if (st != QCAL_OK)
        goto out;
    if (p->is_output) {
        Onnx__NodeProto *prod = c->g->node[p->producer];
        st = qcal__qdq_unique_name(&c->used, t, "_QuantizeLinear_Input", &q_in, err);
        for (size_t k = 0; st == QCAL_OK && k < prod->n_output; k++) {
            if (prod->output[k] && strcmp(prod->output[k], t) == 0)
                st = qcal__qdq_set_string(&prod->output[k], q_in, err);
        }
        if (st == QCAL_OK)
            st = (dq_out = strdup(t)) ? QCAL_OK
                                      : qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    } else {
        st = (q_in = strdup(t)) ? QCAL_OK : qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        if (st == QCAL_OK)
            st = qcal__qdq_unique_name(&c->used, t, "_DequantizeLinear_Output", &dq_out, err);
    }
    if (st == QCAL_OK)
        st = qcal__qdq_unique_name(&c->used, t, "_QuantizeLinear_Output", &q_out, err);
    if (st == QCAL_OK)
        st = qcal__qdq_unique_name(&c->used, t, "_QuantizeLinear", &q_name, err);
    if (st == QCAL_OK)
        st = qcal__qdq_unique_name(&c->used, t, "_DequantizeLinear", &dq_name, err);
    if (st == QCAL_OK) {
        const char *qi[3] = { q_in, scale, zp }, *qo[1] = { q_out };
        const char *di[3] = { q_out, scale, zp }, *dout[1] = { dq_out };
        st = qcal__qdq_node_new("QuantizeLinear", q_name, qi, 3, qo, 1, -1, &p->q, err);
        if (st == QCAL_OK)
            st = qcal__qdq_add_node(c, p->q, err);
        if (st == QCAL_OK)
            st = qcal__qdq_node_new("DequantizeLinear", dq_name, di, 3, dout, 1, -1, &p->dq, err);
        if (st == QCAL_OK)
            st = qcal__qdq_add_node(c, p->dq, err);
    }
    if (st == QCAL_OK && !p->is_output) {
        p->dq_out = dq_out;
        dq_out = NULL;
    }
out:
    free(scale);
    free(zp);
    free(q_in);
    free(q_out);
    free(dq_out);
    free(q_name);
    free(dq_name);
    return st;
}

/* Points every consumer of a quantized (non-output) activation at its DequantizeLinear output,
 * in the original nodes and in subgraphs (outer-scope references). */
static qcal_status rename_inputs(qcal__qdq_ctx *c, Onnx__GraphProto *g, qcal_error *err)
{
    size_t n = g == c->g ? c->n_orig_nodes : g->n_node;
    qcal_status st = QCAL_OK;

    for (size_t i = 0; st == QCAL_OK && i < n; i++) {
        Onnx__NodeProto *nd = g->node[i];
        for (size_t k = 0; st == QCAL_OK && k < nd->n_input; k++) {
            size_t a;
            if (nd->input[k] && qcal__qdq_map_get(&c->act, nd->input[k], &a) &&
                c->acts[a].dq_out)
                st = qcal__qdq_set_string(&nd->input[k], c->acts[a].dq_out, err);
        }
    }
    return st;
}

qcal_status qcal__qdq_add_node(qcal__qdq_ctx *c, Onnx__NodeProto *nd, qcal_error *err)
{
    qcal_status st = qcal__qdq_append((void ***)&c->g->node, &c->g->n_node, nd, err);

    if (st != QCAL_OK)
        onnx__node_proto__free_unpacked(nd, NULL);
    return st;
}

qcal_status qcal__qdq_add_init(qcal__qdq_ctx *c, Onnx__TensorProto *t, qcal_error *err)
{
    qcal_status st = qcal__qdq_append((void ***)&c->g->initializer, &c->g->n_initializer, t, err);

    if (st != QCAL_OK)
        onnx__tensor_proto__free_unpacked(t, NULL);
    return st;
}

/* ---- final assembly ---- */

/*
 * Node order: the DequantizeLinear nodes of initializers first, then the Q/DQ pairs of graph
 * inputs, then each original node followed by the pairs of its outputs. Drops replaced
 * initializers (and their graph-input entries). Allocates one array; nothing else can fail.
 */
static qcal_status assemble(qcal__qdq_ctx *c, qcal_error *err)
{
    Onnx__GraphProto *g = c->g;
    Onnx__NodeProto **order = malloc((g->n_node + 1) * sizeof *order);
    size_t *start = calloc(c->n_orig_nodes + 2, sizeof *start), *idx;
    size_t n = 0, k = 0, j = 0;

    idx = calloc(c->n_acts + 1, sizeof *idx);
    if (!order || !start || !idx) {
        free(order);
        free(start);
        free(idx);
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    }
    /* Counting sort of the activations by producer (graph inputs, -1, come first). */
    for (size_t a = 0; a < c->n_acts; a++)
        start[(size_t)(c->acts[a].producer + 1) + 1]++;
    for (size_t i = 1; i < c->n_orig_nodes + 2; i++)
        start[i] += start[i - 1];
    for (size_t a = 0; a < c->n_acts; a++)
        idx[start[(size_t)(c->acts[a].producer + 1)]++] = a;
    for (size_t i = 0; i < c->n_front; i++)
        order[n++] = c->front[i];
    for (long p = -1; p < (long)c->n_orig_nodes; p++) {
        if (p >= 0)
            order[n++] = g->node[p];
        for (; k < c->n_acts && c->acts[idx[k]].producer == p; k++) {
            order[n++] = c->acts[idx[k]].q;
            order[n++] = c->acts[idx[k]].dq;
        }
    }
    free(start);
    free(idx);
    if (n != g->n_node) { /* every appended node is a front DQ or half of a pair */
        free(order);
        return qcal_error_set(err, QCAL_E_INVALID, "internal error: %zu of %zu nodes placed", n,
                              g->n_node);
    }
    free(g->node);
    g->node = order;
    g->n_node = n;

    /* Replaced initializers leave the initializer list and the graph inputs. */
    for (size_t i = 0; i < g->n_input; i++) {
        size_t t;
        if (g->input[i]->name && qcal__qdq_map_get(&c->init, g->input[i]->name, &t) &&
            c->drop_init[t])
            onnx__value_info_proto__free_unpacked(g->input[i], NULL);
        else
            g->input[j++] = g->input[i];
    }
    g->n_input = j;
    j = 0;
    for (size_t i = 0; i < g->n_initializer; i++) {
        if (i < c->n_orig_inits && c->drop_init[i])
            onnx__tensor_proto__free_unpacked(g->initializer[i], NULL);
        else
            g->initializer[j++] = g->initializer[i];
    }
    g->n_initializer = j;
    if (c->opset < QDQ_MIN_OPSET)
        c->opset_entry->version = QDQ_MIN_OPSET;
    if (!c->m->has_ir_version || c->m->ir_version < QDQ_MIN_IR) {
        c->m->has_ir_version = 1;
        c->m->ir_version = QDQ_MIN_IR;
    }
    return QCAL_OK;
}

static qcal_status read_model(const char *path, Onnx__ModelProto **out, qcal_error *err)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    long size = -1;

    *out = NULL;
    if (!fp)
        return qcal_error_set(err, QCAL_E_IO, "%s: %s", path, strerror(errno));
    if (fseek(fp, 0, SEEK_END) == 0)
        size = ftell(fp);
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return qcal_error_set(err, QCAL_E_IO, "%s: cannot determine size", path);
    }
    buf = malloc(size ? (size_t)size : 1);
    if (!buf) {
        fclose(fp);
        return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", path);
    }
    if (size && fread(buf, 1, (size_t)size, fp) != (size_t)size) {
        fclose(fp);
        free(buf);
        return qcal_error_set(err, QCAL_E_IO, "%s: read failed", path);
    }
    fclose(fp);
    *out = onnx__model_proto__unpack(NULL, (size_t)size, buf);
    free(buf);
    if (!*out || !(*out)->graph) {
        if (*out)
            onnx__model_proto__free_unpacked(*out, NULL);
        *out = NULL;
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: not an ONNX model", path);
    }
    return QCAL_OK;
}

static qcal_status write_model(const Onnx__ModelProto *m, const char *path, qcal_error *err)
{
    size_t len = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    qcal_status st;

    if (!buf)
        return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory (%zu bytes)", path, len);
    if (onnx__model_proto__pack(m, buf) != len)
        st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: protobuf packing failed", path);
    else
        st = qcal__atomic_write(path, buf, len, err);
    free(buf);
    return st;
}

qcal_status qcal_export_qdq(const char *model_path, const qcal_stats *s, const qcal_enc_set *e,
                            const char *out_path, qcal_error *err)
{
    qcal__qdq_ctx c;
    qcal_status st;

    memset(&c, 0, sizeof c);
    if (!model_path || !e || !out_path || !*out_path)
        return qcal_error_set(err, QCAL_E_INVALID, "QDQ export: no model, encodings or output");
    st = read_model(model_path, &c.m, err);
    if (st != QCAL_OK)
        return st;
    c.g = c.m->graph;
    c.stats = s;
    c.enc = e;
    st = check_opset(&c, err);
    if (st == QCAL_OK)
        st = index_graph(&c, err);
    if (st == QCAL_OK)
        st = plan_acts(&c, e, err);
    if (st == QCAL_OK)
        st = qcal__qdq_params(&c, err);
    if (st == QCAL_OK)
        st = qcal__qdq_biases(&c, err);
    for (size_t a = 0; st == QCAL_OK && a < c.n_acts; a++)
        st = act_nodes(&c, &c.acts[a], err);
    if (st == QCAL_OK)
        st = walk(&c, c.g, rename_inputs, err);
    if (st == QCAL_OK)
        st = assemble(&c, err);
    if (st != QCAL_OK) {
        qcal_error_prefix(err, model_path);
        goto out;
    }
    st = write_model(c.m, out_path, err);
out:
    for (size_t a = 0; a < c.n_acts; a++)
        free(c.acts[a].dq_out);
    free(c.acts);
    free(c.front);
    free(c.drop_init);
    qcal__qdq_map_fini(&c.used);
    qcal__qdq_map_fini(&c.uses);
    qcal__qdq_map_fini(&c.producer);
    qcal__qdq_map_fini(&c.init);
    qcal__qdq_map_fini(&c.inputs);
    qcal__qdq_map_fini(&c.outputs);
    qcal__qdq_map_fini(&c.act);
    qcal__qdq_map_fini(&c.param);
    onnx__model_proto__free_unpacked(c.m, NULL);
    return st;
}
