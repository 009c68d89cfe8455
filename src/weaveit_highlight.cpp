/*
 * Syntax highlighting: a C shim over GNU Source-highlight, the library
 * gdb's source view uses, with its ~150 .lang definitions.  Its C++
 * (exceptions, Boost) stays in this file: the core calls one C function
 * that reports tokens as byte ranges of the code and their class.
 *
 * A Formatter per token class records where SourceHighlighter says each
 * element starts within the line (unoptimised: its optimisation merges
 * elements but loses their place); the highlighter's state carries over
 * from line to line, so comments and strings may span lines.  Every
 * call builds its own highlighter: calls may run in several threads.
 */

#include <cstdio>
#include <string>

#include <srchilite/formatter.h>
#include <srchilite/formattermanager.h>
#include <srchilite/formatterparams.h>
#include <srchilite/langdefmanager.h>
#include <srchilite/langmap.h>
#include <srchilite/regexrulefactory.h>
#include <srchilite/sourcehighlighter.h>

#include "weaveit_highlight.h"


#define WEAVEIT_HIGHLIGHT_DATA  "/usr/share/source-highlight"


namespace {

struct weaveit_tokens_t {
    weaveit_token_pt    handler;
    void               *data;
    size_t              line;           /* the line's offset in the code */
};


class weaveit_formatter_t: public srchilite::Formatter {
public:
    weaveit_formatter_t(weaveit_tokens_t *t, int token)
        : tokens(t), token(token) {}

    void format(const std::string &s,
        const srchilite::FormatterParams *params) override
    {
        size_t  start;

        if (token == WEAVEIT_TOKEN_NONE || params == NULL
            || params->start < 0 || s.empty())
        {
            return;
        }

        start = tokens->line + (size_t) params->start;
        tokens->handler(tokens->data, start, start + s.size(), token);
    }

private:
    weaveit_tokens_t  *tokens;
    int                token;
};


/* Source-highlight's element names, by the class they are shown in */

const struct {
    const char  *name;
    int          token;
} weaveit_elements[] = {
    { "keyword", WEAVEIT_TOKEN_KEYWORD },
    { "type", WEAVEIT_TOKEN_TYPE },
    { "usertype", WEAVEIT_TOKEN_TYPE },
    { "classname", WEAVEIT_TOKEN_TYPE },
    { "string", WEAVEIT_TOKEN_STRING },
    { "regexp", WEAVEIT_TOKEN_STRING },
    { "specialchar", WEAVEIT_TOKEN_STRING },
    { "number", WEAVEIT_TOKEN_NUMBER },
    { "comment", WEAVEIT_TOKEN_COMMENT },
    { "todo", WEAVEIT_TOKEN_COMMENT },
    { "function", WEAVEIT_TOKEN_FUNCTION },
    { "preproc", WEAVEIT_TOKEN_PREPROCESSOR }
};


/* the .lang file of a language name ("py", "python"), or "" */

std::string
weaveit_lang_file(const std::string &lang)
{
    srchilite::LangMap  map(WEAVEIT_HIGHLIGHT_DATA, "lang.map");

    map.open();

    return map.getMappedFileName(lang);
}


void
weaveit_highlight_lines(srchilite::SourceHighlighter &hl,
    weaveit_tokens_t *tokens, const char *code, size_t len)
{
    size_t  i, end;

    for (i = 0; i < len; i = end + 1) {
        end = i;

        while (end < len && code[end] != '\n') {
            end++;
        }

        tokens->line = i;
        hl.highlightParagraph(std::string(code + i, end - i));
    }
}

}


extern "C" int
weaveit_highlight(const char *lang, const char *code, size_t len,
    weaveit_token_pt handler, void *data, char *err, size_t errlen)
{
    size_t            i;
    std::string       file;
    weaveit_tokens_t  tokens;

    tokens.handler = handler;
    tokens.data = data;
    tokens.line = 0;

    try {
        file = weaveit_lang_file(lang);

        if (file.empty()) {
            return 0;
        }

        srchilite::RegexRuleFactory         factory;
        srchilite::LangDefManager           langdefs(&factory);
        srchilite::FormatterManager         formatters(
                                                srchilite::FormatterPtr(
                                                new weaveit_formatter_t(
                                                    &tokens,
                                                    WEAVEIT_TOKEN_NONE)));
        srchilite::FormatterParams          params;
        srchilite::SourceHighlighter        hl(langdefs.getHighlightState(
                                                WEAVEIT_HIGHLIGHT_DATA,
                                                file));

        for (i = 0; i < sizeof(weaveit_elements)
                        / sizeof(weaveit_elements[0]); i++)
        {
            formatters.addFormatter(weaveit_elements[i].name,
                                    srchilite::FormatterPtr(
                                        new weaveit_formatter_t(
                                            &tokens,
                                            weaveit_elements[i].token)));
        }

        hl.setFormatterManager(&formatters);
        hl.setFormatterParams(&params);
        hl.setOptimize(false);

        weaveit_highlight_lines(hl, &tokens, code, len);

    } catch (const std::exception &e) {
        (void) snprintf(err, errlen, "highlighting \"%s\": %s", lang,
                        e.what());
        return -1;

    } catch (...) {
        (void) snprintf(err, errlen, "highlighting \"%s\" failed", lang);
        return -1;
    }

    return 0;
}
