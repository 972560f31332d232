/*
 * Helpers of the QDQ export: string map, unique names and protobuf-c message builders.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/qdq_util.h"

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603ull;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

void qcal__qdq_map_fini(qcal__qdq_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* Slot of key, or of the empty slot where it would go. cap is a power of two, never full. */
static size_t map_slot(const qcal__qdq_map *m, const char *key)
{
    size_t i = hash_str(key) & (m->cap - 1);

    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static qcal_status map_grow(qcal__qdq_map *m, qcal_error *err)
{
    size_t cap = m->cap ? 2 * m->cap : 64;
    qcal__qdq_map g = { cap, m->n, calloc(cap, sizeof(char *)), calloc(cap, sizeof(size_t)) };

    if (!g.keys || !g.vals) {
        free(g.keys);
        free(g.vals);
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i]) {
            size_t j = map_slot(&g, m->keys[i]);
            g.keys[j] = m->keys[i];
            g.vals[j] = m->vals[i];
        }
    }
    free(m->keys);
    free(m->vals);
    *m = g;
    return QCAL_OK;
}

qcal_status qcal__qdq_map_put(qcal__qdq_map *m, const char *key, size_t val, bool *added,
                              qcal_error *err)
{
    size_t i;

    if (added)
        *added = false;
    if (2 * (m->n + 1) > m->cap) {
        qcal_status st = map_grow(m, err);
        if (st != QCAL_OK)
            return st;
    }
    i = map_slot(m, key);
    if (m->keys[i])
        return QCAL_OK;
    m->keys[i] = strdup(key);
    if (!m->keys[i])
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    m->vals[i] = val;
    m->n++;
    if (added)
        *added = true;
    return QCAL_OK;
}

bool qcal__qdq_map_get(const qcal__qdq_map *m, const char *key, size_t *val)
{
    size_t i;

    if (m->cap == 0 || !key)
        return false;
    i = map_slot(m, key);
    if (!m->keys[i])
        return false;
    if (val)
        *val = m->vals[i];
    return true;
}

size_t *qcal__qdq_map_val(qcal__qdq_map *m, const char *key)
{
    size_t i;

    if (m->cap == 0 || !key)
        return NULL;
    i = map_slot(m, key);
    return m->keys[i] ? &m->vals[i] : NULL;
}

qcal_status qcal__qdq_unique_name(qcal__qdq_map *used, const char *base, const char *suffix,
                                  char **out, qcal_error *err)
{
    size_t len = strlen(base) + strlen(suffix) + 24;
    char *name = malloc(len);
    qcal_status st;
    bool added = false;

    *out = NULL;
    if (!name)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    snprintf(name, len, "%s%s", base, suffix);
    for (unsigned long k = 1; qcal__qdq_map_get(used, name, NULL); k++)
        snprintf(name, len, "%s%s_%lu", base, suffix, k);
    st = qcal__qdq_map_put(used, name, 0, &added, err);
    if (st != QCAL_OK) {
        free(name);
        return st;
    }
    *out = name;
    return QCAL_OK;
}

bool qcal__qdq_count(size_t rank, const int64_t *dims, size_t *count)
{
    size_t n = 1;

    for (size_t i = 0; i < rank; i++) {
        if (dims[i] < 0 || (dims[i] > 0 && n > SIZE_MAX / 8 / (size_t)dims[i]))
            return false;
        n *= (size_t)dims[i];
    }
    *count = n;
    return true;
}

qcal_status qcal__qdq_tensor_new(const char *name, int32_t dt, size_t rank, const int64_t *dims,
                                 const void *raw, size_t nbytes, Onnx__TensorProto **out,
                                 qcal_error *err)
{
    Onnx__TensorProto *t = malloc(sizeof *t);

    *out = NULL;
    if (!t)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    onnx__tensor_proto__init(t);
    t->name = strdup(name);
    t->dims = rank ? malloc(rank * sizeof *t->dims) : NULL;
    t->raw_data.data = nbytes ? malloc(nbytes) : NULL;
    if (!t->name || (rank && !t->dims) || (nbytes && !t->raw_data.data)) {
        onnx__tensor_proto__free_unpacked(t, NULL);
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    }
    t->n_dims = rank;
    if (rank)
        memcpy(t->dims, dims, rank * sizeof *t->dims);
    t->has_data_type = 1;
    t->data_type = dt;
    t->has_raw_data = 1;
    t->raw_data.len = nbytes;
    if (nbytes)
        memcpy(t->raw_data.data, raw, nbytes);
    *out = t;
    return QCAL_OK;
}

/* A copy of n strings into a new array (*dst NULL when n is 0). */
static bool copy_strings(char ***dst, size_t *n_dst, const char *const *src, size_t n)
{
    *dst = NULL;
    *n_dst = 0;
    if (n == 0)
        return true;
    *dst = calloc(n, sizeof(char *));
    if (!*dst)
        return false;
    *n_dst = n; /* set first: free_unpacked then releases whatever was copied */
    for (size_t i = 0; i < n; i++) {
        (*dst)[i] = strdup(src[i]);
        if (!(*dst)[i])
            return false;
    }
    return true;
}

qcal_status qcal__qdq_node_new(const char *op_type, const char *name, const char *const *inputs,
                               size_t n_in, const char *const *outputs, size_t n_out,
                               int64_t axis, Onnx__NodeProto **out, qcal_error *err)
{
    Onnx__NodeProto *nd = malloc(sizeof *nd);
    Onnx__AttributeProto *a = NULL;
    bool ok;

    *out = NULL;
    if (!nd)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    onnx__node_proto__init(nd);
    ok = copy_strings(&nd->input, &nd->n_input, inputs, n_in) &&
         copy_strings(&nd->output, &nd->n_output, outputs, n_out) &&
         (nd->op_type = strdup(op_type)) != NULL && (nd->name = strdup(name)) != NULL;
    if (ok && axis >= 0) {
        ok = (nd->attribute = malloc(sizeof *nd->attribute)) != NULL &&
             (a = malloc(sizeof *a)) != NULL;
        if (a) {
            onnx__attribute_proto__init(a);
            nd->attribute[0] = a;
            nd->n_attribute = 1;
            a->has_type = 1;
            a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
            a->has_i = 1;
            a->i = axis;
            ok = (a->name = strdup("axis")) != NULL;
        }
    }
    if (!ok) {
        onnx__node_proto__free_unpacked(nd, NULL);
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    }
    *out = nd;
    return QCAL_OK;
}

qcal_status qcal__qdq_append(void ***arr, size_t *n, void *p, qcal_error *err)
{
    void **a = realloc(*arr, (*n + 1) * sizeof *a);

    if (!a)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    a[(*n)++] = p;
    *arr = a;
    return QCAL_OK;
}

qcal_status qcal__qdq_set_string(char **slot, const char *s, qcal_error *err)
{
    char *c = strdup(s);

    if (!c)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    free(*slot);
    *slot = c;
    return QCAL_OK;
}

qcal_status qcal__qdq_tensor_floats(const Onnx__TensorProto *tp, const char *what, float **out,
                                    size_t *count, qcal_error *err)
{
    size_t n;
    float *v;

    *out = NULL;
    *count = 0;
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "tensor '%s': external data is not supported",
                              what);
    if (!tp->has_data_type || tp->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "tensor '%s': data type %d, expected float32",
                              what, tp->has_data_type ? (int)tp->data_type : 0);
    if (!qcal__qdq_count(tp->n_dims, tp->dims, &n))
        return qcal_error_set(err, QCAL_E_CORRUPT, "tensor '%s': bad shape", what);
    if (tp->has_raw_data ? tp->raw_data.len != n * sizeof(float) : tp->n_float_data != n)
        return qcal_error_set(err, QCAL_E_CORRUPT, "tensor '%s': data size does not match its shape",
                              what);
    v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    if (n)
        memcpy(v, tp->has_raw_data ? (const void *)tp->raw_data.data : (const void *)tp->float_data,
               n * sizeof *v);
    *out = v;
    *count = n;
    return QCAL_OK;
}
