
/*
 * The rules of HTTP that WeaveIt applies itself, the syntax of its ids
 * (base58 wallets included) and the text a wallet signs, as plain
 * functions on buffers: no request, no pool, no call into nginx's runtime
 * (header dates arrive already parsed by ngx_parse_http_time()).
 * t/unit/test_http.c drives them with tables of header values, and a
 * fuzzer can call them directly; ngx_http_weaveit_video.c and
 * ngx_http_weaveit_auth.c apply them to a request.
 */


#include "ngx_http_weaveit.h"

#include <strings.h>
#include <uuid/uuid.h>


static u_char *ngx_http_weaveit_range_spec(u_char *p, u_char *last,
    off_t length, off_t *start, off_t *end);
static u_char *ngx_http_weaveit_range_number(u_char *p, u_char *last,
    off_t *n);
static u_char *ngx_http_weaveit_range_next(u_char *p, u_char *last);
static u_char *ngx_http_weaveit_skip_blanks(u_char *p, u_char *last);
static u_char *ngx_http_weaveit_filename_quoted(u_char *p, u_char *name,
    size_t len);
static u_char *ngx_http_weaveit_filename_encoded(u_char *p, u_char *name,
    size_t len);
static void ngx_http_weaveit_reverse(u_char *p, size_t len);
static ngx_uint_t ngx_http_weaveit_has_newline(ngx_str_t *s);


/*
 * RFC 9110 section 13.2.2, in its order: If-Match, If-Unmodified-Since,
 * If-None-Match, If-Modified-Since.  Returns NGX_OK, NGX_HTTP_NOT_MODIFIED
 * or NGX_HTTP_PRECONDITION_FAILED.
 */

ngx_int_t
ngx_http_weaveit_preconditions(ngx_http_weaveit_conditions_t *c,
    ngx_str_t *etag, time_t mtime)
{
    if (c->if_match) {
        if (!ngx_http_weaveit_etag_match(c->if_match, etag, 0)) {
            return NGX_HTTP_PRECONDITION_FAILED;
        }

    } else if (c->if_unmodified_since != NGX_ERROR
               && mtime > c->if_unmodified_since)
    {
        return NGX_HTTP_PRECONDITION_FAILED;
    }

    if (c->if_none_match) {
        return ngx_http_weaveit_etag_match(c->if_none_match, etag, 1)
               ? NGX_HTTP_NOT_MODIFIED : NGX_OK;
    }

    if (c->if_modified_since != NGX_ERROR
        && mtime <= c->if_modified_since)
    {
        return NGX_HTTP_NOT_MODIFIED;
    }

    return NGX_OK;
}


/*
 * Whether a list of entity tags ("*", or "a", W/"b", ...) holds ours; a
 * weak tag matches only in the weak comparison.  A malformed list
 * matches nothing.
 */

ngx_uint_t
ngx_http_weaveit_etag_match(ngx_str_t *list, ngx_str_t *etag,
    ngx_uint_t weak)
{
    u_char      *p, *last, *tag;
    ngx_uint_t   is_weak;

    p = ngx_http_weaveit_skip_blanks(list->data, list->data + list->len);
    last = list->data + list->len;

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    if (last - p == 1 && *p == '*') {
        return 1;
    }

    for ( ;; ) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        if (p == last) {
            return 0;
        }

        is_weak = 0;

        if (last - p > 2 && p[0] == 'W' && p[1] == '/') {
            is_weak = 1;
            p += 2;
        }

        if (*p != '"') {
            return 0;
        }

        tag = p++;

        while (p < last && *p != '"') {
            p++;
        }

        if (p == last) {
            return 0;
        }

        p++;

        if ((weak || !is_weak)
            && (size_t) (p - tag) == etag->len
            && ngx_strncmp(tag, etag->data, etag->len) == 0)
        {
            return 1;
        }
    }
}


/*
 * Whether a Range is to be honoured: there is no If-Range, or it holds a
 * strong match of the ETag or exactly the Last-Modified date.
 */

ngx_uint_t
ngx_http_weaveit_if_range(ngx_http_weaveit_conditions_t *c, ngx_str_t *etag,
    time_t mtime)
{
    ngx_str_t  *v;

    v = c->if_range;

    if (v == NULL) {
        return 1;
    }

    if (v->len >= 2 && v->data[v->len - 1] == '"') {
        return v->len == etag->len
               && ngx_strncmp(v->data, etag->data, etag->len) == 0;
    }

    return c->if_range_date != NGX_ERROR && c->if_range_date == mtime;
}


/*
 * A Range value, with the arithmetic of nginx's range filter: "a-b" with
 * b past the end stops at the end, "-n" longer than the video is all of
 * it, "-0" and a start at or past the end are unsatisfiable.  Unlike
 * nginx, a value that does not parse is ignored rather than refused, as
 * RFC 9110 lets us.  Several satisfiable ranges are answered with the
 * whole video (the README says so): browsers never ask for them, and
 * RFC 9110 allows it.  Returns NGX_OK for one range [*start, *end),
 * NGX_DECLINED for "send it all", or NGX_HTTP_RANGE_NOT_SATISFIABLE.
 */

ngx_int_t
ngx_http_weaveit_parse_range(ngx_str_t *value, off_t length, off_t *start,
    off_t *end)
{
    off_t        s, e;
    u_char      *p, *last;
    ngx_uint_t   n;

    /* libc's strncasecmp(): this file links without nginx's runtime */

    if (value->len < 7
        || strncasecmp((char *) value->data, "bytes=", 6) != 0)
    {
        return NGX_DECLINED;
    }

    p = value->data + 6;
    last = value->data + value->len;
    n = 0;

    for ( ;; ) {
        p = ngx_http_weaveit_range_spec(p, last, length, &s, &e);

        if (p == NULL) {
            return NGX_DECLINED;
        }

        if (s < e && n++ == 0) {
            *start = s;
            *end = e;
        }

        if (p == last) {
            break;
        }

        p++;
    }

    if (n == 0) {
        return (length == 0) ? NGX_DECLINED : NGX_HTTP_RANGE_NOT_SATISFIABLE;
    }

    return (n == 1) ? NGX_OK : NGX_DECLINED;
}


/*
 * One "a-b", "a-" or "-n" as [*start, *end), empty if unsatisfiable.
 * Returns where it ends (the end, or the comma before the next one), or
 * NULL if it is malformed: that makes the whole header invalid, "b < a"
 * included (RFC 9110 section 14.1.1).
 */

static u_char *
ngx_http_weaveit_range_spec(u_char *p, u_char *last, off_t length,
    off_t *start, off_t *end)
{
    off_t  n;

    p = ngx_http_weaveit_skip_blanks(p, last);

    if (p == last) {
        return NULL;
    }

    if (*p == '-') {
        p = ngx_http_weaveit_range_number(p + 1, last, &n);
        if (p == NULL) {
            return NULL;
        }

        *start = (n < length) ? length - n : 0;
        *end = length;

        return ngx_http_weaveit_range_next(p, last);
    }

    p = ngx_http_weaveit_range_number(p, last, start);
    if (p == NULL) {
        return NULL;
    }

    p = ngx_http_weaveit_skip_blanks(p, last);

    if (p == last || *p++ != '-') {
        return NULL;
    }

    p = ngx_http_weaveit_skip_blanks(p, last);

    if (p == last || *p == ',') {
        *end = length;
        return p;
    }

    p = ngx_http_weaveit_range_number(p, last, &n);
    if (p == NULL || n < *start) {
        return NULL;
    }

    *end = (n >= length) ? length : n + 1;

    return ngx_http_weaveit_range_next(p, last);
}


/* at least one digit, and no overflow of off_t */

static u_char *
ngx_http_weaveit_range_number(u_char *p, u_char *last, off_t *n)
{
    off_t  value, cutoff, cutlim;

    if (p == last || *p < '0' || *p > '9') {
        return NULL;
    }

    cutoff = NGX_MAX_OFF_T_VALUE / 10;
    cutlim = NGX_MAX_OFF_T_VALUE % 10;
    value = 0;

    while (p < last && *p >= '0' && *p <= '9') {
        if (value >= cutoff && (value > cutoff || *p - '0' > cutlim)) {
            return NULL;
        }

        value = value * 10 + (*p++ - '0');
    }

    *n = value;

    return p;
}


/* after a range: blanks, then the end or a comma */

static u_char *
ngx_http_weaveit_range_next(u_char *p, u_char *last)
{
    p = ngx_http_weaveit_skip_blanks(p, last);

    return (p == last || *p == ',') ? p : NULL;
}


static u_char *
ngx_http_weaveit_skip_blanks(u_char *p, u_char *last)
{
    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return p;
}


/*
 * Content-Disposition: inline; filename="<title or id>.mp4", quoted with
 * '"' and '\' escaped; non-ASCII becomes '_' there, and the exact UTF-8
 * name goes in filename* (RFC 6266, RFC 8187).  Control characters are
 * never sent.  A title longer than NGX_HTTP_WEAVEIT_FILENAME_MAX bytes is
 * cut at a character boundary.  buf has NGX_HTTP_WEAVEIT_DISPOSITION_LEN
 * bytes; returns the end of the value.
 */

u_char *
ngx_http_weaveit_disposition(u_char *buf, u_char *title, size_t len,
    ngx_str_t *id)
{
    u_char  *p;
    size_t   i;

    while (len && (*title == ' ' || *title == '\t')) {
        title++;
        len--;
    }

    if (len == 0) {
        title = id->data;
        len = id->len;
    }

    if (len > NGX_HTTP_WEAVEIT_FILENAME_MAX) {
        len = NGX_HTTP_WEAVEIT_FILENAME_MAX;

        while (len && (title[len] & 0xc0) == 0x80) {
            len--;
        }
    }

    p = ngx_cpymem(buf, "inline; filename=\"",
                   sizeof("inline; filename=\"") - 1);
    p = ngx_http_weaveit_filename_quoted(p, title, len);
    p = ngx_cpymem(p, ".mp4\"", sizeof(".mp4\"") - 1);

    for (i = 0; i < len; i++) {
        if (title[i] >= 0x80) {
            p = ngx_cpymem(p, "; filename*=UTF-8''",
                           sizeof("; filename*=UTF-8''") - 1);
            p = ngx_http_weaveit_filename_encoded(p, title, len);
            return ngx_cpymem(p, ".mp4", sizeof(".mp4") - 1);
        }
    }

    return p;
}


/* a quoted-string: one '_' for each control or non-ASCII character */

static u_char *
ngx_http_weaveit_filename_quoted(u_char *p, u_char *name, size_t len)
{
    u_char  c;
    size_t  i;

    for (i = 0; i < len; i++) {
        c = name[i];

        if (c < 0x20 || c == 0x7f) {
            *p++ = '_';

        } else if (c >= 0x80) {
            if (c >= 0xc0) {
                *p++ = '_';
            }

        } else {
            if (c == '"' || c == '\\') {
                *p++ = '\\';
            }

            *p++ = c;
        }
    }

    return p;
}


/* RFC 8187 ext-value characters, percent-encoding the rest */

static u_char *
ngx_http_weaveit_filename_encoded(u_char *p, u_char *name, size_t len)
{
    u_char  c;
    size_t  i;

    static u_char  hex[] = "0123456789ABCDEF";

    for (i = 0; i < len; i++) {
        c = name[i];

        if (c < 0x20 || c == 0x7f) {
            *p++ = '_';

        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                   || (c >= '0' && c <= '9')
                   || ngx_strchr("!#$&+-.^_`|~", c) != NULL)
        {
            *p++ = c;

        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0x0f];
        }
    }

    return p;
}


ngx_uint_t
ngx_http_weaveit_is_uuid(ngx_str_t *s)
{
    char    text[NGX_HTTP_WEAVEIT_UUID_LEN + 1];
    uuid_t  uu;

    if (s->len != NGX_HTTP_WEAVEIT_UUID_LEN) {
        return 0;
    }

    ngx_memcpy(text, s->data, NGX_HTTP_WEAVEIT_UUID_LEN);
    text[NGX_HTTP_WEAVEIT_UUID_LEN] = '\0';

    return uuid_parse(text, uu) == 0;
}


/*
 * Base58 (Bitcoin's alphabet) into at most "size" bytes: each leading '1'
 * is a zero byte, the rest a big-endian number.  Returns the number of
 * bytes, or NGX_ERROR for a character outside the alphabet or a value that
 * does not fit.  Debian packages no base58 library, hence this decoder.
 * The work is bounded by "size", not by the text: a digit after the
 * leading '1's multiplies the value by 58, so a long text overflows early.
 */

ssize_t
ngx_http_weaveit_base58_decode(ngx_str_t *text, u_char *dst, size_t size)
{
    u_char      *s;
    size_t       i, j, len, zeros, used;
    ngx_uint_t   carry;
    const char  *digit;

    static const char  alphabet[] =
        "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

    s = text->data;
    len = text->len;

    for (zeros = 0; zeros < len && s[zeros] == '1'; zeros++) {
        if (zeros == size) {
            return NGX_ERROR;
        }
    }

    /* the number, little-endian in dst[0 .. used) while it grows */

    used = 0;

    for (i = zeros; i < len; i++) {
        digit = (s[i] == '\0') ? NULL : ngx_strchr(alphabet, s[i]);
        if (digit == NULL) {
            return NGX_ERROR;
        }

        carry = digit - alphabet;

        for (j = 0; j < used; j++) {
            carry += 58 * dst[j];
            dst[j] = carry & 0xff;
            carry >>= 8;
        }

        while (carry) {
            if (zeros + used == size) {
                return NGX_ERROR;
            }

            dst[used++] = carry & 0xff;
            carry >>= 8;
        }
    }

    ngx_http_weaveit_reverse(dst, used);
    ngx_memmove(dst + zeros, dst, used);
    ngx_memzero(dst, zeros);

    return zeros + used;
}


static void
ngx_http_weaveit_reverse(u_char *p, size_t len)
{
    u_char  c;
    size_t  i;

    for (i = 0; i < len / 2; i++) {
        c = p[i];
        p[i] = p[len - 1 - i];
        p[len - 1 - i] = c;
    }
}


/*
 * A Solana public key: 32 to 44 base58 characters decoding to exactly
 * 32 bytes.
 */

ngx_uint_t
ngx_http_weaveit_is_wallet(ngx_str_t *wallet)
{
    u_char  key[NGX_HTTP_WEAVEIT_WALLET_KEY_LEN];

    if (wallet->len < 32 || wallet->len > 44) {
        return 0;
    }

    return ngx_http_weaveit_base58_decode(wallet, key, sizeof(key))
           == NGX_HTTP_WEAVEIT_WALLET_KEY_LEN;
}


/*
 * The text a wallet signs (weaveit_auth signature), lines joined by '\n',
 * none after the last:
 *
 *     WeaveIt request
 *     <method> <path and query as in the request line>
 *     wallet: <wallet>
 *     timestamp: <timestamp>
 *     body-sha256: <lowercase hex>
 *
 * A field holding a '\n' could forge the lines after it, so it is refused
 * (NULL), as is a buffer smaller than ngx_http_weaveit_signed_len().
 * Returns the end of the text.
 */

u_char *
ngx_http_weaveit_signed_message(u_char *buf, size_t size,
    ngx_http_weaveit_signed_t *s)
{
    u_char  *p;

    if (size < ngx_http_weaveit_signed_len(s)
        || ngx_http_weaveit_has_newline(&s->method)
        || ngx_http_weaveit_has_newline(&s->uri)
        || ngx_http_weaveit_has_newline(&s->wallet)
        || ngx_http_weaveit_has_newline(&s->timestamp)
        || ngx_http_weaveit_has_newline(&s->body_sha256))
    {
        return NULL;
    }

    p = ngx_cpymem(buf, "WeaveIt request\n", sizeof("WeaveIt request\n") - 1);
    p = ngx_cpymem(p, s->method.data, s->method.len);
    *p++ = ' ';
    p = ngx_cpymem(p, s->uri.data, s->uri.len);
    p = ngx_cpymem(p, "\nwallet: ", sizeof("\nwallet: ") - 1);
    p = ngx_cpymem(p, s->wallet.data, s->wallet.len);
    p = ngx_cpymem(p, "\ntimestamp: ", sizeof("\ntimestamp: ") - 1);
    p = ngx_cpymem(p, s->timestamp.data, s->timestamp.len);
    p = ngx_cpymem(p, "\nbody-sha256: ", sizeof("\nbody-sha256: ") - 1);
    p = ngx_cpymem(p, s->body_sha256.data, s->body_sha256.len);

    return p;
}


size_t
ngx_http_weaveit_signed_len(ngx_http_weaveit_signed_t *s)
{
    return sizeof("WeaveIt request\n \nwallet: \ntimestamp: \nbody-sha256: ")
           - 1 + s->method.len + s->uri.len + s->wallet.len
           + s->timestamp.len + s->body_sha256.len;
}


static ngx_uint_t
ngx_http_weaveit_has_newline(ngx_str_t *s)
{
    return ngx_strlchr(s->data, s->data + s->len, '\n') != NULL;
}


/*
 * X-WeaveIt-Timestamp: unix seconds, digits alone.  Returns NGX_OK with
 * *ts set when it is within "window" seconds of "now" either way,
 * NGX_DECLINED (*ts set) when it is not, NGX_ERROR when it is not a
 * number of seconds that a time_t holds.
 */

ngx_int_t
ngx_http_weaveit_signature_time(ngx_str_t *value, time_t now, time_t window,
    time_t *ts)
{
    size_t  i;
    time_t  t, cutoff, cutlim;

    if (value->len == 0) {
        return NGX_ERROR;
    }

    cutoff = NGX_MAX_TIME_T_VALUE / 10;
    cutlim = NGX_MAX_TIME_T_VALUE % 10;

    t = 0;

    for (i = 0; i < value->len; i++) {
        if (value->data[i] < '0' || value->data[i] > '9') {
            return NGX_ERROR;
        }

        if (t > cutoff || (t == cutoff && value->data[i] - '0' > cutlim)) {
            return NGX_ERROR;
        }

        t = t * 10 + (value->data[i] - '0');
    }

    *ts = t;

    /* neither difference overflows: neither time is negative */

    return ((t > now) ? t - now : now - t) <= window ? NGX_OK : NGX_DECLINED;
}
