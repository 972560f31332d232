/*
 * Histogram plots (DESIGN.md: `qcal plot`): one RGB PNG per activation showing its exact
 * histogram on a log count axis with the [min, max] of each encoding drawn as a coloured vertical
 * line. Text uses a built-in 5x7 bitmap font; the file is written with libpng, atomically.
 *
 * Geometry (fixed, so that scripts can read the pictures):
 * - The image is QCAL_PLOT_WIDTH x QCAL_PLOT_HEIGHT, 8-bit RGB, no alpha.
 * - The plot area spans columns [QCAL_PLOT_LEFT, QCAL_PLOT_LEFT + QCAL_PLOT_AREA_W) and rows
 *   [QCAL_PLOT_TOP, QCAL_PLOT_TOP + QCAL_PLOT_AREA_H).
 * - The x axis [lo, hi] is qcal_plot_x_range(): the hull of the data range and of every mark's
 *   finite bounds, padded by QCAL_PLOT_PAD (4 %) of its span on each side. A zero span (a
 *   constant tensor without marks) is padded by 5 % of |v|, or by 0.5 when v is 0.
 * - Value v sits in column qcal_plot_x_pixel(v, lo, hi) =
 *       QCAL_PLOT_LEFT + floor((v - lo) / (hi - lo) * QCAL_PLOT_AREA_W),
 *   computed in double and clamped to the plot area.
 * - Each PNG carries a tEXt chunk "qcal:x-axis" = "<lo> <hi> <left> <width>" (lo and hi printed
 *   with %.17g, so they read back exactly) and "Title" = the tensor name.
 * - Mark i is drawn in colour qcal_plot_mark_color(i) at the column of its min and of its max:
 *   a one-pixel vertical line from the top of the plot area down to the bars (bars stay in front,
 *   so a spike in the same column is not hidden) and a small triangle pointing at the column in
 *   rows QCAL_PLOT_TOP - 5 .. QCAL_PLOT_TOP - 2 (tip). Marks that share a column alternate in
 *   dashes of QCAL_PLOT_DASH rows; the triangle takes the first one's colour. The legend box sits
 *   in a top corner of the plot area (the one crossed by fewer lines).
 * - Bars: histogram bins are merged in aligned groups of 2^m bins (the smallest m for which the
 *   groups touching the data fit in the data's pixel span); a group covering [a, b), clipped to
 *   the data range, fills its columns up to log10(1 + count) on a y axis from 0 to the next whole
 *   decade above the largest group.
 */
#ifndef QCAL_PLOT_H
#define QCAL_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "qcal/stats.h"
#include "qcal/status.h"

#define QCAL_PLOT_WIDTH 800
#define QCAL_PLOT_HEIGHT 400
#define QCAL_PLOT_LEFT 64
#define QCAL_PLOT_TOP 48
#define QCAL_PLOT_AREA_W 712
#define QCAL_PLOT_AREA_H 304
#define QCAL_PLOT_PAD 0.04
#define QCAL_PLOT_DASH 6

/* One marked range (an encoding's [min, max]). A NaN bound is not drawn; the legend still lists
 * the label (with note, if given). label and note are borrowed for the call. */
typedef struct qcal_plot_mark {
    const char *label; /* legend text, e.g. the encoding set's label */
    const char *note;  /* NULL, or a short remark shown instead of the range ("float") */
    double min, max;
} qcal_plot_mark;

/* The x axis of a plot of h with these marks (see above). h without finite values and no
 * finite mark bounds gives [-1, 1]. Pure function. */
void qcal_plot_x_range(const qcal_hist *h, const qcal_plot_mark *marks, size_t n_marks,
                       double *lo, double *hi);

/* The column of value v on the axis [lo, hi] (see above); lo < hi. Pure function. */
int qcal_plot_x_pixel(double v, double lo, double hi);

/* The RGB colour of mark i: a fixed palette of 8, repeating (tab10 without its blue): (214, 39,
 * 40), (255, 127, 14), (44, 160, 44), (148, 103, 189), (140, 86, 75), (227, 119, 194), (188, 189,
 * 34), (23, 190, 207). Bars are (70, 120, 180). */
void qcal_plot_mark_color(size_t i, uint8_t rgb[3]);

/*
 * Renders the plot of h (title: name and the exact [min, max]) into rgb, a caller-owned buffer
 * of QCAL_PLOT_WIDTH * QCAL_PLOT_HEIGHT * 3 bytes, row-major, top row first. Does not allocate
 * except a QCAL_PLOT_AREA_W-entry column table. Fails with QCAL_E_NOMEM or QCAL_E_INVALID
 * (h not initialised); rgb is then unspecified.
 */
qcal_status qcal_plot_render(const char *name, const qcal_hist *h, const qcal_plot_mark *marks,
                             size_t n_marks, uint8_t *rgb, qcal_error *err);

/*
 * Renders the plot (as qcal_plot_render) and writes it as a PNG to path, atomically
 * (path.tmp.<pid>, fsync, rename; on failure nothing is left at path.tmp.<pid> and path is
 * unchanged). Errors: QCAL_E_IO naming the file, QCAL_E_NOMEM, QCAL_E_INVALID.
 */
qcal_status qcal_plot_hist_png(const char *path, const char *name, const qcal_hist *h,
                               const qcal_plot_mark *marks, size_t n_marks, qcal_error *err);

#endif
