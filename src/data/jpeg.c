/*
 * JPEG decoding with libjpeg(-turbo) from a memory buffer, with the accurate integer DCT
 * (JDCT_ISLOW). libjpeg's error_exit must not return: ours formats the message and longjmps back
 * to decode_guarded(). libjpeg only warns about damaged entropy data (and pads a truncated file
 * with a fake EOI), so the "corrupt data" warnings are turned into errors; other warnings (an
 * unknown JFIF revision, a bad ICC marker) are ignored. Nothing is printed.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
/* After jpeglib.h: defines the J_MESSAGE_CODE enum (JWRN_..., JERR_...). */
#include <jerror.h>

#include "data/data.h"

typedef struct jpeg_ctx {
    struct jpeg_error_mgr mgr; /* first member: cinfo->err points here */
    struct jpeg_decompress_struct cinfo;
    bool created;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
    unsigned char *pixels;
    int width, height, channels;
    qcal_status st;
    const char *name;
    qcal_error *err; /* filled directly by a failure of the size check (return 3) */
} jpeg_ctx;

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;

    (*cinfo->err->format_message)(cinfo, c->msg);
    longjmp(c->jmp, 1);
}

static void on_output_message(j_common_ptr cinfo)
{
    (void)cinfo;
}

/* A warning that means the pixel data is damaged. */
static bool is_corrupt_warning(int code)
{
    switch (code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_MUST_RESYNC:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION:
    case JWRN_EXTRANEOUS_DATA:
        return true;
    default:
        return false;
    }
}

/* msg_level -1 is a warning; >= 0 are trace messages. */
static void on_emit_message(j_common_ptr cinfo, int msg_level)
{
    if (msg_level < 0 && is_corrupt_warning(cinfo->err->msg_code))
        on_error_exit(cinfo);
}

/* Every libjpeg call happens here. 0: success; 1: libjpeg error (c->msg); 2: ours (c->st);
 * 3: the header fails the size check (c->st, c->err). */
static int decode_guarded(jpeg_ctx *c, const unsigned char *buf, size_t len)
{
    struct jpeg_decompress_struct *ci = &c->cinfo;
    size_t row, need;

    if (setjmp(c->jmp))
        return 1;
    jpeg_create_decompress(ci);
    c->created = true;
    jpeg_mem_src(ci, buf, (unsigned long)len);
    jpeg_read_header(ci, TRUE);
    /* Before anything is sized by the header: every 8x8 block of the full-resolution component
     * takes at least one bit (a 1-bit DC code), so a file of n bytes holds at most 512 n pixels;
     * 1024 n leaves room. */
    c->st = qcal__image_check_size(c->name, "JPEG", ci->image_width, ci->image_height, 8, len,
                                   1024, c->err);
    if (c->st != QCAL_OK)
        return 3;
    if (ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK) {
        c->st = QCAL_E_UNSUPPORTED;
        snprintf(c->msg, sizeof c->msg, "CMYK/YCCK JPEGs are not supported");
        return 2;
    }
    ci->out_color_space = ci->num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    ci->dct_method = JDCT_ISLOW;
    jpeg_start_decompress(ci);
    c->width = (int)ci->output_width;
    c->height = (int)ci->output_height;
    c->channels = ci->output_components;
    row = (size_t)ci->output_width * (size_t)ci->output_components;
    if (ci->output_height != 0 && row > SIZE_MAX / ci->output_height) {
        c->st = QCAL_E_NOMEM;
        snprintf(c->msg, sizeof c->msg, "image too large");
        return 2;
    }
    need = row * ci->output_height;
    c->pixels = malloc(need ? need : 1);
    if (!c->pixels) {
        c->st = QCAL_E_NOMEM;
        snprintf(c->msg, sizeof c->msg, "cannot allocate %zu bytes", need);
        return 2;
    }
    while (ci->output_scanline < ci->output_height) {
        JSAMPROW r = c->pixels + (size_t)ci->output_scanline * row;
        if (jpeg_read_scanlines(ci, &r, 1) != 1) {
            c->st = QCAL_E_CORRUPT;
            snprintf(c->msg, sizeof c->msg, "decoder stopped at row %u",
                     (unsigned)ci->output_scanline);
            return 2;
        }
    }
    jpeg_finish_decompress(ci);
    return 0;
}

qcal_status qcal__jpeg_decode(const char *name, const unsigned char *buf, size_t len,
                              qcal_image *img, qcal_error *err)
{
    qcal_status st = QCAL_OK;
    jpeg_ctx *c;
    int rc;

    memset(img, 0, sizeof *img);
    if (len < 3 || buf[0] != 0xFF || buf[1] != 0xD8)
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: not a JPEG file (bad signature)", name);
    c = calloc(1, sizeof *c);
    if (!c)
        return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", name);
    c->name = name;
    c->err = err;
    c->cinfo.err = jpeg_std_error(&c->mgr);
    c->mgr.error_exit = on_error_exit;
    c->mgr.output_message = on_output_message;
    c->mgr.emit_message = on_emit_message;
    rc = decode_guarded(c, buf, len);
    if (rc == 1)
        st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: corrupt JPEG: %s", name, c->msg);
    else if (rc == 2)
        st = qcal_error_set(err, c->st, "%s: JPEG: %s", name, c->msg);
    else if (rc == 3)
        st = c->st;
    if (st == QCAL_OK) {
        img->width = c->width;
        img->height = c->height;
        img->channels = c->channels;
        img->bit_depth = 8;
        img->data = c->pixels;
        c->pixels = NULL;
    }
    if (c->created)
        jpeg_destroy_decompress(&c->cinfo);
    free(c->pixels);
    free(c);
    return st;
}
