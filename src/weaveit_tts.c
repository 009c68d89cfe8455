/*
 * Speech: espeak-ng synthesises the script into 16-bit mono PCM in memory
 * and reports where every word starts in the audio.  weaveit_speak() picks
 * the backend: this one, or a speech server (weaveit_tts_openai.c), which
 * takes its word timings from this one.
 *
 * espeak-ng keeps global state and is not thread-safe, so it is initialised
 * once and every call into it holds one process-wide mutex.
 */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <espeak-ng/espeak_ng.h>

#include "weaveit_internal.h"


typedef struct {
    weaveit_speech_t   *sp;
    size_t              pcm_alloc;
    size_t              words_alloc;
    const size_t       *char_offset;    /* character index -> byte offset */
    size_t              nchars;
    int                 failed;
} weaveit_tts_ctx_t;


static void weaveit_tts_init_once(void);
static int weaveit_tts_run(const char *voice, int rate, const char *text,
    size_t len, weaveit_speech_t *sp, char *err, size_t errlen);
static int weaveit_tts_synthesize(weaveit_tts_ctx_t *ctx, const char *voice,
    int rate, const char *copy, size_t len, char *err, size_t errlen);
static int weaveit_tts_voice(const char *voice, int rate, char *err,
    size_t errlen);
static int weaveit_tts_callback(short *wav, int n, espeak_EVENT *events);
static int weaveit_tts_add_word(weaveit_tts_ctx_t *ctx, espeak_EVENT *ev);
static int weaveit_tts_prepare(const char *text, size_t len, char **copy,
    size_t **char_offset, size_t *nchars);
static void weaveit_tts_status(espeak_ng_STATUS status, const char *what,
    char *err, size_t errlen);


static pthread_once_t      weaveit_tts_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t     weaveit_tts_mutex = PTHREAD_MUTEX_INITIALIZER;
static espeak_ng_STATUS    weaveit_tts_init_status;
static int                 weaveit_tts_sample_rate;

/* the synthesis in progress; only touched while holding the mutex */
static weaveit_tts_ctx_t  *weaveit_tts_current;


/*
 * No sound is ever played, yet espeak-ng 1.51 opens a PulseAudio client in
 * espeak_ng_InitializeOutput() even in synchronous mode: a 64 MB shared
 * memory pool, a mkdir() in $HOME, a connection to the user's sound server
 * (and its complaint in the log where there is none).  This definition
 * takes the place of pcaudiolib's in every program that links the core,
 * and espeak-ng, which only plays through the object in its audio modes,
 * goes without.
 */

void *
create_audio_device_object(const char *device, const char *application,
    const char *description)
{
    (void) device;
    (void) application;
    (void) description;

    return NULL;
}


int
weaveit_speak(const weaveit_params_t *p, const char *text, size_t len,
    weaveit_speech_t *sp, char *err, size_t errlen)
{
    int          rc;
    const char  *voice;

    if (p->speech == WEAVEIT_SPEECH_OPENAI) {
        voice = weaveit_params_voice(p);
        rc = weaveit_tts_openai(p, text, len, sp, err, errlen);

    } else {
        voice = weaveit_params_voice_auto(p) ? weaveit_voice_auto(text, len)
                                             : weaveit_params_voice(p);
        rc = weaveit_tts(voice, p->speech_rate, text, len, sp, err, errlen);
    }

    sp->voice = voice;

    return rc;
}


static void
weaveit_tts_init_once(void)
{
    espeak_ng_ERROR_CONTEXT  context;

    context = NULL;

    espeak_ng_InitializePath(NULL);

    weaveit_tts_init_status = espeak_ng_Initialize(&context);
    espeak_ng_ClearErrorContext(&context);

    if (weaveit_tts_init_status != ENS_OK) {
        return;
    }

    weaveit_tts_init_status =
        espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, NULL);

    if (weaveit_tts_init_status != ENS_OK) {
        return;
    }

    weaveit_tts_sample_rate = espeak_ng_GetSampleRate();
    espeak_SetSynthCallback(weaveit_tts_callback);
}


static void
weaveit_tts_status(espeak_ng_STATUS status, const char *what, char *err,
    size_t errlen)
{
    char  msg[256];

    espeak_ng_GetStatusCodeMessage(status, msg, sizeof(msg));
    weaveit_error(err, errlen, "espeak-ng: %s: %s", what, msg);
}


/*
 * espeak-ng reads a NUL-terminated string and reports word positions in
 * characters, so we hand it a copy with control characters blanked (one
 * character for one, positions stay valid) and keep a character -> byte map.
 */

static int
weaveit_tts_prepare(const char *text, size_t len, char **copy,
    size_t **char_offset, size_t *nchars)
{
    char      *s;
    size_t     i, n, count, *map;
    uint32_t   cp;

    s = malloc(len + 1);
    map = malloc((len + 1) * sizeof(size_t));

    if (s == NULL || map == NULL) {
        free(s);
        free(map);
        return -1;
    }

    count = 0;

    for (i = 0; i < len; i += n) {
        n = weaveit_utf8_next((const unsigned char *) text + i, len - i,
                              &cp);

        map[count++] = i;
        memcpy(s + i, text + i, n);

        if (cp < 0x20 && cp != '\n') {
            s[i] = ' ';
        }
    }

    map[count] = len;
    s[len] = '\0';

    *copy = s;
    *char_offset = map;
    *nchars = count;

    return 0;
}


int
weaveit_tts(const char *voice, int rate, const char *text, size_t len,
    weaveit_speech_t *sp, char *err, size_t errlen)
{
    if (weaveit_tts_run(voice, rate, text, len, sp, err, errlen) != 0) {
        return -1;
    }

    if (sp->samples == 0 || sp->nwords == 0) {
        weaveit_speech_free(sp);
        weaveit_error(err, errlen, "script has no words to speak");
        return -1;
    }

    return 0;
}


/* a piece of text without a word to speak (say, "---") is no error here */

int
weaveit_tts_align(const char *voice, int rate, const char *text, size_t len,
    weaveit_speech_t *sp, char *err, size_t errlen)
{
    return weaveit_tts_run(voice, rate, text, len, sp, err, errlen);
}


static int
weaveit_tts_run(const char *voice, int rate, const char *text, size_t len,
    weaveit_speech_t *sp, char *err, size_t errlen)
{
    int                 rc;
    char               *copy;
    size_t             *map, nchars;
    weaveit_tts_ctx_t   ctx;

    memset(sp, 0, sizeof(*sp));

    if (weaveit_text_check(text, len, "script", err, errlen) != 0) {
        return -1;
    }

    if (weaveit_tts_prepare(text, len, &copy, &map, &nchars) != 0) {
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.sp = sp;
    ctx.char_offset = map;
    ctx.nchars = nchars;

    pthread_once(&weaveit_tts_once, weaveit_tts_init_once);

    pthread_mutex_lock(&weaveit_tts_mutex);
    rc = weaveit_tts_synthesize(&ctx, voice, rate, copy, len, err, errlen);
    pthread_mutex_unlock(&weaveit_tts_mutex);

    free(copy);
    free(map);

    if (rc != 0) {
        weaveit_speech_free(sp);
    }

    return rc;
}


/*
 * espeak-ng reads its phoneme data when initialised and a voice's files and
 * dictionary when the voice is first set: done here, before any script.
 */

int
weaveit_tts_preload(const char *voice, int rate, char *err, size_t errlen)
{
    int  rc;

    pthread_once(&weaveit_tts_once, weaveit_tts_init_once);

    pthread_mutex_lock(&weaveit_tts_mutex);
    rc = weaveit_tts_voice(voice, rate, err, errlen);
    pthread_mutex_unlock(&weaveit_tts_mutex);

    return rc;
}


/*
 * The name of a voice is its file's, which espeak_ng_SetVoiceByName()
 * takes: "en-US" for the identifier "gmw/en-US".
 */

int
weaveit_espeak_voices(void (*f)(void *data, const char *name,
    const char *language), void *data, char *err, size_t errlen)
{
    const char           *name;
    const espeak_VOICE  **voices;

    pthread_once(&weaveit_tts_once, weaveit_tts_init_once);

    if (weaveit_tts_init_status != ENS_OK) {
        weaveit_tts_status(weaveit_tts_init_status, "initialisation failed",
                           err, errlen);
        return -1;
    }

    pthread_mutex_lock(&weaveit_tts_mutex);

    for (voices = espeak_ListVoices(NULL); *voices != NULL; voices++) {
        if ((*voices)->identifier == NULL || (*voices)->name == NULL) {
            continue;
        }

        name = strrchr((*voices)->identifier, '/');
        f(data, name ? name + 1 : (*voices)->identifier, (*voices)->name);
    }

    pthread_mutex_unlock(&weaveit_tts_mutex);

    return 0;
}


/* the caller holds weaveit_tts_mutex: espeak-ng's state is global */

static int
weaveit_tts_voice(const char *voice, int rate, char *err, size_t errlen)
{
    espeak_ng_STATUS  status;

    if (weaveit_tts_init_status != ENS_OK) {
        weaveit_tts_status(weaveit_tts_init_status, "initialisation failed",
                           err, errlen);
        return -1;
    }

    status = espeak_ng_SetVoiceByName(voice);
    if (status != ENS_OK) {
        weaveit_tts_status(status, voice, err, errlen);
        return -1;
    }

    status = espeak_ng_SetParameter(espeakRATE, rate, 0);
    if (status != ENS_OK) {
        weaveit_tts_status(status, "speech rate", err, errlen);
        return -1;
    }

    return 0;
}


/* the caller holds weaveit_tts_mutex */

static int
weaveit_tts_synthesize(weaveit_tts_ctx_t *ctx, const char *voice, int rate,
    const char *copy, size_t len, char *err, size_t errlen)
{
    espeak_ng_STATUS  status;

    if (weaveit_tts_voice(voice, rate, err, errlen) != 0) {
        return -1;
    }

    ctx->sp->sample_rate = weaveit_tts_sample_rate;
    weaveit_tts_current = ctx;

    status = espeak_ng_Synthesize(copy, len + 1, 0, POS_CHARACTER, 0,
                                  espeakCHARS_UTF8 | espeakENDPAUSE, NULL,
                                  NULL);

    weaveit_tts_current = NULL;

    if (status != ENS_OK) {
        weaveit_tts_status(status, "synthesis failed", err, errlen);
        return -1;
    }

    if (ctx->failed) {
        weaveit_error(err, errlen, "out of memory during speech synthesis");
        return -1;
    }

    return 0;
}


static int
weaveit_tts_callback(short *wav, int n, espeak_EVENT *events)
{
    size_t              need, alloc;
    int16_t            *pcm;
    weaveit_tts_ctx_t  *ctx;
    weaveit_speech_t   *sp;

    ctx = weaveit_tts_current;

    if (ctx == NULL || ctx->failed) {
        return 1;
    }

    sp = ctx->sp;

    for ( /* void */ ; events->type != espeakEVENT_LIST_TERMINATED; events++)
    {
        if (events->type == espeakEVENT_WORD
            && weaveit_tts_add_word(ctx, events) != 0)
        {
            ctx->failed = 1;
            return 1;
        }
    }

    if (wav == NULL || n <= 0) {
        return 0;
    }

    need = sp->samples + (size_t) n;

    if (need > ctx->pcm_alloc) {
        alloc = ctx->pcm_alloc ? ctx->pcm_alloc * 2 : 65536;

        while (alloc < need) {
            alloc *= 2;
        }

        pcm = realloc(sp->pcm, alloc * sizeof(int16_t));
        if (pcm == NULL) {
            ctx->failed = 1;
            return 1;
        }

        sp->pcm = pcm;
        ctx->pcm_alloc = alloc;
    }

    memcpy(sp->pcm + sp->samples, wav, (size_t) n * sizeof(int16_t));
    sp->samples = need;

    return 0;
}


static int
weaveit_tts_add_word(weaveit_tts_ctx_t *ctx, espeak_EVENT *ev)
{
    size_t             first, last, alloc;
    weaveit_word_t    *w, *words;
    weaveit_speech_t  *sp;

    sp = ctx->sp;

    /*
     * espeak-ng sometimes repeats a word event with length 0 at an earlier
     * position (end of a clause); keep only forward-moving, real words
     */
    if (ev->length <= 0 || ev->text_position <= 0
        || (size_t) ev->text_position > ctx->nchars || ev->sample < 0)
    {
        return 0;
    }

    first = (size_t) ev->text_position - 1;
    last = first + (size_t) ev->length;

    if (last > ctx->nchars) {
        last = ctx->nchars;
    }

    if (sp->nwords > 0) {
        w = &sp->words[sp->nwords - 1];

        if (ctx->char_offset[first] <= w->offset
            || ev->sample < w->sample)
        {
            return 0;
        }
    }

    if (sp->nwords == ctx->words_alloc) {
        alloc = ctx->words_alloc ? ctx->words_alloc * 2 : 256;

        words = realloc(sp->words, alloc * sizeof(weaveit_word_t));
        if (words == NULL) {
            return -1;
        }

        sp->words = words;
        ctx->words_alloc = alloc;
    }

    w = &sp->words[sp->nwords++];
    w->offset = ctx->char_offset[first];
    w->length = ctx->char_offset[last] - w->offset;
    w->sample = ev->sample;

    return 0;
}


void
weaveit_speech_free(weaveit_speech_t *sp)
{
    free(sp->pcm);
    free(sp->words);
    memset(sp, 0, sizeof(*sp));
}
