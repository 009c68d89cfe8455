/* layout and painting: wrap, indentation, tabs, highlight, scroll sync */

#include <stdlib.h>
#include <string.h>

#include "weaveit_internal.h"
#include "tap.h"


#define W  1280
#define H  720


static uint8_t  plane_y[W * H], plane_u[W * H / 4], plane_v[W * H / 4];
static uint8_t *planes[3] = { plane_y, plane_u, plane_v };
static const int linesize[3] = { W, W / 2, W / 2 };


static weaveit_render_t *
make(const char *text, char *err, size_t errlen)
{
    weaveit_params_t  p;

    weaveit_params_init(&p);

    return weaveit_render_create(&p, text, strlen(text), err, errlen);
}


/* leftmost dark pixel in rows [y0, y1), -1 if none */
static int
leftmost(int y0, int y1)
{
    int  x, y, best;

    best = -1;

    for (y = (y0 < 0 ? 0 : y0); y < y1 && y < H; y++) {
        for (x = 0; x < W; x++) {
            if (plane_y[y * W + x] < 128) {
                if (best < 0 || x < best) {
                    best = x;
                }

                break;
            }
        }
    }

    return best;
}


/* one word per whitespace-separated token, evenly paced */
static size_t
fake_words(const char *text, weaveit_word_t *w, size_t max, double wps)
{
    size_t  i, n, len;

    len = strlen(text);
    n = 0;

    for (i = 0; i < len && n < max; i++) {
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\t'
            && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\n'
                || text[i - 1] == '\t'))
        {
            w[n].offset = i;
            w[n].length = 1;
            w[n].sample = (int64_t) (n * 22050 / wps);
            n++;
        }
    }

    return n;
}


static void
test_layout(void)
{
    int                    wrapped, fits, indent;
    char                   err[256], text[4096];
    size_t                 i, k, nl;
    weaveit_render_t      *r;
    const weaveit_line_t  *l;

    text[0] = '\0';

    for (k = 0; k < 12; k++) {
        strcat(text, "The quick brown fox jumps over the lazy dog. ");
    }

    strcat(text, "\n\n\n        indented words that go on and on and on "
           "until they no longer fit on a single line of the frame width\n"
           "Unbreakable: ");

    for (k = 0; k < 100; k++) {
        strcat(text, "x");
    }

    r = make(text, err, sizeof(err));
    ok(r != NULL, "renderer created (%s)", r ? "ok" : err);

    if (r == NULL) {
        return;
    }

    nl = weaveit_render_nlines(r);
    wrapped = 1;
    fits = 1;

    for (i = 0; i < nl; i++) {
        l = weaveit_render_line(r, i);

        /* monospace, no tabs: width is characters times the advance */
        if (l->x + (int) (l->end - l->start) * weaveit_render_advance(r)
            > W - 160)
        {
            fits = 0;
            diag("line %zu too wide: %d px + %zu chars", i, l->x,
                 l->end - l->start);
        }

        /* soft breaks fall between words (except the unbreakable run) */
        if (l->end < strlen(text) && text[l->end] != ' '
            && text[l->end] != '\n' && text[l->end] != 'x')
        {
            wrapped = 0;
            diag("line %zu breaks inside a word", i);
        }
    }

    ok(fits, "every line fits the 1120 px text width");
    ok(wrapped, "lines wrap between words");
    ok(nl >= 15, "%zu visual lines", nl);

    for (i = 0; i < nl; i++) {
        if (weaveit_render_line(r, i)->start == weaveit_render_line(r, i)->end)
        {
            break;
        }
    }

    ok(i + 1 < nl
       && weaveit_render_line(r, i + 1)->start
          == weaveit_render_line(r, i + 1)->end,
       "blank lines are kept (lines %zu and %zu empty)", i, i + 1);

    /* the wrapped continuation of an indented line hangs at its indent */
    indent = 0;

    for (i = 0; i < nl; i++) {
        l = weaveit_render_line(r, i);

        if (text[l->start] != ' ' && i > 0
            && text[weaveit_render_line(r, i - 1)->start] == ' ')
        {
            indent = (l->x == 8 * weaveit_render_advance(r));
            break;
        }
    }

    ok(indent, "wrapped indented line continues at the indentation");

    l = weaveit_render_line(r, nl - 1);
    ok(l->end == strlen(text), "a word longer than a line is broken");

    k = (size_t) (strstr(text, "indented") - text);
    ok(weaveit_render_line(r, weaveit_render_line_of(r, k))->start <= k
       && weaveit_render_line(r, weaveit_render_line_of(r, k))->end > k,
       "line_of() finds the line holding a byte offset");

    weaveit_render_destroy(r);
}


static void
test_pixels(void)
{
    int                a, top, lh, x0, x8, xt, yb, scroll;
    char               err[256];
    size_t             spoken;
    weaveit_word_t     w[8];
    weaveit_render_t  *r;

    static const char  text[] = "abc\n        abc\n\tabc\n    abc\n";

    r = make(text, err, sizeof(err));
    if (r == NULL) {
        ok(0, "renderer: %s", err);
        return;
    }

    a = weaveit_render_advance(r);
    lh = weaveit_render_line_height(r);

    ok(weaveit_render_nlines(r) == 4, "4 lines, trailing newline adds none");

    weaveit_render_set_timing(r, w, fake_words(text, w, 8, 2), 22050, 3.0,
                              err, sizeof(err));
    weaveit_render_frame(r, 0.0, planes, linesize);
    scroll = weaveit_render_scroll(r, 0.0, &spoken);

    top = weaveit_render_line_top(r, 0) - scroll;
    x0 = leftmost(top, top + lh);
    top = weaveit_render_line_top(r, 1) - scroll;
    x8 = leftmost(top, top + lh);
    top = weaveit_render_line_top(r, 2) - scroll;
    xt = leftmost(top, top + lh);

    ok(x0 >= 80 && x0 < 80 + a, "unindented text starts at the 80 px margin"
       " (%d)", x0);
    ok(x8 - x0 == 8 * a, "8 spaces draw 8 advances further right (%d px, "
       "advance %d)", x8 - x0, a);
    ok(xt - x0 == 4 * a, "a tab expands to the next 4-column stop (%d px)",
       xt - x0);

    /* the spoken line has the band, left of the text inside its margin */
    top = weaveit_render_line_top(r, 0) - scroll;
    yb = weaveit_render_line_top(r, 2) - scroll;
    ok(spoken == 0 && plane_y[(top + lh / 2) * W + 70] < 235
       && plane_y[(yb + lh / 2) * W + 70] == 235
       && plane_u[((top + lh / 2) / 2) * (W / 2) + 35] != 128
       && plane_u[((yb + lh / 2) / 2) * (W / 2) + 35] == 128,
       "the spoken line is highlighted, the others are not");

    /* fake words: one "abc" per line, every 0.5 s */
    weaveit_render_frame(r, 0.6, planes, linesize);
    scroll = weaveit_render_scroll(r, 0.6, &spoken);
    top = weaveit_render_line_top(r, spoken) - scroll;
    ok(spoken == 1 && plane_y[(top + lh / 2) * W + 70] < 235,
       "the highlight follows the words (line %zu at 0.6 s)", spoken);

    ok(weaveit_render_title(r, "A Title", planes, linesize, err,
                            sizeof(err)) == 0, "title card painted");
    {
        int  x, y, minx = W, maxx = -1, miny = H, maxy = -1;

        for (y = 0; y < H; y++) {
            for (x = 0; x < W; x++) {
                if (plane_y[y * W + x] < 128) {
                    minx = x < minx ? x : minx;
                    maxx = x > maxx ? x : maxx;
                    miny = y < miny ? y : miny;
                    maxy = y > maxy ? y : maxy;
                }
            }
        }

        ok(maxx > minx && abs((minx + maxx) / 2 - W / 2) <= a
           && abs((miny + maxy) / 2 - H / 2) <= lh,
           "title centred: x %d..%d, y %d..%d", minx, maxx, miny, maxy);
    }

    weaveit_render_destroy(r);
}


/*
 * Real speech: at every frame the line holding the word being spoken is on
 * screen, the scroll moves in small steps, and the end is visible.
 */

static void
test_sync(void)
{
    int                 scroll, prev, top, lh, maxstep, visible, match;
    int                 near, rest, max;
    char                err[256], text[8192];
    double              t, end;
    size_t              k, spoken, cur, nl;
    weaveit_speech_t    sp;
    weaveit_render_t   *r;

    text[0] = '\0';

    for (k = 0; k < 6; k++) {
        strcat(text, "Here we explain the next step of the program in plain "
               "words, slowly.\n\n"
               "    for (i = 0; i < n; i++) {\n"
               "        total += values[i];\n"
               "    }\n\n");
    }

    strcat(text, "Done.\n}\n}\n}\n");

    r = make(text, err, sizeof(err));

    if (r == NULL
        || weaveit_tts("en", 175, text, strlen(text), &sp, err, sizeof(err))
           != 0)
    {
        ok(0, "setup: %s", err);
        weaveit_render_destroy(r);
        return;
    }

    end = (double) sp.samples / sp.sample_rate;
    ok(weaveit_render_set_timing(r, sp.words, sp.nwords, sp.sample_rate, end,
                                 err, sizeof(err)) == 0, "timing set");

    lh = weaveit_render_line_height(r);
    nl = weaveit_render_nlines(r);
    max = weaveit_render_line_top(r, nl) + 60 - H;
    maxstep = 0;
    visible = 1;
    match = 1;
    near = 0;
    rest = 0;
    prev = -1;
    cur = 0;

    for (t = 0; t < end; t += 1.0 / 30) {
        while (cur + 1 < sp.nwords
               && (double) sp.words[cur + 1].sample / sp.sample_rate <= t)
        {
            cur++;
        }

        scroll = weaveit_render_scroll(r, t, &spoken);
        top = weaveit_render_line_top(r, spoken) - scroll;

        if (spoken != weaveit_render_line_of(r, sp.words[cur].offset)) {
            match = 0;
        }

        if (top < 0 || top + lh > H) {
            visible = 0;
            diag("t=%.2f line %zu at y=%d", t, spoken, top);
        }

        if (prev >= 0 && abs(scroll - prev) > maxstep) {
            maxstep = abs(scroll - prev);
        }

        if (scroll > 0 && scroll < max && scroll == prev) {
            rest++;
            near += abs(top + lh / 2 - H / 3) <= lh / 2;
        }

        prev = scroll;
    }

    ok(match, "the reported spoken line holds the current word");
    ok(visible, "the spoken line is fully on screen at every frame");
    ok(maxstep > 0 && maxstep <= lh / 2, "scroll is smooth: at most %d px "
       "per frame", maxstep);
    ok(rest > 0 && near * 10 >= rest * 9, "at rest the spoken line sits near "
       "a third of the height (%d of %d frames)", near, rest);

    scroll = weaveit_render_scroll(r, end - 1.0 / 30, &spoken);
    top = weaveit_render_line_top(r, nl - 1) - scroll;
    ok(top >= 0 && top + lh <= H, "the last line is on screen at the end "
       "(y=%d)", top);

    weaveit_speech_free(&sp);
    weaveit_render_destroy(r);
}


/*
 * The ints of the page: an indentation of 100,000 tabs at 200 px would
 * carry the pen past 2^31 in 26.6, and 6,000,000 lines of 360 px are
 * taller than an int reaches (scripts of weaveit_max_script's 16m can be).
 */
static void
test_bounds(void)
{
    int                negative;
    char               err[256], *text;
    size_t             i, n;
    weaveit_params_t   p;
    weaveit_render_t  *r;

    n = 6000000;
    text = malloc(n + 1);
    if (text == NULL) {
        ok(0, "out of memory");
        return;
    }

    weaveit_params_init(&p);
    p.font_size = 200;

    memset(text, '\t', 100000);
    text[100000] = 'x';

    r = weaveit_render_create(&p, text, 100001, err, sizeof(err));
    negative = (r == NULL);

    for (i = 0; r != NULL && i < weaveit_render_nlines(r); i++) {
        negative |= weaveit_render_line(r, i)->x < 0;
    }

    ok(!negative, "100,000 tabs of indentation: no line left of the margin");
    weaveit_render_destroy(r);

    memset(text, '\n', n);
    text[n] = 'x';

    r = weaveit_render_create(&p, text, n + 1, err, sizeof(err));
    ok(r == NULL && strstr(err, "lines is too long for 200 px text") != NULL,
       "6,000,000 lines of 200 px text: %s", r ? "accepted" : err);
    weaveit_render_destroy(r);

    free(text);
}


int
main(void)
{
    char               err[256];
    weaveit_params_t   p;
    weaveit_render_t  *r;

    tap_plan(25);

    weaveit_params_init(&p);
    p.font_path = "/nonexistent/font.ttf";
    r = weaveit_render_create(&p, "hi", 2, err, sizeof(err));
    ok(r == NULL && strstr(err, "/nonexistent/font.ttf") != NULL,
       "missing font: %s", err);

    test_layout();
    test_pixels();
    test_sync();
    test_bounds();

    return tap_done();
}
