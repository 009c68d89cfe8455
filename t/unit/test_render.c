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
 * screen, the scroll moves in small steps, and the end is visible.  The
 * same for espeak-ng and for a speech server, whose words are timed by
 * espeak-ng and scaled (t/unit/02-render.t starts one).
 */

static void
test_sync(const weaveit_params_t *p, const char *backend)
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
        || weaveit_speak(p, text, strlen(text), &sp, err, sizeof(err)) != 0)
    {
        ok(0, "%s: setup: %s", backend, err);
        weaveit_render_destroy(r);
        return;
    }

    diag("%s: %.2f s of speech, %zu words", backend,
         (double) sp.samples / sp.sample_rate, sp.nwords);

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

    ok(match, "%s: the reported spoken line holds the current word",
       backend);
    ok(visible, "%s: the spoken line is fully on screen at every frame",
       backend);
    ok(maxstep > 0 && maxstep <= lh / 2, "%s: scroll is smooth: at most %d "
       "px per frame", backend, maxstep);
    ok(rest > 0 && near * 10 >= rest * 9, "%s: at rest the spoken line sits "
       "near a third of the height (%d of %d frames)", backend, near, rest);

    scroll = weaveit_render_scroll(r, end - 1.0 / 30, &spoken);
    top = weaveit_render_line_top(r, nl - 1) - scroll;
    ok(top >= 0 && top + lh <= H, "%s: the last line is on screen at the "
       "end (y=%d)", backend, top);

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


/*
 * Title cards of w x h (the planes hold 1280x720): the box of the ink,
 * whether any is in the padding (80 px each side, 60 above and below),
 * and the rows of ink, which tell the lines apart.
 */

typedef struct {
    int     x0, x1, y0, y1;             /* x0 > x1: no ink */
    int     padding;                    /* ink in it */
    int     bands;                      /* runs of rows with ink */
    int     first_width;                /* of the first and last run */
    int     last_width;
} card_t;


static int
card(weaveit_render_t *r, const char *title, int w, int h, card_t *k)
{
    int   x, y, row, in_row, x0, x1;
    char  err[256];
    int   ls[3] = { w, w / 2, w / 2 };

    if (weaveit_render_title(r, title, planes, ls, err, sizeof(err)) != 0) {
        diag("title: %s", err);
        return -1;
    }

    memset(k, 0, sizeof(card_t));
    k->x0 = w;
    k->x1 = -1;
    k->y0 = h;
    k->y1 = -1;
    in_row = 0;

    for (y = 0; y < h; y++) {
        row = 0;
        x0 = w;
        x1 = -1;

        for (x = 0; x < w; x++) {
            if (plane_y[y * w + x] >= 128) {
                continue;
            }

            row = 1;
            x0 = (x < x0) ? x : x0;
            x1 = (x > x1) ? x : x1;
            k->padding |= (x < 80 || x >= w - 80 || y < 60 || y >= h - 60);
        }

        if (row) {
            k->x0 = (x0 < k->x0) ? x0 : k->x0;
            k->x1 = (x1 > k->x1) ? x1 : k->x1;
            k->y0 = (y < k->y0) ? y : k->y0;
            k->y1 = y;

            if (!in_row) {
                k->bands++;
                k->last_width = 0;
            }

            if (k->bands == 1 && x1 - x0 + 1 > k->first_width) {
                k->first_width = x1 - x0 + 1;
            }

            if (x1 - x0 + 1 > k->last_width) {
                k->last_width = x1 - x0 + 1;
            }
        }

        in_row = row;
    }

    return 0;
}


/* n Arabic words of five letters, a space between two */

static char *
words(char *buf, size_t n)
{
    size_t  k;

    buf[0] = '\0';

    for (k = 0; k < n; k++) {
        strcat(buf, (k == 0) ? "" : " ");
        strcat(buf, "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7");
    }

    return buf;
}


static weaveit_render_t *
make_sized(int w, int h, int font_size)
{
    char               err[256];
    weaveit_params_t   p;
    weaveit_render_t  *r;

    weaveit_params_init(&p);
    p.width = w;
    p.height = h;
    p.font_size = font_size;

    r = weaveit_render_create(&p, "x", 1, err, sizeof(err));
    if (r == NULL) {
        diag("renderer %dx%d: %s", w, h, err);
    }

    return r;
}


/*
 * The longest titles the API takes (200 characters), Latin and Arabic,
 * and the longest the generator reads (WEAVEIT_TITLE_MAX bytes) stay
 * inside the padding: wrapped, and on a small frame cut after the lines
 * the card holds.  An Arabic title wrapped over lines reads from the top:
 * its full lines above its short last one.  A plain text script's title
 * is monospace.
 */

static void
test_title(void)
{
    int                 i, cards, inside, lh, fit;
    char                latin[256], arabic[1024], *huge;
    size_t              k;
    card_t              c, ci, cm;
    const char         *titles[3];
    weaveit_render_t   *r;
    static const int    sizes[][3] = { { 1280, 720, 28 }, { 640, 360, 20 },
                                       { 320, 180, 24 } };

    /* 200 characters each: "word " and an Arabic word of five letters */
    latin[0] = '\0';

    for (k = 0; k < 40; k++) {
        strcat(latin, (k % 2) ? "text " : "word ");
    }

    words(arabic, 34);
    arabic[33 * 11 + 2 * 2] = '\0';

    huge = malloc(WEAVEIT_TITLE_MAX + 1);
    if (huge == NULL) {
        ok(0, "out of memory");
        return;
    }

    for (k = 0; k < WEAVEIT_TITLE_MAX; k++) {
        huge[k] = "word "[k % 5];
    }

    huge[WEAVEIT_TITLE_MAX] = '\0';
    titles[0] = latin;
    titles[1] = arabic;
    titles[2] = huge;
    cards = 0;
    inside = 1;

    for (i = 0; i < 3; i++) {
        r = make_sized(sizes[i][0], sizes[i][1], sizes[i][2]);

        for (k = 0; r != NULL && k < 3; k++) {
            if (card(r, titles[k], sizes[i][0], sizes[i][1], &c) != 0) {
                continue;
            }

            cards++;

            if (c.x0 > c.x1 || c.padding) {
                inside = 0;
                diag("title %zu on %dx%d: ink at x %d..%d, y %d..%d",
                     k, sizes[i][0], sizes[i][1], c.x0, c.x1, c.y0, c.y1);
            }
        }

        if (r != NULL && i == 1) {
            /* the Latin title cut: as many lines as the card holds */
            lh = (int) (20 * 3 / 2 * 1.4 + 0.5);
            fit = (360 - 120) / lh;
            card(r, latin, 640, 360, &c);
            ok(c.bands == fit, "a long title on 640x360: %d lines of ink, "
               "the %d the card holds", c.bands, fit);
        }

        weaveit_render_destroy(r);
    }

    ok(cards == 9 && inside, "200 characters of Latin, of Arabic and %d "
       "bytes of title on 3 frame sizes: %d cards, no ink in the padding",
       WEAVEIT_TITLE_MAX, cards);
    free(huge);

    r = make_sized(W, H, 28);

    if (r == NULL) {
        return;
    }

    /* one word more than a line holds, then two lines' worth and a word */
    for (k = 1, c.bands = 1; k < 40 && c.bands == 1; k++) {
        card(r, words(arabic, k), W, H, &c);
    }

    words(arabic, 2 * (k - 2) + 1);

    ok(card(r, arabic, W, H, &c) == 0 && c.bands == 3
       && c.last_width < c.first_width / 2,
       "an Arabic title wraps from the top: full lines above its short "
       "last one (%d lines, %d px then %d px wide)", c.bands, c.first_width,
       c.last_width);

    ok(card(r, "iiii", W, H, &ci) == 0 && card(r, "MMMM", W, H, &cm) == 0
       && abs((cm.x1 - cm.x0) - (ci.x1 - ci.x0))
          < weaveit_render_advance(r) * 3 / 2,
       "a plain text title is monospace: iiii %d px, MMMM %d px",
       ci.x1 - ci.x0 + 1, cm.x1 - cm.x0 + 1);

    weaveit_render_destroy(r);
}


/* the speech server of WEAVEIT_TEST_SPEECH_URL, if there is one */

static void
test_sync_server(void)
{
    int               i;
    weaveit_params_t  p;

    weaveit_params_init(&p);
    p.speech = WEAVEIT_SPEECH_OPENAI;
    p.speech_url = getenv("WEAVEIT_TEST_SPEECH_URL");
    p.speech_key = getenv("WEAVEIT_TEST_SPEECH_KEY");

    if (p.speech_url == NULL) {
        for (i = 0; i < 6; i++) {
            printf("ok %d # skip no speech server "
                   "(WEAVEIT_TEST_SPEECH_URL)\n", ++tap_count);
        }

        return;
    }

    test_sync(&p, "speech server");
}


int
main(void)
{
    char               err[256];
    weaveit_params_t   p;
    weaveit_render_t  *r;

    tap_plan(35);

    weaveit_params_init(&p);
    p.font_path = "/nonexistent/font.ttf";
    r = weaveit_render_create(&p, "hi", 2, err, sizeof(err));
    ok(r == NULL && strstr(err, "/nonexistent/font.ttf") != NULL,
       "missing font: %s", err);

    test_layout();
    test_pixels();
    test_bounds();
    test_title();

    weaveit_params_init(&p);
    test_sync(&p, "espeak-ng");
    test_sync_server();

    return tap_done();
}
