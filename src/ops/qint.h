/*
 * Helpers shared by the integer operator families (qlinear.c, qconv.c): 8-bit quantized element
 * access, requantization with ties to even and saturation, and batch broadcasting indices.
 * All are static inline; nothing allocates.
 */
#ifndef QCAL_OPS_QINT_H
#define QCAL_OPS_QINT_H

#include "ops/ops.h"
#include "qcal/round.h"

/* Element i of a uint8 or int8 tensor. */
static inline int32_t qcal__qint_at(const qcal__tensor *t, size_t i)
{
    return t->dtype == QCAL_DT_INT8 ? (int32_t)((const int8_t *)t->data)[i]
                                    : (int32_t)((const uint8_t *)t->data)[i];
}

/* Stores round_half_even(v) saturated to t's type (uint8 or int8); NaN stores the minimum. */
static inline void qcal__qint_store(const qcal__tensor *t, size_t i, double v)
{
    const bool s8 = t->dtype == QCAL_DT_INT8;
    const double lo = s8 ? -128.0 : 0.0, hi = s8 ? 127.0 : 255.0;
    double r = qcal_round_half_even(v);

    r = r >= lo ? (r <= hi ? r : hi) : lo;
    if (s8)
        ((int8_t *)t->data)[i] = (int8_t)r;
    else
        ((uint8_t *)t->data)[i] = (uint8_t)r;
}

/* v modulo 2^32 as int32: the spec's int32 accumulation, which may wrap. */
static inline int32_t qcal__wrap_i32(int64_t v)
{
    return (int32_t)(uint32_t)(uint64_t)v;
}

/* Checks that t (what names it) is uint8 or int8 and its zero point zp, if any, has its type. */
static inline qcal_status qcal__qint_check(const qcal__node *n, const qcal__tensor *t,
                                           const qcal__tensor *zp, const char *what,
                                           qcal_error *err)
{
    if (t->dtype != QCAL_DT_UINT8 && t->dtype != QCAL_DT_INT8)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "%s is %s, expected uint8 or int8",
                                what, qcal_dtype_name(t->dtype));
    if (zp && zp->dtype != t->dtype)
        return qcal__node_error(err, n, QCAL_E_INVALID, "%s is %s but its zero point is %s",
                                what, qcal_dtype_name(t->dtype), qcal_dtype_name(zp->dtype));
    return QCAL_OK;
}

/* Checks that a scale is float32 and not empty. */
static inline qcal_status qcal__qscale_check(const qcal__node *n, const qcal__tensor *s,
                                             qcal_error *err)
{
    if (s->dtype != QCAL_DT_FLOAT || s->nelem == 0)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "scale '%s' is %s [%zu values], "
                                "expected float32", s->name, qcal_dtype_name(s->dtype),
                                s->nelem);
    return QCAL_OK;
}

/*
 * For every index of the broadcast batch shape ob[0..rb) in row-major order, writes to out the
 * flat batch index into an operand whose batch dims are d[0..r) (right-aligned to ob; its dims of
 * 1 repeat). Does not allocate.
 */
static inline void qcal__bcast_index(int rb, const int64_t *ob, int r, const int64_t *d,
                                     size_t *out)
{
    int64_t idx[QCAL_MAX_RANK] = { 0 };
    size_t total = qcal__shape_nelem(rb, ob);

    for (size_t bi = 0; bi < total; bi++) {
        size_t flat = 0;
        for (int i = 0; i < r; i++) {
            int64_t v = d[i] == 1 ? 0 : idx[rb - r + i];
            flat = flat * (size_t)d[i] + (size_t)v;
        }
        out[bi] = flat;
        for (int i = rb - 1; i >= 0; i--) {
            if (++idx[i] < ob[i])
                break;
            idx[i] = 0;
        }
    }
}

#endif
