/*
 * Matrix-shaped and scan operators: CumSum-11/14, Trilu-14, EyeLike-9/22, Det-11/22 (the later
 * versions only add float16/bfloat16, which the loader widens to float32).
 *
 * CumSum: float32, float64 and the integer types (integers wrap around); the sum runs along the
 * axis in order, one addition per element, so results do not depend on the layout. Trilu: any
 * type (elements are copied). EyeLike: output bool, integer or float types. Det: float32 and
 * float64 through an LU factorisation with partial pivoting in double, rounded once.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/binary_impl.h"

/* Outer/axis/inner extents of x around axis (sizes already checked by the tensor's shape). */
typedef struct scan_geom {
    size_t outer, len, inner;
    bool exclusive, reverse;
} scan_geom;

static void scan_split(const qcal__tensor *x, int axis, scan_geom *g)
{
    g->outer = 1;
    g->inner = 1;
    for (int d = 0; d < axis; d++)
        g->outer *= (size_t)x->dims[d];
    g->len = (size_t)x->dims[axis];
    for (int d = axis + 1; d < x->rank; d++)
        g->inner *= (size_t)x->dims[d];
}

typedef void (*cumsum_fn)(void *y, const void *x, const scan_geom *g);

/*
 * y[a] = y[prev] + x[a] (inclusive) or y[prev] + x[prev] (exclusive), prev being the previous
 * position along the scan direction; the first position is x (inclusive) or 0 (exclusive).
 */
#define DEF_CUMSUM(op, sfx, T, U, DT)                                                           \
    static void op##_##sfx(void *y_, const void *x_, const scan_geom *g)                        \
    {                                                                                           \
        T *y = y_;                                                                              \
        const T *x = x_;                                                                        \
        for (size_t o = 0; o < g->outer; o++) {                                                 \
            const T *xo = x + o * g->len * g->inner;                                            \
            T *yo = y + o * g->len * g->inner;                                                  \
            for (size_t s = 0; s < g->len; s++) {                                               \
                size_t a = g->reverse ? g->len - 1 - s : s;                                     \
                size_t prev = g->reverse ? a + 1 : a - 1;                                       \
                T *ya = yo + a * g->inner;                                                      \
                const T *xa = xo + (g->exclusive ? prev : a) * g->inner;                        \
                if (s == 0) {                                                                   \
                    for (size_t i = 0; i < g->inner; i++)                                       \
                        ya[i] = g->exclusive ? (T)0 : xo[a * g->inner + i];                     \
                    continue;                                                                   \
                }                                                                               \
                for (size_t i = 0; i < g->inner; i++)                                           \
                    ya[i] = (T)((U)yo[prev * g->inner + i] + (U)xa[i]);                         \
            }                                                                                   \
        }                                                                                       \
    }

NUM_TYPES(DEF_CUMSUM, cumsum)
#define CUMSUM_ENTRY(op, sfx, T, U, DT) [DT] = op##_##sfx,
static const cumsum_fn CUMSUM[QCAL__NDT] = { NUM_TYPES(CUMSUM_ENTRY, cumsum) };

typedef struct cumsum_params {
    cumsum_fn fn;
    scan_geom g;
} cumsum_params;

static qcal_status cumsum_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 2, 2, err);
    const qcal__tensor *x;
    cumsum_params *p;
    int64_t axis;
    size_t cnt;
    int ax;
    cumsum_fn fn;

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    fn = (unsigned)x->dtype < QCAL__NDT ? CUMSUM[x->dtype] : NULL;
    if (!fn)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (x->rank < 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "x must have rank >= 1");
    st = qcal__const_ints(n, 1, &axis, 1, &cnt, err);
    if (st != QCAL_OK)
        return st;
    if (cnt != 1)
        return qcal__node_error(err, n, QCAL_E_INVALID, "axis must be one value");
    st = qcal__norm_axis(n, axis, x->rank, &ax, err);
    if (st != QCAL_OK)
        return st;
    st = qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
    if (st != QCAL_OK)
        return st;
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->fn = fn;
    scan_split(x, ax, &p->g);
    p->g.exclusive = qcal__attr_int(n, "exclusive", 0) != 0;
    p->g.reverse = qcal__attr_int(n, "reverse", 0) != 0;
    n->params = p;
    n->scratch = 0;
    return QCAL_OK;
}

static void cumsum_run(const qcal__node *n, void *scratch)
{
    const cumsum_params *p = n->params;

    (void)scratch;
    if (n->out[0]->nelem)
        p->fn(n->out[0]->data, n->in[0]->data, &p->g);
}

/* ---- Trilu: keep j - i >= k (upper) or j - i <= k (lower) of every trailing matrix ---- */

typedef struct mat_params {
    size_t batch, rows, cols, esz;
    bool upper;
    int64_t k; /* EyeLike: the diagonal; Trilu: the default when input k is absent */
} mat_params;

/* Shared tail: batch = product of the leading dims, rows and cols the last two. */
static qcal_status mat_params_new(qcal__node *n, const qcal__tensor *x, qcal_dtype out_dt,
                                  mat_params **out, qcal_error *err)
{
    mat_params *p = malloc(sizeof *p);

    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->rows = (size_t)x->dims[x->rank - 2];
    p->cols = (size_t)x->dims[x->rank - 1];
    p->batch = (p->rows && p->cols) ? x->nelem / (p->rows * p->cols) : 0;
    p->esz = qcal_dtype_size(out_dt);
    p->upper = true;
    p->k = 0;
    n->params = p;
    n->scratch = 0;
    *out = p;
    return QCAL_OK;
}

static qcal_status trilu_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 1, 2, err);
    const qcal__tensor *x, *k;
    mat_params *p = NULL;

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    k = qcal__in(n, 1);
    if (x->rank < 2)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input must have rank >= 2 (is %d)",
                                x->rank);
    if (qcal_dtype_size(x->dtype) == 0 || x->dtype == QCAL_DT_STRING)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (k && (k->dtype != QCAL_DT_INT64 || k->nelem != 1))
        return qcal__node_error(err, n, QCAL_E_INVALID, "k must be one int64 value");
    st = qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
    if (st != QCAL_OK)
        return st;
    st = mat_params_new(n, x, x->dtype, &p, err);
    if (st == QCAL_OK)
        p->upper = qcal__attr_int(n, "upper", 1) != 0;
    return st;
}

/*
 * k clamped to [-(rows + 1), cols + 1]: every diagonal outside the matrix behaves the same, and
 * i + k then fits int64 for any int64 k.
 */
static int64_t clamp_k(const mat_params *p, int64_t k)
{
    int64_t lo = -(int64_t)p->rows - 1, hi = (int64_t)p->cols + 1;
    return k < lo ? lo : (k > hi ? hi : k);
}

/* v clamped to [0, cols]. */
static size_t clamp_col(const mat_params *p, int64_t v)
{
    return v < 0 ? 0 : (v > (int64_t)p->cols ? p->cols : (size_t)v);
}

static void trilu_run(const qcal__node *n, void *scratch)
{
    const mat_params *p = n->params;
    const qcal__tensor *kt = qcal__in(n, 1);
    const int64_t k = clamp_k(p, kt ? *(const int64_t *)kt->data : 0);
    const char *x = n->in[0]->data;
    char *y = n->out[0]->data;
    const size_t row = p->cols * p->esz;

    (void)scratch;
    for (size_t b = 0; b < p->batch; b++) {
        for (size_t i = 0; i < p->rows; i++) {
            const char *xr = x + (b * p->rows + i) * row;
            char *yr = y + (b * p->rows + i) * row;
            /* kept columns [lo, hi): upper j >= i + k, lower j <= i + k */
            size_t lo = p->upper ? clamp_col(p, (int64_t)i + k) : 0;
            size_t hi = p->upper ? p->cols : clamp_col(p, (int64_t)i + k + 1);
            if (hi < lo)
                hi = lo;
            memset(yr, 0, lo * p->esz);
            memcpy(yr + lo * p->esz, xr + lo * p->esz, (hi - lo) * p->esz);
            memset(yr + hi * p->esz, 0, (p->cols - hi) * p->esz);
        }
    }
}

/* ---- EyeLike: zeros with ones where j - i == k ---- */

static qcal_status eyelike_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 1, 1, err);
    const qcal__tensor *x;
    qcal_dtype dt, narrow = QCAL_DT_UNDEFINED;
    mat_params *p = NULL;
    int64_t a;

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (x->rank != 2)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input must have rank 2 (is %d)", x->rank);
    a = qcal__attr_int(n, "dtype", (int64_t)x->dtype);
    if (a == QCAL_DT_FLOAT16 || a == QCAL_DT_BFLOAT16) { /* 0 and 1 are exact in float32 */
        narrow = (qcal_dtype)a;
        a = QCAL_DT_FLOAT;
    }
    dt = (qcal_dtype)a;
    if (a < 0 || a >= QCAL__NDT || a == QCAL_DT_STRING || a == QCAL_DT_FLOAT16 ||
        a == QCAL_DT_UNDEFINED)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "output type %lld is not supported",
                                (long long)a);
    st = qcal__tensor_set_shape(n->out[0], dt, 2, x->dims, err);
    if (st != QCAL_OK)
        return st;
    if (narrow != QCAL_DT_UNDEFINED)
        n->out[0]->narrow = narrow;
    st = mat_params_new(n, x, dt, &p, err);
    if (st == QCAL_OK)
        p->k = qcal__attr_int(n, "k", 0);
    return st;
}

static void eyelike_run(const qcal__node *n, void *scratch)
{
    const mat_params *p = n->params;
    const qcal_dtype dt = n->out[0]->dtype;
    char *y = n->out[0]->data;
    unsigned char one[8] = { 0 };

    (void)scratch;
    if (dt == QCAL_DT_FLOAT) {
        const float f = 1.0f;
        memcpy(one, &f, sizeof f);
    } else if (dt == QCAL_DT_DOUBLE) {
        const double d = 1.0;
        memcpy(one, &d, sizeof d);
    } else { /* integers and bool: the low byte first (little-endian, like the loader) */
        one[0] = 1;
    }
    memset(y, 0, p->rows * p->cols * p->esz);
    for (size_t i = 0; i < p->rows; i++) {
        int64_t j = (int64_t)i + clamp_k(p, p->k);
        if (j >= 0 && j < (int64_t)p->cols)
            memcpy(y + (i * p->cols + (size_t)j) * p->esz, one, p->esz);
    }
}

/* ---- Det: [*, M, M] -> [*] ---- */

static qcal_status det_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 1, 1, err);
    const qcal__tensor *x;
    mat_params *p = NULL;
    int64_t bytes;

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (x->dtype != QCAL_DT_FLOAT && x->dtype != QCAL_DT_DOUBLE)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (x->rank < 2 || x->dims[x->rank - 1] != x->dims[x->rank - 2])
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input must be [*, M, M]");
    st = qcal__dims_product(n, "M * M * 8", 3,
                            (int64_t[]){ x->dims[x->rank - 1], x->dims[x->rank - 1], 8 }, &bytes,
                            err);
    if (st != QCAL_OK)
        return st;
    st = qcal__tensor_set_shape(n->out[0], x->dtype, x->rank - 2, x->dims, err);
    if (st != QCAL_OK)
        return st;
    st = mat_params_new(n, x, x->dtype, &p, err);
    n->scratch = (size_t)bytes;
    return st;
}

/* Determinant of the m x m matrix a (overwritten): Gaussian elimination, largest pivot. */
static double det_lu(double *a, size_t m)
{
    double det = 1.0;

    for (size_t c = 0; c < m; c++) {
        size_t piv = c;
        for (size_t r = c + 1; r < m; r++)
            if (fabs(a[r * m + c]) > fabs(a[piv * m + c]))
                piv = r;
        if (a[piv * m + c] == 0.0)
            return 0.0;
        if (piv != c) {
            for (size_t j = 0; j < m; j++) {
                double t = a[c * m + j];
                a[c * m + j] = a[piv * m + j];
                a[piv * m + j] = t;
            }
            det = -det;
        }
        det *= a[c * m + c];
        for (size_t r = c + 1; r < m; r++) {
            double f = a[r * m + c] / a[c * m + c];
            for (size_t j = c + 1; j < m; j++)
                a[r * m + j] -= f * a[c * m + j];
        }
    }
    return det;
}

static void det_run(const qcal__node *n, void *scratch)
{
    const mat_params *p = n->params;
    const size_t m = p->rows, mm = m * m;
    const bool f32 = n->in[0]->dtype == QCAL_DT_FLOAT;
    double *a = scratch;

    for (size_t b = 0; b < p->batch; b++) {
        double d;
        for (size_t i = 0; i < mm; i++)
            a[i] = f32 ? (double)((const float *)n->in[0]->data)[b * mm + i]
                       : ((const double *)n->in[0]->data)[b * mm + i];
        d = det_lu(a, m);
        if (f32)
            ((float *)n->out[0]->data)[b] = (float)d;
        else
            ((double *)n->out[0]->data)[b] = d;
    }
}

#define LAST QCAL__OPSET_LAST

const qcal__op qcal__ops_math2[] = {
    { "CumSum", 11, LAST, cumsum_infer, cumsum_run, 1u << 1 },
    { "Det", 11, LAST, det_infer, det_run, 0 },
    { "EyeLike", 9, LAST, eyelike_infer, eyelike_run, 0 },
    { "Trilu", 14, LAST, trilu_infer, trilu_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
