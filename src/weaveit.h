/*
 * WeaveIt generation core: a text script in, a narrated scrolling-script
 * MP4 (H.264 + AAC, faststart) out, entirely in memory.
 *
 * Plain C, no nginx types: the nginx thread task, the weaveit-render CLI,
 * the unit tests and the benchmarks all call weaveit_generate().
 */

#ifndef _WEAVEIT_H_INCLUDED_
#define _WEAVEIT_H_INCLUDED_


#include <stdatomic.h>
#include <stddef.h>


typedef struct {
    int           width, height, fps;   /* 1280, 720, 30 */
    const char   *font_path;            /* DejaVu Sans Mono */
    const char   *prose_font;           /* DejaVu Sans: Markdown's prose */
    int           font_size;            /* 28 px */
    int           speech;               /* WEAVEIT_SPEECH_ESPEAK, _OPENAI */
    const char   *voice;                /* espeak-ng's, or the server's */
    int           speech_rate;          /* espeak-ng: words per minute */
    const char   *speech_url;           /* openai: the /v1/audio/speech URL */
    const char   *speech_model;         /* openai: "tts-1-hd" */
    const char   *speech_key;           /* openai: bearer token, or NULL */
    const char   *speech_format;        /* openai: what to ask for, "wav" */
    const char   *speech_ca_file;       /* openai: NULL: the system's CAs */
    int           speech_timeout;       /* openai: seconds per request */
    int           speech_concurrency;   /* openai: requests in flight */
    const char   *x264_preset;          /* WEAVEIT_DEFAULT_PRESET */
    int           crf;                  /* x264 CRF, 0..51 */
    int           threads;              /* x264 threads, 0 = auto */
    const char   *title;                /* NULL or blank = no title card */
    int           format;               /* WEAVEIT_FORMAT_AUTO */
    int           theme;                /* WEAVEIT_THEME_LIGHT */
    int           cfr;                  /* every frame encoded, or 0 */

    /* retries and other news worth a log line; NULL: none */
    void        (*note)(void *data, const char *text);
    void         *note_data;
} weaveit_params_t;


typedef struct {
    unsigned char  *data;               /* the MP4, malloc()ed */
    size_t          size;
    double          duration;           /* seconds */
    unsigned        frames;
    size_t          missing_glyphs;     /* characters no font has */
    const char     *voice;              /* that spoke: "auto" resolved */
} weaveit_video_t;


#define WEAVEIT_DEFAULT_FONT                                                  \
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
#define WEAVEIT_DEFAULT_PROSE_FONT                                            \
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
/* measured (bench/): as fast as ultrafast here, a third smaller */
#define WEAVEIT_DEFAULT_PRESET  "superfast"
#define WEAVEIT_DEFAULT_CRF     23
#define WEAVEIT_TITLE_SECONDS   2.0

/* the script's format; auto: markdown if a line starts with ``` */
#define WEAVEIT_FORMAT_AUTO      0
#define WEAVEIT_FORMAT_TEXT      1
#define WEAVEIT_FORMAT_MARKDOWN  2

/* the colours of a video: weaveit_render.c has their table */
#define WEAVEIT_THEME_LIGHT      0
#define WEAVEIT_THEME_DARK       1

#define WEAVEIT_SPEECH_ESPEAK   0       /* embedded espeak-ng */
#define WEAVEIT_SPEECH_OPENAI   1       /* POST /v1/audio/speech over HTTP */

/* a bearer token: from a file, handed to a generator in this variable */
#define WEAVEIT_SPEECH_KEY_MAX  4096
#define WEAVEIT_SPEECH_KEY_ENV  "WEAVEIT_SPEECH_KEY"

/* the server's voice when none is named: the original service's */
#define WEAVEIT_OPENAI_VOICE    "nova"
#define WEAVEIT_OPENAI_MODEL    "tts-1-hd"
#define WEAVEIT_OPENAI_VOICES                                                 \
    "alloy", "ash", "coral", "echo", "fable", "nova", "onyx", "sage",         \
    "shimmer"

/*
 * What weaveit_generate() accepts, and so what the nginx directives
 * promise operators; width and height must also be even (yuv420p).
 */
#define WEAVEIT_WIDTH_MIN        160
#define WEAVEIT_WIDTH_MAX        3840
#define WEAVEIT_HEIGHT_MIN       90
#define WEAVEIT_HEIGHT_MAX       2160
#define WEAVEIT_FPS_MIN          1
#define WEAVEIT_FPS_MAX          60
#define WEAVEIT_FONT_SIZE_MIN    6
#define WEAVEIT_FONT_SIZE_MAX    200
#define WEAVEIT_SPEECH_RATE_MIN  80
#define WEAVEIT_SPEECH_RATE_MAX  450
#define WEAVEIT_SPEECH_TIMEOUT_MIN       1          /* seconds */
#define WEAVEIT_SPEECH_TIMEOUT_MAX       3600
#define WEAVEIT_SPEECH_CONCURRENCY_MIN   1
#define WEAVEIT_SPEECH_CONCURRENCY_MAX   64
/* a voice name, as a directive, the CLI or a request may give it */
#define WEAVEIT_VOICE_MAX                64         /* bytes */

/* what the generator, weaveit-render --serve, reads from its stdin */
#define WEAVEIT_TITLE_MAX        4096                  /* bytes */
#define WEAVEIT_SCRIPT_MAX       (16 * 1024 * 1024)    /* bytes */


/*
 * weaveit_params.c: libc only, so the nginx module can link it alone.
 * The one place the defaults live: the module and the CLI start from it.
 */
void weaveit_params_init(weaveit_params_t *p);

/*
 * Returns 0 if the settings are within the bounds above, or -1 with a
 * readable message in err; the title is not looked at.
 */
int weaveit_params_check(const weaveit_params_t *p, char *err,
    size_t errlen);

/* 1 if name is one of x264's presets, ultrafast ... placebo */
int weaveit_x264_preset_valid(const char *name);

/*
 * 1 if the text is whitespace alone (or empty), which the generator
 * refuses as a script and draws no title card for (weaveit_utf8.c, which
 * the nginx module links too)
 */
int weaveit_text_blank(const char *text, size_t len);

/* "auto", "text", "markdown": WEAVEIT_FORMAT_*, or -1 */
int weaveit_format_parse(const char *name);

/* "light", "dark": WEAVEIT_THEME_*, or -1; and back, NULL if none */
int weaveit_theme_parse(const char *name);
const char *weaveit_theme_name(int theme);

/* 1 if a speech server may be asked for this format (not headerless pcm) */
int weaveit_speech_format_valid(const char *name);

/*
 * Reads a bearer token from path into key (size bytes with the NUL):
 * a regular file that others cannot read, one line of printable ASCII
 * (trailing blanks and newlines dropped).  Returns 0, or -1 with a message
 * that names the file, never its content.
 */
int weaveit_speech_key_read(const char *path, char *key, size_t size,
    char *err, size_t errlen);

/* the voice when none is named: espeak-ng's "en", or the server's "nova" */
const char *weaveit_default_voice(int speech);
/*
 * The voice WEAVEIT_VOICE_AUTO: with espeak-ng, the voice of the script's
 * writing system, resolved when the script is spoken; with a speech
 * server, whose models speak every language, the server's default voice.
 */
#define WEAVEIT_VOICE_AUTO      "auto"
int weaveit_params_voice_auto(const weaveit_params_t *p);
/* p->voice, or the default of p->speech (for "auto" too) */
const char *weaveit_params_voice(const weaveit_params_t *p);

/*
 * Returns 0 on success, -1 with a readable message in err.  progress (may be
 * NULL) gets 0..100 as frames are encoded, stored with C11 atomics so another
 * thread can read it.  Thread-safe: calls may run in several threads at once
 * (espeak-ng itself is serialised inside).
 */
int weaveit_generate(const weaveit_params_t *p, const char *script,
    size_t len, weaveit_video_t *out, atomic_int *progress, char *err,
    size_t errlen);

void weaveit_video_free(weaveit_video_t *v);

/*
 * Reads from disk, once, what weaveit_generate() with these parameters
 * would read on its first call (espeak-ng's data and the voice, the font),
 * and checks that the encoders are there: a sandboxed generator does this
 * before it takes a script.  Returns 0, or -1 with the message that every
 * generation with these parameters would fail with.
 */
int weaveit_generate_preload(const weaveit_params_t *p, char *err,
    size_t errlen);

/*
 * espeak-ng's installed voices, each as the name its voice selection
 * takes and its language's name: calls f once per voice.  Returns 0, or
 * -1 with a message.
 */
int weaveit_espeak_voices(void (*f)(void *data, const char *name,
    const char *language), void *data, char *err, size_t errlen);


#endif /* _WEAVEIT_H_INCLUDED_ */
