/*
 * The enhanced (AIMET tf_enhanced / SQNR, gamma 3) and mse (gamma 1) searches of ALGORITHMS.md
 * §3.4-§3.5: candidate (scale, offset) grids scored by the weighted squared error of the bin
 * midpoints, clipping weighted by gamma. They output scale and offset directly, with no §3 clamp.
 */
#include <math.h>
#include <stdlib.h>

#include "encode/encode.h"
#include "qcal/round.h"

/* §3.5 step 2 guard on the candidate delta (keeps the 0.01 range rule). */
#define MIN_RANGE 0.01

/* Non-empty bins as (midpoint, count) pairs, k ascending. */
typedef struct points {
    double *x;
    double *c;
    size_t n;
} points;

/*
 * §3.5 step 3: cost of scale d and offset o with codes 0..qmax. Summed over the non-empty bins
 * in ascending order, in double.
 */
static double cost(const points *pt, double d, double o, double qmax, double gamma)
{
    double sum = 0.0;

    for (size_t k = 0; k < pt->n; k++) {
        double x = pt->x[k];
        double q = qcal_round_half_away(x / d - o);
        bool clipped = q < 0.0 || q > qmax;
        double qc = q < 0.0 ? 0.0 : (q > qmax ? qmax : q);
        double y = (qc + o) * d;
        double e = pt->c[k] * ((y - x) * (y - x));

        if (clipped)
            e *= gamma;
        sum += e;
    }
    return sum;
}

typedef struct best {
    double cost, s, o;
} best;

/* §3.5 step 4: strictly smaller cost wins, so the first candidate keeps ties. */
static void consider(best *b, const points *pt, double d, double o, double qmax, double gamma)
{
    double c = cost(pt, d, o, qmax, gamma);

    if (c < b->cost) {
        b->cost = c;
        b->s = d;
        b->o = o;
    }
}

/* §3.5 steps 1-2: 17 deltas x 21 offsets around the observed grid [om, oM]. */
static void search_asym(const points *pt, double m, double M, double N, double gamma, best *b)
{
    double D = (M - m) / N;
    double o_obs = qcal_round_half_away(m / D);
    double om = D * o_obs;
    double oM = D * o_obs + N * D;
    double offs[21];

    for (int t = 0; t < 20; t++)
        offs[t] = qcal_round_half_away(-N + (double)t * N / 19.0);
    offs[20] = o_obs; /* The observed offset, even if it repeats one above. */

    for (int j = 1; j <= 17; j++) {
        double d = D * (double)j / 16.0;

        for (int t = 0; t < 21; t++) {
            double o = offs[t];
            double tmin = d * o > om ? d * o : om;
            double tmax = d * o + N * d < oM ? d * o + N * d : oM;
            double dp = (tmax - tmin) / N;

            if (!(dp > MIN_RANGE / N))
                dp = MIN_RANGE / N;
            consider(b, pt, dp, qcal_round_half_away(tmin / dp), N, gamma);
        }
    }
}

/* §3.5 step 5: 101 deltas 2 A / steps * j / 100 with a fixed offset. */
static void search_sym(const points *pt, double A, double steps, double o, double gamma, best *b)
{
    for (int j = 1; j <= 101; j++)
        consider(b, pt, 2.0 * A / steps * (double)j / 100.0, o, steps, gamma);
}

qcal_status qcal__enc_search(const qcal_enc_hist *h, int bitwidth, qcal_sym sym, double gamma,
                             qcal_encoding *out, double *lo, double *hi, qcal_error *err)
{
    double N = ldexp(1.0, bitwidth) - 1.0;
    double w = ldexp(1.0, h->e);
    double m = h->dmin < 0.0f ? (double)h->dmin : 0.0;
    double M = h->dmax > 0.0f ? (double)h->dmax : 0.0;
    double steps = N, min;
    points pt = { NULL, NULL, 0 };
    best b = { HUGE_VAL, 0.0, 0.0 };
    qcal_status st = QCAL_OK;

    pt.x = malloc(h->bins * sizeof *pt.x);
    pt.c = malloc(h->bins * sizeof *pt.c);
    if (!pt.x || !pt.c) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory in the enhanced search");
        goto out;
    }
    for (size_t i = 0; i < h->bins; i++) {
        if (h->counts[i] == 0)
            continue;
        pt.x[pt.n] = ((double)(h->k0 + (int64_t)i) + 0.5) * w; /* Bin midpoint. */
        pt.c[pt.n] = (double)h->counts[i];
        pt.n++;
    }

    /* Step 1: zero inside, at least 0.01 wide. */
    if (M < m + MIN_RANGE)
        M = m + MIN_RANGE;
    if (sym == QCAL_SYM_NONE || (sym == QCAL_SYM_UNSIGNED && h->dmin >= 0.0f)) {
        /* Unsigned data: om = 0 forces offset 0, the unsigned-symmetric fallback. */
        search_asym(&pt, m, M, N, gamma, &b);
    } else {
        double A = fabs(m) > fabs(M) ? fabs(m) : fabs(M);

        if (sym == QCAL_SYM_STRICT) {
            /* Not in §3.5: strict uses N - 1 steps and offset -(2^(n-1) - 1), as §2.2. */
            steps = N - 1.0;
            search_sym(&pt, A, steps, -(steps / 2.0), gamma, &b);
        } else {
            search_sym(&pt, A, N, floor(-N / 2.0), gamma, &b);
        }
    }
    if (!isfinite(b.cost)) {
        st = qcal_error_set(err, QCAL_E_NUMERIC, "enhanced search found no finite cost");
        goto out;
    }
    min = b.o * b.s;
    if (lo)
        *lo = min;
    if (hi)
        *hi = min + steps * b.s;
    st = qcal__enc_store(b.s, b.o, min, min + steps * b.s, bitwidth, sym != QCAL_SYM_NONE, out,
                         err);
out:
    free(pt.x);
    free(pt.c);
    return st;
}
