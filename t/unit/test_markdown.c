/*
 * Markdown-lite: what is shown, what is spoken, and the way back from a
 * spoken word to the screen, for the blocks and inline styles and for the
 * edge cases of issue 15 (unterminated fence, empty block, 500-line block,
 * a script of one code block, quotes, CRLF, tabs); and on screen, a code
 * block held whole in view while the paragraph after it is spoken, the
 * spoken line highlighted; prose in the proportional font and code in
 * the monospace one, headings larger and bold, a level-1 heading brought
 * to the top, a block taller than the frame scrolled through evenly.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "weaveit_internal.h"
#include "tap.h"


#define W     1280
#define H     720
#define RATE  10000                     /* samples a second of the timing */
#define WORD  2000                      /* samples a word */


static weaveit_markdown_t  md;
static const char         *highlighted_code;

static uint8_t  plane_y[W * H], plane_u[W * H / 4], plane_v[W * H / 4];
static uint8_t *planes[3] = { plane_y, plane_u, plane_v };
static const int linesize[3] = { W, W / 2, W / 2 };


static int
parse(const char *text)
{
    char  err[128];

    weaveit_markdown_free(&md);

    if (weaveit_markdown_parse(text, strlen(text), &md, err, sizeof(err))
        != 0)
    {
        diag("parse: %s", err);
        return -1;
    }

    return 0;
}


static int
shown_is(const char *expect)
{
    if (md.shown_len == strlen(expect) && strcmp(md.shown, expect) == 0) {
        return 1;
    }

    diag("shown: \"%s\"", md.shown);
    return 0;
}


static int
spoken_is(const char *expect)
{
    if (md.spoken_len == strlen(expect) && strcmp(md.spoken, expect) == 0) {
        return 1;
    }

    diag("spoken: \"%s\"", md.spoken);
    return 0;
}


/* the mark of this kind, the nth of them */

static const weaveit_mark_t *
mark(int kind, size_t nth)
{
    size_t  i;

    for (i = 0; i < md.nmarks; i++) {
        if (md.marks[i].kind == kind && nth-- == 0) {
            return &md.marks[i];
        }
    }

    return NULL;
}


/* every spoken word is shown at its mapped offset, byte for byte */

static int
words_map_back(void)
{
    size_t  i, at;

    for (i = 0; i < md.spoken_len; i++) {
        if (md.spoken[i] == ' ' || md.spoken[i] == '\n') {
            continue;
        }

        at = weaveit_markdown_shown(&md, i);

        if (at >= md.shown_len || md.shown[at] != md.spoken[i]) {
            diag("spoken byte %zu maps to shown %zu", i, at);
            return 0;
        }
    }

    return 1;
}


static const char  tutorial[] =
    "# Intro\n"
    "\n"
    "Call `main()` with **care** and _style_.\n"
    "\n"
    "- first\n"
    "* second\n"
    "12. third\n"
    "\n"
    "```c\n"
    "int main(void)\n"
    "{\n"
    "\treturn 0;\n"
    "}\n"
    "```\n"
    "This explains\n"
    "the code.\n";


/*
 * The word timing a speech of md.spoken would give, a word every WORD
 * samples, its offset mapped back to the shown text; returns how many.
 */

static size_t
timing(weaveit_word_t *words, size_t max)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < md.spoken_len && n < max; i++) {
        if (md.spoken[i] == ' ' || md.spoken[i] == '\n'
            || (i > 0 && md.spoken[i - 1] != ' ' && md.spoken[i - 1] != '\n'))
        {
            continue;
        }

        words[n].offset = weaveit_markdown_shown(&md, i);
        words[n].length = 1;
        words[n].sample = (int64_t) n * WORD;
        n++;
    }

    return n;
}


/* the picture's pixel at x, y is the highlight band's colour */

static int
highlighted(int x, int y)
{
    uint8_t  by, bu, bv;

    weaveit_rgb_to_yuv(0xfff3c4, &by, &bu, &bv);

    return plane_y[y * W + x] == by
           && plane_u[(y / 2) * (W / 2) + x / 2] == bu
           && plane_v[(y / 2) * (W / 2) + x / 2] == bv;
}


/*
 * Ten paragraphs of prose push a six-line block well down the page; the
 * paragraph after it wraps over several lines.  At the start of each of
 * its words, every line of the block is on screen, and the spoken line
 * is highlighted; without the hold the block's first line would be gone.
 */

static void
test_hold(void)
{
    int                 scroll, top, fits, lit, line_height;
    char                err[256], *p, script[8192];
    size_t              i, l, n, nholds, spoken, first, last, held;
    double              t;
    weaveit_hold_t      holds[64];
    weaveit_word_t      words[1024];
    weaveit_params_t    params;
    weaveit_render_t   *r;

    p = script;

    for (i = 0; i < 10; i++) {
        p += sprintf(p, "Paragraph %zu of the preface.\n\n", i);
    }

    p += sprintf(p, "```c\nint\nmain(void)\n{\n    puts(\"hi\");\n"
                 "    return 0;\n}\n```\n");

    for (i = 0; i < 30; i++) {
        p += sprintf(p, "explain%zu ", i);
    }

    sprintf(p, "\n\nThe end.\n");

    weaveit_params_init(&params);
    r = NULL;

    if (parse(script) != 0) {
        ok(0, "the held script parses");
        return;
    }

    r = weaveit_render_markdown(&params, &md, err, sizeof(err));
    n = timing(words, 1024);
    nholds = weaveit_markdown_holds(&md, holds);

    ok(r != NULL && nholds == 1
       && weaveit_render_set_holds(r, holds, nholds, err, sizeof(err)) == 0
       && weaveit_render_set_timing(r, words, n, RATE,
                                    (double) n * WORD / RATE, err,
                                    sizeof(err)) == 0,
       "a renderer with the block's hold and a word every 0.2 s");

    if (r == NULL || nholds != 1) {
        weaveit_render_destroy(r);
        return;
    }

    first = weaveit_render_line_of(r, holds[0].start);
    last = first + 5;
    line_height = weaveit_render_line_height(r);
    fits = 1;
    lit = 1;
    held = 0;

    for (i = 0; i < n; i++) {
        if (words[i].offset < md.shown_len
            && strncmp(md.shown + words[i].offset, "explain", 7) != 0)
        {
            continue;
        }

        t = (double) words[i].sample / RATE + 0.01;
        scroll = weaveit_render_scroll(r, t, &spoken);

        for (l = first; l <= last; l++) {
            top = weaveit_render_line_top(r, l) - scroll;
            fits &= (top >= 0 && top + line_height <= H);
        }

        fits &= (spoken == weaveit_render_line_of(r, words[i].offset));

        weaveit_render_frame(r, t, planes, linesize);
        top = weaveit_render_line_top(r, spoken) - scroll;
        lit &= highlighted(80 - 8, top + line_height / 2);
        lit &= !highlighted(80 - 8, weaveit_render_line_top(r, first)
                                    - scroll + line_height / 2);
        held++;
    }

    ok(held == 30 && weaveit_render_line_of(r, holds[0].end) > first + 8,
       "30 words explain the block, over several lines (%zu)", held);
    ok(fits, "every line of the block is on screen while they are spoken");
    ok(lit, "the spoken line is highlighted, the block's line is not");

    weaveit_render_set_holds(r, NULL, 0, err, sizeof(err));
    scroll = weaveit_render_scroll(r, (double) words[n - 8].sample / RATE
                                      + 0.01, &spoken);
    ok(weaveit_render_line_top(r, first) - scroll < 0,
       "without the hold, the block's first line would have scrolled away");

    weaveit_render_destroy(r);
}


/* a renderer of the script parsed into md, with its holds and a timing */

static weaveit_render_t *
render(const char *script, weaveit_word_t *words, size_t *n)
{
    char                err[256];
    size_t              nholds;
    weaveit_hold_t      holds[64];
    weaveit_params_t    params;
    weaveit_render_t   *r;

    weaveit_params_init(&params);

    if (parse(script) != 0) {
        return NULL;
    }

    r = weaveit_render_markdown(&params, &md, err, sizeof(err));
    *n = timing(words, 4096);
    nholds = weaveit_markdown_holds(&md, holds);

    if (r == NULL || nholds > 64
        || weaveit_render_set_holds(r, holds, nholds, err, sizeof(err)) != 0
        || weaveit_render_set_timing(r, words, *n, RATE,
                                     (double) *n * WORD / RATE + 1, err,
                                     sizeof(err)) != 0)
    {
        diag("render: %s", r ? err : "no renderer");
        weaveit_render_destroy(r);
        return NULL;
    }

    return r;
}


/* the box of the ink (dark pixels, on any background) of a line painted */

typedef struct {
    int     x0, x1, y0, y1;             /* inclusive; x0 > x1: none */
    long    pixels;
} ink_t;


/* the ink of rows y0 to y1 (excluded); padding: any in the frame's padding */

static ink_t
rows_ink(int y0, int y1, int *padding)
{
    int    x, y;
    ink_t  k;

    k.x0 = W;
    k.x1 = -1;
    k.y0 = H;
    k.y1 = -1;
    k.pixels = 0;
    *padding = 0;

    for (y = (y0 < 0) ? 0 : y0; y < y1 && y < H; y++) {
        for (x = 0; x < W; x++) {
            if (plane_y[y * W + x] >= 100) {
                continue;
            }

            k.x0 = (x < k.x0) ? x : k.x0;
            k.x1 = (x > k.x1) ? x : k.x1;
            k.y0 = (y < k.y0) ? y : k.y0;
            k.y1 = (y > k.y1) ? y : k.y1;
            k.pixels++;
            *padding |= (x < 80 || x >= W - 80 || y < 60 || y >= H - 60);
        }
    }

    return k;
}


static ink_t
ink(weaveit_render_t *r, size_t line, int scroll)
{
    int  top, padding;

    top = weaveit_render_line_top(r, line) - scroll;

    return rows_ink(top, top + weaveit_render_line(r, line)->height,
                    &padding);
}


/* the line the first occurrence of s in the shown text starts on */

static size_t
line_with(weaveit_render_t *r, const char *s)
{
    const char  *p;

    p = strstr(md.shown, s);

    return p ? weaveit_render_line_of(r, (size_t) (p - md.shown)) : 0;
}


static int
width_of(weaveit_render_t *r, const char *s)
{
    ink_t  k;

    k = ink(r, line_with(r, s), 0);

    return k.x1 - k.x0 + 1;
}


/*
 * The same letters in prose and in code: "iiii" and "MMMM" are far apart
 * in width in the proportional font, a cell each in the monospace one;
 * bold is wider and darker, a heading taller, bolder and on a taller
 * line.
 */

static void
test_fonts(void)
{
    int                    wi, wm, ci, cm, lh;
    size_t                 n, l, body, h1, h2, h3;
    ink_t                  plain, bold, big;
    weaveit_word_t         words[4096];
    weaveit_render_t      *r;
    const weaveit_line_t  *line;

    r = render("iiii\n\nMMMM\n\nplain\n\n**plain**\n\n"
               "```\niiiicode\nMMMMcode\n```\nafter\n", words, &n);

    ok(r != NULL, "a renderer of prose, bold and code");

    if (r == NULL) {
        return;
    }

    /* the highlight is on line 0 at time 0, ink is dark on any background */
    weaveit_render_frame(r, 0, planes, linesize);

    wi = width_of(r, "iiii\n");
    wm = width_of(r, "MMMM\n");
    ci = width_of(r, "iiiicode");
    cm = width_of(r, "MMMMcode");
    diag("prose iiii %d MMMM %d px, code iiiicode %d MMMMcode %d px",
         wi, wm, ci, cm);

    ok(wi > 0 && wm > 2 * wi, "prose is proportional: MMMM over twice iiii");
    ok(ci > 0 && cm - ci < weaveit_render_advance(r)
       && ci - cm < weaveit_render_advance(r),
       "code is monospace: iiiicode and MMMMcode as wide within a cell");

    plain = ink(r, line_with(r, "plain"), 0);
    bold = ink(r, line_with(r, "plain") + 2, 0);
    ok(bold.x1 - bold.x0 > plain.x1 - plain.x0
       && bold.pixels > plain.pixels * 5 / 4,
       "**plain** is wider and darker than plain (%ld, %ld px of ink)",
       bold.pixels, plain.pixels);

    weaveit_render_destroy(r);
    r = render("# Big\n\n## Big2\n\n### Big3\n\nBig\n", words, &n);

    ok(r != NULL, "a renderer of headings");

    if (r == NULL) {
        return;
    }

    weaveit_render_frame(r, 0, planes, linesize);

    h1 = line_with(r, "Big\n");
    h2 = line_with(r, "Big2");
    h3 = line_with(r, "Big3");
    body = weaveit_render_line_of(r, (size_t) (strstr(md.shown, "\nBig\n")
                                               - md.shown) + 1);
    lh = weaveit_render_line_height(r);

    ok(weaveit_render_line(r, h1)->height > weaveit_render_line(r, h2)->height
       && weaveit_render_line(r, h2)->height
          > weaveit_render_line(r, h3)->height
       && weaveit_render_line(r, h3)->height > lh
       && weaveit_render_line(r, body)->height == lh,
       "heading lines are taller, # over ## over ### over a body line");

    plain = ink(r, body, 0);
    big = ink(r, h1, 0);
    diag("ink of Big: %d px high in the heading, %d in the body",
         big.y1 - big.y0 + 1, plain.y1 - plain.y0 + 1);
    ok((big.y1 - big.y0 + 1) * 10 > (plain.y1 - plain.y0 + 1) * 14
       && big.pixels > plain.pixels * 3,
       "# Big is drawn over 1.4 times as high and much bolder as Big");

    for (l = 1; l < weaveit_render_nlines(r); l++) {
        line = weaveit_render_line(r, l);

        if (line->top != weaveit_render_line(r, l - 1)->top
                         + weaveit_render_line(r, l - 1)->height)
        {
            break;
        }
    }

    ok(l == weaveit_render_nlines(r), "each line starts where the one "
       "above it ends");

    weaveit_render_destroy(r);
}


/* the ink of the whole frame, and whether any is in the padding */

static ink_t
frame_ink(int *padding)
{
    return rows_ink(0, H, padding);
}


static ink_t
title_ink(weaveit_render_t *r, const char *title, int *padding)
{
    char   err[256];
    ink_t  k;

    if (weaveit_render_title(r, title, planes, linesize, err, sizeof(err))
        != 0)
    {
        diag("title: %s", err);
        memset(&k, 0, sizeof(ink_t));
        k.x0 = 1;
        *padding = 1;
        return k;
    }

    return frame_ink(padding);
}


/*
 * A Markdown script's title card is a heading's: the prose font's bold
 * face, proportional ("iiii" and "MMMM" far apart), heavier than the
 * regular face at the title's size (1.5 times the text's); 200
 * characters of it stay inside the padding.
 */

static void
test_title(void)
{
    int                padding, pad;
    char               err[256], title[256];
    size_t             k, n;
    ink_t              wi, wm, bold, plain, body;
    weaveit_word_t     words[4096];
    weaveit_params_t   params;
    weaveit_render_t  *r;

    r = render("Body text.\n", words, &n);

    ok(r != NULL, "a renderer of a Markdown script");

    if (r == NULL) {
        return;
    }

    wi = title_ink(r, "iiii", &padding);
    wm = title_ink(r, "MMMM", &pad);
    bold = title_ink(r, "plain", &pad);
    diag("title iiii %d px, MMMM %d px wide", wi.x1 - wi.x0 + 1,
         wm.x1 - wm.x0 + 1);
    ok(wi.x1 > wi.x0 && wm.x1 - wm.x0 > 2 * (wi.x1 - wi.x0),
       "the title is proportional: MMMM over twice as wide as iiii");

    title[0] = '\0';

    for (k = 0; k < 40; k++) {
        strcat(title, (k % 2) ? "text " : "Word ");
    }

    title[200] = '\0';
    body = title_ink(r, title, &padding);
    ok(body.x1 > body.x0 && !padding, "200 characters of title inside the "
       "padding: x %d..%d, y %d..%d", body.x0, body.x1, body.y0, body.y1);

    weaveit_render_destroy(r);

    /* "plain" as body text at the title's size: the regular face */
    weaveit_params_init(&params);
    params.font_size = params.font_size * 3 / 2;

    if (parse("plain\n") != 0
        || (r = weaveit_render_markdown(&params, &md, err, sizeof(err)))
           == NULL)
    {
        ok(0, "a renderer of 1.5 times the text size: %s", err);
        return;
    }

    weaveit_render_frame(r, 0, planes, linesize);
    plain = frame_ink(&pad);
    diag("plain: %ld px of ink in the title, %ld in body text as large",
         bold.pixels, plain.pixels);
    ok(plain.pixels > 0 && bold.pixels > plain.pixels * 5 / 4
       && bold.x1 - bold.x0 > plain.x1 - plain.x0,
       "the title is bold: wider and darker than the prose font's regular "
       "face at its size");

    weaveit_render_destroy(r);
}


/*
 * Each word of a heading, a paragraph and a list is on the line the
 * highlight is on; a level-1 heading far down the script comes to the
 * top of the view as it is spoken, and stays there over its first
 * paragraph.
 */

static void
test_headings(void)
{
    int                    scroll, top, follows, at_top, stays;
    char                   script[8192], *p;
    size_t                 i, n, spoken, heading, words_in;
    double                 t;
    weaveit_word_t         words[4096];
    weaveit_render_t      *r;
    const weaveit_line_t  *l;

    p = script;

    for (i = 0; i < 12; i++) {
        p += sprintf(p, "Paragraph %zu of the first part.\n\n", i);
    }

    p += sprintf(p, "# Second part\n\nIts first paragraph is short.\n\n"
                 "## A list\n\n- one item\n- another item\n\n");

    for (i = 0; i < 8; i++) {
        p += sprintf(p, "Paragraph %zu of the second part.\n\n", i);
    }

    r = render(script, words, &n);

    ok(r != NULL, "a renderer of a script of two parts");

    if (r == NULL) {
        return;
    }

    heading = line_with(r, "Second part");
    follows = 1;
    at_top = 0;
    stays = -1;
    words_in = 0;

    for (i = 0; i < n; i++) {
        t = (double) words[i].sample / RATE + 0.01;
        scroll = weaveit_render_scroll(r, t, &spoken);
        weaveit_render_frame(r, t, planes, linesize);
        l = weaveit_render_line(r, spoken);
        top = weaveit_render_line_top(r, spoken) - scroll;

        follows &= (spoken == weaveit_render_line_of(r, words[i].offset)
                    && top >= 0 && top + l->height <= H
                    && highlighted(80 - 8, top + l->height / 2)
                    && !highlighted(80 - 8, top - 2)
                    && !highlighted(80 - 8, top + l->height + 1));

        if (spoken == heading) {
            at_top |= (weaveit_render_line_top(r, heading) - scroll == 60);
        }

        /* its later words glide on towards the next line */
        if (spoken == heading + 2 && stays < 0) {
            stays = (weaveit_render_line_top(r, heading) - scroll == 60);
        }

        words_in += (spoken >= heading);
    }

    ok(follows && words_in >= 12, "the highlight follows every word, over "
       "the heading, the ## heading and the list (%zu words)", words_in);
    ok(at_top, "the # heading comes to the top of the view as it is spoken");
    ok(stays == 1, "and stays there as its first paragraph is spoken");

    weaveit_render_destroy(r);
}


/*
 * A 500-line block, then a paragraph: while the paragraph is spoken, the
 * block goes by from its first line to its last at an even pace.
 */

static void
test_tall_block(void)
{
    int                scroll, first_scroll, last_scroll, monotonic, even;
    char              *script, *p;
    size_t             i, n, spoken, block, nsamples;
    double             t, t0, t1, expect, span;
    weaveit_word_t     words[4096];
    weaveit_render_t  *r;
    struct {
        double  t;
        int     scroll;
    }                  samples[64];

    script = malloc(500 * 16 + 4096);
    if (script == NULL) {
        ok(0, "memory for the script");
        return;
    }

    p = script + sprintf(script, "Look at this long block.\n\n```\n");

    for (i = 0; i < 500; i++) {
        p += sprintf(p, "line %zu;\n", i);
    }

    p += sprintf(p, "```\n");

    for (i = 0; i < 40; i++) {
        p += sprintf(p, "word%zu ", i);
    }

    sprintf(p, "\n\nThe end.\n");

    r = render(script, words, &n);
    free(script);

    ok(r != NULL, "a renderer of a 500-line block and its paragraph");

    if (r == NULL) {
        return;
    }

    block = line_with(r, "line 0;");
    nsamples = 0;

    for (i = 0; i < n && nsamples < 64; i++) {
        if (strncmp(md.shown + words[i].offset, "word", 4) == 0) {
            samples[nsamples].t = (double) words[i].sample / RATE + 0.01;
            samples[nsamples].scroll = weaveit_render_scroll(
                                           r, samples[nsamples].t, &spoken);
            nsamples++;
        }
    }

    if (nsamples != 40) {
        ok(0, "40 words explain the block (%zu)", nsamples);
        weaveit_render_destroy(r);
        return;
    }

    first_scroll = samples[0].scroll;
    last_scroll = samples[nsamples - 1].scroll;
    t0 = samples[0].t;
    t1 = samples[nsamples - 1].t;
    span = last_scroll - first_scroll;
    monotonic = 1;
    even = 1;

    for (i = 1; i < nsamples; i++) {
        monotonic &= (samples[i].scroll > samples[i - 1].scroll);
        expect = first_scroll + span * (samples[i].t - t0) / (t1 - t0);
        even &= (fabs(samples[i].scroll - expect) < span * 0.05);
    }

    diag("scroll from %d to %d px over %.1f s", first_scroll, last_scroll,
         t1 - t0);

    ok(weaveit_render_line_top(r, block) - first_scroll >= 0
       && weaveit_render_line_top(r, block) - first_scroll < 100,
       "its first line is at the top as the paragraph starts");
    ok(weaveit_render_line_top(r, block + 499) - last_scroll < H
       && span > 400 * weaveit_render_line_height(r),
       "its last line is on screen by the paragraph's last word");
    ok(monotonic, "the block moves up at every word");
    ok(even, "at an even pace: within 5%% of a straight line in time");

    t = (t0 + t1) / 2;
    weaveit_render_frame(r, t, planes, linesize);
    scroll = weaveit_render_scroll(r, t, &spoken);

    for (i = block; i < block + 499; i++) {
        if (weaveit_render_line_top(r, i) - scroll >= H / 2) {
            break;
        }
    }

    ok(i > block + 200 && i < block + 300 && ink(r, i, scroll).pixels > 0,
       "half way through, the middle of the block is painted (line %zu)",
       i - block);

    weaveit_render_destroy(r);
}


/* the class of every byte of the code, and whether tokens came in order */

typedef struct {
    int     kind[256];
    size_t  last;
    int     ordered;
} tokens_t;


static void
token(void *data, size_t start, size_t end, int kind)
{
    size_t     i;
    tokens_t  *t;

    t = data;
    t->ordered &= (start >= t->last && end > start && end <= 256);
    t->last = end;

    for (i = start; i < end && i < 256; i++) {
        t->kind[i] = kind;
    }
}


/* every byte of the first occurrence of text is of class kind */

static int
all_of(const tokens_t *t, const char *text, int kind)
{
    size_t       i, at;
    const char  *p;

    p = strstr(highlighted_code, text);

    if (p == NULL) {
        return 0;
    }

    at = (size_t) (p - highlighted_code);

    for (i = 0; i < strlen(text); i++) {
        if (t->kind[at + i] != kind) {
            return 0;
        }
    }

    return 1;
}


/* no byte has a class */

static int
plain(const tokens_t *t)
{
    size_t  i;

    for (i = 0; i < 256; i++) {
        if (t->kind[i] != WEAVEIT_TOKEN_NONE) {
            return 0;
        }
    }

    return 1;
}


static int
highlight(const char *lang, const char *code, tokens_t *t)
{
    char    err[256];
    size_t  i;

    for (i = 0; i < 256; i++) {
        t->kind[i] = WEAVEIT_TOKEN_NONE;
    }

    t->last = 0;
    t->ordered = 1;
    highlighted_code = code;

    if (weaveit_highlight(lang, code, strlen(code), token, t, err,
                          sizeof(err)) != 0)
    {
        diag("highlight: %s", err);
        return -1;
    }

    return 0;
}


static void
test_highlight(void)
{
    tokens_t  t;

    ok(highlight("python", "def greet(name):\n    # say hi\n"
                 "    return \"Hi, \" + name * 2\n", &t) == 0
       && t.ordered, "python: tokens in order, as byte ranges");
    ok(all_of(&t, "def", WEAVEIT_TOKEN_KEYWORD)
       && all_of(&t, "return", WEAVEIT_TOKEN_KEYWORD),
       "def and return are keywords");
    ok(all_of(&t, "\"Hi, \"", WEAVEIT_TOKEN_STRING), "a string");
    ok(all_of(&t, "# say hi", WEAVEIT_TOKEN_COMMENT),
       "a comment, at the second line's offsets");
    ok(all_of(&t, "2", WEAVEIT_TOKEN_NUMBER)
       && all_of(&t, "greet", WEAVEIT_TOKEN_FUNCTION)
       && all_of(&t, " + name ", WEAVEIT_TOKEN_NONE),
       "a number, a function, and plain text between");

    ok(highlight("c", "#include <stdio.h>\n/* a\n   b */ int x;\n", &t)
       == 0 && all_of(&t, "int", WEAVEIT_TOKEN_TYPE)
       && all_of(&t, "/* a", WEAVEIT_TOKEN_COMMENT)
       && all_of(&t, "   b */", WEAVEIT_TOKEN_COMMENT),
       "c: a type, and a comment over two lines");
    ok(all_of(&t, "#include", WEAVEIT_TOKEN_PREPROCESSOR),
       "c: the preprocessor");

    ok(highlight("klingon", "def x(): pass\n", &t) == 0 && plain(&t),
       "an unknown language: no token, no error");
    ok(highlight("../../etc/passwd", "root\n", &t) == 0 && plain(&t),
       "a path is no language");
}


int
main(void)
{
    size_t                 i;
    char                  *big, *p;
    const weaveit_mark_t  *m;

    tap_plan(74);

    ok(weaveit_format_detect(tutorial, strlen(tutorial))
       == WEAVEIT_FORMAT_MARKDOWN, "a line opening a fence means markdown");
    ok(weaveit_format_detect("a ``` b\n# c", 11) == WEAVEIT_FORMAT_TEXT,
       "backticks inside a line and a # heading alone do not");
    ok(weaveit_format_parse("markdown") == WEAVEIT_FORMAT_MARKDOWN
       && weaveit_format_parse("text") == WEAVEIT_FORMAT_TEXT
       && weaveit_format_parse("Markdown") == -1, "format names");

    ok(parse(tutorial) == 0, "a tutorial parses");
    ok(shown_is("Intro\n\nCall main() with care and style.\n\n"
                "\xe2\x80\xa2 first\n\xe2\x80\xa2 second\n12. third\n\n"
                "int main(void)\n{\n\treturn 0;\n}\n\n"
                "This explains the code."),
       "shown: markers gone, bullets drawn, code verbatim with its tab");
    ok(spoken_is("Intro\n\nCall main() with care and style.\n\nfirst\n\n"
                 "second\n\nthird\n\nThis explains the code."),
       "spoken: prose alone, no list marker, no code");
    ok(words_map_back(), "every spoken byte maps back to the same shown one");

    m = mark(WEAVEIT_MARK_HEADING, 0);
    ok(m && m->level == 1 && m->start == 0 && m->end == 5, "heading mark");
    m = mark(WEAVEIT_MARK_CODE, 0);
    ok(m && md.shown + m->start == strstr(md.shown, "main()")
       && m->end - m->start == 6, "inline code mark");
    m = mark(WEAVEIT_MARK_BOLD, 0);
    ok(m && m->end - m->start == 4
       && memcmp(md.shown + m->start, "care", 4) == 0, "bold mark");
    m = mark(WEAVEIT_MARK_EMPHASIS, 0);
    ok(m && memcmp(md.shown + m->start, "style", m->end - m->start) == 0,
       "emphasis mark");
    ok(mark(WEAVEIT_MARK_LIST, 2) != NULL, "three list items");

    m = mark(WEAVEIT_MARK_CODE_BLOCK, 0);
    ok(m && m->lines == 4 && m->lang_len == 1
       && tutorial[m->lang] == 'c', "code block: four lines, language c");
    ok(m && m->followed
       && strncmp(md.spoken + m->spoken, "\n\nThis explains", 15) == 0,
       "the paragraph after it is spoken from the block's spoken offset");
    ok(m && md.shown[m->start] == 'i' && md.shown[m->end - 1] == '}',
       "the block's shown range is its code");

    ok(parse("Keep snake_case, 2 * 3 * 4 and a *lone star.") == 0
       && shown_is("Keep snake_case, 2 * 3 * 4 and a *lone star.")
       && md.nmarks == 1, "no emphasis inside words or around spaces");
    ok(parse("a `b and **c") == 0 && shown_is("a b and **c"),
       "a lone backtick is dropped, a lone ** is text");

    ok(parse("Intro.\n```python\ndef f():\n    return 1\n") == 0
       && shown_is("Intro.\n\ndef f():\n    return 1")
       && spoken_is("Intro."), "an unterminated fence: the rest is code");
    m = mark(WEAVEIT_MARK_CODE_BLOCK, 0);
    ok(m && !m->followed && m->lines == 2
       && weaveit_markdown_pause(m) > 1.59
       && weaveit_markdown_pause(m) < 1.61,
       "no prose follows: a pause of 1 s + 0.3 s a line");

    ok(parse("Before.\n```\n```\nAfter.\n") == 0
       && spoken_is("Before.\n\nAfter."), "an empty block");
    m = mark(WEAVEIT_MARK_CODE_BLOCK, 0);
    ok(m && m->lines == 0 && m->start == m->end && m->followed,
       "an empty block has no line and is followed");

    big = malloc(20 + 500 * 12);
    p = big + sprintf(big, "```js\n");

    for (i = 0; i < 500; i++) {
        p += sprintf(p, "x = %4zu;\n", i);
    }

    sprintf(p, "```\n");
    ok(parse(big) == 0 && md.spoken_len == 0, "a 500-line block, unspoken");
    m = mark(WEAVEIT_MARK_CODE_BLOCK, 0);
    ok(m && m->lines == 500 && weaveit_markdown_pause(m) == 8.0
       && !m->followed, "a script of one block: 500 lines, an 8 s pause");
    ok(md.shown_len == 500 * 10 - 1, "every line of it is shown");
    free(big);

    ok(parse("> # Quoted\n> - one\n>> 2. two\n") == 0
       && shown_is("Quoted\n\n\xe2\x80\xa2 one\n2. two")
       && spoken_is("Quoted\n\none\n\ntwo"),
       "headings and lists nested in quotes");
    ok(mark(WEAVEIT_MARK_HEADING, 0) && mark(WEAVEIT_MARK_LIST, 1),
       "they are a heading and list items");

    ok(parse("# T\r\n\r\nOne\r\ntwo\r\n```\r\nx\r\n```\r\n") == 0
       && shown_is("T\n\nOne two\n\nx") && spoken_is("T\n\nOne two"),
       "CRLF line ends");
    ok(parse("```\n\tif (a)\n\t\tb();\n```\nSee.") == 0
       && shown_is("\tif (a)\n\t\tb();\n\nSee."), "tabs inside code kept");

    ok(parse("#### Deep\n#nospace") == 0
       && mark(WEAVEIT_MARK_HEADING, 0)->level == 3
       && shown_is("Deep\n\n#nospace"), "#### is level 3; #word is text");

    ok(parse("para one\n\n```\ncode\n```\n```\nmore\n```\n# H\n") == 0
       && !mark(WEAVEIT_MARK_CODE_BLOCK, 0)->followed
       && !mark(WEAVEIT_MARK_CODE_BLOCK, 1)->followed,
       "a heading or a block after a block is no explanation of it");

    ok(parse("```\na\n```\n- item\n") == 0
       && mark(WEAVEIT_MARK_CODE_BLOCK, 0)->followed,
       "a list after a block explains it");

    /* linear time on unmatched delimiters: a long line of them */
    big = malloc(2000001);
    memset(big, '*', 2000000);
    for (i = 1; i < 2000000; i += 2) {
        big[i] = 'x';
    }
    big[2000000] = '\0';
    ok(parse(big) == 0 && md.nmarks == 1 && md.shown_len == 2000000,
       "2 MB of stars no word ends: text, in linear time");
    memset(big, '`', 2000000);
    ok(parse(big) == 0 && md.shown_len == 0 && md.spoken_len == 0,
       "2 MB of backticks: paired inline code, all empty");
    memset(big, '_', 2000000);
    ok(parse(big) == 0, "2 MB of underscores");
    free(big);

    ok(parse("") == 0 && md.shown_len == 0 && md.nmarks == 0,
       "an empty script");
    ok(weaveit_markdown_shown(&md, 5) == 0, "no run maps to 0");

    ok(parse("**a _b_ `c`**") == 0 && spoken_is("a b c")
       && words_map_back(), "styles inside bold");

    ok(parse("_a and *b* and _c") == 0 && spoken_is("_a and b and _c"),
       "a lone _ leaves * emphasis alone");

    test_hold();
    test_highlight();
    test_fonts();
    test_title();
    test_headings();
    test_tall_block();

    weaveit_markdown_free(&md);

    return tap_done();
}
