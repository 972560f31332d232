/*
 * Blocked direct 2-D convolution (src/ops/conv_blocked.c), used by Conv (src/ops/conv.c) when the
 * CPU has AVX-512: output channels in SIMD lanes, 16 per vector, and up to 32 per block, times
 * a run of consecutive output positions of one row; weights packed once at infer time, input
 * read from a zero-padded, column-phase-split copy. No im2col and no BLAS.
 *
 * Every output value is bias, then one fused multiply-add per (input channel, kh, kw) in that
 * order, whichever tile computes it: results depend only on the input, not on the position of
 * the value in its tile, the tile width or the block size.
 */
#ifndef QCAL_OPS_CONV_BLOCKED_H
#define QCAL_OPS_CONV_BLOCKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Geometry of one Conv node for the blocked kernel. Index 0 is the row dim, 1 the column dim. */
typedef struct qcal__convb {
    int64_t batch, group, cg, mg; /* images, groups, input and output channels per group */
    int64_t in[2], out[2], k[2], s[2], d[2], pad[2];
    /* Plane the taps read: rows hp, and per column phase (sw of them) wq columns; copy is
     * false when X itself can be read (no padding, stride 1 along columns). */
    int64_t hp, wq;
    bool copy;
    int nb;         /* 16-lane vectors per full channel block: 1 or 2 */
    int64_t n_blk;  /* channel blocks per group (the last may be narrower) */
    int64_t kk;     /* taps per output value: cg * k[0] * k[1] */
    int64_t packed; /* floats of packed weights (all groups) */
} qcal__convb;

/* True when the running CPU (and OS) support the kernel. */
bool qcal__convb_available(void);

/*
 * Fills the derived fields of g (hp, wq, copy, nb, n_blk, kk, packed) from the others; returns
 * false when the shape does not suit the kernel (offsets beyond 32 bits, empty dims).
 */
bool qcal__convb_plan(qcal__convb *g);

/* Bytes of scratch run needs (padded input plane copy and padded bias). */
size_t qcal__convb_scratch(const qcal__convb *g);

/*
 * Packs W [group * mg, cg, k0, k1] into packed (g->packed floats, 64-byte aligned) and the tap
 * offsets (g->kk int32 values) into tap.
 */
void qcal__convb_pack(const qcal__convb *g, const float *w, float *packed, int32_t *tap);

/* Y = conv(X, W) + B for the whole batch; bias may be NULL. Does not allocate. */
void qcal__convb_run(const qcal__convb *g, const float *packed, const int32_t *tap,
                     const float *x, const float *bias, float *y, void *scratch);

#endif
