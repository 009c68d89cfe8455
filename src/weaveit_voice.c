/*
 * The voice "auto": the espeak-ng voice of the script's writing system.
 *
 * HarfBuzz names each character's script; of the scripts in the table,
 * the one with the most characters wins (punctuation, digits and marks
 * are Common or Inherited and count for none).  Japanese writes its words
 * in Han as well as kana, so Han with any kana is Japanese; Chinese has
 * no kana.  Latin, a script not in the table, or a voice not installed
 * give the default voice.  This runs in the sandboxed generator: the
 * nginx worker never parses client text with HarfBuzz.
 */

#include <string.h>

#include <hb.h>

#include "weaveit_internal.h"


#define weaveit_nelts(a)  (sizeof(a) / sizeof((a)[0]))


typedef struct {
    hb_script_t       script;
    const char       *voice;        /* the name of espeak-ng's voice file */
} weaveit_script_voice_t;


typedef struct {
    const char       *voice;
    int               installed;
} weaveit_voice_find_t;


static const weaveit_script_voice_t  weaveit_script_voices[] = {
    { HB_SCRIPT_LATIN,       NULL },        /* the default voice */
    { HB_SCRIPT_HAN,         "cmn" },
    { HB_SCRIPT_HIRAGANA,    "ja" },
    { HB_SCRIPT_KATAKANA,    "ja" },
    { HB_SCRIPT_HANGUL,      "ko" },
    { HB_SCRIPT_ARABIC,      "ar" },
    { HB_SCRIPT_HEBREW,      "he" },
    { HB_SCRIPT_CYRILLIC,    "ru" },
    { HB_SCRIPT_GREEK,       "el" },
    { HB_SCRIPT_ARMENIAN,    "hy" },
    { HB_SCRIPT_GEORGIAN,    "ka" },
    { HB_SCRIPT_DEVANAGARI,  "hi" },
    { HB_SCRIPT_BENGALI,     "bn" },
    { HB_SCRIPT_GURMUKHI,    "pa" },
    { HB_SCRIPT_GUJARATI,    "gu" },
    { HB_SCRIPT_ORIYA,       "or" },
    { HB_SCRIPT_TAMIL,       "ta" },
    { HB_SCRIPT_TELUGU,      "te" },
    { HB_SCRIPT_KANNADA,     "kn" },
    { HB_SCRIPT_MALAYALAM,   "ml" },
    { HB_SCRIPT_SINHALA,     "si" },
    { HB_SCRIPT_THAI,        "th" },
    { HB_SCRIPT_MYANMAR,     "my" },
    { HB_SCRIPT_ETHIOPIC,    "am" },
    { HB_SCRIPT_CHEROKEE,    "chr" }
};


static hb_script_t weaveit_voice_script(const char *text, size_t len);
static const char *weaveit_voice_of_script(hb_script_t script);
static int weaveit_voice_installed(const char *voice);
static void weaveit_voice_match(void *data, const char *name,
    const char *language);


const char *
weaveit_voice_auto(const char *text, size_t len)
{
    const char  *voice;

    voice = weaveit_voice_of_script(weaveit_voice_script(text, len));

    if (voice == NULL || !weaveit_voice_installed(voice)) {
        return weaveit_default_voice(WEAVEIT_SPEECH_ESPEAK);
    }

    return voice;
}


/* the script of the most characters in the table, or Common */

static hb_script_t
weaveit_voice_script(const char *text, size_t len)
{
    size_t                i, n, k, best, kana;
    size_t                count[weaveit_nelts(weaveit_script_voices)];
    uint32_t              cp;
    hb_script_t           script;
    hb_unicode_funcs_t   *ufuncs;

    memset(count, 0, sizeof(count));
    ufuncs = hb_unicode_funcs_get_default();
    kana = 0;

    for (i = 0; i < len; i += n) {
        n = weaveit_utf8_next((const unsigned char *) text + i, len - i,
                              &cp);
        script = hb_unicode_script(ufuncs, cp);

        if (script == HB_SCRIPT_HIRAGANA || script == HB_SCRIPT_KATAKANA) {
            kana++;
        }

        for (k = 0; k < weaveit_nelts(weaveit_script_voices); k++) {
            if (weaveit_script_voices[k].script == script) {
                count[k]++;
                break;
            }
        }
    }

    best = 0;

    for (k = 1; k < weaveit_nelts(weaveit_script_voices); k++) {
        if (count[k] > count[best]) {
            best = k;
        }
    }

    if (count[best] == 0) {
        return HB_SCRIPT_COMMON;
    }

    script = weaveit_script_voices[best].script;

    return (script == HB_SCRIPT_HAN && kana > 0) ? HB_SCRIPT_HIRAGANA
                                                 : script;
}


static const char *
weaveit_voice_of_script(hb_script_t script)
{
    size_t  k;

    for (k = 0; k < weaveit_nelts(weaveit_script_voices); k++) {
        if (weaveit_script_voices[k].script == script) {
            return weaveit_script_voices[k].voice;
        }
    }

    return NULL;
}


/* espeak-ng's data may be installed without some languages */

static int
weaveit_voice_installed(const char *voice)
{
    char                  err[256];
    weaveit_voice_find_t  find;

    find.voice = voice;
    find.installed = 0;

    if (weaveit_espeak_voices(weaveit_voice_match, &find, err, sizeof(err))
        != 0)
    {
        return 0;
    }

    return find.installed;
}


static void
weaveit_voice_match(void *data, const char *name, const char *language)
{
    weaveit_voice_find_t  *find;

    (void) language;

    find = data;

    if (strcmp(name, find->voice) == 0) {
        find->installed = 1;
    }
}
