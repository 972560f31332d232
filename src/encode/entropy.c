/*
 * Entropy calibration (ALGORITHMS.md §3.3): the KL-divergence threshold search of TensorRT's
 * IInt8EntropyCalibrator2, on qcal's folded |x| histogram, with MXNet/ORT smoothing of the
 * unnormalized counts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "encode/encode.h"

/* §3.3 step 3: smoothing constant. */
#define SMOOTH_EPS 1e-4

/*
 * Smooths counts v[0..n-1] in place (§3.3 step 3): zeros become eps, non-zeros lose
 * eps * z / nz. Returns false (KL = +inf) when every entry is zero or a non-zero entry would
 * drop to zero or below.
 */
static bool smooth(double *v, size_t n)
{
    size_t z = 0, nz;
    double d;

    for (size_t j = 0; j < n; j++)
        z += v[j] == 0.0;
    nz = n - z;
    if (nz == 0)
        return false;
    d = (SMOOTH_EPS * (double)z) / (double)nz;
    for (size_t j = 0; j < n; j++) {
        if (v[j] == 0.0) {
            v[j] = SMOOTH_EPS;
        } else {
            v[j] -= d;
            if (v[j] <= 0.0)
                return false;
        }
    }
    return true;
}

/* §3.3 step 4: divides by the sum, summed in double with j ascending. */
static void normalize(double *v, size_t n)
{
    double s = 0.0;

    for (size_t j = 0; j < n; j++)
        s += v[j];
    for (size_t j = 0; j < n; j++)
        v[j] /= s;
}

double qcal__enc_entropy_kl(const uint64_t *c, size_t J, int64_t L, size_t i, double *p,
                            double *q)
{
    uint64_t tail = 0, lv = (uint64_t)L;
    size_t start = 0;
    double kl = 0.0;

    /* Step 1: the reference keeps the outliers, folded into its last bin. */
    for (size_t j = i; j < J; j++)
        tail += c[j];
    for (size_t j = 0; j + 1 < i; j++)
        p[j] = (double)c[j];
    p[i - 1] = (double)(c[i - 1] + tail);

    /* Step 2: bin j belongs to group floor(j L / i). Group g is the contiguous run
     * ceil(g i / L) <= j < ceil((g+1) i / L); its non-empty bins share its count evenly. */
    for (uint64_t g = 0; start < i; g++) {
        size_t end = (size_t)(((g + 1) * i + lv - 1) / lv);
        uint64_t S = 0;
        size_t nz = 0;

        if (end > i)
            end = i;
        for (size_t j = start; j < end; j++) {
            S += c[j];
            nz += c[j] != 0;
        }
        for (size_t j = start; j < end; j++)
            q[j] = c[j] != 0 ? (double)S / (double)nz : 0.0;
        start = end;
    }

    /* Steps 3-5. */
    if (!smooth(p, i) || !smooth(q, i))
        return HUGE_VAL;
    normalize(p, i);
    normalize(q, i);
    for (size_t j = 0; j < i; j++)
        kl += p[j] * log(p[j] / q[j]);
    return kl;
}

qcal_status qcal__enc_entropy_amax(const qcal_enc_hist *h, int bitwidth, int64_t levels,
                                   double *amax, qcal_error *err)
{
    qcal_status st;
    qcal__enc_fold f;
    uint64_t *c = NULL;
    double *p = NULL, *q = NULL;
    double exact = fabs((double)h->dmin) > fabs((double)h->dmax) ? fabs((double)h->dmin)
                                                                   : fabs((double)h->dmax);
    int64_t L = levels;
    size_t J, best_i;
    double best = HUGE_VAL;

    *amax = exact;
    /* Levels (§3): 2^n for unsigned data, 2^(n-1) for signed (TRT 1 << (bits - 1 + unsigned)). */
    if (L == 0)
        L = (int64_t)1 << (h->dmin >= 0.0f ? bitwidth : bitwidth - 1);
    st = qcal__enc_fold_hist(h, (int64_t)h->bins, &f, err);
    if (st != QCAL_OK)
        return st;
    J = (size_t)f.j0 + f.n; /* Last non-empty abs bin + 1; at most bins after coarsening. */
    if ((int64_t)J <= L)
        goto out; /* Nothing to clip. */

    c = calloc(J, sizeof *c);
    p = malloc(J * sizeof *p);
    q = malloc(J * sizeof *q);
    if (!c || !p || !q) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory in entropy calibration");
        goto out;
    }
    memcpy(c + f.j0, f.c, f.n * sizeof *c);
    best_i = (size_t)L;
    for (size_t i = (size_t)L; i <= J; i++) {
        double kl = qcal__enc_entropy_kl(c, J, L, i, p, q);

        /* Smallest KL; ties (all +inf included) go to the larger i. */
        if (kl <= best) {
            best = kl;
            best_i = i;
        }
    }
    {
        double a = ldexp((double)best_i, f.e);

        *amax = a < exact ? a : exact;
    }
out:
    free(c);
    free(p);
    free(q);
    qcal__enc_fold_fini(&f);
    return st;
}
