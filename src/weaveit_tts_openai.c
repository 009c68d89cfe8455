/*
 * Speech from a server with OpenAI's API: POST /v1/audio/speech
 * {"model", "input", "voice", "response_format"} answers audio bytes.
 *
 * The script is cut at sentence and line ends into pieces well under the
 * API's 4096 characters, and the pieces are asked for concurrently with
 * libcurl's multi interface (weaveit_speech_concurrency in flight).  A
 * piece is retried on connection errors, timeouts, 429 (after its
 * Retry-After) and 5xx, up to WEAVEIT_OPENAI_RETRIES times with backoff;
 * any other answer fails the video.  The answers are decoded with
 * libavformat and resampled to WEAVEIT_OPENAI_RATE mono.
 *
 * A server tells no word timings: while the requests are in flight each
 * piece is synthesised with espeak-ng as well, and its word offsets are
 * scaled to the length of the server's audio for that piece.  Pieces
 * follow one another on the timeline.
 *
 * The bearer token goes in one header and nowhere else: no message made
 * here quotes it, and a server's error text that quotes it is redacted.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "weaveit_internal.h"


#define WEAVEIT_OPENAI_INPUT_MAX     4096      /* characters, the API's */
/* about a paragraph: natural prosody, and several requests at once */
#define WEAVEIT_OPENAI_PIECE         400       /* characters */
#define WEAVEIT_OPENAI_RATE          24000     /* the API's own rate */
#define WEAVEIT_OPENAI_RETRIES       3
#define WEAVEIT_OPENAI_BACKOFF       0.5       /* seconds, doubling */
#define WEAVEIT_OPENAI_RETRY_AFTER   60        /* seconds at most */
/* 4096 characters are about 5 minutes: 14 MB of 24 kHz wav */
#define WEAVEIT_OPENAI_ANSWER_MAX    (64 * 1024 * 1024)
#define WEAVEIT_OPENAI_ERROR_TEXT    200       /* bytes of a server's text */
#define WEAVEIT_OPENAI_AVIO_BUFFER   32768


typedef enum {
    weaveit_piece_waiting = 0,
    weaveit_piece_running,
    weaveit_piece_done
} weaveit_piece_state_e;


typedef struct {
    size_t                  start;          /* bytes of the script */
    size_t                  end;
    weaveit_piece_state_e   state;
    int                     aligned;
    weaveit_speech_t        align;          /* espeak-ng's words, no PCM */
    size_t                  align_samples;

    CURL                   *easy;
    char                    curl_error[CURL_ERROR_SIZE];
    unsigned char          *answer;
    size_t                  answer_len;
    size_t                  answer_alloc;
    int                     too_big;
    long                    retry_after;    /* seconds, -1: none said */
    int                     retries;
    double                  not_before;     /* CLOCK_MONOTONIC seconds */

    int16_t                *pcm;
    size_t                  samples;
} weaveit_piece_t;


typedef struct {
    const weaveit_params_t  *params;
    const char              *text;
    weaveit_piece_t         *pieces;
    size_t                   npieces;
    size_t                   done;
    size_t                   running;
    CURLM                   *multi;
    struct curl_slist       *headers;
    char                    *err;
    size_t                   errlen;
    int                      failed;
} weaveit_openai_t;


typedef struct {
    const unsigned char     *data;
    size_t                   size;
    size_t                   pos;
} weaveit_memory_t;


static int weaveit_openai_cut(weaveit_openai_t *o, size_t len);
static size_t weaveit_openai_piece_end(const char *text, size_t len,
    size_t start);
static int weaveit_openai_blank(const char *text, size_t start, size_t end);
static int weaveit_openai_headers(weaveit_openai_t *o);
static int weaveit_openai_run(weaveit_openai_t *o);
static int weaveit_openai_start_due(weaveit_openai_t *o, double now);
static int weaveit_openai_start(weaveit_openai_t *o, weaveit_piece_t *pc);
static char *weaveit_openai_body(weaveit_openai_t *o, weaveit_piece_t *pc);
static char *weaveit_json_string(char *dst, const char *s, size_t len);
/* the most a JSON string of len bytes takes: every byte as \u00XX */
#define weaveit_json_string_size(len)  (2 + 6 * (len))

static size_t weaveit_openai_write(char *data, size_t size, size_t n,
    void *arg);
static size_t weaveit_openai_header(char *data, size_t size, size_t n,
    void *arg);
static void weaveit_openai_finished(weaveit_openai_t *o, CURLMsg *msg);
static void weaveit_openai_retry_or_fail(weaveit_openai_t *o,
    weaveit_piece_t *pc, const char *why, int retry);
static void weaveit_openai_describe(weaveit_openai_t *o,
    weaveit_piece_t *pc, CURLcode rc, long status, char *buf, size_t size);
static void weaveit_openai_server_text(weaveit_openai_t *o,
    weaveit_piece_t *pc, char *buf, size_t size);
static void weaveit_openai_redact(const char *key, char *text);
static int weaveit_openai_retryable(CURLcode rc, long status);
static void weaveit_openai_align_next(weaveit_openai_t *o);
static double weaveit_openai_wait(weaveit_openai_t *o, double now);
static int weaveit_openai_assemble(weaveit_openai_t *o,
    weaveit_speech_t *sp);
static void weaveit_openai_free(weaveit_openai_t *o);
static void weaveit_openai_note(weaveit_openai_t *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static double weaveit_openai_now(void);

static int weaveit_audio_decode(const unsigned char *data, size_t size,
    int16_t **pcm, size_t *samples, char *err, size_t errlen);
static int weaveit_audio_open(AVFormatContext **fmt, AVCodecContext **dec,
    int *stream, weaveit_memory_t *mem, char *err, size_t errlen);
static int weaveit_audio_frames(AVCodecContext *dec, AVFrame *frame,
    SwrContext **swr, int16_t **pcm, size_t *samples, size_t *alloc);
static int weaveit_audio_convert(SwrContext **swr, AVFrame *frame,
    int16_t **pcm, size_t *samples, size_t *alloc);
static int weaveit_memory_read(void *opaque, uint8_t *buf, int n);
static int64_t weaveit_memory_seek(void *opaque, int64_t offset, int whence);


int
weaveit_tts_openai_preload(const weaveit_params_t *p, char *err,
    size_t errlen)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        weaveit_error(err, errlen, "speech: curl_global_init() failed");
        return -1;
    }

    if (av_find_input_format(p->speech_format[0] == 'o' ? "ogg"
                             : p->speech_format) == NULL)
    {
        weaveit_error(err, errlen, "speech: this FFmpeg cannot read %s",
                      p->speech_format);
        return -1;
    }

    return weaveit_tts_preload(WEAVEIT_ALIGN_VOICE, p->speech_rate, err,
                               errlen);
}


int
weaveit_tts_openai(const weaveit_params_t *p, const char *text, size_t len,
    weaveit_speech_t *sp, char *err, size_t errlen)
{
    int               rc;
    weaveit_openai_t  o;

    memset(sp, 0, sizeof(weaveit_speech_t));
    memset(&o, 0, sizeof(weaveit_openai_t));
    o.params = p;
    o.text = text;
    o.err = err;
    o.errlen = errlen;

    if (weaveit_text_check(text, len, "script", err, errlen) != 0) {
        return -1;
    }

    rc = -1;

    if (weaveit_openai_cut(&o, len) == 0
        && weaveit_openai_headers(&o) == 0
        && weaveit_openai_run(&o) == 0)
    {
        rc = weaveit_openai_assemble(&o, sp);
    }

    weaveit_openai_free(&o);

    return rc;
}


/* the pieces, blank ones left out: a server may refuse an empty input */

static int
weaveit_openai_cut(weaveit_openai_t *o, size_t len)
{
    size_t            start, end, n;
    weaveit_piece_t  *pc;

    /* a piece holds one character at least */
    o->pieces = calloc(len, sizeof(weaveit_piece_t));
    if (o->pieces == NULL) {
        weaveit_error(o->err, o->errlen, "out of memory");
        return -1;
    }

    n = 0;

    for (start = 0; start < len; start = end) {
        end = weaveit_openai_piece_end(o->text, len, start);

        if (weaveit_openai_blank(o->text, start, end)) {
            continue;
        }

        pc = &o->pieces[n++];
        pc->start = start;
        pc->end = end;
        pc->retry_after = -1;
    }

    o->npieces = n;

    return 0;
}


/*
 * Where the piece from start ends: after the last sentence or line end
 * within WEAVEIT_OPENAI_PIECE characters, or the first one after them;
 * a sentence longer than the API takes is cut at its last blank (or, with
 * none, anywhere) within WEAVEIT_OPENAI_INPUT_MAX characters.
 */

static size_t
weaveit_openai_piece_end(const char *text, size_t len, size_t start)
{
    char      c;
    size_t    i, n, chars, brk, blank;
    uint32_t  cp;

    chars = 0;
    brk = 0;
    blank = 0;

    for (i = start; i < len; i += n) {
        n = weaveit_utf8_next((const unsigned char *) text + i, len - i, &cp);

        if (++chars > WEAVEIT_OPENAI_INPUT_MAX) {
            return brk ? brk : (blank ? blank : i);
        }

        if (chars > WEAVEIT_OPENAI_PIECE && brk) {
            return brk;
        }

        c = text[i];

        if (c == '\n'
            || ((c == '.' || c == '!' || c == '?')
                && (i + 1 == len || isspace((unsigned char) text[i + 1]))))
        {
            brk = i + 1;

        } else if (c == ' ' || c == '\t') {
            blank = i + 1;
        }
    }

    return len;
}


static int
weaveit_openai_blank(const char *text, size_t start, size_t end)
{
    size_t  i;

    for (i = start; i < end; i++) {
        if (!isspace((unsigned char) text[i])) {
            return 0;
        }
    }

    return 1;
}


static int
weaveit_openai_headers(weaveit_openai_t *o)
{
    char                *auth;
    size_t               size;
    struct curl_slist   *h;

    h = curl_slist_append(NULL, "Content-Type: application/json");
    o->headers = h;

    if (h != NULL && o->params->speech_key != NULL) {
        size = sizeof("Authorization: Bearer ")
               + strlen(o->params->speech_key);
        auth = malloc(size);

        if (auth == NULL) {
            h = NULL;

        } else {
            snprintf(auth, size, "Authorization: Bearer %s",
                     o->params->speech_key);
            h = curl_slist_append(o->headers, auth);

            /* the copy in the list is the only one left */
            memset(auth, 0, size);
            free(auth);
        }
    }

    if (h == NULL) {
        weaveit_error(o->err, o->errlen, "out of memory");
        return -1;
    }

    o->headers = h;

    return 0;
}


static int
weaveit_openai_run(weaveit_openai_t *o)
{
    int           still;
    double        now;
    CURLMsg      *msg;
    CURLMcode     mc;

    o->multi = curl_multi_init();
    if (o->multi == NULL) {
        weaveit_error(o->err, o->errlen, "speech: curl_multi_init() failed");
        return -1;
    }

    while (o->done < o->npieces && !o->failed) {
        now = weaveit_openai_now();

        if (weaveit_openai_start_due(o, now) != 0) {
            return -1;
        }

        mc = curl_multi_perform(o->multi, &still);

        while (mc == CURLM_OK
               && (msg = curl_multi_info_read(o->multi, &still)) != NULL)
        {
            if (msg->msg == CURLMSG_DONE) {
                weaveit_openai_finished(o, msg);
            }
        }

        if (o->failed || o->done == o->npieces) {
            break;
        }

        /* espeak-ng times the words while the server speaks */

        if (mc == CURLM_OK && o->running > 0
            && weaveit_openai_wait(o, now) > 0)
        {
            weaveit_openai_align_next(o);
        }

        if (mc == CURLM_OK) {
            mc = curl_multi_poll(o->multi, NULL, 0,
                                 (int) (weaveit_openai_wait(o, now) * 1000),
                                 NULL);
        }

        if (mc != CURLM_OK) {
            weaveit_error(o->err, o->errlen, "speech: libcurl: %s",
                          curl_multi_strerror(mc));
            return -1;
        }
    }

    if (o->failed) {
        return -1;
    }

    while (!o->failed && o->npieces
           && !o->pieces[o->npieces - 1].aligned)
    {
        weaveit_openai_align_next(o);
    }

    return o->failed ? -1 : 0;
}


/* how long to wait for the network: until the next retry is due, or 1 s */

static double
weaveit_openai_wait(weaveit_openai_t *o, double now)
{
    size_t            i;
    double            wait;
    weaveit_piece_t  *pc;

    wait = 1.0;

    for (i = 0; i < o->npieces; i++) {
        pc = &o->pieces[i];

        if (pc->state == weaveit_piece_waiting) {
            wait = (pc->not_before - now < wait) ? pc->not_before - now
                                                   : wait;
        }
    }

    if (o->running == (size_t) o->params->speech_concurrency) {
        wait = 1.0;
    }

    return (wait < 0) ? 0 : wait;
}


static void
weaveit_openai_align_next(weaveit_openai_t *o)
{
    size_t            i;
    weaveit_piece_t  *pc;

    for (i = 0; i < o->npieces; i++) {
        pc = &o->pieces[i];

        if (pc->aligned) {
            continue;
        }

        pc->aligned = 1;

        if (weaveit_tts_align(WEAVEIT_ALIGN_VOICE, o->params->speech_rate,
                              o->text + pc->start, pc->end - pc->start,
                              &pc->align, o->err, o->errlen) != 0)
        {
            o->failed = 1;
            return;
        }

        pc->align_samples = pc->align.samples;
        free(pc->align.pcm);
        pc->align.pcm = NULL;

        return;
    }
}


static int
weaveit_openai_start_due(weaveit_openai_t *o, double now)
{
    size_t            i;
    weaveit_piece_t  *pc;

    for (i = 0; i < o->npieces; i++) {
        if (o->running == (size_t) o->params->speech_concurrency) {
            break;
        }

        pc = &o->pieces[i];

        if (pc->state == weaveit_piece_waiting && pc->not_before <= now) {
            if (weaveit_openai_start(o, pc) != 0) {
                return -1;
            }
        }
    }

    return 0;
}


static int
weaveit_openai_start(weaveit_openai_t *o, weaveit_piece_t *pc)
{
    int                      ok;
    char                    *body;
    CURL                    *easy;
    const weaveit_params_t  *p;

    p = o->params;
    body = weaveit_openai_body(o, pc);
    easy = curl_easy_init();

    if (body == NULL || easy == NULL) {
        free(body);
        curl_easy_cleanup(easy);
        weaveit_error(o->err, o->errlen, "out of memory");
        return -1;
    }

    pc->answer_len = 0;
    pc->too_big = 0;
    pc->retry_after = -1;
    pc->curl_error[0] = '\0';

    ok = curl_easy_setopt(easy, CURLOPT_URL, p->speech_url) == CURLE_OK
         && curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https")
            == CURLE_OK
         && curl_easy_setopt(easy, CURLOPT_HTTPHEADER, o->headers)
            == CURLE_OK
         && curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, body) == CURLE_OK
         && curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                             (long) p->speech_timeout * 1000) == CURLE_OK
         && curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK
         && curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION,
                             weaveit_openai_write) == CURLE_OK
         && curl_easy_setopt(easy, CURLOPT_WRITEDATA, pc) == CURLE_OK
         && curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION,
                             weaveit_openai_header) == CURLE_OK
         && curl_easy_setopt(easy, CURLOPT_HEADERDATA, pc) == CURLE_OK
         && curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, pc->curl_error)
            == CURLE_OK
         && curl_easy_setopt(easy, CURLOPT_PRIVATE, pc) == CURLE_OK
         && (p->speech_ca_file == NULL
             || curl_easy_setopt(easy, CURLOPT_CAINFO, p->speech_ca_file)
                == CURLE_OK)
         && curl_multi_add_handle(o->multi, easy) == CURLM_OK;

    free(body);

    if (!ok) {
        curl_easy_cleanup(easy);
        weaveit_error(o->err, o->errlen, "speech: cannot set up a request "
                      "with libcurl");
        return -1;
    }

    pc->easy = easy;
    pc->state = weaveit_piece_running;
    o->running++;

    return 0;
}


/* {"model", "input", "voice", "response_format"} */

static char *
weaveit_openai_body(weaveit_openai_t *o, weaveit_piece_t *pc)
{
    char                    *body, *d;
    size_t                   size, len;
    const char              *voice;
    const weaveit_params_t  *p;

    p = o->params;
    voice = weaveit_params_voice(p);
    len = pc->end - pc->start;

    size = sizeof("{\"model\":,\"input\":,\"voice\":,\"response_format\":}")
           + weaveit_json_string_size(strlen(p->speech_model))
           + weaveit_json_string_size(len)
           + weaveit_json_string_size(strlen(voice))
           + weaveit_json_string_size(strlen(p->speech_format));

    body = malloc(size);
    if (body == NULL) {
        return NULL;
    }

    d = body;
    d = stpcpy(d, "{\"model\":");
    d = weaveit_json_string(d, p->speech_model, strlen(p->speech_model));
    d = stpcpy(d, ",\"input\":");
    d = weaveit_json_string(d, o->text + pc->start, len);
    d = stpcpy(d, ",\"voice\":");
    d = weaveit_json_string(d, voice, strlen(voice));
    d = stpcpy(d, ",\"response_format\":");
    d = weaveit_json_string(d, p->speech_format, strlen(p->speech_format));
    (void) stpcpy(d, "}");

    return body;
}


/* a JSON string of valid UTF-8: quotes, backslashes, controls escaped */

static char *
weaveit_json_string(char *dst, const char *s, size_t len)
{
    size_t          i;
    unsigned char   c;

    *dst++ = '"';

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            *dst++ = '\\';
            *dst++ = (char) c;

        } else if (c < 0x20) {
            dst += sprintf(dst, "\\u%04x", c);

        } else {
            *dst++ = (char) c;
        }
    }

    *dst++ = '"';
    *dst = '\0';

    return dst;
}


static size_t
weaveit_openai_write(char *data, size_t size, size_t n, void *arg)
{
    size_t            alloc;
    unsigned char    *p;
    weaveit_piece_t  *pc;

    pc = arg;
    n *= size;

    if (pc->answer_len + n > WEAVEIT_OPENAI_ANSWER_MAX) {
        pc->too_big = 1;
        return 0;
    }

    if (pc->answer_len + n > pc->answer_alloc) {
        alloc = pc->answer_alloc ? pc->answer_alloc : 65536;

        while (alloc < pc->answer_len + n) {
            alloc *= 2;
        }

        p = realloc(pc->answer, alloc);
        if (p == NULL) {
            pc->too_big = 1;
            return 0;
        }

        pc->answer = p;
        pc->answer_alloc = alloc;
    }

    memcpy(pc->answer + pc->answer_len, data, n);
    pc->answer_len += n;

    return n;
}


/* Retry-After in seconds; its HTTP-date form is left to the backoff */

static size_t
weaveit_openai_header(char *data, size_t size, size_t n, void *arg)
{
    long              v;
    char              digits[16];
    size_t            len, i, d;
    weaveit_piece_t  *pc;

    pc = arg;
    len = size * n;

    if (len < sizeof("Retry-After:") - 1
        || strncasecmp(data, "Retry-After:", sizeof("Retry-After:") - 1)
           != 0)
    {
        return len;
    }

    for (i = sizeof("Retry-After:") - 1; i < len && data[i] == ' '; i++) {
        /* void */
    }

    for (d = 0; i < len && d < sizeof(digits) - 1
                && data[i] >= '0' && data[i] <= '9'; i++)
    {
        digits[d++] = data[i];
    }

    if (d > 0 && d < sizeof(digits) - 1) {
        digits[d] = '\0';
        v = strtol(digits, NULL, 10);
        pc->retry_after = (v > WEAVEIT_OPENAI_RETRY_AFTER)
                          ? WEAVEIT_OPENAI_RETRY_AFTER : v;
    }

    return len;
}


static void
weaveit_openai_finished(weaveit_openai_t *o, CURLMsg *msg)
{
    long              status;
    char              why[WEAVEIT_OPENAI_ERROR_TEXT + 128];
    CURLcode          rc;
    weaveit_piece_t  *pc;

    rc = msg->data.result;
    status = 0;
    pc = NULL;

    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &pc);
    curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);

    curl_multi_remove_handle(o->multi, msg->easy_handle);
    curl_easy_cleanup(msg->easy_handle);
    pc->easy = NULL;
    o->running--;

    if (rc == CURLE_OK && status >= 200 && status < 300) {
        if (weaveit_audio_decode(pc->answer, pc->answer_len, &pc->pcm,
                                 &pc->samples, why, sizeof(why)) != 0)
        {
            weaveit_error(o->err, o->errlen, "speech server: piece %zu of "
                          "%zu: %s", (size_t) (pc - o->pieces) + 1,
                          o->npieces, why);
            o->failed = 1;
            return;
        }

        free(pc->answer);
        pc->answer = NULL;
        pc->answer_alloc = 0;
        pc->state = weaveit_piece_done;
        o->done++;
        return;
    }

    weaveit_openai_describe(o, pc, rc, status, why, sizeof(why));
    weaveit_openai_retry_or_fail(o, pc, why,
                                 !pc->too_big
                                 && weaveit_openai_retryable(rc, status));
}


static void
weaveit_openai_retry_or_fail(weaveit_openai_t *o, weaveit_piece_t *pc,
    const char *why, int retry)
{
    size_t  i;
    double  delay;

    i = (size_t) (pc - o->pieces) + 1;

    if (!retry) {
        weaveit_error(o->err, o->errlen, "speech server: piece %zu of %zu: "
                      "%s (not retried)", i, o->npieces, why);
        o->failed = 1;
        return;
    }

    if (pc->retries == WEAVEIT_OPENAI_RETRIES) {
        weaveit_error(o->err, o->errlen, "speech server: piece %zu of %zu: "
                      "%s (after %d retries)", i, o->npieces, why,
                      WEAVEIT_OPENAI_RETRIES);
        o->failed = 1;
        return;
    }

    delay = WEAVEIT_OPENAI_BACKOFF * (1 << pc->retries);

    if (pc->retry_after >= 0) {
        delay = (double) pc->retry_after;
    }

    pc->retries++;
    pc->state = weaveit_piece_waiting;
    pc->not_before = weaveit_openai_now() + delay;

    weaveit_openai_note(o, "speech server: piece %zu of %zu: %s; retry %d "
                        "of %d in %.1f s", i, o->npieces, why, pc->retries,
                        WEAVEIT_OPENAI_RETRIES, delay);
}


/* connection errors, timeouts, 429 and 5xx may pass */

static int
weaveit_openai_retryable(CURLcode rc, long status)
{
    switch (rc) {

    case CURLE_OK:
        return status == 429 || status >= 500;

    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;

    default:
        return 0;
    }
}


static void
weaveit_openai_describe(weaveit_openai_t *o, weaveit_piece_t *pc,
    CURLcode rc, long status, char *buf, size_t size)
{
    char  text[WEAVEIT_OPENAI_ERROR_TEXT + 1];

    if (pc->too_big) {
        snprintf(buf, size, "the answer is over %d bytes",
                 WEAVEIT_OPENAI_ANSWER_MAX);

    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(buf, size, "no answer within %d s (weaveit_speech_timeout)",
                 o->params->speech_timeout);

    } else if (rc != CURLE_OK) {
        snprintf(buf, size, "%s", pc->curl_error[0] ? pc->curl_error
                                                    : curl_easy_strerror(rc));
        weaveit_openai_redact(o->params->speech_key, buf);

    } else {
        weaveit_openai_server_text(o, pc, text, sizeof(text));
        snprintf(buf, size, "the server answered %ld%s%s", status,
                 text[0] ? ": " : "", text);
    }
}


/*
 * OpenAI says {"error": {"message": ...}}; other servers {"error": "..."},
 * {"detail": ...} or plain text.  Printable, short, and never the key.
 */

static void
weaveit_openai_server_text(weaveit_openai_t *o, weaveit_piece_t *pc,
    char *buf, size_t size)
{
    size_t        i, n;
    json_t       *json, *e;
    const char   *s;

    buf[0] = '\0';
    json = json_loadb((const char *) pc->answer, pc->answer_len, 0, NULL);
    s = NULL;

    if (json_is_object(json)) {
        e = json_object_get(json, "error");

        if (json_is_object(e)) {
            e = json_object_get(e, "message");
        }

        if (!json_is_string(e)) {
            e = json_object_get(json, "detail");
        }

        if (!json_is_string(e)) {
            e = json_object_get(json, "message");
        }

        s = json_string_value(e);
    }

    if (s != NULL) {
        n = strlen(s);

    } else {
        s = (const char *) pc->answer;
        n = pc->answer_len;
    }

    n = (n < size - 1) ? n : size - 1;

    for (i = 0; i < n; i++) {
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : ' ';
    }

    buf[n] = '\0';
    json_decref(json);

    weaveit_openai_redact(o->params->speech_key, buf);
}


static void
weaveit_openai_redact(const char *key, char *text)
{
    char    *k;
    size_t   len;

    if (key == NULL || key[0] == '\0') {
        return;
    }

    len = strlen(key);

    while ((k = strstr(text, key)) != NULL) {
        memset(k, '*', len);
    }
}


/* the pieces' audio end to end, and espeak-ng's words scaled to it */

static int
weaveit_openai_assemble(weaveit_openai_t *o, weaveit_speech_t *sp)
{
    size_t            i, j, total, nwords, base;
    double            scale;
    weaveit_word_t   *w;
    weaveit_piece_t  *pc;

    total = 0;
    nwords = 0;

    for (i = 0; i < o->npieces; i++) {
        total += o->pieces[i].samples;
        nwords += o->pieces[i].align.nwords;
    }

    if (total == 0 || nwords == 0) {
        weaveit_error(o->err, o->errlen, "script has no words to speak");
        return -1;
    }

    sp->pcm = malloc(total * sizeof(int16_t));
    sp->words = malloc(nwords * sizeof(weaveit_word_t));

    if (sp->pcm == NULL || sp->words == NULL) {
        weaveit_speech_free(sp);
        weaveit_error(o->err, o->errlen, "out of memory");
        return -1;
    }

    sp->sample_rate = WEAVEIT_OPENAI_RATE;
    base = 0;

    for (i = 0; i < o->npieces; i++) {
        pc = &o->pieces[i];
        memcpy(sp->pcm + base, pc->pcm, pc->samples * sizeof(int16_t));
        scale = pc->align_samples ? (double) pc->samples / pc->align_samples
                                  : 0;

        for (j = 0; j < pc->align.nwords; j++) {
            w = &sp->words[sp->nwords++];
            w->offset = pc->start + pc->align.words[j].offset;
            w->length = pc->align.words[j].length;
            w->sample = (int64_t) base
                        + (int64_t) (pc->align.words[j].sample * scale);
        }

        base += pc->samples;
    }

    sp->samples = total;

    return 0;
}


static void
weaveit_openai_free(weaveit_openai_t *o)
{
    size_t            i;
    weaveit_piece_t  *pc;

    for (i = 0; i < o->npieces; i++) {
        pc = &o->pieces[i];

        if (pc->easy != NULL) {
            curl_multi_remove_handle(o->multi, pc->easy);
            curl_easy_cleanup(pc->easy);
        }

        free(pc->answer);
        free(pc->pcm);
        weaveit_speech_free(&pc->align);
    }

    free(o->pieces);
    curl_multi_cleanup(o->multi);
    curl_slist_free_all(o->headers);
}


static void
weaveit_openai_note(weaveit_openai_t *o, const char *fmt, ...)
{
    char     text[512];
    va_list  args;

    if (o->params->note == NULL) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);

    o->params->note(o->params->note_data, text);
}


static double
weaveit_openai_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* decoding an answer: any audio FFmpeg reads, to mono s16 at the rate */


static int
weaveit_audio_decode(const unsigned char *data, size_t size, int16_t **pcm,
    size_t *samples, char *err, size_t errlen)
{
    int                rc, stream;
    size_t             alloc;
    AVFrame           *frame;
    AVPacket          *pkt;
    SwrContext        *swr;
    AVCodecContext    *dec;
    AVFormatContext   *fmt;
    weaveit_memory_t   mem;

    mem.data = data;
    mem.size = size;
    mem.pos = 0;
    swr = NULL;
    dec = NULL;
    fmt = NULL;
    alloc = 0;

    if (weaveit_audio_open(&fmt, &dec, &stream, &mem, err, errlen) != 0) {
        return -1;
    }

    frame = av_frame_alloc();
    pkt = av_packet_alloc();
    rc = (frame == NULL || pkt == NULL) ? AVERROR(ENOMEM) : 0;

    while (rc >= 0 && av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == stream) {
            rc = avcodec_send_packet(dec, pkt);

            if (rc >= 0) {
                rc = weaveit_audio_frames(dec, frame, &swr, pcm, samples,
                                          &alloc);
            }
        }

        av_packet_unref(pkt);
    }

    /* the decoder's and the resampler's last samples */

    if (rc >= 0 && avcodec_send_packet(dec, NULL) >= 0) {
        rc = weaveit_audio_frames(dec, frame, &swr, pcm, samples, &alloc);
    }

    if (rc >= 0 && swr != NULL) {
        rc = weaveit_audio_convert(&swr, NULL, pcm, samples, &alloc);
    }

    if (rc >= 0 && *samples == 0) {
        weaveit_error(err, errlen, "the answer holds no audio");
        rc = -1;

    } else if (rc < 0) {
        weaveit_error(err, errlen, "the answer's audio cannot be decoded: %s",
                      av_err2str(rc));
    }

    swr_free(&swr);
    av_packet_free(&pkt);
    av_frame_free(&frame);
    avcodec_free_context(&dec);
    av_freep(&fmt->pb->buffer);
    avio_context_free(&fmt->pb);
    avformat_close_input(&fmt);

    return (rc < 0) ? -1 : 0;
}


static int
weaveit_audio_open(AVFormatContext **fmt, AVCodecContext **dec,
    int *stream, weaveit_memory_t *mem, char *err, size_t errlen)
{
    int              rc;
    unsigned char   *buf;
    AVIOContext     *pb;
    const AVCodec   *codec;

    buf = av_malloc(WEAVEIT_OPENAI_AVIO_BUFFER);
    pb = buf ? avio_alloc_context(buf, WEAVEIT_OPENAI_AVIO_BUFFER, 0, mem,
                                  weaveit_memory_read, NULL,
                                  weaveit_memory_seek)
             : NULL;
    *fmt = avformat_alloc_context();

    if (pb == NULL || *fmt == NULL) {
        av_free(buf);
        avio_context_free(&pb);
        avformat_free_context(*fmt);
        *fmt = NULL;
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    (*fmt)->pb = pb;
    (*fmt)->flags |= AVFMT_FLAG_CUSTOM_IO;

    rc = avformat_open_input(fmt, NULL, NULL, NULL);

    if (rc < 0) {
        av_freep(&pb->buffer);
        avio_context_free(&pb);
        weaveit_error(err, errlen, "the answer is not audio: %s",
                      av_err2str(rc));
        return -1;
    }

    rc = avformat_find_stream_info(*fmt, NULL);

    if (rc >= 0) {
        rc = av_find_best_stream(*fmt, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
    }

    if (rc >= 0) {
        *stream = rc;
        *dec = avcodec_alloc_context3(codec);
        rc = (*dec == NULL) ? AVERROR(ENOMEM) : 0;
    }

    if (rc >= 0) {
        rc = avcodec_parameters_to_context(*dec,
                                           (*fmt)->streams[*stream]->codecpar);
    }

    if (rc >= 0) {
        rc = avcodec_open2(*dec, codec, NULL);
    }

    if (rc < 0) {
        avcodec_free_context(dec);
        av_freep(&pb->buffer);
        avio_context_free(&pb);
        avformat_close_input(fmt);
        weaveit_error(err, errlen, "the answer holds no audio to decode: %s",
                      av_err2str(rc));
        return -1;
    }

    return 0;
}


static int
weaveit_audio_frames(AVCodecContext *dec, AVFrame *frame, SwrContext **swr,
    int16_t **pcm, size_t *samples, size_t *alloc)
{
    int  rc;

    for ( ;; ) {
        rc = avcodec_receive_frame(dec, frame);

        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
            return 0;
        }

        if (rc < 0) {
            return rc;
        }

        rc = weaveit_audio_convert(swr, frame, pcm, samples, alloc);
        av_frame_unref(frame);

        if (rc < 0) {
            return rc;
        }
    }
}


/* frame NULL: what the resampler still holds */

static int
weaveit_audio_convert(SwrContext **swr, AVFrame *frame, int16_t **pcm,
    size_t *samples, size_t *alloc)
{
    int               n, rc, in;
    size_t            need;
    int16_t          *p;
    uint8_t          *out;
    AVChannelLayout   mono = AV_CHANNEL_LAYOUT_MONO, layout;

    if (*swr == NULL) {
        if (frame->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC) {
            av_channel_layout_default(&layout, frame->ch_layout.nb_channels);

        } else if (av_channel_layout_copy(&layout, &frame->ch_layout) < 0) {
            return AVERROR(ENOMEM);
        }

        rc = swr_alloc_set_opts2(swr, &mono, AV_SAMPLE_FMT_S16,
                                 WEAVEIT_OPENAI_RATE, &layout, frame->format,
                                 frame->sample_rate, 0, NULL);
        av_channel_layout_uninit(&layout);

        if (rc < 0 || (rc = swr_init(*swr)) < 0) {
            return rc;
        }
    }

    in = frame ? frame->nb_samples : 0;
    n = swr_get_out_samples(*swr, in);

    if (n < 0) {
        return n;
    }

    need = *samples + (size_t) n;

    if (need > *alloc) {
        *alloc = (need > 2 * *alloc) ? need : 2 * *alloc;
        p = realloc(*pcm, *alloc * sizeof(int16_t));

        if (p == NULL) {
            return AVERROR(ENOMEM);
        }

        *pcm = p;
    }

    out = (uint8_t *) (*pcm + *samples);
    n = swr_convert(*swr, &out, n,
                    frame ? (const uint8_t **) frame->extended_data : NULL,
                    in);

    if (n < 0) {
        return n;
    }

    *samples += (size_t) n;

    return 0;
}


static int
weaveit_memory_read(void *opaque, uint8_t *buf, int n)
{
    size_t             left;
    weaveit_memory_t  *mem;

    mem = opaque;
    left = mem->size - mem->pos;

    if (left == 0) {
        return AVERROR_EOF;
    }

    if ((size_t) n > left) {
        n = (int) left;
    }

    memcpy(buf, mem->data + mem->pos, n);
    mem->pos += n;

    return n;
}


static int64_t
weaveit_memory_seek(void *opaque, int64_t offset, int whence)
{
    weaveit_memory_t  *mem;

    mem = opaque;

    switch (whence & ~AVSEEK_FORCE) {

    case AVSEEK_SIZE:
        return (int64_t) mem->size;

    case SEEK_SET:
        break;

    case SEEK_CUR:
        offset += (int64_t) mem->pos;
        break;

    case SEEK_END:
        offset += (int64_t) mem->size;
        break;

    default:
        return AVERROR(EINVAL);
    }

    if (offset < 0 || (uint64_t) offset > mem->size) {
        return AVERROR(EINVAL);
    }

    mem->pos = (size_t) offset;

    return offset;
}
