/*
 * The core's text path: the input's first bytes choose a small frame, a
 * font size, the frame rate and the pace of the speech; its first line is
 * a title and the rest a script, any bytes (the renderer draws what it
 * cannot decode), Markdown if a line opens a fence: then what it shows
 * is laid out in its styles, its code blocks held.  The script is laid
 * out, timed by words at its tokens as espeak-ng would report them, and
 * painted at a few instants, then the title card.  The layout keeps
 * every visible byte, in order, on lines of one source line each, each
 * starting where the one above ends; the spoken line is on screen (but
 * while a block taller than the frame goes by, or when the line itself
 * is taller); every pixel is painted, within the limited range.  Inputs
 * are bounded so that one run stays fast.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "weaveit_internal.h"
#include "fuzz_assert.h"


#define FUZZ_HEADER       6
#define FUZZ_TEXT_MAX     2048
#define FUZZ_TITLE_MAX    256
#define FUZZ_WIDTH_MAX    400
#define FUZZ_HEIGHT_MAX   180
#define FUZZ_WORDS_MAX    512
#define FUZZ_RATE         22050


static uint8_t  fuzz_y[FUZZ_WIDTH_MAX * FUZZ_HEIGHT_MAX];
static uint8_t  fuzz_u[FUZZ_WIDTH_MAX * FUZZ_HEIGHT_MAX / 4];
static uint8_t  fuzz_v[FUZZ_WIDTH_MAX * FUZZ_HEIGHT_MAX / 4];


static int
fuzz_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}


/*
 * Lines in order, each within one source line, and nothing between them
 * but the spaces a wrap ate and the line ends.
 */

static void
fuzz_check_layout(weaveit_render_t *r, const char *text, size_t len,
    int text_width)
{
    size_t                 i, k, n, prev;
    const weaveit_line_t  *l;

    n = weaveit_render_nlines(r);
    fuzz_assert(n >= 1);

    prev = 0;

    for (i = 0; i < n; i++) {
        l = weaveit_render_line(r, i);

        fuzz_assert(l->height > 0 && l->baseline > 0
                    && l->baseline < l->height);
        fuzz_assert(weaveit_render_line_top(r, i)
                    == weaveit_render_line_top(r, 0)
                       + (i ? l[-1].top + l[-1].height : 0));
        fuzz_assert(l->start >= prev && l->start <= l->end && l->end <= len);
        fuzz_assert(memchr(text + l->start, '\n', l->end - l->start)
                    == NULL);
        fuzz_assert(l->x >= 0 && l->x < text_width);

        for (k = prev; k < l->start; k++) {
            fuzz_assert(fuzz_is_space(text[k]));
        }

        fuzz_assert(weaveit_render_line(r, weaveit_render_line_of(r,
                                                                 l->start))
                    ->start == l->start);

        prev = l->end;
    }

    for (k = prev; k < len; k++) {
        fuzz_assert(fuzz_is_space(text[k]));
    }

    fuzz_assert(weaveit_render_line(r, n) == NULL);
}


/* one word per token, like fake_words() of t/unit/test_render.c */

static size_t
fuzz_words(const char *text, size_t len, weaveit_word_t *w, int64_t pace)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len && n < FUZZ_WORDS_MAX; i++) {
        if (!fuzz_is_space(text[i]) && (i == 0 || fuzz_is_space(text[i - 1])))
        {
            w[n].offset = i;
            w[n].length = 1;
            w[n].sample = (int64_t) n * pace;
            n++;
        }
    }

    return n;
}


/*
 * Every value of the planes within the limited range: one painted by
 * nothing is still the 0 it was cleared to.  Not a path for the fuzzer
 * to explore: no coverage instrumentation in the per-pixel loops.
 */

__attribute__((no_sanitize("coverage")))
static void
fuzz_check_frame(int width, int height)
{
    int      v;
    size_t   i, n;
    uint8_t  luma[256], chroma[256];

    memset(luma, 0, sizeof(luma));
    memset(chroma, 0, sizeof(chroma));

    n = (size_t) width * height;

    for (i = 0; i < n; i++) {
        luma[fuzz_y[i]] = 1;
    }

    for (i = 0; i < n / 4; i++) {
        chroma[fuzz_u[i]] = 1;
        chroma[fuzz_v[i]] = 1;
    }

    for (v = 0; v < 256; v++) {
        fuzz_assert(!luma[v] || (v >= 16 && v <= 235));
        fuzz_assert(!chroma[v] || (v >= 16 && v <= 240));
    }
}


/*
 * timed: the spoken line is on screen (untimed, the scroll rests at 0),
 * unless it is taller than the frame or blocks are held
 */

static void
fuzz_paint(weaveit_render_t *r, int timed, double t, int width, int height)
{
    int        scroll, top, tall;
    size_t     spoken;
    uint8_t   *data[3] = { fuzz_y, fuzz_u, fuzz_v };
    const int  linesize[3] = { width, width / 2, width / 2 };

    scroll = weaveit_render_scroll(r, t, &spoken);
    fuzz_assert(spoken < weaveit_render_nlines(r));

    top = weaveit_render_line_top(r, spoken) - scroll;
    tall = weaveit_render_line(r, spoken)->height;

    fuzz_assert(scroll >= 0);
    fuzz_assert(timed != 1 || tall > height
                || (top >= 0 && top + tall <= height));

    memset(fuzz_y, 0, sizeof(fuzz_y));
    memset(fuzz_u, 0, sizeof(fuzz_u));
    memset(fuzz_v, 0, sizeof(fuzz_v));

    weaveit_render_frame(r, t, data, linesize);
    fuzz_check_frame(width, height);
}


static void
fuzz_title(weaveit_render_t *r, const char *title, int width, int height)
{
    char       err[256];
    uint8_t   *data[3] = { fuzz_y, fuzz_u, fuzz_v };
    const int  linesize[3] = { width, width / 2, width / 2 };

    memset(fuzz_y, 0, sizeof(fuzz_y));
    memset(fuzz_u, 0, sizeof(fuzz_u));
    memset(fuzz_v, 0, sizeof(fuzz_v));

    fuzz_assert(weaveit_render_title(r, title, data, linesize, err,
                                     sizeof(err))
                == 0);
    fuzz_check_frame(width, height);
}


/*
 * The fallback fonts' answers are kept for the process on purpose
 * (weaveit_font.c), and fontconfig's own caches with them.
 */

const char *
__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n";
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                 too_small, timed;
    char                err[256], title[FUZZ_TITLE_MAX + 1], *text;
    double              end, instant;
    size_t              len, tlen, nwords, nholds, i;
    int64_t             pace;
    const char         *shown;
    const void         *nl;
    weaveit_hold_t     *holds;
    weaveit_word_t     *words;
    weaveit_params_t    p;
    weaveit_render_t   *r;
    weaveit_markdown_t  md;

    if (size < FUZZ_HEADER) {
        return 0;
    }

    weaveit_params_init(&p);
    p.width = 160 + 2 * (data[0] % ((FUZZ_WIDTH_MAX - 160) / 2 + 1));
    p.height = 90 + 2 * (data[1] % ((FUZZ_HEIGHT_MAX - 90) / 2 + 1));
    p.font_size = WEAVEIT_FONT_SIZE_MIN + data[2] % 40;
    p.fps = WEAVEIT_FPS_MIN + data[3] % WEAVEIT_FPS_MAX;
    pace = 1 + (int64_t) data[4] * 200;
    instant = data[5] / 16.0;

    data += FUZZ_HEADER;
    size -= FUZZ_HEADER;

    nl = memchr(data, '\n', size);
    tlen = nl ? (size_t) ((const uint8_t *) nl - data) : 0;
    tlen = (tlen > FUZZ_TITLE_MAX) ? FUZZ_TITLE_MAX : tlen;
    memcpy(title, data, tlen);
    title[tlen] = '\0';

    if (nl) {
        size -= (const uint8_t *) nl + 1 - data;
        data = (const uint8_t *) nl + 1;
    }

    len = (size > FUZZ_TEXT_MAX) ? FUZZ_TEXT_MAX : size;

    /* of its exact size, so that AddressSanitizer sees a byte too far */
    text = malloc(len ? len : 1);
    words = malloc(FUZZ_WORDS_MAX * sizeof(weaveit_word_t));
    fuzz_assert(text != NULL && words != NULL);
    memcpy(text, data, len);

    too_small = (p.width - 160 < p.font_size * 4
                 || lround(p.font_size * 1.8) >= p.height);

    memset(&md, 0, sizeof(weaveit_markdown_t));
    holds = NULL;
    nholds = 0;
    shown = text;
    timed = 1;

    if (weaveit_format_detect(text, len) == WEAVEIT_FORMAT_MARKDOWN) {
        fuzz_assert(weaveit_markdown_parse(text, len, &md, err, sizeof(err))
                    == 0);
        holds = malloc((md.nmarks + 1) * sizeof(weaveit_hold_t));
        fuzz_assert(holds != NULL);
        nholds = weaveit_markdown_holds(&md, holds);
        shown = md.shown;
        len = md.shown_len;
        timed = nholds ? 2 : 1;
        r = weaveit_render_markdown(&p, &md, err, sizeof(err));

    } else {
        r = weaveit_render_create(&p, text, len, err, sizeof(err));
    }

    fuzz_assert((r == NULL) == too_small);

    if (r == NULL) {
        goto done;
    }

    fuzz_check_layout(r, shown, len, p.width - 160);
    fuzz_assert(weaveit_render_set_holds(r, holds, nholds, err, sizeof(err))
                == 0);

    fuzz_paint(r, 0, instant, p.width, p.height);

    nwords = fuzz_words(shown, len, words, pace);
    end = (double) ((int64_t) nwords * pace + FUZZ_RATE) / FUZZ_RATE;

    fuzz_assert(weaveit_render_set_timing(r, words, nwords, FUZZ_RATE, end,
                                          err, sizeof(err))
                == 0);

    fuzz_paint(r, timed, -1, p.width, p.height);
    fuzz_paint(r, timed, instant, p.width, p.height);
    fuzz_paint(r, timed, end, p.width, p.height);

    /* a glide's middle, before a few words */
    for (i = 0; i < nwords; i += 1 + nwords / 4) {
        fuzz_paint(r, timed, (double) words[i].sample / FUZZ_RATE - 0.2,
                   p.width, p.height);
    }

    fuzz_title(r, title, p.width, p.height);

    weaveit_render_destroy(r);

done:

    weaveit_markdown_free(&md);
    free(holds);
    free(words);
    free(text);

    return 0;
}
