/*
 * Tests of the blocked direct Conv kernel (src/ops/conv_blocked.c), through the Conv kernel
 * interface (infer, run) on hand-built nodes, against a scalar reference written here.
 *
 * The reference computes each output as the bias followed by one fmaf per (input channel, kh, kw)
 * in that order, padding taps included as 0 * w: the order conv_blocked.h promises. When the CPU
 * has the kernel (qcal__convb_available) the outputs must equal the reference bit for bit; without
 * it Conv uses im2col + sgemm (and depthwise convolutions always use their own loop), and the
 * outputs must be within 1e-5 of sum |x * w| + |b|. The shapes
 * cover every tile width and block width (channel counts not a multiple of 16, 1 to 4 vectors),
 * strides, dilations, asymmetric and oversized padding, groups, batches and the unpadded case.
 */
#include <math.h>
#include <stdlib.h>

#include "ops/conv_blocked.h"
#include "ops/ops.h"
#include "qtest.h"

/*
 * One Conv case: X [n, c, h, w], W [m, c / group, kh, kw], pads top, left, bottom, right. With
 * one_d the node is a 1-D Conv (X [n, c, w]); the case then has h = kh = sh = dh = 1, no top and
 * bottom pads, and the 2-D reference applies unchanged.
 */
typedef struct conv_case {
    int64_t n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group;
    bool bias, one_d;
} conv_case;

static uint32_t rng_state = 12345u;

/* Pseudo-random float in [-1, 1), with a few exact zeros and negative zeros. */
static float rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    if ((rng_state >> 24) == 0)
        return (rng_state & 0x100) ? -0.0f : 0.0f;
    return (float)(rng_state >> 8) * (1.0f / 8388608.0f) - 1.0f;
}

static int64_t rnd_int(int64_t lo, int64_t hi)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return lo + (int64_t)((rng_state >> 8) % (uint32_t)(hi - lo + 1));
}

static void set_tensor(qcal__tensor *t, const char *name, int rank, const int64_t *dims,
                       float *data)
{
    memset(t, 0, sizeof *t);
    t->name = (char *)name;
    t->dtype = QCAL_DT_FLOAT;
    t->rank = rank;
    t->nelem = 1;
    for (int i = 0; i < rank; i++) {
        t->dims[i] = dims[i];
        t->nelem *= (size_t)dims[i];
    }
    t->data = data;
    t->kind = QCAL__T_CONST;
    t->shaped = true;
}

static qcal__attr ints_attr(const char *name, int64_t *v, size_t count)
{
    qcal__attr a;

    memset(&a, 0, sizeof a);
    a.name = (char *)name;
    a.type = QCAL__A_INTS;
    a.ints = v;
    a.n = count;
    return a;
}

static int64_t out_dim(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1)
{
    return (in + p0 + p1 - ((k - 1) * d + 1)) / s + 1;
}

/* Reference output y[o] and the magnitude sum |x * w| + |b| of its terms in mag[o]. */
static void reference(const conv_case *k, const float *x, const float *w, const float *b,
                      float *y, double *mag)
{
    const int64_t oh = out_dim(k->h, k->kh, k->sh, k->dh, k->pt, k->pb);
    const int64_t ow = out_dim(k->w, k->kw, k->sw, k->dw, k->pl, k->pr);
    const int64_t cg = k->c / k->group, mg = k->m / k->group;

    for (int64_t n = 0; n < k->n; n++)
        for (int64_t m = 0; m < k->m; m++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    const int64_t g = m / mg;
                    float acc = b ? b[m] : 0.0f;
                    double s = b ? fabs((double)b[m]) : 0.0;

                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t u = 0; u < k->kh; u++)
                            for (int64_t v = 0; v < k->kw; v++) {
                                const int64_t r = i * k->sh + u * k->dh - k->pt;
                                const int64_t q = j * k->sw + v * k->dw - k->pl;
                                const float wv = w[((m * cg + c) * k->kh + u) * k->kw + v];
                                float xv = 0.0f;

                                if (r >= 0 && r < k->h && q >= 0 && q < k->w)
                                    xv = x[((n * k->c + g * cg + c) * k->h + r) * k->w + q];
                                acc = fmaf(xv, wv, acc);
                                s += fabs((double)xv * (double)wv);
                            }
                    y[((n * k->m + m) * oh + i) * ow + j] = acc;
                    mag[((n * k->m + m) * oh + i) * ow + j] = s;
                }
}

/* Runs one case through Conv-11 and checks every output; returns the number of bad outputs. */
static int64_t run_case(const conv_case *k)
{
    const int64_t oh = out_dim(k->h, k->kh, k->sh, k->dh, k->pt, k->pb);
    const int64_t ow = out_dim(k->w, k->kw, k->sw, k->dw, k->pl, k->pr);
    const int64_t xd[4] = { k->n, k->c, k->h, k->w }, xd1[3] = { k->n, k->c, k->w };
    const int64_t wd[4] = { k->m, k->c / k->group, k->kh, k->kw };
    const int64_t wd1[3] = { k->m, k->c / k->group, k->kw };
    const int64_t bd[1] = { k->m };
    const size_t nx = (size_t)(k->n * k->c * k->h * k->w);
    const size_t nw = (size_t)(k->m * (k->c / k->group) * k->kh * k->kw);
    const size_t ny = (size_t)(k->n * k->m * oh * ow);
    /* Depthwise convolutions (group == C > 1) keep their own kernel. */
    const bool exact = qcal__convb_available() && !(k->group > 1 && k->group == k->c);
    int64_t strides[2] = { k->sh, k->sw }, dil[2] = { k->dh, k->dw };
    int64_t pads[4] = { k->pt, k->pl, k->pb, k->pr };
    int64_t strides1[1] = { k->sw }, dil1[1] = { k->dw }, pads1[2] = { k->pl, k->pr };
    qcal__tensor tin[3], tout;
    qcal__tensor *in[3] = { &tin[0], &tin[1], &tin[2] }, *out[1] = { &tout };
    qcal__attr attr[4];
    qcal__node node;
    qcal_error err;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w);
    float *b = malloc((size_t)k->m * sizeof *b), *y = malloc(ny * sizeof *y);
    float *ref = malloc(ny * sizeof *ref);
    double *mag = malloc(ny * sizeof *mag);
    void *scratch = NULL;
    int64_t bad = -1;

    if (!x || !w || !b || !y || !ref || !mag)
        goto out;
    for (size_t i = 0; i < nx; i++)
        x[i] = rnd();
    for (size_t i = 0; i < nw; i++)
        w[i] = rnd();
    for (int64_t i = 0; i < k->m; i++)
        b[i] = rnd();
    memset(&node, 0, sizeof node);
    memset(&tout, 0, sizeof tout);
    set_tensor(&tin[0], "x", k->one_d ? 3 : 4, k->one_d ? xd1 : xd, x);
    set_tensor(&tin[1], "w", k->one_d ? 3 : 4, k->one_d ? wd1 : wd, w);
    set_tensor(&tin[2], "b", 1, bd, b);
    tout.name = (char *)"y";
    attr[0] = k->one_d ? ints_attr("strides", strides1, 1) : ints_attr("strides", strides, 2);
    attr[1] = k->one_d ? ints_attr("dilations", dil1, 1) : ints_attr("dilations", dil, 2);
    attr[2] = k->one_d ? ints_attr("pads", pads1, 2) : ints_attr("pads", pads, 4);
    memset(&attr[3], 0, sizeof attr[3]);
    attr[3].name = (char *)"group";
    attr[3].type = QCAL__A_INT;
    attr[3].i = k->group;
    node.name = (char *)"conv";
    node.op_type = (char *)"Conv";
    node.domain = (char *)"";
    node.opset = 11;
    node.in = in;
    node.n_in = k->bias ? 3 : 2;
    node.out = out;
    node.n_out = 1;
    node.attr = attr;
    node.n_attr = 4;
    node.op = qcal__op_find("Conv", 11);
    if (!node.op || node.op->infer(&node, &err) != QCAL_OK) {
        fprintf(stderr, "infer failed: %s\n", node.op ? err.msg : "no Conv");
        goto out;
    }
    if (tout.nelem != ny || tout.dims[tout.rank - 1] != ow || (!k->one_d && tout.dims[2] != oh))
        goto out;
    if (node.scratch > 0) {
        scratch = aligned_alloc(64, (node.scratch + 63) / 64 * 64);
        if (!scratch)
            goto out;
        memset(scratch, 0xff, node.scratch); /* NaN garbage: run must not read it unset */
    }
    for (size_t i = 0; i < ny; i++)
        y[i] = -12345.0f;
    tout.data = y;
    node.op->run(&node, scratch);
    reference(k, x, w, k->bias ? b : NULL, ref, mag);
    bad = 0;
    for (size_t i = 0; i < ny; i++) {
        uint32_t ug, ur;

        memcpy(&ug, &y[i], 4);
        memcpy(&ur, &ref[i], 4);
        if (exact ? ug != ur : !(fabs((double)y[i] - (double)ref[i]) <= 1e-5 * mag[i] + 1e-30)) {
            if (bad++ < 3)
                fprintf(stderr, "  output %zu: %.9g, reference %.9g\n", i, (double)y[i],
                        (double)ref[i]);
        }
    }
out:
    free(scratch);
    free(node.params);
    free(x);
    free(w);
    free(b);
    free(y);
    free(ref);
    free(mag);
    return bad;
}

static void check_case(const conv_case *k)
{
    int64_t bad = run_case(k);

    QT_CHECK_(bad == 0, "Conv X[%lld,%lld,%lld,%lld] W[%lld,/%lld,%lld,%lld] s %lld,%lld "
              "d %lld,%lld pads %lld,%lld,%lld,%lld bias %d: %lld bad outputs",
              (long long)k->n, (long long)k->c, (long long)k->h, (long long)k->w,
              (long long)k->m, (long long)k->group, (long long)k->kh, (long long)k->kw,
              (long long)k->sh, (long long)k->sw, (long long)k->dh, (long long)k->dw,
              (long long)k->pt, (long long)k->pl, (long long)k->pb, (long long)k->pr,
              (int)k->bias, (long long)bad);
}

/* The three convolutions of the fmnist CNN (tests/data/fmnist). */
static void test_fmnist_shapes(void)
{
    static const conv_case cases[] = {
        { 1, 1, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false },
        { 1, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false },
        { 1, 32, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
}

/* Output channel counts around the block sizes, and output widths around the tile widths. */
static void test_blocks_and_tiles(void)
{
    static const int64_t ms[] = { 1, 5, 16, 17, 31, 32, 33, 48, 49, 64, 65, 100 };
    static const int64_t ws[] = { 1, 2, 7, 8, 9, 10, 14, 15, 16, 17, 28, 29, 45 };

    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        const conv_case k = { 1, 3, 5, 9, ms[i], 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false };
        check_case(&k);
    }
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
        for (int64_t m = 8; m <= 64; m *= 2) {
            const conv_case k = { 1, 2, 3, ws[i], m + 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                  false, false };
            check_case(&k);
        }
    }
}

/* Strides, dilations, kernels of other shapes, odd padding, groups, batches, no padding. */
static void test_geometry(void)
{
    static const conv_case cases[] = {
        { 2, 4, 11, 13, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, true, false },   /* stride 2 */
        { 1, 3, 12, 17, 9, 3, 3, 1, 3, 1, 1, 1, 2, 0, 1, 1, true, false },    /* column stride 3 */
        { 1, 3, 12, 17, 9, 3, 3, 3, 1, 1, 1, 2, 1, 1, 0, 1, true, false },    /* row stride 3 */
        { 1, 5, 10, 12, 18, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, true, false },   /* dilation 2 */
        { 1, 2, 9, 9, 7, 3, 2, 2, 1, 1, 3, 1, 3, 2, 1, 1, true, false },      /* dilation 1x3 */
        { 1, 3, 8, 10, 33, 5, 2, 1, 1, 1, 1, 0, 2, 1, 0, 1, true, false },    /* 5x2, odd pads */
        { 1, 3, 6, 20, 17, 1, 7, 1, 1, 1, 1, 0, 3, 0, 3, 1, true, false },    /* 1x7 */
        { 1, 2, 4, 4, 16, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3, 1, true, false },     /* pads > kernel */
        { 1, 6, 9, 9, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, true, false },     /* group 2 */
        { 2, 9, 7, 8, 15, 3, 3, 1, 1, 1, 1, 1, 0, 1, 0, 3, false, false },    /* group 3, tails */
        { 3, 5, 10, 10, 40, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, true, false },   /* unpadded: read X */
        { 1, 5, 10, 10, 20, 3, 3, 2, 1, 1, 1, 0, 0, 0, 0, 1, true, false },   /* row stride 2 */
        { 1, 7, 6, 6, 19, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false },     /* 1x1 with padding */
        { 1, 7, 9, 9, 19, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, true, false },     /* 1x1 stride 2 */
        { 1, 64, 9, 9, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false },    /* deeper */
        { 1, 40, 6, 33, 70, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true, false },   /* 1x1, X read */
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
}

/* 1-D convolutions run as 2-D ones with one row. */
static void test_1d(void)
{
    static const conv_case cases[] = {
        { 1, 4, 1, 30, 20, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1, true, true },
        { 2, 6, 1, 17, 35, 1, 5, 1, 2, 1, 2, 0, 2, 0, 0, 1, false, true },
        { 1, 6, 1, 12, 9, 1, 2, 1, 1, 1, 1, 0, 0, 0, 0, 3, true, true },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
}

/* Random shapes. */
static void test_random(void)
{
    for (int t = 0; t < 60; t++) {
        conv_case k;

        k.group = rnd_int(1, 3);
        k.n = rnd_int(1, 2);
        k.c = k.group * rnd_int(1, 6);
        k.m = k.group * rnd_int(1, 40);
        k.kh = rnd_int(1, 4);
        k.kw = rnd_int(1, 4);
        k.sh = rnd_int(1, 3);
        k.sw = rnd_int(1, 3);
        k.dh = rnd_int(1, 2);
        k.dw = rnd_int(1, 2);
        k.pt = rnd_int(0, 3);
        k.pl = rnd_int(0, 3);
        k.pb = rnd_int(0, 3);
        k.pr = rnd_int(0, 3);
        k.h = rnd_int((k.kh - 1) * k.dh + 1, 20);
        k.w = rnd_int((k.kw - 1) * k.dw + 1, 40);
        k.bias = rnd_int(0, 1) == 1;
        k.one_d = false;
        check_case(&k);
    }
}

int main(void)
{
    fprintf(stderr, "blocked kernel %s: %s\n",
            qcal__convb_available() ? "available" : "not available",
            qcal__convb_available() ? "bit-exact checks" : "tolerance checks (im2col path)");
    QT_RUN(test_fmnist_shapes);
    QT_RUN(test_blocks_and_tiles);
    QT_RUN(test_geometry);
    QT_RUN(test_1d);
    QT_RUN(test_random);
    return qt_report();
}
