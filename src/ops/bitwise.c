/*
 * Integer operators on the broadcast plans of the binary family: BitShift-11,
 * BitwiseAnd/Or/Xor-18, BitwiseNot-18 (element-wise, on the unary interface) and Mod-10/13.
 *
 * Types: BitShift unsigned integers (the spec's types); Bitwise* every integer type; Mod every
 * integer type, float32 and float64. A shift by the type's width or more gives 0 (numpy's
 * left_shift/right_shift on unsigned types), never undefined behaviour.
 *
 * Mod: fmod=1 is C's remainder (sign of the dividend: fmod() for floats, % for integers);
 * fmod=0 is Python's (sign of the divisor: numpy.mod), for floats too, computed exactly from
 * fmod() by adding the divisor when the signs differ. An integer divisor of 0 gives 0 (like Div),
 * and -1 gives 0 (so MIN % -1 does not trap).
 */
#include <math.h>
#include <string.h>

#include "ops/binary_impl.h"
#include "ops/unary_impl.h"

#define ENTRY(op, sfx, T, U, DT) [DT] = op##_##sfx,

/* ---- BitShift: direction LEFT or RIGHT ---- */
#define DEF_SHL(op, sfx, T, U, DT)                                                              \
    QCAL__ROW2(op##_##sfx, T, T, T, y >= 8 * sizeof(T) ? 0u : (T)((U)x << y))
#define DEF_SHR(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, y >= 8 * sizeof(T) ? 0u : (U)x >> y)
UINT_TYPES(DEF_SHL, shl)
UINT_TYPES(DEF_SHR, shr)
static const qcal__row_fn SHL[QCAL__NDT] = { UINT_TYPES(ENTRY, shl) };
static const qcal__row_fn SHR[QCAL__NDT] = { UINT_TYPES(ENTRY, shr) };

/* ---- BitwiseAnd, BitwiseOr, BitwiseXor (on the unsigned type: no sign-bit surprises) ---- */
#define DEF_BAND(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, (U)x & (U)y)
#define DEF_BOR(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, (U)x | (U)y)
#define DEF_BXOR(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, (U)x ^ (U)y)
INT_TYPES(DEF_BAND, band)
INT_TYPES(DEF_BOR, bor)
INT_TYPES(DEF_BXOR, bxor)
static const qcal__row_fn BAND[QCAL__NDT] = { INT_TYPES(ENTRY, band) };
static const qcal__row_fn BOR[QCAL__NDT] = { INT_TYPES(ENTRY, bor) };
static const qcal__row_fn BXOR[QCAL__NDT] = { INT_TYPES(ENTRY, bxor) };

/* ---- BitwiseNot ---- */
#define DEF_BNOT(op, sfx, T, U, DT) QCAL__UNARY(op##_##sfx, T, ~(U)x)
INT_TYPES(DEF_BNOT, bnot)
static const qcal__unary_fn BNOT[QCAL__UNARY_NDT] = { INT_TYPES(ENTRY, bnot) };

/* ---- Mod ---- */
static float pymod_f32(float x, float y)
{
    float r = fmodf(x, y);
    return (r != 0.0f && ((r < 0.0f) != (y < 0.0f))) ? r + y : r;
}

static double pymod_f64(double x, double y)
{
    double r = fmod(x, y);
    return (r != 0.0 && ((r < 0.0) != (y < 0.0))) ? r + y : r;
}

#define DEF_CMOD(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, (y == 0 || y == -1) ? 0 : x % y)
#define DEF_PYMOD(op, sfx, T, U, DT)                                                            \
    QCAL__ROW2(op##_##sfx, T, T, T,                                                             \
               (y == 0 || y == -1) ? 0 : ((x % y != 0 && ((x % y < 0) != (y < 0))) ? x % y + y  \
                                                                                 : x % y))
#define DEF_UMOD(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, y == 0 ? 0u : x % y)
SINT_TYPES(DEF_CMOD, cmod)
SINT_TYPES(DEF_PYMOD, pymod)
UINT_TYPES(DEF_UMOD, cmod)
UINT_TYPES(DEF_UMOD, pymod)
QCAL__ROW2(cmod_f32, float, float, float, fmodf(x, y))
QCAL__ROW2(cmod_f64, double, double, double, fmod(x, y))
QCAL__ROW2(pymod_f32_row, float, float, float, pymod_f32(x, y))
QCAL__ROW2(pymod_f64_row, double, double, double, pymod_f64(x, y))
static const qcal__row_fn CMOD[QCAL__NDT] = { INT_TYPES(ENTRY, cmod) FLOAT_TYPES(ENTRY, cmod) };
static const qcal__row_fn PYMOD[QCAL__NDT] = {
    INT_TYPES(ENTRY, pymod)[QCAL_DT_FLOAT] = pymod_f32_row,
    [QCAL_DT_DOUBLE] = pymod_f64_row,
};

static qcal_status int_binary_infer(qcal__node *n, const qcal__row_fn *fns, qcal_error *err)
{
    return qcal__bin_two_infer(n, fns, false, err);
}

static qcal_status bitshift_infer(qcal__node *n, qcal_error *err)
{
    const char *dir = qcal__attr_str(n, "direction", "");

    if (strcmp(dir, "LEFT") == 0)
        return int_binary_infer(n, SHL, err);
    if (strcmp(dir, "RIGHT") == 0)
        return int_binary_infer(n, SHR, err);
    return qcal__node_error(err, n, QCAL_E_INVALID, "direction '%s' (expected LEFT or RIGHT)",
                            dir);
}

static qcal_status band_infer(qcal__node *n, qcal_error *err)
{
    return int_binary_infer(n, BAND, err);
}

static qcal_status bor_infer(qcal__node *n, qcal_error *err)
{
    return int_binary_infer(n, BOR, err);
}

static qcal_status bxor_infer(qcal__node *n, qcal_error *err)
{
    return int_binary_infer(n, BXOR, err);
}

static qcal_status bnot_infer(qcal__node *n, qcal_error *err)
{
    return qcal__unary_setup(n, BNOT, 0.0f, 0.0f, 0.0f, err);
}

static qcal_status mod_infer(qcal__node *n, qcal_error *err)
{
    int64_t f = qcal__attr_int(n, "fmod", 0);

    if (f != 0 && f != 1)
        return qcal__node_error(err, n, QCAL_E_INVALID, "fmod must be 0 or 1 (is %lld)",
                                (long long)f);
    return int_binary_infer(n, f ? CMOD : PYMOD, err);
}

#define LAST QCAL__OPSET_LAST
#define BIN qcal__bin_run

const qcal__op qcal__ops_bitwise[] = {
    { "BitShift", 11, LAST, bitshift_infer, BIN, 0 },
    { "BitwiseAnd", 18, LAST, band_infer, BIN, 0 },
    { "BitwiseNot", 18, LAST, bnot_infer, qcal__unary_run, 0 },
    { "BitwiseOr", 18, LAST, bor_infer, BIN, 0 },
    { "BitwiseXor", 18, LAST, bxor_infer, BIN, 0 },
    { "Mod", 10, LAST, mod_infer, BIN, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
