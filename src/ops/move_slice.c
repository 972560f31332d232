/*
 * Slice and Pad: the region operators. Slice becomes one strided copy (negative steps are
 * negative strides); Pad maps every output coordinate to a source coordinate per axis.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/move.h"

/*
 * ONNX Slice-1 (starts/ends/axes attributes) and Slice-10/11/13 (starts, ends, axes, steps
 * inputs). Starts and ends are clamped as the spec says: negative values count from the end,
 * then starts go to [0, dim] (step > 0) or [0, dim - 1] (step < 0), ends to [0, dim] or
 * [-1, dim - 1]. The output length is ceil((end - start) / step), at least 0.
 */
qcal_status qcal__slice_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    int64_t starts[QCAL_MAX_RANK], ends[QCAL_MAX_RANK], axes[QCAL_MAX_RANK];
    int64_t steps[QCAL_MAX_RANK], begin[QCAL_MAX_RANK], step[QCAL_MAX_RANK];
    int64_t odims[QCAL_MAX_RANK], ist[QCAL_MAX_RANK], ost[QCAL_MAX_RANK], sst[QCAL_MAX_RANK];
    int64_t src_off = 0;
    bool seen[QCAL_MAX_RANK] = { false };
    size_t ns = 0, ne = 0, na = 0, nst = 0, esz;
    qcal__copy_plan *plan;
    qcal_status st;
    int r;

    st = qcal__check_inputs(n, n->opset < 10 ? 1 : 3, n->opset < 10 ? 1 : 5, err);
    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    x = n->in[0];
    r = x->rank;
    esz = qcal_dtype_size(x->dtype);
    if (esz == 0)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "dtype %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (n->opset < 10) {
        const int64_t *a = NULL, *b = NULL, *c = NULL;
        ns = qcal__attr_ints(n, "starts", &a);
        ne = qcal__attr_ints(n, "ends", &b);
        na = qcal__attr_ints(n, "axes", &c);
        if (ns > QCAL_MAX_RANK || ne > QCAL_MAX_RANK || na > QCAL_MAX_RANK)
            return qcal__node_error(err, n, QCAL_E_INVALID, "more starts/ends/axes than dims");
        if (ns)
            memcpy(starts, a, ns * sizeof *a);
        if (ne)
            memcpy(ends, b, ne * sizeof *b);
        if (na)
            memcpy(axes, c, na * sizeof *c);
    } else {
        if ((st = qcal__const_ints(n, 1, starts, QCAL_MAX_RANK, &ns, err)) != QCAL_OK ||
            (st = qcal__const_ints(n, 2, ends, QCAL_MAX_RANK, &ne, err)) != QCAL_OK)
            return st;
        if (qcal__in(n, 3) &&
            (st = qcal__const_ints(n, 3, axes, QCAL_MAX_RANK, &na, err)) != QCAL_OK)
            return st;
        if (qcal__in(n, 4) &&
            (st = qcal__const_ints(n, 4, steps, QCAL_MAX_RANK, &nst, err)) != QCAL_OK)
            return st;
    }
    if (ns != ne || (na && na != ns) || (nst && nst != ns) || ns > (size_t)r)
        return qcal__node_error(err, n, QCAL_E_INVALID, "starts, ends, axes and steps have %zu, "
                                "%zu, %zu and %zu values for rank %d", ns, ne, na, nst, r);
    for (int k = 0; k < r; k++) {
        begin[k] = 0;
        step[k] = 1;
        odims[k] = x->dims[k];
    }
    for (size_t i = 0; i < ns; i++) {
        int64_t s = starts[i], e = ends[i], sp = nst ? steps[i] : 1, d, cnt = 0;
        int a;
        if ((st = qcal__norm_axis(n, na ? axes[i] : (int64_t)i, r, &a, err)) != QCAL_OK)
            return st;
        if (seen[a])
            return qcal__node_error(err, n, QCAL_E_INVALID, "axis %d is sliced twice", a);
        seen[a] = true;
        if (sp == 0)
            return qcal__node_error(err, n, QCAL_E_INVALID, "step 0 on axis %d", a);
        d = x->dims[a];
        if (s < 0)
            s += d;
        if (e < 0)
            e += d;
        if (sp > 0) {
            s = s < 0 ? 0 : (s > d ? d : s);
            e = e < 0 ? 0 : (e > d ? d : e);
            if (e > s)
                cnt = (e - s - 1) / sp + 1;
        } else {
            s = s < 0 ? 0 : (s > d - 1 ? d - 1 : s);
            e = e < -1 ? -1 : (e > d - 1 ? d - 1 : e);
            if (s > e)
                cnt = (s - e - 1) / (sp == INT64_MIN ? INT64_MAX : -sp) + 1;
        }
        begin[a] = s;
        /* A step only matters when it takes 2+ elements (then |step| < d): a huge step that
         * takes one keeps the strides below in range. */
        step[a] = cnt > 1 ? sp : 1;
        odims[a] = cnt;
    }
    qcal__move_strides(r, x->dims, ist);
    qcal__move_strides(r, odims, ost);
    for (int k = 0; k < r; k++) {
        sst[k] = ist[k] * step[k];
        if (odims[k] > 0)
            src_off += begin[k] * ist[k];
    }
    plan = calloc(1, sizeof *plan);
    if (!plan)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = plan;
    qcal__copy_plan_init(plan, r, odims, ost, sst, esz, 0, src_off);
    return qcal__tensor_set_shape(n->out[0], x->dtype, r, odims, err);
}

/* ---- Pad ---- */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

typedef struct pad_params {
    int rank, mode;
    size_t esz;
    unsigned char value[16]; /* the constant of opsets < 11 in the data's dtype */
    int64_t in_st[QCAL_MAX_RANK];
    int64_t out_dims[QCAL_MAX_RANK];
    int64_t map_off[QCAL_MAX_RANK]; /* start of axis k's map in maps */
    int64_t maps[];                  /* output coordinate -> input coordinate, -1: constant */
} pad_params;

/* Source coordinate of i (may be outside [0, d)) for reflect and edge modes; d > 0. The
 * reflection is periodic with period 2(d - 1), which is what repeated mirroring gives. */
static int64_t pad_source(int mode, int64_t i, int64_t d)
{
    if (mode == PAD_WRAP) {
        int64_t m = i % d;
        return m < 0 ? m + d : m;
    }
    if (mode == PAD_EDGE || d == 1)
        return i < 0 ? 0 : (i >= d ? d - 1 : i);
    int64_t period = 2 * (d - 1), m = i % period;
    if (m < 0)
        m += period;
    return m >= d ? period - m : m;
}

/*
 * ONNX Pad-1 ('paddings' attribute), Pad-2 ('pads' and 'value' attributes), Pad-11/13 (pads
 * input, optional constant_value input read at run time), Pad-18 (optional axes input: pads
 * then has 2 values per listed axis) and Pad-19 (mode wrap). Modes constant, reflect, edge and
 * wrap; negative pads crop.
 */
qcal_status qcal__pad_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    const char *mode = qcal__attr_str(n, "mode", "constant");
    int64_t pads[2 * QCAL_MAX_RANK], odims[QCAL_MAX_RANK], total = 0, nout;
    size_t np = 0, esz = 0;
    pad_params *p;
    qcal_status st;
    int r, m;

    st = qcal__check_inputs(n, n->opset < 11 ? 1 : 2, n->opset < 11 ? 1 : n->opset < 18 ? 3 : 4,
                            err);
    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    x = n->in[0];
    r = x->rank;
    esz = qcal_dtype_size(x->dtype);
    if (esz == 0 || esz > sizeof p->value)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "dtype %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (strcmp(mode, "constant") == 0)
        m = PAD_CONSTANT;
    else if (strcmp(mode, "reflect") == 0)
        m = PAD_REFLECT;
    else if (strcmp(mode, "edge") == 0)
        m = PAD_EDGE;
    else if (strcmp(mode, "wrap") == 0 && n->opset >= 19)
        m = PAD_WRAP;
    else
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "mode '%s' is not supported", mode);
    if (n->opset < 11) {
        const int64_t *a = NULL;
        np = qcal__attr_ints(n, n->opset < 2 ? "paddings" : "pads", &a);
        if (np > 2 * QCAL_MAX_RANK)
            return qcal__node_error(err, n, QCAL_E_INVALID, "%zu pads for rank %d", np, r);
        if (np)
            memcpy(pads, a, np * sizeof *a);
    } else {
        const qcal__tensor *cv = qcal__in(n, 2);
        if ((st = qcal__const_ints(n, 1, pads, 2 * QCAL_MAX_RANK, &np, err)) != QCAL_OK)
            return st;
        if (cv && cv->dtype != x->dtype)
            return qcal__node_error(err, n, QCAL_E_INVALID, "constant_value is %s, data is %s",
                                    qcal_dtype_name(cv->dtype), qcal_dtype_name(x->dtype));
        if (qcal__in(n, 3)) { /* Pad-18 axes: scatter the given pads into a full list */
            int64_t axes[QCAL_MAX_RANK], given[2 * QCAL_MAX_RANK];
            bool seen[QCAL_MAX_RANK] = { false };
            size_t na = 0;
            if ((st = qcal__const_ints(n, 3, axes, QCAL_MAX_RANK, &na, err)) != QCAL_OK)
                return st;
            if (np != 2 * na)
                return qcal__node_error(err, n, QCAL_E_INVALID, "%zu pads for %zu axes", np,
                                        na);
            memcpy(given, pads, np * sizeof *pads);
            for (int k = 0; k < 2 * r; k++)
                pads[k] = 0;
            for (size_t k = 0; k < na; k++) {
                int a;
                if ((st = qcal__norm_axis(n, axes[k], r, &a, err)) != QCAL_OK)
                    return st;
                if (seen[a])
                    return qcal__node_error(err, n, QCAL_E_INVALID, "axis %d is listed twice",
                                            a);
                seen[a] = true;
                pads[a] = given[k];
                pads[a + r] = given[k + na];
            }
            np = 2 * (size_t)r;
        }
    }
    if (np != 2 * (size_t)r)
        return qcal__node_error(err, n, QCAL_E_INVALID, "%zu pads for rank %d (expected %d)",
                                np, r, 2 * r);
    for (int k = 0; k < r; k++) {
        if ((st = qcal__add_i64(n, "pads", x->dims[k], pads[k], &odims[k], err)) != QCAL_OK ||
            (st = qcal__add_i64(n, "pads", odims[k], pads[k + r], &odims[k], err)) != QCAL_OK)
            return st;
        if (odims[k] < 0)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "pads crop axis %d below size 0", k);
        if (m != PAD_CONSTANT && x->dims[k] == 0 && odims[k] > 0)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "cannot %s-pad empty axis %d", mode,
                                    k);
        if ((st = qcal__add_i64(n, "pads", total, odims[k], &total, err)) != QCAL_OK)
            return st;
    }
    if ((st = qcal__dims_product(n, "pads", r, odims, &nout, err)) != QCAL_OK)
        return st;
    if ((uint64_t)total > (SIZE_MAX - sizeof *p) / sizeof p->maps[0])
        return qcal__node_error(err, n, QCAL_E_SHAPE, "pads: output too large");
    p = calloc(1, sizeof *p + (size_t)total * sizeof p->maps[0]);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->rank = r;
    p->mode = m;
    p->esz = esz;
    if (n->opset < 11 && qcal__cast_supported(x->dtype)) {
        float v = qcal__attr_float(n, "value", 0.0f);
        qcal__cast_elem(p->value, x->dtype, &v, QCAL_DT_FLOAT);
    }
    qcal__move_strides(r, x->dims, p->in_st);
    total = 0;
    for (int k = 0; k < r; k++) {
        p->out_dims[k] = odims[k];
        p->map_off[k] = total;
        for (int64_t o = 0; o < odims[k]; o++) {
            int64_t i = o - pads[k];
            if (i < 0 || i >= x->dims[k])
                i = m == PAD_CONSTANT ? -1 : pad_source(m, i, x->dims[k]);
            p->maps[total + o] = i;
        }
        total += odims[k];
    }
    return qcal__tensor_set_shape(n->out[0], x->dtype, r, odims, err);
}

static inline void copy_elem(unsigned char *d, const unsigned char *s, size_t esz)
{
    switch (esz) {
    case 1: *d = *s; break;
    case 2: memcpy(d, s, 2); break;
    case 4: memcpy(d, s, 4); break;
    case 8: memcpy(d, s, 8); break;
    default: memcpy(d, s, esz); break;
    }
}

/* Walks the output row by row (all axes but the last); rows whose outer coordinates map to the
 * constant are filled, others gather their elements through the last axis' map. */
void qcal__pad_run(const qcal__node *n, void *scratch)
{
    const pad_params *p = n->params;
    const qcal__tensor *cv = qcal__in(n, 2);
    const unsigned char *src = n->in[0]->data, *val = p->value;
    unsigned char *dst = n->out[0]->data;
    int64_t idx[QCAL_MAX_RANK] = { 0 };
    const int r = p->rank;
    const size_t esz = p->esz;
    int64_t row = 0, len;
    const int64_t *last;

    (void)scratch;
    if (n->opset >= 11 && cv && cv->nelem > 0)
        val = cv->data;
    if (r == 0) {
        memcpy(dst, src, esz);
        return;
    }
    len = p->out_dims[r - 1];
    last = p->maps + p->map_off[r - 1];
    for (int k = 0; k < r; k++)
        if (p->out_dims[k] == 0)
            return;
    for (;;) {
        unsigned char *d = dst + (size_t)(row * len) * esz;
        int64_t base = 0;
        bool fill = false;
        int k;
        for (k = 0; k < r - 1; k++) {
            int64_t i = p->maps[p->map_off[k] + idx[k]];
            if (i < 0) {
                fill = true;
                break;
            }
            base += i * p->in_st[k];
        }
        for (int64_t j = 0; j < len; j++) {
            int64_t i = fill ? -1 : last[j];
            copy_elem(d + (size_t)j * esz, i < 0 ? val : src + (size_t)(base + i) * esz, esz);
        }
        row++;
        for (k = r - 2; k >= 0; k--) {
            if (++idx[k] < p->out_dims[k])
                break;
            idx[k] = 0;
        }
        if (k < 0)
            return;
    }
}
