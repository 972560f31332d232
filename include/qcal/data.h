/*
 * Calibration data: listing a dataset, decoding PNG/JPEG/npy/raw files, and preprocessing an
 * image into the float32 input tensor of a model (DESIGN.md: "Command line", preprocess options).
 *
 *   qcal_dataset_open()      a directory, a list file or a glob pattern -> sorted list of paths
 *   qcal_image_load()        PNG (libpng) or JPEG (libjpeg-turbo) -> 8/16-bit interleaved pixels
 *   qcal_npy_load/_save()    float32 .npy arrays
 *   qcal_preprocess_*()      options ("--size 28x28", "--mean 0.286", ...) and the image ->
 *                            tensor transform
 *   qcal_data_load_sample()  one file -> one float32 input tensor (by extension)
 *
 * Dataset listing (qcal_dataset_open, spec = the argument of --data without "NAME="):
 *   - spec is a directory: every regular file below it (recursively; symbolic links to files and
 *     directories are followed, a link back to an ancestor directory is skipped) whose extension
 *     is one of .png .jpg .jpeg .npy .raw .bin, compared case-insensitively. Hidden files are not
 *     special. Paths are "<spec>/<relative path>" (trailing slashes of spec removed) and are
 *     sorted byte-wise with strcmp() over the whole path, independent of locale.
 *   - spec is an existing file with one of those extensions: a dataset of that one file.
 *   - spec is any other existing file: a list file. One path per line; a line that is empty or
 *     only blanks, or whose first non-blank character is '#', is ignored; leading and trailing
 *     blanks (space, tab, CR) are removed. A relative path is resolved against the folder of the
 *     list file ("<dir of list>/<line>"; unchanged when the list path has no '/'). Order is the
 *     file's order; duplicates are kept. Every entry must have one of the extensions above.
 *   - spec does not exist and contains one of '*', '?', '[': a glob(3) pattern. Matches that are
 *     directories or lack a data extension are dropped; the rest are sorted with strcmp().
 *   - otherwise: QCAL_E_IO naming spec. An empty result is QCAL_E_INVALID.
 * Memory: the paths only (one buffer of all strings plus one pointer per path).
 *
 * Image decoding (qcal_image_load, by extension .png / .jpg / .jpeg, case-insensitive):
 *   - PNG: every colour type and bit depth. Palette images expand to RGB, 1/2/4-bit gray expands
 *     to 8 bits by bit replication (v * 255 / (2^d - 1)), a tRNS chunk becomes an alpha channel
 *     (0 where the pixel equals the transparent colour, else the maximum; palette: the table's
 *     alpha). 16-bit images stay 16-bit. Interlaced images are supported. Gamma, sBIT and colour
 *     profiles are ignored: values are the stored samples.
 *   - JPEG: 8-bit baseline/progressive, decoded with the accurate integer DCT (JDCT_ISLOW) and
 *     libjpeg's other defaults (fancy upsampling on). Gray JPEGs give 1 channel, YCbCr/RGB give
 *     3 channels (libjpeg's integer YCbCr->RGB). CMYK/YCCK JPEGs are QCAL_E_UNSUPPORTED.
 *   - A malformed or truncated file is QCAL_E_CORRUPT with a message naming the file; the
 *     decoders never print. For JPEG, libjpeg's "corrupt data" warnings (premature end of file,
 *     bad Huffman code, premature end of a data segment, ...) are treated as errors.
 *
 * Preprocessing (qcal_preprocess_image), in this order, all float32 arithmetic:
 *   1. Channels. The target channel count C comes from the input shape; --channels defaults to
 *      gray when C == 1 and rgb when C == 3 (other C: error). Alpha is dropped. Gray from a gray
 *      image is the sample value p; gray from a colour image is
 *          y = 0.299f * R + 0.587f * G + 0.114f * B
 *      evaluated left to right in float32 (each product rounded to float32, then the two sums),
 *      on the raw sample values, keeping the fractional value (no rounding to an integer). rgb
 *      from a gray image repeats p three times; bgr is rgb in reverse channel order.
 *   2. Geometry (target W x H from the input shape). With src(d) = (d + 0.5f) * r - 0.5f,
 *      r = (float)in / (float)out per axis (the ratio is rounded to float32 first), clamped to
 *      0 below; i0 = floor(src), i1 = i0 + 1, f = src - i0; at or past the last sample
 *      (i0 >= in - 1): i0 = i1 = in - 1, f = 0. One output value is
 *          top = a + fx * (b - a);  bot = c + fx * (d - c);  v = top + fy * (bot - top)
 *      with a = (i0x, i0y), b = (i1x, i0y), c = (i0x, i1y), d = (i1x, i1y) (bilinear, half-pixel
 *      centres, no antialiasing), computed on the float pixel values of step 1, before
 *      normalisation. An axis whose resized length equals the image's is not resampled (the
 *      values are copied bit-exactly); an image that already has the target size is untouched.
 *        stretch:     resize to W x H (independent ratios per axis).
 *        letterbox:   keep the aspect ratio and fit inside: if W * h <= H * w then nw = W,
 *                     nh = floor((2 * h * W + w) / (2 * w)) (h * W / w rounded half up), else
 *                     nh = H, nw = floor((2 * w * H + h) / (2 * h)); clamped to >= 1. Resize the
 *                     image to nw x nh (ratios w/nw, h/nh), place it at x0 = floor((W - nw) / 2),
 *                     y0 = floor((H - nh) / 2) (any odd pixel of padding goes right/bottom), and
 *                     fill the rest with the pixel value 0 (normalised like any pixel:
 *                     x = (0 - mean[c]) / std[c]).
 *        center-crop: scale so the image covers W x H: if W * h >= H * w then nw = W,
 *                     nh = floor((2 * h * W + w) / (2 * w)), else nh = H,
 *                     nw = floor((2 * w * H + h) / (2 * h)); resize to nw x nh and keep the window
 *                     starting at x0 = floor((nw - W) / 2), y0 = floor((nh - H) / 2).
 *   3. Normalisation per output element of channel c (channel order of the output, so for bgr
 *      c = 0 is blue):
 *          x = (v / maxval - mean[c]) / std[c]      maxval = 255.0f (8-bit), 65535.0f (16-bit)
 *          x = (v * scale - mean[c]) / std[c]       with --scale
 *      Example (fmnist): mean 0.2860, std 0.3530: p = 0 -> -0.810198367, p = 255 -> 2.02266288.
 *   4. Layout: nchw writes x[0][c][y][x], nhwc writes x[0][y][x][c]; row 0 is the top row.
 * .npy and .raw/.bin samples are already tensors: they are copied unchanged (no preprocessing).
 */
#ifndef QCAL_DATA_H
#define QCAL_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qcal/status.h"
#include "qcal/tensor.h"

/* ---- Dataset listing ---------------------------------------------------------------------- */

typedef struct qcal_dataset qcal_dataset; /* opaque */

typedef enum qcal_dataset_kind {
    QCAL_DATASET_DIR = 0, /* a directory, listed recursively */
    QCAL_DATASET_LIST,    /* a list file, one path per line */
    QCAL_DATASET_GLOB,    /* a glob(3) pattern */
    QCAL_DATASET_FILE,    /* one data file */
} qcal_dataset_kind;

/* qcal_dataset_open flags. */
#define QCAL_DATASET_CHECK 1u /* list files: stat() every entry at open; a missing one fails */

/* Lists spec (see the file comment). On failure returns non-zero, sets *out to NULL and fills
 * err (missing spec or listed file: QCAL_E_IO naming it; bad list entry: QCAL_E_INVALID with
 * "list:line"). The caller owns *out (qcal_dataset_close). */
qcal_status qcal_dataset_open(const char *spec, unsigned flags, qcal_dataset **out,
                              qcal_error *err);
void qcal_dataset_close(qcal_dataset *ds); /* NULL: no-op */

size_t qcal_dataset_count(const qcal_dataset *ds);
/* Path of sample i (i < count), as listed. Borrowed: valid until qcal_dataset_close. */
const char *qcal_dataset_path(const qcal_dataset *ds, size_t i);
qcal_dataset_kind qcal_dataset_get_kind(const qcal_dataset *ds);
/* The spec the dataset was opened with. Borrowed. */
const char *qcal_dataset_spec(const qcal_dataset *ds);
/* "dir", "list", "glob", "file"; never NULL. */
const char *qcal_dataset_kind_name(qcal_dataset_kind kind);

/* ---- File formats ------------------------------------------------------------------------- */

typedef enum qcal_data_format {
    QCAL_DATA_UNKNOWN = 0,
    QCAL_DATA_PNG,  /* .png */
    QCAL_DATA_JPEG, /* .jpg .jpeg */
    QCAL_DATA_NPY,  /* .npy */
    QCAL_DATA_RAW,  /* .raw .bin: little-endian float32, no header */
} qcal_data_format;

/* Format from the extension of path (case-insensitive). */
qcal_data_format qcal_data_format_of(const char *path);

/* ---- Images ------------------------------------------------------------------------------- */

/* Decoded pixels, row-major, channels interleaved (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
 * data is uint8_t[] when bit_depth == 8 and uint16_t[] (host order) when bit_depth == 16. */
typedef struct qcal_image {
    int width, height, channels, bit_depth;
    void *data;
} qcal_image;

/* Decodes a .png/.jpg/.jpeg file into img (allocated; release with qcal_image_fini). On failure
 * img is zeroed and err names the file: QCAL_E_IO (cannot read), QCAL_E_CORRUPT (malformed or
 * truncated), QCAL_E_UNSUPPORTED (CMYK JPEG, unknown extension). */
qcal_status qcal_image_load(const char *path, qcal_image *img, qcal_error *err);
/* The same from bytes in memory; name is used in messages and to pick the format. */
qcal_status qcal_image_decode(const char *name, const void *buf, size_t len, qcal_image *img,
                              qcal_error *err);
void qcal_image_fini(qcal_image *img); /* frees data; NULL-safe; img may be zeroed */

/* Sample value at (x, y, channel c) as an integer 0..2^bit_depth-1. No bounds checks. */
static inline unsigned qcal_image_at(const qcal_image *img, int x, int y, int c)
{
    size_t i = ((size_t)y * (size_t)img->width + (size_t)x) * (size_t)img->channels + (size_t)c;
    return img->bit_depth == 16 ? ((const uint16_t *)img->data)[i]
                                : ((const uint8_t *)img->data)[i];
}

/* ---- npy ---------------------------------------------------------------------------------- */

/* A float32 array from a .npy file. */
typedef struct qcal_npy {
    int rank;
    int64_t dims[QCAL_MAX_RANK];
    size_t nelem;
    float *data; /* nelem values, C order */
} qcal_npy;

/* Reads a .npy file (format versions 1-3). Only dtype '<f4' (little-endian float32),
 * fortran_order False and rank <= QCAL_MAX_RANK are accepted; anything else is
 * QCAL_E_UNSUPPORTED naming the file and the dtype. A bad header or a data size that is not
 * exactly nelem * 4 bytes is QCAL_E_CORRUPT. The caller owns arr->data (qcal_npy_fini). */
qcal_status qcal_npy_load(const char *path, qcal_npy *arr, qcal_error *err);
void qcal_npy_fini(qcal_npy *arr); /* NULL-safe */
/* Writes data (float32, C order, shape dims[rank]) as a version 1.0 .npy file, atomically
 * (temporary file, fsync, rename; nothing is left behind on failure). */
qcal_status qcal_npy_save(const char *path, const int64_t *dims, int rank, const float *data,
                          qcal_error *err);

/* ---- Preprocessing ------------------------------------------------------------------------ */

typedef enum qcal_resize {
    QCAL_RESIZE_STRETCH = 0,
    QCAL_RESIZE_LETTERBOX,
    QCAL_RESIZE_CENTER_CROP,
} qcal_resize;

typedef enum qcal_channels {
    QCAL_CHANNELS_AUTO = 0, /* gray for 1-channel inputs, rgb for 3-channel inputs */
    QCAL_CHANNELS_GRAY,
    QCAL_CHANNELS_RGB,
    QCAL_CHANNELS_BGR,
} qcal_channels;

typedef enum qcal_layout {
    QCAL_LAYOUT_NCHW = 0,
    QCAL_LAYOUT_NHWC,
} qcal_layout;

/* Preprocess options (DESIGN.md). Initialise with qcal_preprocess_init. */
typedef struct qcal_preprocess {
    int width, height; /* --size WxH; 0: take from the model input shape */
    qcal_resize resize;
    qcal_channels channels;
    qcal_layout layout;
    bool has_scale; /* --scale given: x = (p * scale - mean) / std */
    float scale;
    int n_mean, n_std; /* values given (0: default; 1: broadcast to every channel) */
    float mean[4], std[4];
} qcal_preprocess;

/* Defaults: size from the model, stretch, auto channels, nchw, no scale, mean 0, std 1. */
void qcal_preprocess_init(qcal_preprocess *pp);

/* True when name ("--size" or "size", likewise mean, std, channels, layout, resize, scale) is a
 * preprocess option. */
bool qcal_preprocess_is_option(const char *name);

/* Sets one option from its string value:
 *   size "WxH" (positive integers, 'x' or 'X'), resize stretch|letterbox|center-crop,
 *   channels gray|rgb|bgr, layout nchw|nhwc, scale S (finite, > 0),
 *   mean "a[,b[,c[,d]]]" (finite), std "a[,b[,c[,d]]]" (finite, non-zero); one value broadcasts.
 * Numbers are parsed with strtof (correctly rounded to float32, like a C literal "0.2860f").
 * Bad value or unknown name: QCAL_E_INVALID naming the option and the value; pp unchanged. */
qcal_status qcal_preprocess_parse(qcal_preprocess *pp, const char *name, const char *value,
                                  qcal_error *err);

/* Resolves a declared input shape whose symbolic dimensions are <= 0: batch -> 1, H/W -> --size,
 * C -> 1 (gray) or 3 (rgb/bgr). Fails (QCAL_E_SHAPE) when the shape is not rank 4 with batch 1,
 * when a needed value is unknown, or when --size contradicts a fixed dimension. */
qcal_status qcal_preprocess_resolve_shape(const qcal_preprocess *pp, const int64_t *decl,
                                          int rank, int64_t *dims, qcal_error *err);

/* Checks pp against a resolved image input shape dims[rank] (rank 4, batch 1, C 1 or 3, --size
 * equal to the shape's W x H, --mean/--std counts 1 or C, std non-zero). */
qcal_status qcal_preprocess_check(const qcal_preprocess *pp, const int64_t *dims, int rank,
                                  qcal_error *err);

/* Transforms img into out (float32, product(dims) values) following the file comment. pp may
 * be NULL (defaults). Allocates two small coordinate tables (W + H entries) per call. */
qcal_status qcal_preprocess_image(const qcal_image *img, const int64_t *dims, int rank,
                                  const qcal_preprocess *pp, float *out, qcal_error *err);

/* Writes a one-line JSON description of pp into buf (snprintf semantics: returns the length it
 * needed, truncates to cap). Floats are printed with %.9g (they round-trip). */
int qcal_preprocess_json(const qcal_preprocess *pp, char *buf, size_t cap);

const char *qcal_resize_name(qcal_resize r);     /* "stretch", ...; never NULL */
const char *qcal_channels_name(qcal_channels c); /* "auto", "gray", "rgb", "bgr" */
const char *qcal_layout_name(qcal_layout l);     /* "nchw", "nhwc" */

/* ---- Samples ------------------------------------------------------------------------------ */

/* Loads one sample file into out (float32, product(dims) values) for an input of shape
 * dims[rank], deciding by extension:
 *   .png .jpg .jpeg  decode and preprocess with pp (NULL: defaults);
 *   .npy             float32 array whose shape equals dims after dropping leading 1s on both
 *                    sides ([1,28,28] fits [1,1,28,28]; [784] does not): QCAL_E_SHAPE naming both;
 *   .raw .bin        exactly product(dims) little-endian float32 values (QCAL_E_SHAPE otherwise).
 * Errors name the file. Allocates temporary memory (the decoded file) per call. */
qcal_status qcal_data_load_sample(const char *path, const int64_t *dims, int rank,
                                  const qcal_preprocess *pp, float *out, qcal_error *err);

#endif
