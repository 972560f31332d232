/*
 * The executor: prepare (shape inference, constant folding, buffer planning) and run (one sample,
 * nodes in order, observer after every node). Memory is one arena planned at prepare time: a
 * tensor occupies its slot from its producer to its last consumer, after which the slot is reused,
 * so a run allocates nothing and memory is bounded by the model, never by the sample count.
 *
 * Dynamic mode (only for models that need it; static models take exactly the path above): a node
 * whose output shapes depend on input values (an exec kernel: NonZero, Unique, If, Loop, ...),
 * every node downstream of one, every node with a computed shape argument and every node of a
 * subgraph runs in dynamic mode: it is re-inferred at every run with the values at hand, and its
 * outputs live in a pool of one growing buffer per tensor (allocated on first need, reused by
 * later runs, freed with the model). Failures there are returned as a status.
 */
#include <cblas.h>
#include <limits.h>
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
    bool dynamic;       /* some node of the model's graph runs in dynamic mode */
    qcal__node **flat;  /* public node list: a control node's subgraph nodes come before it */
    size_t n_flat;
    void **pool;        /* dynamic mode: buffer of tensor id i, pool_cap[i] bytes */
    size_t *pool_cap;
    void *dscratch;     /* dynamic mode: scratch of re-inferred nodes */
    size_t dscratch_size;
};

struct qcal__exec {
    qcal_model *m;
    qcal_observer_fn observer;
    void *ctx;
    bool fold; /* prepare time: outputs become constants */
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
    if (m->pool)
        for (size_t i = 0; i < m->g->n_tensors; i++)
            free(m->pool[i]);
    free(m->pool);
    free(m->pool_cap);
    free(m->dscratch);
    free(m->flat);
    qcal__graph_destroy(m->g);
    free(m->decl_rank);
    free(m->decl_dims);
    free(m->node_live);
    free(m->arena);
    free(m->scratch);
    free(m);
}

/* Subgraph nodes first, then their owner: the order in which they compute. */
static size_t flatten(qcal__graph *g, qcal__node **out, size_t at)
{
    for (int i = 0; i < g->n_nodes; i++) {
        qcal__node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attr; a++) {
            if (n->attr[a].g) {
                n->attr[a].g->owner = n;
                at = flatten(n->attr[a].g, out, at);
            }
        }
        if (out) {
            out[at] = n;
            n->xop = qcal__xop_of(n);
        }
        at++;
    }
    return at;
}

static qcal_status link_subgraphs(qcal_model *m, qcal_error *err)
{
    size_t nt = m->g->n_tensors;

    m->n_flat = flatten(m->g, NULL, 0);
    m->flat = calloc(m->n_flat + 1, sizeof *m->flat);
    m->pool = calloc(nt + 1, sizeof *m->pool);
    m->pool_cap = calloc(nt + 1, sizeof *m->pool_cap);
    if (!m->flat || !m->pool || !m->pool_cap)
        return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", m->g->path);
    flatten(m->g, m->flat, 0);
    return QCAL_OK;
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
    st = link_subgraphs(m, err);
    if (st != QCAL_OK)
        goto fail;
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
        if (t->producer >= 0 || t->scope)
            t->shaped = false;
        t->dynamic = false;
        t->last_use = -1;
    }
    for (size_t i = 0; i < m->n_flat; i++) {
        free(m->flat[i]->params);
        m->flat[i]->params = NULL;
        m->flat[i]->scratch = 0;
        m->flat[i]->xmode = QCAL__X_FOLDED;
    }
    m->prepared = false;
    m->ran = false;
    m->dynamic = false;
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

/* ---- dynamic mode: buffers, dtype guesses, re-inference ---- */

/* Gives dynamic tensor t a pool buffer of at least nbytes (contents not kept). */
static qcal_status pool_buffer(qcal_model *m, qcal__tensor *t, size_t nbytes, qcal_error *err)
{
    size_t id = t->id;

    if (m->pool_cap[id] < nbytes || !m->pool[id]) {
        size_t cap = m->pool_cap[id] > SIZE_MAX / 4 ? nbytes : 2 * m->pool_cap[id];
        if (cap < nbytes)
            cap = nbytes;
        free(m->pool[id]);
        m->pool[id] = alloc_aligned(cap);
        m->pool_cap[id] = m->pool[id] ? cap : 0;
        if (!m->pool[id])
            return qcal_error_set(err, QCAL_E_NOMEM, "%s: tensor '%s': out of memory (%zu bytes)",
                                  m->g->path, t->name, nbytes);
    }
    t->data = m->pool[id];
    return QCAL_OK;
}

qcal_status qcal__exec_output(qcal__exec *x, qcal__node *n, int k, qcal_dtype dt, int rank,
                              const int64_t *dims, qcal_error *err)
{
    qcal__tensor *t = k < n->n_out ? n->out[k] : NULL;
    qcal_status st;

    if (!t)
        return QCAL_OK;
    st = qcal__tensor_set_shape(t, dt, rank, dims, err);
    if (st != QCAL_OK)
        return qcal__node_error(err, n, st, "output %d: %s", k, err ? err->msg : "bad shape");
    t->nbytes = t->nelem * qcal_dtype_size(dt);
    if (x->fold) {
        t->data = alloc_aligned(t->nbytes);
        if (!t->data)
            return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        t->kind = QCAL__T_CONST;
        t->folded = true;
        return QCAL_OK;
    }
    return pool_buffer(x->m, t, t->nbytes, err);
}

static qcal_dtype in_dtype(const qcal__node *n, int i)
{
    const qcal__tensor *t = qcal__in(n, i);
    return t ? t->dtype : QCAL_DT_UNDEFINED;
}

/*
 * dtype of output k of a node that runs in dynamic mode, known at prepare without its inputs'
 * shapes (the statistics decide at prepare which tensors are float activations). The rules of
 * the ONNX type constraints; the run checks the guess and fails naming the node if it was wrong.
 */
static qcal_dtype guess_dtype(const qcal__node *n, int k)
{
    static const char *const INT64_OUT[] = { "Shape", "Size", "NonZero", "ArgMax", "ArgMin",
                                             "NonMaxSuppression", NULL };
    static const char *const BOOL_OUT[] = { "Equal", "Less", "Greater", "LessOrEqual",
                                            "GreaterOrEqual", "And", "Or", "Xor", "Not",
                                            "IsNaN", "IsInf", NULL };
    const char *op = n->op_type;

    if (n->xop)
        return n->xop->dtype ? n->xop->dtype(n, k) : QCAL_DT_UNDEFINED;
    for (int i = 0; INT64_OUT[i]; i++)
        if (strcmp(op, INT64_OUT[i]) == 0)
            return QCAL_DT_INT64;
    for (int i = 0; BOOL_OUT[i]; i++)
        if (strcmp(op, BOOL_OUT[i]) == 0)
            return QCAL_DT_BOOL;
    if (strcmp(op, "Cast") == 0) {
        const qcal__attr *a = qcal__attr_find(n, "to");
        if (!a || a->type != QCAL__A_INT)
            return QCAL_DT_UNDEFINED; /* Cast-1's string form: let the run tell */
        return a->i == QCAL_DT_FLOAT16 || a->i == 16 ? QCAL_DT_FLOAT : (qcal_dtype)a->i;
    }
    if (strcmp(op, "CastLike") == 0)
        return in_dtype(n, 1);
    if ((strcmp(op, "TopK") == 0 && k == 1) || (strcmp(op, "MaxPool") == 0 && k == 1))
        return QCAL_DT_INT64;
    if (strcmp(op, "QuantizeLinear") == 0)
        return qcal__in(n, 2) ? in_dtype(n, 2) : QCAL_DT_UINT8;
    if (strcmp(op, "DequantizeLinear") == 0)
        return QCAL_DT_FLOAT;
    if (strcmp(op, "Where") == 0)
        return in_dtype(n, 1);
    if (strcmp(op, "ConstantOfShape") == 0 || strcmp(op, "EyeLike") == 0 ||
        strcmp(op, "OneHot") == 0 || strcmp(op, "Range") == 0)
        return QCAL_DT_UNDEFINED;
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i])
            return n->in[i]->dtype;
    return QCAL_DT_UNDEFINED;
}

static void observe_outputs(const qcal__exec *x, const qcal__node *n);

static qcal_status run_failed(const qcal_model *m, const qcal__node *n, qcal_error *err)
{
    return qcal_error_set(err, QCAL_E_INVALID, "%s: node '%s' (%s): %s (run time)", m->g->path,
                          n->name, n->op_type, n->run_error);
}

/* Checks the dtypes a node produced against the prepare-time guesses in want[]. */
static qcal_status check_dtypes(const qcal_model *m, const qcal__node *n, const qcal_dtype *want,
                                qcal_error *err)
{
    for (int k = 0; k < n->n_out && k < 64; k++) {
        const qcal__tensor *t = n->out[k];
        if (!t)
            continue;
        if (!t->shaped)
            return qcal_error_set(err, QCAL_E_SHAPE, "%s: node '%s' (%s): output %d has no "
                                  "shape", m->g->path, n->name, n->op_type, k);
        if (want[k] != QCAL_DT_UNDEFINED && t->dtype != want[k])
            return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: node '%s' (%s): output '%s' is %s "
                                  "at run time but %s was assumed at prepare", m->g->path,
                                  n->name, n->op_type, t->name, qcal_dtype_name(t->dtype),
                                  qcal_dtype_name(want[k]));
    }
    return QCAL_OK;
}

/* One node in dynamic mode: exec kernel, or re-inference with the values at hand + run. */
static qcal_status run_dynamic(qcal__exec *x, qcal__node *n, qcal_error *err)
{
    qcal_model *m = x->m;
    qcal_dtype want[64];
    qcal_status st;

    if (n->n_out > 64)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: node '%s' has %d outputs (at most "
                              "64 in dynamic mode)", m->g->path, n->name, n->n_out);
    for (int k = 0; k < n->n_out; k++)
        want[k] = n->out[k] ? n->out[k]->dtype : QCAL_DT_UNDEFINED;
    if (n->xop) {
        st = n->xop->exec(n, x, err);
        if (st != QCAL_OK)
            return qcal_error_prefix(err, m->g->path);
    } else {
        qcal__tensor_kind kinds[32];
        free(n->params);
        n->params = NULL;
        n->scratch = 0;
        for (int k = 0; k < n->n_in; k++) {
            qcal__tensor *t = n->in[k];
            if (!t)
                continue;
            if (!t->shaped || !t->data)
                return qcal_error_set(err, QCAL_E_SHAPE, "%s: node '%s' (%s): input '%s' has no "
                                      "value", m->g->path, n->name, n->op_type, t->name);
            /* Shape arguments computed this run are the constants of this inference. */
            if (k < 32) {
                kinds[k] = t->kind;
                if (n->op->value_inputs & (1u << k))
                    t->kind = QCAL__T_CONST;
            }
        }
        st = n->op->infer(n, err);
        for (int k = 0; k < n->n_in && k < 32; k++)
            if (n->in[k])
                n->in[k]->kind = kinds[k];
        if (st != QCAL_OK)
            return qcal_error_prefix(err, m->g->path);
        qcal__node_narrow_outputs(n);
        for (int k = 0; k < n->n_out; k++) {
            qcal__tensor *t = n->out[k];
            if (!t)
                continue;
            if (!t->shaped)
                break; /* check_dtypes names it */
            t->nbytes = t->nelem * qcal_dtype_size(t->dtype);
            if ((st = pool_buffer(m, t, t->nbytes, err)) != QCAL_OK)
                return st;
        }
        if ((st = check_dtypes(m, n, want, err)) != QCAL_OK)
            return st;
        if (n->scratch > m->dscratch_size) {
            free(m->dscratch);
            m->dscratch = alloc_aligned(n->scratch);
            m->dscratch_size = m->dscratch ? n->scratch : 0;
            if (!m->dscratch)
                return qcal_error_set(err, QCAL_E_NOMEM, "%s: node '%s': out of memory (%zu "
                                      "bytes of scratch)", m->g->path, n->name, n->scratch);
        }
        n->run_error = NULL;
        n->op->run(n, m->dscratch);
        if (n->run_error)
            return run_failed(m, n, err);
    }
    if ((st = check_dtypes(m, n, want, err)) != QCAL_OK)
        return st;
    observe_outputs(x, n);
    return QCAL_OK;
}

static qcal_tensor_view view_of(const qcal__tensor *t);

qcal_status qcal__exec_graph(qcal__exec *x, qcal__graph *g, const qcal_tensor_view *in,
                             int n_in, qcal_error *err)
{
    qcal_status st;

    if (n_in != g->n_inputs)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: subgraph '%s' has %d inputs, %d given",
                              x->m->g->path, g->name ? g->name : "", g->n_inputs, n_in);
    for (int k = 0; k < n_in; k++) {
        qcal__tensor *t = g->inputs[k];
        const void *src = in[k].data;
        st = qcal__tensor_set_shape(t, in[k].dtype, in[k].rank, in[k].dims, err);
        if (st != QCAL_OK)
            return qcal_error_prefix(err, x->m->g->path);
        t->nbytes = t->nelem * qcal_dtype_size(t->dtype);
        if (src == t->data && t->data)
            continue;
        if ((st = pool_buffer(x->m, t, t->nbytes, err)) != QCAL_OK)
            return st;
        if (t->nbytes)
            memmove(t->data, src, t->nbytes);
        if (x->observer) {
            qcal_tensor_view v = view_of(t);
            x->observer(x->ctx, t->id, &v);
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        qcal__node *n = &g->nodes[i];
        if (n->xmode == QCAL__X_FOLDED)
            continue;
        if ((st = run_dynamic(x, n, err)) != QCAL_OK)
            return st;
    }
    for (int k = 0; k < g->n_outputs; k++)
        if (!g->outputs[k]->shaped || (!g->outputs[k]->data && g->outputs[k]->nelem))
            return qcal_error_set(err, QCAL_E_SHAPE, "%s: subgraph '%s': output '%s' has no "
                                  "value", x->m->g->path, g->name ? g->name : "",
                                  g->outputs[k]->name);
    return QCAL_OK;
}

static bool has_subgraph(const qcal__node *n)
{
    for (int a = 0; a < n->n_attr; a++)
        if (n->attr[a].g)
            return true;
    return false;
}

/* Runs a node at prepare time: its outputs become constants. */
static qcal_status fold_node(qcal_model *m, qcal__node *n, qcal_error *err)
{
    void *scratch = NULL;

    if (n->xop) {
        qcal__exec x = { m, NULL, NULL, true };
        qcal_status st = n->xop->exec(n, &x, err);
        return st == QCAL_OK ? QCAL_OK : qcal_error_prefix(err, m->g->path);
    }
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
        return qcal_error_set(err, QCAL_E_INVALID, "%s: node '%s' (%s): %s", m->g->path,
                              n->name, n->op_type, n->run_error);
    return QCAL_OK;
}

/*
 * Infers every node of g in order; runs nodes whose inputs are all constant (folding). In the
 * model's graph the other nodes are static (shapes now, arena) unless dynamic; in a subgraph
 * they are all dynamic. Subgraphs are prepared when their owner is reached.
 */
static qcal_status prepare_graph(qcal_model *m, qcal__graph *g, qcal_error *err)
{
    bool sub = g->parent != NULL;

    for (int i = 0; i < g->n_nodes; i++) {
        qcal__node *n = &g->nodes[i];
        bool all_const = true, dyn = false;
        qcal_status st;

        for (int k = 0; k < n->n_in + n->n_implicit; k++) {
            const qcal__tensor *t = k < n->n_in ? n->in[k] : n->implicit[k - n->n_in];
            if (!t)
                continue;
            if (t->kind == QCAL__T_CONST)
                continue;
            all_const = false;
            if (t->dynamic || t->scope)
                dyn = true;
            else if (!t->shaped)
                return qcal_error_set(err, QCAL_E_SHAPE, "%s: node '%s' (%s): input '%s' has no "
                                      "known shape", g->path, n->name, n->op_type, t->name);
            else if (k < n->n_in && k < 32 && (n->op->value_inputs & (1u << k)))
                dyn = true; /* a shape argument computed per sample */
        }
        if (sub && !all_const)
            dyn = true;
        if (n->xop) {
            st = n->op->infer(n, err);
            if (st != QCAL_OK)
                return qcal_error_prefix(err, g->path);
            for (int a = 0; a < n->n_attr; a++)
                if (n->attr[a].g && (st = prepare_graph(m, n->attr[a].g, err)) != QCAL_OK)
                    return st;
            if (all_const && !has_subgraph(n)) {
                n->xmode = QCAL__X_FOLDED;
                if ((st = fold_node(m, n, err)) != QCAL_OK)
                    return st;
                if (!sub)
                    m->node_live[i] = false;
                continue;
            }
            dyn = true;
        }
        if (dyn) {
            n->xmode = QCAL__X_DYNAMIC;
            for (int k = 0; k < n->n_out; k++) {
                qcal__tensor *t = n->out[k];
                if (!t)
                    continue;
                t->dynamic = true;
                t->shaped = false;
                t->rank = 0;
                t->nelem = 0;
                t->dtype = guess_dtype(n, k);
            }
            if (!sub) {
                m->node_live[i] = true;
                m->dynamic = true;
            }
            continue;
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
        if (all_const) {
            n->xmode = QCAL__X_FOLDED;
            if ((st = fold_node(m, n, err)) != QCAL_OK)
                return st;
        } else {
            n->xmode = QCAL__X_STATIC;
            if (n->scratch > m->scratch_size)
                m->scratch_size = n->scratch;
        }
        if (!sub)
            m->node_live[i] = !all_const;
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
 * Overlap queries for plan(): a max-segment tree over the slots sorted by start, holding each
 * placed slot's end (INT_MIN while unplaced). The placed slots whose lifetime meets [s, e] are
 * those among the first `upto` (start <= e) with end >= s; subtrees whose maximum end is below s
 * are skipped, so a query costs O((k + 1) log n) for k overlaps and planning a chain is
 * O(n log n) instead of O(n^2).
 */
typedef struct overlap_tree {
    size_t leaves;      /* power of two >= slot count */
    int *mx;            /* [2 * leaves] */
    slot **at;          /* slot of each leaf, by start */
} overlap_tree;

static void overlap_set(overlap_tree *ot, size_t leaf, int end)
{
    size_t i = ot->leaves + leaf;

    ot->mx[i] = end;
    for (i >>= 1; i; i >>= 1)
        ot->mx[i] = ot->mx[2 * i] > ot->mx[2 * i + 1] ? ot->mx[2 * i] : ot->mx[2 * i + 1];
}

static void overlap_query(const overlap_tree *ot, size_t node, size_t lo, size_t width,
                          size_t upto, int s, slot **out, size_t *cnt)
{
    if (lo >= upto || ot->mx[node] < s)
        return;
    if (width == 1) {
        out[(*cnt)++] = ot->at[lo];
        return;
    }
    overlap_query(ot, 2 * node, lo, width / 2, upto, s, out, cnt);
    overlap_query(ot, 2 * node + 1, lo + width / 2, width / 2, upto, s, out, cnt);
}

static int by_start(const void *a, const void *b)
{
    const slot *x = *(const slot *const *)a, *y = *(const slot *const *)b;
    return (x->start > y->start) - (x->start < y->start);
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
    overlap_tree ot = { 1, NULL, NULL };
    size_t *leaf_of = NULL;
    size_t ns = 0, total = 0;
    qcal_status st = QCAL_OK;

    for (int i = 0; i < g->n_nodes; i++) {
        const qcal__node *n = &g->nodes[i];
        if (!m->node_live[i])
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] && n->in[k]->kind != QCAL__T_CONST)
                n->in[k]->last_use = i;
        for (int k = 0; k < n->n_implicit; k++)
            if (n->implicit[k]->kind != QCAL__T_CONST)
                n->implicit[k]->last_use = i;
    }
    s = calloc(g->n_tensors + 1, sizeof *s);
    placed = calloc(2 * (g->n_tensors + 1), sizeof *placed); /* placed list + work area */
    if (!s || !placed) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < g->n_tensors; i++) {
        qcal__tensor *t = g->tensors[i];
        if (t->kind == QCAL__T_CONST || !t->shaped || t->dynamic || t->scope)
            continue;
        s[ns].t = t;
        s[ns].start = t->kind == QCAL__T_INPUT ? -1 : t->producer;
        s[ns].end = t->is_output ? g->n_nodes : (t->last_use >= 0 ? t->last_use : s[ns].start);
        ns++;
    }
    qsort(s, ns, sizeof *s, by_size_desc);
    while (ot.leaves < ns)
        ot.leaves *= 2;
    ot.mx = malloc(2 * ot.leaves * sizeof *ot.mx);
    ot.at = calloc(ot.leaves + 1, sizeof *ot.at);
    leaf_of = malloc((ns + 1) * sizeof *leaf_of);
    if (!ot.mx || !ot.at || !leaf_of) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < 2 * ot.leaves; i++)
        ot.mx[i] = INT_MIN;
    for (size_t i = 0; i < ns; i++)
        ot.at[i] = &s[i];
    qsort(ot.at, ns, sizeof *ot.at, by_start);
    for (size_t i = 0; i < ns; i++)
        leaf_of[ot.at[i] - s] = i;
    for (size_t i = 0; i < ns; i++) {
        size_t need = align_up(s[i].t->nbytes), off = 0, cnt = 0, lo = 0, hi = ns;
        while (lo < hi) { /* upto: the slots that start at or before s[i].end */
            size_t mid = lo + (hi - lo) / 2;
            if (ot.at[mid]->start <= s[i].end)
                lo = mid + 1;
            else
                hi = mid;
        }
        overlap_query(&ot, 1, 0, ot.leaves, lo, s[i].start, placed, &cnt);
        qsort(placed, cnt, sizeof *placed, by_offset);
        for (size_t j = 0; j < cnt; j++) {
            const slot *p = placed[j];
            if (p->t->offset >= off + need)
                break;
            if (p->t->offset + align_up(p->t->nbytes) > off)
                off = p->t->offset + align_up(p->t->nbytes);
        }
        s[i].t->offset = off;
        if (off + need > total)
            total = off + need;
        overlap_set(&ot, leaf_of[i], s[i].end);
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
    free(ot.mx);
    free(ot.at);
    free(leaf_of);
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
        st = prepare_graph(m, m->g, err);
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
    return qcal__tensor_view(t);
}

static size_t tensor_index(const qcal__graph *g, const qcal__tensor *t)
{
    (void)g;
    return t->id;
}

static void observe_outputs(const qcal__exec *x, const qcal__node *n)
{
    if (!x->observer)
        return;
    for (int k = 0; k < n->n_out; k++) {
        if (n->out[k]) {
            qcal_tensor_view v = view_of(n->out[k]);
            x->observer(x->ctx, tensor_index(NULL, n->out[k]), &v);
        }
    }
}

qcal_status qcal_model_run(qcal_model *m, const void *const *inputs, qcal_observer_fn observer,
                           void *ctx, qcal_error *err)
{
    qcal__graph *g = m->g;

    if (!m->prepared)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: model is not prepared", g->path);
    m->ran = false;
    for (size_t i = 0; i < g->n_tensors; i++) {
        qcal__tensor *t = g->tensors[i];
        if (t->kind != QCAL__T_CONST && !t->dynamic && !t->scope)
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
    if (!m->dynamic) {
        for (int i = 0; i < g->n_nodes; i++) {
            qcal__node *n = &g->nodes[i];
            if (!m->node_live[i])
                continue;
            n->run_error = NULL;
            n->op->run(n, m->scratch);
            if (n->run_error)
                return run_failed(m, n, err);
            if (!observer)
                continue;
            for (int k = 0; k < n->n_out; k++) {
                if (n->out[k]) {
                    qcal_tensor_view v = view_of(n->out[k]);
                    observer(ctx, tensor_index(g, n->out[k]), &v);
                }
            }
        }
    } else {
        qcal__exec x = { m, observer, ctx, false };
        for (int i = 0; i < g->n_nodes; i++) {
            qcal__node *n = &g->nodes[i];
            if (!m->node_live[i])
                continue;
            if (n->xmode == QCAL__X_DYNAMIC) {
                qcal_status st = run_dynamic(&x, n, err);
                if (st != QCAL_OK)
                    return st;
                continue;
            }
            n->run_error = NULL;
            n->op->run(n, m->scratch);
            if (n->run_error)
                return run_failed(m, n, err);
            observe_outputs(&x, n);
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

/* The node that computes t (in t's own graph), or NULL. */
static const qcal__node *producer_of(const qcal_model *m, const qcal__tensor *t)
{
    const qcal__graph *g = t->scope ? t->scope : m->g;
    return t->producer >= 0 ? &g->nodes[t->producer] : NULL;
}

qcal_tensor_kind qcal_model_tensor_kind(const qcal_model *m, size_t i)
{
    const qcal__tensor *t = m->g->tensors[i];
    const qcal__node *p = producer_of(m, t);

    if (t->initializer)
        return QCAL_TENSOR_WEIGHT;
    if (!p) {
        if (t->scope) /* a subgraph's formal input: fed by its owner, per run */
            return t->kind == QCAL__T_CONST ? QCAL_TENSOR_CONSTANT : QCAL_TENSOR_ACTIVATION;
        return t->kind == QCAL__T_CONST && m->prepared ? QCAL_TENSOR_CONSTANT : QCAL_TENSOR_INPUT;
    }
    if (t->kind == QCAL__T_CONST) {
        /* DESIGN.md: Constant-node values are parameters (PaddlePaddle stores weights so). */
        return strcmp(p->op_type, "Constant") == 0 ? QCAL_TENSOR_WEIGHT : QCAL_TENSOR_CONSTANT;
    }
    return t->is_output ? QCAL_TENSOR_OUTPUT : QCAL_TENSOR_ACTIVATION;
}

bool qcal_model_tensor_dynamic(const qcal_model *m, size_t i)
{
    const qcal__tensor *t = m->g->tensors[i];
    return t->kind != QCAL__T_CONST && (t->dynamic || t->scope);
}

const char *qcal_model_tensor_producer(const qcal_model *m, size_t i)
{
    const qcal__tensor *t = m->g->tensors[i];
    const qcal__node *p = producer_of(m, t);

    if (!p && t->scope && t->scope->owner)
        p = t->scope->owner;
    return p ? p->name : "";
}

const char *qcal_model_tensor_op(const qcal_model *m, size_t i)
{
    const qcal__tensor *t = m->g->tensors[i];
    const qcal__node *p = producer_of(m, t);

    if (!p && t->scope && t->scope->owner)
        p = t->scope->owner;
    return p ? p->op_type : "";
}

size_t qcal_model_n_nodes(const qcal_model *m)
{
    return m->n_flat;
}

const char *qcal_model_node_name(const qcal_model *m, size_t i)
{
    return m->flat[i]->name;
}

const char *qcal_model_node_op(const qcal_model *m, size_t i)
{
    return m->flat[i]->op_type;
}

size_t qcal_model_node_n_inputs(const qcal_model *m, size_t i)
{
    return (size_t)m->flat[i]->n_in;
}

size_t qcal_model_node_input(const qcal_model *m, size_t i, size_t k)
{
    const qcal__tensor *t = m->flat[i]->in[k];
    return t ? tensor_index(m->g, t) : SIZE_MAX;
}

size_t qcal_model_node_n_outputs(const qcal_model *m, size_t i)
{
    return (size_t)m->flat[i]->n_out;
}

size_t qcal_model_node_output(const qcal_model *m, size_t i, size_t k)
{
    const qcal__tensor *t = m->flat[i]->out[k];
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
