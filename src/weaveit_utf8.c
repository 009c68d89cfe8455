/*
 * UTF-8 decoding and the blank text: libc only, so that the nginx module
 * links this file too and refuses a blank script or title (a 400) by the
 * same rule the generator would refuse it by.
 */

#include "weaveit_internal.h"


size_t
weaveit_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t    len, i;
    uint32_t  c, min;

    if (n == 0) {
        return 0;
    }

    c = p[0];

    if (c < 0x80) {
        *cp = c;
        return 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        len = 2; c &= 0x1f; min = 0x80;

    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3; c &= 0x0f; min = 0x800;

    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4; c &= 0x07; min = 0x10000;

    } else {
        return 0;
    }

    if (n < len) {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        c = (c << 6) | (p[i] & 0x3f);
    }

    /* overlong forms, UTF-16 surrogates and beyond U+10FFFF */
    if (c < min || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff) {
        return 0;
    }

    *cp = c;
    return len;
}


/* the renderer draws what it cannot decode rather than failing the video */

size_t
weaveit_utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t  len;

    len = weaveit_utf8_decode(p, n, cp);

    if (len == 0) {
        *cp = 0xfffd;
        return 1;
    }

    return len;
}


/* the characters a script or title may be made of and still be empty */

int
weaveit_is_blank(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v'
           || cp == '\f' || cp == 0xa0;
}


int
weaveit_text_blank(const char *text, size_t len)
{
    size_t    i;
    uint32_t  cp;

    for (i = 0; i < len; /* void */ ) {
        i += weaveit_utf8_next((const unsigned char *) text + i, len - i, &cp);

        if (!weaveit_is_blank(cp)) {
            return 0;
        }
    }

    return 1;
}
