/*
 * Fonts: the configured font (a file or a fontconfig pattern), the
 * installed fonts that stand in for the characters it lacks, and their
 * glyphs painted once and kept in a fixed-size cache.
 *
 * Finding a stand-in asks fontconfig to sort every installed font, which
 * takes milliseconds: the answer is kept for the process per configured
 * font and block of WEAVEIT_FALLBACK_BLOCK characters, with the
 * characters no font has, so a script costs a lookup per block it uses.
 * fontconfig loads its configuration (some 30 XML files, several ms) on
 * the first question asked of it, a pattern to resolve or a character to
 * find, even in the sandbox, where reading files is allowed.  The
 * generator asks it before its sandbox all the same: Markdown's bold and
 * oblique faces are fontconfig patterns of the prose font's family.
 * Faces are opened per font set (FreeType faces belong to one thread).
 */

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <fontconfig/fontconfig.h>
#include <ft2build.h>
#include FT_FREETYPE_H
#include <hb.h>
#include <hb-ft.h>

#include "weaveit_internal.h"


#define WEAVEIT_FACES_MAX          16
#define WEAVEIT_GLYPH_SLOTS        2048    /* direct-mapped by glyph id */
#define WEAVEIT_FACE_MEMO          512     /* direct-mapped by character */
#define WEAVEIT_FALLBACK_BLOCK     256
#define WEAVEIT_FALLBACK_FONTS     4       /* stand-ins kept per block */


typedef struct {
    char               *file;
    int                 index;
    FcCharSet          *charset;
} weaveit_fallback_font_t;


/* the process-wide answers for one configured font and block */

typedef struct weaveit_fallback_s  weaveit_fallback_t;

struct weaveit_fallback_s {
    weaveit_fallback_t       *next;
    char                     *font;          /* as configured */
    uint32_t                  block;
    size_t                    nfonts;
    weaveit_fallback_font_t   fonts[WEAVEIT_FALLBACK_FONTS];
    uint8_t                   none[WEAVEIT_FALLBACK_BLOCK / 8];
};


typedef struct {
    char               *file;
    int                 index;
    FT_Face             face;
    hb_font_t          *hb;
    int                 scale;          /* 16.16: strike to pixel size */
    int                 color;          /* colour bitmaps (emoji) */
} weaveit_face_t;


typedef struct {
    uint32_t            gid;
    int                 face;           /* -1: empty slot */
    weaveit_glyph_t     glyph;
} weaveit_glyph_slot_t;


typedef struct {
    uint32_t            cp;             /* UINT32_MAX: empty */
    int                 face;
} weaveit_face_memo_t;


struct weaveit_fonts_s {
    const char             *font;       /* as configured */
    char                   *family;     /* of the configured font */
    int                     size;       /* px */
    int                     ascender;   /* px */
    int                     descender;  /* px, negative */
    int                     space;      /* 26.6 */
    int                     monospace;
    FT_Library              library;
    weaveit_face_t          faces[WEAVEIT_FACES_MAX];
    size_t                  nfaces;
    weaveit_face_memo_t     memo[WEAVEIT_FACE_MEMO];
    weaveit_glyph_slot_t    glyphs[WEAVEIT_GLYPH_SLOTS];
};


static int weaveit_face_open(weaveit_fonts_t *fs, const char *file,
    int index);
static void weaveit_face_close(weaveit_face_t *f);
static int weaveit_face_find(weaveit_fonts_t *fs, const char *file,
    int index);
static int weaveit_fallback_face(weaveit_fonts_t *fs, uint32_t cp);
static int weaveit_fallback_lookup(const weaveit_fonts_t *fs, uint32_t cp,
    char **file, int *index);
static weaveit_fallback_t *weaveit_fallback_entry(const char *font,
    uint32_t block);
static int weaveit_fallback_search(const weaveit_fonts_t *fs, uint32_t cp,
    weaveit_fallback_t *e);
static int weaveit_glyph_load(weaveit_fonts_t *fs, int face, uint32_t gid,
    weaveit_glyph_t *g);
static int weaveit_glyph_gray(const FT_Bitmap *bm, weaveit_glyph_t *g);
static int weaveit_glyph_color(const FT_Bitmap *bm, int scale,
    weaveit_glyph_t *g);


static uint32_t weaveit_straight(uint32_t c, uint32_t a);


static pthread_mutex_t      weaveit_fallback_lock = PTHREAD_MUTEX_INITIALIZER;
static weaveit_fallback_t  *weaveit_fallbacks;


weaveit_fonts_t *
weaveit_fonts_open(const char *font, int size, char *err, size_t errlen)
{
    int               index;
    char             *file;
    FT_Error          ft;
    weaveit_fonts_t  *fs;

    fs = calloc(1, sizeof(weaveit_fonts_t));
    if (fs == NULL) {
        weaveit_error(err, errlen, "out of memory");
        return NULL;
    }

    fs->font = font;
    fs->size = size;
    memset(fs->memo, 0xff, sizeof(fs->memo));

    for (index = 0; index < WEAVEIT_GLYPH_SLOTS; index++) {
        fs->glyphs[index].face = -1;
    }

    ft = FT_Init_FreeType(&fs->library);
    if (ft != 0) {
        weaveit_error(err, errlen, "FreeType: FT_Init_FreeType() failed: %d",
                      ft);
        free(fs);
        return NULL;
    }

    if (weaveit_fonts_resolve(font, &file, &index, err, errlen) != 0) {
        goto failed;
    }

    ft = weaveit_face_open(fs, file, index);
    free(file);

    if (ft != 0) {
        weaveit_error(err, errlen, "FreeType: cannot use font \"%s\": %s",
                      font, FT_Error_String(ft) ? FT_Error_String(ft)
                                                : "cannot open or read it");
        goto failed;
    }

    fs->ascender = (int) ((fs->faces[0].face->size->metrics.ascender + 63)
                          >> 6);
    fs->descender = (int) (fs->faces[0].face->size->metrics.descender >> 6);
    fs->monospace = FT_IS_FIXED_WIDTH(fs->faces[0].face) ? 1 : 0;
    fs->space = (FT_Load_Char(fs->faces[0].face, ' ', FT_LOAD_DEFAULT) == 0)
                ? (int) fs->faces[0].face->glyph->advance.x : 0;

    if (fs->space <= 0) {
        fs->space = size * 64 / 2;
    }

    fs->family = strdup(fs->faces[0].face->family_name
                        ? fs->faces[0].face->family_name : "");
    if (fs->family == NULL) {
        weaveit_error(err, errlen, "out of memory");
        goto failed;
    }

    return fs;

failed:

    weaveit_fonts_close(fs);
    return NULL;
}


/* a path as it is; anything else is a pattern: "DejaVu Sans Mono:bold" */

int
weaveit_fonts_resolve(const char *font, char **file, int *index, char *err,
    size_t errlen)
{
    int          rc;
    FcChar8     *path;
    FcResult     res;
    FcPattern   *pat, *match;

    *index = 0;

    if (strchr(font, '/') != NULL) {
        *file = strdup(font);
        goto done;
    }

    *file = NULL;
    pat = FcNameParse((const FcChar8 *) font);

    if (pat == NULL) {
        weaveit_error(err, errlen, "fontconfig: cannot use font \"%s\": not "
                      "a font pattern", font);
        return -1;
    }

    FcConfigSubstitute(NULL, pat, FcMatchPattern);
    FcDefaultSubstitute(pat);
    match = FcFontMatch(NULL, pat, &res);
    FcPatternDestroy(pat);

    rc = (match != NULL
          && FcPatternGetString(match, FC_FILE, 0, &path) == FcResultMatch);

    if (rc) {
        *file = strdup((const char *) path);

        if (FcPatternGetInteger(match, FC_INDEX, 0, index) != FcResultMatch) {
            *index = 0;
        }
    }

    if (match != NULL) {
        FcPatternDestroy(match);
    }

    if (!rc) {
        weaveit_error(err, errlen, "fontconfig: cannot use font \"%s\": no "
                      "installed font matches", font);
        return -1;
    }

done:

    if (*file == NULL) {
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    return 0;
}


void
weaveit_fonts_close(weaveit_fonts_t *fs)
{
    size_t  i;

    if (fs == NULL) {
        return;
    }

    for (i = 0; i < WEAVEIT_GLYPH_SLOTS; i++) {
        free(fs->glyphs[i].glyph.bitmap);
    }

    for (i = 0; i < fs->nfaces; i++) {
        weaveit_face_close(&fs->faces[i]);
    }

    if (fs->library) {
        FT_Done_FreeType(fs->library);
    }

    free(fs->family);
    free(fs);
}


/*
 * A scalable face is set to the pixel size; a bitmap-only face (Noto
 * Color Emoji: 109 px strikes) gets the strike nearest above it, and its
 * metrics and bitmaps are scaled down by the painter.
 */

static int
weaveit_face_open(weaveit_fonts_t *fs, const char *file, int index)
{
    int              i, best;
    FT_Error         ft;
    weaveit_face_t  *f;

    f = &fs->faces[fs->nfaces];
    memset(f, 0, sizeof(weaveit_face_t));
    f->scale = 1 << 16;

    ft = FT_New_Face(fs->library, file, index, &f->face);
    if (ft != 0) {
        return ft;
    }

    if (FT_IS_SCALABLE(f->face)) {
        ft = FT_Set_Pixel_Sizes(f->face, 0, (FT_UInt) fs->size);

    } else if (f->face->num_fixed_sizes > 0) {
        best = 0;

        for (i = 1; i < f->face->num_fixed_sizes; i++) {
            if (labs(f->face->available_sizes[i].y_ppem / 64 - fs->size)
                < labs(f->face->available_sizes[best].y_ppem / 64 - fs->size))
            {
                best = i;
            }
        }

        ft = FT_Select_Size(f->face, best);
        f->scale = (int) ((int64_t) fs->size * 64 * 65536
                          / f->face->available_sizes[best].y_ppem);

    } else {
        ft = FT_Err_Invalid_File_Format;
    }

    f->color = FT_HAS_COLOR(f->face) ? 1 : 0;
    f->file = strdup(file);
    f->index = index;

    if (ft == 0) {
        f->hb = hb_ft_font_create_referenced(f->face);

        /* hinted advances, as FreeType draws the glyphs */
        hb_ft_font_set_load_flags(f->hb, FT_LOAD_DEFAULT);
    }

    if (ft != 0 || f->file == NULL || f->hb == NULL) {
        weaveit_face_close(f);
        return ft ? ft : FT_Err_Out_Of_Memory;
    }

    fs->nfaces++;

    return 0;
}


static void
weaveit_face_close(weaveit_face_t *f)
{
    if (f->hb) {
        hb_font_destroy(f->hb);
    }

    if (f->face) {
        FT_Done_Face(f->face);
    }

    free(f->file);
    memset(f, 0, sizeof(weaveit_face_t));
}


int
weaveit_fonts_ascender(const weaveit_fonts_t *fs)
{
    return fs->ascender;
}


int
weaveit_fonts_descender(const weaveit_fonts_t *fs)
{
    return fs->descender;
}


int
weaveit_fonts_space(const weaveit_fonts_t *fs)
{
    return fs->space;
}


int
weaveit_fonts_monospace(const weaveit_fonts_t *fs)
{
    return fs->monospace;
}


const char *
weaveit_fonts_family(const weaveit_fonts_t *fs)
{
    return fs->family;
}


struct hb_font_t *
weaveit_fonts_hb(const weaveit_fonts_t *fs, int face)
{
    return fs->faces[face].hb;
}


/* 26.6 units of a face's shaping, in the set's pixel size */

int
weaveit_fonts_scale(const weaveit_fonts_t *fs, int face, int v)
{
    return (int) (((int64_t) v * fs->faces[face].scale) >> 16);
}


/*
 * The face to draw cp with: the configured one if it has the character,
 * else the best installed font that does; -1 if none has it.
 */

int
weaveit_fonts_face(weaveit_fonts_t *fs, uint32_t cp)
{
    int                   face;
    weaveit_face_memo_t  *m;

    if (FT_Get_Char_Index(fs->faces[0].face, cp) != 0) {
        return 0;
    }

    m = &fs->memo[cp % WEAVEIT_FACE_MEMO];

    if (m->cp == cp) {
        return m->face;
    }

    face = weaveit_fallback_face(fs, cp);
    m->cp = cp;
    m->face = face;

    return face;
}


int
weaveit_fonts_has(const weaveit_fonts_t *fs, int face, uint32_t cp)
{
    return FT_Get_Char_Index(fs->faces[face].face, cp) != 0;
}


static int
weaveit_fallback_face(weaveit_fonts_t *fs, uint32_t cp)
{
    int    index, face;
    char  *file;

    if (weaveit_fallback_lookup(fs, cp, &file, &index) != 0) {
        return -1;
    }

    face = weaveit_face_find(fs, file, index);

    /* beyond WEAVEIT_FACES_MAX faces the character counts as missing */
    if (face < 0 && fs->nfaces < WEAVEIT_FACES_MAX
        && weaveit_face_open(fs, file, index) == 0)
    {
        face = (int) fs->nfaces - 1;
    }

    free(file);

    return face;
}


static int
weaveit_face_find(weaveit_fonts_t *fs, const char *file, int index)
{
    size_t  i;

    for (i = 0; i < fs->nfaces; i++) {
        if (fs->faces[i].index == index
            && strcmp(fs->faces[i].file, file) == 0)
        {
            return (int) i;
        }
    }

    return -1;
}


/* the file comes back malloc()ed: the process cache may move on */

static int
weaveit_fallback_lookup(const weaveit_fonts_t *fs, uint32_t cp, char **file,
    int *index)
{
    int                  rc;
    size_t               i, bit;
    weaveit_fallback_t  *e;

    rc = -1;
    bit = cp % WEAVEIT_FALLBACK_BLOCK;

    pthread_mutex_lock(&weaveit_fallback_lock);

    e = weaveit_fallback_entry(fs->font, cp / WEAVEIT_FALLBACK_BLOCK);

    if (e == NULL || (e->none[bit / 8] & (1 << (bit % 8)))) {
        goto done;
    }

    for (i = 0; i < e->nfonts; i++) {
        if (FcCharSetHasChar(e->fonts[i].charset, cp)) {
            break;
        }
    }

    if (i == e->nfonts && weaveit_fallback_search(fs, cp, e) != 0) {
        e->none[bit / 8] |= (uint8_t) (1 << (bit % 8));
        goto done;
    }

    if (i == e->nfonts) {
        i = e->nfonts - 1;
    }

    *file = strdup(e->fonts[i].file);
    *index = e->fonts[i].index;
    rc = (*file == NULL) ? -1 : 0;

done:

    pthread_mutex_unlock(&weaveit_fallback_lock);

    return rc;
}


/* with the lock held */

static weaveit_fallback_t *
weaveit_fallback_entry(const char *font, uint32_t block)
{
    weaveit_fallback_t  *e;

    for (e = weaveit_fallbacks; e; e = e->next) {
        if (e->block == block && strcmp(e->font, font) == 0) {
            return e;
        }
    }

    e = calloc(1, sizeof(weaveit_fallback_t));
    if (e == NULL) {
        return NULL;
    }

    e->font = strdup(font);
    if (e->font == NULL) {
        free(e);
        return NULL;
    }

    e->block = block;
    e->next = weaveit_fallbacks;
    weaveit_fallbacks = e;

    return e;
}


/*
 * fontconfig sorts the installed fonts for the configured family and the
 * character: the first that has it joins the block's stand-ins (the last
 * one gives way when the block has WEAVEIT_FALLBACK_FONTS already).
 */

static int
weaveit_fallback_search(const weaveit_fonts_t *fs, uint32_t cp,
    weaveit_fallback_t *e)
{
    int                       i, rc, index;
    FcChar8                  *file;
    FcResult                  res;
    FcCharSet                *cs, *has;
    FcPattern                *pat;
    FcFontSet                *set;
    weaveit_fallback_font_t  *f;

    rc = -1;
    set = NULL;
    pat = FcPatternCreate();
    cs = FcCharSetCreate();

    if (pat == NULL || cs == NULL || !FcCharSetAddChar(cs, cp)
        || !FcPatternAddString(pat, FC_FAMILY, (const FcChar8 *) fs->family)
        || !FcPatternAddCharSet(pat, FC_CHARSET, cs))
    {
        goto done;
    }

    FcConfigSubstitute(NULL, pat, FcMatchPattern);
    FcDefaultSubstitute(pat);
    set = FcFontSort(NULL, pat, FcFalse, NULL, &res);

    for (i = 0; set != NULL && i < set->nfont; i++) {
        if (FcPatternGetCharSet(set->fonts[i], FC_CHARSET, 0, &has)
            != FcResultMatch
            || !FcCharSetHasChar(has, cp)
            || FcPatternGetString(set->fonts[i], FC_FILE, 0, &file)
               != FcResultMatch)
        {
            continue;
        }

        if (FcPatternGetInteger(set->fonts[i], FC_INDEX, 0, &index)
            != FcResultMatch)
        {
            index = 0;
        }

        if (e->nfonts == WEAVEIT_FALLBACK_FONTS) {
            f = &e->fonts[--e->nfonts];
            free(f->file);
            FcCharSetDestroy(f->charset);
        }

        f = &e->fonts[e->nfonts];
        f->file = strdup((const char *) file);
        f->index = index;
        f->charset = FcCharSetCopy(has);

        if (f->file == NULL) {
            FcCharSetDestroy(f->charset);
            goto done;
        }

        e->nfonts++;
        rc = 0;
        break;
    }

done:

    if (set) {
        FcFontSetDestroy(set);
    }

    if (cs) {
        FcCharSetDestroy(cs);
    }

    if (pat) {
        FcPatternDestroy(pat);
    }

    return rc;
}


/*
 * A glyph that FreeType cannot load is drawn as nothing rather than failing
 * the video.
 */

const weaveit_glyph_t *
weaveit_fonts_glyph(weaveit_fonts_t *fs, int face, uint32_t gid)
{
    weaveit_glyph_slot_t  *s;

    s = &fs->glyphs[(gid * 7 + (uint32_t) face * 4099) % WEAVEIT_GLYPH_SLOTS];

    if (s->face == face && s->gid == gid) {
        return &s->glyph;
    }

    free(s->glyph.bitmap);
    memset(&s->glyph, 0, sizeof(weaveit_glyph_t));
    s->face = face;
    s->gid = gid;

    if (weaveit_glyph_load(fs, face, gid, &s->glyph) != 0) {
        free(s->glyph.bitmap);
        memset(&s->glyph, 0, sizeof(weaveit_glyph_t));
    }

    return &s->glyph;
}


static int
weaveit_glyph_load(weaveit_fonts_t *fs, int face, uint32_t gid,
    weaveit_glyph_t *g)
{
    weaveit_face_t  *f;
    FT_GlyphSlot     slot;

    f = &fs->faces[face];

    if (FT_Load_Glyph(f->face, gid,
                      f->color ? FT_LOAD_COLOR | FT_LOAD_RENDER
                               : FT_LOAD_RENDER) != 0)
    {
        return -1;
    }

    slot = f->face->glyph;

    if (slot->bitmap.width == 0 || slot->bitmap.rows == 0) {
        return 0;
    }

    g->left = (int) (((int64_t) slot->bitmap_left * f->scale) >> 16);
    g->top = (int) (((int64_t) slot->bitmap_top * f->scale) >> 16);

    if (slot->bitmap.pixel_mode == FT_PIXEL_MODE_BGRA) {
        return weaveit_glyph_color(&slot->bitmap, f->scale, g);
    }

    if (slot->bitmap.pixel_mode == FT_PIXEL_MODE_GRAY) {
        return weaveit_glyph_gray(&slot->bitmap, g);
    }

    return -1;
}


static int
weaveit_glyph_gray(const FT_Bitmap *bm, weaveit_glyph_t *g)
{
    int  y;

    g->bitmap = malloc((size_t) bm->width * bm->rows);
    if (g->bitmap == NULL) {
        return -1;
    }

    for (y = 0; y < (int) bm->rows; y++) {
        memcpy(g->bitmap + (size_t) y * bm->width,
               bm->buffer + (ptrdiff_t) y * bm->pitch, bm->width);
    }

    g->width = (int) bm->width;
    g->rows = (int) bm->rows;

    return 0;
}


/*
 * A colour bitmap is scaled to the pixel size by averaging the source
 * pixels under each target pixel, then kept as alpha and straight (not
 * premultiplied) Y, U, V, four bytes a pixel, for the painter to blend.
 */

static int
weaveit_glyph_color(const FT_Bitmap *bm, int scale, weaveit_glyph_t *g)
{
    int             w, h, x, y, sx, sy, sx0, sx1, sy0, sy1, n;
    uint32_t        rgb;
    uint8_t        *d;
    const uint8_t  *s;
    uint32_t        sum[4];

    w = (int) (((int64_t) bm->width * scale + 65535) >> 16);
    h = (int) (((int64_t) bm->rows * scale + 65535) >> 16);

    if (w <= 0 || h <= 0) {
        return 0;
    }

    g->bitmap = malloc((size_t) w * h * 4);
    if (g->bitmap == NULL) {
        return -1;
    }

    for (y = 0; y < h; y++) {
        sy0 = (int) ((int64_t) y * bm->rows / h);
        sy1 = (int) (((int64_t) y + 1) * bm->rows / h);
        sy1 = (sy1 > sy0) ? sy1 : sy0 + 1;

        for (x = 0; x < w; x++) {
            sx0 = (int) ((int64_t) x * bm->width / w);
            sx1 = (int) (((int64_t) x + 1) * bm->width / w);
            sx1 = (sx1 > sx0) ? sx1 : sx0 + 1;
            memset(sum, 0, sizeof(sum));
            n = 0;

            for (sy = sy0; sy < sy1; sy++) {
                s = bm->buffer + (ptrdiff_t) sy * bm->pitch + sx0 * 4;

                for (sx = sx0; sx < sx1; sx++, s += 4) {
                    sum[0] += s[0];
                    sum[1] += s[1];
                    sum[2] += s[2];
                    sum[3] += s[3];
                    n++;
                }
            }

            d = g->bitmap + ((size_t) y * w + x) * 4;
            d[0] = (uint8_t) (sum[3] / n);

            /* premultiplied BGRA back to straight colour */
            rgb = 0;

            if (sum[3] > 0) {
                rgb = weaveit_straight(sum[2], sum[3]) << 16
                      | weaveit_straight(sum[1], sum[3]) << 8
                      | weaveit_straight(sum[0], sum[3]);
            }

            weaveit_rgb_to_yuv(rgb, &d[1], &d[2], &d[3]);
        }
    }

    g->width = w;
    g->rows = h;
    g->color = 1;

    return 0;
}


static uint32_t
weaveit_straight(uint32_t c, uint32_t a)
{
    c = (c * 255 + a / 2) / a;

    return (c > 255) ? 255 : c;
}
