/*
 * Einsum-12 (ONNX; numpy.einsum semantics), float32 and float64.
 *
 * infer parses the equation into labels: letters, and for "..." one pseudo label per broadcast
 * dimension (right-aligned across operands, as numpy does). Without "->" the output is the
 * ellipsis dimensions followed by the letters used exactly once, in ASCII order. A label's size
 * is the same in every operand or 1 there (broadcast). Spaces are ignored.
 *
 * Two-operand contractions without repeated labels, broadcasting or labels summed within one
 * operand are matrix products: every label is batch (both inputs and output), M (A and output),
 * N (B and output) or K (both inputs, summed). They run as batched GEMMs through gemm.c
 * (qcal__gemm_batch). An operand already laid out as [batch, M, K] or [batch, K, M] (B: [batch,
 * K, N] or [batch, N, K]) is used in place with the matching transpose; otherwise it is first
 * copied into scratch in one of those orders (the one keeping its innermost axis innermost, so
 * the copy reads contiguously), and the product is written straight into Y when Y
 * is [batch, M, N], else into scratch and then permuted into Y. Everything else (one operand,
 * traces and diagonals, three or more operands, broadcasting) runs a reference loop: for each
 * output element in order, the sum over the contracted labels in row-major order of the product
 * of the operands, accumulated in double and rounded once.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

#define EIN_MAX_OPS 8
#define EIN_LETTERS 52
#define EIN_MAXL (EIN_LETTERS + QCAL_MAX_RANK) /* letters, then the ellipsis pseudo labels */

/* A strided copy: dims[rank] walked in row-major order, elements of esz bytes. */
typedef struct ein_copy {
    int rank;
    int64_t dims[EIN_MAXL];
    int64_t src[EIN_MAXL], dst[EIN_MAXL]; /* element strides */
} ein_copy;

typedef struct ein_params {
    qcal_dtype dt;
    int n_ops;
    /* reference loop: output labels (Y's order), then the summed labels */
    int n_out, n_sum;
    int64_t out_dims[EIN_MAXL], sum_dims[EIN_MAXL];
    int64_t out_str[EIN_MAX_OPS][EIN_MAXL], sum_str[EIN_MAX_OPS][EIN_MAXL];
    /* GEMM path */
    bool gemm;
    size_t batch;
    int64_t m, n, k;
    bool ta, tb;           /* transposes of the (possibly packed) operands */
    bool pack_a, pack_b;   /* copy into scratch first (with cp_a, cp_b) */
    bool unpack_y;         /* product into scratch, then cp_y into Y */
    ein_copy cp_a, cp_b, cp_y;
    size_t off_b, off_y;   /* scratch offsets in bytes */
} ein_params;

/* Parsed equation: per operand, the label of each axis; the output's labels. */
typedef struct ein_eq {
    int n_ops;
    int rank[EIN_MAX_OPS];
    int lab[EIN_MAX_OPS][QCAL_MAX_RANK];
    int n_out;
    int out[EIN_MAXL];
    int n_ell; /* ellipsis dimensions (the most any operand has) */
} ein_eq;

static int letter_index(char c)
{
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26; /* ASCII order: upper case first */
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    return -1;
}

/*
 * Parses one term (operand subscripts or the output) from s[0..len): letters and at most one
 * "...". Axes go to lab (max entries); *ell_at gets the position of the ellipsis (-1 if none)
 * and *n the number of letters.
 */
static qcal_status parse_term(const qcal__node *n, const char *s, size_t len, int *lab, int max,
                              int *count, int *ell_at, qcal_error *err)
{
    int c = 0;

    *ell_at = -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ')
            continue;
        if (s[i] == '.') {
            if (*ell_at >= 0 || i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.')
                return qcal__node_error(err, n, QCAL_E_INVALID, "equation: bad ellipsis");
            *ell_at = c;
            i += 2;
            continue;
        }
        if (letter_index(s[i]) < 0)
            return qcal__node_error(err, n, QCAL_E_INVALID, "equation: unexpected '%c'", s[i]);
        if (c >= max)
            return qcal__node_error(err, n, QCAL_E_INVALID, "equation: too many subscripts");
        lab[c++] = letter_index(s[i]);
    }
    *count = c;
    return QCAL_OK;
}

/* Splits the equation, expands the ellipses against the input ranks, derives the output. */
static qcal_status parse_eq(const qcal__node *n, const char *eq, ein_eq *e, qcal_error *err)
{
    const char *arrow = strstr(eq, "->"), *end = arrow ? arrow : eq + strlen(eq);
    const char *s = eq;
    int ell_at[EIN_MAX_OPS], letters[EIN_MAX_OPS], tmp[QCAL_MAX_RANK];
    int uses[EIN_LETTERS] = { 0 };
    qcal_status st;

    memset(e, 0, sizeof *e);
    for (int i = 0;; i++) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *te = comma ? comma : end;
        const qcal__tensor *x;
        int r;
        if (i >= n->n_in)
            return qcal__node_error(err, n, QCAL_E_INVALID, "equation has more terms than the "
                                    "%d inputs", n->n_in);
        x = n->in[i];
        st = parse_term(n, s, (size_t)(te - s), tmp, QCAL_MAX_RANK, &letters[i], &ell_at[i],
                        err);
        if (st != QCAL_OK)
            return st;
        r = x->rank;
        if (letters[i] > r || (ell_at[i] < 0 && letters[i] != r))
            return qcal__node_error(err, n, QCAL_E_SHAPE, "term %d has %d subscripts for rank %d",
                                    i, letters[i], r);
        /* Axis labels: letters before the ellipsis, its dims, the letters after it. */
        {
            int ne = r - letters[i], a = 0;
            for (int j = 0; j < letters[i]; j++) {
                if (j == ell_at[i])
                    for (int q = 0; q < ne; q++)
                        e->lab[i][a++] = -1 - q; /* fixed below: ellipsis dim q of ne */
                e->lab[i][a++] = tmp[j];
                uses[tmp[j]]++;
            }
            if (ell_at[i] == letters[i])
                for (int q = 0; q < ne; q++)
                    e->lab[i][a++] = -1 - q;
            if (ne > e->n_ell)
                e->n_ell = ne;
            e->rank[i] = r;
        }
        e->n_ops = i + 1;
        if (!comma)
            break;
        s = comma + 1;
    }
    if (e->n_ops != n->n_in)
        return qcal__node_error(err, n, QCAL_E_INVALID, "equation has %d terms for %d inputs",
                                e->n_ops, n->n_in);
    /* Right-align the ellipsis dims: dim q of an operand with ne of them is pseudo label
     * n_ell - ne + q. */
    for (int i = 0; i < e->n_ops; i++) {
        int ne = e->rank[i] - letters[i];
        for (int a = 0; a < e->rank[i]; a++)
            if (e->lab[i][a] < 0)
                e->lab[i][a] = EIN_LETTERS + e->n_ell - ne + (-1 - e->lab[i][a]);
    }
    if (arrow) {
        int cnt, at, seen[EIN_LETTERS] = { 0 };
        int olab[EIN_MAXL];
        st = parse_term(n, arrow + 2, strlen(arrow + 2), olab, EIN_LETTERS, &cnt, &at, err);
        if (st != QCAL_OK)
            return st;
        for (int j = 0; j <= cnt; j++) {
            if (j == at)
                for (int q = 0; q < e->n_ell; q++)
                    e->out[e->n_out++] = EIN_LETTERS + q;
            if (j == cnt)
                break;
            if (!uses[olab[j]] || seen[olab[j]]++)
                return qcal__node_error(err, n, QCAL_E_INVALID, "equation: output subscript "
                                        "'%c' is repeated or not in an input",
                                        olab[j] < 26 ? 'A' + olab[j] : 'a' + olab[j] - 26);
            e->out[e->n_out++] = olab[j];
        }
    } else {
        for (int q = 0; q < e->n_ell; q++)
            e->out[e->n_out++] = EIN_LETTERS + q;
        for (int l = 0; l < EIN_LETTERS; l++)
            if (uses[l] == 1)
                e->out[e->n_out++] = l;
    }
    if (e->n_out > QCAL_MAX_RANK)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "output rank %d too large",
                                e->n_out);
    return QCAL_OK;
}

/* Label sizes: equal in every operand or 1 there (broadcast). dim[l] = 0 for unused labels. */
static qcal_status label_dims(const qcal__node *n, const ein_eq *e, int64_t *dim, bool *used,
                              bool *bcast, qcal_error *err)
{
    *bcast = false;
    for (int l = 0; l < EIN_MAXL; l++) {
        dim[l] = 1;
        used[l] = false;
    }
    for (int i = 0; i < e->n_ops; i++)
        for (int a = 0; a < e->rank[i]; a++) {
            int l = e->lab[i][a];
            int64_t d = n->in[i]->dims[a];
            if (used[l] && dim[l] != d && d != 1 && dim[l] != 1)
                return qcal__node_error(err, n, QCAL_E_SHAPE, "subscript %d: size %lld vs %lld",
                                        l, (long long)dim[l], (long long)d);
            if (used[l] && dim[l] != d)
                *bcast = true;
            if (!used[l] || d != 1)
                dim[l] = d;
            used[l] = true;
        }
    return QCAL_OK;
}

/* Element stride of label l in operand i: the sum over its axes with l (diagonals), 0 where
 * the axis has size 1 against a larger label (broadcast) or l is absent. */
static int64_t label_stride(const qcal__tensor *x, const int *lab, int l, int64_t dim)
{
    int64_t st[QCAL_MAX_RANK], s = 0;

    qcal__strides(x->rank, x->dims, st);
    for (int a = 0; a < x->rank; a++)
        if (lab[a] == l && !(x->dims[a] == 1 && dim != 1))
            s += st[a];
    return s;
}

/* Stores in c the copy of labels order[0..cnt) from src strides to dst strides. */
static void copy_plan(ein_copy *c, int cnt, const int *order, const int64_t *dim,
                      const int64_t *src, const int64_t *dst)
{
    c->rank = cnt;
    for (int j = 0; j < cnt; j++) {
        c->dims[j] = dim[order[j]];
        c->src[j] = src[order[j]];
        c->dst[j] = dst[order[j]];
    }
}

/* Contiguous strides of the labels order[0..cnt) laid out in that order, into str[label]. */
static void dense_strides(int cnt, const int *order, const int64_t *dim, int64_t *str)
{
    int64_t s = 1;

    for (int j = cnt - 1; j >= 0; j--) {
        str[order[j]] = s;
        s *= dim[order[j]];
    }
}

/* True when operand i's axes carry exactly the labels g1 then g2 then g3 (in those orders). */
static bool axes_are(const ein_eq *e, int i, const int *g1, int n1, const int *g2, int n2,
                     const int *g3, int n3)
{
    int a = 0;

    if (e->rank[i] != n1 + n2 + n3)
        return false;
    for (int j = 0; j < n1; j++)
        if (e->lab[i][a++] != g1[j])
            return false;
    for (int j = 0; j < n2; j++)
        if (e->lab[i][a++] != g2[j])
            return false;
    for (int j = 0; j < n3; j++)
        if (e->lab[i][a++] != g3[j])
            return false;
    return true;
}

/*
 * Operand i of a product with row groups g1 (batch), g2, g3 (the matrix's rows then columns):
 * used in place when its axes are g1 g2 g3 (*trans false) or g1 g3 g2 (*trans true); otherwise
 * returns true with cp the copy into a dense [g1, g2, g3] buffer, or [g1, g3, g2] with *trans.
 */
static bool plan_operand(const ein_eq *e, int i, const int *g1, int n1, const int *g2, int n2,
                         const int *g3, int n3, const int64_t *dim, const int64_t *src,
                         bool *trans, ein_copy *cp)
{
    int order[EIN_MAXL], c = 0;
    int64_t dense[EIN_MAXL];

    *trans = false;
    if (axes_are(e, i, g1, n1, g2, n2, g3, n3))
        return false;
    if (axes_are(e, i, g1, n1, g3, n3, g2, n2)) {
        *trans = true;
        return false;
    }
    /* Packed so that the operand's innermost axis stays innermost (contiguous reads): as
     * [g1, g3, g2], transposed, when that axis is in g2. */
    for (int j = 0; j < n2 && e->rank[i] > 0; j++)
        if (g2[j] == e->lab[i][e->rank[i] - 1])
            *trans = true;
    memcpy(order + c, g1, (size_t)n1 * sizeof *order), c += n1;
    memcpy(order + c, *trans ? g3 : g2, (size_t)(*trans ? n3 : n2) * sizeof *order);
    c += *trans ? n3 : n2;
    memcpy(order + c, *trans ? g2 : g3, (size_t)(*trans ? n2 : n3) * sizeof *order);
    c += *trans ? n2 : n3;
    dense_strides(c, order, dim, dense);
    copy_plan(cp, c, order, dim, src, dense);
    return true;
}

static int64_t group_size(const int *g, int cnt, const int64_t *dim)
{
    int64_t s = 1;

    for (int j = 0; j < cnt; j++)
        s *= dim[g[j]];
    return s;
}

/*
 * Plans the GEMM path when the equation is a (batched) matrix product; returns false (p->gemm
 * unset) otherwise. Sizes are products of input dims, so they fit; scratch sizes are checked.
 */
static qcal_status plan_gemm(qcal__node *n, const ein_eq *e, const int64_t *dim, bool bcast,
                             ein_params *p, size_t *scratch, qcal_error *err)
{
    int in_a[EIN_MAXL] = { 0 }, in_b[EIN_MAXL] = { 0 }, in_y[EIN_MAXL] = { 0 };
    int gb[EIN_MAXL], gm[EIN_MAXL], gn[EIN_MAXL], gk[EIN_MAXL], nb = 0, nm = 0, nn = 0, nk = 0;
    int64_t str_a[EIN_MAXL], str_b[EIN_MAXL], str_y[EIN_MAXL], dense[EIN_MAXL];
    const size_t esz = qcal_dtype_size(p->dt);
    int64_t bytes_a = 0, bytes_b = 0, bytes_y = 0, total;
    qcal_status st;

    *scratch = 0;
    if (e->n_ops != 2 || bcast)
        return QCAL_OK;
    for (int a = 0; a < e->rank[0]; a++)
        if (in_a[e->lab[0][a]]++)
            return QCAL_OK; /* diagonal */
    for (int a = 0; a < e->rank[1]; a++)
        if (in_b[e->lab[1][a]]++)
            return QCAL_OK;
    for (int j = 0; j < e->n_out; j++)
        in_y[e->out[j]] = 1;
    /* batch, M and N in the output's order; K in A's order */
    for (int j = 0; j < e->n_out; j++) {
        int l = e->out[j];
        if (in_a[l] && in_b[l])
            gb[nb++] = l;
        else if (in_a[l])
            gm[nm++] = l;
        else if (in_b[l])
            gn[nn++] = l;
    }
    for (int a = 0; a < e->rank[0]; a++) {
        int l = e->lab[0][a];
        if (!in_y[l] && in_b[l])
            gk[nk++] = l;
        else if (!in_y[l])
            return QCAL_OK; /* summed within A alone */
    }
    for (int a = 0; a < e->rank[1]; a++)
        if (!in_y[e->lab[1][a]] && !in_a[e->lab[1][a]])
            return QCAL_OK; /* summed within B alone */
    p->gemm = true;
    p->batch = (size_t)group_size(gb, nb, dim);
    p->m = group_size(gm, nm, dim);
    p->n = group_size(gn, nn, dim);
    p->k = group_size(gk, nk, dim);
    for (int l = 0; l < EIN_MAXL; l++) {
        str_a[l] = label_stride(n->in[0], e->lab[0], l, dim[l]);
        str_b[l] = label_stride(n->in[1], e->lab[1], l, dim[l]);
        str_y[l] = 0;
    }
    dense_strides(e->n_out, e->out, dim, str_y);
    /* A: [batch, M, K] in place, [batch, K, M] transposed in place, else packed. */
    p->pack_a = plan_operand(e, 0, gb, nb, gm, nm, gk, nk, dim, str_a, &p->ta, &p->cp_a);
    if (p->pack_a)
        bytes_a = (int64_t)(n->in[0]->nelem * esz);
    p->pack_b = plan_operand(e, 1, gb, nb, gk, nk, gn, nn, dim, str_b, &p->tb, &p->cp_b);
    if (p->pack_b)
        bytes_b = (int64_t)(n->in[1]->nelem * esz);
    /* Y: the product is [batch, M, N]; Y's own order may differ. */
    {
        int order[EIN_MAXL], c = 0;
        memcpy(order + c, gb, (size_t)nb * sizeof *order), c += nb;
        memcpy(order + c, gm, (size_t)nm * sizeof *order), c += nm;
        memcpy(order + c, gn, (size_t)nn * sizeof *order), c += nn;
        p->unpack_y = !(c == e->n_out && memcmp(order, e->out, (size_t)c * sizeof *order) == 0);
        if (p->unpack_y) {
            dense_strides(c, order, dim, dense);
            copy_plan(&p->cp_y, c, order, dim, dense, str_y);
            bytes_y = (int64_t)(n->out[0]->nelem * esz);
        }
    }
    /* Scratch: packed A, packed B, product, each 64-byte aligned. */
    bytes_a = (bytes_a + 63) / 64 * 64;
    bytes_b = (bytes_b + 63) / 64 * 64;
    if ((st = qcal__add_i64(n, "scratch", bytes_a, bytes_b, &total, err)) != QCAL_OK ||
        (st = qcal__add_i64(n, "scratch", total, bytes_y, &total, err)) != QCAL_OK)
        return st;
    p->off_b = (size_t)bytes_a;
    p->off_y = (size_t)(bytes_a + bytes_b);
    *scratch = (size_t)total;
    return QCAL_OK;
}

static qcal_status einsum_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 1, EIN_MAX_OPS, err);
    const char *eq = qcal__attr_str(n, "equation", NULL);
    int64_t dim[EIN_MAXL], odims[QCAL_MAX_RANK], total;
    bool used[EIN_MAXL], in_y[EIN_MAXL] = { false }, bcast;
    ein_params *p;
    ein_eq e;
    size_t scratch;

    if (st != QCAL_OK)
        return st;
    if (!eq)
        return qcal__node_error(err, n, QCAL_E_INVALID, "attribute equation is missing");
    for (int i = 0; i < n->n_in; i++)
        if (!n->in[i] || (n->in[i]->dtype != QCAL_DT_FLOAT && n->in[i]->dtype != QCAL_DT_DOUBLE) ||
            n->in[i]->dtype != n->in[0]->dtype)
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "inputs must all be float32 or "
                                    "all float64");
    if ((st = parse_eq(n, eq, &e, err)) != QCAL_OK ||
        (st = label_dims(n, &e, dim, used, &bcast, err)) != QCAL_OK)
        return st;
    for (int j = 0; j < e.n_out; j++) {
        odims[j] = dim[e.out[j]];
        in_y[e.out[j]] = true;
    }
    st = qcal__tensor_set_shape(n->out[0], n->in[0]->dtype, e.n_out, odims, err);
    if (st != QCAL_OK)
        return st;
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->dt = n->in[0]->dtype;
    p->n_ops = e.n_ops;
    /* Reference loop: output labels, then the summed labels in label order. */
    for (int j = 0; j < e.n_out; j++)
        p->out_dims[p->n_out++] = dim[e.out[j]];
    for (int l = 0; l < EIN_MAXL; l++)
        if (used[l] && !in_y[l])
            p->sum_dims[p->n_sum++] = dim[l];
    st = qcal__dims_product(n, "summed extent", p->n_sum, p->sum_dims, &total, err);
    if (st != QCAL_OK)
        return st;
    for (int i = 0; i < e.n_ops; i++) {
        int s = 0;
        for (int j = 0; j < e.n_out; j++)
            p->out_str[i][j] = label_stride(n->in[i], e.lab[i], e.out[j], dim[e.out[j]]);
        for (int l = 0; l < EIN_MAXL; l++)
            if (used[l] && !in_y[l])
                p->sum_str[i][s++] = label_stride(n->in[i], e.lab[i], l, dim[l]);
    }
    st = plan_gemm(n, &e, dim, bcast, p, &scratch, err);
    n->scratch = scratch;
    return st;
}

/*
 * dst[c->dst . idx] = src[c->src . idx] over c's dims, for float32 (esz 4) or float64 elements:
 * an odometer over the outer dims, a strided loop over the innermost one.
 */
static void strided_copy(const ein_copy *c, char *dst, const char *src, size_t esz)
{
    const int r = c->rank;
    const int64_t len = r ? c->dims[r - 1] : 1, ss = r ? c->src[r - 1] : 0;
    const int64_t ds = r ? c->dst[r - 1] : 0;
    int64_t idx[EIN_MAXL] = { 0 }, so = 0, d = 0;
    size_t rows = 1;

    for (int j = 0; j < r - 1; j++)
        rows *= (size_t)c->dims[j];
    if (len == 0)
        return;
    for (size_t t = 0; t < rows; t++) {
        if (esz == 4) {
            const float *s = (const float *)src + so;
            float *o = (float *)dst + d;
            for (int64_t i = 0; i < len; i++)
                o[i * ds] = s[i * ss];
        } else {
            const double *s = (const double *)src + so;
            double *o = (double *)dst + d;
            for (int64_t i = 0; i < len; i++)
                o[i * ds] = s[i * ss];
        }
        for (int j = r - 2; j >= 0; j--) {
            so += c->src[j];
            d += c->dst[j];
            if (++idx[j] < c->dims[j])
                break;
            so -= c->src[j] * c->dims[j];
            d -= c->dst[j] * c->dims[j];
            idx[j] = 0;
        }
    }
}

/* The reference loop, for T in {float, double}: sums in double, one rounding per output. */
#define DEF_EIN_REF(NAME, T)                                                                    \
    static void NAME(const ein_params *p, const qcal__node *n)                                  \
    {                                                                                           \
        const T *x[EIN_MAX_OPS];                                                                \
        T *y = n->out[0]->data;                                                                 \
        int64_t oi[EIN_MAXL] = { 0 }, base[EIN_MAX_OPS] = { 0 };                                \
        const size_t nout = n->out[0]->nelem;                                                   \
        for (int i = 0; i < p->n_ops; i++)                                                      \
            x[i] = n->in[i]->data;                                                              \
        for (size_t o = 0; o < nout; o++) {                                                     \
            int64_t si[EIN_MAXL] = { 0 }, off[EIN_MAX_OPS];                                     \
            double acc = 0.0;                                                                   \
            bool more = true;                                                                   \
            for (int i = 0; i < p->n_ops; i++)                                                  \
                off[i] = base[i];                                                               \
            for (int j = 0; j < p->n_sum; j++)                                                  \
                if (p->sum_dims[j] == 0)                                                        \
                    more = false;                                                               \
            while (more) {                                                                      \
                double prod = 1.0;                                                              \
                for (int i = 0; i < p->n_ops; i++)                                              \
                    prod *= (double)x[i][off[i]];                                               \
                acc += prod;                                                                    \
                more = false;                                                                   \
                for (int j = p->n_sum - 1; j >= 0; j--) {                                       \
                    for (int i = 0; i < p->n_ops; i++)                                          \
                        off[i] += p->sum_str[i][j];                                             \
                    if (++si[j] < p->sum_dims[j]) {                                             \
                        more = true;                                                            \
                        break;                                                                  \
                    }                                                                           \
                    for (int i = 0; i < p->n_ops; i++)                                          \
                        off[i] -= p->sum_str[i][j] * p->sum_dims[j];                            \
                    si[j] = 0;                                                                  \
                }                                                                               \
            }                                                                                   \
            y[o] = (T)acc;                                                                      \
            for (int j = p->n_out - 1; j >= 0; j--) {                                           \
                for (int i = 0; i < p->n_ops; i++)                                              \
                    base[i] += p->out_str[i][j];                                                \
                if (++oi[j] < p->out_dims[j])                                                   \
                    break;                                                                      \
                for (int i = 0; i < p->n_ops; i++)                                              \
                    base[i] -= p->out_str[i][j] * p->out_dims[j];                               \
                oi[j] = 0;                                                                      \
            }                                                                                   \
        }                                                                                       \
    }

DEF_EIN_REF(ein_ref_f32, float)
DEF_EIN_REF(ein_ref_f64, double)

static void einsum_run(const qcal__node *n, void *scratch)
{
    const ein_params *p = n->params;
    const size_t esz = qcal_dtype_size(p->dt);
    const char *a = n->in[0]->data, *b;
    char *y = n->out[0]->data, *prod;

    if (!p->gemm) {
        if (p->dt == QCAL_DT_FLOAT)
            ein_ref_f32(p, n);
        else
            ein_ref_f64(p, n);
        return;
    }
    b = n->in[1]->data;
    prod = p->unpack_y ? (char *)scratch + p->off_y : y;
    if (p->pack_a) {
        strided_copy(&p->cp_a, scratch, a, esz);
        a = scratch;
    }
    if (p->pack_b) {
        strided_copy(&p->cp_b, (char *)scratch + p->off_b, b, esz);
        b = (const char *)scratch + p->off_b;
    }
    qcal__gemm_batch(p->dt, p->batch, p->m, p->n, p->k, p->ta, p->tb, a, b, prod);
    if (p->unpack_y)
        strided_copy(&p->cp_y, y, prod, esz);
}

const qcal__op qcal__ops_einsum[] = {
    { "Einsum", 12, QCAL__OPSET_LAST, einsum_infer, einsum_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
