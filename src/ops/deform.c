/*
 * DeformConv (ONNX -19, -22 types): a grouped convolution whose kernel taps are moved by
 * per-position offsets and scaled by an optional mask. Each tap samples the input with N-linear
 * interpolation at its (fractional) pixel position, zero outside the image, as the ONNX
 * reference (GridSample with align_corners on pixel coordinates) does.
 *
 * Per output position the sampled, masked taps of every input channel are gathered into a
 * column (scratch) and multiplied with the weights, so each tap is sampled once, not once per
 * output channel.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/grid.h"
#include "ops/ops.h"

typedef struct deform_params {
    int nd;
    int64_t group, ogroup;
    int64_t k[QCAL_MAX_RANK], dil[QCAL_MAX_RANK], pad[QCAL_MAX_RANK], str[QCAL_MAX_RANK];
    int64_t in[QCAL_MAX_RANK], out[QCAL_MAX_RANK], ist[QCAL_MAX_RANK];
    size_t K, npos, plane; /* kernel taps, output positions, input plane elements */
    size_t taps;           /* 2^nd interpolation taps per sample */
} deform_params;

/* Checks that t (if present) has the given dims; what names it. */
static qcal_status want_dims(const qcal__node *n, const qcal__tensor *t, const char *what,
                             int rank, const int64_t *dims, qcal_error *err)
{
    bool ok = t->rank == rank && t->dtype == QCAL_DT_FLOAT;

    for (int i = 0; ok && i < rank; i++)
        ok = t->dims[i] == dims[i];
    if (!ok)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "%s '%s' must be float32 of %d dims "
                                "matching X, W and the output", what, t->name, rank);
    return QCAL_OK;
}

static qcal_status deform_parse(qcal__node *n, deform_params *p, qcal_error *err)
{
    const qcal__tensor *x = n->in[0], *w = n->in[1];
    const size_t nd = (size_t)p->nd;
    int64_t pads[2 * QCAL_MAX_RANK], ks[QCAL_MAX_RANK];
    const int64_t *kattr = NULL;
    const size_t nk = qcal__attr_ints(n, "kernel_shape", &kattr);
    qcal_status st;

    if ((st = qcal__attr_dims(n, "dilations", nd, 1, 1, p->dil, err)) != QCAL_OK ||
        (st = qcal__attr_dims(n, "strides", nd, 1, 1, p->str, err)) != QCAL_OK ||
        (st = qcal__attr_dims(n, "pads", 2 * nd, 0, 0, pads, err)) != QCAL_OK)
        return st;
    p->group = qcal__attr_int(n, "group", 1);
    p->ogroup = qcal__attr_int(n, "offset_group", 1);
    if (p->group < 1 || p->ogroup < 1 || x->dims[1] % p->group != 0 ||
        x->dims[1] % p->ogroup != 0 || w->dims[0] % p->group != 0 ||
        w->dims[1] * p->group != x->dims[1])
        return qcal__node_error(err, n, QCAL_E_SHAPE, "group %lld / offset_group %lld do not "
                                "fit %lld input and %lld output channels", (long long)p->group,
                                (long long)p->ogroup, (long long)x->dims[1],
                                (long long)w->dims[0]);
    p->K = 1;
    for (size_t i = 0; i < nd; i++) {
        int64_t span;
        ks[i] = w->dims[2 + i];
        if (nk && (nk != nd || kattr[i] != ks[i]))
            return qcal__node_error(err, n, QCAL_E_SHAPE, "kernel_shape does not match W");
        if (ks[i] < 1 || x->dims[2 + i] < 1)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "empty kernel or input dim %zu", i);
        p->k[i] = ks[i];
        p->pad[i] = pads[i];
        p->in[i] = x->dims[2 + i];
        /* Dims of shaped tensors and attributes <= 2^40: the sums and products fit int64. */
        span = p->dil[i] * (ks[i] - 1) + 1;
        if (p->in[i] + pads[i] + pads[nd + i] < span)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "kernel dim %zu exceeds the padded "
                                    "input", i);
        p->out[i] = (p->in[i] + pads[i] + pads[nd + i] - span) / p->str[i] + 1;
        p->K *= (size_t)ks[i];
    }
    return QCAL_OK;
}

static qcal_status deform_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x, *w;
    int64_t odims[QCAL_MAX_RANK], want[QCAL_MAX_RANK];
    deform_params *p;
    size_t col, bytes;
    qcal_status st = qcal__check_inputs(n, 3, 5, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    x = n->in[0];
    w = n->in[1];
    if (x->dtype != QCAL_DT_FLOAT || w->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "X and W must be float32");
    if (x->rank < 3 || w->rank != x->rank)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "X (%d-D) and W (%d-D) must have the "
                                "same rank >= 3", x->rank, w->rank);
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->nd = x->rank - 2;
    if ((st = deform_parse(n, p, err)) != QCAL_OK)
        return st;
    /* offset [N, og * K * nd, out...], mask [N, og * K, out...], B [oc]. */
    want[0] = x->dims[0];
    want[1] = p->ogroup * (int64_t)p->K * p->nd;
    memcpy(want + 2, p->out, (size_t)p->nd * sizeof want[0]);
    if ((st = want_dims(n, n->in[2], "offset", x->rank, want, err)) != QCAL_OK)
        return st;
    want[1] = p->ogroup * (int64_t)p->K;
    if (qcal__in(n, 4) && (st = want_dims(n, n->in[4], "mask", x->rank, want, err)) != QCAL_OK)
        return st;
    if (qcal__in(n, 3) && (st = want_dims(n, n->in[3], "B", 1, w->dims, err)) != QCAL_OK)
        return st;
    p->npos = qcal__shape_nelem(p->nd, p->out);
    p->plane = qcal__shape_nelem(p->nd, p->in);
    qcal__strides(p->nd, p->in, p->ist);
    p->taps = (size_t)1 << p->nd;
    /* Scratch: the column [C_in, K] of one output position, then the taps of one sample. */
    if (__builtin_mul_overflow((size_t)x->dims[1], p->K, &col) ||
        __builtin_mul_overflow(col, sizeof(float), &col) ||
        __builtin_add_overflow(col, p->taps * (sizeof(size_t) + sizeof(float)), &bytes))
        return qcal__node_error(err, n, QCAL_E_SHAPE, "column buffer size overflows");
    n->scratch = bytes;
    odims[0] = x->dims[0];
    odims[1] = w->dims[0];
    memcpy(odims + 2, p->out, (size_t)p->nd * sizeof odims[0]);
    return qcal__tensor_set_shape(n->out[0], QCAL_DT_FLOAT, x->rank, odims, err);
}

/* Fills col[c * K + k] for every input channel c and kernel tap k at output position q. */
static void deform_column(const deform_params *p, const float *x, const float *off,
                          const float *mask, size_t q, int64_t C, float *col, size_t *toff,
                          float *twt)
{
    const int64_t cpg = C / p->ogroup; /* channels per offset group */
    int64_t o[QCAL_MAX_RANK], kk[QCAL_MAX_RANK] = { 0 };
    size_t r = q;

    for (int i = p->nd - 1; i >= 0; i--) {
        o[i] = (int64_t)(r % (size_t)p->out[i]);
        r /= (size_t)p->out[i];
    }
    for (size_t k = 0; k < p->K; k++) {
        for (int64_t g = 0; g < p->ogroup; g++) {
            float px[QCAL_MAX_RANK];
            const size_t base = ((size_t)g * p->K + k) * (size_t)p->nd;
            const float m = mask ? mask[((size_t)g * p->K + k) * p->npos + q] : 1.0f;
            size_t kept;
            for (int i = 0; i < p->nd; i++)
                px[i] = (float)(o[i] * p->str[i] - p->pad[i] + kk[i] * p->dil[i]) +
                        off[(base + (size_t)i) * p->npos + q];
            kept = qcal__grid_point_taps(p->nd, p->in, p->ist, px, QCAL__GRID_LINEAR,
                                         QCAL__PAD_ZEROS, true, toff, twt);
            for (int64_t c = g * cpg; c < (g + 1) * cpg; c++) {
                const float *plane = x + (size_t)c * p->plane;
                float v = 0.0f;
                for (size_t t = 0; t < kept; t++)
                    v += twt[t] * plane[toff[t]];
                col[(size_t)c * p->K + k] = v * m;
            }
        }
        for (int i = p->nd - 1; i >= 0; i--) {
            if (++kk[i] < p->k[i])
                break;
            kk[i] = 0;
        }
    }
}

static void deform_run(const qcal__node *n, void *scratch)
{
    const deform_params *p = n->params;
    const qcal__tensor *x = n->in[0], *w = n->in[1];
    const qcal__tensor *b = qcal__in(n, 3), *mk = qcal__in(n, 4);
    const int64_t N = x->dims[0], C = x->dims[1], OC = w->dims[0];
    const int64_t cin = C / p->group, cout = OC / p->group;
    const float *wt = w->data;
    float *col = scratch;
    size_t *toff = (size_t *)((unsigned char *)scratch + (size_t)C * p->K * sizeof(float));
    float *twt = (float *)(toff + p->taps);
    float *dst = n->out[0]->data;

    for (int64_t bn = 0; bn < N; bn++) {
        const float *xs = (const float *)x->data + (size_t)bn * (size_t)C * p->plane;
        const float *off = (const float *)n->in[2]->data +
                           (size_t)bn * n->in[2]->nelem / (size_t)N;
        const float *mask = mk ? (const float *)mk->data + (size_t)bn * mk->nelem / (size_t)N
                               : NULL;
        float *y = dst + (size_t)bn * (size_t)OC * p->npos;
        for (size_t q = 0; q < p->npos; q++) {
            deform_column(p, xs, off, mask, q, C, col, toff, twt);
            for (int64_t oc = 0; oc < OC; oc++) {
                const int64_t g = oc / cout;
                const float *wr = wt + (size_t)oc * (size_t)cin * p->K;
                const float *cr = col + (size_t)(g * cin) * p->K;
                float acc = 0.0f;
                for (size_t j = 0; j < (size_t)cin * p->K; j++)
                    acc += wr[j] * cr[j];
                y[(size_t)oc * p->npos + q] = acc + (b ? ((const float *)b->data)[oc] : 0.0f);
            }
        }
    }
}

const qcal__op qcal__ops_deform[] = {
    { "DeformConv", 19, QCAL__OPSET_LAST, deform_infer, deform_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
