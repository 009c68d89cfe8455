/*
 * The top-level call: speech, layout, then frames and audio interleaved in
 * time order into the encoder.
 *
 * A Markdown script is shown and spoken as two texts (weaveit_text.c): the
 * speech's word offsets are mapped back to the shown text, and a code
 * block no prose explains gets a silent pause of its own, with a word of
 * no length at its first line so that the scroll brings it into view.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weaveit_internal.h"


/* espeak-ng's rate: the audio of a script that is all code blocks */
#define WEAVEIT_SILENCE_RATE    22050

/* a code block's language name, as long as any Source-highlight knows */
#define WEAVEIT_LANG_MAX        32


typedef struct {
    weaveit_span_t          *spans;
    size_t                   n;
    size_t                   size;
    int                      oom;
} weaveit_spans_t;


/* a code block being highlighted: its offset, and where colour is up to */

typedef struct {
    weaveit_spans_t         *spans;
    const weaveit_theme_t   *theme;
    size_t                   base;
    size_t                   at;
} weaveit_code_t;


/* the state of one weaveit_generate() call, start to finish */

typedef struct {
    const weaveit_params_t  *params;
    const char              *script;
    const char              *text;          /* as shown */
    size_t                   text_len;
    int                      markdown;
    weaveit_markdown_t       md;
    weaveit_speech_t         speech;
    weaveit_render_t        *render;
    weaveit_encoder_t       *encoder;
    size_t                   lead;          /* title card samples */
    size_t                   total;         /* lead + speech samples */
    size_t                   audio_done;
    unsigned                 frames;
    unsigned                 title_frames;
} weaveit_run_t;


static int weaveit_has_title(const weaveit_params_t *p);
static int weaveit_input_check(const weaveit_params_t *p, const char *script,
    size_t len, char *err, size_t errlen);
static int weaveit_run_format(weaveit_run_t *run, const char *script,
    size_t len, char *err, size_t errlen);
static int weaveit_run_decorate(weaveit_run_t *run, char *err,
    size_t errlen);
static void weaveit_run_code(weaveit_run_t *run, weaveit_spans_t *spans,
    const weaveit_mark_t *m);
static void weaveit_run_token(void *data, size_t start, size_t end,
    int token);
static void weaveit_spans_add(weaveit_spans_t *spans, size_t start,
    size_t end, uint32_t foreground, uint32_t background);
static int weaveit_run_holds(weaveit_run_t *run, char *err, size_t errlen);
static int weaveit_run_speak(weaveit_run_t *run, char *err, size_t errlen);
static int weaveit_run_pauses(weaveit_run_t *run, char *err, size_t errlen);
static size_t weaveit_run_pause(weaveit_run_t *run, const weaveit_mark_t *m);
static void weaveit_run_timeline(weaveit_run_t *run);
static int weaveit_generate_frames(weaveit_run_t *run, atomic_int *progress,
    char *err, size_t errlen);
static int weaveit_generate_picture(weaveit_run_t *run, unsigned i,
    int title, int changed, double t, char *err, size_t errlen);
static int weaveit_generate_audio(weaveit_run_t *run, size_t until,
    char *err, size_t errlen);


/* a blank title (as a form may send) means no title card */

static int
weaveit_has_title(const weaveit_params_t *p)
{
    return p->title != NULL && !weaveit_text_blank(p->title, strlen(p->title));
}


/* the title is checked here: it comes with the script, not the settings */

static int
weaveit_input_check(const weaveit_params_t *p, const char *script,
    size_t len, char *err, size_t errlen)
{
    if (script == NULL) {
        weaveit_error(err, errlen, "script is missing");
        return -1;
    }

    if (weaveit_params_check(p, err, errlen) != 0
        || weaveit_text_check(script, len, "script", err, errlen) != 0)
    {
        return -1;
    }

    if (!weaveit_has_title(p)) {
        return 0;
    }

    return weaveit_text_check(p->title, strlen(p->title), "title", err,
                              errlen);
}


int
weaveit_generate(const weaveit_params_t *p, const char *script, size_t len,
    weaveit_video_t *out, atomic_int *progress, char *err, size_t errlen)
{
    int             rc;
    weaveit_run_t   run;

    memset(out, 0, sizeof(weaveit_video_t));
    memset(&run, 0, sizeof(weaveit_run_t));
    run.params = p;
    rc = -1;

    if (progress) {
        atomic_store(progress, 0);
    }

    if (weaveit_input_check(p, script, len, err, errlen) != 0) {
        return -1;
    }

    if (weaveit_run_format(&run, script, len, err, errlen) != 0) {
        goto done;
    }

    /* the font before the speech: it fails fast, speech takes a while */
    run.render = run.markdown
                 ? weaveit_render_markdown(p, &run.md, err, errlen)
                 : weaveit_render_create(p, run.text, run.text_len, err,
                                         errlen);

    if (run.render == NULL
        || weaveit_run_decorate(&run, err, errlen) != 0
        || weaveit_run_speak(&run, err, errlen) != 0)
    {
        goto done;
    }

    weaveit_run_timeline(&run);

    run.encoder = weaveit_encoder_open(p, run.speech.sample_rate, err,
                                       errlen);
    if (run.encoder == NULL) {
        goto done;
    }

    if (weaveit_generate_frames(&run, progress, err, errlen) != 0
        || weaveit_generate_audio(&run, run.total, err, errlen) != 0
        || weaveit_encoder_finish(run.encoder, run.frames, &out->data,
                                  &out->size, err, errlen) != 0)
    {
        goto done;
    }

    out->frames = run.frames;
    out->missing_glyphs = weaveit_render_missing(run.render);
    out->voice = run.speech.voice;
    out->duration = (double) run.total / run.speech.sample_rate;

    if (progress) {
        atomic_store(progress, 100);
    }

    rc = 0;

done:

    weaveit_encoder_close(run.encoder);
    weaveit_render_destroy(run.render);
    weaveit_speech_free(&run.speech);
    weaveit_markdown_free(&run.md);

    return rc;
}


/*
 * A renderer of a letter in every Markdown style opens the fonts as a
 * video's would: the monospace, the prose font and its bold and oblique.
 */

int
weaveit_generate_preload(const weaveit_params_t *p, char *err,
    size_t errlen)
{
    static const char    styles[] = "# W\n\n## W\n\n### W\n\n"
                                    "W **W** _W_ `W`\n";
    int                  rc;
    weaveit_render_t    *r;
    weaveit_markdown_t   md;

    if (weaveit_params_check(p, err, errlen) != 0
        || (p->speech == WEAVEIT_SPEECH_OPENAI
            ? weaveit_tts_openai_preload(p, err, errlen)
            : weaveit_tts_preload(weaveit_params_voice(p),
                                  p->speech_rate, err, errlen)) != 0
        || weaveit_encoder_preload(err, errlen) != 0
        || weaveit_markdown_parse(styles, sizeof(styles) - 1, &md, err,
                                  errlen) != 0)
    {
        return -1;
    }

    r = weaveit_render_markdown(p, &md, err, errlen);
    rc = (r == NULL) ? -1 : 0;

    weaveit_render_destroy(r);
    weaveit_markdown_free(&md);

    return rc;
}


/* the text shown: the script, or what its Markdown shows */

static int
weaveit_run_format(weaveit_run_t *run, const char *script, size_t len,
    char *err, size_t errlen)
{
    int  format;

    run->script = script;
    run->text = script;
    run->text_len = len;
    format = run->params->format;

    if (format == WEAVEIT_FORMAT_AUTO) {
        format = weaveit_format_detect(script, len);
    }

    if (format != WEAVEIT_FORMAT_MARKDOWN) {
        return 0;
    }

    if (weaveit_markdown_parse(script, len, &run->md, err, errlen) != 0) {
        return -1;
    }

    if (weaveit_text_blank(run->md.shown, run->md.shown_len)) {
        weaveit_error(err, errlen, "script shows nothing once its Markdown "
                      "markup is gone");
        return -1;
    }

    run->markdown = 1;
    run->text = run->md.shown;
    run->text_len = run->md.shown_len;

    return 0;
}


/* Markdown: code on its panel, highlighted, inline code in its colour */

static int
weaveit_run_decorate(weaveit_run_t *run, char *err, size_t errlen)
{
    int                        rc;
    size_t                     i;
    weaveit_spans_t            spans;
    const weaveit_mark_t      *m;
    const weaveit_markdown_t  *md;

    md = &run->md;

    if (!run->markdown) {
        return 0;
    }

    memset(&spans, 0, sizeof(weaveit_spans_t));

    for (i = 0; i < md->nmarks; i++) {
        m = &md->marks[i];

        if (m->kind == WEAVEIT_MARK_CODE_BLOCK) {
            weaveit_run_code(run, &spans, m);

        } else if (m->kind == WEAVEIT_MARK_CODE) {
            weaveit_spans_add(&spans, m->start, m->end,
                              weaveit_theme(run->params->theme)->code,
                              WEAVEIT_COLOR_NONE);
        }
    }

    if (spans.oom) {
        free(spans.spans);
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    rc = weaveit_render_set_colors(run->render, spans.spans, spans.n, err,
                                   errlen);
    free(spans.spans);

    if (rc != 0) {
        return -1;
    }

    return weaveit_run_holds(run, err, errlen);
}


/*
 * A code block: its tokens in their colours and the text between them
 * plain, all on the panel.  Highlighting that fails leaves the block
 * plain, with a note: it is no reason to lose the video.
 */

static void
weaveit_run_code(weaveit_run_t *run, weaveit_spans_t *spans,
    const weaveit_mark_t *m)
{
    char                     lang[WEAVEIT_LANG_MAX + 1], err[256];
    char                     note[sizeof(err) + 32];
    size_t                   n;
    const char              *name;
    weaveit_code_t           code;
    const weaveit_params_t  *p;

    p = run->params;
    code.spans = spans;
    code.theme = weaveit_theme(p->theme);
    code.base = m->start;
    code.at = m->start;

    /* the language is the info string's first word: "python title=x" */
    name = run->script + m->lang;

    for (n = 0; n < m->lang_len && n < WEAVEIT_LANG_MAX && name[n] != ' '
                && name[n] != '\t' && name[n] != '{'; n++)
    {
        lang[n] = (name[n] >= 'A' && name[n] <= 'Z') ? name[n] - 'A' + 'a'
                                                     : name[n];
    }

    lang[n] = '\0';

    if (n > 0
        && weaveit_highlight(lang, run->md.shown + m->start,
                             m->end - m->start, weaveit_run_token, &code,
                             err, sizeof(err)) != 0
        && p->note != NULL)
    {
        (void) snprintf(note, sizeof(note), "code shown plain: %s", err);
        p->note(p->note_data, note);
    }

    weaveit_spans_add(spans, code.at, m->end, WEAVEIT_COLOR_NONE,
                      code.theme->panel);
}


static void
weaveit_run_token(void *data, size_t start, size_t end, int token)
{
    weaveit_code_t  *code;

    code = data;
    start += code->base;
    end += code->base;

    if (start < code->at || token < 0 || token >= WEAVEIT_TOKENS) {
        return;
    }

    weaveit_spans_add(code->spans, code->at, start, WEAVEIT_COLOR_NONE,
                      code->theme->panel);
    weaveit_spans_add(code->spans, start, end, code->theme->tokens[token],
                      code->theme->panel);
    code->at = end;
}


/* an empty span is none; one that continues the last in its colours
 * extends it (Source-highlight gives a comment word by word) */

static void
weaveit_spans_add(weaveit_spans_t *spans, size_t start, size_t end,
    uint32_t foreground, uint32_t background)
{
    size_t           size;
    weaveit_span_t  *s;

    if (start >= end || spans->oom) {
        return;
    }

    s = spans->n ? &spans->spans[spans->n - 1] : NULL;

    if (s != NULL && s->end == start && s->foreground == foreground
        && s->background == background)
    {
        s->end = end;
        return;
    }

    if (spans->n == spans->size) {
        size = spans->size ? 2 * spans->size : 64;
        s = realloc(spans->spans, size * sizeof(weaveit_span_t));

        if (s == NULL) {
            spans->oom = 1;
            return;
        }

        spans->spans = s;
        spans->size = size;
    }

    s = &spans->spans[spans->n++];
    s->start = start;
    s->end = end;
    s->foreground = foreground;
    s->background = background;
}


/* the holds, which the renderer copies */

static int
weaveit_run_holds(weaveit_run_t *run, char *err, size_t errlen)
{
    int              rc;
    size_t           n;
    weaveit_hold_t  *holds;

    holds = malloc(run->md.nmarks * sizeof(weaveit_hold_t));
    if (holds == NULL) {
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    n = weaveit_markdown_holds(&run->md, holds);
    rc = weaveit_render_set_holds(run->render, holds, n, err, errlen);
    free(holds);

    return rc;
}


/* the speech, and the scroll paced by its word timings */

static int
weaveit_run_speak(weaveit_run_t *run, char *err, size_t errlen)
{
    double                   end;
    weaveit_speech_t        *sp;
    const weaveit_params_t  *p;

    p = run->params;
    sp = &run->speech;

    if (!run->markdown) {
        if (weaveit_speak(p, run->text, run->text_len, sp, err, errlen)
            != 0)
        {
            return -1;
        }

    } else if (weaveit_text_blank(run->md.spoken, run->md.spoken_len)) {
        sp->sample_rate = WEAVEIT_SILENCE_RATE;

        if (weaveit_run_pauses(run, err, errlen) != 0) {
            return -1;
        }

    } else if (weaveit_speak(p, run->md.spoken, run->md.spoken_len, sp,
                             err, errlen) != 0
               || weaveit_run_pauses(run, err, errlen) != 0)
    {
        return -1;
    }

    end = (double) sp->samples / sp->sample_rate;

    return weaveit_render_set_timing(run->render, sp->words, sp->nwords,
                                     sp->sample_rate, end, err, errlen);
}


/*
 * The words move to where they are shown, and the audio opens a pause at
 * each code block no prose follows, before the first word spoken after it.
 */

static int
weaveit_run_pauses(weaveit_run_t *run, char *err, size_t errlen)
{
    size_t                     i, w, nw, at, out, cut, gap, extra, n;
    int16_t                   *pcm;
    weaveit_word_t            *words;
    weaveit_speech_t          *sp;
    const weaveit_mark_t      *m;
    const weaveit_markdown_t  *md;

    sp = &run->speech;
    md = &run->md;
    extra = 0;
    n = 0;

    for (i = 0; i < md->nmarks; i++) {
        gap = weaveit_run_pause(run, &md->marks[i]);
        extra += gap;
        n += (gap > 0);
    }

    pcm = malloc((sp->samples + extra + 1) * sizeof(int16_t));
    words = malloc((sp->nwords + n + 1) * sizeof(weaveit_word_t));

    if (pcm == NULL || words == NULL) {
        free(pcm);
        free(words);
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    w = 0;
    nw = 0;
    at = 0;
    out = 0;

    for (i = 0; i <= md->nmarks; i++) {
        m = (i < md->nmarks) ? &md->marks[i] : NULL;
        gap = m ? weaveit_run_pause(run, m) : 0;

        if (m != NULL && gap == 0) {
            continue;
        }

        while (w < sp->nwords && (m == NULL || sp->words[w].offset < m->spoken))
        {
            words[nw] = sp->words[w];
            words[nw].offset = weaveit_markdown_shown(md, sp->words[w].offset);
            words[nw].sample += (int64_t) (out - at);
            nw++;
            w++;
        }

        cut = (w < sp->nwords) ? (size_t) sp->words[w].sample : sp->samples;

        if (cut > at) {
            memcpy(pcm + out, sp->pcm + at, (cut - at) * sizeof(int16_t));
            out += cut - at;
            at = cut;
        }

        if (m == NULL) {
            break;
        }

        memset(pcm + out, 0, gap * sizeof(int16_t));
        words[nw].offset = m->start;
        words[nw].length = 0;
        words[nw].sample = (int64_t) out;
        nw++;
        out += gap;
    }

    free(sp->pcm);
    free(sp->words);
    sp->pcm = pcm;
    sp->words = words;
    sp->nwords = nw;
    sp->samples = out;

    return 0;
}


/* samples of silence a code block is held for; 0 if prose explains it */

static size_t
weaveit_run_pause(weaveit_run_t *run, const weaveit_mark_t *m)
{
    if (m->kind != WEAVEIT_MARK_CODE_BLOCK || m->followed) {
        return 0;
    }

    return (size_t) lround(weaveit_markdown_pause(m)
                           * run->speech.sample_rate);
}


/* the title card is a whole number of frames of silence before speech */

static void
weaveit_run_timeline(weaveit_run_t *run)
{
    const weaveit_params_t  *p;

    p = run->params;

    if (weaveit_has_title(p)) {
        run->title_frames = (unsigned) lround(WEAVEIT_TITLE_SECONDS * p->fps);
        run->lead = (size_t) run->title_frames * run->speech.sample_rate
                    / p->fps;
    }

    run->total = run->lead + run->speech.samples;
    run->frames = (unsigned) lround((double) run->total * p->fps
                                    / run->speech.sample_rate);
    if (run->frames == 0) {
        run->frames = 1;
    }
}


/*
 * A frame is painted and encoded only when the picture changes (the scroll
 * moves, the highlight moves on, the title card ends): most of a narration
 * is the text at rest, and an unchanged picture simply lasts longer in the
 * MP4 (timestamps stay on the 1 / fps grid).  A picture is repeated at
 * least once a second so players never wait long for one; p->cfr
 * repeats every one, for editors that mis-time a variable frame rate.
 */

static int
weaveit_generate_frames(weaveit_run_t *run, atomic_int *progress, char *err,
    size_t errlen)
{
    int                      pct, last, scroll, title, changed;
    int                      last_scroll, last_title;
    double                   t;
    size_t                   until, spoken, last_spoken;
    unsigned                 i, sent;
    const weaveit_params_t  *p;

    p = run->params;
    last = 0;
    sent = 0;
    last_scroll = -1;
    last_title = -1;
    last_spoken = 0;

    for (i = 0; i < run->frames; i++) {

        /* audio first, up to the end of this frame, for interleaving */
        until = (size_t) (((uint64_t) i + 1) * run->speech.sample_rate
                          / p->fps);

        if (weaveit_generate_audio(run, until, err, errlen) != 0) {
            return -1;
        }

        pct = (int) ((uint64_t) (i + 1) * 99 / run->frames);

        if (progress && pct != last) {
            atomic_store(progress, pct);
            last = pct;
        }

        title = (i < run->title_frames);
        t = title ? 0 : (double) (i - run->title_frames) / p->fps;
        scroll = title ? 0 : weaveit_render_scroll(run->render, t, &spoken);
        spoken = title ? 0 : spoken;

        changed = (title != last_title || scroll != last_scroll
                   || spoken != last_spoken);

        if (!changed && !p->cfr && i - sent < (unsigned) p->fps) {
            continue;
        }

        if (weaveit_generate_picture(run, i, title, changed, t, err, errlen)
            != 0)
        {
            return -1;
        }

        sent = i;
        last_title = title;
        last_scroll = scroll;
        last_spoken = spoken;
    }

    return 0;
}


/* a repeated picture still holds the same pixels: it is sent unpainted */

static int
weaveit_generate_picture(weaveit_run_t *run, unsigned i, int title,
    int changed, double t, char *err, size_t errlen)
{
    int       linesize[3];
    uint8_t  *data[3];

    if (weaveit_encoder_picture(run->encoder, data, linesize, err, errlen)
        != 0)
    {
        return -1;
    }

    if (changed && title) {
        if (weaveit_render_title(run->render, run->params->title, data,
                                 linesize, err, errlen) != 0)
        {
            return -1;
        }

    } else if (changed) {
        weaveit_render_frame(run->render, t, data, linesize);
    }

    return weaveit_encoder_video(run->encoder, i, err, errlen);
}


static int
weaveit_generate_audio(weaveit_run_t *run, size_t until, char *err,
    size_t errlen)
{
    size_t  n;

    if (until > run->total) {
        until = run->total;
    }

    if (run->audio_done < run->lead && run->audio_done < until) {
        n = ((until < run->lead) ? until : run->lead) - run->audio_done;

        if (weaveit_encoder_audio(run->encoder, NULL, n, err, errlen) != 0) {
            return -1;
        }

        run->audio_done += n;
    }

    if (run->audio_done < until) {
        n = until - run->audio_done;

        if (weaveit_encoder_audio(run->encoder,
                                  run->speech.pcm
                                  + (run->audio_done - run->lead),
                                  n, err, errlen) != 0)
        {
            return -1;
        }

        run->audio_done += n;
    }

    return 0;
}


void
weaveit_video_free(weaveit_video_t *v)
{
    if (v == NULL) {
        return;
    }

    free(v->data);
    memset(v, 0, sizeof(weaveit_video_t));
}
