/*
 * Renders every frame of an N-character script (default 1280x720, paced
 * at 175 words per minute) and prints the peak resident memory, so that
 * t/unit/03-memory.t can compare a short and a long script.  With
 * "markdown", the script is Markdown-lite: parsed, its shown text
 * rendered with its code blocks held, its spoken words timed.
 *
 *   test_memory CHARS FPS [markdown]  ->  "hwm_kb lines frames checksum"
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weaveit_internal.h"


/* fallback fonts in use: Chinese, Arabic, colour emoji */
static const char  para[] =
    "Now we walk through the loop below and explain every line of it.\n"
    "    for (i = 0; i < count; i++) {\n"
    "        sum += items[i] * weights[i];   /* \xe5\x8a\xa0\xe6\x9d\x83"
    "\xe6\xb1\x82\xe5\x92\x8c \xf0\x9f\x8e\x89 */\n"
    "    }\n"
    "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd8\xa8\xd8\xa7\xd9\x84"
    "\xd8\xb9\xd8\xa7\xd9\x84\xd9\x85\n\n";

static const char  para_md[] =
    "## A step\n\nNow we walk through the `loop` below, **line** by line.\n"
    "```c\n"
    "for (i = 0; i < count; i++) {\n"
    "    sum += items[i] * weights[i];   /* \xe5\x8a\xa0\xe6\x9d\x83 */\n"
    "}\n"
    "```\n"
    "It adds each item \xf0\x9f\x8e\x89 times its weight to the sum.\n"
    "- one\n- two\n\n";


static long
peak_kb(void)
{
    long   kb;
    char   line[256];
    FILE  *f;

    kb = -1;
    f = fopen("/proc/self/status", "r");

    if (f == NULL) {
        return -1;
    }

    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) {
            break;
        }
    }

    fclose(f);

    return kb;
}


int
main(int argc, char **argv)
{
    int                  linesize[3], fps, markdown;
    char                *text, *spoken, err[256];
    size_t               chars, len, i, n, nholds, unit;
    uint8_t             *data[3];
    double               t, end;
    unsigned long        sum, frames;
    const char          *shown, *source;
    weaveit_word_t      *words;
    weaveit_hold_t      *holds;
    weaveit_params_t     p;
    weaveit_render_t    *r;
    weaveit_markdown_t   md;

    chars = (argc > 1) ? strtoul(argv[1], NULL, 10) : 20000;
    fps = (argc > 2) ? atoi(argv[2]) : 5;
    markdown = (argc > 3 && strcmp(argv[3], "markdown") == 0);
    source = markdown ? para_md : para;
    unit = markdown ? sizeof(para_md) - 1 : sizeof(para) - 1;

    text = malloc(chars + unit + 1);
    words = malloc((chars / 2 + 1) * sizeof(weaveit_word_t));

    if (text == NULL || words == NULL || fps <= 0) {
        return 1;
    }

    for (len = 0; len < chars; len += unit) {
        memcpy(text + len, source, unit);
    }

    len = chars;
    text[len] = '\0';

    memset(&md, 0, sizeof(weaveit_markdown_t));
    shown = text;
    spoken = text;
    holds = NULL;
    nholds = 0;

    if (markdown) {
        if (weaveit_markdown_parse(text, len, &md, err, sizeof(err)) != 0) {
            fprintf(stderr, "test_memory: %s\n", err);
            return 1;
        }

        shown = md.shown;
        spoken = md.spoken;
        len = md.spoken_len;
        holds = malloc((md.nmarks + 1) * sizeof(weaveit_hold_t));

        if (holds == NULL) {
            return 1;
        }

        nholds = weaveit_markdown_holds(&md, holds);
    }

    /* a word at every token start, 175 words per minute */
    n = 0;

    for (i = 0; i < len; i++) {
        if (spoken[i] != ' ' && spoken[i] != '\n'
            && (i == 0 || spoken[i - 1] == ' ' || spoken[i - 1] == '\n'))
        {
            words[n].offset = markdown ? weaveit_markdown_shown(&md, i) : i;
            words[n].length = 1;
            words[n].sample = (int64_t) n * 22050 * 60 / 175;
            n++;
        }
    }

    end = (double) n * 60 / 175 + 1;

    weaveit_params_init(&p);

    r = markdown ? weaveit_render_markdown(&p, &md, err, sizeof(err))
                 : weaveit_render_create(&p, shown, len, err, sizeof(err));
    if (r == NULL
        || weaveit_render_set_holds(r, holds, nholds, err, sizeof(err)) != 0
        || weaveit_render_set_timing(r, words, n, 22050, end, err,
                                     sizeof(err)) != 0)
    {
        fprintf(stderr, "test_memory: %s\n", err);
        return 1;
    }

    linesize[0] = p.width;
    linesize[1] = linesize[2] = p.width / 2;
    data[0] = malloc((size_t) p.width * p.height);
    data[1] = malloc((size_t) p.width * p.height / 4);
    data[2] = malloc((size_t) p.width * p.height / 4);

    if (data[0] == NULL || data[1] == NULL || data[2] == NULL) {
        return 1;
    }

    sum = 0;
    frames = 0;

    for (t = 0; t < end; t += 1.0 / fps) {
        weaveit_render_frame(r, t, data, linesize);
        sum += data[0][(frames * 7919) % ((size_t) p.width * p.height)];
        frames++;
    }

    printf("%ld %zu %lu %lu\n", peak_kb(), weaveit_render_nlines(r), frames,
           sum);

    weaveit_render_destroy(r);
    free(data[0]);
    free(data[1]);
    free(data[2]);
    free(words);
    free(holds);
    weaveit_markdown_free(&md);
    free(text);

    return 0;
}
