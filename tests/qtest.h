/*
 * qtest: tiny in-house test macros (STYLE.md). Each check prints both sides with file and line on
 * failure; qt_report() prints "N passed, N failed" and returns non-zero on any failure.
 */
#ifndef QCAL_QTEST_H
#define QCAL_QTEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int qt_pass_, qt_fail_;

#define QT_CHECK_(cond, ...)                                                                     \
    do {                                                                                         \
        if (cond) {                                                                              \
            qt_pass_++;                                                                          \
        } else {                                                                                 \
            qt_fail_++;                                                                          \
            fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                                \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
        }                                                                                        \
    } while (0)

#define QT_TRUE(c) QT_CHECK_((c), "%s", #c)
/* Checks a qcal_status-returning expression is QCAL_OK. */
#define QT_OK(expr)                                                                              \
    do {                                                                                         \
        int qt_st_ = (int)(expr);                                                                \
        QT_CHECK_(qt_st_ == 0, "%s returned %d", #expr, qt_st_);                                 \
    } while (0)
#define QT_EQ_I64(a, b)                                                                          \
    do {                                                                                         \
        long long qa_ = (long long)(a), qb_ = (long long)(b);                                    \
        QT_CHECK_(qa_ == qb_, "%s == %s: %lld vs %lld", #a, #b, qa_, qb_);                       \
    } while (0)
#define QT_EQ_U64(a, b)                                                                          \
    do {                                                                                         \
        unsigned long long qa_ = (unsigned long long)(a), qb_ = (unsigned long long)(b);         \
        QT_CHECK_(qa_ == qb_, "%s == %s: %llu vs %llu", #a, #b, qa_, qb_);                       \
    } while (0)
/* Bitwise float32 equality (distinguishes -0.0 and NaN payloads). */
#define QT_EQ_F32_BITS(a, b)                                                                     \
    do {                                                                                         \
        float qa_ = (a), qb_ = (b);                                                              \
        uint32_t ua_, ub_;                                                                       \
        memcpy(&ua_, &qa_, 4);                                                                   \
        memcpy(&ub_, &qb_, 4);                                                                   \
        QT_CHECK_(ua_ == ub_, "%s == %s: %.9g (%08x) vs %.9g (%08x)", #a, #b, (double)qa_, ua_,  \
                  (double)qb_, ub_);                                                             \
    } while (0)
#define QT_NEAR(a, b, tol)                                                                       \
    do {                                                                                         \
        double qa_ = (double)(a), qb_ = (double)(b);                                                             \
        QT_CHECK_(fabs(qa_ - qb_) <= (tol), "%s ~ %s: %.9g vs %.9g (tol %g)", #a, #b, qa_, qb_,  \
                  (double)(tol));                                                                \
    } while (0)
#define QT_EQ_MEM(a, b, n) QT_CHECK_(memcmp((a), (b), (n)) == 0, "%s == %s (%zu bytes)", #a, #b,  \
                                     (size_t)(n))
#define QT_EQ_STR(a, b)                                                                          \
    do {                                                                                         \
        const char *qa_ = (a), *qb_ = (b);                                                       \
        QT_CHECK_(qa_ && qb_ && strcmp(qa_, qb_) == 0, "%s == %s: \"%s\" vs \"%s\"", #a, #b,     \
                  qa_ ? qa_ : "(null)", qb_ ? qb_ : "(null)");                                   \
    } while (0)

#define QT_RUN(fn)                                                                               \
    do {                                                                                         \
        int qt_before_ = qt_fail_;                                                               \
        fn();                                                                                    \
        fprintf(stderr, "%s %s\n", qt_fail_ == qt_before_ ? "ok  " : "FAIL", #fn);               \
    } while (0)

static inline int qt_report(void)
{
    printf("%d passed, %d failed\n", qt_pass_, qt_fail_);
    return qt_fail_ ? 1 : 0;
}

#endif
