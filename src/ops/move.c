/*
 * Data-movement operators: the planned strided copy they share, and Transpose, Concat, Split,
 * Expand and Tile. Slice and Pad live in move_slice.c; Gather, GatherElements, DepthToSpace and
 * SpaceToDepth in move_gather.c. Every kernel copies elements of qcal_dtype_size() bytes, so all
 * fixed-size dtypes work (float32, int64, bool, ...).
 */
#include <stdlib.h>
#include <string.h>

#include "ops/move.h"

/* ---- the strided copy ---- */

int64_t qcal__move_strides(int rank, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;

    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
    return s;
}

void qcal__copy_plan_init(qcal__copy_plan *p, int rank, const int64_t *dims,
                          const int64_t *dst_st, const int64_t *src_st, size_t esz,
                          int64_t dst_off, int64_t src_off)
{
    int r = 0;

    memset(p, 0, sizeof *p);
    p->esz = esz;
    p->dst_off = dst_off;
    p->src_off = src_off;
    for (int k = 0; k < rank; k++) {
        if (dims[k] == 0) {
            p->empty = true;
            p->rank = 0;
            return;
        }
        if (dims[k] == 1)
            continue;
        /* The kept outer dim and dim k are one dim when the outer stride spans dim k exactly,
         * in the source and in the destination. */
        if (r > 0 && p->src_st[r - 1] == src_st[k] * dims[k] &&
            p->dst_st[r - 1] == dst_st[k] * dims[k]) {
            p->dims[r - 1] *= dims[k];
            p->src_st[r - 1] = src_st[k];
            p->dst_st[r - 1] = dst_st[k];
            continue;
        }
        p->dims[r] = dims[k];
        p->src_st[r] = src_st[k];
        p->dst_st[r] = dst_st[k];
        r++;
    }
    p->rank = r;
}

/* Copies n elements of esz bytes with byte strides ds/ss. The fixed-size memcpy calls compile to
 * plain loads and stores without breaking strict aliasing. */
static void copy_strided(unsigned char *d, int64_t ds, const unsigned char *s, int64_t ss,
                         int64_t n, size_t esz)
{
    switch (esz) {
    case 1:
        for (int64_t i = 0; i < n; i++)
            d[i * ds] = s[i * ss];
        break;
    case 2:
        for (int64_t i = 0; i < n; i++)
            memcpy(d + i * ds, s + i * ss, 2);
        break;
    case 4:
        for (int64_t i = 0; i < n; i++)
            memcpy(d + i * ds, s + i * ss, 4);
        break;
    case 8:
        for (int64_t i = 0; i < n; i++)
            memcpy(d + i * ds, s + i * ss, 8);
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy(d + i * ds, s + i * ss, esz);
        break;
    }
}

/*
 * Walks the outer dims with an odometer and copies the innermost dim as one memcpy when it is
 * contiguous on both sides, else element by element. Offsets are kept as integers (bytes) so no
 * pointer ever leaves its buffer.
 */
void qcal__copy_run(const qcal__copy_plan *p, void *dst, const void *src)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    const int64_t esz = (int64_t)p->esz;
    int64_t idx[QCAL__COPY_MAX_RANK] = { 0 };
    int64_t so = p->src_off * esz, dof = p->dst_off * esz;
    int in = p->rank - 1;
    int64_t len, ss, ds;

    if (p->empty)
        return;
    if (p->rank == 0) {
        memcpy(d + dof, s + so, p->esz);
        return;
    }
    len = p->dims[in];
    ss = p->src_st[in] * esz;
    ds = p->dst_st[in] * esz;
    for (;;) {
        int k;
        if (ss == esz && ds == esz)
            memcpy(d + dof, s + so, (size_t)(len * esz));
        else
            copy_strided(d + dof, ds, s + so, ss, len, p->esz);
        for (k = in - 1; k >= 0; k--) {
            so += p->src_st[k] * esz;
            dof += p->dst_st[k] * esz;
            if (++idx[k] < p->dims[k])
                break;
            so -= p->src_st[k] * esz * p->dims[k];
            dof -= p->dst_st[k] * esz * p->dims[k];
            idx[k] = 0;
        }
        if (k < 0)
            return;
    }
}

void qcal__plan_run(const qcal__node *n, void *scratch)
{
    (void)scratch;
    qcal__copy_run(n->params, n->out[0]->data, n->in[0]->data);
}

/* Element size of a tensor's dtype, failing for types qcal cannot hold (string). */
static qcal_status elem_size(const qcal__node *n, const qcal__tensor *t, size_t *esz,
                             qcal_error *err)
{
    *esz = qcal_dtype_size(t->dtype);
    if (*esz == 0)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "tensor '%s': dtype %s is not "
                                "supported", t->name, qcal_dtype_name(t->dtype));
    return QCAL_OK;
}

/* Checks input count and that output 0 is present. */
static qcal_status check_io(const qcal__node *n, int lo, int hi, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, lo, hi, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    return QCAL_OK;
}

/* Allocates count plans into n->params (freed by the graph). */
static qcal_status alloc_plans(qcal__node *n, size_t count, qcal__copy_plan **out,
                               qcal_error *err)
{
    *out = calloc(count ? count : 1, sizeof **out);
    if (!*out)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = *out;
    return QCAL_OK;
}

/* ---- Transpose (ONNX Transpose-1/13): perm defaults to the reversed axes ---- */

static qcal_status transpose_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    const int64_t *perm = NULL;
    int64_t odims[QCAL_MAX_RANK], ist[QCAL_MAX_RANK], ost[QCAL_MAX_RANK], sst[QCAL_MAX_RANK];
    int p[QCAL_MAX_RANK] = { 0 };
    bool seen[QCAL_MAX_RANK] = { false };
    qcal__copy_plan *plan;
    size_t esz = 0, np;
    qcal_status st;
    int r;

    if ((st = check_io(n, 1, 1, err)) != QCAL_OK)
        return st;
    x = n->in[0];
    r = x->rank;
    if ((st = elem_size(n, x, &esz, err)) != QCAL_OK)
        return st;
    np = qcal__attr_ints(n, "perm", &perm);
    if (perm && np != (size_t)r)
        return qcal__node_error(err, n, QCAL_E_INVALID, "perm has %zu entries for rank %d", np,
                                r);
    for (int k = 0; k < r; k++) {
        int64_t a = perm ? perm[k] : r - 1 - k;
        if (a < 0 || a >= r || seen[a])
            return qcal__node_error(err, n, QCAL_E_INVALID, "perm is not a permutation of "
                                    "0..%d", r - 1);
        seen[a] = true;
        p[k] = (int)a;
    }
    qcal__move_strides(r, x->dims, ist);
    for (int k = 0; k < r; k++) {
        odims[k] = x->dims[p[k]];
        sst[k] = ist[p[k]];
    }
    qcal__move_strides(r, odims, ost);
    if ((st = alloc_plans(n, 1, &plan, err)) != QCAL_OK)
        return st;
    qcal__copy_plan_init(plan, r, odims, ost, sst, esz, 0, 0);
    return qcal__tensor_set_shape(n->out[0], x->dtype, r, odims, err);
}

/* ---- Concat (ONNX Concat-1/4/11/13): axis defaults to 1 before opset 4 ---- */

static qcal_status concat_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x0;
    const qcal__attr *a = qcal__attr_find(n, "axis");
    int64_t odims[QCAL_MAX_RANK], ost[QCAL_MAX_RANK], ist[QCAL_MAX_RANK], off = 0;
    qcal__copy_plan *plans;
    size_t esz = 0;
    qcal_status st;
    int axis, r;

    if ((st = check_io(n, 1, 1 << 20, err)) != QCAL_OK)
        return st;
    for (int i = 0; i < n->n_in; i++)
        if (!n->in[i])
            return qcal__node_error(err, n, QCAL_E_INVALID, "input %d is missing", i);
    x0 = n->in[0];
    r = x0->rank;
    if (!a && n->opset >= 4)
        return qcal__node_error(err, n, QCAL_E_INVALID, "attribute 'axis' is required");
    if ((st = qcal__norm_axis(n, a ? qcal__attr_int(n, "axis", 1) : 1, r, &axis, err)) !=
        QCAL_OK)
        return st;
    if (r == 0)
        return qcal__node_error(err, n, QCAL_E_INVALID, "cannot concatenate scalars");
    if ((st = elem_size(n, x0, &esz, err)) != QCAL_OK)
        return st;
    memcpy(odims, x0->dims, sizeof odims);
    odims[axis] = 0;
    for (int i = 0; i < n->n_in; i++) {
        const qcal__tensor *x = n->in[i];
        if (x->dtype != x0->dtype || x->rank != r)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "input %d ('%s') differs in dtype or "
                                    "rank from input 0", i, x->name);
        for (int k = 0; k < r; k++)
            if (k != axis && x->dims[k] != x0->dims[k])
                return qcal__node_error(err, n, QCAL_E_SHAPE, "input %d ('%s'): dim %d is %lld, "
                                        "input 0 has %lld", i, x->name, k,
                                        (long long)x->dims[k], (long long)x0->dims[k]);
        if ((st = qcal__add_i64(n, "concatenated dim", odims[axis], x->dims[axis],
                                &odims[axis], err)) != QCAL_OK)
            return st;
    }
    if ((st = qcal__dims_product(n, "concatenated shape", r, odims, &(int64_t){ 0 }, err)) !=
        QCAL_OK)
        return st;
    qcal__move_strides(r, odims, ost);
    if ((st = alloc_plans(n, (size_t)n->n_in, &plans, err)) != QCAL_OK)
        return st;
    for (int i = 0; i < n->n_in; i++) {
        const qcal__tensor *x = n->in[i];
        qcal__move_strides(r, x->dims, ist);
        qcal__copy_plan_init(&plans[i], r, x->dims, ost, ist, esz, off * ost[axis], 0);
        off += x->dims[axis];
    }
    return qcal__tensor_set_shape(n->out[0], x0->dtype, r, odims, err);
}

static void concat_run(const qcal__node *n, void *scratch)
{
    const qcal__copy_plan *plans = n->params;

    (void)scratch;
    for (int i = 0; i < n->n_in; i++)
        qcal__copy_run(&plans[i], n->out[0]->data, n->in[i]->data);
}

/* ---- Split (ONNX Split-1/2/11/13/18): sizes from the 'split' attribute (< 13) or input 1 (opset
 * 1 and 13+), else equal parts; from 18 'num_outputs' (then the last part may be smaller) ---- */

static qcal_status split_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    int64_t sizes[64], ist[QCAL_MAX_RANK], odims[QCAL_MAX_RANK], ost[QCAL_MAX_RANK], off = 0;
    size_t ns = 0, esz = 0;
    qcal__copy_plan *plans;
    qcal_status st;
    int axis;

    if ((st = check_io(n, 1, 2, err)) != QCAL_OK)
        return st;
    x = n->in[0];
    if (x->rank == 0)
        return qcal__node_error(err, n, QCAL_E_INVALID, "cannot split a scalar");
    if ((st = qcal__norm_axis(n, qcal__attr_int(n, "axis", 0), x->rank, &axis, err)) != QCAL_OK)
        return st;
    if ((st = elem_size(n, x, &esz, err)) != QCAL_OK)
        return st;
    if (n->n_out > 64)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "%d outputs, at most 64 supported",
                                n->n_out);
    if (qcal__in(n, 1) && (n->opset <= 1 || n->opset >= 13)) {
        if ((st = qcal__const_ints(n, 1, sizes, 64, &ns, err)) != QCAL_OK)
            return st;
        if (ns == 0)
            return qcal__node_error(err, n, QCAL_E_INVALID, "input 'split' is empty");
    } else if (n->opset < 13) {
        const int64_t *a = NULL;
        ns = qcal__attr_ints(n, "split", &a);
        if (ns > 64)
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "attribute 'split' has %zu "
                                    "entries, at most 64 supported", ns);
        if (ns)
            memcpy(sizes, a, ns * sizeof *a);
    }
    if (ns) {
        int64_t sum = 0;
        if (ns != (size_t)n->n_out)
            return qcal__node_error(err, n, QCAL_E_INVALID, "split has %zu sizes for %d "
                                    "outputs", ns, n->n_out);
        for (size_t k = 0; k < ns; k++) {
            if (sizes[k] < 0)
                return qcal__node_error(err, n, QCAL_E_INVALID, "negative split size %lld",
                                        (long long)sizes[k]);
            if ((st = qcal__add_i64(n, "sum of split sizes", sum, sizes[k], &sum, err)) !=
                QCAL_OK)
                return st;
        }
        if (sum != x->dims[axis])
            return qcal__node_error(err, n, QCAL_E_SHAPE, "split sizes add up to %lld, dim %d "
                                    "is %lld", (long long)sum, axis, (long long)x->dims[axis]);
    } else if (n->opset >= 18) {
        const qcal__attr *na = qcal__attr_find(n, "num_outputs");
        int64_t d = x->dims[axis], chunk;
        if (!na || na->type != QCAL__A_INT)
            return qcal__node_error(err, n, QCAL_E_INVALID, "needs input 'split' or attribute "
                                    "'num_outputs'");
        if (na->i != n->n_out)
            return qcal__node_error(err, n, QCAL_E_INVALID, "num_outputs is %lld, the node has "
                                    "%d outputs", (long long)na->i, n->n_out);
        if (n->n_out < 1 || d < n->n_out)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "dim %d (%lld) cannot split into %d "
                                    "parts", axis, (long long)d, n->n_out);
        /* ceil(d / n) without overflow; the last part gets the rest (ONNX Split-18). */
        chunk = d / n->n_out + (d % n->n_out != 0);
        for (int k = 0; k < n->n_out; k++) {
            int64_t left = d - chunk * k;
            sizes[k] = left < chunk ? (left > 0 ? left : 0) : chunk;
        }
    } else {
        if (n->n_out < 1 || x->dims[axis] % n->n_out != 0)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "dim %d (%lld) does not split into %d "
                                    "equal parts", axis, (long long)x->dims[axis], n->n_out);
        for (int k = 0; k < n->n_out; k++)
            sizes[k] = x->dims[axis] / n->n_out;
    }
    qcal__move_strides(x->rank, x->dims, ist);
    if ((st = alloc_plans(n, (size_t)n->n_out, &plans, err)) != QCAL_OK)
        return st;
    for (int k = 0; k < n->n_out; k++) {
        memcpy(odims, x->dims, sizeof odims);
        odims[axis] = sizes[k];
        if (n->out[k]) {
            qcal__move_strides(x->rank, odims, ost);
            qcal__copy_plan_init(&plans[k], x->rank, odims, ost, ist, esz, 0, off * ist[axis]);
            if ((st = qcal__tensor_set_shape(n->out[k], x->dtype, x->rank, odims, err)) !=
                QCAL_OK)
                return st;
        }
        off += sizes[k];
    }
    return QCAL_OK;
}

static void split_run(const qcal__node *n, void *scratch)
{
    const qcal__copy_plan *plans = n->params;

    (void)scratch;
    for (int k = 0; k < n->n_out; k++)
        if (n->out[k])
            qcal__copy_run(&plans[k], n->out[k]->data, n->in[0]->data);
}

/* ---- Expand (ONNX Expand-8/13): bidirectional broadcast to the shape input ---- */

static qcal_status expand_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    int64_t shape[QCAL_MAX_RANK], odims[QCAL_MAX_RANK], ost[QCAL_MAX_RANK], ist[QCAL_MAX_RANK];
    int64_t sst[QCAL_MAX_RANK];
    qcal__copy_plan *plan;
    size_t ns = 0, esz = 0;
    qcal_status st;
    int r;

    if ((st = check_io(n, 2, 2, err)) != QCAL_OK)
        return st;
    x = n->in[0];
    if ((st = elem_size(n, x, &esz, err)) != QCAL_OK)
        return st;
    if ((st = qcal__const_ints(n, 1, shape, QCAL_MAX_RANK, &ns, err)) != QCAL_OK)
        return st;
    for (size_t k = 0; k < ns; k++)
        if (shape[k] < 0)
            return qcal__node_error(err, n, QCAL_E_INVALID, "negative dim %lld in shape",
                                    (long long)shape[k]);
    if ((st = qcal__broadcast(n, x->rank, x->dims, (int)ns, shape, &r, odims, err)) != QCAL_OK ||
        (st = qcal__dims_product(n, "shape", r, odims, &(int64_t){ 0 }, err)) != QCAL_OK)
        return st;
    qcal__move_strides(x->rank, x->dims, ist);
    qcal__move_strides(r, odims, ost);
    for (int k = 0; k < r; k++) {
        int j = k - (r - x->rank);
        sst[k] = (j < 0 || x->dims[j] == 1) ? 0 : ist[j];
    }
    if ((st = alloc_plans(n, 1, &plan, err)) != QCAL_OK)
        return st;
    qcal__copy_plan_init(plan, r, odims, ost, sst, esz, 0, 0);
    return qcal__tensor_set_shape(n->out[0], x->dtype, r, odims, err);
}

/*
 * ---- Tile (ONNX Tile-1: tiles and axis inputs; Tile-6/13: repeats input) ----
 * The output is viewed as 2N dims (repeat_k, dim_k) per axis: the source stride of repeat_k is
 * 0, so one strided copy writes all tiles.
 */
static qcal_status tile_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    int64_t rep[QCAL_MAX_RANK], odims[QCAL_MAX_RANK], ost[QCAL_MAX_RANK], ist[QCAL_MAX_RANK];
    int64_t dims2[QCAL__COPY_MAX_RANK], dst2[QCAL__COPY_MAX_RANK], src2[QCAL__COPY_MAX_RANK];
    qcal__copy_plan *plan;
    size_t nr = 0, esz = 0;
    qcal_status st;
    int r;

    if ((st = check_io(n, 2, n->opset < 6 ? 3 : 2, err)) != QCAL_OK)
        return st;
    x = n->in[0];
    r = x->rank;
    if ((st = elem_size(n, x, &esz, err)) != QCAL_OK)
        return st;
    if (n->opset < 6) {
        int64_t tiles, axis64;
        int axis;
        if ((st = qcal__const_ints(n, 1, &tiles, 1, &nr, err)) != QCAL_OK)
            return st;
        if (!qcal__in(n, 2))
            return qcal__node_error(err, n, QCAL_E_INVALID, "input 'axis' is missing");
        if ((st = qcal__const_ints(n, 2, &axis64, 1, &nr, err)) != QCAL_OK)
            return st;
        if ((st = qcal__norm_axis(n, axis64, r, &axis, err)) != QCAL_OK)
            return st;
        for (int k = 0; k < r; k++)
            rep[k] = k == axis ? tiles : 1;
    } else {
        if ((st = qcal__const_ints(n, 1, rep, QCAL_MAX_RANK, &nr, err)) != QCAL_OK)
            return st;
        if (nr != (size_t)r)
            return qcal__node_error(err, n, QCAL_E_INVALID, "repeats has %zu values for rank "
                                    "%d", nr, r);
    }
    for (int k = 0; k < r; k++) {
        if (rep[k] < 0)
            return qcal__node_error(err, n, QCAL_E_INVALID, "negative repeat %lld",
                                    (long long)rep[k]);
        if ((st = qcal__mul_i64(n, "repeats", x->dims[k], rep[k], &odims[k], err)) != QCAL_OK)
            return st;
    }
    if ((st = qcal__dims_product(n, "repeats", r, odims, &(int64_t){ 0 }, err)) != QCAL_OK)
        return st;
    qcal__move_strides(r, x->dims, ist);
    qcal__move_strides(r, odims, ost);
    for (int k = 0; k < r; k++) {
        dims2[2 * k] = rep[k];
        dims2[2 * k + 1] = x->dims[k];
        if ((st = qcal__mul_i64(n, "repeats", x->dims[k], ost[k], &dst2[2 * k], err)) !=
            QCAL_OK)
            return st;
        dst2[2 * k + 1] = ost[k];
        src2[2 * k] = 0;
        src2[2 * k + 1] = ist[k];
    }
    if ((st = qcal__tensor_set_shape(n->out[0], x->dtype, r, odims, err)) != QCAL_OK)
        return st;
    if ((st = alloc_plans(n, 1, &plan, err)) != QCAL_OK)
        return st;
    qcal__copy_plan_init(plan, 2 * r, dims2, dst2, src2, esz, 0, 0);
    return QCAL_OK;
}

/* Value inputs: bit i means input i's value decides the output shape. */
#define V(i) (1u << (i))

const qcal__op qcal__ops_move[] = {
    { "Concat", 1, QCAL__OPSET_LAST, concat_infer, concat_run, 0 },
    { "DepthToSpace", 1, QCAL__OPSET_LAST, qcal__depth_to_space_infer, qcal__plan_run, 0 },
    { "Expand", 8, QCAL__OPSET_LAST, expand_infer, qcal__plan_run, V(1) },
    { "Gather", 1, QCAL__OPSET_LAST, qcal__gather_infer, qcal__gather_run, 0 },
    { "GatherElements", 11, QCAL__OPSET_LAST, qcal__gather_elements_infer,
      qcal__gather_elements_run, 0 },
    { "Pad", 1, 10, qcal__pad_infer, qcal__pad_run, 0 },
    { "Pad", 11, 17, qcal__pad_infer, qcal__pad_run, V(1) },
    { "Pad", 18, 18, qcal__pad_infer, qcal__pad_run, V(1) | V(3) },
    { "Pad", 19, QCAL__OPSET_LAST, qcal__pad_infer, qcal__pad_run, V(1) | V(3) },
    { "Slice", 1, 9, qcal__slice_infer, qcal__plan_run, 0 },
    { "Slice", 10, QCAL__OPSET_LAST, qcal__slice_infer, qcal__plan_run,
      V(1) | V(2) | V(3) | V(4) },
    { "SpaceToDepth", 1, QCAL__OPSET_LAST, qcal__space_to_depth_infer, qcal__plan_run, 0 },
    { "Split", 1, 1, split_infer, split_run, V(1) },
    { "Split", 2, 12, split_infer, split_run, 0 },
    { "Split", 13, 17, split_infer, split_run, V(1) },
    { "Split", 18, QCAL__OPSET_LAST, split_infer, split_run, V(1) },
    { "Tile", 1, 5, tile_infer, qcal__plan_run, V(1) | V(2) },
    { "Tile", 6, QCAL__OPSET_LAST, tile_infer, qcal__plan_run, V(1) },
    { "Transpose", 1, QCAL__OPSET_LAST, transpose_infer, qcal__plan_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
