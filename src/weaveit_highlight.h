/*
 * Syntax highlighting (weaveit_highlight.cpp): plain C on both sides, so
 * that the C++ shim over GNU Source-highlight needs nothing else of the
 * core.
 */

#ifndef _WEAVEIT_HIGHLIGHT_H_INCLUDED_
#define _WEAVEIT_HIGHLIGHT_H_INCLUDED_


#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif


enum {
    WEAVEIT_TOKEN_NONE = -1,
    WEAVEIT_TOKEN_KEYWORD,
    WEAVEIT_TOKEN_TYPE,
    WEAVEIT_TOKEN_STRING,
    WEAVEIT_TOKEN_NUMBER,
    WEAVEIT_TOKEN_COMMENT,
    WEAVEIT_TOKEN_FUNCTION,
    WEAVEIT_TOKEN_PREPROCESSOR,
    WEAVEIT_TOKENS
};

/* a token at bytes [start, end) of the code, in increasing order */
typedef void (*weaveit_token_pt)(void *data, size_t start, size_t end,
    int token);

/*
 * Calls handler for each token of code (lines end with '\n') in the
 * language lang names ("python", "py", "c"...): none for a language
 * Source-highlight does not know.  Returns 0, or -1 with a message.
 */
int weaveit_highlight(const char *lang, const char *code, size_t len,
    weaveit_token_pt handler, void *data, char *err, size_t errlen);


#ifdef __cplusplus
}
#endif

#endif /* _WEAVEIT_HIGHLIGHT_H_INCLUDED_ */
