/*
 * Histogram plots (include/qcal/plot.h): a small RGB canvas, a built-in 5x7 bitmap font, the
 * fixed plot geometry of plot.h, and a PNG encoder on libpng that writes to memory; the bytes go
 * to disk through the atomic writer of src/util/atomic.h.
 */
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qcal/plot.h"
#include "qcal/round.h"
#include "util/atomic.h"

#define W QCAL_PLOT_WIDTH
#define H QCAL_PLOT_HEIGHT
#define AL QCAL_PLOT_LEFT
#define AT QCAL_PLOT_TOP
#define AW QCAL_PLOT_AREA_W
#define AH QCAL_PLOT_AREA_H

/*
 * 5x7 glyphs for ASCII 32..126, one byte per row (top first), bit 4 = leftmost column. Drawn
 * for this file; lower-case descenders are folded into the 7 rows.
 */
static const uint8_t FONT[95][7] = {
    { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 }, /* ' ' */
    { 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04 }, /* ! */
    { 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00 }, /* " */
    { 0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A }, /* # */
    { 0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04 }, /* $ */
    { 0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03 }, /* % */
    { 0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D }, /* & */
    { 0x04, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00 }, /* ' */
    { 0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02 }, /* ( */
    { 0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08 }, /* ) */
    { 0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00 }, /* * */
    { 0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00 }, /* + */
    { 0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08 }, /* , */
    { 0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00 }, /* - */
    { 0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C }, /* . */
    { 0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00 }, /* / */
    { 0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E }, /* 0 */
    { 0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E }, /* 1 */
    { 0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F }, /* 2 */
    { 0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E }, /* 3 */
    { 0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02 }, /* 4 */
    { 0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E }, /* 5 */
    { 0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E }, /* 6 */
    { 0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08 }, /* 7 */
    { 0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E }, /* 8 */
    { 0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C }, /* 9 */
    { 0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00 }, /* : */
    { 0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08 }, /* ; */
    { 0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02 }, /* < */
    { 0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00 }, /* = */
    { 0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08 }, /* > */
    { 0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04 }, /* ? */
    { 0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E }, /* @ */
    { 0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11 }, /* A */
    { 0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E }, /* B */
    { 0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E }, /* C */
    { 0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C }, /* D */
    { 0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F }, /* E */
    { 0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10 }, /* F */
    { 0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F }, /* G */
    { 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11 }, /* H */
    { 0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E }, /* I */
    { 0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C }, /* J */
    { 0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11 }, /* K */
    { 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F }, /* L */
    { 0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11 }, /* M */
    { 0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11 }, /* N */
    { 0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E }, /* O */
    { 0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10 }, /* P */
    { 0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D }, /* Q */
    { 0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11 }, /* R */
    { 0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E }, /* S */
    { 0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04 }, /* T */
    { 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E }, /* U */
    { 0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04 }, /* V */
    { 0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A }, /* W */
    { 0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11 }, /* X */
    { 0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04 }, /* Y */
    { 0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F }, /* Z */
    { 0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E }, /* [ */
    { 0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00 }, /* \ */
    { 0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E }, /* ] */
    { 0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00 }, /* ^ */
    { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F }, /* _ */
    { 0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00 }, /* ` */
    { 0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F }, /* a */
    { 0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E }, /* b */
    { 0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E }, /* c */
    { 0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F }, /* d */
    { 0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E }, /* e */
    { 0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08 }, /* f */
    { 0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E }, /* g */
    { 0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11 }, /* h */
    { 0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E }, /* i */
    { 0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C }, /* j */
    { 0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12 }, /* k */
    { 0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E }, /* l */
    { 0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11 }, /* m */
    { 0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11 }, /* n */
    { 0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E }, /* o */
    { 0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10 }, /* p */
    { 0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01 }, /* q */
    { 0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10 }, /* r */
    { 0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E }, /* s */
    { 0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06 }, /* t */
    { 0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D }, /* u */
    { 0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04 }, /* v */
    { 0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A }, /* w */
    { 0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11 }, /* x */
    { 0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E }, /* y */
    { 0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F }, /* z */
    { 0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02 }, /* { */
    { 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04 }, /* | */
    { 0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08 }, /* } */
    { 0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00 }, /* ~ */
};

/* A glyph cell is 6x9 pixels at scale 1: 5x7 ink, one column and two rows of spacing. */
#define CELL_W 6
#define CELL_H 9

/* Matplotlib's tab10 palette without its blue, which the bars use. */
static const uint8_t PALETTE[8][3] = {
    { 214, 39, 40 },  { 255, 127, 14 }, { 44, 160, 44 },  { 148, 103, 189 },
    { 140, 86, 75 },  { 227, 119, 194 }, { 188, 189, 34 }, { 23, 190, 207 },
};
static const uint8_t C_WHITE[3] = { 255, 255, 255 };
static const uint8_t C_TEXT[3] = { 30, 30, 30 };
static const uint8_t C_MUTED[3] = { 90, 90, 90 };
static const uint8_t C_FRAME[3] = { 120, 120, 120 };
static const uint8_t C_GRID[3] = { 228, 228, 228 };
static const uint8_t C_BAR[3] = { 70, 120, 180 };

void qcal_plot_mark_color(size_t i, uint8_t rgb[3])
{
    memcpy(rgb, PALETTE[i % 8], 3);
}

/* ---- canvas ---------------------------------------------------------------------------- */

static void put(uint8_t *img, int x, int y, const uint8_t c[3])
{
    if (x < 0 || y < 0 || x >= W || y >= H)
        return;
    memcpy(img + ((size_t)y * W + (size_t)x) * 3, c, 3);
}

static void fill(uint8_t *img, int x0, int y0, int x1, int y1, const uint8_t c[3])
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            put(img, x, y, c);
}

static int text_width(const char *s, int scale)
{
    return (int)strlen(s) * CELL_W * scale;
}

/* Draws s with its top-left corner at (x, y); bytes outside 32..126 show as '?'. With vertical
 * set the text runs upwards from (x, y) (rotated 90 degrees counter-clockwise). */
static void text(uint8_t *img, int x, int y, const char *s, int scale, const uint8_t c[3],
                 bool vertical)
{
    for (int i = 0; s[i]; i++) {
        unsigned char ch = (unsigned char)s[i];
        const uint8_t *g = FONT[(ch >= 32 && ch <= 126 ? ch : '?') - 32];

        for (int r = 0; r < 7; r++) {
            for (int col = 0; col < 5; col++) {
                int gx = (i * CELL_W + col) * scale, gy = r * scale;

                if (!(g[r] & (0x10 >> col)))
                    continue;
                for (int dy = 0; dy < scale; dy++)
                    for (int dx = 0; dx < scale; dx++) {
                        if (vertical)
                            put(img, x + gy + dy, y - gx - dx, c);
                        else
                            put(img, x + gx + dx, y + gy + dy, c);
                    }
            }
        }
    }
}

/* Shortens s in place to at most max_chars, replacing its middle with "..". */
static void ellipsize(char *s, size_t max_chars)
{
    size_t n = strlen(s), head, tail;

    if (n <= max_chars || max_chars < 5)
        return;
    head = (max_chars - 2) / 2;
    tail = max_chars - 2 - head;
    memmove(s + head + 2, s + n - tail, tail + 1);
    s[head] = '.';
    s[head + 1] = '.';
}

/* ---- axes ------------------------------------------------------------------------------- */

void qcal_plot_x_range(const qcal_hist *h, const qcal_plot_mark *marks, size_t n_marks,
                       double *lo, double *hi)
{
    double a = (double)INFINITY, b = -(double)INFINITY, pad;

    if (h && h->count > 0) {
        a = (double)h->min;
        b = (double)h->max;
    }
    for (size_t i = 0; i < n_marks; i++) {
        const double v[2] = { marks[i].min, marks[i].max };
        for (int j = 0; j < 2; j++) {
            if (!isfinite(v[j]))
                continue;
            a = v[j] < a ? v[j] : a;
            b = v[j] > b ? v[j] : b;
        }
    }
    if (!(a <= b)) {
        *lo = -1.0;
        *hi = 1.0;
        return;
    }
    pad = (b - a) * QCAL_PLOT_PAD;
    if (pad == 0.0)
        pad = a != 0.0 ? fabs(a) * 0.05 : 0.5;
    *lo = a - pad;
    *hi = b + pad;
}

int qcal_plot_x_pixel(double v, double lo, double hi)
{
    double t = floor((v - lo) / (hi - lo) * (double)AW);

    if (!(t >= 0.0))
        return AL;
    if (t > (double)(AW - 1))
        return AL + AW - 1;
    return AL + (int)t;
}

/* Row of y value v on an axis from 0 (bottom row of the area) to ymax (top row). */
static int y_row(double v, double ymax)
{
    return AT + AH - 1 - (int)qcal_round_half_away(v / ymax * (double)(AH - 1));
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about `want` ticks on span. */
static double nice_step(double span, int want)
{
    double raw = span / want, mag = pow(10.0, floor(log10(raw))), f = raw / mag;

    if (f <= 1.0)
        return mag;
    if (f <= 2.0)
        return 2.0 * mag;
    if (f <= 5.0)
        return 5.0 * mag;
    return 10.0 * mag;
}

/* Tick label: %.6g, with values within 1e-9 steps of zero printed as 0. */
static void tick_label(double v, double step, char *buf, size_t size)
{
    if (fabs(v) < step * 1e-9)
        v = 0.0;
    snprintf(buf, size, "%.6g", v);
}

static void draw_x_axis(uint8_t *img, double lo, double hi)
{
    double step = nice_step(hi - lo, 8);
    double first = ceil(lo / step);
    int last_end = -1000;
    char buf[32];

    for (int i = 0; i < 64; i++) {
        double v = (first + i) * step;
        int x, tw;

        if (v > hi)
            break;
        x = qcal_plot_x_pixel(v, lo, hi);
        for (int y = AT; y < AT + AH; y++)
            put(img, x, y, C_GRID);
        fill(img, x, AT + AH, x, AT + AH + 3, C_FRAME);
        tick_label(v, step, buf, sizeof buf);
        tw = text_width(buf, 1) - 1;
        /* Skips a label that would overlap the previous one or leave the image. */
        if (x - tw / 2 > last_end + 6 && x + tw / 2 < W) {
            text(img, x - tw / 2, AT + AH + 6, buf, 1, C_TEXT, false);
            last_end = x + tw / 2;
        }
    }
    text(img, AL + AW / 2 - text_width("value", 1) / 2, AT + AH + 20, "value", 1, C_MUTED,
         false);
}

/* Decade ticks 1, 10, ..., 10^K at log10(1 + 10^k), and 0 at the bottom; the axis top is the
 * K-th tick (ytop = log10(1 + 10^K)). */
static void draw_y_axis(uint8_t *img, int K, double ytop)
{
    static const char *const LABELS[] = { "1", "10", "100", "1k", "10k", "100k", "1M", "10M",
                                          "100M", "1G", "10G", "100G" };
    char buf[16];

    for (int k = -1; k <= K; k++) {
        double v = k < 0 ? 0.0 : log10(1.0 + pow(10.0, k));
        int y = y_row(v, ytop);
        const char *s;

        if (k >= 0)
            for (int x = AL; x < AL + AW; x++)
                put(img, x, y, C_GRID);
        fill(img, AL - 4, y, AL - 1, y, C_FRAME);
        if (k < 0)
            s = "0";
        else if (k < (int)(sizeof LABELS / sizeof LABELS[0]))
            s = LABELS[k];
        else {
            snprintf(buf, sizeof buf, "1e%d", k);
            s = buf;
        }
        text(img, AL - 7 - text_width(s, 1) + 1, y - 3, s, 1, C_TEXT, false);
    }
    text(img, 8, AT + AH / 2 + text_width("count (log scale)", 1) / 2, "count (log scale)", 1,
         C_MUTED, true);
}

/* ---- histogram -------------------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/*
 * Fills col[c] (AW entries) with the largest merged-group count drawn in column AL + c: bins are
 * merged in aligned groups of 2^m (plot.h) and each group covers its columns, clipped to the data
 * range. Returns the largest group count.
 */
static uint64_t bin_columns(const qcal_hist *h, double lo, double hi, uint64_t *col)
{
    double dmin = (double)h->min, dmax = (double)h->max;
    int xs0 = qcal_plot_x_pixel(dmin, lo, hi), xs1 = qcal_plot_x_pixel(dmax, lo, hi);
    int64_t ncols = xs1 - xs0 + 1, kmin = 0, kmax = 0, g = 1;
    size_t i0 = h->bins, i1 = 0;
    int m = 0;
    uint64_t best = 0, acc = 0;

    memset(col, 0, AW * sizeof *col);
    for (size_t i = 0; i < h->bins; i++) {
        if (h->counts[i] == 0)
            continue;
        i0 = i < i0 ? i : i0;
        i1 = i;
    }
    if (i0 == h->bins)
        return 0;
    kmin = h->k0 + (int64_t)i0;
    kmax = h->k0 + (int64_t)i1;
    while (m < 62 && floor_div(kmax, g) - floor_div(kmin, g) + 1 > ncols) {
        m++;
        g *= 2;
    }
    for (size_t i = i0; i <= i1; i++) {
        int64_t J = floor_div(h->k0 + (int64_t)i, g);
        bool end = i == i1 || floor_div(h->k0 + (int64_t)i + 1, g) != J;
        double a, b;
        int c0, c1;

        acc += h->counts[i];
        if (!end)
            continue;
        if (acc > 0) {
            double ga = ldexp((double)J, h->e + m), gb = ldexp((double)(J + 1), h->e + m);
            a = ga > dmin ? ga : dmin;
            b = gb < dmax ? gb : dmax;
            c0 = qcal_plot_x_pixel(a, lo, hi);
            /* A group ends before its right edge (half-open bins) but includes dmax. */
            c1 = b == gb ? qcal_plot_x_pixel(b, lo, hi) - 1 : qcal_plot_x_pixel(b, lo, hi);
            c1 = c1 < c0 ? c0 : c1;
            for (int c = c0; c <= c1; c++)
                col[c - AL] = acc > col[c - AL] ? acc : col[c - AL];
            best = acc > best ? acc : best;
        }
        acc = 0;
    }
    return best;
}

/*
 * Draws the marks: a one-pixel line over the plot height, behind the bars (top[c] is the first
 * bar row of column AL + c, AT + AH when the column has none), and a small triangle pointing at
 * the column just above the plot area, so a line hidden by a tall bar is still found. Marks
 * sharing a column alternate in dashes of QCAL_PLOT_DASH rows; the triangle takes the first one's
 * colour.
 */
static void draw_marks(uint8_t *img, const qcal_plot_mark *marks, size_t n, double lo, double hi,
                       const int *top)
{
    size_t at[32];

    for (int x = AL; x < AL + AW; x++) {
        size_t cnt = 0;
        uint8_t c[3];

        for (size_t i = 0; i < n && cnt < sizeof at / sizeof at[0]; i++) {
            bool here = (isfinite(marks[i].min) && qcal_plot_x_pixel(marks[i].min, lo, hi) == x) ||
                        (isfinite(marks[i].max) && qcal_plot_x_pixel(marks[i].max, lo, hi) == x);
            if (here)
                at[cnt++] = i;
        }
        if (cnt == 0)
            continue;
        for (int y = AT; y < top[x - AL]; y++) {
            qcal_plot_mark_color(at[(size_t)((y - AT) / QCAL_PLOT_DASH) % cnt], c);
            put(img, x, y, c);
        }
        qcal_plot_mark_color(at[0], c);
        for (int r = 0; r < 4; r++)
            fill(img, x - r, AT - 2 - r, x + r, AT - 2 - r, c);
    }
}

/* Legend text of mark i into line. */
static void legend_line(const qcal_plot_mark *mk, char *line, size_t size)
{
    const char *label = mk->label ? mk->label : "";

    if (mk->note)
        snprintf(line, size, "%s (%s)", label, mk->note);
    else if (isfinite(mk->min) && isfinite(mk->max))
        snprintf(line, size, "%s [%.6g, %.6g]", label, mk->min, mk->max);
    else
        snprintf(line, size, "%s (none)", label);
    ellipsize(line, 70);
}

/* Number of mark lines in columns [x0, x1]. */
static int marks_in(const qcal_plot_mark *marks, size_t n, double lo, double hi, int x0, int x1)
{
    int hits = 0;

    for (size_t i = 0; i < n; i++) {
        const double v[2] = { marks[i].min, marks[i].max };
        for (int j = 0; j < 2; j++) {
            int x = isfinite(v[j]) ? qcal_plot_x_pixel(v[j], lo, hi) : -1;
            hits += x >= x0 && x <= x1;
        }
    }
    return hits;
}

/* The legend box goes into a top corner: the one crossed by fewer mark lines, then the one over
 * lower bars, then the right one. */
static void draw_legend(uint8_t *img, const qcal_plot_mark *marks, size_t n, double lo,
                        double hi, const int *top)
{
    char line[160];
    int wmax = 0, rows = (int)(n < 12 ? n : 12), x0, x1, y1, low_left = AT + AH, low_right = AT + AH;
    int bw, hits_left, hits_right;

    if (rows == 0)
        return;
    for (int i = 0; i < rows; i++) {
        int tw;
        legend_line(&marks[i], line, sizeof line);
        tw = text_width(line, 1);
        wmax = tw > wmax ? tw : wmax;
    }
    bw = wmax + 34;
    for (int c = 0; c < bw && c < AW; c++) {
        low_left = top[c] < low_left ? top[c] : low_left;
        low_right = top[AW - 1 - c] < low_right ? top[AW - 1 - c] : low_right;
    }
    hits_left = marks_in(marks, n, lo, hi, AL, AL + bw);
    hits_right = marks_in(marks, n, lo, hi, AL + AW - bw, AL + AW);
    if (hits_left != hits_right)
        x0 = hits_left < hits_right ? AL + 3 : AL + AW - bw;
    else
        x0 = low_left > low_right ? AL + 3 : AL + AW - bw;
    x1 = x0 + wmax + 30;
    y1 = AT + 8 + rows * 12;
    fill(img, x0, AT + 2, x1, y1, C_WHITE);
    fill(img, x0, AT + 2, x1, AT + 2, C_FRAME);
    fill(img, x0, y1, x1, y1, C_FRAME);
    fill(img, x0, AT + 2, x0, y1, C_FRAME);
    fill(img, x1, AT + 2, x1, y1, C_FRAME);
    for (int i = 0; i < rows; i++) {
        uint8_t c[3];
        int y0 = AT + 6 + i * 12;

        legend_line(&marks[i], line, sizeof line);
        qcal_plot_mark_color((size_t)i, c);
        fill(img, x0 + 6, y0 + 2, x0 + 19, y0 + 4, c);
        text(img, x0 + 24, y0, line, 1, C_TEXT, false);
    }
}

static void draw_title(uint8_t *img, const char *name, const qcal_hist *h)
{
    char t[512], sub[256];

    if (h->count > 0)
        snprintf(t, sizeof t, "%s  [%.6g, %.6g]", name, (double)h->min, (double)h->max);
    else
        snprintf(t, sizeof t, "%s  (no finite values)", name);
    if (text_width(t, 2) <= W - 16) {
        text(img, 8, 6, t, 2, C_TEXT, false);
    } else {
        ellipsize(t, (size_t)(W - 16) / CELL_W);
        text(img, 8, 10, t, 1, C_TEXT, false);
    }
    snprintf(sub, sizeof sub,
             "%llu finite values   NaN %llu   +Inf %llu   -Inf %llu   bin width 2^%d, %zu bins",
             (unsigned long long)h->count, (unsigned long long)h->nan,
             (unsigned long long)h->pinf, (unsigned long long)h->ninf, h->e, h->bins);
    text(img, 8, 28, sub, 1, C_MUTED, false);
}

qcal_status qcal_plot_render(const char *name, const qcal_hist *h, const qcal_plot_mark *marks,
                             size_t n_marks, uint8_t *rgb, qcal_error *err)
{
    uint64_t *col;
    int *top;
    uint64_t best = 0;
    double lo, hi, ytop;
    int K;

    if (!h || !rgb || (h->count > 0 && (!h->counts || h->bins == 0)) || (n_marks && !marks))
        return qcal_error_set(err, QCAL_E_INVALID, "plot '%s': no histogram or image buffer",
                              name ? name : "");
    col = calloc(AW, sizeof *col);
    top = calloc(AW, sizeof *top);
    if (!col || !top) {
        free(col);
        free(top);
        return qcal_error_set(err, QCAL_E_NOMEM, "plot '%s': out of memory", name ? name : "");
    }
    for (size_t i = 0; i < (size_t)W * H; i++)
        memcpy(rgb + i * 3, C_WHITE, 3);
    draw_title(rgb, name ? name : "", h);
    qcal_plot_x_range(h, marks, n_marks, &lo, &hi);
    if (h->count > 0)
        best = bin_columns(h, lo, hi, col);
    /* The y axis ends at the first decade tick at or above the largest count (at least 10). */
    K = best > 1 ? (int)ceil(log10((double)best)) : 1;
    K = K < 1 ? 1 : K;
    ytop = log10(1.0 + pow(10.0, K));
    draw_x_axis(rgb, lo, hi);
    draw_y_axis(rgb, K, ytop);
    for (int c = 0; c < AW; c++) {
        top[c] = AT + AH;
        if (col[c] == 0)
            continue;
        top[c] = y_row(log10(1.0 + (double)col[c]), ytop);
        top[c] = top[c] > AT + AH - 2 ? AT + AH - 2 : top[c];
        fill(rgb, AL + c, top[c], AL + c, AT + AH - 1, C_BAR);
    }
    if (h->count == 0)
        text(rgb, AL + AW / 2 - text_width("no finite values", 2) / 2, AT + AH / 2 - 7,
             "no finite values", 2, C_MUTED, false);
    draw_marks(rgb, marks, n_marks, lo, hi, top);
    /* The frame goes over bars and grid; the legend over everything. */
    fill(rgb, AL - 1, AT - 1, AL + AW, AT - 1, C_FRAME);
    fill(rgb, AL - 1, AT + AH, AL + AW, AT + AH, C_FRAME);
    fill(rgb, AL - 1, AT - 1, AL - 1, AT + AH, C_FRAME);
    fill(rgb, AL + AW, AT - 1, AL + AW, AT + AH, C_FRAME);
    draw_legend(rgb, marks, n_marks, lo, hi, top);
    free(col);
    free(top);
    return QCAL_OK;
}

/* ---- PNG -------------------------------------------------------------------------------- */

typedef struct png_out {
    jmp_buf jmp;
    char msg[256];
    png_structp png;
    png_infop info;
    unsigned char *buf;
    size_t len, cap;
    bool nomem;
} png_out;

static void on_error(png_structp png, png_const_charp msg)
{
    png_out *o = png_get_error_ptr(png);

    snprintf(o->msg, sizeof o->msg, "%s", msg ? msg : "unknown libpng error");
    longjmp(o->jmp, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void on_write(png_structp png, png_bytep data, size_t n)
{
    png_out *o = png_get_io_ptr(png);

    if (n > o->cap - o->len) {
        size_t cap = o->cap ? o->cap : 65536;
        unsigned char *p;

        while (n > cap - o->len)
            cap *= 2;
        p = realloc(o->buf, cap);
        if (!p) {
            o->nomem = true;
            png_error(png, "out of memory");
        }
        o->buf = p;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, data, n);
    o->len += n;
}

static void on_flush(png_structp png)
{
    (void)png;
}

/* Every libpng call happens here; o owns everything that outlives a longjmp. Returns 0 on
 * success, 1 after a libpng error (o->msg). */
static int encode_guarded(png_out *o, const uint8_t *rgb, png_bytep *rows, png_textp texts,
                          int n_texts)
{
    if (setjmp(o->jmp))
        return 1;
    png_set_write_fn(o->png, o, on_write, on_flush);
    png_set_IHDR(o->png, o->info, W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_text(o->png, o->info, texts, n_texts);
    for (int y = 0; y < H; y++)
        rows[y] = (png_bytep)(rgb + (size_t)y * W * 3);
    png_set_rows(o->png, o->info, rows);
    png_write_png(o->png, o->info, PNG_TRANSFORM_IDENTITY, NULL);
    return 0;
}

qcal_status qcal_plot_hist_png(const char *path, const char *name, const qcal_hist *h,
                               const qcal_plot_mark *marks, size_t n_marks, qcal_error *err)
{
    qcal_status st = QCAL_OK;
    uint8_t *rgb = NULL;
    png_bytep *rows = NULL;
    png_out *o = NULL;
    png_text texts[2];
    char axis[128], title[256];
    double lo, hi;

    rgb = malloc((size_t)W * H * 3);
    rows = malloc(H * sizeof *rows);
    o = calloc(1, sizeof *o);
    if (!rgb || !rows || !o) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    st = qcal_plot_render(name, h, marks, n_marks, rgb, err);
    if (st != QCAL_OK)
        goto out;
    qcal_plot_x_range(h, marks, n_marks, &lo, &hi);
    snprintf(axis, sizeof axis, "%.17g %.17g %d %d", lo, hi, AL, AW);
    snprintf(title, sizeof title, "%s", name ? name : "");
    memset(texts, 0, sizeof texts);
    texts[0].compression = PNG_TEXT_COMPRESSION_NONE;
    texts[0].key = "Title";
    texts[0].text = title;
    texts[1].compression = PNG_TEXT_COMPRESSION_NONE;
    texts[1].key = "qcal:x-axis";
    texts[1].text = axis;
    o->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, o, on_error, on_warning);
    if (o->png)
        o->info = png_create_info_struct(o->png);
    if (!o->png || !o->info) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: cannot create the PNG encoder", path);
        goto out;
    }
    if (encode_guarded(o, rgb, rows, texts, 2) != 0) {
        st = qcal_error_set(err, o->nomem ? QCAL_E_NOMEM : QCAL_E_IO, "%s: PNG encoding: %s",
                            path, o->msg);
        goto out;
    }
    st = qcal__atomic_write(path, o->buf, o->len, err);
out:
    if (o) {
        if (o->png)
            png_destroy_write_struct(&o->png, o->info ? &o->info : NULL);
        free(o->buf);
        free(o);
    }
    free(rows);
    free(rgb);
    return st;
}
