/* speech: input validation, word timings mapped to byte offsets */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "weaveit_internal.h"
#include "tap.h"


static const char  script[] =
    "Héllo wörld, this is a short test.\n"
    "\n"
    "    int total = add(40, 2);\n"
    "\tprintf(\"%d\\n\", total);\n"
    "We end here.\n";


/* every whitespace-separated token holding a letter has a word in it */
static int
covered(const weaveit_speech_t *sp, const char *text, size_t len)
{
    int     letter;
    size_t  i, s, k, found;

    for (i = 0; i < len; /* void */ ) {
        while (i < len && isspace((unsigned char) text[i])) {
            i++;
        }

        s = i;
        letter = 0;

        while (i < len && !isspace((unsigned char) text[i])) {
            letter |= isalpha((unsigned char) text[i])
                      || (unsigned char) text[i] >= 0x80;
            i++;
        }

        if (!letter) {
            continue;
        }

        found = 0;

        for (k = 0; k < sp->nwords; k++) {
            if (sp->words[k].offset >= s && sp->words[k].offset < i) {
                found = 1;
                break;
            }
        }

        if (!found) {
            diag("no word event in \"%.*s\"", (int) (i - s), text + s);
            return 0;
        }
    }

    return 1;
}


int
main(void)
{
    int               rc, mono, starts;
    char              err[256];
    size_t            k, len;
    weaveit_speech_t  sp;

    static const struct {
        const char  *text;
        size_t       len;
        const char  *want;
    } bad[] = {
        { "", 0, "empty" },
        { " \t\n\r\n  ", 7, "empty" },
        { "abc\0def", 7, "NUL" },
        { "abc\xff", 4, "UTF-8" },
        { "abc\xc3", 4, "UTF-8" },                /* truncated */
        { "\xc0\xaf", 2, "UTF-8" },               /* overlong '/' */
        { "\xed\xa0\x80", 3, "UTF-8" },           /* UTF-16 surrogate */
        { "\xf4\x90\x80\x80", 4, "UTF-8" },       /* beyond U+10FFFF */
    };

    tap_plan(20);

    for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        err[0] = '\0';
        rc = weaveit_text_check(bad[k].text, bad[k].len, "script", err,
                                sizeof(err));
        ok(rc == -1 && strstr(err, bad[k].want) != NULL,
           "bad input %zu rejected: %s", k, err);
    }

    ok(weaveit_text_check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
                          "script", err, sizeof(err)) == 0,
       "valid multi-byte UTF-8 accepted");

    rc = weaveit_tts("en", 175, "abc\xff", 4, &sp, err, sizeof(err));
    ok(rc == -1 && strstr(err, "UTF-8") && sp.pcm == NULL,
       "tts rejects invalid UTF-8: %s", err);

    rc = weaveit_tts("no-such-voice", 175, "hello", 5, &sp, err,
                     sizeof(err));
    ok(rc == -1 && strstr(err, "no-such-voice") != NULL,
       "unknown voice: %s", err);

    len = sizeof(script) - 1;
    rc = weaveit_tts("en", 175, script, len, &sp, err, sizeof(err));
    ok(rc == 0, "synthesised (%s)", rc ? err : "ok");

    if (rc != 0) {
        return 1;
    }

    ok(sp.sample_rate == 22050 && sp.samples > 22050 * 3,
       "%zu samples at %d Hz", sp.samples, sp.sample_rate);

    mono = 1;
    starts = 1;

    for (k = 0; k < sp.nwords; k++) {
        if (k > 0 && (sp.words[k].offset <= sp.words[k - 1].offset
                      || sp.words[k].sample < sp.words[k - 1].sample))
        {
            mono = 0;
        }

        if (sp.words[k].offset >= len || sp.words[k].sample < 0
            || (size_t) sp.words[k].sample >= sp.samples
            || isspace((unsigned char) script[sp.words[k].offset]))
        {
            starts = 0;
        }
    }

    ok(mono && sp.nwords >= 15, "%zu word timings increase monotonically",
       sp.nwords);
    ok(starts, "every word starts on a non-space byte inside the audio");
    ok(covered(&sp, script, len), "every word of the script is covered");

    /* "Héllo wörld": the second word is at character 7, byte 7 (0-based) */
    ok(sp.words[0].offset == 0 && sp.words[1].offset == 7
       && sp.words[1].length == 6,
       "character positions map to byte offsets (%zu, %zu+%zu)",
       sp.words[0].offset, sp.words[1].offset, sp.words[1].length);

    ok(sp.words[sp.nwords - 1].offset == strstr(script, "here") - script,
       "the last word is the last one of the script");

    weaveit_speech_free(&sp);
    ok(sp.pcm == NULL && sp.words == NULL, "speech freed");

    rc = weaveit_tts("en", 350, script, len, &sp, err, sizeof(err));
    ok(rc == 0 && sp.samples < 22050 * 7, "rate 350 is faster: %zu samples",
       sp.samples);
    weaveit_speech_free(&sp);

    return tap_done();
}
