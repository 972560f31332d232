/*
 * Broadcast plans for the binary family: shape rules (numpy, and the broadcast/axis attributes of
 * opsets 1-6), the collapsed iteration plan, and the generic run() of multi-input element-wise
 * nodes. See binary_impl.h.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/binary_impl.h"

void qcal__bcast_init(qcal__bcast *bc, int rank, const int64_t *dims, int n_in, const int *ranks,
                      const int64_t *const *in_dims)
{
    int64_t st[QCAL__BC_MAX_IN][QCAL_MAX_RANK];
    int r = 0;

    memset(bc, 0, sizeof *bc);
    bc->n_in = n_in;
    /* Full-rank strides: contiguous strides of each input, 0 where it broadcasts. */
    for (int k = 0; k < n_in; k++) {
        int64_t s = 1;
        for (int d = rank - 1; d >= 0; d--) {
            int id = d - (rank - ranks[k]);
            int64_t dk = id >= 0 ? in_dims[k][id] : 1;
            st[k][d] = (dk == 1) ? 0 : s;
            s *= dk;
        }
    }
    /* Drop unit dims, merge a dim into the previous one when every input walks both as one. */
    for (int d = 0; d < rank; d++) {
        bool merge = r > 0;

        if (dims[d] == 1)
            continue;
        for (int k = 0; k < n_in && merge; k++)
            if (bc->strides[k][r - 1] != st[k][d] * dims[d])
                merge = false;
        if (merge) {
            bc->dims[r - 1] *= dims[d];
            for (int k = 0; k < n_in; k++)
                bc->strides[k][r - 1] = st[k][d];
        } else {
            bc->dims[r] = dims[d];
            for (int k = 0; k < n_in; k++)
                bc->strides[k][r] = st[k][d];
            r++;
        }
    }
    if (r == 0) { /* scalar output: one row of one element, every stride 0 */
        bc->dims[0] = 1;
        r = 1;
    }
    bc->rank = r;
    bc->nelem = 1;
    for (int d = 0; d < r; d++)
        bc->nelem *= (size_t)bc->dims[d];
}

/*
 * Walks the rows of the plan (all dims but the innermost) with an odometer and calls fn once per
 * row. The innermost strides are 0 or 1 by construction. Does not allocate.
 */
void qcal__bcast_run(const qcal__bcast *bc, qcal__row_fn fn, void *o, size_t osz,
                     const void *const *in, const size_t *isz)
{
    const int r = bc->rank;
    const size_t inner = (size_t)bc->dims[r - 1];
    const void *p[QCAL__BC_MAX_IN] = { NULL, NULL, NULL };
    int64_t idx[QCAL_MAX_RANK] = { 0 };
    int64_t off[QCAL__BC_MAX_IN] = { 0, 0, 0 };
    int s[QCAL__BC_MAX_IN] = { 0, 0, 0 };
    char *po = o;
    size_t rows;

    if (bc->nelem == 0)
        return;
    rows = bc->nelem / inner;
    for (int k = 0; k < bc->n_in; k++)
        s[k] = (int)bc->strides[k][r - 1];
    for (size_t row = 0; row < rows; row++) {
        for (int k = 0; k < bc->n_in; k++)
            p[k] = (const char *)in[k] + (size_t)off[k] * isz[k];
        fn(po, p[0], p[1], p[2], inner, s[0], s[1], s[2]);
        po += inner * osz;
        for (int d = r - 2; d >= 0; d--) {
            for (int k = 0; k < bc->n_in; k++)
                off[k] += bc->strides[k][d];
            if (++idx[d] < bc->dims[d])
                break;
            for (int k = 0; k < bc->n_in; k++)
                off[k] -= bc->strides[k][d] * bc->dims[d];
            idx[d] = 0;
        }
    }
}

qcal_status qcal__bin_check_out(const qcal__node *n, qcal_error *err)
{
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    return QCAL_OK;
}

qcal_status qcal__bin_setup_shapes(qcal__node *n, qcal__row_fn fn, qcal_dtype out_dt, int n_in,
                                   const int *ranks, const int64_t *const *dims, qcal_error *err)
{
    int64_t out[QCAL_MAX_RANK], tmp[QCAL_MAX_RANK];
    int rank = 0;
    qcal__bin_params *p;
    qcal_status st = qcal__bin_check_out(n, err);

    if (st != QCAL_OK)
        return st;
    for (int k = 0; k < n_in; k++) {
        if (ranks[k] > QCAL_MAX_RANK)
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input %d has rank %d", k,
                                    ranks[k]);
        st = qcal__broadcast(n, rank, out, ranks[k], dims[k], &rank, tmp, err);
        if (st != QCAL_OK)
            return st;
        memcpy(out, tmp, (size_t)rank * sizeof out[0]);
    }
    st = qcal__tensor_set_shape(n->out[0], out_dt, rank, out, err);
    if (st != QCAL_OK)
        return st;
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->fn = fn;
    qcal__bcast_init(&p->bc, rank, out, n_in, ranks, dims);
    n->params = p;
    n->scratch = 0;
    return QCAL_OK;
}

/*
 * Legacy (opsets 1-6) shape of B: with broadcast=1, B's dims are placed at `axis` of A's (default:
 * as a suffix) and padded with 1s to A's rank, so numpy rules then give A's shape. B dims must
 * equal A's or be 1 (the spec asks for equality; exporters relied on 1s broadcasting too).
 */
static qcal_status legacy_b_shape(const qcal__node *n, const qcal__tensor *a,
                                  const qcal__tensor *b, int64_t *bd, qcal_error *err)
{
    int64_t axis = qcal__attr_int(n, "axis", a->rank - b->rank);

    if (axis < 0)
        axis += a->rank;
    if (b->rank > a->rank || axis < 0 || axis + b->rank > a->rank)
        return qcal__node_error(err, n, QCAL_E_SHAPE,
                                "legacy broadcast: B of rank %d does not fit A of rank %d at "
                                "axis %lld", b->rank, a->rank, (long long)axis);
    for (int d = 0; d < a->rank; d++)
        bd[d] = 1;
    for (int d = 0; d < b->rank; d++) {
        int64_t da = a->dims[axis + d], db = b->dims[d];
        if (db != da && db != 1)
            return qcal__node_error(err, n, QCAL_E_SHAPE,
                                    "legacy broadcast: B dim %d is %lld, A dim %lld is %lld", d,
                                    (long long)db, (long long)(axis + d), (long long)da);
        bd[axis + d] = db;
    }
    return QCAL_OK;
}

qcal_status qcal__bin_setup(qcal__node *n, qcal__row_fn fn, qcal_dtype out_dt, qcal_error *err)
{
    const qcal__tensor *a = n->in[0], *b = n->in[1];
    int64_t bd[QCAL_MAX_RANK];
    int ranks[2] = { a->rank, b->rank };
    const int64_t *dims[2] = { a->dims, b->dims };

    /* Opsets 1-6: broadcast=0 asks for equal shapes, which numpy rules accept as well. */
    if (n->opset < 7 && qcal__attr_int(n, "broadcast", 0) != 0) {
        qcal_status st = legacy_b_shape(n, a, b, bd, err);
        if (st != QCAL_OK)
            return st;
        ranks[1] = a->rank;
        dims[1] = bd;
    }
    return qcal__bin_setup_shapes(n, fn, out_dt, 2, ranks, dims, err);
}

void qcal__bin_run(const qcal__node *n, void *scratch)
{
    const qcal__bin_params *p = n->params;
    const void *in[QCAL__BC_MAX_IN] = { NULL, NULL, NULL };
    size_t isz[QCAL__BC_MAX_IN] = { 0, 0, 0 };

    (void)scratch;
    for (int k = 0; k < p->bc.n_in; k++) {
        in[k] = n->in[k]->data;
        isz[k] = qcal_dtype_size(n->in[k]->dtype);
    }
    qcal__bcast_run(&p->bc, p->fn, n->out[0]->data, qcal_dtype_size(n->out[0]->dtype), in, isz);
}
