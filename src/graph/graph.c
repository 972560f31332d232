/* Graph ownership, tensor shapes and small shape utilities. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "qcal/round.h"

size_t qcal_dtype_size(qcal_dtype dt)
{
    switch (dt) {
    case QCAL_DT_FLOAT: case QCAL_DT_INT32: case QCAL_DT_UINT32: return 4;
    case QCAL_DT_UINT8: case QCAL_DT_INT8: case QCAL_DT_BOOL: return 1;
    case QCAL_DT_UINT16: case QCAL_DT_INT16: case QCAL_DT_FLOAT16: return 2;
    case QCAL_DT_INT64: case QCAL_DT_DOUBLE: case QCAL_DT_UINT64: return 8;
    default: return 0;
    }
}

const char *qcal_dtype_name(qcal_dtype dt)
{
    switch ((int)dt) { /* int: ONNX types qcal has no enum value for are named too */
    case QCAL_DT_FLOAT: return "float32";
    case QCAL_DT_UINT8: return "uint8";
    case QCAL_DT_INT8: return "int8";
    case QCAL_DT_UINT16: return "uint16";
    case QCAL_DT_INT16: return "int16";
    case QCAL_DT_INT32: return "int32";
    case QCAL_DT_INT64: return "int64";
    case QCAL_DT_STRING: return "string";
    case QCAL_DT_BOOL: return "bool";
    case QCAL_DT_FLOAT16: return "float16";
    case QCAL_DT_DOUBLE: return "float64";
    case QCAL_DT_UINT32: return "uint32";
    case QCAL_DT_UINT64: return "uint64";
    case QCAL_DT_COMPLEX64: return "complex64";
    case QCAL_DT_COMPLEX128: return "complex128";
    case QCAL_DT_BFLOAT16: return "bfloat16";
    case QCAL_DT_FLOAT8E4M3FN: return "float8e4m3fn";
    case QCAL_DT_FLOAT8E4M3FNUZ: return "float8e4m3fnuz";
    case QCAL_DT_FLOAT8E5M2: return "float8e5m2";
    case QCAL_DT_FLOAT8E5M2FNUZ: return "float8e5m2fnuz";
    case QCAL_DT_UINT4: return "uint4";
    case QCAL_DT_INT4: return "int4";
    case 23: return "float4e2m1"; /* ONNX 1.18 */
    default: return "undefined";
    }
}

qcal_dtype qcal__dtype_held(qcal_dtype dt)
{
    return (dt == QCAL_DT_FLOAT16 || dt == QCAL_DT_BFLOAT16) ? QCAL_DT_FLOAT : dt;
}

float qcal__half_to_float(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v;

    if (e == 0)
        v = ldexpf((float)m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexpf((float)(m | 0x400), e - 25);
    return (h & 0x8000) ? -v : v;
}

float qcal__bfloat16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;

    memcpy(&f, &bits, sizeof f);
    return f;
}

/*
 * A binary floating-point format with p significant bits and normal exponents emin..emax has,
 * in the binade [2^E, 2^(E+1)) (E >= emin), the spacing 2^(E-p+1); below 2^emin (subnormals) the
 * spacing of the lowest binade. So x / spacing rounded to an integer (ties to even), times the
 * spacing, is the correctly rounded value; the scaling by a power of two is exact in double. A
 * result above the largest finite value (only the carry at the top binade or values beyond it)
 * is an overflow to infinity, as IEEE round-to-nearest requires.
 */
float qcal__round_narrow(double x, qcal_dtype narrow)
{
    int p, emin, emax, e;
    double a, r, maxval;

    if (narrow == QCAL_DT_FLOAT16) {
        p = 11, emin = -14, emax = 15;
    } else if (narrow == QCAL_DT_BFLOAT16) {
        p = 8, emin = -126, emax = 127;
    } else {
        p = 24, emin = -126, emax = 127;
    }
    if (isnan(x))
        return NAN;
    if (x == 0.0 || isinf(x))
        return (float)x; /* exact, sign kept */
    a = fabs(x);
    (void)frexp(a, &e); /* a in [2^(e-1), 2^e) */
    e -= 1;
    if (e < emin)
        e = emin;
    r = ldexp(qcal_round_half_even(ldexp(a, p - 1 - e)), e - p + 1);
    maxval = ldexp(2.0 - ldexp(1.0, 1 - p), emax);
    if (r > maxval)
        return x < 0 ? -INFINITY : INFINITY;
    return x < 0 ? -(float)r : (float)r;
}

/* Narrow type of a float32 tensor for propagation: FLOAT16/BFLOAT16, or UNDEFINED for full
 * precision (QCAL_DT_FLOAT marks a tensor a Cast made float32 on purpose). */
static qcal_dtype narrow_of(const qcal__tensor *t)
{
    return (t->narrow == QCAL_DT_FLOAT16 || t->narrow == QCAL_DT_BFLOAT16) ? t->narrow
                                                                           : QCAL_DT_UNDEFINED;
}

void qcal__node_narrow_outputs(qcal__node *n)
{
    qcal_dtype common = QCAL_DT_UNDEFINED;
    bool any = false;

    for (int k = 0; k < n->n_in + n->n_attr; k++) {
        const qcal__tensor *t = k < n->n_in ? n->in[k] : n->attr[k - n->n_in].t;
        if (!t || t->dtype != QCAL_DT_FLOAT)
            continue;
        if (!any)
            common = narrow_of(t);
        else if (narrow_of(t) != common)
            return;
        any = true;
    }
    if (common == QCAL_DT_UNDEFINED)
        return;
    for (int k = 0; k < n->n_out; k++)
        if (n->out[k] && n->out[k]->dtype == QCAL_DT_FLOAT && n->out[k]->narrow == QCAL_DT_UNDEFINED)
            n->out[k]->narrow = common;
}

size_t qcal__shape_nelem(int rank, const int64_t *dims)
{
    /* nz: product of the non-zero dims (strides), bounded as well. The bound, INT64_MAX / 16,
     * keeps nelem times any element size (at most 16 bytes) and the kernels' per-element scratch
     * sizes inside int64, so byte counts computed from nelem cannot wrap. */
    size_t n = 1, nz = 1;

    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return SIZE_MAX;
        if (dims[i] != 0 && nz > (size_t)INT64_MAX / 16 / (size_t)dims[i])
            return SIZE_MAX;
        if (dims[i] != 0)
            nz *= (size_t)dims[i];
        n *= (size_t)dims[i];
    }
    return n;
}

char *qcal__shape_str(int rank, const int64_t *dims, char *buf, size_t size)
{
    size_t used = 0;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (int i = 0; i < rank && used < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%lld", i ? "x" : "", (long long)dims[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

qcal_status qcal__tensor_set_shape(qcal__tensor *t, qcal_dtype dt, int rank, const int64_t *dims,
                                   qcal_error *err)
{
    size_t n;

    if (rank < 0 || rank > QCAL_MAX_RANK)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "tensor '%s': rank %d (at most %d)",
                              t->name, rank, QCAL_MAX_RANK);
    n = qcal__shape_nelem(rank, dims);
    if (n == SIZE_MAX)
        return qcal_error_set(err, QCAL_E_SHAPE, "tensor '%s': invalid or too large shape",
                              t->name);
    t->dtype = dt;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    for (int i = rank; i < QCAL_MAX_RANK; i++)
        t->dims[i] = 0;
    t->nelem = n;
    t->shaped = true;
    return QCAL_OK;
}

qcal_tensor_view qcal__tensor_view(const qcal__tensor *t)
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

void qcal__tensor_free(qcal__tensor *t)
{
    if (!t)
        return;
    if (t->kind == QCAL__T_CONST)
        free(t->data);
    free(t->name);
    free(t);
}

size_t qcal__str_hash(const char *s)
{
    size_t h = (size_t)1469598103934665603ull;

    while (*s)
        h = (h ^ (unsigned char)*s++) * (size_t)1099511628211ull;
    return h;
}

qcal__tensor *qcal__graph_find(const qcal__graph *g, const char *name)
{
    for (size_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i]->name, name) == 0)
            return g->tensors[i];
    return NULL;
}

qcal__tensor *qcal__graph_add_tensor(qcal__graph *g, const char *name)
{
    qcal__tensor *t = calloc(1, sizeof *t);

    if (!t)
        return NULL;
    t->name = strdup(name);
    if (t->name && g->n_tensors == g->cap_tensors) {
        /* Doubling: adding n tensors costs O(n), not O(n^2) copies. */
        size_t cap = g->cap_tensors ? 2 * g->cap_tensors : 64;
        qcal__tensor **grown = cap < SIZE_MAX / sizeof *grown
                                   ? realloc(g->tensors, cap * sizeof *grown) : NULL;
        if (grown) {
            g->tensors = grown;
            g->cap_tensors = cap;
        }
    }
    if (!t->name || g->n_tensors == g->cap_tensors) {
        free(t->name);
        free(t);
        return NULL;
    }
    t->producer = -1;
    t->last_use = -1;
    t->id = g->n_tensors;
    g->tensors[g->n_tensors++] = t;
    return t;
}

static void attr_fini(qcal__attr *a)
{
    free(a->name);
    free(a->s);
    free(a->floats);
    free(a->ints);
    for (size_t i = 0; a->strings && i < a->n; i++)
        free(a->strings[i]);
    free(a->strings);
    qcal__tensor_free(a->t);
    qcal__graph_destroy(a->g);
}

void qcal__graph_destroy(qcal__graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_nodes; i++) {
        qcal__node *n = &g->nodes[i];
        free(n->name);
        free(n->op_type);
        free(n->domain);
        free(n->in);
        free(n->out);
        for (int k = 0; k < n->n_attr; k++)
            attr_fini(&n->attr[k]);
        free(n->attr);
        free(n->params);
        free(n->implicit);
    }
    free(g->nodes);
    for (size_t i = 0; !g->parent && i < g->n_tensors; i++) /* subgraphs own no tensor */
        qcal__tensor_free(g->tensors[i]);
    free(g->tensors);
    free(g->inputs);
    free(g->outputs);
    free(g->path);
    free(g->dir);
    free(g->name);
    free(g);
}
