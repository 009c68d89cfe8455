/*
 * Layout and painting: text shaped with HarfBuzz in runs of one font,
 * script and direction, ordered with FriBidi, broken into lines where
 * libunibreak allows it; a scroll paced by the speech's word timings;
 * frames painted straight into YUV 4:2:0, in colour.
 *
 * Lines are laid out once over the logical text and shaped again when
 * painted, one visual line at a time (the way libass does it).  Memory
 * does not depend on the script's length beyond the line table: a long
 * paragraph is laid out in chunks, a frame is composed from a small cache
 * of pre-painted line strips (only the visible lines are ever painted),
 * and glyphs live in a fixed-size cache (a Markdown script adds a style
 * byte per shown byte).  Positions on the page are ints, in px (26.6
 * within a line): a line holds at most a chunk, its pen never goes far
 * past the text width, and a page taller than an int reaches is refused.
 *
 * A Markdown script has a font set per style (weaveit_internal.h), each
 * character shaped in its style's; a line is as tall as its largest
 * style, so line tops are a running sum.
 */

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <fribidi.h>
#include <hb.h>
#include <linebreak.h>

#include "weaveit_internal.h"


#define WEAVEIT_TAB_COLUMNS    4
#define WEAVEIT_LINE_SPACING   1.8
#define WEAVEIT_PAD_X          80
#define WEAVEIT_PAD_TOP        60
#define WEAVEIT_PAD_BOTTOM     60
#define WEAVEIT_BAND_MARGIN    16       /* band overhang beyond the text */
#define WEAVEIT_SCROLL_TIME    0.4      /* seconds a line change glides */
#define WEAVEIT_FOCUS          3        /* spoken line at height / 3 */
#define WEAVEIT_CHUNK_CHARS    2048     /* of a paragraph laid out at once */
#define WEAVEIT_ELLIPSIS       "\xe2\x80\xa6"


/* one glyph of a shaped run, 26.6 px */

typedef struct {
    uint32_t            gid;
    uint32_t            cluster;        /* its first character */
    int                 x_advance;
    int                 x_offset;
    int                 y_offset;
} weaveit_shaped_t;


/* characters of one face, script, direction and colour, and their glyphs */

typedef struct {
    size_t              start;
    size_t              n;
    size_t              glyph;
    size_t              nglyphs;
    weaveit_fonts_t    *fonts;          /* of the character's style */
    int                 face;
    int                 level;
    hb_script_t         script;
    uint32_t            foreground;
} weaveit_run_t;


/* the scratch space of shaping a piece of text, grown as needed */

typedef struct {
    const char         *text;
    size_t              alloc;
    size_t              n;
    uint32_t           *cps;            /* tabs and controls as spaces */
    size_t             *offsets;        /* in the text */
    int                *advances;       /* 26.6, on a cluster's first */
    weaveit_fonts_t   **sets;           /* the font set of each */
    int                *faces;
    uint8_t            *starts;         /* a cluster starts here */
    char               *breaks;         /* LINEBREAK_* after a character */
    FriBidiCharType    *types;
    FriBidiBracketType *brackets;
    FriBidiLevel       *levels;

    weaveit_shaped_t   *glyphs;
    size_t              nglyphs;
    size_t              glyphs_alloc;

    weaveit_run_t      *runs;
    size_t             *order;          /* runs in visual order */
    size_t              nruns;
    size_t              runs_alloc;

    hb_buffer_t        *buffer;
} weaveit_shaper_t;


/* where painting goes: a strip (full-height chroma) or a frame (4:2:0) */

typedef struct {
    uint8_t            *y;
    uint8_t            *u;
    uint8_t            *v;
    int                 y_stride;
    int                 c_stride;
    int                 c_shift;        /* chroma row = row >> c_shift */
    int                 width;
    int                 height;
} weaveit_canvas_t;


typedef struct {
    long                line;           /* -1: empty */
    int                 highlight;
    uint8_t            *y;              /* width * line_height luma, then */
    uint8_t            *u;              /* (width / 2) * line_height U, */
    uint8_t            *v;              /* and V */
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


/* a weaveit_hold_t in lines, last inclusive */

typedef struct {
    size_t              first;
    size_t              last;
    size_t              anchor;
    size_t              anchor_last;    /* the held block's last line */
} weaveit_held_t;


typedef struct {
    uint8_t             y;
    uint8_t             u;
    uint8_t             v;
} weaveit_yuv_t;


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

    weaveit_fonts_t    *fonts;          /* monospace: code, plain text */
    weaveit_fonts_t    *title_fonts;
    char                title_pattern[256];     /* title_fonts keep it */

    /* Markdown: a style a shown byte, and the sets of the styles used */
    uint8_t            *style;
    weaveit_fonts_t    *sets[WEAVEIT_STYLES];
    char                patterns[WEAVEIT_STYLES][256];  /* sets keep them */
    size_t             *sections;       /* lines a level-1 heading starts */
    size_t              nsections;
    int                 heights[WEAVEIT_STYLES];   /* of their lines */
    int                 doc_height;     /* px, the lines alone */
    int                 strip_height;   /* the tallest line's */
    weaveit_shaper_t    shaper;
    size_t              missing;

    weaveit_lines_t     layout;

    weaveit_span_t     *spans;
    size_t              nspans;

    weaveit_segment_t  *segments;
    size_t              nsegments;
    double              end;            /* of the speech */

    weaveit_held_t     *holds;
    size_t              nholds;

    weaveit_strip_t    *strips;
    size_t              nstrips;

    weaveit_yuv_t       bg;
    weaveit_yuv_t       text_color;
    weaveit_yuv_t       band;
};


static void weaveit_linebreak_init(void);
static weaveit_render_t *weaveit_render_open(const weaveit_params_t *p,
    const char *text, size_t len, const weaveit_markdown_t *md, char *err,
    size_t errlen);
static int weaveit_styles_open(weaveit_render_t *r, const weaveit_params_t *p,
    const weaveit_markdown_t *md, char *err, size_t errlen);
static int weaveit_style_pattern(const char *family, const char *variant,
    char *buf, size_t size);
static int weaveit_sections(weaveit_render_t *r,
    const weaveit_markdown_t *md);
static int weaveit_measure(weaveit_render_t *r);
static int weaveit_strips_create(weaveit_render_t *r);
static int weaveit_shaper_reserve(weaveit_shaper_t *sh, size_t n);
static void weaveit_shaper_free(weaveit_shaper_t *sh);
static int weaveit_shape(weaveit_render_t *r, weaveit_fonts_t *fs,
    const char *text, size_t start, size_t end, int *rtl);
static size_t weaveit_decode(weaveit_shaper_t *sh, const char *text,
    size_t start, size_t end, size_t max);
static int weaveit_bidi(weaveit_shaper_t *sh, int rtl);
static void weaveit_sets(weaveit_render_t *r, weaveit_shaper_t *sh,
    weaveit_fonts_t *fs);
static void weaveit_faces(weaveit_shaper_t *sh);
static int weaveit_itemize(weaveit_render_t *r, weaveit_shaper_t *sh);
static int weaveit_shape_run(weaveit_shaper_t *sh, weaveit_run_t *run);
static void weaveit_visual_order(weaveit_shaper_t *sh);
static int weaveit_tab_advance(weaveit_fonts_t *fs, int pen);
static int weaveit_char_advance(weaveit_shaper_t *sh, const char *text,
    size_t i, int pen);
static int weaveit_layout(weaveit_render_t *r, weaveit_fonts_t *fs,
    const char *text, size_t len, weaveit_lines_t *out, size_t *missing);
static int weaveit_layout_paragraph(weaveit_render_t *r, weaveit_fonts_t *fs,
    const char *text, size_t ls, size_t le, weaveit_lines_t *out,
    size_t *missing);
static int weaveit_layout_hang(weaveit_render_t *r, const char *text);
static size_t weaveit_layout_chunk(weaveit_render_t *r, const char *text,
    int first, int hang, int rtl, int last, weaveit_lines_t *out);
static int weaveit_is_space(const weaveit_shaper_t *sh, size_t i);
static int weaveit_layout_emit(weaveit_lines_t *out, size_t start,
    size_t end, int x, int rtl);
static const weaveit_span_t *weaveit_span_of(weaveit_render_t *r,
    size_t offset);
static uint32_t weaveit_span_color(weaveit_render_t *r, size_t offset);
static int weaveit_scroll_target(weaveit_render_t *r, size_t line, double t,
    const weaveit_held_t **tall);
static weaveit_strip_t *weaveit_strip_get(weaveit_render_t *r, size_t line,
    int highlight);
static void weaveit_fill(const weaveit_canvas_t *c, int x0, int x1,
    weaveit_yuv_t color);
static void weaveit_draw_line(weaveit_render_t *r, weaveit_fonts_t *fs,
    const char *text, const weaveit_line_t *line, const weaveit_canvas_t *c,
    int left, int baseline, int centre);
static void weaveit_draw_glyph(const weaveit_canvas_t *c,
    const weaveit_glyph_t *g, int gx, int gy, weaveit_yuv_t color);
static void weaveit_blend(const weaveit_canvas_t *c, int px, int py, int a,
    uint8_t y, uint8_t u, uint8_t v);
static weaveit_fonts_t *weaveit_title_fonts(weaveit_render_t *r, char *err,
    size_t errlen);
static char *weaveit_title_cut(weaveit_render_t *r, const char *title,
    int fit, weaveit_lines_t *lines);
static int weaveit_title_fits(weaveit_render_t *r, const char *title,
    size_t n, int fit, char *cut, weaveit_lines_t *lines);
static size_t weaveit_title_middle(const char *title, size_t lo, size_t hi);
static size_t weaveit_title_word(const char *title, size_t from, size_t n);


/*
 * The themes: light (the original's white page and #222 text) and dark.
 * Tokens in WEAVEIT_TOKEN_* order: keyword, type, string, number,
 * comment, function, preprocessor.
 */
static const weaveit_theme_t  weaveit_themes[] = {
    { 0xffffff, 0x222222, 0xfff3c4, 0xf1f3f5, 0x9c2f1f,
      { 0x0033b3, 0x00627a, 0x067d17, 0x1750eb, 0x8c8c8c, 0x7a3e9d,
        0x9e880d } },
    { 0x1e1f22, 0xdfe1e5, 0x3d3a26, 0x2b2d30, 0xe8a07f,
      { 0xcf8e6d, 0x16baac, 0x6aab73, 0x2aacb8, 0x7a7e85, 0x56a8f5,
        0xb3ae60 } }
};


static pthread_once_t  weaveit_linebreak_once = PTHREAD_ONCE_INIT;


static void
weaveit_linebreak_init(void)
{
    init_linebreak();
}


const weaveit_theme_t *
weaveit_theme(int theme)
{
    return &weaveit_themes[theme == WEAVEIT_THEME_DARK];
}


weaveit_render_t *
weaveit_render_create(const weaveit_params_t *p, const char *text, size_t len,
    char *err, size_t errlen)
{
    return weaveit_render_open(p, text, len, NULL, err, errlen);
}


weaveit_render_t *
weaveit_render_markdown(const weaveit_params_t *p,
    const weaveit_markdown_t *md, char *err, size_t errlen)
{
    return weaveit_render_open(p, md->shown, md->shown_len, md, err, errlen);
}


static weaveit_render_t *
weaveit_render_open(const weaveit_params_t *p, const char *text, size_t len,
    const weaveit_markdown_t *md, char *err, size_t errlen)
{
    weaveit_render_t       *r;
    const weaveit_theme_t  *theme;

    pthread_once(&weaveit_linebreak_once, weaveit_linebreak_init);

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

    theme = weaveit_theme(p->theme);
    weaveit_rgb_to_yuv(theme->background, &r->bg.y, &r->bg.u, &r->bg.v);
    weaveit_rgb_to_yuv(theme->text, &r->text_color.y, &r->text_color.u,
                       &r->text_color.v);
    weaveit_rgb_to_yuv(theme->band, &r->band.y, &r->band.u, &r->band.v);

    if (r->text_width < p->font_size * 4 || r->line_height >= r->height) {
        weaveit_error(err, errlen, "frame %dx%d too small for %d px text",
                      p->width, p->height, p->font_size);
        goto failed;
    }

    r->fonts = weaveit_fonts_open(p->font_path, p->font_size, err, errlen);
    if (r->fonts == NULL) {
        goto failed;
    }

    r->sets[WEAVEIT_STYLE_CODE] = r->fonts;
    r->heights[WEAVEIT_STYLE_CODE] = r->line_height;

    if (md != NULL && weaveit_styles_open(r, p, md, err, errlen) != 0) {
        goto failed;
    }

    r->shaper.buffer = hb_buffer_create();

    if (!hb_buffer_allocation_successful(r->shaper.buffer)
        || weaveit_layout(r, r->fonts, text, len, &r->layout, &r->missing)
           != 0
        || (md != NULL && weaveit_sections(r, md) != 0))
    {
        weaveit_error(err, errlen, "out of memory");
        goto failed;
    }

    if (weaveit_measure(r) != 0) {
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


/*
 * The style of each shown byte: prose, then emphasis, bold, headings and
 * code over it, each mark over those before it in that order (inline
 * code in a heading is code).  A set is opened for each style used: the
 * prose font's family with fontconfig's bold or oblique face of it.
 */

static const struct {
    int          kind;
    int          style;                 /* a heading's: + level - 1 */
    double       scale;
    const char  *variant;
} weaveit_styles[] = {
    { WEAVEIT_MARK_EMPHASIS,   WEAVEIT_STYLE_EMPHASIS, 1.0, "oblique" },
    { WEAVEIT_MARK_BOLD,       WEAVEIT_STYLE_BOLD,     1.0, "bold" },
    { WEAVEIT_MARK_HEADING,    WEAVEIT_STYLE_H1,       1.6, "bold" },
    { WEAVEIT_MARK_HEADING,    WEAVEIT_STYLE_H2,       1.3, "bold" },
    { WEAVEIT_MARK_HEADING,    WEAVEIT_STYLE_H3,       1.15, "bold" },
    { WEAVEIT_MARK_CODE,       WEAVEIT_STYLE_CODE,     1.0, NULL },
    { WEAVEIT_MARK_CODE_BLOCK, WEAVEIT_STYLE_CODE,     1.0, NULL }
};

#define WEAVEIT_NSTYLES  (sizeof(weaveit_styles) / sizeof(weaveit_styles[0]))


static int
weaveit_styles_open(weaveit_render_t *r, const weaveit_params_t *p,
    const weaveit_markdown_t *md, char *err, size_t errlen)
{
    int                    style, size;
    char                  *pattern;
    size_t                 i, k;
    const weaveit_mark_t  *m;

    r->style = malloc(md->shown_len + 1);
    r->sets[WEAVEIT_STYLE_PROSE] = weaveit_fonts_open(p->prose_font,
                                                      p->font_size, err,
                                                      errlen);

    if (r->style == NULL || r->sets[WEAVEIT_STYLE_PROSE] == NULL) {
        if (r->style == NULL) {
            weaveit_error(err, errlen, "out of memory");
        }

        return -1;
    }

    memset(r->style, WEAVEIT_STYLE_PROSE, md->shown_len + 1);
    r->heights[WEAVEIT_STYLE_PROSE] = r->line_height;

    for (k = 0; k < WEAVEIT_NSTYLES; k++) {
        for (i = 0; i < md->nmarks; i++) {
            m = &md->marks[i];
            style = weaveit_styles[k].style;

            if (m->kind != weaveit_styles[k].kind
                || (m->kind == WEAVEIT_MARK_HEADING
                    && style != WEAVEIT_STYLE_H1 + m->level - 1))
            {
                continue;
            }

            memset(r->style + m->start, style, m->end - m->start);

            if (r->sets[style] != NULL) {
                continue;
            }

            size = (int) lround(p->font_size * weaveit_styles[k].scale);
            pattern = r->patterns[style];

            if (weaveit_style_pattern(
                    weaveit_fonts_family(r->sets[WEAVEIT_STYLE_PROSE]),
                    weaveit_styles[k].variant, pattern,
                    sizeof(r->patterns[style]))
                != 0)
            {
                weaveit_error(err, errlen, "prose font's family is too long");
                return -1;
            }

            r->sets[style] = weaveit_fonts_open(pattern, size, err, errlen);
            if (r->sets[style] == NULL) {
                return -1;
            }

            r->heights[style] = (int) lround(size * WEAVEIT_LINE_SPACING);
        }
    }

    return 0;
}


/* "family:variant", the family's - : , and \\ escaped for FcNameParse() */

static int
weaveit_style_pattern(const char *family, const char *variant, char *buf,
    size_t size)
{
    size_t  n;

    for (n = 0; *family != '\0' && n + 2 < size; family++) {
        if (strchr("-:,\\", *family) != NULL) {
            buf[n++] = '\\';
        }

        buf[n++] = *family;
    }

    if (*family != '\0' || n + strlen(variant) + 2 > size) {
        return -1;
    }

    buf[n++] = ':';
    strcpy(buf + n, variant);

    return 0;
}


/* a new level-1 heading brings its section to the top of the view */

static int
weaveit_sections(weaveit_render_t *r, const weaveit_markdown_t *md)
{
    size_t  i;

    r->sections = malloc((md->nmarks + 1) * sizeof(size_t));
    if (r->sections == NULL) {
        return -1;
    }

    for (i = 0; i < md->nmarks; i++) {
        if (md->marks[i].kind == WEAVEIT_MARK_HEADING
            && md->marks[i].level == 1)
        {
            r->sections[r->nsections++] = weaveit_render_line_of(
                                              r, md->marks[i].start);
        }
    }

    return 0;
}


/*
 * Each line is as tall as the largest style on it, its baseline placed
 * as that style's font wants it; the tops add up, and a page taller than
 * an int reaches is refused.
 */

static int
weaveit_measure(weaveit_render_t *r)
{
    int              *height, best;
    size_t            i, k;
    int64_t           top;
    weaveit_line_t   *l;
    weaveit_fonts_t  *fs;

    height = r->heights;
    top = 0;
    r->strip_height = r->line_height;

    for (i = 0; i < r->layout.n; i++) {
        l = &r->layout.lines[i];
        best = WEAVEIT_STYLE_CODE;

        if (r->style != NULL) {
            best = r->style[l->start];

            for (k = l->start + 1; k < l->end; k++) {
                best = (height[r->style[k]] > height[best]) ? r->style[k]
                                                            : best;
            }
        }

        fs = r->sets[best];
        l->top = (int) top;
        l->height = height[best];
        l->baseline = (l->height - (weaveit_fonts_ascender(fs)
                                    - weaveit_fonts_descender(fs))) / 2
                      + weaveit_fonts_ascender(fs);

        r->strip_height = (l->height > r->strip_height) ? l->height
                                                        : r->strip_height;
        top += l->height;

        if (top > INT_MAX - WEAVEIT_PAD_TOP - WEAVEIT_PAD_BOTTOM) {
            return -1;
        }
    }

    r->doc_height = (int) top;

    return 0;
}


/*
 * The visible lines plus one partial line each side, twice (highlight),
 * as many as body lines fill the frame, each as tall as the tallest line
 */

static int
weaveit_strips_create(weaveit_render_t *r)
{
    size_t  i, luma, chroma;

    luma = (size_t) r->width * r->strip_height;
    chroma = (size_t) (r->width + 1) / 2 * r->strip_height;

    r->nstrips = 2 * ((size_t) (r->height / r->line_height) + 3);
    r->strips = calloc(r->nstrips, sizeof(weaveit_strip_t));
    if (r->strips == NULL) {
        return -1;
    }

    for (i = 0; i < r->nstrips; i++) {
        r->strips[i].line = -1;
        r->strips[i].y = malloc(luma + 2 * chroma);

        if (r->strips[i].y == NULL) {
            return -1;
        }

        r->strips[i].u = r->strips[i].y + luma;
        r->strips[i].v = r->strips[i].u + chroma;
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

    for (i = WEAVEIT_STYLE_CODE + 1; i < WEAVEIT_STYLES; i++) {
        weaveit_fonts_close(r->sets[i]);
    }

    weaveit_fonts_close(r->fonts);
    weaveit_fonts_close(r->title_fonts);
    weaveit_shaper_free(&r->shaper);

    free(r->layout.lines);
    free(r->style);
    free(r->sections);
    free(r->spans);
    free(r->segments);
    free(r->holds);
    free(r);
}


static int
weaveit_shaper_reserve(weaveit_shaper_t *sh, size_t n)
{
    size_t  alloc;

#define weaveit_grow(field)                                                   \
    do {                                                                      \
        void  *p_ = realloc(sh->field, alloc * sizeof(*sh->field));           \
        if (p_ == NULL) {                                                     \
            return -1;                                                        \
        }                                                                     \
        sh->field = p_;                                                       \
    } while (0)

    if (n <= sh->alloc) {
        return 0;
    }

    alloc = (n < 256) ? 256 : n;

    weaveit_grow(cps);
    weaveit_grow(offsets);
    weaveit_grow(advances);
    weaveit_grow(sets);
    weaveit_grow(faces);
    weaveit_grow(starts);
    weaveit_grow(breaks);
    weaveit_grow(types);
    weaveit_grow(brackets);
    weaveit_grow(levels);
    weaveit_grow(runs);
    weaveit_grow(order);

#undef weaveit_grow

    sh->alloc = alloc;
    sh->runs_alloc = alloc;

    return 0;
}


static void
weaveit_shaper_free(weaveit_shaper_t *sh)
{
    free(sh->cps);
    free(sh->offsets);
    free(sh->advances);
    free(sh->sets);
    free(sh->faces);
    free(sh->starts);
    free(sh->breaks);
    free(sh->types);
    free(sh->brackets);
    free(sh->levels);
    free(sh->glyphs);
    free(sh->runs);
    free(sh->order);
    hb_buffer_destroy(sh->buffer);
}


/*
 * Shapes text[start, end) (no newline in it) into the renderer's shaper,
 * at most WEAVEIT_CHUNK_CHARS characters: returns how many, or -1 when
 * out of memory.  *rtl in: -1 to take the direction of the first strong
 * character, else the paragraph's; out: the direction used.  The face of
 * a character no font has is -1, and shapes with the configured font.
 */

static int
weaveit_shape(weaveit_render_t *r, weaveit_fonts_t *fs, const char *text,
    size_t start, size_t end, int *rtl)
{
    size_t             i, n;
    weaveit_shaper_t  *sh;

    sh = &r->shaper;

    if (weaveit_shaper_reserve(sh, WEAVEIT_CHUNK_CHARS + 1) != 0) {
        return -1;
    }

    sh->text = text;
    n = weaveit_decode(sh, text, start, end, WEAVEIT_CHUNK_CHARS);
    *rtl = weaveit_bidi(sh, *rtl);

    set_linebreaks_utf32((const utf32_t *) sh->cps, n, NULL, sh->breaks);
    weaveit_sets(r, sh, fs);
    weaveit_faces(sh);

    if (weaveit_itemize(r, sh) != 0) {
        return -1;
    }

    memset(sh->advances, 0, n * sizeof(int));
    memset(sh->starts, 0, n);
    sh->nglyphs = 0;

    for (i = 0; i < sh->nruns; i++) {
        if (weaveit_shape_run(sh, &sh->runs[i]) != 0) {
            return -1;
        }
    }

    return (int) n;
}


static size_t
weaveit_decode(weaveit_shaper_t *sh, const char *text, size_t start,
    size_t end, size_t max)
{
    size_t                i, n, len;
    uint32_t              cp;
    const unsigned char  *p;

    p = (const unsigned char *) text;

    for (i = start, n = 0; i < end && n < max; n++, i += len) {
        len = weaveit_utf8_next(p + i, end - i, &cp);

        /* shaped as a space; a tab's width is the painter's */
        sh->cps[n] = (cp < 0x20 || cp == 0x7f) ? ' ' : cp;
        sh->offsets[n] = i;
    }

    sh->n = n;
    sh->offsets[n] = i;

    return n;
}


/* embedding levels (UAX #9); returns the paragraph's direction */

static int
weaveit_bidi(weaveit_shaper_t *sh, int rtl)
{
    size_t          i;
    FriBidiParType  dir;

    dir = (rtl < 0) ? FRIBIDI_PAR_ON : (rtl ? FRIBIDI_PAR_RTL
                                            : FRIBIDI_PAR_LTR);

    fribidi_get_bidi_types(sh->cps, (FriBidiStrIndex) sh->n, sh->types);
    fribidi_get_bracket_types(sh->cps, (FriBidiStrIndex) sh->n, sh->types,
                              sh->brackets);

    if (fribidi_get_par_embedding_levels_ex(sh->types, sh->brackets,
                                            (FriBidiStrIndex) sh->n, &dir,
                                            sh->levels)
        == 0)
    {
        for (i = 0; i < sh->n; i++) {
            sh->levels[i] = FRIBIDI_DIR_TO_LEVEL(dir);
        }
    }

    return FRIBIDI_IS_RTL(dir) ? 1 : 0;
}


/*
 * Each character's font set: its style's in a Markdown script, else the
 * one the text is laid out in.
 */

static void
weaveit_sets(weaveit_render_t *r, weaveit_shaper_t *sh, weaveit_fonts_t *fs)
{
    size_t  i;

    for (i = 0; i < sh->n; i++) {
        sh->sets[i] = (r->style != NULL && sh->text == r->text)
                      ? r->sets[r->style[sh->offsets[i]]] : fs;
    }
}


/*
 * Each character's face; a mark or joiner stays with its base's face when
 * that face has it (so the accent is positioned on its letter).
 */

static void
weaveit_faces(weaveit_shaper_t *sh)
{
    int                        face;
    size_t                     i;
    uint32_t                   cp;
    weaveit_fonts_t           *fs;
    hb_unicode_funcs_t        *uf;
    hb_unicode_general_category_t  gc;

    uf = hb_unicode_funcs_get_default();

    for (i = 0; i < sh->n; i++) {
        cp = sh->cps[i];
        fs = sh->sets[i];
        gc = hb_unicode_general_category(uf, cp);

        if (i > 0 && sh->faces[i - 1] >= 0 && sh->sets[i - 1] == fs
            && (gc == HB_UNICODE_GENERAL_CATEGORY_NON_SPACING_MARK
                || gc == HB_UNICODE_GENERAL_CATEGORY_SPACING_MARK
                || gc == HB_UNICODE_GENERAL_CATEGORY_ENCLOSING_MARK
                || gc == HB_UNICODE_GENERAL_CATEGORY_FORMAT
                || (cp >= 0xfe00 && cp <= 0xfe0f))
            && (weaveit_fonts_has(fs, sh->faces[i - 1], cp)
                || gc == HB_UNICODE_GENERAL_CATEGORY_FORMAT
                || cp >= 0xfe00))
        {
            sh->faces[i] = sh->faces[i - 1];
            continue;
        }

        face = weaveit_fonts_face(fs, cp);

        /* a format character no font has is invisible anyway */
        sh->faces[i] = (face < 0 && gc == HB_UNICODE_GENERAL_CATEGORY_FORMAT)
                       ? 0 : face;
    }
}


/*
 * Runs of one face, script, embedding level and colour; a character of
 * no script of its own (spaces, digits, marks) joins the run around it.
 */

static int
weaveit_itemize(weaveit_render_t *r, weaveit_shaper_t *sh)
{
    int                  face;
    size_t               i;
    uint32_t             fg;
    hb_script_t          script, s;
    weaveit_run_t       *run;
    hb_unicode_funcs_t  *uf;

    uf = hb_unicode_funcs_get_default();
    script = HB_SCRIPT_INVALID;

    for (i = 0; i < sh->n && script == HB_SCRIPT_INVALID; i++) {
        s = hb_unicode_script(uf, sh->cps[i]);

        if (s != HB_SCRIPT_COMMON && s != HB_SCRIPT_INHERITED
            && s != HB_SCRIPT_UNKNOWN)
        {
            script = s;
        }
    }

    sh->nruns = 0;
    run = NULL;

    for (i = 0; i < sh->n; i++) {
        s = hb_unicode_script(uf, sh->cps[i]);

        if (s != HB_SCRIPT_COMMON && s != HB_SCRIPT_INHERITED
            && s != HB_SCRIPT_UNKNOWN)
        {
            script = s;
        }

        /* the colours are the script's: a title has the theme's */
        fg = (sh->text == r->text) ? weaveit_span_color(r, sh->offsets[i])
                                   : WEAVEIT_COLOR_NONE;

        face = (sh->faces[i] < 0) ? 0 : sh->faces[i];

        if (run != NULL && run->face == face && run->fonts == sh->sets[i]
            && run->level == sh->levels[i] && run->script == script
            && run->foreground == fg)
        {
            run->n++;
            continue;
        }

        run = &sh->runs[sh->nruns++];
        run->start = i;
        run->n = 1;
        run->fonts = sh->sets[i];
        run->face = face;
        run->level = sh->levels[i];
        run->script = script;
        run->foreground = fg;
    }

    return 0;
}


/*
 * In a monospace font an East Asian wide character a stand-in font draws
 * takes two cells, centred in them, so that code columns stay aligned.
 */

static int
weaveit_wide(uint32_t cp)
{
    return (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf)
           || (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff)
           || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60)
           || (cp >= 0xffe0 && cp <= 0xffe6)
           || (cp >= 0x1f300 && cp <= 0x1f64f)
           || (cp >= 0x1f900 && cp <= 0x1f9ff)
           || (cp >= 0x20000 && cp <= 0x3fffd);
}


static int
weaveit_shape_run(weaveit_shaper_t *sh, weaveit_run_t *run)
{
    int                   cell;
    size_t                i;
    unsigned              n;
    weaveit_fonts_t      *fs;
    weaveit_shaped_t     *g;
    hb_glyph_info_t      *info;
    hb_glyph_position_t  *pos;

    fs = run->fonts;

    hb_buffer_clear_contents(sh->buffer);
    hb_buffer_add_codepoints(sh->buffer, sh->cps, (int) sh->n,
                             (unsigned) run->start, (int) run->n);
    hb_buffer_set_direction(sh->buffer, (run->level & 1) ? HB_DIRECTION_RTL
                                                         : HB_DIRECTION_LTR);
    hb_buffer_set_script(sh->buffer, run->script);
    hb_buffer_guess_segment_properties(sh->buffer);
    hb_shape(weaveit_fonts_hb(fs, run->face), sh->buffer, NULL, 0);

    info = hb_buffer_get_glyph_infos(sh->buffer, &n);
    pos = hb_buffer_get_glyph_positions(sh->buffer, NULL);

    if (sh->nglyphs + n > sh->glyphs_alloc) {
        g = realloc(sh->glyphs, (sh->nglyphs + n + 256)
                                * sizeof(weaveit_shaped_t));
        if (g == NULL) {
            return -1;
        }

        sh->glyphs = g;
        sh->glyphs_alloc = sh->nglyphs + n + 256;
    }

    run->glyph = sh->nglyphs;
    run->nglyphs = n;
    cell = 2 * weaveit_fonts_space(fs);

    for (i = 0; i < n; i++) {
        g = &sh->glyphs[sh->nglyphs++];
        g->gid = info[i].codepoint;
        g->cluster = info[i].cluster;
        g->x_advance = weaveit_fonts_scale(fs, run->face, pos[i].x_advance);
        g->x_offset = weaveit_fonts_scale(fs, run->face, pos[i].x_offset);
        g->y_offset = weaveit_fonts_scale(fs, run->face, pos[i].y_offset);

        if (run->face > 0 && weaveit_fonts_monospace(fs)
            && weaveit_wide(sh->cps[g->cluster]) && g->x_advance > 0)
        {
            g->x_offset += (cell - g->x_advance) / 2;
            g->x_advance = cell;
        }

        sh->advances[g->cluster] += g->x_advance;
        sh->starts[g->cluster] = 1;
    }

    return 0;
}


/* rule L2 of UAX #9 on whole runs: HarfBuzz orders the glyphs within */

static void
weaveit_visual_order(weaveit_shaper_t *sh)
{
    int     level, max, min_odd;
    size_t  i, j, k, t;

    max = 0;
    min_odd = 255;

    for (i = 0; i < sh->nruns; i++) {
        sh->order[i] = i;
        max = (sh->runs[i].level > max) ? sh->runs[i].level : max;

        if ((sh->runs[i].level & 1) && sh->runs[i].level < min_odd) {
            min_odd = sh->runs[i].level;
        }
    }

    for (level = max; level >= min_odd; level--) {
        for (i = 0; i < sh->nruns; i = j + 1) {
            for (j = i; j < sh->nruns
                        && sh->runs[sh->order[j]].level >= level; j++)
            {
                /* void */
            }

            for (k = i; j > 0 && k < j - 1 - (k - i); k++) {
                t = sh->order[k];
                sh->order[k] = sh->order[j - 1 - (k - i)];
                sh->order[j - 1 - (k - i)] = t;
            }
        }
    }
}


/* tab stops are absolute, every WEAVEIT_TAB_COLUMNS spaces from the margin */

static int
weaveit_tab_advance(weaveit_fonts_t *fs, int pen)
{
    int  tab;

    tab = WEAVEIT_TAB_COLUMNS * weaveit_fonts_space(fs);

    return (pen / tab + 1) * tab - pen;
}


static int
weaveit_char_advance(weaveit_shaper_t *sh, const char *text, size_t i,
    int pen)
{
    if (text[sh->offsets[i]] == '\t') {
        return weaveit_tab_advance(sh->sets[i], pen);
    }

    return sh->advances[i];
}


static int
weaveit_layout(weaveit_render_t *r, weaveit_fonts_t *fs, const char *text,
    size_t len, weaveit_lines_t *out, size_t *missing)
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

        if (weaveit_layout_paragraph(r, fs, text, ls,
                                     (le > ls && text[le - 1] == '\r')
                                     ? le - 1 : le,
                                     out, missing)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


/*
 * One source line, a chunk of characters at a time: a chunk's last line
 * is laid out again at the start of the next one, unless it is the only
 * line of its chunk.  Continuation lines hang at the source line's
 * indentation so wrapped code stays indented.
 */

static int
weaveit_layout_paragraph(weaveit_render_t *r, weaveit_fonts_t *fs,
    const char *text, size_t ls, size_t le, weaveit_lines_t *out,
    size_t *missing)
{
    int     n, rtl, hang, first;
    size_t  i, next;

    if (ls == le) {
        return weaveit_layout_emit(out, ls, le, 0, 0);
    }

    rtl = -1;
    first = 1;
    hang = 0;

    while (ls < le) {
        n = weaveit_shape(r, fs, text, ls, le, &rtl);
        if (n < 0) {
            return -1;
        }

        if (first) {
            hang = weaveit_layout_hang(r, text);
        }

        next = weaveit_layout_chunk(r, text, first, hang, rtl,
                                    r->shaper.offsets[n] >= le, out);
        if (next == (size_t) -1) {
            return -1;
        }

        /* a chunk's last line, laid out again, is counted then */
        for (i = 0; missing && i < (size_t) n; i++) {
            if (r->shaper.faces[i] < 0 && r->shaper.offsets[i] < next) {
                (*missing)++;
            }
        }

        first = 0;
        ls = next;
    }

    return 0;
}


/* the source line's indentation, unless it takes half the width */

static int
weaveit_layout_hang(weaveit_render_t *r, const char *text)
{
    int                pen;
    size_t             i;
    weaveit_shaper_t  *sh;

    sh = &r->shaper;
    pen = 0;

    for (i = 0; i < sh->n && weaveit_is_space(sh, i); i++) {
        pen += weaveit_char_advance(sh, text, i, pen);
    }

    return (pen < r->text_width * 64 / 2) ? pen / 64 : 0;
}


/*
 * Greedy: a line ends at the last break libunibreak allows before the
 * character that does not fit (spaces overflowing the line end it there),
 * or, in a word wider than the line, before that character's cluster.
 * Returns where the next chunk starts: the start of this one's last line
 * when more follows, so it is laid out with what comes after it.
 */

static size_t
weaveit_layout_chunk(weaveit_render_t *r, const char *text, int first,
    int hang, int rtl, int last, weaveit_lines_t *out)
{
    int                pen, limit, w, x;
    size_t             i, start, brk, end, indent, lines;
    weaveit_shaper_t  *sh;

    sh = &r->shaper;
    limit = r->text_width * 64;
    x = first ? 0 : hang;
    pen = x * 64;
    brk = 0;
    lines = 0;

    /*
     * no break inside the first line's indentation; a continuation does
     * not start with the spaces it broke at
     */
    for (indent = 0; indent < sh->n && weaveit_is_space(sh, indent);
         indent++)
    {
        /* void */
    }

    start = first ? 0 : indent;
    indent = first ? indent : 0;

    for (i = start; i < sh->n; i++) {
        w = weaveit_char_advance(sh, text, i, pen);

        if (pen + w <= limit || i == start || !sh->starts[i]) {
            pen += w;

            if (sh->breaks[i] == LINEBREAK_ALLOWBREAK && i + 1 > indent) {
                brk = i + 1;
            }

            continue;
        }

        end = weaveit_is_space(sh, i) ? i : (brk > start ? brk : i);
        i = end;

        while (end > start && weaveit_is_space(sh, end - 1)) {
            end--;
        }

        while (i < sh->n && weaveit_is_space(sh, i)) {
            i++;
        }

        if (weaveit_layout_emit(out, sh->offsets[start], sh->offsets[end], x,
                                rtl)
            != 0)
        {
            return (size_t) -1;
        }

        lines++;
        start = i;
        x = hang;
        pen = x * 64;
        brk = 0;
        i--;
    }

    if (!last && lines > 0) {
        return sh->offsets[start];
    }

    /* a paragraph has at least a line, a continuation has some text */
    if ((start < sh->n || (lines == 0 && first))
        && weaveit_layout_emit(out, sh->offsets[start], sh->offsets[sh->n],
                               x, rtl) != 0)
    {
        return (size_t) -1;
    }

    return sh->offsets[sh->n];
}


/* a space or a tab as written (a control character is shaped as one) */

static int
weaveit_is_space(const weaveit_shaper_t *sh, size_t i)
{
    return sh->text[sh->offsets[i]] == ' ' || sh->text[sh->offsets[i]] == '\t';
}


static int
weaveit_layout_emit(weaveit_lines_t *out, size_t start, size_t end, int x,
    int rtl)
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
    out->lines[out->n].rtl = rtl;
    out->lines[out->n].background = WEAVEIT_COLOR_NONE;
    out->lines[out->n].top = 0;
    out->lines[out->n].height = 0;
    out->lines[out->n].baseline = 0;
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


/* past the last line: where the page's bottom padding starts */

int
weaveit_render_line_top(weaveit_render_t *r, size_t line)
{
    return WEAVEIT_PAD_TOP + ((line < r->layout.n) ? r->layout.lines[line].top
                                                    : r->doc_height);
}


static int
weaveit_line_bottom(weaveit_render_t *r, size_t line)
{
    return weaveit_render_line_top(r, line) + r->layout.lines[line].height;
}


/* the line at px y below the first line's top, y in the page */

static size_t
weaveit_line_at(weaveit_render_t *r, int y)
{
    size_t  lo, hi, mid;

    lo = 0;
    hi = r->layout.n;

    while (hi - lo > 1) {
        mid = lo + (hi - lo) / 2;

        if (r->layout.lines[mid].top <= y) {
            lo = mid;

        } else {
            hi = mid;
        }
    }

    return lo;
}


int
weaveit_render_line_height(weaveit_render_t *r)
{
    return r->line_height;
}


int
weaveit_render_advance(weaveit_render_t *r)
{
    return weaveit_fonts_space(r->fonts) / 64;
}


int
weaveit_render_set_timing(weaveit_render_t *r, const weaveit_word_t *words,
    size_t nwords, int sample_rate, double end, char *err, size_t errlen)
{
    size_t              i, line, last;
    weaveit_segment_t  *s;

    free(r->segments);
    r->nsegments = 0;
    r->end = end;

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


int
weaveit_render_set_holds(weaveit_render_t *r, const weaveit_hold_t *h,
    size_t n, char *err, size_t errlen)
{
    size_t           i;
    weaveit_held_t  *held;

    free(r->holds);
    r->nholds = 0;
    r->holds = NULL;

    if (n == 0) {
        return 0;
    }

    held = malloc(n * sizeof(weaveit_held_t));
    if (held == NULL) {
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < n; i++) {
        held[i].first = weaveit_render_line_of(r, h[i].start);
        held[i].last = weaveit_render_line_of(r, h[i].end);
        held[i].anchor = weaveit_render_line_of(r, h[i].anchor);
        held[i].anchor_last = weaveit_render_line_of(r, h[i].anchor_end);

        if (held[i].anchor_last < held[i].anchor) {
            held[i].anchor_last = held[i].anchor;
        }
    }

    r->holds = held;
    r->nholds = n;

    return 0;
}


/* the hold that keeps a line in view while this one is spoken, or none */

static const weaveit_held_t *
weaveit_scroll_hold(weaveit_render_t *r, size_t line)
{
    size_t                lo, hi, mid;
    const weaveit_held_t  *h;

    lo = 0;
    hi = r->nholds;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        h = &r->holds[mid];

        if (line < h->first) {
            hi = mid;

        } else if (line > h->last) {
            lo = mid + 1;

        } else {
            return h;
        }
    }

    return NULL;
}


/* the scroll that puts the top of the line's section under the padding */

static int
weaveit_scroll_section(weaveit_render_t *r, size_t line)
{
    size_t  lo, hi, mid;

    lo = 0;
    hi = r->nsections;

    /* the first section starting after the line */
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (r->sections[mid] <= line) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return (lo == 0) ? 0 : weaveit_render_line_top(r, r->sections[lo - 1])
                           - WEAVEIT_PAD_TOP;
}


/* the first segment at or after the line */

static size_t
weaveit_segment_from(weaveit_render_t *r, size_t line)
{
    size_t  lo, hi, mid;

    lo = 0;
    hi = r->nsegments;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (r->segments[mid].line < line) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return lo;
}


/*
 * A held block taller than the view scrolls through at an even pace over
 * the time its hold is spoken: from its first line under the top padding
 * to its last one above the bottom padding.
 */

static int
weaveit_scroll_through(weaveit_render_t *r, const weaveit_held_t *h,
    double t)
{
    int     from, to;
    double  t0, t1, u;
    size_t  first, after;

    from = weaveit_render_line_top(r, h->anchor) - WEAVEIT_PAD_TOP;
    to = weaveit_line_bottom(r, h->anchor_last) + WEAVEIT_PAD_BOTTOM
         - r->height;

    first = weaveit_segment_from(r, h->first);
    after = weaveit_segment_from(r, h->last + 1);

    if (first >= after) {
        return from;
    }

    t0 = r->segments[first].start;
    t1 = (after < r->nsegments) ? r->segments[after].start : r->end;
    u = (t1 > t0) ? (t - t0) / (t1 - t0) : 1;
    u = (u < 0) ? 0 : ((u > 1) ? 1 : u);

    return from + (int) lround((to - from) * u);
}


/*
 * The spoken line rests at a third of the height, or lower when that
 * would show what comes before its level-1 section; a held anchor rests
 * at the top padding instead, if that is higher (the clamp in
 * weaveit_render_scroll() then keeps the spoken line itself on screen),
 * and a held block taller than the view scrolls through (*tall: its hold).
 */

static int
weaveit_scroll_target(weaveit_render_t *r, size_t line, double t,
    const weaveit_held_t **tall)
{
    int                    target, max, held, section;
    const weaveit_held_t  *h;

    *tall = NULL;

    target = weaveit_render_line_top(r, line)
             + r->layout.lines[line].height / 2 - r->height / WEAVEIT_FOCUS;

    section = weaveit_scroll_section(r, line);
    target = (section > target) ? section : target;

    h = weaveit_scroll_hold(r, line);

    if (h != NULL
        && weaveit_line_bottom(r, h->anchor_last)
           - weaveit_render_line_top(r, h->anchor)
           > r->height - WEAVEIT_PAD_TOP - WEAVEIT_PAD_BOTTOM)
    {
        *tall = h;
        target = weaveit_scroll_through(r, h, t);

    } else if (h != NULL) {
        held = weaveit_render_line_top(r, h->anchor) - WEAVEIT_PAD_TOP;
        target = (held < target) ? held : target;
    }

    max = WEAVEIT_PAD_TOP + r->doc_height + WEAVEIT_PAD_BOTTOM - r->height;

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
 * across a long run of unspoken lines, but for a tall block scrolling
 * through, which shows the block rather than what explains it.
 */

int
weaveit_render_scroll(weaveit_render_t *r, double t, size_t *spoken)
{
    int                       top, bottom;
    double                    s, d, u, from, to;
    size_t                    lo, hi, mid, line;
    const weaveit_held_t     *tall, *next;
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

    s = weaveit_scroll_target(r, seg[lo].line, t, &tall);

    if (lo + 1 < r->nsegments) {
        d = seg[lo + 1].start - seg[lo].start;

        if (d > WEAVEIT_SCROLL_TIME) {
            d = WEAVEIT_SCROLL_TIME;
        }

        u = (t - (seg[lo + 1].start - d)) / d;
        to = weaveit_scroll_target(r, seg[lo + 1].line, seg[lo + 1].start,
                                   &next);

        if (d > 0 && u > 0 && (tall == NULL || next != tall)) {
            from = s;
            u = (u > 1) ? 1 : u;
            s = from + (to - from) * u * u * (3 - 2 * u);
        }
    }

    line = (seg[lo].spoken || lo == 0) ? seg[lo].line : seg[lo - 1].line;
    *spoken = line;

    if (tall != NULL) {
        return (int) lround(s);
    }

    top = weaveit_render_line_top(r, line);
    bottom = weaveit_line_bottom(r, line);

    if (s > top) {
        s = top;
    }

    if (s < bottom - r->height) {
        s = bottom - r->height;
    }

    return (int) lround(s);
}


void
weaveit_render_frame(weaveit_render_t *r, double t, uint8_t *data[3],
    const int linesize[3])
{
    int                    y, dy, scroll, row, cw;
    size_t                 spoken, line;
    uint8_t               *dst_u, *dst_v;
    weaveit_strip_t       *strip;
    const weaveit_line_t  *l;

    scroll = weaveit_render_scroll(r, t, &spoken);
    cw = (r->width + 1) / 2;
    line = 0;
    l = NULL;
    strip = NULL;

    /* a chroma row is the strip's row of the even picture row it covers */
    for (y = 0; y < r->height; y++) {
        dy = y + scroll - WEAVEIT_PAD_TOP;
        dst_u = data[1] + (ptrdiff_t) (y / 2) * linesize[1];
        dst_v = data[2] + (ptrdiff_t) (y / 2) * linesize[2];

        if (dy < 0 || dy >= r->doc_height) {
            memset(data[0] + (ptrdiff_t) y * linesize[0], r->bg.y, r->width);

            if ((y & 1) == 0) {
                memset(dst_u, r->bg.u, cw);
                memset(dst_v, r->bg.v, cw);
            }

            continue;
        }

        if (l == NULL || dy >= l->top + l->height) {
            line = (l == NULL) ? weaveit_line_at(r, dy) : line + 1;
            l = &r->layout.lines[line];
            strip = weaveit_strip_get(r, line, line == spoken);
        }

        row = dy - l->top;

        memcpy(data[0] + (ptrdiff_t) y * linesize[0],
               strip->y + (size_t) row * r->width, r->width);

        if ((y & 1) == 0) {
            memcpy(dst_u, strip->u + (size_t) row * cw, cw);
            memcpy(dst_v, strip->v + (size_t) row * cw, cw);
        }
    }
}


/*
 * A line's strip: the page, the line's background (the band when it is
 * the spoken line) from margin to margin plus WEAVEIT_BAND_MARGIN, text.
 */

static weaveit_strip_t *
weaveit_strip_get(weaveit_render_t *r, size_t line, int highlight)
{
    weaveit_yuv_t          bg;
    weaveit_strip_t       *s;
    weaveit_canvas_t       c;
    const weaveit_line_t  *l;

    /* consecutive visible lines never share a slot */
    s = &r->strips[(line * 2 + (highlight ? 1 : 0)) % r->nstrips];

    if (s->line == (long) line && s->highlight == highlight) {
        return s;
    }

    s->line = (long) line;
    s->highlight = highlight;
    l = &r->layout.lines[line];

    c.y = s->y;
    c.u = s->u;
    c.v = s->v;
    c.y_stride = r->width;
    c.c_stride = (r->width + 1) / 2;
    c.c_shift = 0;
    c.width = r->width;
    c.height = l->height;

    weaveit_fill(&c, 0, r->width, r->bg);

    if (highlight || l->background != WEAVEIT_COLOR_NONE) {
        bg = r->band;

        if (!highlight) {
            weaveit_rgb_to_yuv(l->background, &bg.y, &bg.u, &bg.v);
        }

        weaveit_fill(&c, WEAVEIT_PAD_X - WEAVEIT_BAND_MARGIN,
                     r->width - WEAVEIT_PAD_X + WEAVEIT_BAND_MARGIN, bg);
    }

    weaveit_draw_line(r, r->fonts, r->text, l, &c, WEAVEIT_PAD_X, l->baseline,
                      0);

    return s;
}


static void
weaveit_fill(const weaveit_canvas_t *c, int x0, int x1, weaveit_yuv_t color)
{
    int  y, rows;

    for (y = 0; y < c->height; y++) {
        memset(c->y + (ptrdiff_t) y * c->y_stride + x0, color.y, x1 - x0);
    }

    rows = (c->height + (1 << c->c_shift) - 1) >> c->c_shift;

    for (y = 0; y < rows; y++) {
        memset(c->u + (ptrdiff_t) y * c->c_stride + x0 / 2, color.u,
               (x1 + 1) / 2 - x0 / 2);
        memset(c->v + (ptrdiff_t) y * c->c_stride + x0 / 2, color.v,
               (x1 + 1) / 2 - x0 / 2);
    }
}


/*
 * One visual line, shaped again: runs in visual order from the left
 * margin plus the line's x, from the right margin minus it when the
 * paragraph is right-to-left, or centred (the title).
 */

static void
weaveit_draw_line(weaveit_render_t *r, weaveit_fonts_t *fs, const char *text,
    const weaveit_line_t *line, const weaveit_canvas_t *c, int left,
    int baseline, int centre)
{
    int                      rtl, pen, pen0, origin, k;
    size_t                   i, j;
    weaveit_yuv_t            color;
    weaveit_run_t           *run;
    weaveit_shaper_t        *sh;
    const weaveit_shaped_t  *g;

    sh = &r->shaper;
    rtl = line->rtl;

    if (weaveit_shape(r, fs, text, line->start, line->end, &rtl) <= 0) {
        return;
    }

    weaveit_visual_order(sh);

    /* tab stops count from the margin on a line that starts there */
    pen0 = (rtl || centre) ? 0 : line->x * 64;
    pen = pen0;

    for (i = 0; i < sh->nruns; i++) {
        run = &sh->runs[sh->order[i]];

        for (j = 0; j < run->nglyphs; j++) {
            g = &sh->glyphs[run->glyph + j];
            pen += (text[sh->offsets[g->cluster]] == '\t')
                   ? weaveit_tab_advance(run->fonts, pen) : g->x_advance;
        }
    }

    if (centre) {
        origin = (c->width * 64 - (pen - pen0)) / 2;

    } else if (rtl) {
        origin = (left + r->text_width - line->x) * 64 - (pen - pen0);

    } else {
        origin = left * 64;
    }

    pen = pen0;

    for (i = 0; i < sh->nruns; i++) {
        run = &sh->runs[sh->order[i]];
        color = r->text_color;

        if (run->foreground != WEAVEIT_COLOR_NONE) {
            weaveit_rgb_to_yuv(run->foreground, &color.y, &color.u, &color.v);
        }

        for (j = 0; j < run->nglyphs; j++) {
            g = &sh->glyphs[run->glyph + j];

            if (text[sh->offsets[g->cluster]] == '\t') {
                pen += weaveit_tab_advance(run->fonts, pen);
                continue;
            }

            k = (origin + pen + g->x_offset) >> 6;

            weaveit_draw_glyph(c, weaveit_fonts_glyph(run->fonts, run->face,
                                                      g->gid),
                               k, baseline - (g->y_offset >> 6), color);
            pen += g->x_advance;
        }
    }
}


static void
weaveit_draw_glyph(const weaveit_canvas_t *c, const weaveit_glyph_t *g,
    int gx, int gy, weaveit_yuv_t color)
{
    int             x, y, px, py;
    const uint8_t  *b;

    if (g->bitmap == NULL) {
        return;
    }

    gx += g->left;
    gy -= g->top;

    for (y = 0; y < g->rows; y++) {
        py = gy + y;

        if (py < 0 || py >= c->height) {
            continue;
        }

        for (x = 0; x < g->width; x++) {
            px = gx + x;

            if (px < 0 || px >= c->width) {
                continue;
            }

            if (g->color) {
                b = g->bitmap + ((size_t) y * g->width + x) * 4;
                weaveit_blend(c, px, py, b[0], b[1], b[2], b[3]);

            } else {
                weaveit_blend(c, px, py, g->bitmap[y * g->width + x],
                              color.y, color.u, color.v);
            }
        }
    }
}


/*
 * Coverage a of colour (y, u, v) over the pixel; its chroma sample is
 * shared by two pixels of a strip row, four of a frame, each adding its
 * share.
 */

static inline void
weaveit_blend(const weaveit_canvas_t *c, int px, int py, int a, uint8_t y,
    uint8_t u, uint8_t v)
{
    uint8_t  *d;

    if (a == 0) {
        return;
    }

    d = c->y + (ptrdiff_t) py * c->y_stride + px;
    *d = (uint8_t) ((*d * (255 - a) + y * a + 127) / 255);

    a >>= 1 + c->c_shift;

    d = c->u + (ptrdiff_t) (py >> c->c_shift) * c->c_stride + (px >> 1);
    *d = (uint8_t) ((*d * (255 - a) + u * a + 127) / 255);

    d = c->v + (ptrdiff_t) (py >> c->c_shift) * c->c_stride + (px >> 1);
    *d = (uint8_t) ((*d * (255 - a) + v * a + 127) / 255);
}


/*
 * The title card: the title centred at 1.5 times the text size, wrapped
 * like the script, its lines inside the padding.  A title of more lines
 * than that holds is cut after the last one that fits, which ends with an
 * ellipsis (a frame too low for one line still shows one).
 */

int
weaveit_render_title(weaveit_render_t *r, const char *title, uint8_t *data[3],
    const int linesize[3], char *err, size_t errlen)
{
    int                lh, top, baseline, first, fit;
    char              *cut;
    size_t             k;
    weaveit_lines_t    lines;
    weaveit_fonts_t   *fs;
    weaveit_canvas_t   c;

    first = (r->title_fonts == NULL);

    if (first) {
        r->title_fonts = weaveit_title_fonts(r, err, errlen);
        if (r->title_fonts == NULL) {
            return -1;
        }
    }

    fs = r->title_fonts;
    memset(&lines, 0, sizeof(weaveit_lines_t));

    lh = (int) lround(r->font_size * 3 / 2 * 1.4);
    fit = (r->height - WEAVEIT_PAD_TOP - WEAVEIT_PAD_BOTTOM) / lh;
    fit = (fit < 1) ? 1 : fit;
    cut = NULL;

    if (weaveit_layout(r, fs, title, strlen(title), &lines,
                       first ? &r->missing : NULL) != 0
        || (lines.n > (size_t) fit
            && (cut = weaveit_title_cut(r, title, fit, &lines)) == NULL))
    {
        free(lines.lines);
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    c.y = data[0];
    c.u = data[1];
    c.v = data[2];
    c.y_stride = linesize[0];
    c.c_stride = linesize[1];
    c.c_shift = 1;
    c.width = r->width;
    c.height = r->height;

    weaveit_fill(&c, 0, r->width, r->bg);

    top = (r->height - (int) lines.n * lh) / 2;
    baseline = (lh - (weaveit_fonts_ascender(fs)
                      - weaveit_fonts_descender(fs))) / 2
               + weaveit_fonts_ascender(fs);

    for (k = 0; k < lines.n; k++) {
        weaveit_draw_line(r, fs, cut ? cut : title, &lines.lines[k], &c, 0,
                          top + baseline, 1);
        top += lh;
    }

    free(cut);
    free(lines.lines);

    return 0;
}


/*
 * A Markdown script's title is a heading: the prose font's bold face; a
 * plain text script's is in its monospace font.
 */

static weaveit_fonts_t *
weaveit_title_fonts(weaveit_render_t *r, char *err, size_t errlen)
{
    const char  *font;

    font = r->font_path;

    if (r->sets[WEAVEIT_STYLE_PROSE] != NULL) {
        if (weaveit_style_pattern(
                weaveit_fonts_family(r->sets[WEAVEIT_STYLE_PROSE]), "bold",
                r->title_pattern, sizeof(r->title_pattern))
            != 0)
        {
            weaveit_error(err, errlen, "prose font's family is too long");
            return NULL;
        }

        font = r->title_pattern;
    }

    return weaveit_fonts_open(font, r->font_size * 3 / 2, err, errlen);
}


/*
 * The title up to the end of its line number fit and an ellipsis, laid
 * out again in lines; cut shorter, at a character found by bisection,
 * then at the end of a word when a space on that line is before it, until
 * it fits.  Returns the text, to be freed, or NULL when out of memory.
 */

static char *
weaveit_title_cut(weaveit_render_t *r, const char *title, int fit,
    weaveit_lines_t *lines)
{
    int      rc;
    char    *cut;
    size_t   from, lo, hi, mid, n;

    from = lines->lines[fit - 1].start;
    hi = lines->lines[fit - 1].end;

    cut = malloc(hi + sizeof(WEAVEIT_ELLIPSIS));
    if (cut == NULL) {
        return NULL;
    }

    rc = weaveit_title_fits(r, title, hi, fit, cut, lines);

    /* the lines before and an ellipsis fit: it ends the line above */
    for (lo = from; rc == 0; ) {
        mid = weaveit_title_middle(title, lo, hi);

        if (mid == hi) {
            n = weaveit_title_word(title, from, lo);
            rc = weaveit_title_fits(r, title, n, fit, cut, lines);

            if (rc == 0 && n != lo) {
                rc = weaveit_title_fits(r, title, lo, fit, cut, lines);
            }

            break;
        }

        rc = weaveit_title_fits(r, title, mid, fit, cut, lines);

        if (rc == 0) {
            hi = mid;

        } else if (rc == 1) {
            lo = mid;
            rc = 0;
        }
    }

    if (rc < 0) {
        free(cut);
        return NULL;
    }

    return cut;
}


/*
 * title[0, n) without its trailing spaces, and an ellipsis, laid out:
 * 1 when in fit lines, 0 when in more, -1 when out of memory.
 */

static int
weaveit_title_fits(weaveit_render_t *r, const char *title, size_t n, int fit,
    char *cut, weaveit_lines_t *lines)
{
    while (n > 0 && (title[n - 1] == ' ' || title[n - 1] == '\t')) {
        n--;
    }

    memcpy(cut, title, n);
    memcpy(cut + n, WEAVEIT_ELLIPSIS, sizeof(WEAVEIT_ELLIPSIS));
    lines->n = 0;

    if (weaveit_layout(r, r->title_fonts, cut,
                       n + sizeof(WEAVEIT_ELLIPSIS) - 1, lines, NULL)
        != 0)
    {
        return -1;
    }

    return lines->n <= (size_t) fit;
}


/* the start of a character between lo and hi, hi when there is none */

static size_t
weaveit_title_middle(const char *title, size_t lo, size_t hi)
{
    size_t  mid;

    for (mid = lo + (hi - lo) / 2;
         mid > lo && ((unsigned char) title[mid] & 0xc0) == 0x80;
         mid--)
    {
        /* void */
    }

    if (mid > lo) {
        return mid;
    }

    for (mid = lo + 1;
         mid < hi && ((unsigned char) title[mid] & 0xc0) == 0x80;
         mid++)
    {
        /* void */
    }

    return mid;
}


/* a cut at n inside a word: at the space before it, if on the line */

static size_t
weaveit_title_word(const char *title, size_t from, size_t n)
{
    size_t  k;

    if (title[n] == ' ' || title[n] == '\t' || title[n] == '\0') {
        return n;
    }

    for (k = n; k > from + 1 && title[k - 1] != ' '; k--) {
        /* void */
    }

    return (k > from + 1) ? k - 1 : n;
}


size_t
weaveit_render_missing(weaveit_render_t *r)
{
    return r->missing;
}


int
weaveit_render_set_colors(weaveit_render_t *r, const weaveit_span_t *s,
    size_t n, char *err, size_t errlen)
{
    size_t           i;
    weaveit_line_t  *l;

    free(r->spans);
    r->spans = NULL;
    r->nspans = 0;

    if (n > 0) {
        r->spans = malloc(n * sizeof(weaveit_span_t));
        if (r->spans == NULL) {
            weaveit_error(err, errlen, "out of memory");
            return -1;
        }

        memcpy(r->spans, s, n * sizeof(weaveit_span_t));
        r->nspans = n;
    }

    for (i = 0; i < r->layout.n; i++) {
        l = &r->layout.lines[i];
        l->background = weaveit_span_of(r, l->start)
                        ? weaveit_span_of(r, l->start)->background
                        : WEAVEIT_COLOR_NONE;
    }

    for (i = 0; i < r->nstrips; i++) {
        r->strips[i].line = -1;
    }

    return 0;
}


static const weaveit_span_t *
weaveit_span_of(weaveit_render_t *r, size_t offset)
{
    size_t  lo, hi, mid;

    lo = 0;
    hi = r->nspans;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (r->spans[mid].end <= offset) {
            lo = mid + 1;

        } else if (r->spans[mid].start > offset) {
            hi = mid;

        } else {
            return &r->spans[mid];
        }
    }

    return NULL;
}


static uint32_t
weaveit_span_color(weaveit_render_t *r, size_t offset)
{
    const weaveit_span_t  *s;

    s = weaveit_span_of(r, offset);

    return s ? s->foreground : WEAVEIT_COLOR_NONE;
}


void
weaveit_rgb_to_yuv(uint32_t rgb, uint8_t *y, uint8_t *u, uint8_t *v)
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
