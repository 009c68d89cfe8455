/*
 * Layout and painting: FreeType glyphs, word-wrapped lines, a scroll paced
 * by the speech's word timings, frames painted straight into YUV 4:2:0.
 *
 * Memory does not depend on the script's length beyond the line table: a
 * frame is composed from a small cache of pre-painted line strips (only the
 * visible lines are ever painted), and glyphs live in a fixed-size cache.
 * Positions on the page are ints, in px (26.6 within a line): a line's
 * pen never goes far past the text width, and a page taller than an int
 * reaches is refused.
 */

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <ft2build.h>
#include FT_FREETYPE_H

#include "weaveit_internal.h"


#define WEAVEIT_GLYPH_SLOTS    1024     /* direct-mapped: ASCII never clash */
#define WEAVEIT_TAB_COLUMNS    4
#define WEAVEIT_LINE_SPACING   1.8
#define WEAVEIT_PAD_X          80
#define WEAVEIT_PAD_TOP        60
#define WEAVEIT_PAD_BOTTOM     60
#define WEAVEIT_BAND_MARGIN    16       /* band overhang beyond the text */
#define WEAVEIT_SCROLL_TIME    0.4      /* seconds a line change glides */
#define WEAVEIT_FOCUS          3        /* spoken line at height / 3 */


typedef struct {
    uint32_t            cp;             /* UINT32_MAX: empty slot */
    int                 left;
    int                 top;
    int                 width;
    int                 rows;
    int                 advance;        /* 26.6 */
    uint8_t            *bitmap;         /* width * rows coverage */
} weaveit_glyph_t;


typedef struct {
    FT_Face             face;
    int                 ascender;       /* px */
    int                 descender;      /* px, negative */
    int                 space;          /* 26.6 */
    weaveit_glyph_t     glyphs[WEAVEIT_GLYPH_SLOTS];
} weaveit_font_t;


typedef struct {
    long                line;           /* -1: empty */
    int                 highlight;
    uint8_t            *y;              /* width * line_height luma */
} weaveit_strip_t;


typedef struct {
    double              start;          /* speech seconds */
    size_t              line;
    int                 spoken;         /* 0: the final glide to the end */
} weaveit_segment_t;


typedef struct {
    weaveit_line_t     *lines;
    size_t              n;
    size_t              alloc;
} weaveit_lines_t;


struct weaveit_render_s {
    const char         *text;
    size_t              len;

    int                 width;
    int                 height;
    int                 fps;
    int                 text_width;     /* px */
    int                 line_height;
    int                 font_size;
    const char         *font_path;

    FT_Library          library;
    weaveit_font_t      font;
    weaveit_font_t      title_font;

    weaveit_lines_t     layout;

    weaveit_segment_t  *segments;
    size_t              nsegments;

    weaveit_strip_t    *strips;
    size_t              nstrips;

    uint8_t             bg_y;
    uint8_t             text_y;
    uint8_t             band_y;
    uint8_t             band_u;
    uint8_t             band_v;
};


static int weaveit_strips_create(weaveit_render_t *r);
static int weaveit_font_open(weaveit_render_t *r, weaveit_font_t *f,
    int size, char *err, size_t errlen);
static void weaveit_font_close(weaveit_font_t *f);
static const weaveit_glyph_t *weaveit_font_glyph(weaveit_font_t *f,
    uint32_t cp);
static int weaveit_pen_advance(weaveit_font_t *f, int pen, uint32_t cp);
static int weaveit_layout(weaveit_render_t *r, weaveit_font_t *f,
    const char *text, size_t len, weaveit_lines_t *out);
static int weaveit_layout_line(weaveit_render_t *r, weaveit_font_t *f,
    const char *text, size_t ls, size_t le, weaveit_lines_t *out);
static int weaveit_layout_emit(weaveit_lines_t *out, size_t start,
    size_t end, int x);
static int weaveit_scroll_target(weaveit_render_t *r, size_t line);
static uint8_t *weaveit_strip_get(weaveit_render_t *r, size_t line,
    int highlight);
static void weaveit_draw_text(weaveit_font_t *f, const char *text,
    const weaveit_line_t *line, int x0, int baseline, uint8_t *plane,
    int stride, int w, int h, uint8_t color);
static void weaveit_grey_chroma(weaveit_render_t *r, uint8_t *data[3],
    const int linesize[3]);
static void weaveit_band_chroma(weaveit_render_t *r, int y0, uint8_t *data[3],
    const int linesize[3]);
static int weaveit_line_width(weaveit_font_t *f, const char *text,
    const weaveit_line_t *line);
static void weaveit_rgb_to_yuv(int rgb, uint8_t *y, uint8_t *u, uint8_t *v);


/* colours (BT.709, limited range, as the encoder tags them) */
#define WEAVEIT_BG_RGB       0xffffff
#define WEAVEIT_TEXT_RGB     0x222222
#define WEAVEIT_BAND_RGB     0xfff3c4


weaveit_render_t *
weaveit_render_create(const weaveit_params_t *p, const char *text, size_t len,
    char *err, size_t errlen)
{
    uint8_t            u, v;
    FT_Error           ft;
    weaveit_render_t  *r;

    r = calloc(1, sizeof(weaveit_render_t));
    if (r == NULL) {
        weaveit_error(err, errlen, "out of memory");
        return NULL;
    }

    r->text = text;
    r->len = len;
    r->width = p->width;
    r->height = p->height;
    r->fps = p->fps;
    r->font_size = p->font_size;
    r->font_path = p->font_path;
    r->text_width = p->width - 2 * WEAVEIT_PAD_X;
    r->line_height = (int) lround(p->font_size * WEAVEIT_LINE_SPACING);

    weaveit_rgb_to_yuv(WEAVEIT_BG_RGB, &r->bg_y, &u, &v);
    weaveit_rgb_to_yuv(WEAVEIT_TEXT_RGB, &r->text_y, &u, &v);
    weaveit_rgb_to_yuv(WEAVEIT_BAND_RGB, &r->band_y, &r->band_u, &r->band_v);

    if (r->text_width < p->font_size * 4 || r->line_height >= r->height) {
        weaveit_error(err, errlen, "frame %dx%d too small for %d px text",
                      p->width, p->height, p->font_size);
        goto failed;
    }

    ft = FT_Init_FreeType(&r->library);
    if (ft != 0) {
        weaveit_error(err, errlen, "FreeType: FT_Init_FreeType() failed: %d",
                      ft);
        goto failed;
    }

    if (weaveit_font_open(r, &r->font, p->font_size, err, errlen) != 0) {
        goto failed;
    }

    if (weaveit_layout(r, &r->font, text, len, &r->layout) != 0) {
        weaveit_error(err, errlen, "out of memory");
        goto failed;
    }

    if (r->layout.n > (size_t) (INT_MAX - WEAVEIT_PAD_TOP - WEAVEIT_PAD_BOTTOM)
                      / r->line_height)
    {
        weaveit_error(err, errlen, "script of %zu lines is too long for "
                      "%d px text", r->layout.n, p->font_size);
        goto failed;
    }

    if (weaveit_strips_create(r) != 0) {
        weaveit_error(err, errlen, "out of memory");
        goto failed;
    }

    return r;

failed:

    weaveit_render_destroy(r);
    return NULL;
}


/* the visible lines plus one partial line each side, twice (highlight) */

static int
weaveit_strips_create(weaveit_render_t *r)
{
    size_t  i;

    r->nstrips = 2 * ((size_t) (r->height / r->line_height) + 3);
    r->strips = calloc(r->nstrips, sizeof(weaveit_strip_t));
    if (r->strips == NULL) {
        return -1;
    }

    for (i = 0; i < r->nstrips; i++) {
        r->strips[i].line = -1;
        r->strips[i].y = malloc((size_t) r->width * r->line_height);

        if (r->strips[i].y == NULL) {
            return -1;
        }
    }

    return 0;
}


void
weaveit_render_destroy(weaveit_render_t *r)
{
    size_t  i;

    if (r == NULL) {
        return;
    }

    if (r->strips) {
        for (i = 0; i < r->nstrips; i++) {
            free(r->strips[i].y);
        }

        free(r->strips);
    }

    weaveit_font_close(&r->font);
    weaveit_font_close(&r->title_font);

    if (r->library) {
        FT_Done_FreeType(r->library);
    }

    free(r->layout.lines);
    free(r->segments);
    free(r);
}


static int
weaveit_font_open(weaveit_render_t *r, weaveit_font_t *f, int size,
    char *err, size_t errlen)
{
    size_t             i;
    FT_Error           ft;
    const char        *msg;

    for (i = 0; i < WEAVEIT_GLYPH_SLOTS; i++) {
        f->glyphs[i].cp = UINT32_MAX;
    }

    ft = FT_New_Face(r->library, r->font_path, 0, &f->face);

    if (ft == 0) {
        ft = FT_Set_Pixel_Sizes(f->face, 0, (FT_UInt) size);
    }

    if (ft != 0) {
        msg = FT_Error_String(ft);
        weaveit_error(err, errlen, "FreeType: cannot use font \"%s\": %s",
                      r->font_path, msg ? msg : "cannot open or read it");
        return -1;
    }

    f->ascender = (int) ((f->face->size->metrics.ascender + 63) >> 6);
    f->descender = (int) (f->face->size->metrics.descender >> 6);
    f->space = weaveit_font_glyph(f, ' ')->advance;

    if (f->space <= 0) {
        f->space = size * 64 / 2;
    }

    return 0;
}


static void
weaveit_font_close(weaveit_font_t *f)
{
    size_t  i;

    if (f->face == NULL) {
        return;
    }

    for (i = 0; i < WEAVEIT_GLYPH_SLOTS; i++) {
        free(f->glyphs[i].bitmap);
        f->glyphs[i].bitmap = NULL;
    }

    FT_Done_Face(f->face);
    f->face = NULL;
}


/*
 * A glyph that FreeType cannot load is drawn as nothing rather than failing
 * the video: the advance keeps the layout sane.
 */

static const weaveit_glyph_t *
weaveit_font_glyph(weaveit_font_t *f, uint32_t cp)
{
    int               y;
    FT_Bitmap        *bm;
    FT_GlyphSlot      slot;
    weaveit_glyph_t  *g;

    g = &f->glyphs[cp % WEAVEIT_GLYPH_SLOTS];

    if (g->cp == cp) {
        return g;
    }

    free(g->bitmap);
    memset(g, 0, sizeof(weaveit_glyph_t));
    g->cp = cp;

    if (FT_Load_Char(f->face, cp, FT_LOAD_RENDER) != 0) {
        g->advance = f->space;
        return g;
    }

    slot = f->face->glyph;
    bm = &slot->bitmap;
    g->advance = (int) slot->advance.x;

    if (bm->pixel_mode != FT_PIXEL_MODE_GRAY || bm->width == 0
        || bm->rows == 0)
    {
        return g;
    }

    g->bitmap = malloc((size_t) bm->width * bm->rows);
    if (g->bitmap == NULL) {
        return g;
    }

    for (y = 0; y < (int) bm->rows; y++) {
        memcpy(g->bitmap + (size_t) y * bm->width,
               bm->buffer + (ptrdiff_t) y * bm->pitch, bm->width);
    }

    g->width = (int) bm->width;
    g->rows = (int) bm->rows;
    g->left = slot->bitmap_left;
    g->top = slot->bitmap_top;

    return g;
}


/* tab stops are absolute, every WEAVEIT_TAB_COLUMNS spaces from the margin */

static int
weaveit_pen_advance(weaveit_font_t *f, int pen, uint32_t cp)
{
    int  tab;

    if (cp == '\t') {
        tab = WEAVEIT_TAB_COLUMNS * f->space;
        return (pen / tab + 1) * tab;
    }

    if (cp < 0x20 || cp == 0x7f) {
        return pen + f->space;
    }

    return pen + weaveit_font_glyph(f, cp)->advance;
}


static int
weaveit_layout(weaveit_render_t *r, weaveit_font_t *f, const char *text,
    size_t len, weaveit_lines_t *out)
{
    size_t  ls, le;

    for (ls = 0; ls <= len; ls = le + 1) {
        le = ls;

        while (le < len && text[le] != '\n') {
            le++;
        }

        if (le == len && ls == len && len > 0) {
            break;      /* the text ends with a newline: no extra line */
        }

        if (weaveit_layout_line(r, f, text, ls,
                                (le > ls && text[le - 1] == '\r') ? le - 1 : le,
                                out)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


/*
 * One source line: word wrap at spaces to the text width, hard breaks only
 * inside a word longer than the line; continuation lines hang at the
 * source line's indentation so wrapped code stays indented.
 */

static int
weaveit_layout_line(weaveit_render_t *r, weaveit_font_t *f, const char *text,
    size_t ls, size_t le, weaveit_lines_t *out)
{
    int                   pen, npen, hang, x, limit, space;
    size_t                i, j, n, start, brk;
    uint32_t              cp;
    const unsigned char  *p;

    p = (const unsigned char *) text;
    limit = r->text_width * 64;
    pen = 0;

    /* an indentation past the width is not kept: pen stops there */
    for (i = ls; i < le && (p[i] == ' ' || p[i] == '\t'); i++) {
        if (pen < limit) {
            pen = weaveit_pen_advance(f, pen, p[i]);
        }
    }

    hang = (pen < limit / 2) ? pen : 0;
    start = ls;
    x = 0;
    pen = 0;
    brk = 0;

    for (j = ls; j < le; /* void */ ) {
        n = weaveit_utf8_next(p + j, le - j, &cp);
        npen = weaveit_pen_advance(f, pen, cp);
        space = (cp == ' ' || cp == '\t');

        /* a line's first character always fits: no line is empty */
        if (npen <= limit || (!space && pen <= x)) {
            if (space && j >= i) {
                brk = j;
            }

            pen = npen;
            j += n;
            continue;
        }

        /*
         * the line is full: spaces overflowing it end it there, a word
         * goes back to the last space and is walked again from it
         */
        if (!space && brk > start) {
            j = brk;
        }

        if (weaveit_layout_emit(out, start, j, x / 64) != 0) {
            return -1;
        }

        while (j < le && (p[j] == ' ' || p[j] == '\t')) {
            j++;
        }

        start = j;
        pen = x = hang;
        brk = 0;
    }

    return weaveit_layout_emit(out, start, le, x / 64);
}


static int
weaveit_layout_emit(weaveit_lines_t *out, size_t start, size_t end, int x)
{
    size_t           alloc;
    weaveit_line_t  *lines;

    if (out->n == out->alloc) {
        alloc = out->alloc ? out->alloc * 2 : 64;

        lines = realloc(out->lines, alloc * sizeof(weaveit_line_t));
        if (lines == NULL) {
            return -1;
        }

        out->lines = lines;
        out->alloc = alloc;
    }

    out->lines[out->n].start = start;
    out->lines[out->n].end = end;
    out->lines[out->n].x = x;
    out->n++;

    return 0;
}


size_t
weaveit_render_nlines(weaveit_render_t *r)
{
    return r->layout.n;
}


const weaveit_line_t *
weaveit_render_line(weaveit_render_t *r, size_t i)
{
    return (i < r->layout.n) ? &r->layout.lines[i] : NULL;
}


size_t
weaveit_render_line_of(weaveit_render_t *r, size_t offset)
{
    size_t  lo, hi, mid;

    /* the last line starting at or before offset */
    lo = 0;
    hi = r->layout.n;

    while (hi - lo > 1) {
        mid = lo + (hi - lo) / 2;

        if (r->layout.lines[mid].start <= offset) {
            lo = mid;

        } else {
            hi = mid;
        }
    }

    return lo;
}


int
weaveit_render_line_top(weaveit_render_t *r, size_t line)
{
    return WEAVEIT_PAD_TOP + (int) line * r->line_height;
}


int
weaveit_render_line_height(weaveit_render_t *r)
{
    return r->line_height;
}


int
weaveit_render_advance(weaveit_render_t *r)
{
    return r->font.space / 64;
}


int
weaveit_render_set_timing(weaveit_render_t *r, const weaveit_word_t *words,
    size_t nwords, int sample_rate, double end, char *err, size_t errlen)
{
    size_t              i, line, last;
    weaveit_segment_t  *s;

    free(r->segments);
    r->nsegments = 0;

    /* one segment per run of words on the same line, plus the final glide */
    r->segments = malloc((nwords + 2) * sizeof(weaveit_segment_t));
    if (r->segments == NULL) {
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    last = 0;

    for (i = 0; i < nwords; i++) {
        line = weaveit_render_line_of(r, words[i].offset);

        if (r->nsegments > 0 && line == last) {
            continue;
        }

        s = &r->segments[r->nsegments++];
        s->start = (double) words[i].sample / sample_rate;
        s->line = line;
        s->spoken = 1;
        last = line;
    }

    if (r->nsegments == 0) {
        s = &r->segments[r->nsegments++];
        s->start = 0;
        s->line = 0;
        s->spoken = 1;
    }

    /* lines after the last spoken word (a closing brace) glide into view */
    if (last + 1 < r->layout.n) {
        s = &r->segments[r->nsegments];
        s->start = end - 1.5 / r->fps;
        s->line = r->layout.n - 1;
        s->spoken = 0;

        if (s->start > r->segments[r->nsegments - 1].start) {
            r->nsegments++;
        }
    }

    return 0;
}


static int
weaveit_scroll_target(weaveit_render_t *r, size_t line)
{
    int  target, max;

    target = weaveit_render_line_top(r, line) + r->line_height / 2
             - r->height / WEAVEIT_FOCUS;

    max = WEAVEIT_PAD_TOP + (int) r->layout.n * r->line_height
          + WEAVEIT_PAD_BOTTOM - r->height;

    if (target > max) {
        target = max;
    }

    return (target < 0) ? 0 : target;
}


/*
 * The scroll rests with the spoken line near a third of the height and
 * glides (smoothstep) to the next line's rest position during the last
 * WEAVEIT_SCROLL_TIME seconds before its first word, so it arrives as the
 * word starts.  A final clamp keeps the spoken line fully on screen even
 * across a long run of unspoken lines.
 */

int
weaveit_render_scroll(weaveit_render_t *r, double t, size_t *spoken)
{
    int                       top;
    double                    s, d, u, from, to;
    size_t                    lo, hi, mid, line;
    const weaveit_segment_t  *seg;

    seg = r->segments;

    if (seg == NULL) {
        *spoken = 0;
        return 0;
    }

    lo = 0;
    hi = r->nsegments;

    while (hi - lo > 1) {
        mid = lo + (hi - lo) / 2;

        if (seg[mid].start <= t) {
            lo = mid;

        } else {
            hi = mid;
        }
    }

    s = weaveit_scroll_target(r, seg[lo].line);

    if (lo + 1 < r->nsegments) {
        d = seg[lo + 1].start - seg[lo].start;

        if (d > WEAVEIT_SCROLL_TIME) {
            d = WEAVEIT_SCROLL_TIME;
        }

        u = (t - (seg[lo + 1].start - d)) / d;

        if (d > 0 && u > 0) {
            from = s;
            to = weaveit_scroll_target(r, seg[lo + 1].line);
            u = (u > 1) ? 1 : u;
            s = from + (to - from) * u * u * (3 - 2 * u);
        }
    }

    line = (seg[lo].spoken || lo == 0) ? seg[lo].line : seg[lo - 1].line;
    top = weaveit_render_line_top(r, line);

    if (s > top) {
        s = top;
    }

    if (s < top + r->line_height - r->height) {
        s = top + r->line_height - r->height;
    }

    *spoken = line;

    return (int) lround(s);
}


void
weaveit_render_frame(weaveit_render_t *r, double t, uint8_t *data[3],
    const int linesize[3])
{
    int             y, dy, scroll, doc_end, row;
    long            line, cached;
    size_t          spoken;
    uint8_t        *strip, *dst;

    scroll = weaveit_render_scroll(r, t, &spoken);
    doc_end = (int) r->layout.n * r->line_height;
    cached = -1;
    strip = NULL;

    for (y = 0; y < r->height; y++) {
        dst = data[0] + (ptrdiff_t) y * linesize[0];
        dy = y + scroll - WEAVEIT_PAD_TOP;

        if (dy < 0 || dy >= doc_end) {
            memset(dst, r->bg_y, r->width);
            continue;
        }

        line = dy / r->line_height;
        row = dy % r->line_height;

        if (line != cached) {
            strip = weaveit_strip_get(r, line, (size_t) line == spoken);
            cached = line;
        }

        memcpy(dst, strip + (size_t) row * r->width, r->width);
    }

    weaveit_grey_chroma(r, data, linesize);
    weaveit_band_chroma(r, weaveit_render_line_top(r, spoken) - scroll, data,
                        linesize);
}


/* background and text are grey: no colour of their own */

static void
weaveit_grey_chroma(weaveit_render_t *r, uint8_t *data[3],
    const int linesize[3])
{
    int  y;

    for (y = 0; y < (r->height + 1) / 2; y++) {
        memset(data[1] + (ptrdiff_t) y * linesize[1], 128, (r->width + 1) / 2);
        memset(data[2] + (ptrdiff_t) y * linesize[2], 128, (r->width + 1) / 2);
    }
}


/*
 * The band's colour in the chroma planes, faded where text covers it
 * (the text is grey: no chroma of its own).
 */

static void
weaveit_band_chroma(weaveit_render_t *r, int y0, uint8_t *data[3],
    const int linesize[3])
{
    int       x0, x1, y1, cx, cy, x, y, k, a, w, range, full;
    uint8_t  *py;

    x0 = WEAVEIT_PAD_X - WEAVEIT_BAND_MARGIN;
    x1 = r->width - WEAVEIT_PAD_X + WEAVEIT_BAND_MARGIN;
    y1 = y0 + r->line_height;
    range = r->band_y - r->text_y;
    full = 4 * range;

    for (cy = (y0 < 0 ? 0 : y0 / 2); cy < (r->height + 1) / 2; cy++) {
        if (2 * cy >= y1) {
            break;
        }

        for (cx = x0 / 2; cx < (x1 + 1) / 2; cx++) {

            /* w: band share of the 2x2 block, in units of 1 / full */
            w = 0;

            for (k = 0; k < 4; k++) {
                x = 2 * cx + (k & 1);
                y = 2 * cy + (k >> 1);

                if (x < x0 || x >= x1 || y < y0 || y >= y1
                    || y >= r->height || x >= r->width)
                {
                    continue;
                }

                py = data[0] + (ptrdiff_t) y * linesize[0] + x;
                a = r->band_y - *py;
                w += range - (a < 0 ? 0 : (a > range ? range : a));
            }

            data[1][(ptrdiff_t) cy * linesize[1] + cx] =
                (uint8_t) (128 + ((r->band_u - 128) * w + full / 2) / full);
            data[2][(ptrdiff_t) cy * linesize[2] + cx] =
                (uint8_t) (128 + ((r->band_v - 128) * w + full / 2) / full);
        }
    }
}


static uint8_t *
weaveit_strip_get(weaveit_render_t *r, size_t line, int highlight)
{
    int               y, x0, x1, baseline;
    weaveit_strip_t  *s;

    /* consecutive visible lines never share a slot */
    s = &r->strips[(line * 2 + (highlight ? 1 : 0)) % r->nstrips];

    if (s->line == (long) line && s->highlight == highlight) {
        return s->y;
    }

    s->line = (long) line;
    s->highlight = highlight;

    memset(s->y, r->bg_y, (size_t) r->width * r->line_height);

    if (highlight) {
        x0 = WEAVEIT_PAD_X - WEAVEIT_BAND_MARGIN;
        x1 = r->width - WEAVEIT_PAD_X + WEAVEIT_BAND_MARGIN;

        for (y = 0; y < r->line_height; y++) {
            memset(s->y + (size_t) y * r->width + x0, r->band_y, x1 - x0);
        }
    }

    baseline = (r->line_height - (r->font.ascender - r->font.descender)) / 2
               + r->font.ascender;

    weaveit_draw_text(&r->font, r->text, &r->layout.lines[line],
                      WEAVEIT_PAD_X, baseline, s->y, r->width, r->width,
                      r->line_height, r->text_y);

    return s->y;
}


static void
weaveit_draw_text(weaveit_font_t *f, const char *text,
    const weaveit_line_t *line, int x0, int baseline, uint8_t *plane,
    int stride, int w, int h, uint8_t color)
{
    int                    pen, gx, gy, x, y, px, py, a;
    size_t                 i, n;
    uint8_t               *dst;
    uint32_t               cp;
    const unsigned char   *p;
    const weaveit_glyph_t *g;

    p = (const unsigned char *) text;
    pen = line->x * 64;

    for (i = line->start; i < line->end; i += n) {
        n = weaveit_utf8_next(p + i, line->end - i, &cp);

        if (cp <= 0x20 || cp == 0x7f) {
            pen = weaveit_pen_advance(f, pen, cp);
            continue;
        }

        g = weaveit_font_glyph(f, cp);
        gx = x0 + (pen >> 6) + g->left;
        gy = baseline - g->top;
        pen += g->advance;

        for (y = 0; y < g->rows; y++) {
            py = gy + y;

            if (py < 0 || py >= h) {
                continue;
            }

            dst = plane + (ptrdiff_t) py * stride;

            for (x = 0; x < g->width; x++) {
                px = gx + x;
                a = g->bitmap[y * g->width + x];

                if (a == 0 || px < 0 || px >= w) {
                    continue;
                }

                dst[px] = (uint8_t) ((dst[px] * (255 - a) + color * a + 127)
                                     / 255);
            }
        }
    }
}


/*
 * The title card: the title centred at 1.5 times the text size, wrapped
 * like the script.
 */

int
weaveit_render_title(weaveit_render_t *r, const char *title, uint8_t *data[3],
    const int linesize[3], char *err, size_t errlen)
{
    int               y, lh, top, baseline, x;
    size_t            k, len;
    weaveit_lines_t   lines;
    weaveit_font_t   *f;

    f = &r->title_font;

    if (f->face == NULL
        && weaveit_font_open(r, f, r->font_size * 3 / 2, err, errlen) != 0)
    {
        return -1;
    }

    memset(&lines, 0, sizeof(weaveit_lines_t));
    len = strlen(title);

    if (weaveit_layout(r, f, title, len, &lines) != 0) {
        free(lines.lines);
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    for (y = 0; y < r->height; y++) {
        memset(data[0] + (ptrdiff_t) y * linesize[0], r->bg_y, r->width);
    }

    weaveit_grey_chroma(r, data, linesize);

    lh = (int) lround(r->font_size * 3 / 2 * 1.4);
    top = (r->height - (int) lines.n * lh) / 2;
    baseline = (lh - (f->ascender - f->descender)) / 2 + f->ascender;

    for (k = 0; k < lines.n; k++) {
        /* centre: measure the line without its indentation */
        x = (r->width - weaveit_line_width(f, title, &lines.lines[k])) / 2;
        lines.lines[k].x = 0;

        weaveit_draw_text(f, title, &lines.lines[k], x, top + baseline,
                          data[0], linesize[0], r->width, r->height,
                          r->text_y);
        top += lh;
    }

    free(lines.lines);

    return 0;
}


/* in px, the line's hanging indent (its x) left out */

static int
weaveit_line_width(weaveit_font_t *f, const char *text,
    const weaveit_line_t *line)
{
    int       pen;
    size_t    i, n;
    uint32_t  cp;

    pen = 0;

    for (i = line->start; i < line->end; i += n) {
        n = weaveit_utf8_next((const unsigned char *) text + i,
                              line->end - i, &cp);
        pen = weaveit_pen_advance(f, pen, cp);
    }

    return pen / 64;
}


static void
weaveit_rgb_to_yuv(int rgb, uint8_t *y, uint8_t *u, uint8_t *v)
{
    double  r, g, b, l;

    r = ((rgb >> 16) & 0xff) / 255.0;
    g = ((rgb >> 8) & 0xff) / 255.0;
    b = (rgb & 0xff) / 255.0;

    l = 0.2126 * r + 0.7152 * g + 0.0722 * b;

    *y = (uint8_t) lround(16 + 219 * l);
    *u = (uint8_t) lround(128 + 224 * (b - l) / 1.8556);
    *v = (uint8_t) lround(128 + 224 * (r - l) / 1.5748);
}
