/*
 * Named rounding helpers (STYLE.md: "Rounding by name"). Formulas call these instead of a bare
 * round/rint/lrintf, so the tie rule is visible where it matters (ALGORITHMS.md §1):
 * - qcal_round_half_away: ties away from zero, as C round() and the Qualcomm/AIMET quantizer core
 *   round encoding offsets.
 * - qcal_round_half_even: ties to even, as ONNX QuantizeLinear, numpy and ORT round values.
 * Both work on |x| (where x - floor(x) is exact), so they are exact for every finite input and
 * independent of the floating-point rounding mode; the result keeps the sign of x (-0.4 -> -0.0),
 * and NaN and infinities come back unchanged. The float variants (suffix f) compute in float only.
 */
#ifndef QCAL_ROUND_H
#define QCAL_ROUND_H

#include <math.h>

/* Rounds x to the nearest integer, ties away from zero (2.5 -> 3, -2.5 -> -3). */
static inline double qcal_round_half_away(double x)
{
    double a = fabs(x);
    double f = floor(a);

    /* a - f is exact: both lie in the same binade or f is 0. Above 2^52 every double is an
     * integer and the difference is 0. */
    if (a - f >= 0.5)
        f += 1.0;
    return copysign(f, x);
}

/* Rounds x to the nearest integer, ties to even (2.5 -> 2, 3.5 -> 4, -2.5 -> -2). */
static inline double qcal_round_half_even(double x)
{
    double a = fabs(x);
    double f = floor(a);
    double d = a - f; /* Exact, in [0, 1). */

    if (d > 0.5 || (d == 0.5 && fmod(f, 2.0) != 0.0))
        f += 1.0;
    return copysign(f, x);
}

/* Float versions of the two helpers above; same rules, float arithmetic only. */
static inline float qcal_round_half_awayf(float x)
{
    float a = fabsf(x);
    float f = floorf(a);

    if (a - f >= 0.5f)
        f += 1.0f;
    return copysignf(f, x);
}

static inline float qcal_round_half_evenf(float x)
{
    float a = fabsf(x);
    float f = floorf(a);
    float d = a - f;

    if (d > 0.5f || (d == 0.5f && fmodf(f, 2.0f) != 0.0f))
        f += 1.0f;
    return copysignf(f, x);
}

#endif
