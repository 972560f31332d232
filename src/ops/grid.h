/*
 * Private helpers of grid.c shared with deform.c: the 1-D sampling taps of GridSample (pixel
 * indices and weights of nearest, linear and cubic interpolation under a padding mode).
 */
#ifndef QCAL_OPS_GRID_H
#define QCAL_OPS_GRID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum qcal__grid_mode {
    QCAL__GRID_NEAREST,
    QCAL__GRID_LINEAR,
    QCAL__GRID_CUBIC,
} qcal__grid_mode;

typedef enum qcal__grid_pad {
    QCAL__PAD_ZEROS,
    QCAL__PAD_BORDER,
    QCAL__PAD_REFLECTION,
} qcal__grid_pad;

/* The most taps one dim can have (cubic). */
#define QCAL__GRID_MAX_TAPS 4

/*
 * Taps of pixel coordinate x (already denormalized: pixel centres at integers) along a dim of
 * d >= 1 pixels: fills idx[k] (in [0, d), or -1 for a zero-padded tap outside) and w[k], returns
 * the tap count (1, 2 or 4). Nearest rounds half to even. align_corners picks the reflection borders ([0, d-1] or
 * [-0.5, d-0.5]). The coordinate is first mapped inside by border/reflection padding as
 * PyTorch's and ONNX's GridSample do; a NaN or huge coordinate gives valid indices or -1, never
 * an index outside [0, d). Does not allocate.
 */
int qcal__grid_taps(float x, int64_t d, qcal__grid_mode mode, qcal__grid_pad pad,
                    bool align_corners, int64_t *idx, float *w);

/*
 * Taps of an nd-dimensional pixel point px (outermost dim first) in an image of dims with
 * strides st: the product of the per-dim taps, zero-padded ones dropped. Writes at most
 * (taps per dim)^nd element offsets and weights to off/wt, returns how many. Does not allocate.
 */
size_t qcal__grid_point_taps(int nd, const int64_t *dims, const int64_t *st, const float *px,
                             qcal__grid_mode mode, qcal__grid_pad pad, bool align_corners,
                             size_t *off, float *wt);

#endif
