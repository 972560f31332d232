/*
 * Blocked direct 2-D convolution for x86-64 CPUs with AVX-512 (see conv_blocked.h).
 *
 * Layout. The output channels of a group are split into blocks of up to 32 (nb = 2 vectors of 16
 * lanes; the last block may have one vector, lanes past the channel count hold zero weights).
 * The packed weights of a block are [kk][nb * 16]: for tap k = (c, kh, kw) one vector per 16
 * channels. The input of one (image, group) is copied into a zero-padded plane per channel,
 * split into sw column phases so that consecutive output columns read consecutive floats for
 * every tap: output (oh, ow) at tap (kh, kw) reads phase (kw * dw) % sw, row oh * sh + kh * dh,
 * column ow + (kw * dw) / sw. tap[k] is that offset for ow = oh = 0.
 *
 * Tile. One call computes nb * 16 channels times P consecutive outputs of one row: nb * P vector
 * accumulators start at the bias, and per tap the nb weight vectors are multiplied by the
 * broadcast input value of each position (one fused multiply-add each). The P x 16 result of
 * each vector is transposed in registers and stored as P consecutive outputs per channel
 * (masked stores). P is a compile-time constant of each tile function, up to 14 for nb = 2 and
 * 16 for nb = 1, so the accumulators stay in registers; a row wider than that is split into
 * nearly equal tiles, and rows of at most P / 2 outputs are computed two at a time.
 *
 * Without AVX-512 at compile time (another architecture or compiler) the kernel is reported as
 * unavailable and Conv keeps its im2col + sgemm path.
 */
#include "ops/conv_blocked.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CONVB_X86 1
#include <immintrin.h>
#else
#define CONVB_X86 0
#endif

#define LANES 16
/*
 * Vectors per channel block. Two (32 channels) measured best on the fmnist and 56x56 shapes
 * (AMD Zen 5): with four, a block's packed weights (kk * 256 bytes) often outgrow L1.
 */
#define MAX_NB 2

/* Largest tile width for nb vectors: at most 28 accumulators, 16 rows per transpose. */
static int pmax_for(int nb)
{
    static const int pmax[MAX_NB + 1] = { 0, 16, 14 };
    return pmax[nb];
}

static int64_t round_up(int64_t v, int64_t m)
{
    return (v + m - 1) / m * m;
}

bool qcal__convb_plan(qcal__convb *g)
{
    int64_t wp, plane;

    for (int i = 0; i < 2; i++) {
        if (g->in[i] < 1 || g->out[i] < 1 || g->k[i] < 1 || g->s[i] < 1 || g->d[i] < 1 ||
            g->pad[i] < 0)
            return false;
    }
    if (g->batch < 1 || g->group < 1 || g->cg < 1 || g->mg < 1)
        return false;
    g->hp = (g->out[0] - 1) * g->s[0] + (g->k[0] - 1) * g->d[0] + 1;
    wp = (g->out[1] - 1) * g->s[1] + (g->k[1] - 1) * g->d[1] + 1;
    g->copy = !(g->pad[0] == 0 && g->pad[1] == 0 && g->s[1] == 1 && g->hp <= g->in[0] &&
                wp <= g->in[1]);
    if (g->copy) {
        g->wq = (wp + g->s[1] - 1) / g->s[1];
        plane = g->s[1] * g->hp * g->wq;
    } else {
        g->hp = g->in[0];
        g->wq = g->in[1];
        plane = g->hp * g->wq;
    }
    /* Tap offsets are int32: the whole padded input of a group must be indexable. */
    if (plane > INT32_MAX / g->cg)
        return false;
    g->nb = g->mg <= LANES ? 1 : MAX_NB;
    g->n_blk = (g->mg + g->nb * LANES - 1) / (g->nb * LANES);
    g->kk = g->cg * g->k[0] * g->k[1];
    g->packed = g->group * g->kk * round_up(g->mg, LANES);
    return true;
}

size_t qcal__convb_scratch(const qcal__convb *g)
{
    size_t floats = (size_t)round_up(g->mg, LANES);

    if (g->copy)
        floats += (size_t)(g->cg * g->s[1] * g->hp * g->wq);
    return floats * sizeof(float);
}

/* Vectors of block blk (all full but possibly the last). */
static int block_vectors(const qcal__convb *g, int64_t blk)
{
    int64_t left = (g->mg - blk * g->nb * LANES + LANES - 1) / LANES;
    return left < g->nb ? (int)left : g->nb;
}

void qcal__convb_pack(const qcal__convb *g, const float *w, float *packed, int32_t *tap)
{
    const int64_t plane = g->s[1] * g->hp * g->wq;

    for (int64_t c = 0; c < g->cg; c++) {
        for (int64_t i = 0; i < g->k[0]; i++) {
            for (int64_t j = 0; j < g->k[1]; j++) {
                const int64_t cd = j * g->d[1];
                tap[(c * g->k[0] + i) * g->k[1] + j] =
                    (int32_t)(c * plane + (cd % g->s[1]) * g->hp * g->wq + i * g->d[0] * g->wq +
                              cd / g->s[1]);
            }
        }
    }
    for (int64_t grp = 0; grp < g->group; grp++) {
        for (int64_t blk = 0; blk < g->n_blk; blk++) {
            const int64_t m0 = blk * g->nb * LANES, width = block_vectors(g, blk) * LANES;
            float *dst = packed + (grp * round_up(g->mg, LANES) + m0) * g->kk;

            for (int64_t k = 0; k < g->kk; k++, dst += width) {
                for (int64_t l = 0; l < width; l++) {
                    const int64_t m = m0 + l;
                    dst[l] = m < g->mg ? w[(grp * g->mg + m) * g->kk + k] : 0.0f;
                }
            }
        }
    }
}

/* Sets n floats of dst to zero (rows are short: a loop beats a library call). */
static void zero_floats(float *restrict dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = 0.0f;
}

/*
 * Copies the cg input planes of one (image, group) into the zero-padded, phase-split layout:
 * plane[((c * sw + q) * hp + r) * wq + j] = x[c, r - pad0, j * sw + q - pad1] (0 outside X).
 */
static void fill_plane(const qcal__convb *g, const float *restrict x, float *restrict plane)
{
    const int64_t sw = g->s[1], ih = g->in[0], iw = g->in[1], wq = g->wq, hp = g->hp;
    /* Rows [r0, r1) of the plane come from X (rows r - pad0), the others are zero. */
    const int64_t r0 = g->pad[0] < hp ? g->pad[0] : hp;
    const int64_t r1 = g->pad[0] + ih < hp ? g->pad[0] + ih : hp;

    for (int64_t q = 0; q < sw; q++) {
        /* Columns j of phase q with 0 <= j * sw + off < iw form [lo, hi). */
        const int64_t off = q - g->pad[1];
        const int64_t lo0 = off >= 0 ? 0 : (-off + sw - 1) / sw;
        const int64_t hi0 = iw - 1 - off >= 0 ? (iw - 1 - off) / sw + 1 : 0;
        const int64_t hi = hi0 < wq ? hi0 : wq, lo = lo0 < hi ? lo0 : hi;

        for (int64_t c = 0; c < g->cg; c++) {
            float *dst = plane + (c * sw + q) * hp * wq;
            const float *src = x + c * ih * iw + off;

            zero_floats(dst, r0 * wq);
            for (int64_t r = r0; r < r1; r++) {
                float *d = dst + r * wq;
                const float *s = src + (r - g->pad[0]) * iw;

                zero_floats(d, lo);
                if (sw == 1) {
                    for (int64_t j = lo; j < hi; j++)
                        d[j] = s[j];
                } else {
                    for (int64_t j = lo; j < hi; j++)
                        d[j] = s[j * sw];
                }
                zero_floats(d + hi, wq - hi);
            }
            zero_floats(dst + r1 * wq, (hp - r1) * wq);
        }
    }
}

#if CONVB_X86

#define TGT __attribute__((target("avx512f")))
#define UNROLL _Pragma("GCC unroll 32")

typedef void (*tile_fn)(const float *x, int64_t rs, const int32_t *tap, int64_t kk,
                        const float *w, const float *bias, float *y, int64_t ys, int nch);

/* In-place transpose of 16 rows of 16 floats. */
TGT static inline void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];

    UNROLL for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[4g + c] holds, in 128-bit lane L, rows 4g..4g+3 of column 4L + c. */
    UNROLL for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    UNROLL for (int c = 0; c < 4; c++) {
        const __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);
        const __m512 w0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        const __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
        const __m512 w1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);

        r[c] = _mm512_shuffle_f32x4(v0, w0, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(v1, w1, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
    }
}

/* Lanes [a, b) of a 16-lane mask, clipped to [0, 16). */
static inline __mmask16 lane_range(int64_t a, int64_t b)
{
    a = a < 0 ? 0 : a;
    b = b > LANES ? LANES : b;
    return a >= b ? 0 : (__mmask16)(((1u << b) - 1u) & ~((1u << a) - 1u));
}

/* Stores zeros over n floats. */
TGT static inline void zero_vec(float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i += LANES)
        _mm512_mask_storeu_ps(dst + i, lane_range(0, n - i), _mm512_setzero_ps());
}

/*
 * fill_plane for column stride 1, 16 columns at a time: masked loads read only the input columns
 * (lanes outside them come back zero), masked stores end each row.
 */
TGT static void fill_plane_s1(const qcal__convb *g, const float *restrict x, float *restrict plane)
{
    const int64_t ih = g->in[0], iw = g->in[1], wq = g->wq, hp = g->hp;
    const int64_t p0 = g->pad[0], p1 = g->pad[1];
    const int64_t r0 = p0 < hp ? p0 : hp, r1 = p0 + ih < hp ? p0 + ih : hp;
    const int64_t lo = p1 < wq ? p1 : wq, hi = p1 + iw < wq ? p1 + iw : wq;

    for (int64_t c = 0; c < g->cg; c++, plane += hp * wq) {
        const float *xc = x + c * ih * iw;

        zero_vec(plane, r0 * wq);
        for (int64_t r = r0; r < r1; r++) {
            /* Plane column j holds input column j - p1; the address of column -p1 is formed
             * as an integer so that no pointer leaves the row. */
            const uintptr_t xr = (uintptr_t)(xc + (r - p0) * iw) - (uintptr_t)p1 * sizeof(float);
            float *d = plane + r * wq;

            for (int64_t j = 0; j < wq; j += LANES) {
                const __m512 v = _mm512_maskz_loadu_ps(lane_range(lo - j, hi - j),
                                                       (const float *)(xr + (uintptr_t)j *
                                                                                sizeof(float)));
                _mm512_mask_storeu_ps(d + j, lane_range(0, wq - j), v);
            }
        }
        zero_vec(plane + r1 * wq, (hp - r1) * wq);
    }
}

/*
 * NAME: NB * 16 channels (nch of them stored) x P outputs, the first W of them consecutive
 * outputs of one row, the others (P = 2 * W) the same columns of the next row, rs floats further
 * in the plane. x points at the plane offset of the first output, w at the block's packed
 * weights, bias at its NB * 16 (padded) values, y at the first output of the first channel (the
 * P outputs of a channel are consecutive in Y: two-row tiles cover whole rows); ys is the
 * distance between output channels.
 */
#define TILE_IMPL(NAME, NB, P, W)                                                                \
    TGT static void NAME(const float *restrict x, int64_t rs, const int32_t *restrict tap,       \
                         int64_t kk, const float *restrict w, const float *restrict bias,        \
                         float *restrict y, int64_t ys, int nch)                                 \
    {                                                                                            \
        __m512 acc[P][NB];                                                                       \
                                                                                                 \
        UNROLL for (int j = 0; j < NB; j++) {                                                    \
            const __m512 b = _mm512_loadu_ps(bias + LANES * j);                                  \
            UNROLL for (int p = 0; p < P; p++) acc[p][j] = b;                                    \
        }                                                                                        \
        for (int64_t k = 0; k < kk; k++, w += LANES * NB) {                                      \
            const float *xk = x + tap[k], *xk2 = xk + rs;                                        \
            __m512 wv[NB];                                                                       \
                                                                                                 \
            UNROLL for (int j = 0; j < NB; j++) wv[j] = _mm512_loadu_ps(w + LANES * j);          \
            UNROLL for (int p = 0; p < P; p++) {                                                 \
                const __m512 xv = _mm512_set1_ps(p < W ? xk[p] : xk2[p - W]);                    \
                UNROLL for (int j = 0; j < NB; j++)                                              \
                    acc[p][j] = _mm512_fmadd_ps(xv, wv[j], acc[p][j]);                           \
            }                                                                                    \
        }                                                                                        \
        if (P <= 8) {                                                                            \
            STORE_PAIRS(NB, P)                                                                   \
            return;                                                                              \
        }                                                                                        \
        UNROLL for (int j = 0; j < NB; j++) {                                                    \
            const __mmask16 m = (__mmask16)((1u << P) - 1u);                                     \
            float *yj = y + (int64_t)LANES * j * ys;                                             \
            __m512 r[16];                                                                        \
                                                                                                 \
            if (LANES * j >= nch)                                                                \
                break;                                                                           \
            UNROLL for (int p = 0; p < 16; p++) r[p] = p < P ? acc[p < P ? p : 0][j]             \
                                                             : _mm512_setzero_ps();              \
            transpose16(r);                                                                      \
            UNROLL for (int c = 0; c < 16; c++) {                                                \
                if (LANES * j + c < nch)                                                         \
                    _mm512_mask_storeu_ps(yj + c * ys, m, r[c]);                                 \
            }                                                                                    \
        }                                                                                        \
    }

/*
 * For P <= 8 two vectors share one transpose: rows 0..7 are vector j's positions, rows 8..15
 * vector j + 1's, so each transposed row holds channel c of vector j in lanes 0..7 and channel
 * c of vector j + 1 in lanes 8..15.
 */
#define STORE_PAIRS(NB, P)                                                                       \
    UNROLL for (int j = 0; j < NB; j += 2) {                                                     \
        const int j1 = j + 1 < NB ? j + 1 : j;                                                   \
        const __mmask16 m = (__mmask16)((1u << P) - 1u);                                         \
        float *yj = y + (int64_t)LANES * j * ys;                                                 \
        __m512 r[16];                                                                            \
                                                                                                 \
        if (LANES * j >= nch)                                                                    \
            break;                                                                               \
        UNROLL for (int p = 0; p < 8; p++) {                                                     \
            r[p] = p < P ? acc[p < P ? p : 0][j] : _mm512_setzero_ps();                          \
            r[8 + p] = p < P && j + 1 < NB ? acc[p < P ? p : 0][j1] : _mm512_setzero_ps();       \
        }                                                                                        \
        transpose16(r);                                                                          \
        UNROLL for (int c = 0; c < 16; c++) {                                                    \
            if (LANES * j + c < nch)                                                             \
                _mm512_mask_storeu_ps(yj + c * ys, m, r[c]);                                     \
            if (j + 1 < NB && LANES * (j + 1) + c < nch)                                         \
                _mm512_mask_storeu_ps(yj + (LANES + c) * ys - 8, (__mmask16)(m << 8), r[c]);     \
        }                                                                                        \
    }

#define TILE(NB, P) TILE_IMPL(tile_##NB##_##P, NB, P, P)
#define TILE2(NB, W) TILE_IMPL(tile2_##NB##_##W, NB, 2 * W, W)

#define TILES_14(NB) TILE(NB, 1) TILE(NB, 2) TILE(NB, 3) TILE(NB, 4) TILE(NB, 5) TILE(NB, 6) \
    TILE(NB, 7) TILE(NB, 8) TILE(NB, 9) TILE(NB, 10) TILE(NB, 11) TILE(NB, 12) TILE(NB, 13) \
    TILE(NB, 14)
#define TILES_16(NB) TILES_14(NB) TILE(NB, 15) TILE(NB, 16)

TILES_16(1)
TILES_14(2)

#define FN_14(NB) tile_##NB##_1, tile_##NB##_2, tile_##NB##_3, tile_##NB##_4, tile_##NB##_5, \
    tile_##NB##_6, tile_##NB##_7, tile_##NB##_8, tile_##NB##_9, tile_##NB##_10, tile_##NB##_11, \
    tile_##NB##_12, tile_##NB##_13, tile_##NB##_14
#define FN_16(NB) FN_14(NB), tile_##NB##_15, tile_##NB##_16

static const tile_fn tiles1[] = { FN_16(1) };
static const tile_fn tiles2[] = { FN_14(2) };
static const tile_fn *const tiles[MAX_NB + 1] = { NULL, tiles1, tiles2 };

/*
 * Two-row tiles for rows of up to pmax / 2 outputs: narrow rows (7x7 planes) get as many
 * accumulators per weight load as wide ones.
 */
TILE2(1, 1) TILE2(1, 2) TILE2(1, 3) TILE2(1, 4) TILE2(1, 5) TILE2(1, 6) TILE2(1, 7) TILE2(1, 8)
TILE2(2, 1) TILE2(2, 2) TILE2(2, 3) TILE2(2, 4) TILE2(2, 5) TILE2(2, 6) TILE2(2, 7)

static const tile_fn tiles2r1[] = { tile2_1_1, tile2_1_2, tile2_1_3, tile2_1_4,
                                    tile2_1_5, tile2_1_6, tile2_1_7, tile2_1_8 };
static const tile_fn tiles2r2[] = { tile2_2_1, tile2_2_2, tile2_2_3, tile2_2_4,
                                    tile2_2_5, tile2_2_6, tile2_2_7 };
static const tile_fn *const tiles2r[MAX_NB + 1] = { NULL, tiles2r1, tiles2r2 };

bool qcal__convb_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

/* All output rows of one channel block of one (image, group). */
static void run_block(const qcal__convb *g, const float *plane, const int32_t *tap,
                      const float *w, const float *bias, float *y, int nbv, int nch)
{
    const int64_t ow = g->out[1], out_sz = g->out[0] * g->out[1];
    const int pmax = pmax_for(nbv);
    const int64_t n_chunk = (ow + pmax - 1) / pmax, base = ow / n_chunk, extra = ow % n_chunk;
    const int64_t rs = g->s[0] * g->wq;
    const tile_fn *fns = tiles[nbv];
    int64_t oh = 0;

    if (2 * ow <= pmax) {
        for (; oh + 2 <= g->out[0]; oh += 2)
            tiles2r[nbv][ow - 1](plane + oh * rs, rs, tap, g->kk, w, bias, y + oh * ow, out_sz,
                                 nch);
    }
    for (; oh < g->out[0]; oh++) {
        int64_t o = 0;

        for (int64_t c = 0; c < n_chunk; c++) {
            const int64_t p = base + (c < extra ? 1 : 0);
            fns[p - 1](plane + oh * rs + o, rs, tap, g->kk, w, bias, y + oh * ow + o, out_sz,
                       nch);
            o += p;
        }
    }
}

void qcal__convb_run(const qcal__convb *g, const float *packed, const int32_t *tap,
                     const float *x, const float *bias, float *y, void *scratch)
{
    const int64_t mgp = round_up(g->mg, LANES), out_sz = g->out[0] * g->out[1];
    float *bpad = scratch, *plane = bpad + mgp;

    for (int64_t b = 0; b < g->batch; b++) {
        for (int64_t grp = 0; grp < g->group; grp++) {
            const float *xg = x + (b * g->group + grp) * g->cg * g->in[0] * g->in[1];
            float *yg = y + (b * g->group + grp) * g->mg * out_sz;

            if (g->copy && g->s[1] == 1)
                fill_plane_s1(g, xg, plane);
            else if (g->copy)
                fill_plane(g, xg, plane);
            for (int64_t m = 0; m < mgp; m++)
                bpad[m] = (bias && m < g->mg) ? bias[grp * g->mg + m] : 0.0f;
            for (int64_t blk = 0; blk < g->n_blk; blk++) {
                const int64_t m0 = blk * g->nb * LANES;
                const int nbv = block_vectors(g, blk);
                const int64_t nch = g->mg - m0 < nbv * LANES ? g->mg - m0 : nbv * LANES;

                run_block(g, g->copy ? plane : xg, tap, packed + (grp * mgp + m0) * g->kk,
                          bpad + m0, yg + m0 * out_sz, nbv, (int)nch);
            }
        }
    }
}

#else /* !CONVB_X86 */

bool qcal__convb_available(void)
{
    return false;
}

void qcal__convb_run(const qcal__convb *g, const float *packed, const int32_t *tap,
                     const float *x, const float *bias, float *y, void *scratch)
{
    (void)g;
    (void)packed;
    (void)tap;
    (void)x;
    (void)bias;
    (void)y;
    (void)scratch;
    (void)fill_plane;
}

#endif
