/*
 * Subgraphs: the GRAPH attributes of If/Loop/Scan (and any node) become nested qcal__graphs.
 * Every tensor they define goes into the model graph's tensor list (global ids, owned there) with
 * scope = the subgraph; names resolve lexically (the subgraph's own, then the enclosing graphs');
 * a node's implicit inputs are the enclosing tensors its subgraphs read, so that ordering and
 * buffer lifetimes see them. Sequence/optional values are refused as unsupported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/inline.h"
#include "onnx/subgraph.h"
#include "ops/ops.h"

/* ---- the subgraph's own names: an open-addressing map over sub->tensors ---- */
typedef struct local_map {
    size_t cap;
    qcal__tensor **slots;
} local_map;

static qcal__tensor *local_get(const void *ctx, const char *name)
{
    const local_map *m = ctx;

    if (!m->cap)
        return NULL;
    for (size_t i = qcal__str_hash(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->slots[i])
            return NULL;
        if (strcmp(m->slots[i]->name, name) == 0)
            return m->slots[i];
    }
}

static void local_put(local_map *m, qcal__tensor *t)
{
    size_t i = qcal__str_hash(t->name) & (m->cap - 1);

    while (m->slots[i])
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = t;
}

static qcal__tensor *scope_find(const qcal__scope *s, const char *name)
{
    for (; s; s = s->parent) {
        qcal__tensor *t = s->lookup(s->ctx, name);
        if (t)
            return t;
    }
    return NULL;
}

/* A new tensor of sub (listed in the root, owned there). */
static qcal__tensor *add_local(const qcal__subctx *cx, qcal__graph *sub, local_map *map,
                               const char *name)
{
    qcal__tensor **grown = realloc(sub->tensors, (sub->n_tensors + 1) * sizeof *grown);
    qcal__tensor *t;

    if (!grown)
        return NULL;
    sub->tensors = grown;
    t = qcal__graph_add_tensor(cx->root, name);
    if (!t)
        return NULL;
    t->scope = sub;
    sub->tensors[sub->n_tensors++] = t;
    local_put(map, t);
    return t;
}

/* Adds t to the set list[0..*n) (linear: subgraph reference lists are short). */
static qcal_status set_add(qcal__tensor ***list, int *n, qcal__tensor *t, qcal_error *err)
{
    qcal__tensor **grown;

    for (int i = 0; i < *n; i++)
        if ((*list)[i] == t)
            return QCAL_OK;
    grown = realloc(*list, ((size_t)*n + 1) * sizeof *grown);
    if (!grown)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    grown[(*n)++] = t;
    *list = grown;
    return QCAL_OK;
}

static bool is_tensor_type(const Onnx__TypeProto *tp)
{
    return !tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET ||
           (tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type);
}

static qcal_status build(const qcal__subctx *cx, qcal__graph *parent, const Onnx__GraphProto *gp,
                         const qcal__scope *outer, qcal__graph **out, qcal_error *err);

/* Nodes of sub from the expanded list xn: outputs first, then inputs, kernels, nested graphs. */
static qcal_status build_nodes(const qcal__subctx *cx, qcal__graph *sub, local_map *map,
                               const qcal__xnode *xn, size_t n_xn, const qcal__scope *scope,
                               qcal_error *err)
{
    const char *path = cx->root->path;
    qcal_status st;

    sub->nodes = calloc(n_xn + 1, sizeof *sub->nodes);
    if (!sub->nodes)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n_xn; i++) {
        const qcal__xnode *x = &xn[i];
        qcal__node *n = &sub->nodes[i];
        sub->n_nodes = (int)i + 1;
        n->name = strdup(x->name);
        n->op_type = strdup(x->np->op_type ? x->np->op_type : "");
        n->domain = strdup(x->np->domain ? x->np->domain : "");
        n->in = calloc(x->n_in + 1, sizeof *n->in);
        n->out = calloc(x->n_out + 1, sizeof *n->out);
        n->attr = calloc(x->n_attr + 1, sizeof *n->attr);
        if (!n->name || !n->op_type || !n->domain || !n->in || !n->out || !n->attr)
            return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        n->n_in = (int)x->n_in;
        n->n_out = (int)x->n_out;
        n->index = (int)i;
        for (size_t k = 0; k < x->n_out; k++) {
            qcal__tensor *t;
            if (!x->out[k][0])
                continue;
            if (local_get(map, x->out[k]))
                return qcal_error_set(err, QCAL_E_CORRUPT, "%s: subgraph '%s': tensor '%s' is "
                                      "defined twice", path, sub->name, x->out[k]);
            if (!(t = add_local(cx, sub, map, x->out[k])))
                return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
            t->producer = (int)i;
            n->out[k] = t;
        }
        for (size_t k = 0; k < x->n_attr; k++) {
            n->n_attr = (int)k + 1;
            st = cx->attr(x->attr[k], cx->root->dir, &n->attr[k], err);
            if (st == QCAL_OK && strcmp(n->attr[k].name, x->attr_name[k]) != 0) {
                free(n->attr[k].name);
                if (!(n->attr[k].name = strdup(x->attr_name[k])))
                    st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
            }
            if (st == QCAL_E_UNSUPPORTED) {
                cx->unsupported(cx->uctx, err ? err->msg : "attribute");
            } else if (st != QCAL_OK) {
                qcal_error_prefix(err, n->name);
                return qcal_error_prefix(err, path);
            }
        }
    }
    for (size_t i = 0; i < n_xn; i++) {
        const qcal__xnode *x = &xn[i];
        qcal__node *n = &sub->nodes[i];
        char what[200];
        for (size_t k = 0; k < x->n_in; k++) {
            if (!x->in[k][0])
                continue;
            if (!(n->in[k] = scope_find(scope, x->in[k])))
                return qcal_error_set(err, QCAL_E_CORRUPT, "%s: subgraph '%s': node '%s' (%s): "
                                      "input '%s' is not defined in the subgraph or an enclosing "
                                      "graph", path, sub->name, n->name, n->op_type, x->in[k]);
        }
        if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) {
            snprintf(what, sizeof what, "%s (domain %s)", n->op_type, n->domain);
            cx->unsupported(cx->uctx, what);
            continue;
        }
        n->opset = x->opset;
        n->op = qcal__op_find(n->op_type, n->opset);
        if (!n->op) {
            snprintf(what, sizeof what, "%s (opset %d)", n->op_type, n->opset);
            cx->unsupported(cx->uctx, what);
        }
        st = qcal__onnx_node_subgraphs(cx, sub, n, x->attr, scope, err);
        if (st != QCAL_OK)
            return st;
    }
    return QCAL_OK;
}

static qcal_status build(const qcal__subctx *cx, qcal__graph *parent, const Onnx__GraphProto *gp,
                         const qcal__scope *outer, qcal__graph **out, qcal_error *err)
{
    const char *path = cx->root->path;
    qcal__graph *sub = calloc(1, sizeof *sub);
    local_map map = { 0, NULL };
    qcal__scope scope = { outer, local_get, &map };
    qcal__xnode *xn = NULL;
    size_t n_xn = 0, total;
    qcal_status st = QCAL_OK;

    *out = sub;
    if (!sub || !(sub->path = strdup(path)) || !(sub->dir = strdup(cx->root->dir)) ||
        !(sub->name = strdup(gp->name ? gp->name : "")))
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    sub->parent = parent;
    sub->ir_version = cx->root->ir_version;
    sub->opset = cx->root->opset;
    st = qcal__onnx_expand(cx->mp, gp, cx->root->opset, path, &xn, &n_xn, err);
    if (st != QCAL_OK)
        return st;
    total = gp->n_initializer + gp->n_input + 8;
    for (size_t i = 0; i < n_xn; i++)
        total += xn[i].n_out;
    for (map.cap = 16; map.cap < 2 * total; map.cap *= 2) {}
    map.slots = calloc(map.cap, sizeof *map.slots);
    sub->inputs = calloc(gp->n_input + 1, sizeof *sub->inputs);
    sub->outputs = calloc(gp->n_output + 1, sizeof *sub->outputs);
    if (!map.slots || !sub->inputs || !sub->outputs) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        qcal__tensor *t;
        if (!tp->name || local_get(&map, tp->name))
            continue;
        if (!(t = add_local(cx, sub, &map, tp->name))) {
            st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
            goto out;
        }
        st = cx->tensor(tp, cx->root->dir, t, err);
        if (st == QCAL_E_UNSUPPORTED) {
            cx->unsupported(cx->uctx, err ? err->msg : "initializer");
            t->kind = QCAL__T_CONST;
            t->data = calloc(1, 1);
            st = QCAL_OK;
            continue;
        }
        if (st != QCAL_OK)
            goto out;
        t->initializer = true;
    }
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        qcal__tensor *t;
        if (!vi->name || local_get(&map, vi->name))
            continue;
        if (!(t = add_local(cx, sub, &map, vi->name))) {
            st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
            goto out;
        }
        t->kind = QCAL__T_INPUT;
        if (!is_tensor_type(vi->type)) {
            char what[80];
            snprintf(what, sizeof what, "Sequence/Optional (subgraph '%.30s')", sub->name);
            cx->unsupported(cx->uctx, what);
            st = QCAL_OK;
        } else if (vi->type && vi->type->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET)
            st = QCAL_OK; /* an untyped formal input (Loop bodies may omit it): takes the fed type */
        else
            st = cx->input(t, vi, err);
        if (st == QCAL_E_UNSUPPORTED) {
            cx->unsupported(cx->uctx, err ? err->msg : "input type");
            st = QCAL_OK;
        } else if (st != QCAL_OK) {
            goto out;
        }
        t->rank = 0;
        sub->inputs[sub->n_inputs++] = t;
    }
    st = build_nodes(cx, sub, &map, xn, n_xn, &scope, err);
    if (st != QCAL_OK)
        goto out;
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        qcal__tensor *t = vi->name ? scope_find(&scope, vi->name) : NULL;
        char what[80];
        if (!is_tensor_type(vi->type)) {
            snprintf(what, sizeof what, "Sequence/Optional (subgraph '%.30s')", sub->name);
            cx->unsupported(cx->uctx, what);
        }
        if (!t) {
            st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: subgraph '%s': output '%s' is never "
                                "computed", path, sub->name, vi->name ? vi->name : "");
            goto out;
        }
        /* A declared element type is the best guess for a computed output's dtype. */
        if (t->scope == sub && t->producer >= 0 && vi->type && is_tensor_type(vi->type) &&
            vi->type->tensor_type && vi->type->tensor_type->has_elem_type)
            t->dtype = qcal__dtype_held((qcal_dtype)vi->type->tensor_type->elem_type);
        sub->outputs[sub->n_outputs++] = t;
    }
    st = cx->sort(sub, err);
out:
    free(map.slots);
    qcal__xnodes_free(xn, n_xn);
    return st;
}

qcal_status qcal__onnx_node_subgraphs(const qcal__subctx *cx, qcal__graph *g, qcal__node *n,
                                      const Onnx__AttributeProto *const *attrs,
                                      const qcal__scope *scope, qcal_error *err)
{
    for (int k = 0; k < n->n_attr; k++) {
        const Onnx__AttributeProto *ap = attrs[k];
        qcal__graph *sub = NULL;
        qcal_status st;
        if (!ap->g || n->attr[k].type != QCAL__A_GRAPH)
            continue;
        st = build(cx, g, ap->g, scope, &sub, err);
        n->attr[k].g = sub;
        if (st != QCAL_OK)
            return st;
        /* Implicit inputs: what the subgraph reads that it does not define. */
        for (int i = 0; i < sub->n_nodes; i++) {
            const qcal__node *m = &sub->nodes[i];
            for (int j = 0; j < m->n_in + m->n_implicit; j++) {
                qcal__tensor *t = j < m->n_in ? m->in[j] : m->implicit[j - m->n_in];
                if (t && t->scope != sub && (st = set_add(&n->implicit, &n->n_implicit, t, err)))
                    return st;
            }
        }
        for (int i = 0; i < sub->n_outputs; i++)
            if (sub->outputs[i]->scope != sub &&
                (st = set_add(&n->implicit, &n->n_implicit, sub->outputs[i], err)))
                return st;
    }
    return QCAL_OK;
}
