/*
 * Encoding sets: one labelled set of activation and parameter encodings computed from a
 * qcal_stats (DESIGN.md "HDF5 stats file", /encodings/<label>; ALGORITHMS.md §2-§3). The set is
 * the qcal_enc_set of store.h, so it can be stored in the stats file and exported (export.h).
 *
 * What goes into a set:
 * - One activation entry per activation of s->act that has a finite value, in s->act order,
 *   computed by qcal_enc_compute with the method, act_bitwidth and act_sym of the options, or
 *   by the last override whose regex matches the tensor name. Activations without a finite value
 *   get no entry and a warning, except when a "float" override matches them: a float
 *   passthrough needs no statistics, so it is always written.
 * - One parameter entry per weight of s->weights, in s->weights order: per channel (ch_count =
 *   the weight's channel count, from ch_min/ch_max) when per_channel is set and the weight has a
 *   channel axis, else per tensor (ch_count 1, from min/max). Weights are signed symmetric
 *   unless param_sym is QCAL_SYM_NONE (tf) or QCAL_SYM_STRICT (qcal_enc_weight).
 * - Bias tensors (1-D weights that are only consumed as input 2 of Conv, ConvTranspose or Gemm,
 *   found through s->graph) get NO parameter entry when bias_bitwidth is 32: the 32-bit bias
 *   encoding is derived from the input and weight scales (§2.4, qcal_enc_bias_scale), as QNN
 *   does itself. With another bias_bitwidth they are encoded like any weight, per tensor and
 *   asymmetric (tf, §2.4 "8-bit bias"), and a warning says so.
 * - A weight with no finite value, or (per channel) with a channel that has none, gets no entry
 *   and a warning naming it: a per-channel list cannot leave a channel out without shifting the
 *   others, so the whole weight stays unquantized.
 *
 * Deterministic: the same stats and options give a byte-identical set, except `created` (which
 * the options can fix as well).
 */
#ifndef QCAL_ENCSET_H
#define QCAL_ENCSET_H

#include <stdbool.h>
#include <stddef.h>

#include "qcal/encode.h"
#include "qcal/status.h"
#include "qcal/store.h"

/* Largest accepted --override regex, in bytes. */
#define QCAL_ENCSET_MAX_REGEX 4096

/*
 * One activation override (CLI --override REGEX=float|float16|float32|<bits>). regex is a POSIX
 * extended regular expression matched with regexec against the whole tensor name as a search
 * (anchor it with ^...$ for an exact match). is_float: the tensor stays in float of `bitwidth`
 * bits (16 or 32; 0 means 16); otherwise bitwidth (2..32) replaces act_bitwidth for it.
 */
typedef struct qcal_enc_override {
    char *regex;
    bool is_float;
    int bitwidth;
} qcal_enc_override;

/*
 * Parses "REGEX=VALUE" (split at the last '='): VALUE is "float" or "float16" / "fp16" (float,
 * 16 bits), "float32" / "fp32" (float, 32 bits) or an integer bitwidth 2..32. The regex must
 * compile (regcomp REG_EXTENDED). Allocates out->regex; release with qcal_enc_override_fini. On
 * failure out is empty and err names the spec and what is wrong (QCAL_E_INVALID).
 */
qcal_status qcal_enc_override_parse(const char *spec, qcal_enc_override *out, qcal_error *err);

/* Frees out->regex and zeroes out. NULL-safe. */
void qcal_enc_override_fini(qcal_enc_override *o);

/* Options of qcal_encset_compute; fill with qcal_encset_opts_default first. */
typedef struct qcal_encset_opts {
    qcal_method method;
    double percentile;                   /* percent, used by QCAL_METHOD_PERCENTILE */
    int act_bitwidth;                    /* 2..32, default 8 */
    int param_bitwidth;                  /* 2..32, default 8 */
    qcal_sym act_sym;                    /* default QCAL_SYM_NONE (tf) */
    qcal_sym param_sym;                  /* default QCAL_SYM_SIGNED */
    bool per_channel;                    /* default false: per-tensor weights */
    int bias_bitwidth;                   /* default 32 (derived, no entries); else 2..31 */
    size_t n_overrides;
    const qcal_enc_override *overrides;  /* borrowed; later entries win over earlier ones */
    const char *label;                   /* NULL: "<method>-a<actbits>-w<parambits>" */
    const char *created;                 /* NULL: the current time, ISO 8601 UTC */
} qcal_encset_opts;

/* Fills o with the defaults above: minmax, percentile 99.99, a8/w8, act tf, weights signed
 * symmetric per tensor, 32-bit bias, no overrides, default label, current time. */
void qcal_encset_opts_default(qcal_encset_opts *o);

/*
 * Writes the default label "<method>-a<actbits>-w<parambits>" (e.g. "minmax-a8-w8") of o into
 * buf (always NUL-terminated when size > 0). Returns the length snprintf reports.
 */
int qcal_encset_default_label(const qcal_encset_opts *o, char *buf, size_t size);

/* Non-fatal findings of qcal_encset_compute, one line each (no newline), in stats order. */
typedef struct qcal_encset_warnings {
    size_t n;
    char **msg;
} qcal_encset_warnings;

/* Frees every message and zeroes w. NULL-safe. */
void qcal_encset_warnings_fini(qcal_encset_warnings *w);

/*
 * Computes the encoding set of s with the options o (see the top of this file). out is
 * initialised here (previous content ignored) and owned by the caller: qcal_enc_set_fini.
 * warn may be NULL; otherwise it is initialised here and receives the warnings (caller frees
 * with qcal_encset_warnings_fini, also after a failure). params is compact JSON with sorted keys:
 * method, act_bitwidth, param_bitwidth, act_symmetric, param_symmetric (symmetry names),
 * percentile, per_channel, bias_bitwidth, overrides ([{regex, dtype "float"|"int", bitwidth}]).
 * Fails with QCAL_E_INVALID on bad options or a bad regex, with the qcal_enc_compute error
 * (prefixed with the tensor name) on a malformed histogram, QCAL_E_NOMEM; on failure out is
 * empty (fini is a no-op).
 */
qcal_status qcal_encset_compute(const qcal_stats *s, const qcal_encset_opts *o, qcal_enc_set *out,
                                qcal_encset_warnings *warn, qcal_error *err);

/* Frees every field of e (strings, entries and their arrays) and zeroes it. NULL-safe. */
void qcal_enc_set_fini(qcal_enc_set *e);

/*
 * True when weight w of s is a bias in the sense above: 1-D (its shape has one dimension) and
 * every use of it in s->graph is input 2 of a Conv, ConvTranspose or Gemm node (and there is at
 * least one). Pure; does not allocate. Index out of range: false.
 */
bool qcal_encset_is_bias(const qcal_stats *s, size_t w);

#endif
