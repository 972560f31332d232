/*
 * Calibration session: model + datasets + collector + weight statistics (no MPI).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "onnx/onnx.h"
#include "qcal/calib.h"

struct qcal_calib {
    qcal_model *model;
    qcal_preprocess pp;
    size_t n_inputs;
    qcal_dataset **ds;     /* [n_inputs] */
    char **specs;          /* [n_inputs] the PATH part of --data */
    float **buf;           /* [n_inputs] input buffers */
    size_t n_samples;
    size_t n_act;
    size_t *act_tensor;    /* slot -> tensor index */
    long *slot_of;         /* tensor index -> slot or -1 */
    qcal_collector *coll;
    qcal_calib_tap_fn tap;
    void *tap_ctx;
    size_t cur_sample;
    qcal_status obs_st;    /* first error of the observer */
    qcal_error obs_err;
};

void qcal_calib_destroy(qcal_calib *c)
{
    if (!c)
        return;
    for (size_t k = 0; k < c->n_inputs; k++) {
        if (c->ds)
            qcal_dataset_close(c->ds[k]);
        if (c->buf)
            free(c->buf[k]);
        if (c->specs)
            free(c->specs[k]);
    }
    free(c->ds);
    free(c->buf);
    free(c->specs);
    free(c->act_tensor);
    free(c->slot_of);
    qcal_collector_destroy(c->coll);
    qcal_model_destroy(c->model);
    free(c);
}

/* Matches the --data arguments to model inputs: NAME= picks by name, otherwise by position. */
static qcal_status open_datasets(qcal_calib *c, const qcal_calib_opts *o, qcal_error *err)
{
    size_t n = c->n_inputs;

    if (o->n_data != n)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: model has %zu inputs, %zu --data given "
                              "(one per input, NAME=PATH or in order)", o->model_path, n,
                              o->n_data);
    for (size_t j = 0; j < n; j++) {
        const char *arg = o->data[j], *eq = strchr(arg, '='), *path = arg;
        size_t k = j;
        qcal_status st;

        if (eq) {
            bool found = false;
            for (size_t i = 0; i < n; i++) {
                qcal_tensor_view v = qcal_model_input(c->model, i);
                if (strlen(v.name) == (size_t)(eq - arg) && strncmp(v.name, arg, (size_t)(eq - arg)) == 0) {
                    k = i;
                    found = true;
                }
            }
            if (found)
                path = eq + 1;
        }
        if (c->ds[k])
            return qcal_error_set(err, QCAL_E_INVALID, "--data %s: input %zu given twice", arg, k);
        c->specs[k] = strdup(path);
        st = qcal_dataset_open(path, 0, &c->ds[k], err);
        if (st != QCAL_OK)
            return st;
    }
    c->n_samples = qcal_dataset_count(c->ds[0]);
    for (size_t k = 1; k < n; k++)
        if (qcal_dataset_count(c->ds[k]) != c->n_samples)
            return qcal_error_set(err, QCAL_E_INVALID, "--data: %s has %zu samples but %s has %zu",
                                  c->specs[0], c->n_samples, c->specs[k],
                                  qcal_dataset_count(c->ds[k]));
    if (c->n_samples == 0)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: no data files (.png .jpg .jpeg .npy .raw "
                              ".bin)", c->specs[0]);
    return QCAL_OK;
}

/*
 * Shape of input v taken from the first sample of its dataset when that is a .npy array
 * (DESIGN.md: symbolic dimensions take the value of the actual input). Leading 1s may be added or
 * dropped to reach the model's rank; every fixed dimension must match. *found is false when the
 * first sample is not a .npy file. Every later sample must have the same shape
 * (qcal_data_load_sample checks it and names the file that differs).
 */
static qcal_status shape_from_npy(const char *path, const qcal_tensor_view *v, int64_t *dims,
                                  bool *found, qcal_error *err)
{
    qcal_npy arr;
    int64_t got[QCAL_MAX_RANK];
    int rank, skip = 0;
    char a[128], b[128];
    bool fits;
    qcal_status st;

    *found = false;
    if (qcal_data_format_of(path) != QCAL_DATA_NPY)
        return QCAL_OK;
    st = qcal_npy_load(path, &arr, err);
    if (st != QCAL_OK)
        return st;
    rank = arr.rank;
    while (rank - skip > v->rank && arr.dims[skip] == 1)
        skip++;
    rank -= skip;
    fits = rank <= v->rank;
    for (int d = 0; fits && d < v->rank; d++) {
        int from = d - (v->rank - rank); /* leading 1s for the missing dimensions */
        got[d] = from < 0 ? 1 : arr.dims[skip + from];
        fits = v->dims[d] < 0 || v->dims[d] == got[d];
    }
    if (!fits) {
        qcal__shape_str(arr.rank, arr.dims, a, sizeof a);
        qcal__shape_str(v->rank, v->dims, b, sizeof b);
        qcal_npy_fini(&arr);
        return qcal_error_set(err, QCAL_E_SHAPE, "%s: array shape [%s] does not fit model input "
                              "'%s' [%s] (-1: symbolic)", path, a, v->name, b);
    }
    qcal_npy_fini(&arr);
    memcpy(dims, got, (size_t)v->rank * sizeof *dims);
    *found = true;
    return QCAL_OK;
}

/* Resolves every input's shape and prepares: symbolic dimensions come from the first sample
 * when it is a .npy array, else (images) from --size/--channels; other inputs take 1. */
static qcal_status prepare_model(qcal_calib *c, qcal_error *err)
{
    qcal_tensor_view views[QCAL_MAX_RANK * 4];
    qcal_status st;

    if (c->n_inputs > sizeof views / sizeof views[0])
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "too many model inputs");
    for (size_t k = 0; k < c->n_inputs; k++) {
        qcal_tensor_view v = qcal_model_input(c->model, k);
        bool symbolic = false, from_npy = false;
        if (v.dtype != QCAL_DT_FLOAT)
            return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: input '%s' is %s; calibration "
                                  "feeds float32 inputs only", qcal_model_path(c->model), v.name,
                                  qcal_dtype_name(v.dtype));
        views[k] = v;
        for (int d = 0; d < v.rank; d++)
            symbolic = symbolic || v.dims[d] < 0;
        if (symbolic && c->n_samples > 0) {
            st = shape_from_npy(qcal_dataset_path(c->ds[k], 0), &v, views[k].dims, &from_npy,
                                err);
            if (st != QCAL_OK)
                return st;
        }
        if (!from_npy && v.rank == 4) {
            st = qcal_preprocess_resolve_shape(&c->pp, v.dims, v.rank, views[k].dims, err);
            if (st != QCAL_OK)
                return qcal_error_prefix(err, v.name);
        } else if (!from_npy) {
            for (int d = 0; d < v.rank; d++)
                if (views[k].dims[d] < 0)
                    views[k].dims[d] = 1;
        }
        views[k].data = NULL;
    }
    st = qcal_model_prepare(c->model, views, c->n_inputs, err);
    if (st != QCAL_OK)
        return st;
    for (size_t k = 0; k < c->n_inputs; k++) {
        qcal_tensor_view v = qcal_model_input(c->model, k);
        c->buf[k] = malloc(v.nelem * sizeof(float) + 1);
        if (!c->buf[k])
            return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    }
    return QCAL_OK;
}

static bool is_activation(const qcal_model *m, size_t t)
{
    qcal_tensor_kind k = qcal_model_tensor_kind(m, t);
    qcal_tensor_view v = qcal_model_tensor(m, t);

    return v.dtype == QCAL_DT_FLOAT && (k == QCAL_TENSOR_INPUT || k == QCAL_TENSOR_ACTIVATION ||
                                        k == QCAL_TENSOR_OUTPUT);
}

/* Activations in graph order: graph inputs, then node outputs in execution order. */
static qcal_status list_activations(qcal_calib *c, size_t bins, qcal_error *err)
{
    const qcal_model *m = c->model;
    size_t nt = qcal_model_n_tensors(m);

    c->act_tensor = calloc(nt + 1, sizeof *c->act_tensor);
    c->slot_of = malloc((nt + 1) * sizeof *c->slot_of);
    if (!c->act_tensor || !c->slot_of)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    for (size_t t = 0; t < nt; t++)
        c->slot_of[t] = -1;
    for (size_t k = 0; k < c->n_inputs; k++) {
        qcal_tensor_view v = qcal_model_input(m, k);
        for (size_t t = 0; t < nt; t++) {
            if (strcmp(qcal_model_tensor(m, t).name, v.name) == 0 && is_activation(m, t) &&
                c->slot_of[t] < 0) {
                c->slot_of[t] = (long)c->n_act;
                c->act_tensor[c->n_act++] = t;
            }
        }
    }
    for (size_t i = 0; i < qcal_model_n_nodes(m); i++) {
        for (size_t k = 0; k < qcal_model_node_n_outputs(m, i); k++) {
            size_t t = qcal_model_node_output(m, i, k);
            if (t != SIZE_MAX && is_activation(m, t) && c->slot_of[t] < 0) {
                c->slot_of[t] = (long)c->n_act;
                c->act_tensor[c->n_act++] = t;
            }
        }
    }
    /* The formal inputs of subgraphs (a Loop body's iteration values, a Scan body's slices):
     * fed by their owner node, not produced by one. */
    for (size_t t = 0; t < nt; t++) {
        if (is_activation(m, t) && c->slot_of[t] < 0 &&
            qcal_model_tensor_kind(m, t) == QCAL_TENSOR_ACTIVATION) {
            c->slot_of[t] = (long)c->n_act;
            c->act_tensor[c->n_act++] = t;
        }
    }
    return qcal_collector_create(c->n_act, bins, &c->coll, err);
}

qcal_status qcal_calib_create(const qcal_calib_opts *o, qcal_calib **out, qcal_error *err)
{
    qcal_model_opts mo = { .batch = 1, .defer_prepare = true };
    qcal_calib *c;
    qcal_status st;

    *out = NULL;
    c = calloc(1, sizeof *c);
    if (!c)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    c->pp = o->pp;
    st = qcal_model_load(o->model_path, &mo, &c->model, err);
    if (st != QCAL_OK)
        goto fail;
    c->n_inputs = qcal_model_n_inputs(c->model);
    c->ds = calloc(c->n_inputs + 1, sizeof *c->ds);
    c->buf = calloc(c->n_inputs + 1, sizeof *c->buf);
    c->specs = calloc(c->n_inputs + 1, sizeof *c->specs);
    if (!c->ds || !c->buf || !c->specs) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto fail;
    }
    st = open_datasets(c, o, err);
    if (st == QCAL_OK)
        st = prepare_model(c, err);
    if (st == QCAL_OK)
        st = list_activations(c, o->bins ? o->bins : QCAL_HIST_DEFAULT_BINS, err);
    if (st != QCAL_OK)
        goto fail;
    *out = c;
    return QCAL_OK;
fail:
    qcal_calib_destroy(c);
    return st;
}

size_t qcal_calib_n_samples(const qcal_calib *c)
{
    return c->n_samples;
}

const char *qcal_calib_sample_path(const qcal_calib *c, size_t i, size_t k)
{
    return qcal_dataset_path(c->ds[k], i);
}

const qcal_model *qcal_calib_model(const qcal_calib *c)
{
    return c->model;
}

void qcal_calib_set_tap(qcal_calib *c, qcal_calib_tap_fn fn, void *ctx)
{
    c->tap = fn;
    c->tap_ctx = ctx;
}

qcal_collector *qcal_calib_collector(qcal_calib *c)
{
    return c->coll;
}

static void observe(void *ctx, size_t tensor, const qcal_tensor_view *v)
{
    qcal_calib *c = ctx;
    long slot = c->slot_of[tensor];

    if (c->tap)
        c->tap(c->tap_ctx, c->cur_sample, tensor, v);
    if (slot < 0 || c->obs_st != QCAL_OK || v->dtype != QCAL_DT_FLOAT)
        return;
    c->obs_st = qcal_collector_observe(c->coll, (size_t)slot, v->data, v->nelem, &c->obs_err);
}

qcal_status qcal_calib_run_sample(qcal_calib *c, size_t i, qcal_error *err)
{
    qcal_status st;

    for (size_t k = 0; k < c->n_inputs; k++) {
        qcal_tensor_view v = qcal_model_input(c->model, k);
        st = qcal_data_load_sample(qcal_dataset_path(c->ds[k], i), v.dims, v.rank, &c->pp,
                                   c->buf[k], err);
        if (st != QCAL_OK)
            return st;
    }
    c->obs_st = QCAL_OK;
    c->cur_sample = i;
    st = qcal_model_run(c->model, (const void *const *)c->buf, observe, c, err);
    if (st == QCAL_OK && c->obs_st != QCAL_OK) {
        *err = c->obs_err;
        st = c->obs_st;
    }
    return st;
}

/* ---- stats file content ---- */

static char *dupstr(const char *s)
{
    return strdup(s ? s : "");
}

static char *shape_string(const qcal_tensor_view *v)
{
    char buf[256];
    size_t used = 0;

    buf[0] = '\0';
    for (int d = 0; d < v->rank && used < sizeof buf; d++) {
        int w = snprintf(buf + used, sizeof buf - used, "%s%lld", d ? "x" : "",
                         (long long)v->dims[d]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return strdup(buf);
}

/*
 * Output-channel axis of a weight for its consumer, from the consumer's attributes, never from
 * the weight's shape (ALGORITHMS.md 2.3, DESIGN.md "Executor"); -1 for none.
 *   Conv W [Cout, Cin/g, kH, kW]: 0.
 *   ConvTranspose W [Cin, Cout/g, kH, kW]: 1. With group g > 1 output channel o = gi * (Cout/g) + j
 *     reads W[gi * Cin/g .. , j]; a per-axis encoding on axis 1 (as QDQ's DequantizeLinear can
 *     express it) gives channel j the range of output channels j, Cout/g + j, ... together.
 *   Gemm B: [N, K] with transB = 1 (axis 0), [K, N] without (axis 1).
 *   MatMul B [..., K, N]: the last axis.
 */
static int weight_axis(const qcal_model *m, size_t node, size_t slot, const qcal_tensor_view *w)
{
    const char *op = qcal_model_node_op(m, node);

    if (strcmp(op, "Conv") == 0 && slot == 1 && w->rank >= 1)
        return 0;
    if (strcmp(op, "ConvTranspose") == 0 && slot == 1 && w->rank >= 2)
        return 1;
    if (strcmp(op, "MatMul") == 0 && slot == 1 && w->rank >= 2)
        return w->rank - 1;
    if (strcmp(op, "Gemm") == 0 && slot == 1 && w->rank == 2)
        return qcal_model_node_attr_int(m, node, "transB", 0) != 0 ? 0 : 1;
    return -1;
}

static qcal_status fill_weights(const qcal_model *m, qcal_stats *s, qcal_error *err)
{
    size_t nt = qcal_model_n_tensors(m), nn = qcal_model_n_nodes(m);
    bool *seen = calloc(nt + 1, sizeof *seen);
    qcal_status st = QCAL_OK;

    s->weights = calloc(nt + 1, sizeof *s->weights);
    if (!seen || !s->weights) {
        free(seen);
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nn && st == QCAL_OK; i++) {
        for (size_t k = 0; k < qcal_model_node_n_inputs(m, i); k++) {
            size_t t = qcal_model_node_input(m, i, k);
            qcal_tensor_view w;
            qcal_weight_stats ws;
            qcal_weight_rec *r;
            if (t == SIZE_MAX || seen[t] || qcal_model_tensor_kind(m, t) != QCAL_TENSOR_WEIGHT)
                continue;
            w = qcal_model_tensor(m, t);
            if (w.dtype != QCAL_DT_FLOAT || w.nelem == 0)
                continue;
            seen[t] = true;
            memset(&ws, 0, sizeof ws);
            st = qcal_weight_stats_compute(&ws, w.data, w.dims, w.rank,
                                           weight_axis(m, i, k, &w), err);
            if (st != QCAL_OK)
                break;
            r = &s->weights[s->n_weights++];
            r->name = dupstr(w.name);
            r->consumer = dupstr(qcal_model_node_name(m, i));
            r->op = dupstr(qcal_model_node_op(m, i));
            r->shape = shape_string(&w);
            r->axis = ws.axis;
            r->min = ws.min;
            r->max = ws.max;
            r->ch_count = ws.channels;
            r->ch_min = ws.ch_min; /* ownership moves to the record */
            r->ch_max = ws.ch_max;
            ws.ch_min = ws.ch_max = NULL;
            qcal_weight_stats_fini(&ws);
            if (!r->name || !r->consumer || !r->op || !r->shape)
                st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        }
    }
    free(seen);
    return st;
}

static qcal_status fill_graph(const qcal_model *m, qcal_graph_rec *g, qcal_error *err)
{
    size_t nn = qcal_model_n_nodes(m), ni = 0, no = 0;

    for (size_t i = 0; i < nn; i++) {
        ni += qcal_model_node_n_inputs(m, i);
        no += qcal_model_node_n_outputs(m, i);
    }
    g->n_nodes = nn;
    g->node_name = calloc(nn + 1, sizeof(char *));
    g->node_op = calloc(nn + 1, sizeof(char *));
    g->in_start = calloc(nn + 1, sizeof(uint64_t));
    g->in_count = calloc(nn + 1, sizeof(uint64_t));
    g->out_start = calloc(nn + 1, sizeof(uint64_t));
    g->out_count = calloc(nn + 1, sizeof(uint64_t));
    g->inputs = calloc(ni + 1, sizeof(char *));
    g->outputs = calloc(no + 1, sizeof(char *));
    g->graph_outputs = calloc(qcal_model_n_outputs(m) + 1, sizeof(char *));
    if (!g->node_name || !g->node_op || !g->in_start || !g->in_count || !g->out_start ||
        !g->out_count || !g->inputs || !g->outputs || !g->graph_outputs)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    for (size_t i = 0; i < nn; i++) {
        g->node_name[i] = dupstr(qcal_model_node_name(m, i));
        g->node_op[i] = dupstr(qcal_model_node_op(m, i));
        g->in_start[i] = g->n_inputs;
        g->in_count[i] = qcal_model_node_n_inputs(m, i);
        for (size_t k = 0; k < g->in_count[i]; k++) {
            size_t t = qcal_model_node_input(m, i, k);
            g->inputs[g->n_inputs++] = dupstr(t == SIZE_MAX ? "" : qcal_model_tensor(m, t).name);
        }
        g->out_start[i] = g->n_outputs;
        g->out_count[i] = qcal_model_node_n_outputs(m, i);
        for (size_t k = 0; k < g->out_count[i]; k++) {
            size_t t = qcal_model_node_output(m, i, k);
            g->outputs[g->n_outputs++] = dupstr(t == SIZE_MAX ? "" : qcal_model_tensor(m, t).name);
        }
    }
    for (size_t i = 0; i < qcal_model_n_outputs(m); i++)
        g->graph_outputs[g->n_graph_outputs++] = dupstr(qcal_model_output(m, i).name);
    return QCAL_OK;
}

static qcal_status fill_dataset(const qcal_calib *c, qcal_stats *s, qcal_error *err)
{
    size_t jlen;
    char sha[65], *json;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;

    s->sample_paths = calloc(c->n_samples + 1, sizeof *s->sample_paths);
    if (!md || !s->sample_paths) {
        EVP_MD_CTX_free(md);
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    }
    /* list_sha256: SHA-256 of the listed paths, each followed by '\n', input after input,
     * hashed incrementally (no second copy of the list). */
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t k = 0; k < c->n_inputs; k++) {
        for (size_t i = 0; i < c->n_samples; i++) {
            const char *p = qcal_dataset_path(c->ds[k], i);
            EVP_DigestUpdate(md, p, strlen(p));
            EVP_DigestUpdate(md, "\n", 1);
        }
    }
    EVP_DigestFinal_ex(md, digest, &dlen);
    EVP_MD_CTX_free(md);
    for (unsigned int i = 0; i < dlen; i++)
        snprintf(sha + 2 * i, 3, "%02x", digest[i]);
    sha[2 * dlen] = '\0';
    for (size_t i = 0; i < c->n_samples; i++)
        s->sample_paths[s->n_samples++] = dupstr(qcal_dataset_path(c->ds[0], i));
    jlen = 256 + strlen(c->specs[0]) * 2;
    json = malloc(jlen);
    if (!json)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    /* Paths are JSON-escaped only for quotes and backslashes; control characters do not occur
     * in the file names qcal lists. */
    {
        size_t o = 0;
        o += (size_t)snprintf(json + o, jlen - o, "{\"kind\": \"%s\", \"path\": \"",
                              qcal_dataset_kind_name(qcal_dataset_get_kind(c->ds[0])));
        for (const char *p = c->specs[0]; *p && o + 3 < jlen; p++) {
            if (*p == '"' || *p == '\\')
                json[o++] = '\\';
            json[o++] = *p;
        }
        snprintf(json + o, jlen - o, "\", \"count\": %zu, \"inputs\": %zu, \"list_sha256\": \"%s\"}",
                 c->n_samples, c->n_inputs, sha);
    }
    s->dataset = json;
    return QCAL_OK;
}

qcal_status qcal_calib_fill_stats(const qcal_calib *c, qcal_stats *s, qcal_error *err)
{
    const qcal_model *m = c->model;
    char pre[1024], when[32];
    time_t now = time(NULL);
    struct tm tmv;
    qcal_status st;

    memset(s, 0, sizeof *s);
    gmtime_r(&now, &tmv);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    qcal_preprocess_json(&c->pp, pre, sizeof pre);
    s->qcal_version = dupstr(QCAL_VERSION);
    s->created = dupstr(when);
    s->model_path = dupstr(qcal_model_path(m));
    s->model_sha256 = dupstr(qcal_model_sha256(m));
    if (qcal_model_source_dtype(m) != QCAL_DT_FLOAT &&
        !(s->source_dtype = strdup(qcal_dtype_name(qcal_model_source_dtype(m)))))
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    s->bins = (int)qcal_collector_bins(c->coll);
    s->preprocess = dupstr(pre);
    s->act = calloc(c->n_act + 1, sizeof *s->act);
    if (!s->act)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    for (size_t j = 0; j < c->n_act; j++) {
        size_t t = c->act_tensor[j];
        qcal_tensor_view v = qcal_model_tensor(m, t);
        qcal_tensor_kind kind = qcal_model_tensor_kind(m, t);
        qcal_act_rec *r = &s->act[s->n_act++];
        r->name = dupstr(v.name);
        r->kind = dupstr(kind == QCAL_TENSOR_INPUT ? "input"
                         : kind == QCAL_TENSOR_OUTPUT ? "output" : "activation");
        r->dtype = dupstr(qcal_dtype_name(v.dtype));
        /* A shape known only per sample (data-dependent, or in a subgraph) is "?": the same
         * whatever the samples, their order or the ranks, so files still merge exactly. */
        r->shape = qcal_model_tensor_dynamic(m, t) ? dupstr("?") : shape_string(&v);
        r->producer = dupstr(qcal_model_tensor_producer(m, t));
        r->op = dupstr(qcal_model_tensor_op(m, t));
        st = qcal_hist_init(&r->hist, qcal_collector_bins(c->coll), err);
        if (st == QCAL_OK)
            st = qcal_hist_copy(&r->hist, qcal_collector_hist(c->coll, j), err);
        if (st != QCAL_OK)
            return st;
    }
    st = fill_weights(m, s, err);
    if (st == QCAL_OK)
        st = fill_graph(m, &s->graph, err);
    if (st == QCAL_OK)
        st = fill_dataset(c, s, err);
    return st;
}
