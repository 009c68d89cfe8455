/*
 * Text: the checks every script and title passes, and Markdown-lite.
 *
 * Markdown-lite is parsed in one pass, line by line, into two texts: what
 * is shown (markers gone, list bullets drawn, code blocks kept verbatim)
 * and what is spoken (the shown prose alone).  Within a block the spoken
 * bytes are a copy of the shown ones, so one run per block maps a word's
 * offset back to the screen.  Inline delimiters pair within a line only,
 * and a search for a closer that failed is not repeated: a line of
 * unmatched stars costs linear time, and nothing recurses.
 */

#define _GNU_SOURCE                     /* memmem() */

#include <stdlib.h>
#include <string.h>

#include "weaveit_internal.h"


typedef struct {
    char              *data;
    size_t             len;
    size_t             size;
} weaveit_buf_t;


/* the state of one weaveit_markdown_parse() */

typedef struct {
    weaveit_markdown_t  *md;
    weaveit_buf_t        shown;
    weaveit_buf_t        spoken;
    size_t               marks_size;
    size_t               runs_size;
    size_t               block;         /* the open block's mark, or none */
    int                  open;          /* a block is open */
    int                  code;          /* inside a fence */
    int                  oom;
} weaveit_md_t;


#define WEAVEIT_MD_NONE     ((size_t) -1)
#define WEAVEIT_BULLET      "\xe2\x80\xa2 "      /* U+2022 and a space */


static void weaveit_buf_add(weaveit_md_t *st, weaveit_buf_t *b,
    const char *s, size_t n);
static weaveit_mark_t *weaveit_md_mark(weaveit_md_t *st, int kind);
static void weaveit_md_run(weaveit_md_t *st, size_t spoken, size_t shown,
    size_t len);
static void weaveit_md_line(weaveit_md_t *st, const char *text,
    const char *line, size_t n);
static void weaveit_md_block(weaveit_md_t *st, int kind, int level);
static void weaveit_md_close(weaveit_md_t *st);
static void weaveit_md_prose(weaveit_md_t *st, const char *s, size_t n);
static size_t weaveit_md_closer(const char *s, size_t n, size_t from,
    const char *delim, size_t dlen);
static int weaveit_md_word(const char *s, size_t n, size_t i);
static size_t weaveit_md_list(const char *s, size_t n);


int
weaveit_text_check(const char *text, size_t len, const char *what,
    char *err, size_t errlen)
{
    int                   visible;
    size_t                i, n;
    uint32_t              cp;
    const unsigned char  *p;

    p = (const unsigned char *) text;
    visible = 0;

    for (i = 0; i < len; i += n) {
        if (p[i] == '\0') {
            weaveit_error(err, errlen, "%s contains a NUL byte at offset %zu",
                          what, i);
            return -1;
        }

        n = weaveit_utf8_decode(p + i, len - i, &cp);

        if (n == 0) {
            weaveit_error(err, errlen,
                          "%s is not valid UTF-8 (at byte offset %zu)",
                          what, i);
            return -1;
        }

        if (!weaveit_is_blank(cp)) {
            visible = 1;
        }
    }

    if (!visible) {
        weaveit_error(err, errlen, "%s is empty or only whitespace", what);
        return -1;
    }

    return 0;
}


int
weaveit_format_detect(const char *text, size_t len)
{
    size_t  i;

    for (i = 0; i + 3 <= len; i++) {
        if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, "```", 3) == 0)
        {
            return WEAVEIT_FORMAT_MARKDOWN;
        }
    }

    return WEAVEIT_FORMAT_TEXT;
}


int
weaveit_markdown_parse(const char *text, size_t len, weaveit_markdown_t *md,
    char *err, size_t errlen)
{
    size_t        i, end, n;
    weaveit_md_t  st;

    memset(md, 0, sizeof(weaveit_markdown_t));
    memset(&st, 0, sizeof(weaveit_md_t));
    st.md = md;
    st.block = WEAVEIT_MD_NONE;

    for (i = 0; i < len; i = end + 1) {
        end = i;

        while (end < len && text[end] != '\n') {
            end++;
        }

        n = end - i;

        if (n > 0 && text[end - 1] == '\r') {
            n--;
        }

        weaveit_md_line(&st, text, text + i, n);
    }

    weaveit_md_close(&st);

    /* the texts are strings, for the renderer and for speech */
    weaveit_buf_add(&st, &st.shown, "", 1);
    weaveit_buf_add(&st, &st.spoken, "", 1);

    md->shown = st.shown.data;
    md->shown_len = st.shown.len - 1;
    md->spoken = st.spoken.data;
    md->spoken_len = st.spoken.len - 1;

    if (st.oom) {
        weaveit_markdown_free(md);
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    return 0;
}


void
weaveit_markdown_free(weaveit_markdown_t *md)
{
    free(md->shown);
    free(md->spoken);
    free(md->marks);
    free(md->runs);
    memset(md, 0, sizeof(weaveit_markdown_t));
}


size_t
weaveit_markdown_shown(const weaveit_markdown_t *md, size_t spoken)
{
    size_t                     lo, hi, mid;
    const weaveit_text_run_t  *run;

    if (md->nruns == 0) {
        return 0;
    }

    lo = 0;
    hi = md->nruns;

    while (hi - lo > 1) {
        mid = lo + (hi - lo) / 2;

        if (md->runs[mid].spoken <= spoken) {
            lo = mid;

        } else {
            hi = mid;
        }
    }

    run = &md->runs[lo];

    if (spoken < run->spoken) {
        return run->shown;
    }

    if (spoken - run->spoken >= run->len) {
        return run->shown + (run->len ? run->len - 1 : 0);
    }

    return run->shown + (spoken - run->spoken);
}


size_t
weaveit_markdown_holds(const weaveit_markdown_t *md, weaveit_hold_t *holds)
{
    size_t                 i, j, n;
    const weaveit_mark_t  *m;

    n = 0;

    for (i = 0; i < md->nmarks; i++) {
        m = &md->marks[i];

        if (m->kind != WEAVEIT_MARK_CODE_BLOCK) {
            continue;
        }

        holds[n].start = m->start;
        holds[n].end = m->end;
        holds[n].anchor = m->start;
        holds[n].anchor_end = m->end;

        for (j = i + 1; m->followed && j < md->nmarks; j++) {
            if (md->marks[j].kind == WEAVEIT_MARK_PARAGRAPH
                || md->marks[j].kind == WEAVEIT_MARK_LIST)
            {
                holds[n].end = md->marks[j].end;
                break;
            }
        }

        n++;
    }

    return n;
}


double
weaveit_markdown_pause(const weaveit_mark_t *block)
{
    double  s;

    s = 1.0 + 0.3 * (double) block->lines;

    return (s < 8.0) ? s : 8.0;
}


static void
weaveit_buf_add(weaveit_md_t *st, weaveit_buf_t *b, const char *s, size_t n)
{
    char    *data;
    size_t   size;

    /* nothing to add may come with no buffer yet: memcpy() wants one */
    if (st->oom || n == 0) {
        return;
    }

    if (b->len + n > b->size) {
        size = b->size ? b->size : 256;

        while (size < b->len + n) {
            size *= 2;
        }

        data = realloc(b->data, size);
        if (data == NULL) {
            st->oom = 1;
            return;
        }

        b->data = data;
        b->size = size;
    }

    memcpy(b->data + b->len, s, n);
    b->len += n;
}


/* a new mark at the end of the shown text; NULL when out of memory */

static weaveit_mark_t *
weaveit_md_mark(weaveit_md_t *st, int kind)
{
    size_t               size;
    weaveit_mark_t      *marks, *m;
    weaveit_markdown_t  *md;

    md = st->md;

    if (st->oom) {
        return NULL;
    }

    if (md->nmarks == st->marks_size) {
        size = st->marks_size ? 2 * st->marks_size : 16;
        marks = realloc(md->marks, size * sizeof(weaveit_mark_t));

        if (marks == NULL) {
            st->oom = 1;
            return NULL;
        }

        md->marks = marks;
        st->marks_size = size;
    }

    m = &md->marks[md->nmarks++];
    memset(m, 0, sizeof(weaveit_mark_t));
    m->kind = kind;
    m->start = st->shown.len;
    m->end = st->shown.len;
    m->spoken = st->spoken.len;

    return m;
}


/* adjacent runs that continue each other are merged */

static void
weaveit_md_run(weaveit_md_t *st, size_t spoken, size_t shown, size_t len)
{
    size_t               size;
    weaveit_text_run_t  *runs, *last;
    weaveit_markdown_t  *md;

    md = st->md;

    if (st->oom || len == 0) {
        return;
    }

    last = md->nruns ? &md->runs[md->nruns - 1] : NULL;

    if (last && last->spoken + last->len == spoken
        && last->shown + last->len == shown)
    {
        last->len += len;
        return;
    }

    if (md->nruns == st->runs_size) {
        size = st->runs_size ? 2 * st->runs_size : 16;
        runs = realloc(md->runs, size * sizeof(weaveit_text_run_t));

        if (runs == NULL) {
            st->oom = 1;
            return;
        }

        md->runs = runs;
        st->runs_size = size;
    }

    md->runs[md->nruns].spoken = spoken;
    md->runs[md->nruns].shown = shown;
    md->runs[md->nruns].len = len;
    md->nruns++;
}


static void
weaveit_md_line(weaveit_md_t *st, const char *text, const char *s, size_t n)
{
    size_t           i, level, marker;
    weaveit_mark_t  *m;

    if (st->code) {
        if (n >= 3 && memcmp(s, "```", 3) == 0) {
            weaveit_md_close(st);
            return;
        }

        m = &st->md->marks[st->block];

        if (m->lines++ > 0) {
            weaveit_buf_add(st, &st->shown, "\n", 1);
        }

        weaveit_buf_add(st, &st->shown, s, n);
        return;
    }

    /* quotes are shown as their content: "> # Title" is a heading */
    for ( ;; ) {
        for (i = 0; i < n && (s[i] == ' ' || s[i] == '\t'); i++) {
            /* void */
        }

        s += i;
        n -= i;

        if (n == 0 || s[0] != '>') {
            break;
        }

        s++;
        n--;
    }

    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }

    if (n == 0) {
        weaveit_md_close(st);
        return;
    }

    if (n >= 3 && memcmp(s, "```", 3) == 0) {
        weaveit_md_block(st, WEAVEIT_MARK_CODE_BLOCK, 0);

        if (st->oom) {
            return;
        }

        for (i = 3; i < n && (s[i] == ' ' || s[i] == '\t'); i++) {
            /* void */
        }

        m = &st->md->marks[st->block];
        m->lang = (size_t) (s + i - text);
        m->lang_len = n - i;
        st->code = 1;
        return;
    }

    for (level = 0; level < n && s[level] == '#'; level++) {
        /* void */
    }

    if (level > 0 && level <= 6 && level < n && s[level] == ' ') {
        weaveit_md_block(st, WEAVEIT_MARK_HEADING,
                         (level > 3) ? 3 : (int) level);
        weaveit_md_prose(st, s + level + 1, n - level - 1);
        weaveit_md_close(st);
        return;
    }

    marker = weaveit_md_list(s, n);

    if (marker > 0) {
        weaveit_md_block(st, WEAVEIT_MARK_LIST, 0);

        if (s[0] == '-' || s[0] == '*' || s[0] == '+') {
            weaveit_buf_add(st, &st->shown, WEAVEIT_BULLET,
                            sizeof(WEAVEIT_BULLET) - 1);

        } else {
            weaveit_buf_add(st, &st->shown, s, marker);
        }

        weaveit_md_prose(st, s + marker, n - marker);
        return;
    }

    if (st->open && st->md->marks[st->block].kind == WEAVEIT_MARK_PARAGRAPH)
    {
        weaveit_buf_add(st, &st->shown, " ", 1);
        weaveit_buf_add(st, &st->spoken, " ", 1);

    } else {
        weaveit_md_block(st, WEAVEIT_MARK_PARAGRAPH, 0);
    }

    weaveit_md_prose(st, s, n);
}


/*
 * Blocks are shown a blank line apart, list items one line apart, and
 * spoken a blank line apart; a code block before this one learns whether
 * prose follows it.
 */

static void
weaveit_md_block(weaveit_md_t *st, int kind, int level)
{
    int                  item;
    weaveit_mark_t      *m, *prev;
    weaveit_markdown_t  *md;

    md = st->md;
    prev = md->nmarks ? &md->marks[st->block == WEAVEIT_MD_NONE
                                   ? md->nmarks - 1 : st->block] : NULL;
    item = (prev != NULL && prev->kind == WEAVEIT_MARK_LIST
            && kind == WEAVEIT_MARK_LIST);

    weaveit_md_close(st);

    if (st->shown.len > 0) {
        weaveit_buf_add(st, &st->shown, "\n\n", item ? 1 : 2);
    }

    if (st->spoken.len > 0 && kind != WEAVEIT_MARK_CODE_BLOCK) {
        weaveit_buf_add(st, &st->spoken, "\n\n", 2);
    }

    m = weaveit_md_mark(st, kind);
    if (m == NULL) {
        return;
    }

    m->level = level;
    st->block = md->nmarks - 1;
    st->open = 1;
}


static void
weaveit_md_close(weaveit_md_t *st)
{
    size_t           i;
    weaveit_mark_t  *m;

    if (!st->open || st->oom) {
        st->open = 0;
        st->code = 0;
        return;
    }

    m = &st->md->marks[st->block];
    m->end = st->shown.len;

    /* prose after code blocks: they are held while it is spoken */
    if (m->kind == WEAVEIT_MARK_PARAGRAPH || m->kind == WEAVEIT_MARK_LIST) {
        for (i = st->block; i-- > 0; ) {
            if (st->md->marks[i].kind == WEAVEIT_MARK_CODE_BLOCK) {
                st->md->marks[i].followed = 1;
                break;
            }

            if (st->md->marks[i].kind < WEAVEIT_MARK_CODE) {
                break;
            }
        }
    }

    st->open = 0;
    st->code = 0;
}


/*
 * A line of prose: inline code shown and spoken as its text, bold and
 * emphasis without their delimiters; a delimiter without a partner on
 * the line is literal text, but for a lone backtick, which is dropped.
 */

static void
weaveit_md_prose(weaveit_md_t *st, const char *s, size_t n)
{
    int              i;
    size_t           p, q, dlen, from, shown, spoken;
    char             emphasis;
    size_t           f, failed[4], open[3];
    const char      *delim;
    weaveit_mark_t  *m;

    static const char  *delims[3] = { "`", "**", "_" };
    static const int    kinds[3] = { WEAVEIT_MARK_CODE, WEAVEIT_MARK_BOLD,
                                     WEAVEIT_MARK_EMPHASIS };

    /* a failed search for a closer fails from any later place too */
    for (i = 0; i < 4; i++) {
        failed[i] = n;
    }

    for (i = 0; i < 3; i++) {
        open[i] = WEAVEIT_MD_NONE;
    }

    shown = st->shown.len;
    spoken = st->spoken.len;
    from = 0;
    emphasis = '_';

    for (p = 0; p < n; /* void */ ) {
        i = (s[p] == '`') ? 0
            : (s[p] == '*' && p + 1 < n && s[p + 1] == '*') ? 1
            : (s[p] == '*' || s[p] == '_') ? 2 : -1;

        if (i < 0) {
            p++;
            continue;
        }

        delim = (i == 2) ? (s[p] == '*' ? "*" : "_") : delims[i];
        dlen = strlen(delim);
        f = (i == 2 && s[p] == '*') ? 3 : (size_t) i;

        if (open[i] != WEAVEIT_MD_NONE) {
            if (i == 2 && (s[p] != emphasis || s[p - 1] == ' '
                           || weaveit_md_word(s, n, p + 1)))
            {
                p++;
                continue;
            }

            q = p;

        } else if (p >= failed[f]
                   || (i == 2 && (weaveit_md_word(s, n, p - 1)
                                  || p + 1 >= n || s[p + 1] == ' ')))
        {
            q = WEAVEIT_MD_NONE;

        } else {
            q = weaveit_md_closer(s, n, p + dlen, delim, dlen);

            if (q == WEAVEIT_MD_NONE) {
                failed[f] = p;
            }
        }

        if (q == WEAVEIT_MD_NONE && i != 0) {
            p += dlen;
            continue;
        }

        /* the text before the delimiter, then the delimiter is dropped */
        weaveit_buf_add(st, &st->shown, s + from, p - from);
        weaveit_buf_add(st, &st->spoken, s + from, p - from);
        from = p + dlen;

        if (q == WEAVEIT_MD_NONE) {
            p += dlen;
            continue;
        }

        if (open[i] != WEAVEIT_MD_NONE) {
            st->md->marks[open[i]].end = st->shown.len;
            open[i] = WEAVEIT_MD_NONE;
            p += dlen;
            continue;
        }

        m = weaveit_md_mark(st, kinds[i]);
        if (m == NULL) {
            return;
        }

        if (i == 0) {
            /* code is verbatim: copied whole, up to its closer */
            weaveit_buf_add(st, &st->shown, s + from, q - from);
            weaveit_buf_add(st, &st->spoken, s + from, q - from);
            m->end = st->shown.len;
            from = q + 1;
            p = q + 1;
            continue;
        }

        open[i] = st->md->nmarks - 1;
        emphasis = s[p];
        p += dlen;
    }

    weaveit_buf_add(st, &st->shown, s + from, n - from);
    weaveit_buf_add(st, &st->spoken, s + from, n - from);

    weaveit_md_run(st, spoken, shown, st->spoken.len - spoken);
}


/* where the delimiter closing one opened before from is, or none */

static size_t
weaveit_md_closer(const char *s, size_t n, size_t from, const char *delim,
    size_t dlen)
{
    const char  *q;

    while (from + dlen <= n) {
        q = memmem(s + from, n - from, delim, dlen);

        if (q == NULL) {
            break;
        }

        from = (size_t) (q - s);

        if (dlen == 2 || delim[0] == '`'
            || (s[from - 1] != ' ' && !weaveit_md_word(s, n, from + 1)))
        {
            return from;
        }

        from++;
    }

    return WEAVEIT_MD_NONE;
}


/* an ASCII letter or digit at i: snake_case and 2*3*4 are no emphasis */

static int
weaveit_md_word(const char *s, size_t n, size_t i)
{
    unsigned char  c;

    if (i >= n) {
        return 0;
    }

    c = (unsigned char) s[i];

    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c >= 0x80;
}


/* the length of a list marker with its space ("- ", "12. "), or 0 */

static size_t
weaveit_md_list(const char *s, size_t n)
{
    size_t  i;

    if (n >= 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+')
        && s[1] == ' ')
    {
        return 2;
    }

    for (i = 0; i < n && i < 9 && s[i] >= '0' && s[i] <= '9'; i++) {
        /* void */
    }

    if (i > 0 && i + 1 < n && (s[i] == '.' || s[i] == ')') && s[i + 1] == ' ')
    {
        return i + 2;
    }

    return 0;
}
