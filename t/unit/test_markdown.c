/*
 * Markdown-lite: what is shown, what is spoken, and the way back from a
 * spoken word to the screen, for the blocks and inline styles and for the
 * edge cases of issue 15 (unterminated fence, empty block, 500-line block,
 * a script of one code block, quotes, CRLF, tabs).
 */

#include <stdlib.h>
#include <string.h>

#include "weaveit_internal.h"
#include "tap.h"


static weaveit_markdown_t  md;


static int
parse(const char *text)
{
    char  err[128];

    weaveit_markdown_free(&md);

    if (weaveit_markdown_parse(text, strlen(text), &md, err, sizeof(err))
        != 0)
    {
        diag("parse: %s", err);
        return -1;
    }

    return 0;
}


static int
shown_is(const char *expect)
{
    if (md.shown_len == strlen(expect) && strcmp(md.shown, expect) == 0) {
        return 1;
    }

    diag("shown: \"%s\"", md.shown);
    return 0;
}


static int
spoken_is(const char *expect)
{
    if (md.spoken_len == strlen(expect) && strcmp(md.spoken, expect) == 0) {
        return 1;
    }

    diag("spoken: \"%s\"", md.spoken);
    return 0;
}


/* the mark of this kind, the nth of them */

static const weaveit_mark_t *
mark(int kind, size_t nth)
{
    size_t  i;

    for (i = 0; i < md.nmarks; i++) {
        if (md.marks[i].kind == kind && nth-- == 0) {
            return &md.marks[i];
        }
    }

    return NULL;
}


/* every spoken word is shown at its mapped offset, byte for byte */

static int
words_map_back(void)
{
    size_t  i, at;

    for (i = 0; i < md.spoken_len; i++) {
        if (md.spoken[i] == ' ' || md.spoken[i] == '\n') {
            continue;
        }

        at = weaveit_markdown_shown(&md, i);

        if (at >= md.shown_len || md.shown[at] != md.spoken[i]) {
            diag("spoken byte %zu maps to shown %zu", i, at);
            return 0;
        }
    }

    return 1;
}


static const char  tutorial[] =
    "# Intro\n"
    "\n"
    "Call `main()` with **care** and _style_.\n"
    "\n"
    "- first\n"
    "* second\n"
    "12. third\n"
    "\n"
    "```c\n"
    "int main(void)\n"
    "{\n"
    "\treturn 0;\n"
    "}\n"
    "```\n"
    "This explains\n"
    "the code.\n";


int
main(void)
{
    size_t                 i;
    char                  *big, *p;
    const weaveit_mark_t  *m;

    tap_plan(38);

    ok(weaveit_format_detect(tutorial, strlen(tutorial))
       == WEAVEIT_FORMAT_MARKDOWN, "a line opening a fence means markdown");
    ok(weaveit_format_detect("a ``` b\n# c", 11) == WEAVEIT_FORMAT_TEXT,
       "backticks inside a line and a # heading alone do not");
    ok(weaveit_format_parse("markdown") == WEAVEIT_FORMAT_MARKDOWN
       && weaveit_format_parse("text") == WEAVEIT_FORMAT_TEXT
       && weaveit_format_parse("Markdown") == -1, "format names");

    ok(parse(tutorial) == 0, "a tutorial parses");
    ok(shown_is("Intro\n\nCall main() with care and style.\n\n"
                "\xe2\x80\xa2 first\n\xe2\x80\xa2 second\n12. third\n\n"
                "int main(void)\n{\n\treturn 0;\n}\n\n"
                "This explains the code."),
       "shown: markers gone, bullets drawn, code verbatim with its tab");
    ok(spoken_is("Intro\n\nCall main() with care and style.\n\nfirst\n\n"
                 "second\n\nthird\n\nThis explains the code."),
       "spoken: prose alone, no list marker, no code");
    ok(words_map_back(), "every spoken byte maps back to the same shown one");

    m = mark(WEAVEIT_MARK_HEADING, 0);
    ok(m && m->level == 1 && m->start == 0 && m->end == 5, "heading mark");
    m = mark(WEAVEIT_MARK_CODE, 0);
    ok(m && md.shown + m->start == strstr(md.shown, "main()")
       && m->end - m->start == 6, "inline code mark");
    m = mark(WEAVEIT_MARK_BOLD, 0);
    ok(m && m->end - m->start == 4
       && memcmp(md.shown + m->start, "care", 4) == 0, "bold mark");
    m = mark(WEAVEIT_MARK_EMPHASIS, 0);
    ok(m && memcmp(md.shown + m->start, "style", m->end - m->start) == 0,
       "emphasis mark");
    ok(mark(WEAVEIT_MARK_LIST, 2) != NULL, "three list items");

    m = mark(WEAVEIT_MARK_CODE_BLOCK, 0);
    ok(m && m->lines == 4 && m->lang_len == 1
       && tutorial[m->lang] == 'c', "code block: four lines, language c");
    ok(m && m->followed
       && strncmp(md.spoken + m->spoken, "\n\nThis explains", 15) == 0,
       "the paragraph after it is spoken from the block's spoken offset");
    ok(m && md.shown[m->start] == 'i' && md.shown[m->end - 1] == '}',
       "the block's shown range is its code");

    ok(parse("Keep snake_case, 2 * 3 * 4 and a *lone star.") == 0
       && shown_is("Keep snake_case, 2 * 3 * 4 and a *lone star.")
       && md.nmarks == 1, "no emphasis inside words or around spaces");
    ok(parse("a `b and **c") == 0 && shown_is("a b and **c"),
       "a lone backtick is dropped, a lone ** is text");

    ok(parse("Intro.\n```python\ndef f():\n    return 1\n") == 0
       && shown_is("Intro.\n\ndef f():\n    return 1")
       && spoken_is("Intro."), "an unterminated fence: the rest is code");
    m = mark(WEAVEIT_MARK_CODE_BLOCK, 0);
    ok(m && !m->followed && m->lines == 2
       && weaveit_markdown_pause(m) > 1.59
       && weaveit_markdown_pause(m) < 1.61,
       "no prose follows: a pause of 1 s + 0.3 s a line");

    ok(parse("Before.\n```\n```\nAfter.\n") == 0
       && spoken_is("Before.\n\nAfter."), "an empty block");
    m = mark(WEAVEIT_MARK_CODE_BLOCK, 0);
    ok(m && m->lines == 0 && m->start == m->end && m->followed,
       "an empty block has no line and is followed");

    big = malloc(20 + 500 * 12);
    p = big + sprintf(big, "```js\n");

    for (i = 0; i < 500; i++) {
        p += sprintf(p, "x = %4zu;\n", i);
    }

    sprintf(p, "```\n");
    ok(parse(big) == 0 && md.spoken_len == 0, "a 500-line block, unspoken");
    m = mark(WEAVEIT_MARK_CODE_BLOCK, 0);
    ok(m && m->lines == 500 && weaveit_markdown_pause(m) == 8.0
       && !m->followed, "a script of one block: 500 lines, an 8 s pause");
    ok(md.shown_len == 500 * 10 - 1, "every line of it is shown");
    free(big);

    ok(parse("> # Quoted\n> - one\n>> 2. two\n") == 0
       && shown_is("Quoted\n\n\xe2\x80\xa2 one\n2. two")
       && spoken_is("Quoted\n\none\n\ntwo"),
       "headings and lists nested in quotes");
    ok(mark(WEAVEIT_MARK_HEADING, 0) && mark(WEAVEIT_MARK_LIST, 1),
       "they are a heading and list items");

    ok(parse("# T\r\n\r\nOne\r\ntwo\r\n```\r\nx\r\n```\r\n") == 0
       && shown_is("T\n\nOne two\n\nx") && spoken_is("T\n\nOne two"),
       "CRLF line ends");
    ok(parse("```\n\tif (a)\n\t\tb();\n```\nSee.") == 0
       && shown_is("\tif (a)\n\t\tb();\n\nSee."), "tabs inside code kept");

    ok(parse("#### Deep\n#nospace") == 0
       && mark(WEAVEIT_MARK_HEADING, 0)->level == 3
       && shown_is("Deep\n\n#nospace"), "#### is level 3; #word is text");

    ok(parse("para one\n\n```\ncode\n```\n```\nmore\n```\n# H\n") == 0
       && !mark(WEAVEIT_MARK_CODE_BLOCK, 0)->followed
       && !mark(WEAVEIT_MARK_CODE_BLOCK, 1)->followed,
       "a heading or a block after a block is no explanation of it");

    ok(parse("```\na\n```\n- item\n") == 0
       && mark(WEAVEIT_MARK_CODE_BLOCK, 0)->followed,
       "a list after a block explains it");

    /* linear time on unmatched delimiters: a long line of them */
    big = malloc(2000001);
    memset(big, '*', 2000000);
    for (i = 1; i < 2000000; i += 2) {
        big[i] = 'x';
    }
    big[2000000] = '\0';
    ok(parse(big) == 0 && md.nmarks == 1 && md.shown_len == 2000000,
       "2 MB of stars no word ends: text, in linear time");
    memset(big, '`', 2000000);
    ok(parse(big) == 0 && md.shown_len == 0 && md.spoken_len == 0,
       "2 MB of backticks: paired inline code, all empty");
    memset(big, '_', 2000000);
    ok(parse(big) == 0, "2 MB of underscores");
    free(big);

    ok(parse("") == 0 && md.shown_len == 0 && md.nmarks == 0,
       "an empty script");
    ok(weaveit_markdown_shown(&md, 5) == 0, "no run maps to 0");

    ok(parse("**a _b_ `c`**") == 0 && spoken_is("a b c")
       && words_map_back(), "styles inside bold");

    ok(parse("_a and *b* and _c") == 0 && spoken_is("_a and b and _c"),
       "a lone _ leaves * emphasis alone");

    weaveit_markdown_free(&md);

    return tap_done();
}
