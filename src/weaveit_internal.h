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


/* the core's messages: weaveit_params.c */

void weaveit_error(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;


/* text: weaveit_text.c */

/* decodes one UTF-8 sequence; returns its length, or 0 if invalid */
size_t weaveit_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);
/* the same for n > 0, but an invalid byte is one U+FFFD */
size_t weaveit_utf8_next(const unsigned char *p, size_t n, uint32_t *cp);

/* 1 if the text is whitespace alone, or empty */
int weaveit_text_blank(const char *text, size_t len);
/* valid UTF-8 without NUL bytes and not blank; what names it in err */
int weaveit_text_check(const char *text, size_t len, const char *what,
    char *err, size_t errlen);


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
} weaveit_speech_t;


int weaveit_tts(const char *voice, int rate, const char *text, size_t len,
    weaveit_speech_t *sp, char *err, size_t errlen);
void weaveit_speech_free(weaveit_speech_t *sp);
/* espeak-ng initialised and the voice loaded, ahead of the first script */
int weaveit_tts_preload(const char *voice, int rate, char *err,
    size_t errlen);


/* layout and painting: weaveit_render.c */

typedef struct weaveit_render_s  weaveit_render_t;

typedef struct {
    size_t            start;        /* bytes of the script, end exclusive */
    size_t            end;
    int               x;            /* pen at start, px from the margin */
} weaveit_line_t;


/* text is not copied: it must outlive the renderer */
weaveit_render_t *weaveit_render_create(const weaveit_params_t *p,
    const char *text, size_t len, char *err, size_t errlen);
void weaveit_render_destroy(weaveit_render_t *r);

size_t weaveit_render_nlines(weaveit_render_t *r);
const weaveit_line_t *weaveit_render_line(weaveit_render_t *r, size_t i);
size_t weaveit_render_line_of(weaveit_render_t *r, size_t offset);
int weaveit_render_line_top(weaveit_render_t *r, size_t line);
int weaveit_render_line_height(weaveit_render_t *r);
int weaveit_render_advance(weaveit_render_t *r);

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
