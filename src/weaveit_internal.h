/*
 * WeaveIt core internals shared by the weaveit_*.c files and the unit
 * tests: text checks, speech with word timings, layout and frame painting,
 * encoding.
 */

#ifndef _WEAVEIT_INTERNAL_H_INCLUDED_
#define _WEAVEIT_INTERNAL_H_INCLUDED_


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "weaveit.h"
#include "weaveit_highlight.h"


/* the core's messages: weaveit_params.c */

void weaveit_error(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;


/* UTF-8: weaveit_utf8.c (weaveit_text_blank() is in weaveit.h) */

/* decodes one UTF-8 sequence; returns its length, or 0 if invalid */
size_t weaveit_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);
/* the same for n > 0, but an invalid byte is one U+FFFD */
size_t weaveit_utf8_next(const unsigned char *p, size_t n, uint32_t *cp);
/* 1 for the characters a script or title may be made of and be empty */
int weaveit_is_blank(uint32_t cp);


/* text: weaveit_text.c */

/* valid UTF-8 without NUL bytes and not blank; what names it in err */
int weaveit_text_check(const char *text, size_t len, const char *what,
    char *err, size_t errlen);


/*
 * Markdown-lite (weaveit_text.c): the script as shown, the text handed to
 * speech, and the way back from a spoken byte to a shown one.  A mark is a
 * block (heading, list item, paragraph, code block) or an inline style,
 * as a byte range of the shown text.
 */

enum {
    WEAVEIT_MARK_PARAGRAPH,
    WEAVEIT_MARK_HEADING,               /* level 1 to 3 */
    WEAVEIT_MARK_LIST,
    WEAVEIT_MARK_CODE_BLOCK,            /* lang: a byte range of the script */
    WEAVEIT_MARK_CODE,                  /* inline */
    WEAVEIT_MARK_BOLD,
    WEAVEIT_MARK_EMPHASIS
};

typedef struct {
    int               kind;
    int               level;            /* heading level */
    size_t            start;            /* shown bytes, end exclusive */
    size_t            end;
    size_t            lang;             /* code block: its language */
    size_t            lang_len;
    size_t            lines;            /* code block: lines shown */
    size_t            spoken;           /* spoken offset the block comes at */
    int               followed;         /* code block: prose is spoken after */
} weaveit_mark_t;

/*
 * While a line starting in [start, end) of the text is spoken, the line
 * at anchor is kept in view as far as the spoken line allows: a code
 * block stays up while the paragraph after it explains it.
 */
typedef struct {
    size_t            start;
    size_t            end;
    size_t            anchor;
    size_t            anchor_end;       /* where the held block ends */
} weaveit_hold_t;

/* spoken bytes [spoken, spoken + len) are shown at [shown, shown + len) */
typedef struct {
    size_t            spoken;
    size_t            shown;
    size_t            len;
} weaveit_text_run_t;

typedef struct {
    char             *shown;
    size_t            shown_len;
    char             *spoken;
    size_t            spoken_len;
    weaveit_mark_t   *marks;            /* in increasing start order */
    size_t            nmarks;
    weaveit_text_run_t *runs;           /* in increasing order of both */
    size_t            nruns;
} weaveit_markdown_t;


/* WEAVEIT_FORMAT_TEXT or _MARKDOWN: a line starting with ``` */
int weaveit_format_detect(const char *text, size_t len);
int weaveit_markdown_parse(const char *text, size_t len,
    weaveit_markdown_t *md, char *err, size_t errlen);
void weaveit_markdown_free(weaveit_markdown_t *md);
/* the shown byte a spoken byte comes from */
size_t weaveit_markdown_shown(const weaveit_markdown_t *md, size_t spoken);
/*
 * The holds of the code blocks, in order, into room for md->nmarks: from
 * a block's first line to the end of the prose that explains it, or over
 * the block alone when none does.  Returns how many.
 */
size_t weaveit_markdown_holds(const weaveit_markdown_t *md,
    weaveit_hold_t *holds);
/* seconds a code block no prose follows is held: 1 + 0.3 a line, <= 8 */
double weaveit_markdown_pause(const weaveit_mark_t *block);


/* speech: weaveit_tts.c */

typedef struct {
    size_t            offset;       /* byte offset of the word in the script */
    size_t            length;       /* bytes */
    int64_t           sample;       /* first audio sample of the word */
} weaveit_word_t;


typedef struct {
    int16_t          *pcm;          /* mono, 16-bit */
    size_t            samples;
    int               sample_rate;
    weaveit_word_t   *words;        /* in increasing offset and sample order */
    size_t            nwords;
    const char       *voice;        /* that spoke, static or the params' */
} weaveit_speech_t;


/*
 * the backend p->speech says, with p->voice or the backend's default;
 * espeak-ng's "auto" is the voice weaveit_voice_auto() picks for the text
 */
int weaveit_speak(const weaveit_params_t *p, const char *text, size_t len,
    weaveit_speech_t *sp, char *err, size_t errlen);

int weaveit_tts(const char *voice, int rate, const char *text, size_t len,
    weaveit_speech_t *sp, char *err, size_t errlen);
/* the same, but text without a word to speak gives no words, no error */
int weaveit_tts_align(const char *voice, int rate, const char *text,
    size_t len, weaveit_speech_t *sp, char *err, size_t errlen);
void weaveit_speech_free(weaveit_speech_t *sp);

/*
 * weaveit_voice.c: the installed espeak-ng voice for the text's dominant
 * writing system, or the default voice
 */
const char *weaveit_voice_auto(const char *text, size_t len);
/* espeak-ng initialised and the voice loaded, ahead of the first script */
int weaveit_tts_preload(const char *voice, int rate, char *err,
    size_t errlen);

/*
 * weaveit_tts_openai.c: a speech server with OpenAI's POST
 * /v1/audio/speech; words timed by espeak-ng's WEAVEIT_ALIGN_VOICE,
 * scaled to the server's audio
 */
#define WEAVEIT_ALIGN_VOICE   "en"

int weaveit_tts_openai(const weaveit_params_t *p, const char *text,
    size_t len, weaveit_speech_t *sp, char *err, size_t errlen);
/* libcurl and the decoders set up, espeak-ng's alignment voice loaded */
int weaveit_tts_openai_preload(const weaveit_params_t *p, char *err,
    size_t errlen);


/* fonts and fallback: weaveit_font.c */

typedef struct weaveit_fonts_s  weaveit_fonts_t;
struct hb_font_t;

typedef struct {
    int                 left;           /* px from the pen */
    int                 top;            /* px above the baseline */
    int                 width;
    int                 rows;
    int                 color;          /* 0: coverage; 1: A, Y, U, V */
    uint8_t            *bitmap;         /* NULL: nothing to draw */
} weaveit_glyph_t;


/* font: a file path (it has a '/') or a fontconfig pattern */
weaveit_fonts_t *weaveit_fonts_open(const char *font, int size, char *err,
    size_t errlen);
void weaveit_fonts_close(weaveit_fonts_t *fs);
/* the file, malloc()ed, and the face index a font path or pattern names */
int weaveit_fonts_resolve(const char *font, char **file, int *index,
    char *err, size_t errlen);

int weaveit_fonts_ascender(const weaveit_fonts_t *fs);
int weaveit_fonts_descender(const weaveit_fonts_t *fs);
int weaveit_fonts_space(const weaveit_fonts_t *fs);           /* 26.6 */
int weaveit_fonts_monospace(const weaveit_fonts_t *fs);
/* the family name of the configured font */
const char *weaveit_fonts_family(const weaveit_fonts_t *fs);
/* the face for cp: 0 the configured font, > 0 a stand-in, -1 none has it */
int weaveit_fonts_face(weaveit_fonts_t *fs, uint32_t cp);
int weaveit_fonts_has(const weaveit_fonts_t *fs, int face, uint32_t cp);
struct hb_font_t *weaveit_fonts_hb(const weaveit_fonts_t *fs, int face);
/* a face's 26.6 shaping units in the set's pixel size */
int weaveit_fonts_scale(const weaveit_fonts_t *fs, int face, int v);
const weaveit_glyph_t *weaveit_fonts_glyph(weaveit_fonts_t *fs, int face,
    uint32_t gid);


/* layout and painting: weaveit_render.c */

typedef struct weaveit_render_s  weaveit_render_t;

#define WEAVEIT_COLOR_NONE  0xff000000u     /* 0xRRGGBB otherwise */

typedef struct {
    size_t            start;        /* bytes of the script, end exclusive */
    size_t            end;
    int               x;            /* px from the margin the line starts at */
    int               rtl;          /* right-to-left: from the right margin */
    uint32_t          background;   /* WEAVEIT_COLOR_NONE: the page's */
    int               top;          /* px below the first line's top */
    int               height;       /* px */
    int               baseline;     /* px below the line's top */
} weaveit_line_t;


/*
 * The fonts of a Markdown script's parts, each a font set of its own:
 * code in the monospace font (all of a plain text script), prose in the
 * proportional one, bold and emphasis in its bold and oblique faces,
 * headings bold and larger.
 */
enum {
    WEAVEIT_STYLE_CODE,
    WEAVEIT_STYLE_PROSE,
    WEAVEIT_STYLE_BOLD,
    WEAVEIT_STYLE_EMPHASIS,
    WEAVEIT_STYLE_H1,
    WEAVEIT_STYLE_H2,
    WEAVEIT_STYLE_H3,
    WEAVEIT_STYLES
};


/*
 * Colours of a byte range of the script: its text in foreground, and the
 * lines starting inside it on background (either WEAVEIT_COLOR_NONE).
 */
typedef struct {
    size_t            start;
    size_t            end;
    uint32_t          foreground;
    uint32_t          background;
} weaveit_span_t;


/* a theme's colours, 0xRRGGBB */
typedef struct {
    uint32_t          background;
    uint32_t          text;
    uint32_t          band;             /* the spoken line */
    uint32_t          panel;            /* code blocks */
    uint32_t          code;             /* inline code */
    uint32_t          tokens[WEAVEIT_TOKENS];
} weaveit_theme_t;

/* the colours of WEAVEIT_THEME_*, which weaveit_params_check() allows */
const weaveit_theme_t *weaveit_theme(int theme);

/* text is not copied: it must outlive the renderer */
weaveit_render_t *weaveit_render_create(const weaveit_params_t *p,
    const char *text, size_t len, char *err, size_t errlen);
/* md->shown in the styles of its marks; md must outlive the renderer */
weaveit_render_t *weaveit_render_markdown(const weaveit_params_t *p,
    const weaveit_markdown_t *md, char *err, size_t errlen);
void weaveit_render_destroy(weaveit_render_t *r);

size_t weaveit_render_nlines(weaveit_render_t *r);
const weaveit_line_t *weaveit_render_line(weaveit_render_t *r, size_t i);
size_t weaveit_render_line_of(weaveit_render_t *r, size_t offset);
int weaveit_render_line_top(weaveit_render_t *r, size_t line);
/* of a body line; weaveit_render_line(r, i)->height of line i */
int weaveit_render_line_height(weaveit_render_t *r);
int weaveit_render_advance(weaveit_render_t *r);
/* characters of the script and title no installed font has a glyph for */
size_t weaveit_render_missing(weaveit_render_t *r);

/* spans in increasing order, not overlapping; copied */
int weaveit_render_set_colors(weaveit_render_t *r, const weaveit_span_t *s,
    size_t n, char *err, size_t errlen);

/* holds in increasing order, not overlapping; copied */
int weaveit_render_set_holds(weaveit_render_t *r, const weaveit_hold_t *h,
    size_t n, char *err, size_t errlen);

/* word timings (speech time, seconds from the first sample) and its end */
int weaveit_render_set_timing(weaveit_render_t *r,
    const weaveit_word_t *words, size_t nwords, int sample_rate,
    double end, char *err, size_t errlen);
/* scroll offset in px at speech time t, and the line being spoken */
int weaveit_render_scroll(weaveit_render_t *r, double t, size_t *spoken);

void weaveit_render_frame(weaveit_render_t *r, double t, uint8_t *data[3],
    const int linesize[3]);
int weaveit_render_title(weaveit_render_t *r, const char *title,
    uint8_t *data[3], const int linesize[3], char *err, size_t errlen);

/* BT.709 limited range, as the encoder tags the video */
void weaveit_rgb_to_yuv(uint32_t rgb, uint8_t *y, uint8_t *u, uint8_t *v);


/* encoding into memory: weaveit_encode.c */

typedef struct weaveit_encoder_s  weaveit_encoder_t;

weaveit_encoder_t *weaveit_encoder_open(const weaveit_params_t *p,
    int sample_rate, char *err, size_t errlen);
/* a writable picture to paint the next video frame into */
int weaveit_encoder_picture(weaveit_encoder_t *e, uint8_t *data[3],
    int linesize[3], char *err, size_t errlen);
/*
 * sends the picture as frame number pts (1 / fps units); frames may be
 * skipped: a picture lasts until the next one, the last until end_pts
 */
int weaveit_encoder_video(weaveit_encoder_t *e, int64_t pts, char *err,
    size_t errlen);
/* mono 16-bit samples; pcm NULL means n samples of silence */
int weaveit_encoder_audio(weaveit_encoder_t *e, const int16_t *pcm, size_t n,
    char *err, size_t errlen);
/* flushes, writes the index (moov first) and hands over the MP4 buffer */
int weaveit_encoder_finish(weaveit_encoder_t *e, int64_t end_pts,
    unsigned char **data, size_t *size, char *err, size_t errlen);
void weaveit_encoder_close(weaveit_encoder_t *e);
/* the encoders weaveit_encoder_open() needs are in this FFmpeg */
int weaveit_encoder_preload(char *err, size_t errlen);


#endif /* _WEAVEIT_INTERNAL_H_INCLUDED_ */
