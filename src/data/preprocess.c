/*
 * Preprocess options and the image -> float32 tensor transform: channel conversion, bilinear
 * resampling with half-pixel centres (stretch, letterbox, center-crop), normalisation, layout.
 * include/qcal/data.h states the exact rules; this file implements them literally, in float32
 * with a fixed evaluation order.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"

static const char *const RESIZE_NAMES[] = { "stretch", "letterbox", "center-crop" };
static const char *const CHANNELS_NAMES[] = { "auto", "gray", "rgb", "bgr" };
static const char *const LAYOUT_NAMES[] = { "nchw", "nhwc" };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *qcal_resize_name(qcal_resize r)
{
    return (unsigned)r < COUNT(RESIZE_NAMES) ? RESIZE_NAMES[r] : "unknown";
}

const char *qcal_channels_name(qcal_channels c)
{
    return (unsigned)c < COUNT(CHANNELS_NAMES) ? CHANNELS_NAMES[c] : "unknown";
}

const char *qcal_layout_name(qcal_layout l)
{
    return (unsigned)l < COUNT(LAYOUT_NAMES) ? LAYOUT_NAMES[l] : "unknown";
}

void qcal_preprocess_init(qcal_preprocess *pp)
{
    memset(pp, 0, sizeof *pp);
    pp->resize = QCAL_RESIZE_STRETCH;
    pp->channels = QCAL_CHANNELS_AUTO;
    pp->layout = QCAL_LAYOUT_NCHW;
    pp->scale = 1.0f;
    for (int c = 0; c < 4; c++) {
        pp->mean[c] = 0.0f;
        pp->std[c] = 1.0f;
    }
}

/* "--size" -> "size"; job-file keys come without dashes. */
static const char *bare(const char *name)
{
    while (*name == '-')
        name++;
    return name;
}

static const char *const OPTION_NAMES[] = { "size",   "resize", "channels", "layout",
                                            "scale",  "mean",   "std" };

bool qcal_preprocess_is_option(const char *name)
{
    const char *b = bare(name);
    for (size_t i = 0; i < COUNT(OPTION_NAMES); i++)
        if (strcmp(b, OPTION_NAMES[i]) == 0)
            return true;
    return false;
}

static int find_name(const char *const *names, size_t n, const char *v)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], v) == 0)
            return (int)i;
    return -1;
}

/* A positive decimal int; *end is set past it. */
static bool parse_pos_int(const char *s, const char **end, int *out)
{
    long v = 0;

    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s - '0');
        if (v > 1000000)
            return false;
        s++;
    }
    if (v <= 0)
        return false;
    *end = s;
    *out = (int)v;
    return true;
}

/* One float with strtof: correctly rounded, like a float literal. Whole string consumed up to
 * a ',' or the end. */
static bool parse_float(const char *s, const char **end, float *out)
{
    char *e;

    if (*s == '\0' || *s == ',' || *s == ' ')
        return false;
    errno = 0;
    *out = strtof(s, &e);
    if (e == s || (*e != '\0' && *e != ',') || !isfinite(*out) || errno == ERANGE)
        return false;
    *end = e;
    return true;
}

/* "a[,b[,c[,d]]]" into v, *n values. */
static bool parse_floats(const char *s, float *v, int *n)
{
    const char *e;

    *n = 0;
    for (;;) {
        if (*n == 4 || !parse_float(s, &e, &v[*n]))
            return false;
        (*n)++;
        if (*e == '\0')
            return true;
        s = e + 1;
    }
}

qcal_status qcal_preprocess_parse(qcal_preprocess *pp, const char *name, const char *value,
                                  qcal_error *err)
{
    const char *b = bare(name);
    const char *e;
    int k;

    if (!value)
        return qcal_error_set(err, QCAL_E_INVALID, "--%s: missing value", b);
    if (strcmp(b, "size") == 0) {
        int w, h;
        if (!parse_pos_int(value, &e, &w) || (*e != 'x' && *e != 'X') ||
            !parse_pos_int(e + 1, &e, &h) || *e != '\0')
            return qcal_error_set(err, QCAL_E_INVALID,
                                  "--size '%s': expected WxH with positive integers (e.g. 224x224)",
                                  value);
        pp->width = w;
        pp->height = h;
    } else if (strcmp(b, "resize") == 0) {
        k = find_name(RESIZE_NAMES, COUNT(RESIZE_NAMES), value);
        if (k < 0)
            return qcal_error_set(err, QCAL_E_INVALID,
                                  "--resize '%s': expected stretch, letterbox or center-crop",
                                  value);
        pp->resize = (qcal_resize)k;
    } else if (strcmp(b, "channels") == 0) {
        k = find_name(CHANNELS_NAMES, COUNT(CHANNELS_NAMES), value);
        if (k <= 0)
            return qcal_error_set(err, QCAL_E_INVALID, "--channels '%s': expected gray, rgb or bgr",
                                  value);
        pp->channels = (qcal_channels)k;
    } else if (strcmp(b, "layout") == 0) {
        k = find_name(LAYOUT_NAMES, COUNT(LAYOUT_NAMES), value);
        if (k < 0)
            return qcal_error_set(err, QCAL_E_INVALID, "--layout '%s': expected nchw or nhwc",
                                  value);
        pp->layout = (qcal_layout)k;
    } else if (strcmp(b, "scale") == 0) {
        float s;
        if (!parse_float(value, &e, &s) || *e != '\0' || !(s > 0.0f))
            return qcal_error_set(err, QCAL_E_INVALID,
                                  "--scale '%s': expected a finite number > 0", value);
        pp->has_scale = true;
        pp->scale = s;
    } else if (strcmp(b, "mean") == 0 || strcmp(b, "std") == 0) {
        bool is_std = b[0] == 's';
        float v[4];
        int n;
        if (!parse_floats(value, v, &n))
            return qcal_error_set(err, QCAL_E_INVALID,
                                  "--%s '%s': expected 1 to 4 comma-separated finite numbers", b,
                                  value);
        for (int i = 0; is_std && i < n; i++)
            if (v[i] == 0.0f)
                return qcal_error_set(err, QCAL_E_INVALID, "--std '%s': values must be non-zero",
                                      value);
        float *dst = is_std ? pp->std : pp->mean;
        for (int c = 0; c < 4; c++)
            dst[c] = v[n == 1 ? 0 : (c < n ? c : n - 1)];
        if (is_std)
            pp->n_std = n;
        else
            pp->n_mean = n;
    } else {
        return qcal_error_set(err, QCAL_E_INVALID, "unknown preprocess option '%s'", name);
    }
    return QCAL_OK;
}

static int channels_of(qcal_channels ch)
{
    return ch == QCAL_CHANNELS_GRAY ? 1 : ch == QCAL_CHANNELS_AUTO ? 0 : 3;
}

/* Positions of C, H, W in a rank-4 shape for the layout. */
static void layout_axes(qcal_layout l, int *ac, int *ah, int *aw)
{
    if (l == QCAL_LAYOUT_NHWC) {
        *ah = 1;
        *aw = 2;
        *ac = 3;
    } else {
        *ac = 1;
        *ah = 2;
        *aw = 3;
    }
}

qcal_status qcal_preprocess_resolve_shape(const qcal_preprocess *pp, const int64_t *decl,
                                          int rank, int64_t *dims, qcal_error *err)
{
    qcal_preprocess def;
    int ac, ah, aw;
    char s[128];

    if (!pp) {
        qcal_preprocess_init(&def);
        pp = &def;
    }
    qcal__data_shape_str(decl, rank, s, sizeof s);
    if (rank != 4)
        return qcal_error_set(err, QCAL_E_SHAPE,
                              "image inputs need a rank-4 %s shape, the model input is %s",
                              pp->layout == QCAL_LAYOUT_NHWC ? "[1,H,W,C]" : "[1,C,H,W]", s);
    layout_axes(pp->layout, &ac, &ah, &aw);
    memcpy(dims, decl, 4 * sizeof *dims);
    if (dims[0] <= 0)
        dims[0] = 1;
    if (dims[ac] <= 0)
        dims[ac] = channels_of(pp->channels);
    if (dims[ah] <= 0)
        dims[ah] = pp->height;
    if (dims[aw] <= 0)
        dims[aw] = pp->width;
    if (dims[0] != 1 || dims[ac] <= 0 || dims[ah] <= 0 || dims[aw] <= 0)
        return qcal_error_set(err, QCAL_E_SHAPE,
                              "model input %s (%s): batch must be 1 and symbolic channel/size "
                              "dimensions need --channels/--size",
                              s, qcal_layout_name(pp->layout));
    if ((pp->width && pp->width != dims[aw]) || (pp->height && pp->height != dims[ah]))
        return qcal_error_set(err, QCAL_E_SHAPE, "--size %dx%d contradicts the model input %s (%s)",
                              pp->width, pp->height, s, qcal_layout_name(pp->layout));
    return QCAL_OK;
}

qcal_status qcal_preprocess_check(const qcal_preprocess *pp, const int64_t *dims, int rank,
                                  qcal_error *err)
{
    int ac, ah, aw;
    int64_t c;
    char s[128];

    qcal__data_shape_str(dims, rank, s, sizeof s);
    if (rank != 4 || dims[0] != 1)
        return qcal_error_set(err, QCAL_E_SHAPE,
                              "image inputs need a %s shape with batch 1, the model input is %s",
                              pp->layout == QCAL_LAYOUT_NHWC ? "[1,H,W,C]" : "[1,C,H,W]", s);
    layout_axes(pp->layout, &ac, &ah, &aw);
    c = dims[ac];
    if (dims[ah] <= 0 || dims[aw] <= 0 || (c != 1 && c != 3))
        return qcal_error_set(err, QCAL_E_SHAPE,
                              "model input %s (%s): images need 1 or 3 channels and a positive "
                              "size",
                              s, qcal_layout_name(pp->layout));
    if (pp->channels != QCAL_CHANNELS_AUTO && channels_of(pp->channels) != c)
        return qcal_error_set(err, QCAL_E_SHAPE, "--channels %s gives %d channels, the model "
                              "input %s (%s) has %lld",
                              qcal_channels_name(pp->channels), channels_of(pp->channels), s,
                              qcal_layout_name(pp->layout), (long long)c);
    if ((pp->width && pp->width != dims[aw]) || (pp->height && pp->height != dims[ah]))
        return qcal_error_set(err, QCAL_E_SHAPE, "--size %dx%d contradicts the model input %s (%s)",
                              pp->width, pp->height, s, qcal_layout_name(pp->layout));
    if ((pp->n_mean > 1 && pp->n_mean != c) || (pp->n_std > 1 && pp->n_std != c))
        return qcal_error_set(err, QCAL_E_INVALID,
                              "--mean/--std give %d/%d values, the model input has %lld channels",
                              pp->n_mean, pp->n_std, (long long)c);
    for (int64_t i = 0; i < c; i++)
        if (pp->std[i] == 0.0f || !isfinite(pp->std[i]) || !isfinite(pp->mean[i]))
            return qcal_error_set(err, QCAL_E_INVALID, "std[%lld] is zero or non-finite",
                                  (long long)i);
    if (pp->has_scale && !isfinite(pp->scale))
        return qcal_error_set(err, QCAL_E_INVALID, "--scale is not finite");
    return QCAL_OK;
}

/* Where output coordinate o along one axis reads from: samples i0, i1 with weight f of i1, or
 * padding. */
typedef struct tap {
    int i0, i1;
    float f;
    bool pad;
} tap;

/*
 * Fills map[out] for one axis: the image (length in) is resized to length rs, and output o reads
 * resized position t = o + shift (shift = crop offset - pad offset); t outside [0, rs) is
 * padding. rs == in means no resampling (f = 0, i0 = t: an exact copy).
 */
static void build_axis(tap *map, int out, int in, int rs, int shift)
{
    const float r = (float)in / (float)rs;

    for (int o = 0; o < out; o++) {
        int t = o + shift;
        tap *m = &map[o];
        m->pad = t < 0 || t >= rs;
        m->i0 = m->i1 = 0;
        m->f = 0.0f;
        if (m->pad)
            continue;
        if (rs == in) {
            m->i0 = m->i1 = t;
            continue;
        }
        float src = ((float)t + 0.5f) * r - 0.5f;
        if (src < 0.0f)
            src = 0.0f;
        int i0 = (int)src; /* floor: src >= 0 */
        if (i0 >= in - 1) {
            m->i0 = m->i1 = in - 1;
        } else {
            m->i0 = i0;
            m->i1 = i0 + 1;
            m->f = src - (float)i0;
        }
    }
}

/* h * W / w rounded half up, in integers, clamped to [1, cap] (cap <= 0: no upper clamp). */
static int scaled_len(int64_t h, int64_t W, int64_t w, int64_t cap)
{
    int64_t v = (2 * h * W + w) / (2 * w);
    if (v < 1)
        v = 1;
    if (cap > 0 && v > cap)
        v = cap;
    return (int)v;
}

/* Float pixel value of output channel c at (x, y) after channel conversion (data.h step 1). */
static inline float pixel(const qcal_image *img, int x, int y, int c, int mode)
{
    if (img->channels < 3) {
        return (float)qcal_image_at(img, x, y, 0);
    }
    /* mode: 0 gray, 1 rgb, 2 bgr. */
    if (mode == 0) {
        float r = (float)qcal_image_at(img, x, y, 0);
        float g = (float)qcal_image_at(img, x, y, 1);
        float b = (float)qcal_image_at(img, x, y, 2);
        float y0 = 0.299f * r;
        float y1 = 0.587f * g;
        float y2 = 0.114f * b;
        return (y0 + y1) + y2;
    }
    return (float)qcal_image_at(img, x, y, mode == 1 ? c : 2 - c);
}

qcal_status qcal_preprocess_image(const qcal_image *img, const int64_t *dims, int rank,
                                  const qcal_preprocess *pp, float *out, qcal_error *err)
{
    qcal_status st;
    qcal_preprocess def;
    int ac, ah, aw, C, H, W, w, h, rw, rh, shift_x, shift_y, mode;
    tap *mx = NULL, *my = NULL;
    float maxval;

    if (!pp) {
        qcal_preprocess_init(&def);
        pp = &def;
    }
    st = qcal_preprocess_check(pp, dims, rank, err);
    if (st != QCAL_OK)
        return st;
    if (!img->data || img->width <= 0 || img->height <= 0 || img->channels < 1 ||
        img->channels > 4 || (img->bit_depth != 8 && img->bit_depth != 16))
        return qcal_error_set(err, QCAL_E_INVALID, "empty or invalid image");
    layout_axes(pp->layout, &ac, &ah, &aw);
    C = (int)dims[ac];
    H = (int)dims[ah];
    W = (int)dims[aw];
    w = img->width;
    h = img->height;
    mode = C == 1 ? 0 : pp->channels == QCAL_CHANNELS_BGR ? 2 : 1;
    maxval = img->bit_depth == 16 ? 65535.0f : 255.0f;

    /* Resized size (rw, rh) and the shift from output to resized coordinates. */
    rw = W;
    rh = H;
    shift_x = shift_y = 0;
    if (pp->resize == QCAL_RESIZE_LETTERBOX) {
        if ((int64_t)W * h <= (int64_t)H * w) {
            rw = W;
            rh = scaled_len(h, W, w, H);
        } else {
            rh = H;
            rw = scaled_len(w, H, h, W);
        }
        shift_x = -((W - rw) / 2);
        shift_y = -((H - rh) / 2);
    } else if (pp->resize == QCAL_RESIZE_CENTER_CROP) {
        if ((int64_t)W * h >= (int64_t)H * w) {
            rw = W;
            rh = scaled_len(h, W, w, 0);
        } else {
            rh = H;
            rw = scaled_len(w, H, h, 0);
        }
        shift_x = (rw - W) / 2;
        shift_y = (rh - H) / 2;
    }
    mx = malloc((size_t)W * sizeof *mx);
    my = malloc((size_t)H * sizeof *my);
    if (!mx || !my) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "cannot allocate resize tables");
        goto out;
    }
    build_axis(mx, W, w, rw, shift_x);
    build_axis(my, H, h, rh, shift_y);

    for (int oy = 0; oy < H; oy++) {
        const tap *ty = &my[oy];
        for (int ox = 0; ox < W; ox++) {
            const tap *tx = &mx[ox];
            for (int c = 0; c < C; c++) {
                float v;
                if (tx->pad || ty->pad) {
                    v = 0.0f;
                } else if (tx->f == 0.0f && ty->f == 0.0f) {
                    v = pixel(img, tx->i0, ty->i0, c, mode);
                } else {
                    float a = pixel(img, tx->i0, ty->i0, c, mode);
                    float b = pixel(img, tx->i1, ty->i0, c, mode);
                    float cc = pixel(img, tx->i0, ty->i1, c, mode);
                    float d = pixel(img, tx->i1, ty->i1, c, mode);
                    float top = a + tx->f * (b - a);
                    float bot = cc + tx->f * (d - cc);
                    v = top + ty->f * (bot - top);
                }
                float x = pp->has_scale ? (v * pp->scale - pp->mean[c]) / pp->std[c]
                                        : (v / maxval - pp->mean[c]) / pp->std[c];
                size_t idx = pp->layout == QCAL_LAYOUT_NHWC
                                 ? ((size_t)oy * (size_t)W + (size_t)ox) * (size_t)C + (size_t)c
                                 : ((size_t)c * (size_t)H + (size_t)oy) * (size_t)W + (size_t)ox;
                out[idx] = x;
            }
        }
    }
out:
    free(mx);
    free(my);
    return st;
}

/* Comma-separated %.9g values into buf (always terminated; truncated if too small). */
static void json_floats(char *buf, size_t cap, const float *v, int n)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; i < n && used < cap; i++) {
        int k = snprintf(buf + used, cap - used, "%s%.9g", i ? "," : "", (double)v[i]);
        if (k < 0)
            return;
        used += (size_t)k;
    }
}

int qcal_preprocess_json(const qcal_preprocess *pp, char *buf, size_t cap)
{
    char mean[128], stdv[128], size[48], scale[32];

    json_floats(mean, sizeof mean, pp->mean, pp->n_mean > 1 ? pp->n_mean : 1);
    json_floats(stdv, sizeof stdv, pp->std, pp->n_std > 1 ? pp->n_std : 1);
    if (pp->width)
        snprintf(size, sizeof size, "[%d,%d]", pp->width, pp->height);
    else
        snprintf(size, sizeof size, "null");
    if (pp->has_scale)
        snprintf(scale, sizeof scale, "%.9g", (double)pp->scale);
    else
        snprintf(scale, sizeof scale, "null");
    return snprintf(buf, cap,
                    "{\"size\":%s,\"resize\":\"%s\",\"channels\":\"%s\",\"layout\":\"%s\","
                    "\"scale\":%s,\"mean\":[%s],\"std\":[%s]}",
                    size, qcal_resize_name(pp->resize), qcal_channels_name(pp->channels),
                    qcal_layout_name(pp->layout), scale, mean, stdv);
}
