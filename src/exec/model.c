/*
 * The executor: prepare (shape inference, constant folding, buffer planning) and run (one sample,
 * nodes in order, observer after every node). Memory is one arena planned at prepare time: a
 * tensor occupies its slot from its producer to its last consumer, after which the slot is reused,
 * so a run allocates nothing and memory is bounded by the model, never by the sample count.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"
#include "ops/ops.h"
#include "qcal/model.h"

#define ALIGN 64

struct qcal_model {
    qcal__graph *g;
    char sha256[65];
    int64_t batch;
    /* declared shapes of the graph inputs (-1: symbolic), saved before prepare overwrites them */
    int *decl_rank;
    int64_t (*decl_dims)[QCAL_MAX_RANK];
    bool *node_live;   /* node runs per sample (not folded) */
    uint8_t *arena;
    size_t arena_size;
    void *scratch;
    size_t scratch_size;
    bool prepared;
    bool ran;
};

static size_t align_up(size_t n)
{
    return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

static void *alloc_aligned(size_t n)
{
    return aligned_alloc(ALIGN, align_up(n ? n : 1));
}

void qcal_model_destroy(qcal_model *m)
{
    if (!m)
        return;
    if (m->g) {
        /* Activation data points into the arena: forget it before the graph frees tensors. */
        for (size_t i = 0; i < m->g->n_tensors; i++)
            if (m->g->tensors[i]->kind != QCAL__T_CONST)
                m->g->tensors[i]->data = NULL;
    }
    qcal__graph_destroy(m->g);
    free(m->decl_rank);
    free(m->decl_dims);
    free(m->node_live);
    free(m->arena);
    free(m->scratch);
    free(m);
}

/* qcal_model_load (data NULL: read path) and qcal_model_load_buffer. */
static qcal_status model_load(const char *path, const void *data, size_t len,
                              const qcal_model_opts *opts, qcal_model **out, qcal_error *err)
{
    qcal_model *m;
    qcal_status st;

    *out = NULL;
    /* Ranks are the parallelism: BLAS runs single-threaded, the same kernel on every rank. */
    openblas_set_num_threads(1);
    m = calloc(1, sizeof *m);
    if (!m)
        return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", path);
    m->batch = (opts && opts->batch > 0) ? opts->batch : 1;
    st = data ? qcal__onnx_load_buffer(path, data, len, &m->g, m->sha256, err)
              : qcal__onnx_load(path, &m->g, m->sha256, err);
    if (st != QCAL_OK)
        goto fail;
    m->decl_rank = calloc((size_t)m->g->n_inputs + 1, sizeof *m->decl_rank);
    m->decl_dims = calloc((size_t)m->g->n_inputs + 1, sizeof *m->decl_dims);
    m->node_live = calloc((size_t)m->g->n_nodes + 1, sizeof *m->node_live);
    if (!m->decl_rank || !m->decl_dims || !m->node_live) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (int i = 0; i < m->g->n_inputs; i++) {
        m->decl_rank[i] = m->g->inputs[i]->rank;
        memcpy(m->decl_dims[i], m->g->inputs[i]->dims, sizeof m->decl_dims[i]);
    }
    if (!(opts && opts->defer_prepare)) {
        st = qcal_model_prepare(m, NULL, 0, err);
        if (st != QCAL_OK)
            goto fail;
    }
    *out = m;
    return QCAL_OK;
fail:
    qcal_model_destroy(m);
    return st;
}

qcal_status qcal_model_load(const char *path, const qcal_model_opts *opts, qcal_model **out,
                            qcal_error *err)
{
    return model_load(path, NULL, 0, opts, out, err);
}

qcal_status qcal_model_load_buffer(const char *name, const void *data, size_t len,
                                   const qcal_model_opts *opts, qcal_model **out, qcal_error *err)
{
    static const unsigned char empty[1];

    return model_load(name, data ? data : empty, data ? len : 0, opts, out, err);
}

/* Undoes a previous prepare: folded values, bound inputs, kernel params, planned slots. */
static void unprepare(qcal_model *m)
{
    qcal__graph *g = m->g;

    for (size_t i = 0; i < g->n_tensors; i++) {
        qcal__tensor *t = g->tensors[i];
        if (t->initializer)
            continue;
        if (t->kind == QCAL__T_CONST) {
            free(t->data);
            t->kind = t->producer >= 0 ? QCAL__T_ACT : QCAL__T_INPUT;
        }
        t->data = NULL;
        t->folded = false;
        if (t->producer >= 0)
            t->shaped = false;
        t->last_use = -1;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        free(g->nodes[i].params);
        g->nodes[i].params = NULL;
        g->nodes[i].scratch = 0;
    }
    m->prepared = false;
    m->ran = false;
}

/* Input shapes: given views must match the declared fixed dims; symbolic dims take the value. */
static qcal_status set_input_shapes(qcal_model *m, const qcal_tensor_view *inputs, size_t n,
                                    qcal_error *err)
{
    qcal__graph *g = m->g;
    char a[128], b[128];

    if (inputs && n != (size_t)g->n_inputs)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: model has %d inputs, %zu given", g->path,
                              g->n_inputs, n);
    for (int i = 0; i < g->n_inputs; i++) {
        qcal__tensor *t = g->inputs[i];
        int64_t dims[QCAL_MAX_RANK];
        int rank = m->decl_rank[i];
        qcal_status st;

        if (inputs) {
            const qcal_tensor_view *v = &inputs[i];
            /* A declared rank 0 may also mean "no shape in the file": any rank goes. */
            bool ok = v->dtype == t->dtype && (rank == 0 || v->rank == rank);
            for (int k = 0; ok && k < rank && k < v->rank; k++)
                ok = m->decl_dims[i][k] < 0 || m->decl_dims[i][k] == v->dims[k];
            if (!ok) {
                for (int k = 0; k < rank; k++)
                    dims[k] = m->decl_dims[i][k];
                qcal__shape_str(rank, dims, a, sizeof a);
                qcal__shape_str(v->rank, v->dims, b, sizeof b);
                return qcal_error_set(err, QCAL_E_SHAPE,
                                      "%s: input '%s' expects %s [%s] (-1: any), got %s [%s]",
                                      g->path, t->name, qcal_dtype_name(t->dtype), a,
                                      qcal_dtype_name(v->dtype), b);
            }
            rank = v->rank;
            memcpy(dims, v->dims, sizeof dims);
        } else {
            for (int k = 0; k < rank; k++)
                dims[k] = m->decl_dims[i][k] >= 0 ? m->decl_dims[i][k] : (k == 0 ? m->batch : 1);
        }
        st = qcal__tensor_set_shape(t, t->dtype, rank, dims, err);
        if (st != QCAL_OK)
            return st;
        t->nbytes = t->nelem * qcal_dtype_size(t->dtype);
    }
    return QCAL_OK;
}

/*
 * Graph inputs whose values decide shapes become constants bound to the given values: those
 * feeding a value slot (qcal__op.value_inputs) directly or through other nodes (a window size cast
 * to float, then fed to Range). need[t] names the node whose value slot needs tensor t; walking
 * the nodes backwards, a node whose output is needed needs all its inputs, except Shape and Size,
 * which read only their input's static shape. Allocates need[] for the walk.
 */
static qcal_status bind_value_inputs(qcal_model *m, const qcal_tensor_view *inputs,
                                     qcal_error *err)
{
    qcal__graph *g = m->g;
    int *need = malloc((g->n_tensors ? g->n_tensors : 1) * sizeof *need);
    qcal_status st = QCAL_OK;

    if (!need)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    for (size_t i = 0; i < g->n_tensors; i++)
        need[i] = -1;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const qcal__node *n = &g->nodes[i];
        int by = -1;
        if (strcmp(n->op_type, "Shape") != 0 && strcmp(n->op_type, "Size") != 0)
            for (int k = 0; k < n->n_out && by < 0; k++)
                if (n->out[k] && need[n->out[k]->id] >= 0)
                    by = need[n->out[k]->id];
        for (int k = 0; k < n->n_in; k++) {
            const qcal__tensor *t = n->in[k];
            if (t && need[t->id] < 0 && (by >= 0 || (k < 32 && (n->op->value_inputs & (1u << k)))))
                need[t->id] = by >= 0 ? by : i;
        }
    }
    for (int j = 0; j < g->n_inputs && st == QCAL_OK; j++) {
        qcal__tensor *t = g->inputs[j];
        const qcal__node *n;
        if (t->kind != QCAL__T_INPUT || need[t->id] < 0)
            continue;
        n = &g->nodes[need[t->id]];
        if (!inputs || !inputs[j].data) {
            st = qcal_error_set(err, QCAL_E_UNSUPPORTED,
                                "%s: graph input '%s' decides a shape (an input of node '%s' "
                                "(%s)); its value must be given at prepare time",
                                g->path, t->name, n->name, n->op_type);
            break;
        }
        t->data = malloc(t->nbytes ? t->nbytes : 1);
        if (!t->data) {
            st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
            break;
        }
        memcpy(t->data, inputs[j].data, t->nbytes);
        t->kind = QCAL__T_CONST;
    }
    free(need);
    return st;
}

/* Infers every node in order; runs nodes whose inputs are all constant (folding). */
static qcal_status infer_and_fold(qcal_model *m, qcal_error *err)
{
    qcal__graph *g = m->g;

    for (int i = 0; i < g->n_nodes; i++) {
        qcal__node *n = &g->nodes[i];
        bool all_const = true;
        qcal_status st;

        for (int k = 0; k < n->n_in; k++) {
            if (!n->in[k])
                continue;
            if (!n->in[k]->shaped)
                return qcal_error_set(err, QCAL_E_SHAPE, "%s: node '%s' (%s): input '%s' has no "
                                      "known shape", g->path, n->name, n->op_type, n->in[k]->name);
            if (n->in[k]->kind != QCAL__T_CONST)
                all_const = false;
        }
        st = n->op->infer(n, err);
        if (st != QCAL_OK)
            return qcal_error_prefix(err, g->path);
        qcal__node_narrow_outputs(n);
        for (int k = 0; k < n->n_out; k++) {
            qcal__tensor *t = n->out[k];
            if (!t)
                continue;
            if (!t->shaped)
                return qcal_error_set(err, QCAL_E_SHAPE, "%s: node '%s' (%s): output %d has no "
                                      "inferred shape", g->path, n->name, n->op_type, k);
            t->nbytes = t->nelem * qcal_dtype_size(t->dtype);
        }
        /* Shape and Size read only their input's (static) shape, never the data: constants. */
        if (strcmp(n->op_type, "Shape") == 0 || strcmp(n->op_type, "Size") == 0)
            all_const = true;
        m->node_live[i] = !all_const;
        if (all_const) {
            void *scratch = NULL;
            for (int k = 0; k < n->n_out; k++) {
                qcal__tensor *t = n->out[k];
                if (!t)
                    continue;
                t->data = alloc_aligned(t->nbytes);
                if (!t->data)
                    return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
                t->kind = QCAL__T_CONST;
                t->folded = true;
            }
            if (n->scratch && !(scratch = alloc_aligned(n->scratch)))
                return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
            n->run_error = NULL;
            n->op->run(n, scratch);
            free(scratch);
            if (n->run_error)
                return qcal_error_set(err, QCAL_E_INVALID, "%s: node '%s' (%s): %s", g->path,
                                      n->name, n->op_type, n->run_error);
        } else if (n->scratch > m->scratch_size) {
            m->scratch_size = n->scratch;
        }
    }
    return QCAL_OK;
}

typedef struct slot {
    qcal__tensor *t;
    int start, end; /* live over nodes [start, end] */
} slot;

static int by_size_desc(const void *a, const void *b)
{
    const slot *x = a, *y = b;
    if (x->t->nbytes != y->t->nbytes)
        return x->t->nbytes < y->t->nbytes ? 1 : -1;
    return x->start - y->start;
}

static int by_offset(const void *a, const void *b)
{
    const slot *x = *(const slot *const *)a, *y = *(const slot *const *)b;
    return (x->t->offset > y->t->offset) - (x->t->offset < y->t->offset);
}

/*
 * Greedy arena planning: tensors by decreasing size, each at the lowest offset that does not
 * overlap (in bytes) any placed tensor whose lifetime overlaps its own. A node's outputs never
 * share memory with its inputs (their lifetimes meet at the node).
 */
static qcal_status plan(qcal_model *m, qcal_error *err)
{
    qcal__graph *g = m->g;
    slot *s = NULL;
    slot **placed = NULL;
    size_t ns = 0, np = 0, total = 0;
    qcal_status st = QCAL_OK;

    for (int i = 0; i < g->n_nodes; i++) {
        const qcal__node *n = &g->nodes[i];
        if (!m->node_live[i])
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] && n->in[k]->kind != QCAL__T_CONST)
                n->in[k]->last_use = i;
    }
    s = calloc(g->n_tensors + 1, sizeof *s);
    placed = calloc(2 * (g->n_tensors + 1), sizeof *placed); /* placed list + work area */
    if (!s || !placed) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < g->n_tensors; i++) {
        qcal__tensor *t = g->tensors[i];
        if (t->kind == QCAL__T_CONST || !t->shaped)
            continue;
        s[ns].t = t;
        s[ns].start = t->kind == QCAL__T_INPUT ? -1 : t->producer;
        s[ns].end = t->is_output ? g->n_nodes : (t->last_use >= 0 ? t->last_use : s[ns].start);
        ns++;
    }
    qsort(s, ns, sizeof *s, by_size_desc);
    for (size_t i = 0; i < ns; i++) {
        size_t need = align_up(s[i].t->nbytes), off = 0, cnt = 0;
        for (size_t j = 0; j < np; j++)
            if (placed[j]->start <= s[i].end && s[i].start <= placed[j]->end)
                placed[np + cnt++] = placed[j]; /* scratch area after the placed list */
        qsort(placed + np, cnt, sizeof *placed, by_offset);
        for (size_t j = 0; j < cnt; j++) {
            const slot *p = placed[np + j];
            if (p->t->offset >= off + need)
                break;
            if (p->t->offset + align_up(p->t->nbytes) > off)
                off = p->t->offset + align_up(p->t->nbytes);
        }
        s[i].t->offset = off;
        if (off + need > total)
            total = off + need;
        placed[np++] = &s[i];
    }
    free(m->arena);
    m->arena = alloc_aligned(total);
    m->arena_size = total;
    free(m->scratch);
    m->scratch = m->scratch_size ? alloc_aligned(m->scratch_size) : NULL;
    if (!m->arena || (m->scratch_size && !m->scratch))
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory (%zu bytes of activations)",
                            g->path, total);
out:
    free(s);
    free(placed);
    return st;
}

qcal_status qcal_model_prepare(qcal_model *m, const qcal_tensor_view *inputs, size_t n,
                               qcal_error *err)
{
    qcal_status st;

    unprepare(m);
    m->scratch_size = 0;
    st = set_input_shapes(m, inputs, n, err);
    if (st == QCAL_OK)
        st = bind_value_inputs(m, inputs, err);
    if (st == QCAL_OK)
        st = infer_and_fold(m, err);
    if (st == QCAL_OK)
        st = plan(m, err);
    if (st != QCAL_OK) {
        unprepare(m);
        return st;
    }
    m->prepared = true;
    return QCAL_OK;
}

static qcal_tensor_view view_of(const qcal__tensor *t)
{
    qcal_tensor_view v;

    memset(&v, 0, sizeof v);
    v.name = t->name;
    v.dtype = t->dtype;
    v.rank = t->rank;
    memcpy(v.dims, t->dims, sizeof v.dims);
    v.nelem = t->nelem;
    v.data = t->data;
    return v;
}

static size_t tensor_index(const qcal__graph *g, const qcal__tensor *t)
{
    (void)g;
    return t->id;
}

qcal_status qcal_model_run(qcal_model *m, const void *const *inputs, qcal_observer_fn observer,
                           void *ctx, qcal_error *err)
{
    qcal__graph *g = m->g;

    if (!m->prepared)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: model is not prepared", g->path);
    for (size_t i = 0; i < g->n_tensors; i++) {
        qcal__tensor *t = g->tensors[i];
        if (t->kind != QCAL__T_CONST)
            t->data = t->shaped ? m->arena + t->offset : NULL;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        qcal__tensor *t = g->inputs[i];
        if (t->kind == QCAL__T_CONST)
            continue; /* bound at prepare */
        if (!inputs || !inputs[i])
            return qcal_error_set(err, QCAL_E_INVALID, "%s: no data for input '%s'", g->path,
                                  t->name);
        memcpy(t->data, inputs[i], t->nbytes);
        if (observer) {
            qcal_tensor_view v = view_of(t);
            observer(ctx, tensor_index(g, t), &v);
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        qcal__node *n = &g->nodes[i];
        if (!m->node_live[i])
            continue;
        n->run_error = NULL;
        n->op->run(n, m->scratch);
        if (n->run_error)
            return qcal_error_set(err, QCAL_E_INVALID, "%s: node '%s' (%s): %s (run time)",
                                  g->path, n->name, n->op_type, n->run_error);
        if (!observer)
            continue;
        for (int k = 0; k < n->n_out; k++) {
            if (n->out[k]) {
                qcal_tensor_view v = view_of(n->out[k]);
                observer(ctx, tensor_index(g, n->out[k]), &v);
            }
        }
    }
    m->ran = true;
    return QCAL_OK;
}

size_t qcal_model_n_inputs(const qcal_model *m)
{
    return (size_t)m->g->n_inputs;
}

size_t qcal_model_n_outputs(const qcal_model *m)
{
    return (size_t)m->g->n_outputs;
}

qcal_tensor_view qcal_model_input(const qcal_model *m, size_t i)
{
    qcal_tensor_view v = view_of(m->g->inputs[i]);
    if (!m->prepared) {
        v.rank = m->decl_rank[i];
        memcpy(v.dims, m->decl_dims[i], sizeof v.dims);
    }
    if (m->g->inputs[i]->kind != QCAL__T_CONST && !m->ran)
        v.data = NULL;
    return v;
}

qcal_tensor_view qcal_model_output(const qcal_model *m, size_t i)
{
    qcal_tensor_view v = view_of(m->g->outputs[i]);
    if (m->g->outputs[i]->kind != QCAL__T_CONST && !m->ran)
        v.data = NULL;
    return v;
}

size_t qcal_model_n_tensors(const qcal_model *m)
{
    return m->g->n_tensors;
}

qcal_tensor_view qcal_model_tensor(const qcal_model *m, size_t i)
{
    qcal_tensor_view v = view_of(m->g->tensors[i]);
    if (m->g->tensors[i]->kind != QCAL__T_CONST)
        v.data = NULL;
    return v;
}

qcal_tensor_kind qcal_model_tensor_kind(const qcal_model *m, size_t i)
{
    const qcal__tensor *t = m->g->tensors[i];

    if (t->initializer)
        return QCAL_TENSOR_WEIGHT;
    if (t->producer < 0)
        return t->kind == QCAL__T_CONST && m->prepared ? QCAL_TENSOR_CONSTANT : QCAL_TENSOR_INPUT;
    if (t->kind == QCAL__T_CONST) {
        /* DESIGN.md: Constant-node values are parameters (PaddlePaddle stores weights so). */
        return strcmp(m->g->nodes[t->producer].op_type, "Constant") == 0 ? QCAL_TENSOR_WEIGHT
                                                                         : QCAL_TENSOR_CONSTANT;
    }
    return t->is_output ? QCAL_TENSOR_OUTPUT : QCAL_TENSOR_ACTIVATION;
}

const char *qcal_model_tensor_producer(const qcal_model *m, size_t i)
{
    const qcal__tensor *t = m->g->tensors[i];
    return t->producer >= 0 ? m->g->nodes[t->producer].name : "";
}

const char *qcal_model_tensor_op(const qcal_model *m, size_t i)
{
    const qcal__tensor *t = m->g->tensors[i];
    return t->producer >= 0 ? m->g->nodes[t->producer].op_type : "";
}

size_t qcal_model_n_nodes(const qcal_model *m)
{
    return (size_t)m->g->n_nodes;
}

const char *qcal_model_node_name(const qcal_model *m, size_t i)
{
    return m->g->nodes[i].name;
}

const char *qcal_model_node_op(const qcal_model *m, size_t i)
{
    return m->g->nodes[i].op_type;
}

size_t qcal_model_node_n_inputs(const qcal_model *m, size_t i)
{
    return (size_t)m->g->nodes[i].n_in;
}

size_t qcal_model_node_input(const qcal_model *m, size_t i, size_t k)
{
    const qcal__tensor *t = m->g->nodes[i].in[k];
    return t ? tensor_index(m->g, t) : SIZE_MAX;
}

size_t qcal_model_node_n_outputs(const qcal_model *m, size_t i)
{
    return (size_t)m->g->nodes[i].n_out;
}

size_t qcal_model_node_output(const qcal_model *m, size_t i, size_t k)
{
    const qcal__tensor *t = m->g->nodes[i].out[k];
    return t ? tensor_index(m->g, t) : SIZE_MAX;
}

const char *qcal_model_path(const qcal_model *m)
{
    return m->g->path;
}

const char *qcal_model_sha256(const qcal_model *m)
{
    return m->sha256;
}

int64_t qcal_model_node_attr_int(const qcal_model *m, size_t i, const char *name, int64_t def)
{
    return qcal__attr_int(&m->g->nodes[i], name, def);
}

qcal_dtype qcal_model_source_dtype(const qcal_model *m)
{
    return m->g->source_dtype;
}

qcal_dtype qcal_model_tensor_source_dtype(const qcal_model *m, size_t i)
{
    const qcal__tensor *t = m->g->tensors[i];

    if (t->dtype == QCAL_DT_FLOAT &&
        (t->narrow == QCAL_DT_FLOAT16 || t->narrow == QCAL_DT_BFLOAT16))
        return t->narrow;
    return t->dtype;
}
