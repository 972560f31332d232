/*
 * PNG decoding with libpng from a memory buffer. libpng reports errors by calling an error
 * function that must not return; ours records the message and longjmps back to decode_guarded(),
 * whose caller owns every allocation (so nothing local to the setjmp frame is modified after
 * setjmp and read after the jump). Warnings are dropped: the library never prints.
 */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"

typedef struct png_ctx {
    const char *name;
    const unsigned char *buf;
    size_t len, pos;
    jmp_buf jmp;
    char msg[256];
    png_structp png;
    png_infop info;
    png_bytep *rows;
    unsigned char *pixels;
    int width, height, channels, depth;
    qcal_status st; /* set before a plain (non-libpng) failure return */
    qcal_error *err; /* filled directly by a failure of the size check (return 3) */
} png_ctx;

static void on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);

    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown libpng error");
    longjmp(c->jmp, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void on_read(png_structp png, png_bytep out, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);

    if (n > c->len - c->pos)
        png_error(png, "unexpected end of file");
    memcpy(out, c->buf + c->pos, n);
    c->pos += n;
}

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Every libpng call happens here. Returns 0 on success, 1 after a libpng error (c->msg), 2 on
 * an error of ours (c->st, c->msg), 3 when the header fails the size check (c->st, c->err). */
static int decode_guarded(png_ctx *c)
{
    png_uint_32 w, h;
    int depth, color, interlace;
    size_t rowbytes, need;

    if (setjmp(c->jmp))
        return 1;
    png_set_read_fn(c->png, c, on_read);
    png_read_info(c->png, c->info);
    png_get_IHDR(c->png, c->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    /* Before anything is sized by the header: the pixel data it declares (at its coded depth)
     * must fit in what the file's deflate streams can expand to. */
    c->st = qcal__image_check_size(c->name, "PNG", w, h,
                                   (unsigned)depth * png_get_channels(c->png, c->info), c->len,
                                   1032, c->err);
    if (c->st != QCAL_OK)
        return 3;
    /* Transforms: everything becomes 8- or 16-bit gray, gray+alpha, RGB or RGBA samples. */
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(c->png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(c->png);
    if (png_get_valid(c->png, c->info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(c->png);
    if (depth == 16 && host_is_little_endian())
        png_set_swap(c->png);
    png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);
    c->width = (int)w;
    c->height = (int)h;
    c->channels = png_get_channels(c->png, c->info);
    c->depth = png_get_bit_depth(c->png, c->info);
    rowbytes = png_get_rowbytes(c->png, c->info);
    if ((c->depth != 8 && c->depth != 16) || c->channels < 1 || c->channels > 4 ||
        rowbytes != (size_t)w * (size_t)c->channels * (size_t)(c->depth / 8)) {
        c->st = QCAL_E_UNSUPPORTED;
        snprintf(c->msg, sizeof c->msg, "unexpected sample layout (%d channels, %d bits)",
                 c->channels, c->depth);
        return 2;
    }
    if (h != 0 && rowbytes > SIZE_MAX / h) {
        c->st = QCAL_E_NOMEM;
        snprintf(c->msg, sizeof c->msg, "image too large");
        return 2;
    }
    need = rowbytes * h;
    c->pixels = malloc(need ? need : 1);
    c->rows = malloc((h ? h : 1) * sizeof *c->rows);
    if (!c->pixels || !c->rows) {
        c->st = QCAL_E_NOMEM;
        snprintf(c->msg, sizeof c->msg, "cannot allocate %zu bytes", need);
        return 2;
    }
    for (png_uint_32 y = 0; y < h; y++)
        c->rows[y] = c->pixels + (size_t)y * rowbytes;
    png_read_image(c->png, c->rows);
    /* Reads the chunks after the image data, so a file cut after IDAT is still an error. */
    png_read_end(c->png, NULL);
    return 0;
}

qcal_status qcal__png_decode(const char *name, const unsigned char *buf, size_t len,
                             qcal_image *img, qcal_error *err)
{
    qcal_status st = QCAL_OK;
    png_ctx *c;
    int rc;

    memset(img, 0, sizeof *img);
    if (len < 8 || png_sig_cmp(buf, 0, 8) != 0)
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: not a PNG file (bad signature)", name);
    /* Heap, not stack: jmp_buf plus the message make the context large. */
    c = calloc(1, sizeof *c);
    if (!c)
        return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", name);
    c->name = name;
    c->buf = buf;
    c->len = len;
    c->err = err;
    c->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, on_error, on_warning);
    if (c->png)
        c->info = png_create_info_struct(c->png);
    if (!c->png || !c->info) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: cannot create the PNG decoder", name);
        goto out;
    }
    rc = decode_guarded(c);
    if (rc == 1) {
        st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: corrupt PNG: %s", name, c->msg);
        goto out;
    }
    if (rc == 2) {
        st = qcal_error_set(err, c->st, "%s: PNG: %s", name, c->msg);
        goto out;
    }
    if (rc == 3) {
        st = c->st;
        goto out;
    }
    img->width = c->width;
    img->height = c->height;
    img->channels = c->channels;
    img->bit_depth = c->depth;
    img->data = c->pixels;
    c->pixels = NULL;
out:
    if (c->png)
        png_destroy_read_struct(&c->png, c->info ? &c->info : NULL, NULL);
    free(c->rows);
    free(c->pixels);
    free(c);
    return st;
}
