/*
 * Control flow: If, Loop and Scan run their subgraphs through the executor (qcal__exec_graph),
 * which observes every subgraph tensor each time it is computed. Tensor types only: sequence and
 * optional values are refused at load. Also the lookup of exec kernels (ops.h).
 */
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

void qcal__xop_run(const qcal__node *n, void *scratch)
{
    (void)n; /* exec kernels never run through run(): the executor calls their exec */
    (void)scratch;
}

const qcal__xop *qcal__xop_of(const qcal__node *n)
{
    static const qcal__xop *const TABLES[] = { qcal__xops_control, qcal__xops_dynamic };

    if (!n->op || n->op->run != qcal__xop_run)
        return NULL;
    for (size_t t = 0; t < sizeof TABLES / sizeof TABLES[0]; t++)
        for (const qcal__xop *x = TABLES[t]; x->op_type; x++)
            if (strcmp(x->op_type, n->op_type) == 0)
                return x;
    return NULL;
}

/* ---- owned values (loop-carried state, accumulated outputs) ---- */

typedef struct value {
    qcal_dtype dt;
    int rank;
    int64_t dims[QCAL_MAX_RANK];
    size_t nbytes, cap;
    unsigned char *data;
} value;

static qcal_status value_set(value *v, qcal_dtype dt, int rank, const int64_t *dims,
                             const void *src, const qcal__node *n, qcal_error *err)
{
    size_t ne = qcal__shape_nelem(rank, dims), es = qcal_dtype_size(dt);

    if (ne == SIZE_MAX || (es && ne > SIZE_MAX / es))
        return qcal__node_error(err, n, QCAL_E_SHAPE, "value too large");
    v->dt = dt;
    v->rank = rank;
    memset(v->dims, 0, sizeof v->dims);
    if (rank)
        memcpy(v->dims, dims, (size_t)rank * sizeof *dims);
    v->nbytes = ne * es;
    if (v->cap < v->nbytes || !v->data) {
        unsigned char *grown = realloc(v->data, v->nbytes ? v->nbytes : 1);
        if (!grown)
            return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
        v->data = grown;
        v->cap = v->nbytes;
    }
    if (src && v->nbytes)
        memcpy(v->data, src, v->nbytes);
    return QCAL_OK;
}

static qcal_tensor_view value_view(const value *v)
{
    qcal_tensor_view w;

    memset(&w, 0, sizeof w);
    w.dtype = v->dt;
    w.rank = v->rank;
    memcpy(w.dims, v->dims, sizeof w.dims);
    w.nelem = qcal__shape_nelem(v->rank, v->dims);
    w.data = v->data;
    return w;
}

static void values_free(value *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].data);
    free(v);
}

/* Copies tensor src (a subgraph result) into output k of n. */
static qcal_status emit(qcal__exec *x, qcal__node *n, int k, const qcal__tensor *src,
                        qcal_error *err)
{
    qcal_status st = qcal__exec_output(x, n, k, src->dtype, src->rank, src->dims, err);

    if (st == QCAL_OK && k < n->n_out && n->out[k] && n->out[k]->nbytes)
        memcpy(n->out[k]->data, src->data, n->out[k]->nbytes);
    return st;
}

static qcal__graph *graph_attr(const qcal__node *n, const char *name)
{
    const qcal__attr *a = qcal__attr_find(n, name);
    return a && a->type == QCAL__A_GRAPH ? a->g : NULL;
}

static bool scalar_true(const qcal__tensor *t)
{
    size_t es = qcal_dtype_size(t->dtype);
    const unsigned char *p = t->data;

    for (size_t b = 0; b < es; b++)
        if (p[b])
            return true;
    return false;
}

static qcal_status need_scalar(const qcal__node *n, const qcal__tensor *t, qcal_error *err)
{
    if (!t->data || t->nelem != 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "'%s' must have one element, has %zu",
                                t->name, t->nelem);
    return QCAL_OK;
}

/* ---- If (ONNX If-1/11/13/16/19/21) ---- */

static qcal_status if_infer(qcal__node *n, qcal_error *err)
{
    qcal__graph *th = graph_attr(n, "then_branch"), *el = graph_attr(n, "else_branch");
    qcal_status st = qcal__check_inputs(n, 1, 1, err);

    if (st != QCAL_OK)
        return st;
    if (!th || !el)
        return qcal__node_error(err, n, QCAL_E_INVALID, "then_branch and else_branch graphs are "
                                "required");
    if (th->n_outputs != n->n_out || el->n_outputs != n->n_out || th->n_inputs || el->n_inputs)
        return qcal__node_error(err, n, QCAL_E_INVALID, "branches must have no inputs and %d "
                                "outputs (then %d, else %d)", n->n_out, th->n_outputs,
                                el->n_outputs);
    return QCAL_OK;
}

static qcal_dtype if_dtype(const qcal__node *n, int k)
{
    qcal__graph *th = graph_attr(n, "then_branch");
    return th && k < th->n_outputs ? th->outputs[k]->dtype : QCAL_DT_UNDEFINED;
}

static qcal_status if_exec(qcal__node *n, qcal__exec *x, qcal_error *err)
{
    qcal_status st = need_scalar(n, n->in[0], err);
    qcal__graph *g;

    if (st != QCAL_OK)
        return st;
    g = graph_attr(n, scalar_true(n->in[0]) ? "then_branch" : "else_branch");
    st = qcal__exec_graph(x, g, NULL, 0, err);
    for (int k = 0; st == QCAL_OK && k < n->n_out; k++)
        st = emit(x, n, k, g->outputs[k], err);
    return st;
}

/* ---- Loop (ONNX Loop-1/11/13/16/19/21) ---- */

static qcal_status loop_infer(qcal__node *n, qcal_error *err)
{
    qcal__graph *body = graph_attr(n, "body");
    qcal_status st = qcal__check_inputs(n, 2, 1000, err);
    int carried = n->n_in - 2;

    (void)st; /* M and cond may both be omitted: only the count matters */
    if (n->n_in < 2)
        return qcal__node_error(err, n, QCAL_E_INVALID, "needs inputs M and cond (may be empty)");
    if (!body)
        return qcal__node_error(err, n, QCAL_E_INVALID, "graph attribute 'body' is required");
    for (int k = 2; k < n->n_in; k++)
        if (!n->in[k])
            return qcal__node_error(err, n, QCAL_E_INVALID, "loop-carried input %d is missing",
                                    k);
    if (body->n_inputs != 2 + carried || body->n_outputs != 1 + n->n_out ||
        n->n_out < carried)
        return qcal__node_error(err, n, QCAL_E_INVALID, "body has %d inputs and %d outputs, "
                                "expected %d and at least %d", body->n_inputs, body->n_outputs,
                                2 + carried, 1 + carried);
    return QCAL_OK;
}

static qcal_dtype loop_dtype(const qcal__node *n, int k)
{
    qcal__graph *body = graph_attr(n, "body");
    return body && k + 1 < body->n_outputs ? body->outputs[k + 1]->dtype : QCAL_DT_UNDEFINED;
}

static qcal_status loop_exec(qcal__node *n, qcal__exec *x, qcal_error *err)
{
    qcal__graph *body = graph_attr(n, "body");
    const qcal__tensor *tm = qcal__in(n, 0), *tc = qcal__in(n, 1);
    int nc = n->n_in - 2, ns = n->n_out - nc;
    int64_t trip = INT64_MAX, iter = 0;
    uint8_t cond = 1;
    value *carry = calloc((size_t)nc + 1, sizeof *carry);
    value *scan = calloc((size_t)ns + 1, sizeof *scan);
    qcal_tensor_view *in = calloc((size_t)nc + 3, sizeof *in);
    qcal_status st = QCAL_OK;

    if (!carry || !scan || !in) {
        st = qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    if (tm) {
        if ((st = need_scalar(n, tm, err)) != QCAL_OK)
            goto out;
        if (tm->dtype != QCAL_DT_INT64) {
            st = qcal__node_error(err, n, QCAL_E_INVALID, "M '%s' is %s, expected int64",
                                  tm->name, qcal_dtype_name(tm->dtype));
            goto out;
        }
        trip = *(const int64_t *)tm->data;
    }
    if (tc) {
        if ((st = need_scalar(n, tc, err)) != QCAL_OK)
            goto out;
        cond = scalar_true(tc);
    }
    for (int j = 0; j < nc; j++) {
        const qcal__tensor *t = n->in[2 + j];
        if ((st = value_set(&carry[j], t->dtype, t->rank, t->dims, t->data, n, err)) != QCAL_OK)
            goto out;
    }
    if (!tm && !tc) {
        st = qcal__node_error(err, n, QCAL_E_INVALID, "neither M nor cond given: the loop "
                              "would never end");
        goto out;
    }
    for (; iter < trip && cond; iter++) {
        memset(in, 0, 2 * sizeof *in);
        in[0].dtype = QCAL_DT_INT64;
        in[0].nelem = 1;
        in[0].data = &iter;
        in[1].dtype = QCAL_DT_BOOL;
        in[1].nelem = 1;
        in[1].data = &cond;
        for (int j = 0; j < nc; j++)
            in[2 + j] = value_view(&carry[j]);
        st = qcal__exec_graph(x, body, in, 2 + nc, err);
        if (st != QCAL_OK)
            goto out;
        if ((st = need_scalar(n, body->outputs[0], err)) != QCAL_OK)
            goto out;
        cond = scalar_true(body->outputs[0]);
        for (int j = 0; j < nc; j++) {
            const qcal__tensor *t = body->outputs[1 + j];
            st = value_set(&carry[j], t->dtype, t->rank, t->dims, t->data, n, err);
            if (st != QCAL_OK)
                goto out;
        }
        for (int k = 0; k < ns; k++) {
            const qcal__tensor *t = body->outputs[1 + nc + k];
            value *s = &scan[k];
            size_t at = s->nbytes;
            int64_t dims[QCAL_MAX_RANK];
            if (t->rank + 1 > QCAL_MAX_RANK) {
                st = qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "scan output %d: rank %d",
                                      k, t->rank + 1);
                goto out;
            }
            if (iter > 0 && (s->dt != t->dtype || s->rank != t->rank + 1 ||
                             memcmp(s->dims + 1, t->dims, (size_t)t->rank * sizeof *t->dims))) {
                st = qcal__node_error(err, n, QCAL_E_SHAPE, "scan output '%s' changes shape "
                                      "at iteration %lld", t->name, (long long)iter);
                goto out;
            }
            dims[0] = iter + 1;
            memcpy(dims + 1, t->dims, (size_t)t->rank * sizeof *dims);
            if (s->cap < at + t->nbytes) {
                size_t want = 2 * (at + t->nbytes);
                unsigned char *grown = realloc(s->data, want ? want : 1);
                if (!grown) {
                    st = qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
                    goto out;
                }
                s->data = grown;
                s->cap = want;
            }
            st = value_set(s, t->dtype, t->rank + 1, dims, NULL, n, err);
            if (st != QCAL_OK)
                goto out;
            if (t->nbytes)
                memcpy(s->data + at, t->data, t->nbytes);
        }
    }
    for (int j = 0; j < nc && st == QCAL_OK; j++) {
        st = qcal__exec_output(x, n, j, carry[j].dt, carry[j].rank, carry[j].dims, err);
        if (st == QCAL_OK && n->out[j] && carry[j].nbytes)
            memcpy(n->out[j]->data, carry[j].data, carry[j].nbytes);
    }
    for (int k = 0; k < ns && st == QCAL_OK; k++) {
        value *s = &scan[k];
        int64_t zero = 0;
        if (iter == 0) /* no iteration: an empty 1-D result of the body's declared type */
            st = qcal__exec_output(x, n, nc + k, body->outputs[1 + nc + k]->dtype, 1, &zero, err);
        else
            st = qcal__exec_output(x, n, nc + k, s->dt, s->rank, s->dims, err);
        if (st == QCAL_OK && iter && n->out[nc + k] && s->nbytes)
            memcpy(n->out[nc + k]->data, s->data, s->nbytes);
    }
out:
    values_free(carry, (size_t)nc);
    values_free(scan, (size_t)ns);
    free(in);
    return st;
}

/* ---- Scan (ONNX Scan-8 with a batch axis, Scan-9/11/16/19/21) ---- */

typedef struct scan_cfg {
    int n_state, n_scan_in, n_scan_out;
    int64_t in_axis[QCAL_MAX_RANK * 8], in_dir[QCAL_MAX_RANK * 8];
    int64_t out_axis[QCAL_MAX_RANK * 8], out_dir[QCAL_MAX_RANK * 8];
} scan_cfg;

#define SCAN_MAX (QCAL_MAX_RANK * 8)

static qcal_status scan_config(const qcal__node *n, scan_cfg *c, qcal_error *err)
{
    qcal__graph *body = graph_attr(n, "body");
    int64_t m = qcal__attr_int(n, "num_scan_inputs", -1);
    int first = n->opset < 9 ? 1 : 0; /* Scan-8: input 0 is sequence_lens */
    const int64_t *v;
    size_t cnt;

    memset(c, 0, sizeof *c);
    if (!body)
        return qcal__node_error(err, n, QCAL_E_INVALID, "graph attribute 'body' is required");
    if (m < 1 || m > n->n_in - first || m > SCAN_MAX)
        return qcal__node_error(err, n, QCAL_E_INVALID, "num_scan_inputs %lld with %d inputs",
                                (long long)m, n->n_in);
    c->n_scan_in = (int)m;
    c->n_state = n->n_in - first - c->n_scan_in;
    c->n_scan_out = n->n_out - c->n_state;
    if (c->n_scan_out < 0 || c->n_scan_out > SCAN_MAX || body->n_inputs != c->n_state + c->n_scan_in ||
        body->n_outputs != n->n_out)
        return qcal__node_error(err, n, QCAL_E_INVALID, "body has %d inputs and %d outputs, "
                                "expected %d and %d", body->n_inputs, body->n_outputs,
                                c->n_state + c->n_scan_in, n->n_out);
    for (int k = first; k < n->n_in; k++)
        if (!n->in[k])
            return qcal__node_error(err, n, QCAL_E_INVALID, "input %d is missing", k);
    if (n->opset < 9) {
        cnt = qcal__attr_ints(n, "directions", &v);
        if (cnt && cnt != (size_t)m)
            return qcal__node_error(err, n, QCAL_E_INVALID, "directions has %zu values", cnt);
        for (size_t i = 0; i < cnt; i++)
            c->in_dir[i] = v[i];
        return QCAL_OK;
    }
    cnt = qcal__attr_ints(n, "scan_input_axes", &v);
    if (cnt && cnt != (size_t)m)
        return qcal__node_error(err, n, QCAL_E_INVALID, "scan_input_axes has %zu values", cnt);
    for (size_t i = 0; i < cnt; i++)
        c->in_axis[i] = v[i];
    cnt = qcal__attr_ints(n, "scan_input_directions", &v);
    if (cnt && cnt != (size_t)m)
        return qcal__node_error(err, n, QCAL_E_INVALID, "scan_input_directions has %zu values",
                                cnt);
    for (size_t i = 0; i < cnt; i++)
        c->in_dir[i] = v[i];
    cnt = qcal__attr_ints(n, "scan_output_axes", &v);
    if (cnt && cnt != (size_t)c->n_scan_out)
        return qcal__node_error(err, n, QCAL_E_INVALID, "scan_output_axes has %zu values", cnt);
    for (size_t i = 0; i < cnt; i++)
        c->out_axis[i] = v[i];
    cnt = qcal__attr_ints(n, "scan_output_directions", &v);
    if (cnt && cnt != (size_t)c->n_scan_out)
        return qcal__node_error(err, n, QCAL_E_INVALID, "scan_output_directions has %zu values",
                                cnt);
    for (size_t i = 0; i < cnt; i++)
        c->out_dir[i] = v[i];
    return QCAL_OK;
}

static qcal_status scan_infer(qcal__node *n, qcal_error *err)
{
    scan_cfg c;
    return scan_config(n, &c, err);
}

static qcal_dtype scan_dtype(const qcal__node *n, int k)
{
    qcal__graph *body = graph_attr(n, "body");
    return body && k < body->n_outputs ? body->outputs[k]->dtype : QCAL_DT_UNDEFINED;
}

/* Splits dims around axis: outer = prod(dims[0..axis)), inner = prod(dims(axis..rank)). */
static void split_dims(int rank, const int64_t *dims, int axis, size_t *outer, size_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < axis; d++)
        *outer *= (size_t)dims[d];
    for (int d = axis + 1; d < rank; d++)
        *inner *= (size_t)dims[d];
}

/*
 * One scan over views (state[n_state], scan inputs[n_scan_in]) with the configured axes; the
 * final states go to fin[], the stacked scan outputs to acc[] (allocated here).
 */
static qcal_status scan_core(qcal__node *n, qcal__exec *x, const scan_cfg *c,
                             const qcal_tensor_view *state, const qcal_tensor_view *sin,
                             value *fin, value *acc, qcal_error *err)
{
    qcal__graph *body = graph_attr(n, "body");
    int ns = c->n_state, mi = c->n_scan_in, ko = c->n_scan_out;
    qcal_tensor_view *in = calloc((size_t)(ns + mi) + 1, sizeof *in);
    value *slice = calloc((size_t)mi + 1, sizeof *slice);
    int axis[SCAN_MAX];
    int64_t len = -1;
    qcal_status st = QCAL_OK;

    if (!in || !slice) {
        st = qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < mi; i++) {
        st = qcal__norm_axis(n, c->in_axis[i], sin[i].rank, &axis[i], err);
        if (st != QCAL_OK)
            goto out;
        if (len >= 0 && sin[i].dims[axis[i]] != len) {
            st = qcal__node_error(err, n, QCAL_E_SHAPE, "scan inputs have different lengths "
                                  "(%lld and %lld)", (long long)len,
                                  (long long)sin[i].dims[axis[i]]);
            goto out;
        }
        len = sin[i].dims[axis[i]];
    }
    for (int j = 0; j < ns; j++)
        if ((st = value_set(&fin[j], state[j].dtype, state[j].rank, state[j].dims, state[j].data,
                            n, err)) != QCAL_OK)
            goto out;
    for (int64_t t = 0; t < len; t++) {
        for (int j = 0; j < ns; j++)
            in[j] = value_view(&fin[j]);
        for (int i = 0; i < mi; i++) {
            int64_t dims[QCAL_MAX_RANK];
            size_t outer, inner, es = qcal_dtype_size(sin[i].dtype);
            int64_t pos = c->in_dir[i] ? len - 1 - t : t;
            int r = 0;
            for (int d = 0; d < sin[i].rank; d++)
                if (d != axis[i])
                    dims[r++] = sin[i].dims[d];
            if ((st = value_set(&slice[i], sin[i].dtype, r, dims, NULL, n, err)) != QCAL_OK)
                goto out;
            split_dims(sin[i].rank, sin[i].dims, axis[i], &outer, &inner);
            for (size_t o = 0; o < outer; o++)
                memcpy(slice[i].data + o * inner * es,
                       (const unsigned char *)sin[i].data +
                           ((o * (size_t)len + (size_t)pos) * inner) * es,
                       inner * es);
            in[ns + i] = value_view(&slice[i]);
        }
        if ((st = qcal__exec_graph(x, body, in, ns + mi, err)) != QCAL_OK)
            goto out;
        for (int j = 0; j < ns; j++) {
            const qcal__tensor *o = body->outputs[j];
            if ((st = value_set(&fin[j], o->dtype, o->rank, o->dims, o->data, n, err)) != QCAL_OK)
                goto out;
        }
        for (int k = 0; k < ko; k++) {
            const qcal__tensor *o = body->outputs[ns + k];
            value *a = &acc[k];
            int oa, r = o->rank + 1;
            size_t outer, inner, es = qcal_dtype_size(o->dtype);
            int64_t pos = c->out_dir[k] ? len - 1 - t : t;
            if (r > QCAL_MAX_RANK) {
                st = qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "scan output rank %d", r);
                goto out;
            }
            if ((st = qcal__norm_axis(n, c->out_axis[k], r, &oa, err)) != QCAL_OK)
                goto out;
            if (t == 0) {
                int64_t dims[QCAL_MAX_RANK];
                for (int d = 0, s = 0; d < r; d++)
                    dims[d] = d == oa ? len : o->dims[s++];
                if ((st = value_set(a, o->dtype, r, dims, NULL, n, err)) != QCAL_OK)
                    goto out;
            } else {
                bool same = a->dt == o->dtype && a->rank == r;
                for (int d = 0, s = 0; same && d < r; d++)
                    same = d == oa || a->dims[d] == o->dims[s++];
                if (!same) {
                    st = qcal__node_error(err, n, QCAL_E_SHAPE, "scan output '%s' changes "
                                          "shape at step %lld", o->name, (long long)t);
                    goto out;
                }
            }
            split_dims(r, a->dims, oa, &outer, &inner);
            for (size_t q = 0; q < outer; q++)
                memcpy(a->data + ((q * (size_t)len + (size_t)pos) * inner) * es,
                       (const unsigned char *)o->data + q * inner * es, inner * es);
        }
    }
    for (int k = 0; k < ko && len <= 0; k++) {
        int64_t zero = 0;
        st = value_set(&acc[k], body->outputs[ns + k]->dtype, 1, &zero, NULL, n, err);
        if (st != QCAL_OK)
            goto out;
    }
out:
    free(in);
    values_free(slice, (size_t)mi);
    return st;
}

/* A view of t without its first (batch) dimension, at batch b. */
static qcal_tensor_view batch_view(const qcal__tensor *t, int64_t b)
{
    qcal_tensor_view v = qcal__tensor_view(t);
    size_t row = t->dims[0] ? t->nbytes / (size_t)t->dims[0] : 0;

    v.rank = t->rank - 1;
    memmove(v.dims, v.dims + 1, (size_t)(QCAL_MAX_RANK - 1) * sizeof v.dims[0]);
    v.dims[QCAL_MAX_RANK - 1] = 0;
    v.nelem = qcal__shape_nelem(v.rank, v.dims);
    v.data = (const unsigned char *)t->data + (size_t)b * row;
    return v;
}

static qcal_status scan_exec(qcal__node *n, qcal__exec *x, qcal_error *err)
{
    scan_cfg c;
    int first = n->opset < 9 ? 1 : 0;
    value *fin = NULL, *acc = NULL;
    qcal_tensor_view *views = NULL;
    qcal_status st = scan_config(n, &c, err);
    int64_t batches = 1;

    if (st != QCAL_OK)
        return st;
    fin = calloc((size_t)c.n_state + 1, sizeof *fin);
    acc = calloc((size_t)c.n_scan_out + 1, sizeof *acc);
    views = calloc((size_t)(n->n_in) + 1, sizeof *views);
    if (!fin || !acc || !views) {
        st = qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    if (first) {
        for (int k = 1; k < n->n_in; k++)
            if (n->in[k]->rank < 1 || (k > 1 && n->in[k]->dims[0] != n->in[1]->dims[0])) {
                st = qcal__node_error(err, n, QCAL_E_SHAPE, "inputs must share the batch axis");
                goto out;
            }
        batches = n->in[1]->dims[0];
        for (int i = 0; i < c.n_scan_in; i++)
            if (n->in[1 + c.n_state + i]->rank < 2) {
                st = qcal__node_error(err, n, QCAL_E_SHAPE, "scan inputs need [batch, seq, ...]");
                goto out;
            }
    }
    for (int64_t b = 0; b < batches; b++) {
        if (first) {
            const qcal__tensor *sl = qcal__in(n, 0);
            for (int k = 1; k < n->n_in; k++)
                views[k - 1] = batch_view(n->in[k], b);
            if (sl) {
                int64_t want = views[c.n_state].dims[0], got;
                if (sl->nelem != (size_t)batches || sl->dtype != QCAL_DT_INT32 ||
                    ((got = ((const int32_t *)sl->data)[b]) != want)) {
                    st = qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "sequence_lens must be "
                                          "int32 [batch] equal to the sequence length");
                    goto out;
                }
            }
        } else {
            for (int k = 0; k < n->n_in; k++)
                views[k] = qcal__tensor_view(n->in[k]);
        }
        st = scan_core(n, x, &c, views, views + c.n_state, fin, acc, err);
        if (st != QCAL_OK)
            goto out;
        for (int k = 0; k < n->n_out; k++) {
            const value *v = k < c.n_state ? &fin[k] : &acc[k - c.n_state];
            qcal__tensor *o = n->out[k];
            if (first && b == 0) {
                int64_t dims[QCAL_MAX_RANK];
                if (v->rank + 1 > QCAL_MAX_RANK) {
                    st = qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "output rank %d",
                                          v->rank + 1);
                    goto out;
                }
                dims[0] = batches;
                memcpy(dims + 1, v->dims, (size_t)v->rank * sizeof *dims);
                st = qcal__exec_output(x, n, k, v->dt, v->rank + 1, dims, err);
            } else if (!first) {
                st = qcal__exec_output(x, n, k, v->dt, v->rank, v->dims, err);
            } else if (o && (o->rank != v->rank + 1 || o->dtype != v->dt ||
                             memcmp(o->dims + 1, v->dims, (size_t)v->rank * sizeof *v->dims))) {
                st = qcal__node_error(err, n, QCAL_E_SHAPE, "output %d differs between batches",
                                      k);
            }
            if (st != QCAL_OK)
                goto out;
            if (o && v->nbytes)
                memcpy((unsigned char *)o->data + (size_t)b * v->nbytes, v->data, v->nbytes);
        }
    }
out:
    values_free(fin, (size_t)c.n_state);
    values_free(acc, (size_t)c.n_scan_out);
    free(views);
    return st;
}

const qcal__op qcal__ops_control[] = {
    { "If", 1, QCAL__OPSET_LAST, if_infer, qcal__xop_run, 0 },
    { "Loop", 1, QCAL__OPSET_LAST, loop_infer, qcal__xop_run, 0 },
    { "Scan", 8, QCAL__OPSET_LAST, scan_infer, qcal__xop_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};

const qcal__xop qcal__xops_control[] = {
    { "If", if_exec, if_dtype },
    { "Loop", loop_exec, loop_dtype },
    { "Scan", scan_exec, scan_dtype },
    { NULL, NULL, NULL },
};
