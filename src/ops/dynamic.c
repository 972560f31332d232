/*
 * Operators whose output shapes depend on input values: NonZero, Compress, Unique and
 * NonMaxSuppression. They are exec kernels (ops.h): the executor runs them in dynamic mode (or
 * folds them when their inputs are constant), and they size their outputs at run time.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

/* ---- element access shared by the kernels ---- */

static bool elem_nonzero(const void *data, qcal_dtype dt, size_t i)
{
    switch (dt) {
    case QCAL_DT_FLOAT: return ((const float *)data)[i] != 0.0f;
    case QCAL_DT_DOUBLE: return ((const double *)data)[i] != 0.0;
    default: {
        size_t es = qcal_dtype_size(dt);
        const unsigned char *p = (const unsigned char *)data + i * es;
        for (size_t b = 0; b < es; b++)
            if (p[b])
                return true;
        return false;
    }
    }
}

/* Three-way comparison of elements i and j (NaN sorts after every number, NaNs equal). */
static int elem_cmp(const void *data, qcal_dtype dt, size_t i, size_t j)
{
#define CMP3(T) do { T a = ((const T *)data)[i], b = ((const T *)data)[j]; \
        return (a > b) - (a < b); } while (0)
    switch (dt) {
    case QCAL_DT_FLOAT: case QCAL_DT_DOUBLE: {
        double a = dt == QCAL_DT_FLOAT ? (double)((const float *)data)[i] : ((const double *)data)[i];
        double b = dt == QCAL_DT_FLOAT ? (double)((const float *)data)[j] : ((const double *)data)[j];
        if (isnan(a) || isnan(b))
            return isnan(a) - isnan(b);
        return (a > b) - (a < b);
    }
    case QCAL_DT_INT8: CMP3(int8_t);
    case QCAL_DT_INT16: CMP3(int16_t);
    case QCAL_DT_INT32: CMP3(int32_t);
    case QCAL_DT_INT64: CMP3(int64_t);
    case QCAL_DT_UINT16: CMP3(uint16_t);
    case QCAL_DT_UINT32: CMP3(uint32_t);
    case QCAL_DT_UINT64: CMP3(uint64_t);
    default: CMP3(uint8_t); /* uint8, bool */
    }
#undef CMP3
}

static bool known_dtype(qcal_dtype dt)
{
    return qcal_dtype_size(dt) != 0 && dt != QCAL_DT_FLOAT16;
}

static qcal_status check_data(const qcal__node *n, const qcal__tensor *t, qcal_error *err)
{
    if (!known_dtype(t->dtype))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input '%s' is %s", t->name,
                                qcal_dtype_name(t->dtype));
    return QCAL_OK;
}

static qcal_dtype dtype_int64(const qcal__node *n, int k)
{
    (void)n;
    (void)k;
    return QCAL_DT_INT64;
}

static qcal_dtype dtype_first(const qcal__node *n, int k)
{
    (void)k;
    return n->n_in > 0 && n->in[0] ? n->in[0]->dtype : QCAL_DT_UNDEFINED;
}

/* ---- NonZero (ONNX NonZero-9/13): [rank, count] int64 indices in row-major order ---- */

static qcal_status nonzero_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 1, 1, err);

    if (st == QCAL_OK && (n->n_out < 1 || !n->out[0]))
        st = qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    return st == QCAL_OK ? check_data(n, n->in[0], err) : st;
}

static qcal_status nonzero_exec(qcal__node *n, qcal__exec *x, qcal_error *err)
{
    const qcal__tensor *in = n->in[0];
    int r = in->rank ? in->rank : 1; /* a scalar counts as one element of a 1-D tensor */
    int64_t dims[2], strides[QCAL_MAX_RANK], one = 1;
    size_t cnt = 0, at = 0;
    int64_t *out;
    qcal_status st;

    for (size_t i = 0; i < in->nelem; i++)
        cnt += elem_nonzero(in->data, in->dtype, i);
    dims[0] = r;
    dims[1] = (int64_t)cnt;
    st = qcal__exec_output(x, n, 0, QCAL_DT_INT64, 2, dims, err);
    if (st != QCAL_OK)
        return st;
    out = n->out[0]->data;
    qcal__strides(in->rank ? in->rank : 1, in->rank ? in->dims : &one, strides);
    for (size_t i = 0; i < in->nelem; i++) {
        if (!elem_nonzero(in->data, in->dtype, i))
            continue;
        for (int d = 0; d < r; d++)
            out[(size_t)d * cnt + at] = ((int64_t)i / strides[d]) %
                                        (in->rank ? in->dims[d] : 1);
        at++;
    }
    return QCAL_OK;
}

/* ---- Compress (ONNX Compress-9/11): slices along axis (or elements) where condition holds ---- */

static qcal_status compress_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 2, 2, err);

    if (st == QCAL_OK && (n->n_out < 1 || !n->out[0]))
        st = qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    if (st == QCAL_OK)
        st = check_data(n, n->in[0], err);
    if (st == QCAL_OK && n->in[1]->dtype != QCAL_DT_BOOL)
        st = qcal__node_error(err, n, QCAL_E_INVALID, "condition '%s' is %s, expected bool",
                              n->in[1]->name, qcal_dtype_name(n->in[1]->dtype));
    return st;
}

static qcal_status compress_exec(qcal__node *n, qcal__exec *x, qcal_error *err)
{
    const qcal__tensor *in = n->in[0], *c = n->in[1];
    const uint8_t *cond = c->data;
    const qcal__attr *ax = qcal__attr_find(n, "axis");
    size_t es = qcal_dtype_size(in->dtype), outer = 1, inner = 1, len, kept = 0;
    int64_t dims[QCAL_MAX_RANK];
    int rank, axis = -1;
    qcal_status st;

    if (c->rank != 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "condition '%s' has rank %d, expected 1",
                                c->name, c->rank);
    if (ax) {
        st = qcal__norm_axis(n, ax->i, in->rank, &axis, err);
        if (st != QCAL_OK)
            return st;
        len = (size_t)in->dims[axis];
        for (int d = 0; d < axis; d++)
            outer *= (size_t)in->dims[d];
        for (int d = axis + 1; d < in->rank; d++)
            inner *= (size_t)in->dims[d];
    } else {
        len = in->nelem;
    }
    for (size_t j = 0; j < c->nelem; j++) {
        if (!cond[j])
            continue;
        if (j >= len)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "condition is true at %zu, beyond the "
                                    "%zu slices of the input", j, len);
        kept++;
    }
    if (ax) {
        rank = in->rank;
        memcpy(dims, in->dims, sizeof dims);
        dims[axis] = (int64_t)kept;
    } else {
        rank = 1;
        dims[0] = (int64_t)kept;
    }
    st = qcal__exec_output(x, n, 0, in->dtype, rank, dims, err);
    if (st != QCAL_OK)
        return st;
    {
        const unsigned char *src = in->data;
        unsigned char *dst = n->out[0]->data;
        size_t row = inner * es, lim = c->nelem < len ? c->nelem : len;
        for (size_t o = 0; o < outer; o++)
            for (size_t j = 0; j < lim; j++)
                if (cond[j]) {
                    memcpy(dst, src + (o * len + j) * row, row);
                    dst += row;
                }
    }
    return QCAL_OK;
}

/* ---- Unique (ONNX Unique-11) ---- */

typedef struct uniq_ctx {
    const void *data;
    qcal_dtype dt;
    size_t outer, len, inner; /* slice j: elements (o, j, i) in row-major order of (o, i) */
} uniq_ctx;

static int slice_cmp(const uniq_ctx *u, size_t a, size_t b)
{
    for (size_t o = 0; o < u->outer; o++)
        for (size_t i = 0; i < u->inner; i++) {
            int c = elem_cmp(u->data, u->dt, (o * u->len + a) * u->inner + i,
                             (o * u->len + b) * u->inner + i);
            if (c)
                return c;
        }
    return 0;
}

/* Stable merge sort of idx[0..n) by slice content (equal slices keep index order). */
static void sort_slices(const uniq_ctx *u, size_t *idx, size_t *tmp, size_t n)
{
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi)
                tmp[o++] = slice_cmp(u, idx[b], idx[a]) < 0 ? idx[b++] : idx[a++];
            while (a < mid)
                tmp[o++] = idx[a++];
            while (b < hi)
                tmp[o++] = idx[b++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
}

static qcal_status unique_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 1, 1, err);

    if (st == QCAL_OK && (n->n_out < 1 || !n->out[0]))
        st = qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    return st == QCAL_OK ? check_data(n, n->in[0], err) : st;
}

static qcal_dtype unique_dtype(const qcal__node *n, int k)
{
    return k == 0 ? dtype_first(n, k) : QCAL_DT_INT64;
}

static qcal_status unique_exec(qcal__node *n, qcal__exec *x, qcal_error *err)
{
    const qcal__tensor *in = n->in[0];
    const qcal__attr *ax = qcal__attr_find(n, "axis");
    bool sorted = qcal__attr_int(n, "sorted", 1) != 0;
    size_t es = qcal_dtype_size(in->dtype), len, nu = 0;
    size_t *idx = NULL, *tmp = NULL, *group = NULL, *first = NULL, *order = NULL, *count = NULL;
    int64_t dims[QCAL_MAX_RANK];
    uniq_ctx u = { in->data, in->dtype, 1, 0, 1 };
    int axis = -1, rank;
    qcal_status st = QCAL_OK;

    if (ax) {
        st = qcal__norm_axis(n, ax->i, in->rank, &axis, err);
        if (st != QCAL_OK)
            return st;
        u.len = (size_t)in->dims[axis];
        for (int d = 0; d < axis; d++)
            u.outer *= (size_t)in->dims[d];
        for (int d = axis + 1; d < in->rank; d++)
            u.inner *= (size_t)in->dims[d];
    } else {
        u.len = in->nelem;
    }
    len = u.len;
    idx = malloc((len + 1) * sizeof *idx);
    tmp = malloc((len + 1) * sizeof *tmp);
    group = malloc((len + 1) * sizeof *group);  /* slice -> its unique group (sorted order) */
    first = malloc((len + 1) * sizeof *first);  /* group -> first slice */
    order = malloc((len + 1) * sizeof *order);  /* output position -> group */
    count = calloc(len + 1, sizeof *count);     /* group -> occurrences */
    if (!idx || !tmp || !group || !first || !order || !count) {
        st = qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t j = 0; j < len; j++)
        idx[j] = j;
    sort_slices(&u, idx, tmp, len);
    for (size_t j = 0; j < len; j++) {
        if (j == 0 || slice_cmp(&u, idx[j - 1], idx[j]) != 0)
            first[nu++] = idx[j]; /* stable: the lowest index of the group */
        group[idx[j]] = nu - 1;
        count[nu - 1]++;
    }
    for (size_t g = 0; g < nu; g++)
        order[g] = g;
    if (!sorted) {
        /* Groups in order of first occurrence: walk the slices, number groups as first met. */
        size_t *pos = tmp, at = 0; /* group -> output position; SIZE_MAX: not yet */
        for (size_t g = 0; g < nu; g++)
            pos[g] = SIZE_MAX;
        for (size_t j = 0; j < len; j++)
            if (pos[group[j]] == SIZE_MAX) {
                pos[group[j]] = at;
                order[at++] = group[j];
            }
        for (size_t j = 0; j < len; j++)
            idx[j] = pos[group[j]]; /* slice -> output position */
    } else {
        for (size_t j = 0; j < len; j++)
            idx[j] = group[j];
    }
    if (ax) {
        rank = in->rank;
        memcpy(dims, in->dims, sizeof dims);
        dims[axis] = (int64_t)nu;
    } else {
        rank = 1;
        dims[0] = (int64_t)nu;
    }
    st = qcal__exec_output(x, n, 0, in->dtype, rank, dims, err);
    dims[0] = (int64_t)nu;
    for (int k = 1; st == QCAL_OK && k < n->n_out && k < 4; k++) {
        int64_t d = k == 2 ? (int64_t)len : (int64_t)nu;
        st = qcal__exec_output(x, n, k, QCAL_DT_INT64, 1, &d, err);
    }
    if (st != QCAL_OK)
        goto out;
    {
        const unsigned char *src = in->data;
        unsigned char *dst = n->out[0]->data;
        size_t row = u.inner * es;
        for (size_t o = 0; o < u.outer; o++)
            for (size_t p = 0; p < nu; p++)
                memcpy(dst + (o * nu + p) * row, src + (o * len + first[order[p]]) * row, row);
    }
    for (size_t p = 0; p < nu; p++) {
        if (n->n_out > 1 && n->out[1])
            ((int64_t *)n->out[1]->data)[p] = (int64_t)first[order[p]];
        if (n->n_out > 3 && n->out[3])
            ((int64_t *)n->out[3]->data)[p] = (int64_t)count[order[p]];
    }
    if (n->n_out > 2 && n->out[2])
        for (size_t j = 0; j < len; j++)
            ((int64_t *)n->out[2]->data)[j] = (int64_t)idx[j];
out:
    free(idx);
    free(tmp);
    free(group);
    free(first);
    free(order);
    free(count);
    return st;
}

/* ---- NonMaxSuppression (ONNX NonMaxSuppression-10/11) ---- */

static qcal_status nms_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 2, 5, err);
    int64_t cpb = qcal__attr_int(n, "center_point_box", 0);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    if (cpb != 0 && cpb != 1)
        return qcal__node_error(err, n, QCAL_E_INVALID, "center_point_box %lld (0 or 1)",
                                (long long)cpb);
    for (int i = 0; i < 2; i++)
        if (n->in[i]->dtype != QCAL_DT_FLOAT)
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input '%s' is %s, expected "
                                    "float32", n->in[i]->name, qcal_dtype_name(n->in[i]->dtype));
    return QCAL_OK;
}

/* Corners (ymin, xmin, ymax, xmax) of box b. */
static void box_corners(const float *b, bool center, float *c)
{
    if (center) {
        float hw = b[2] / 2.0f, hh = b[3] / 2.0f;
        c[0] = b[1] - hh;
        c[1] = b[0] - hw;
        c[2] = b[1] + hh;
        c[3] = b[0] + hw;
    } else {
        c[0] = fminf(b[0], b[2]);
        c[1] = fminf(b[1], b[3]);
        c[2] = fmaxf(b[0], b[2]);
        c[3] = fmaxf(b[1], b[3]);
    }
}

static bool iou_exceeds(const float *a, const float *b, float thr)
{
    float ix0 = fmaxf(a[1], b[1]), ix1 = fminf(a[3], b[3]);
    float iy0 = fmaxf(a[0], b[0]), iy1 = fminf(a[2], b[2]);
    float inter, area_a, area_b, uni;

    if (ix1 <= ix0 || iy1 <= iy0)
        return false;
    inter = (ix1 - ix0) * (iy1 - iy0);
    area_a = (a[3] - a[1]) * (a[2] - a[0]);
    area_b = (b[3] - b[1]) * (b[2] - b[0]);
    uni = area_a + area_b - inter;
    if (inter <= 0.0f || area_a <= 0.0f || area_b <= 0.0f || uni <= 0.0f)
        return false;
    return inter / uni > thr;
}

/* Optional scalar input i (a scalar or a one-element tensor; empty or absent: not given). */
static bool opt_scalar(const qcal__node *n, int i, double *v)
{
    const qcal__tensor *t = qcal__in(n, i);

    if (!t || t->nelem == 0 || !t->data)
        return false;
    switch (t->dtype) {
    case QCAL_DT_FLOAT: *v = (double)((const float *)t->data)[0]; return true;
    case QCAL_DT_DOUBLE: *v = ((const double *)t->data)[0]; return true;
    case QCAL_DT_INT64: *v = (double)((const int64_t *)t->data)[0]; return true;
    case QCAL_DT_INT32: *v = (double)((const int32_t *)t->data)[0]; return true;
    default: return false;
    }
}

static qcal_status nms_exec(qcal__node *n, qcal__exec *x, qcal_error *err)
{
    const qcal__tensor *bt = n->in[0], *stt = n->in[1];
    bool center = qcal__attr_int(n, "center_point_box", 0) == 1;
    double v;
    float iou_thr = 0.0f, score_thr = 0.0f;
    bool has_score = false;
    int64_t max_out = 0, nb, nc, nbox, dims[2];
    size_t *cand = NULL, *tmp = NULL, *sel = NULL, nsel = 0, cap = 0;
    int64_t *res = NULL;
    float *corners = NULL;
    qcal_status st = QCAL_OK;

    if (bt->rank != 3 || bt->dims[2] != 4 || stt->rank != 3 || stt->dims[0] != bt->dims[0] ||
        stt->dims[2] != bt->dims[1])
        return qcal__node_error(err, n, QCAL_E_SHAPE, "boxes must be [batches, boxes, 4] and "
                                "scores [batches, classes, boxes]");
    nb = bt->dims[0];
    nc = stt->dims[1];
    nbox = bt->dims[1];
    if (opt_scalar(n, 2, &v))
        max_out = v > 0.0 ? (v > 9.0e18 ? INT64_MAX : (int64_t)v) : 0;
    if (opt_scalar(n, 3, &v))
        iou_thr = (float)v;
    if (opt_scalar(n, 4, &v)) {
        score_thr = (float)v;
        has_score = true;
    }
    cand = malloc(((size_t)nbox + 1) * sizeof *cand);
    tmp = malloc(((size_t)nbox + 1) * sizeof *tmp);
    sel = malloc(((size_t)nbox + 1) * sizeof *sel);
    corners = malloc(((size_t)nbox * 4 + 1) * sizeof *corners);
    if (!cand || !tmp || !sel || !corners) {
        st = qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    for (int64_t b = 0; b < nb; b++) {
        const float *boxes = (const float *)bt->data + (size_t)b * (size_t)nbox * 4;
        for (int64_t i = 0; i < nbox; i++)
            box_corners(boxes + i * 4, center, corners + i * 4);
        for (int64_t c = 0; c < nc; c++) {
            const float *sc = (const float *)stt->data + ((size_t)b * (size_t)nc + (size_t)c) *
                                                         (size_t)nbox;
            size_t nk = 0, ns = 0;
            for (int64_t i = 0; i < nbox; i++)
                if (!has_score || sc[i] > score_thr)
                    cand[nk++] = (size_t)i;
            /* Stable merge sort by descending score: ties keep the lower index first. */
            for (size_t w = 1; w < nk; w *= 2) {
                for (size_t lo = 0; lo < nk; lo += 2 * w) {
                    size_t mid = lo + w < nk ? lo + w : nk, hi = lo + 2 * w < nk ? lo + 2 * w : nk;
                    size_t p = lo, q = mid, o = lo;
                    while (p < mid && q < hi)
                        tmp[o++] = sc[cand[q]] > sc[cand[p]] ? cand[q++] : cand[p++];
                    while (p < mid)
                        tmp[o++] = cand[p++];
                    while (q < hi)
                        tmp[o++] = cand[q++];
                }
                memcpy(cand, tmp, nk * sizeof *cand);
            }
            for (size_t k = 0; k < nk && (int64_t)ns < max_out; k++) {
                bool keep = true;
                for (size_t s = 0; s < ns && keep; s++)
                    keep = !iou_exceeds(corners + cand[k] * 4, corners + sel[s] * 4, iou_thr);
                if (!keep)
                    continue;
                sel[ns++] = cand[k];
                if (nsel == cap) {
                    size_t nc2 = cap ? 2 * cap : 64;
                    int64_t *grown = realloc(res, nc2 * 3 * sizeof *res);
                    if (!grown) {
                        st = qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
                        goto out;
                    }
                    res = grown;
                    cap = nc2;
                }
                res[nsel * 3] = b;
                res[nsel * 3 + 1] = c;
                res[nsel * 3 + 2] = (int64_t)cand[k];
                nsel++;
            }
        }
    }
    dims[0] = (int64_t)nsel;
    dims[1] = 3;
    st = qcal__exec_output(x, n, 0, QCAL_DT_INT64, 2, dims, err);
    if (st == QCAL_OK && nsel)
        memcpy(n->out[0]->data, res, nsel * 3 * sizeof *res);
out:
    free(cand);
    free(tmp);
    free(sel);
    free(corners);
    free(res);
    return st;
}

const qcal__op qcal__ops_dynamic[] = {
    { "NonZero", 9, QCAL__OPSET_LAST, nonzero_infer, qcal__xop_run, 0 },
    { "Compress", 9, QCAL__OPSET_LAST, compress_infer, qcal__xop_run, 0 },
    { "Unique", 11, QCAL__OPSET_LAST, unique_infer, qcal__xop_run, 0 },
    { "NonMaxSuppression", 10, QCAL__OPSET_LAST, nms_infer, qcal__xop_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};

const qcal__xop qcal__xops_dynamic[] = {
    { "NonZero", nonzero_exec, dtype_int64 },
    { "Compress", compress_exec, dtype_first },
    { "Unique", unique_exec, unique_dtype },
    { "NonMaxSuppression", nms_exec, dtype_int64 },
    { NULL, NULL, NULL },
};
