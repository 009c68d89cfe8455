/*
 * Parameters: their defaults, their bounds and the messages of the core.
 *
 * libc only: the nginx module links this file alone for its directives'
 * defaults and checks, without espeak-ng, FreeType or FFmpeg.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weaveit_internal.h"


#define weaveit_nelts(a)  (sizeof(a) / sizeof((a)[0]))


static int weaveit_params_check_speech(const weaveit_params_t *p, char *err,
    size_t errlen);
static int weaveit_params_one_of(const char *name, const char **list,
    size_t n);
static int weaveit_speech_key_check(const char *path, char *key, size_t len,
    char *err, size_t errlen);


void
weaveit_params_init(weaveit_params_t *p)
{
    memset(p, 0, sizeof(weaveit_params_t));

    p->width = 1280;
    p->height = 720;
    p->fps = 30;
    p->font_path = WEAVEIT_DEFAULT_FONT;
    p->prose_font = WEAVEIT_DEFAULT_PROSE_FONT;
    p->font_size = 28;
    p->speech = WEAVEIT_SPEECH_ESPEAK;
    p->voice = NULL;
    p->speech_rate = 175;
    p->speech_url = NULL;
    p->speech_model = WEAVEIT_OPENAI_MODEL;
    p->speech_key = NULL;
    p->speech_format = "wav";
    p->speech_ca_file = NULL;
    p->speech_timeout = 60;
    p->speech_concurrency = 4;
    p->x264_preset = WEAVEIT_DEFAULT_PRESET;
    p->crf = WEAVEIT_DEFAULT_CRF;
    p->threads = 0;
    p->title = NULL;
    p->format = WEAVEIT_FORMAT_AUTO;
    p->theme = WEAVEIT_THEME_LIGHT;
    p->cfr = 0;
    p->note = NULL;
    p->note_data = NULL;
}


int
weaveit_format_parse(const char *name)
{
    if (strcmp(name, "auto") == 0) {
        return WEAVEIT_FORMAT_AUTO;
    }

    if (strcmp(name, "text") == 0) {
        return WEAVEIT_FORMAT_TEXT;
    }

    if (strcmp(name, "markdown") == 0) {
        return WEAVEIT_FORMAT_MARKDOWN;
    }

    return -1;
}


static const char  *weaveit_themes[] = { "light", "dark" };


int
weaveit_theme_parse(const char *name)
{
    int  i;

    for (i = 0; i < (int) weaveit_nelts(weaveit_themes); i++) {
        if (strcmp(name, weaveit_themes[i]) == 0) {
            return i;
        }
    }

    return -1;
}


const char *
weaveit_theme_name(int theme)
{
    if (theme < 0 || theme >= (int) weaveit_nelts(weaveit_themes)) {
        return NULL;
    }

    return weaveit_themes[theme];
}


const char *
weaveit_default_voice(int speech)
{
    return (speech == WEAVEIT_SPEECH_OPENAI) ? WEAVEIT_OPENAI_VOICE : "en";
}


int
weaveit_params_voice_auto(const weaveit_params_t *p)
{
    return p->voice != NULL && strcmp(p->voice, WEAVEIT_VOICE_AUTO) == 0;
}


const char *
weaveit_params_voice(const weaveit_params_t *p)
{
    return (p->voice == NULL || weaveit_params_voice_auto(p))
           ? weaveit_default_voice(p->speech) : p->voice;
}


int
weaveit_params_check(const weaveit_params_t *p, char *err, size_t errlen)
{
    if (p->width < WEAVEIT_WIDTH_MIN || p->height < WEAVEIT_HEIGHT_MIN
        || p->width > WEAVEIT_WIDTH_MAX || p->height > WEAVEIT_HEIGHT_MAX
        || (p->width & 1) || (p->height & 1))
    {
        weaveit_error(err, errlen, "invalid frame size %dx%d (even, %dx%d "
                      "to %dx%d)", p->width, p->height, WEAVEIT_WIDTH_MIN,
                      WEAVEIT_HEIGHT_MIN, WEAVEIT_WIDTH_MAX,
                      WEAVEIT_HEIGHT_MAX);
        return -1;
    }

    if (p->fps < WEAVEIT_FPS_MIN || p->fps > WEAVEIT_FPS_MAX) {
        weaveit_error(err, errlen, "invalid fps %d (%d to %d)", p->fps,
                      WEAVEIT_FPS_MIN, WEAVEIT_FPS_MAX);
        return -1;
    }

    if (p->font_size < WEAVEIT_FONT_SIZE_MIN
        || p->font_size > WEAVEIT_FONT_SIZE_MAX)
    {
        weaveit_error(err, errlen, "invalid font size %d (%d to %d)",
                      p->font_size, WEAVEIT_FONT_SIZE_MIN,
                      WEAVEIT_FONT_SIZE_MAX);
        return -1;
    }

    if (p->speech_rate < WEAVEIT_SPEECH_RATE_MIN
        || p->speech_rate > WEAVEIT_SPEECH_RATE_MAX)
    {
        weaveit_error(err, errlen, "invalid speech rate %d (%d to %d words "
                      "per minute)", p->speech_rate, WEAVEIT_SPEECH_RATE_MIN,
                      WEAVEIT_SPEECH_RATE_MAX);
        return -1;
    }

    if (p->crf < 0 || p->crf > 51 || p->threads < 0 || p->threads > 64) {
        weaveit_error(err, errlen, "invalid crf %d or threads %d", p->crf,
                      p->threads);
        return -1;
    }

    if (p->format < WEAVEIT_FORMAT_AUTO || p->format > WEAVEIT_FORMAT_MARKDOWN
        || weaveit_theme_name(p->theme) == NULL)
    {
        weaveit_error(err, errlen, "invalid format %d or theme %d",
                      p->format, p->theme);
        return -1;
    }

    if (p->font_path == NULL || p->prose_font == NULL
        || p->x264_preset == NULL)
    {
        weaveit_error(err, errlen, "fonts and preset are required");
        return -1;
    }

    if (p->voice != NULL && strlen(p->voice) > WEAVEIT_VOICE_MAX) {
        weaveit_error(err, errlen, "voice name longer than %d bytes",
                      WEAVEIT_VOICE_MAX);
        return -1;
    }

    if (weaveit_params_check_speech(p, err, errlen) != 0) {
        return -1;
    }

    if (!weaveit_x264_preset_valid(p->x264_preset)) {
        weaveit_error(err, errlen, "invalid x264 preset \"%s\" (ultrafast "
                      "... placebo)", p->x264_preset);
        return -1;
    }

    return 0;
}


static int
weaveit_params_check_speech(const weaveit_params_t *p, char *err,
    size_t errlen)
{
    if (p->speech == WEAVEIT_SPEECH_ESPEAK) {
        return 0;
    }

    if (p->speech != WEAVEIT_SPEECH_OPENAI) {
        weaveit_error(err, errlen, "unknown speech backend %d", p->speech);
        return -1;
    }

    if (p->speech_url == NULL
        || (strncmp(p->speech_url, "http://", 7) != 0
            && strncmp(p->speech_url, "https://", 8) != 0))
    {
        weaveit_error(err, errlen, "the speech server's URL must begin with "
                      "http:// or https://");
        return -1;
    }

    if (p->speech_model == NULL || p->speech_model[0] == '\0') {
        weaveit_error(err, errlen, "the speech model is required");
        return -1;
    }

    if (p->speech_format == NULL
        || !weaveit_speech_format_valid(p->speech_format))
    {
        weaveit_error(err, errlen, "invalid speech format \"%s\" (wav, mp3, "
                      "opus, flac or aac)",
                      p->speech_format ? p->speech_format : "");
        return -1;
    }

    if (p->speech_timeout < WEAVEIT_SPEECH_TIMEOUT_MIN
        || p->speech_timeout > WEAVEIT_SPEECH_TIMEOUT_MAX
        || p->speech_concurrency < WEAVEIT_SPEECH_CONCURRENCY_MIN
        || p->speech_concurrency > WEAVEIT_SPEECH_CONCURRENCY_MAX)
    {
        weaveit_error(err, errlen, "invalid speech timeout %d s (%d to %d) "
                      "or concurrency %d (%d to %d)", p->speech_timeout,
                      WEAVEIT_SPEECH_TIMEOUT_MIN, WEAVEIT_SPEECH_TIMEOUT_MAX,
                      p->speech_concurrency, WEAVEIT_SPEECH_CONCURRENCY_MIN,
                      WEAVEIT_SPEECH_CONCURRENCY_MAX);
        return -1;
    }

    return 0;
}


int
weaveit_speech_format_valid(const char *name)
{
    static const char  *formats[] = { "wav", "mp3", "opus", "flac", "aac" };

    return weaveit_params_one_of(name, formats, weaveit_nelts(formats));
}


int
weaveit_x264_preset_valid(const char *name)
{
    static const char  *presets[] = {
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
        "slow", "slower", "veryslow", "placebo"
    };

    return weaveit_params_one_of(name, presets, weaveit_nelts(presets));
}


static int
weaveit_params_one_of(const char *name, const char **list, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strcmp(name, list[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


void
weaveit_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(err, errlen, fmt, args);
    va_end(args);
}


int
weaveit_speech_key_read(const char *path, char *key, size_t size, char *err,
    size_t errlen)
{
    int          fd;
    ssize_t      n;
    struct stat  st;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd == -1 || fstat(fd, &st) != 0) {
        weaveit_error(err, errlen, "speech key file \"%s\" cannot be read: "
                      "%s", path, strerror(errno));
        if (fd != -1) {
            close(fd);
        }
        return -1;
    }

    if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IROTH | S_IWOTH))) {
        close(fd);
        weaveit_error(err, errlen, "speech key file \"%s\" must be a "
                      "regular file that others cannot read or write "
                      "(chmod o-rw)", path);
        return -1;
    }

    n = read(fd, key, size);
    close(fd);

    if (n < 0 || (size_t) n == size) {
        weaveit_error(err, errlen, "speech key file \"%s\": %s", path,
                      (n < 0) ? strerror(errno) : "too long");
        return -1;
    }

    return weaveit_speech_key_check(path, key, (size_t) n, err, errlen);
}


/* the token goes into a header: one line, nothing that could end it */

static int
weaveit_speech_key_check(const char *path, char *key, size_t len,
    char *err, size_t errlen)
{
    size_t  i;

    while (len > 0 && (key[len - 1] == '\n' || key[len - 1] == '\r'
                       || key[len - 1] == ' ' || key[len - 1] == '\t'))
    {
        len--;
    }

    key[len] = '\0';

    for (i = 0; i < len; i++) {
        if (key[i] <= 0x20 || key[i] >= 0x7f) {
            break;
        }
    }

    if (len == 0 || i < len) {
        memset(key, 0, len);
        weaveit_error(err, errlen, "speech key file \"%s\" must hold one "
                      "token of printable characters without blanks", path);
        return -1;
    }

    return 0;
}
