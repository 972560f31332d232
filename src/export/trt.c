/*
 * TensorRT calibration cache (ALGORITHMS.md §4.3): "TRT-<version>-<calibrator>" followed by one
 * "name: hex" line per activation, hex being the float32 bits of amax / 127. Computed from the
 * histograms of a qcal_stats (the encoding set keeps only the final grids, whose 0.01 widening
 * and asymmetry TensorRT must not see).
 */
#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/export.h"
#include "util/atomic.h"

/* A growable text buffer. */
typedef struct text {
    char *buf;
    size_t len, cap;
} text;

static qcal_status text_append(text *t, const char *s, size_t n, qcal_error *err)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        char *grown;

        while (cap < t->len + n + 1)
            cap *= 2;
        grown = realloc(t->buf, cap);
        if (!grown)
            return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        t->buf = grown;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
    return QCAL_OK;
}

/* The last override matching name, as in qcal_encset_compute; NULL if none. */
static const qcal_enc_override *match(const qcal_encset_opts *o, const regex_t *rx,
                                      const char *name)
{
    const qcal_enc_override *hit = NULL;

    for (size_t i = 0; i < o->n_overrides; i++)
        if (regexec(&rx[i], name, 0, NULL, 0) == 0)
            hit = &o->overrides[i];
    return hit;
}

/*
 * Appends the line of activation r (or nothing: float override, no finite value). amax is the
 * largest magnitude of the method's clamped range for a strict symmetric int8 target: for
 * minmax, percentile and entropy that is the folded |x| range of §3; for mse and enhanced the
 * strict grid [-127 s, 127 s], so amax / 127 gives the searched s back.
 */
static qcal_status trt_line(const qcal_act_rec *r, const qcal_encset_opts *o,
                            const qcal_enc_override *ov, text *t, qcal_error *err)
{
    const qcal_hist *h = &r->hist;
    qcal_enc_hist eh = { h->e, h->k0, h->bins, h->counts, h->min, h->max, h->count };
    qcal_enc_params p;
    double lo, hi, amax;
    float scale;
    uint32_t bits;
    char line[64];
    qcal_status st;

    if (ov && ov->is_float)
        return QCAL_OK;
    if (ov && ov->bitwidth != 8)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                              "activation '%s': override '%s' asks for %d bits; TensorRT "
                              "calibration caches are int8", r->name, ov->regex, ov->bitwidth);
    if (strpbrk(r->name, ":\n\r"))
        return qcal_error_set(err, QCAL_E_INVALID,
                              "activation '%s': a TensorRT cache name cannot contain ':' or a "
                              "line break (ORT's TensorRT EP splits lines at the first ':')",
                              r->name);
    if (h->count == 0)
        return QCAL_OK;
    qcal_enc_params_default(&p);
    p.method = o->method;
    p.bitwidth = 8;
    p.sym = QCAL_SYM_STRICT;
    p.percentile = o->percentile;
    st = qcal_enc_range(&eh, &p, &lo, &hi, err);
    if (st != QCAL_OK) {
        char pre[96];

        snprintf(pre, sizeof pre, "activation '%.80s'", r->name);
        qcal_error_prefix(err, pre);
        return st;
    }
    amax = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
    /* Double division, one rounding to float32 (§1); 0 for an all-zero tensor. */
    scale = (float)(amax / 127.0);
    if (!isfinite(scale))
        return qcal_error_set(err, QCAL_E_NUMERIC, "activation '%s': scale %g is not finite",
                              r->name, amax / 127.0);
    memcpy(&bits, &scale, sizeof bits);
    snprintf(line, sizeof line, ": %lx\n", (unsigned long)bits);
    st = text_append(t, r->name, strlen(r->name), err);
    if (st == QCAL_OK)
        st = text_append(t, line, strlen(line), err);
    return st;
}

qcal_status qcal_export_trt(const qcal_stats *s, const qcal_encset_opts *o, int trt_version,
                            const char *path, qcal_error *err)
{
    text t = { NULL, 0, 0 };
    regex_t *rx = NULL;
    size_t n_rx = 0;
    char head[96];
    qcal_status st = QCAL_OK;

    if (!s || !o)
        return qcal_error_set(err, QCAL_E_INVALID, "TensorRT cache: no stats or options");
    if (o->act_bitwidth != 8)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                              "TensorRT calibration caches are int8, not %d-bit",
                              o->act_bitwidth);
    if (trt_version <= 0)
        trt_version = QCAL_EXPORT_TRT_DEFAULT_VERSION;
    rx = calloc(o->n_overrides + 1, sizeof *rx);
    if (!rx)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    for (; n_rx < o->n_overrides; n_rx++) {
        if (!o->overrides || !o->overrides[n_rx].regex ||
            regcomp(&rx[n_rx], o->overrides[n_rx].regex, REG_EXTENDED | REG_NOSUB) != 0) {
            st = qcal_error_set(err, QCAL_E_INVALID, "override %zu: bad regex", n_rx);
            goto out;
        }
    }
    snprintf(head, sizeof head, "TRT-%d-%s\n", trt_version,
             o->method == QCAL_METHOD_MINMAX ? "MinMaxCalibration" : "EntropyCalibration2");
    st = text_append(&t, head, strlen(head), err);
    for (size_t i = 0; st == QCAL_OK && i < s->n_act; i++) {
        const qcal_act_rec *r = &s->act[i];

        if (!r->name || !*r->name) {
            st = qcal_error_set(err, QCAL_E_INVALID, "activation %zu has no name", i);
            break;
        }
        st = trt_line(r, o, match(o, rx, r->name), &t, err);
    }
    /* Nothing is created before every line is known to be valid. */
    if (st == QCAL_OK)
        st = qcal__atomic_write(path, t.buf, t.len, err);
out:
    for (size_t i = 0; i < n_rx; i++)
        regfree(&rx[i]);
    free(rx);
    free(t.buf);
    return st;
}
