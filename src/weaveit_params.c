/*
 * Parameters: their defaults, their bounds and the messages of the core.
 *
 * libc only: the nginx module links this file alone for its directives'
 * defaults and checks, without espeak-ng, FreeType or FFmpeg.
 */

#include <stdio.h>
#include <string.h>

#include "weaveit_internal.h"


void
weaveit_params_init(weaveit_params_t *p)
{
    memset(p, 0, sizeof(weaveit_params_t));

    p->width = 1280;
    p->height = 720;
    p->fps = 30;
    p->font_path = WEAVEIT_DEFAULT_FONT;
    p->font_size = 28;
    p->voice = "en";
    p->speech_rate = 175;
    p->x264_preset = WEAVEIT_DEFAULT_PRESET;
    p->crf = WEAVEIT_DEFAULT_CRF;
    p->threads = 0;
    p->title = NULL;
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

    if (p->font_path == NULL || p->voice == NULL || p->x264_preset == NULL) {
        weaveit_error(err, errlen, "font, voice and preset are required");
        return -1;
    }

    if (!weaveit_x264_preset_valid(p->x264_preset)) {
        weaveit_error(err, errlen, "invalid x264 preset \"%s\" (ultrafast "
                      "... placebo)", p->x264_preset);
        return -1;
    }

    return 0;
}


int
weaveit_x264_preset_valid(const char *name)
{
    size_t  i;

    static const char  *presets[] = {
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
        "slow", "slower", "veryslow", "placebo"
    };

    for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
        if (strcmp(name, presets[i]) == 0) {
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
