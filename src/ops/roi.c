/*
 * Region-of-interest pooling: RoiAlign (ONNX -10, -16 adds coordinate_transformation_mode,
 * -22 types) and MaxRoiPool (-1, -22 types), both over 4-D float32 feature maps.
 *
 * RoiAlign follows the ONNX reference (from Detectron): each output bin averages (or, in max
 * mode, takes the largest weighted corner of) a grid of bilinear samples; samples more than
 * one pixel outside the map contribute 0. MaxRoiPool is Caffe's ROI pooling: the ROI is rounded
 * half away from zero to pixels and every bin takes the max of its window (0 if empty).
 *
 * ROI batch indices must lie in [0, N): constant ones are checked at infer time; per-sample ones
 * out of range fail the run (qcal__run_fail) with an all-zero ROI output, never a read outside
 * X.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "qcal/round.h"

typedef struct roi_params {
    int64_t ph, pw;     /* output bin grid */
    float scale;
    int64_t ratio;      /* RoiAlign sampling_ratio (0: adaptive) */
    bool max_mode;      /* RoiAlign mode */
    bool half_pixel;    /* RoiAlign coordinate_transformation_mode */
} roi_params;

/* Shared checks: X float32 4-D, rois float32 [R, cols]; sets the output [R, C, ph, pw]. */
static qcal_status roi_common(qcal__node *n, int nin, int64_t cols, int64_t ph, int64_t pw,
                              qcal_error *err)
{
    const qcal__tensor *x, *r;
    int64_t odims[4];
    qcal_status st = qcal__check_inputs(n, nin, nin, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    x = n->in[0];
    r = n->in[1];
    if (x->dtype != QCAL_DT_FLOAT || r->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "X and rois must be float32 (are "
                                "%s, %s)", qcal_dtype_name(x->dtype), qcal_dtype_name(r->dtype));
    if (x->rank != 4)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "X must be 4-D, is %d-D", x->rank);
    if (r->rank != 2 || r->dims[1] != cols)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "rois must be [num_rois, %lld]",
                                (long long)cols);
    if (ph < 1 || pw < 1)
        return qcal__node_error(err, n, QCAL_E_INVALID, "output size %lldx%lld must be "
                                "positive", (long long)ph, (long long)pw);
    odims[0] = r->dims[0];
    odims[1] = x->dims[1];
    odims[2] = ph;
    odims[3] = pw;
    return qcal__tensor_set_shape(n->out[0], QCAL_DT_FLOAT, 4, odims, err);
}

static roi_params *params_new(qcal__node *n, int64_t ph, int64_t pw, qcal_error *err)
{
    roi_params *p = calloc(1, sizeof *p);

    if (!p) {
        qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
        return NULL;
    }
    n->params = p;
    p->ph = ph;
    p->pw = pw;
    p->scale = qcal__attr_float(n, "spatial_scale", 1.0f);
    return p;
}

/* ---- RoiAlign ---- */

static qcal_status roialign_infer(qcal__node *n, qcal_error *err)
{
    const int64_t ph = qcal__attr_int(n, "output_height", 1), pw = qcal__attr_int(n,
                                                                                "output_width", 1);
    const char *mode = qcal__attr_str(n, "mode", "avg");
    const char *ctm = n->opset >= 16 ? qcal__attr_str(n, "coordinate_transformation_mode",
                                                      "half_pixel") : "output_half_pixel";
    const qcal__tensor *bi;
    roi_params *p;
    qcal_status st = roi_common(n, 3, 4, ph, pw, err);

    if (st != QCAL_OK)
        return st;
    bi = n->in[2];
    if (bi->dtype != QCAL_DT_INT64 && bi->dtype != QCAL_DT_INT32)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "batch_indices are %s, expected "
                                "int64", qcal_dtype_name(bi->dtype));
    if (bi->rank != 1 || bi->dims[0] != n->in[1]->dims[0])
        return qcal__node_error(err, n, QCAL_E_SHAPE, "batch_indices must be [num_rois]");
    if (bi->kind == QCAL__T_CONST && bi->data)
        for (size_t r = 0; r < bi->nelem; r++) {
            const int64_t v = bi->dtype == QCAL_DT_INT64 ? ((const int64_t *)bi->data)[r]
                                                         : ((const int32_t *)bi->data)[r];
            if (v < 0 || v >= n->in[0]->dims[0])
                return qcal__node_error(err, n, QCAL_E_INVALID, "batch index %lld (ROI %zu) "
                                        "out of range for a batch of %lld", (long long)v, r,
                                        (long long)n->in[0]->dims[0]);
        }
    if (!(p = params_new(n, ph, pw, err)))
        return QCAL_E_NOMEM;
    p->ratio = qcal__attr_int(n, "sampling_ratio", 0);
    if (p->ratio < 0)
        return qcal__node_error(err, n, QCAL_E_INVALID, "sampling_ratio %lld < 0",
                                (long long)p->ratio);
    if (strcmp(mode, "avg") != 0 && strcmp(mode, "max") != 0)
        return qcal__node_error(err, n, QCAL_E_INVALID, "mode '%s'", mode);
    p->max_mode = strcmp(mode, "max") == 0;
    if (strcmp(ctm, "half_pixel") != 0 && strcmp(ctm, "output_half_pixel") != 0)
        return qcal__node_error(err, n, QCAL_E_INVALID, "coordinate_transformation_mode '%s'",
                                ctm);
    p->half_pixel = strcmp(ctm, "half_pixel") == 0;
    return QCAL_OK;
}

/* Samples per bin along one axis: sampling_ratio, or ceil(extent / bins), at least 1. The
 * adaptive count is capped so that a huge or non-finite ROI cannot overflow the loop bound. */
static int64_t bin_grid(int64_t ratio, float extent, int64_t bins)
{
    float g;

    if (ratio > 0)
        return ratio;
    g = ceilf(extent / (float)bins);
    if (!(g >= 1.0f))
        return 1;
    return g > 65536.0f ? 65536 : (int64_t)g;
}

/* The four bilinear corners of (y, x) on an H x W plane: offsets and weights, all weights 0
 * when the point is more than a pixel outside. */
static void bilinear(float y, float x, int64_t H, int64_t W, size_t *pos, float *w)
{
    int64_t y0, x0, y1, x1;
    float ly, lx;

    if (!(y >= -1.0f && y <= (float)H && x >= -1.0f && x <= (float)W)) {
        memset(pos, 0, 4 * sizeof *pos);
        memset(w, 0, 4 * sizeof *w);
        return;
    }
    y = y < 0.0f ? 0.0f : y;
    x = x < 0.0f ? 0.0f : x;
    y0 = (int64_t)y;
    x0 = (int64_t)x;
    if (y0 >= H - 1) {
        y0 = y1 = H - 1;
        y = (float)y0;
    } else {
        y1 = y0 + 1;
    }
    if (x0 >= W - 1) {
        x0 = x1 = W - 1;
        x = (float)x0;
    } else {
        x1 = x0 + 1;
    }
    ly = y - (float)y0;
    lx = x - (float)x0;
    pos[0] = (size_t)(y0 * W + x0);
    pos[1] = (size_t)(y0 * W + x1);
    pos[2] = (size_t)(y1 * W + x0);
    pos[3] = (size_t)(y1 * W + x1);
    w[0] = (1.0f - ly) * (1.0f - lx);
    w[1] = (1.0f - ly) * lx;
    w[2] = ly * (1.0f - lx);
    w[3] = ly * lx;
}

/* One output bin of one channel plane. */
static float roialign_bin(const roi_params *p, const float *plane, int64_t H, int64_t W,
                          float y0, float x0, float bh, float bw, int64_t gh, int64_t gw)
{
    float acc = 0.0f;
    bool first = true;

    for (int64_t iy = 0; iy < gh; iy++) {
        const float y = y0 + ((float)iy + 0.5f) * bh / (float)gh;
        for (int64_t ix = 0; ix < gw; ix++) {
            const float x = x0 + ((float)ix + 0.5f) * bw / (float)gw;
            size_t pos[4];
            float w[4];
            bilinear(y, x, H, W, pos, w);
            if (!p->max_mode) {
                acc += w[0] * plane[pos[0]] + w[1] * plane[pos[1]] + w[2] * plane[pos[2]] +
                       w[3] * plane[pos[3]];
            } else {
                /* The reference's max mode: the largest weighted corner of each sample. */
                float v = w[0] * plane[pos[0]];
                for (int k = 1; k < 4; k++)
                    if (w[k] * plane[pos[k]] > v)
                        v = w[k] * plane[pos[k]];
                if (first || v > acc)
                    acc = v;
                first = false;
            }
        }
    }
    return p->max_mode ? acc : acc / (float)(gh * gw);
}

static void roialign_run(const qcal__node *n, void *scratch)
{
    const roi_params *p = n->params;
    const qcal__tensor *x = n->in[0], *bi = n->in[2];
    const float *src = x->data, *rois = n->in[1]->data;
    float *dst = n->out[0]->data;
    const int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    const int64_t R = n->in[1]->dims[0];
    const size_t bins = (size_t)(p->ph * p->pw);
    const float off = p->half_pixel ? 0.5f : 0.0f;

    (void)scratch;
    for (int64_t r = 0; r < R; r++) {
        const float *roi = rois + r * 4;
        const int64_t b = bi->dtype == QCAL_DT_INT64 ? ((const int64_t *)bi->data)[r]
                                                     : ((const int32_t *)bi->data)[r];
        const float sw = roi[0] * p->scale - off, sh = roi[1] * p->scale - off;
        float rw = roi[2] * p->scale - off - sw, rh = roi[3] * p->scale - off - sh;
        float *out = dst + (size_t)r * (size_t)C * bins;
        int64_t gh, gw;
        float bh, bw;

        if (b < 0 || b >= N) {
            memset(out, 0, (size_t)C * bins * sizeof *out);
            qcal__run_fail(n, "ROI batch index out of range");
            continue;
        }
        if (!p->half_pixel) {
            /* output_half_pixel forces malformed ROIs to 1x1. */
            rw = rw > 1.0f ? rw : 1.0f;
            rh = rh > 1.0f ? rh : 1.0f;
        }
        bh = rh / (float)p->ph;
        bw = rw / (float)p->pw;
        gh = bin_grid(p->ratio, rh, p->ph);
        gw = bin_grid(p->ratio, rw, p->pw);
        for (int64_t c = 0; c < C; c++) {
            const float *plane = src + ((size_t)b * (size_t)C + (size_t)c) * (size_t)(H * W);
            for (int64_t i = 0; i < p->ph; i++)
                for (int64_t j = 0; j < p->pw; j++)
                    out[((size_t)c * (size_t)p->ph + (size_t)i) * (size_t)p->pw + (size_t)j] =
                        roialign_bin(p, plane, H, W, sh + (float)i * bh, sw + (float)j * bw, bh,
                                     bw, gh, gw);
        }
    }
}

/* ---- MaxRoiPool ---- */

static qcal_status maxroipool_infer(qcal__node *n, qcal_error *err)
{
    const int64_t *shape = NULL;
    const size_t ns = qcal__attr_ints(n, "pooled_shape", &shape);
    qcal_status st;

    if (ns != 2)
        return qcal__node_error(err, n, QCAL_E_INVALID, "pooled_shape must hold 2 values");
    if ((st = roi_common(n, 2, 5, shape[0], shape[1], err)) != QCAL_OK)
        return st;
    if (n->in[1]->kind == QCAL__T_CONST && n->in[1]->data)
        for (int64_t r = 0; r < n->in[1]->dims[0]; r++) {
            const float v = ((const float *)n->in[1]->data)[r * 5];
            if (!(v >= 0.0f && v < (float)n->in[0]->dims[0]))
                return qcal__node_error(err, n, QCAL_E_INVALID, "batch index %g (ROI %lld) "
                                        "out of range for a batch of %lld", (double)v,
                                        (long long)r, (long long)n->in[0]->dims[0]);
        }
    return params_new(n, shape[0], shape[1], err) ? QCAL_OK : QCAL_E_NOMEM;
}

/* A rounded pixel coordinate kept far inside int64 (huge and NaN ROIs clip to the map anyway). */
static int64_t roi_pixel(float v)
{
    v = qcal_round_half_awayf(v);
    return (int64_t)fminf(fmaxf(v, -1.0e9f), 1.0e9f);
}

static int64_t clip(int64_t v, int64_t hi)
{
    return v < 0 ? 0 : (v > hi ? hi : v);
}

static void maxroipool_run(const qcal__node *n, void *scratch)
{
    const roi_params *p = n->params;
    const qcal__tensor *x = n->in[0];
    const float *src = x->data, *rois = n->in[1]->data;
    float *dst = n->out[0]->data;
    const int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    const int64_t R = n->in[1]->dims[0];

    (void)scratch;
    for (int64_t r = 0; r < R; r++) {
        const float *roi = rois + r * 5;
        const int64_t sw = roi_pixel(roi[1] * p->scale), sh = roi_pixel(roi[2] * p->scale);
        const int64_t ew = roi_pixel(roi[3] * p->scale), eh = roi_pixel(roi[4] * p->scale);
        const float bh = (float)(eh - sh + 1 > 1 ? eh - sh + 1 : 1) / (float)p->ph;
        const float bw = (float)(ew - sw + 1 > 1 ? ew - sw + 1 : 1) / (float)p->pw;
        const bool bad = !(roi[0] >= 0.0f && roi[0] < (float)N);
        const int64_t b = bad ? 0 : (int64_t)roi[0];

        if (bad)
            qcal__run_fail(n, "ROI batch index out of range");
        for (int64_t c = 0; c < C; c++) {
            const float *plane = src + ((size_t)b * (size_t)C + (size_t)c) * (size_t)(H * W);
            float *out = dst + ((size_t)r * (size_t)C + (size_t)c) * (size_t)(p->ph * p->pw);
            for (int64_t i = 0; i < p->ph; i++) {
                const int64_t h0 = clip((int64_t)floorf((float)i * bh) + sh, H);
                const int64_t h1 = clip((int64_t)ceilf((float)(i + 1) * bh) + sh, H);
                for (int64_t j = 0; j < p->pw; j++) {
                    const int64_t w0 = clip((int64_t)floorf((float)j * bw) + sw, W);
                    const int64_t w1 = clip((int64_t)ceilf((float)(j + 1) * bw) + sw, W);
                    float m = 0.0f;
                    if (!bad && h1 > h0 && w1 > w0) {
                        m = plane[h0 * W + w0];
                        for (int64_t y = h0; y < h1; y++)
                            for (int64_t xx = w0; xx < w1; xx++)
                                if (plane[y * W + xx] > m)
                                    m = plane[y * W + xx];
                    }
                    out[i * p->pw + j] = m;
                }
            }
        }
    }
}

const qcal__op qcal__ops_roi[] = {
    { "MaxRoiPool", 1, QCAL__OPSET_LAST, maxroipool_infer, maxroipool_run, 0 },
    { "RoiAlign", 10, QCAL__OPSET_LAST, roialign_infer, roialign_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
