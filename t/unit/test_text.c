/*
 * Text for every language: shaping (combining marks), fallback fonts with
 * no missing glyph, colour emoji, bidirectional order, line breaking of
 * Chinese and of a URL, colour spans, the spoken line of a Chinese
 * and an Arabic script highlighted at every frame, and the voice "auto"
 * picks for a script.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "weaveit_internal.h"
#include "tap.h"


#define W  1280
#define H  720


static uint8_t  plane_y[W * H], plane_u[W * H / 4], plane_v[W * H / 4];
static uint8_t *planes[3] = { plane_y, plane_u, plane_v };
static const int linesize[3] = { W, W / 2, W / 2 };


typedef struct {
    int  x0, x1, y0, y1;        /* dark pixels, x1 and y1 exclusive */
    int  colored;               /* pixels with chroma far from grey */
} box_t;


/* a renderer for text with the default settings, frame painted at 0 s */

static weaveit_render_t *
paint(const char *font, const char *text)
{
    char               err[256];
    weaveit_params_t   p;
    weaveit_render_t  *r;

    weaveit_params_init(&p);

    if (font) {
        p.font_path = font;
    }

    r = weaveit_render_create(&p, text, strlen(text), err, sizeof(err));

    if (r == NULL) {
        diag("renderer: %s", err);
        return NULL;
    }

    weaveit_render_frame(r, 0, planes, linesize);

    return r;
}


/* what is painted on visual line k of a frame at scroll 0 */

static box_t
line_box(weaveit_render_t *r, size_t k)
{
    int    x, y, top, c;
    box_t  b;

    top = weaveit_render_line_top(r, k);
    b.x0 = W;
    b.y0 = H;
    b.x1 = -1;
    b.y1 = -1;
    b.colored = 0;

    for (y = top; y < top + weaveit_render_line_height(r) && y < H; y++) {
        for (x = 0; x < W; x++) {
            c = abs(plane_u[(y / 2) * (W / 2) + x / 2] - 128)
                + abs(plane_v[(y / 2) * (W / 2) + x / 2] - 128);

            b.colored += (c > 40);

            if (plane_y[y * W + x] > 160 && c <= 40) {
                continue;
            }

            b.x0 = x < b.x0 ? x : b.x0;
            b.x1 = x + 1 > b.x1 ? x + 1 : b.x1;
            b.y0 = y < b.y0 ? y : b.y0;
            b.y1 = y + 1 > b.y1 ? y + 1 : b.y1;
        }
    }

    return b;
}


/* line 1 is painted, line 0 ("-") takes the spoken line's band */

static void
test_combining(void)
{
    int                x, y, differ, top, lh;
    box_t              e, comb;
    uint8_t           *first;
    weaveit_render_t  *r;

    r = paint(NULL, "-\ne\n\xc3\xa9\ne\xcc\x81\n");
    if (r == NULL) {
        ok(0, "renderer");
        return;
    }

    e = line_box(r, 1);
    comb = line_box(r, 3);

    ok(comb.x1 - comb.x0 <= e.x1 - e.x0 + 2
       && comb.y0 - weaveit_render_line_top(r, 3)
          < e.y0 - weaveit_render_line_top(r, 1) - 3,
       "e + U+0301: the accent is above the letter (x %d..%d over %d..%d, "
       "top %d px above e's)", comb.x0, comb.x1, e.x0, e.x1,
       (e.y0 - weaveit_render_line_top(r, 1))
       - (comb.y0 - weaveit_render_line_top(r, 3)));

    lh = weaveit_render_line_height(r);
    top = weaveit_render_line_top(r, 2);
    first = malloc((size_t) W * lh);
    differ = 0;

    if (first != NULL) {
        memcpy(first, plane_y + top * W, (size_t) W * lh);

        for (y = 0; y < lh; y++) {
            for (x = 0; x < W; x++) {
                differ += abs(first[y * W + x]
                              - plane_y[(top + lh + y) * W + x]) > 64;
            }
        }

        free(first);
    }

    ok(first != NULL && differ <= 12, "e + U+0301 paints the pixels of the "
       "precomposed U+00E9 (%d differ)", differ);
    ok(weaveit_render_missing(r) == 0, "no missing glyph");

    weaveit_render_destroy(r);
}


static void
test_languages(void)
{
    size_t             i;
    box_t              b;
    weaveit_render_t  *r;

    static const struct {
        const char  *name;
        const char  *text;
    } lines[] = {
        { "Chinese", "-\n\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97\xe7\xac\xa6"
                     "\xe5\x92\x8c\xe6\xb1\x89\xe5\xad\x97" },
        { "Japanese", "-\n\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae"
                      "\xe3\x81\xb2\xe3\x82\x89\xe3\x81\x8c\xe3\x81\xaa"
                      "\xe3\x81\xa8\xe3\x82\xab\xe3\x82\xbf\xe3\x82\xab"
                      "\xe3\x83\x8a" },
        { "Korean", "-\n\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xed\x85\x8d"
                    "\xec\x8a\xa4\xed\x8a\xb8" },
        { "Arabic", "-\n\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd8\xa8"
                    "\xd8\xa7\xd9\x84\xd8\xb9\xd8\xa7\xd9\x84\xd9\x85" },
        { "Hebrew", "-\n\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xd7\xa2\xd7\x95"
                    "\xd7\x9c\xd7\x9d" },
        { "Hindi", "-\n\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d"
                   "\xe0\xa4\xa4\xe0\xa5\x87 \xe0\xa4\xa6\xe0\xa5\x81"
                   "\xe0\xa4\xa8\xe0\xa4\xbf\xe0\xa4\xaf\xe0\xa4\xbe" },
        { "emoji", "-\nEmoji \xf0\x9f\x8e\x89 test \xf0\x9f\x9a\x80\xf0\x9f"
                   "\x90\x8d" },
    };

    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        r = paint(NULL, lines[i].text);

        if (r == NULL) {
            ok(0, "%s: renderer", lines[i].name);
            continue;
        }

        b = line_box(r, 1);

        ok(weaveit_render_missing(r) == 0 && b.x1 - b.x0 > 60,
           "%s: no missing glyph, %d px of text", lines[i].name,
           b.x1 - b.x0);

        if (strcmp(lines[i].name, "emoji") == 0) {
            ok(b.colored > 200, "emoji in colour (%d pixels of chroma)",
               b.colored);

        } else if (strcmp(lines[i].name, "Arabic") == 0
                   || strcmp(lines[i].name, "Hebrew") == 0)
        {
            ok(b.x1 >= W - 80 - 6 && b.x1 <= W - 80 + 4 && b.x0 > W / 2,
               "%s: laid out from the right margin (%d..%d)",
               lines[i].name, b.x0, b.x1);
        }

        weaveit_render_destroy(r);
    }

    r = paint(NULL, "a \xf4\x8f\xbf\xbd b \xf4\x8f\xbf\xbc\n");
    ok(r != NULL && weaveit_render_missing(r) == 2,
       "characters no font has are counted (%zu)",
       r ? weaveit_render_missing(r) : 0);
    weaveit_render_destroy(r);

    r = paint("DejaVu Sans Mono", "fontconfig pattern");
    ok(r != NULL && weaveit_render_advance(r) == 17,
       "a fontconfig pattern as the font");
    weaveit_render_destroy(r);
}


/* the mean x of the pixels nearest each colour */

static void
color_x(weaveit_render_t *r, size_t line, const uint32_t *rgb, size_t n,
    double *mean)
{
    int      x, y, top, u, v, best;
    double   d, bd;
    size_t   i, count[8];
    uint8_t  cy, cu[8], cv[8];

    for (i = 0; i < n; i++) {
        weaveit_rgb_to_yuv(rgb[i], &cy, &cu[i], &cv[i]);
        mean[i] = 0;
        count[i] = 0;
    }

    top = weaveit_render_line_top(r, line);

    for (y = top; y < top + weaveit_render_line_height(r); y += 2) {
        for (x = 0; x < W; x += 2) {
            u = plane_u[(y / 2) * (W / 2) + x / 2];
            v = plane_v[(y / 2) * (W / 2) + x / 2];

            if (abs(u - 128) + abs(v - 128) < 24) {
                continue;
            }

            /* the hue: a thin stroke has the colour's, diluted */
            best = 0;
            bd = -2;

            for (i = 0; i < n; i++) {
                d = ((u - 128) * (cu[i] - 128) + (v - 128) * (cv[i] - 128))
                    / (hypot(u - 128, v - 128)
                       * hypot(cu[i] - 128, cv[i] - 128));

                if (d > bd) {
                    bd = d;
                    best = (int) i;
                }
            }

            mean[best] += x;
            count[best]++;
        }
    }

    for (i = 0; i < n; i++) {
        mean[i] = count[i] ? mean[i] / count[i] : -1;
    }
}


/*
 * "The function بحث returns 42": "The" green, the Arabic word's first
 * letter red and its last blue, "42" magenta.  Left to right on screen:
 * green, blue, red, magenta.
 */

static void
test_bidi(void)
{
    char               err[256];
    double             x[4];
    weaveit_span_t     spans[5];
    weaveit_render_t  *r;

    static const char      text[] = "-\nThe function \xd8\xa8\xd8\xad\xd8\xab"
                                    " returns 42\n";
    static const uint32_t  rgb[4] = { 0x00c000, 0x0000ff, 0xff0000,
                                      0xff00ff };

    r = paint(NULL, text);
    if (r == NULL) {
        ok(0, "renderer");
        return;
    }

    memset(spans, 0, sizeof(spans));
    spans[0] = (weaveit_span_t) { 2, 5, rgb[0], WEAVEIT_COLOR_NONE };
    spans[1] = (weaveit_span_t) { 15, 17, rgb[2], WEAVEIT_COLOR_NONE };
    spans[2] = (weaveit_span_t) { 19, 21, rgb[1], WEAVEIT_COLOR_NONE };
    spans[3] = (weaveit_span_t) { 30, 32, rgb[3], WEAVEIT_COLOR_NONE };

    ok(weaveit_render_set_colors(r, spans, 4, err, sizeof(err)) == 0,
       "colour spans set");
    weaveit_render_frame(r, 0, planes, linesize);
    color_x(r, 1, rgb, 4, x);

    ok(x[0] >= 0 && x[0] < x[1] && x[1] < x[2] && x[2] < x[3],
       "mixed line: English left to right, the Arabic right to left within "
       "it (x: The %.0f, last letter %.0f, first letter %.0f, 42 %.0f)",
       x[0], x[1], x[2], x[3]);

    /* a span's background colours the lines starting inside it */
    spans[4] = (weaveit_span_t) { 0, 1, WEAVEIT_COLOR_NONE, 0x2040a0 };
    weaveit_render_set_colors(r, &spans[4], 1, err, sizeof(err));
    weaveit_render_frame(r, 0, planes, linesize);
    ok(weaveit_render_line(r, 0)->background == 0x2040a0
       && weaveit_render_line(r, 1)->background == WEAVEIT_COLOR_NONE,
       "a line's background comes from the span its start is in");

    weaveit_render_destroy(r);
}


/* every dark pixel inside the margins, the lines one after the other */

static void
test_wrap(const char *name, const char *text, size_t min_lines)
{
    int                inside;
    size_t             i, n, contiguous;
    box_t              b;
    weaveit_render_t  *r;

    r = paint(NULL, text);
    if (r == NULL) {
        ok(0, "%s: renderer", name);
        return;
    }

    n = weaveit_render_nlines(r);
    inside = 1;
    contiguous = 1;

    for (i = 0; i < n; i++) {
        b = line_box(r, i);

        if (b.x1 >= 0 && (b.x0 < 80 || b.x1 > W - 80)) {
            inside = 0;
            diag("%s: line %zu painted at %d..%d", name, i, b.x0, b.x1);
        }

        if (i > 0 && weaveit_render_line(r, i)->start
                     != weaveit_render_line(r, i - 1)->end)
        {
            contiguous = 0;
        }
    }

    ok(n >= min_lines && inside && contiguous
       && weaveit_render_line(r, n - 1)->end == strlen(text),
       "%s wraps into %zu lines inside the margins, breaking between "
       "characters", name, n);

    weaveit_render_destroy(r);
}


static void
test_wraps(void)
{
    char               text[1024];
    size_t             i, len;
    weaveit_render_t  *r;

    static const char  hanzi[][4] = {
        "\xe4\xb8\xad", "\xe6\x96\x87", "\xe5\xad\x97", "\xe7\xac\xa6",
        "\xe6\x8d\xa2", "\xe8\xa1\x8c", "\xe6\xb5\x8b", "\xe8\xaf\x95"
    };

    len = 0;

    for (i = 0; i < 300; i++) {
        memcpy(text + len, hanzi[i % 8], 3);
        len += 3;
    }

    text[len] = '\0';
    test_wrap("a 300-character Chinese line", text, 9);

    /* monospace: a wide character takes two cells, 32 of them a line */
    r = paint(NULL, text);
    ok(r != NULL && weaveit_render_line(r, 0)->end == 32 * 3,
       "in a monospace font a Chinese character takes two cells (%zu "
       "characters on the first line)",
       r ? weaveit_render_line(r, 0)->end / 3 : 0);
    weaveit_render_destroy(r);

    strcpy(text, "https://example.com/");

    for (i = 0; strlen(text) < 300; i++) {
        strcat(text, (i % 3) ? "path-segment_" : "dir/");
    }

    text[300] = '\0';
    test_wrap("a 300-character URL", text, 4);
}


/*
 * Real speech in the script's language: at every frame the spoken line is
 * on screen and painted with the band.
 */

/* the voice "auto" resolves to, by the writing system of most letters */

static void
test_auto_voice(void)
{
    size_t             i;
    char               err[256];
    const char        *voice;
    weaveit_params_t   p;
    weaveit_speech_t   sp;

    static const struct {
        const char    *name;
        const char    *text;
        const char    *voice;
    } cases[] = {
        { "Chinese", "\xe4\xbb\x8a\xe5\xa4\xa9\xe6\x88\x91\xe4\xbb\xac"
                     "\xe5\xad\xa6\xe4\xb9\xa0 C \xe5\x87\xbd\xe6\x95\xb0"
                     "\xe3\x80\x82", "cmn" },
        { "Arabic", "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 "
                    "\xd8\xa8\xd8\xa7\xd9\x84\xd8\xb9\xd8\xa7\xd9\x84\xd9\x85 "
                    "2026", "ar" },
        { "Hebrew", "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d "
                    "\xd7\xa2\xd7\x95\xd7\x9c\xd7\x9d!", "he" },
        { "Russian", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
                     "\xd0\xbc\xd0\xb8\xd1\x80 (hello)", "ru" },
        { "Japanese: Han with kana", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa"
                                     "\x9e\xe3\x81\xae\xe6\x96\x87",
          "ja" },
        { "mostly English with Chinese", "Today we learn the word "
          "\xe5\x87\xbd\xe6\x95\xb0, a function.", "en" },
        { "Latin: French", "Bonjour \xc3\xa0 tous, voil\xc3\xa0.", "en" },
        { "no letters", "1 + 2 = 3; -- !?", "en" }
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        voice = weaveit_voice_auto(cases[i].text, strlen(cases[i].text));
        ok(strcmp(voice, cases[i].voice) == 0, "auto voice: %s: %s",
           cases[i].name, voice);
    }

    /* the generator's path: weaveit_speak() says which voice spoke */
    weaveit_params_init(&p);
    p.voice = WEAVEIT_VOICE_AUTO;

    if (weaveit_speak(&p, cases[2].text, strlen(cases[2].text), &sp, err,
                      sizeof(err)) != 0)
    {
        ok(0, "auto voice: speak: %s", err);
        return;
    }

    ok(sp.voice != NULL && strcmp(sp.voice, "he") == 0,
       "auto voice: weaveit_speak() says a Hebrew script was spoken by %s",
       sp.voice ? sp.voice : "(none)");
    weaveit_speech_free(&sp);
}


static void
test_spoken(const char *voice, const char *para, int copies)
{
    int                t10, top, lh, visible, banded, scroll, k;
    char               err[256], *text;
    double             t, end;
    size_t             spoken;
    weaveit_params_t   p;
    weaveit_speech_t   sp;
    weaveit_render_t  *r;

    text = malloc(strlen(para) * copies + 1);
    if (text == NULL) {
        ok(0, "%s: out of memory", voice);
        return;
    }

    text[0] = '\0';

    for (k = 0; k < copies; k++) {
        strcat(text, para);
    }

    weaveit_params_init(&p);
    r = weaveit_render_create(&p, text, strlen(text), err, sizeof(err));

    if (r == NULL
        || weaveit_tts(voice, 175, text, strlen(text), &sp, err, sizeof(err))
           != 0)
    {
        ok(0, "%s: %s", voice, err);
        weaveit_render_destroy(r);
        free(text);
        return;
    }

    end = (double) sp.samples / sp.sample_rate;
    weaveit_render_set_timing(r, sp.words, sp.nwords, sp.sample_rate, end,
                              err, sizeof(err));

    lh = weaveit_render_line_height(r);
    visible = 1;
    banded = 1;
    t10 = 0;

    for (t = 0; t < end; t += 1.0 / 10, t10++) {
        weaveit_render_frame(r, t, planes, linesize);
        scroll = weaveit_render_scroll(r, t, &spoken);
        top = weaveit_render_line_top(r, spoken) - scroll;

        if (top < 0 || top + lh > H) {
            visible = 0;
            continue;
        }

        /* the band, left of the text */
        if (plane_y[(top + lh / 2) * W + 70] >= 235
            || plane_u[((top + lh / 2) / 2) * (W / 2) + 35] == 128)
        {
            banded = 0;
        }
    }

    ok(sp.nwords > 10 && weaveit_render_missing(r) == 0 && visible && banded
       && weaveit_render_nlines(r) > 14,
       "%s: %zu words over %zu lines, the spoken line on screen and "
       "highlighted in each of %d frames", voice, sp.nwords,
       weaveit_render_nlines(r), t10);

    weaveit_speech_free(&sp);
    weaveit_render_destroy(r);
    free(text);
}


int
main(void)
{
    tap_plan(32);

    test_combining();
    test_languages();
    test_bidi();
    test_wraps();
    test_auto_voice();

    test_spoken("cmn", "\xe4\xbb\x8a\xe5\xa4\xa9\xe6\x88\x91\xe4\xbb\xac"
                "\xe5\xad\xa6\xe4\xb9\xa0\xe8\xbf\x99\xe4\xb8\xaa\xe5\x87"
                "\xbd\xe6\x95\xb0\xe3\x80\x82\n", 16);
    test_spoken("ar", "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd8\xa8"
                "\xd8\xa7\xd9\x84\xd8\xb9\xd8\xa7\xd9\x84\xd9\x85 \xd9\x87"
                "\xd8\xb0\xd9\x87 \xd8\xaf\xd8\xa7\xd9\x84\xd8\xa9.\n", 16);

    return tap_done();
}
