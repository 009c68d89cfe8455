/*
 * The HTTP rules of src/ngx_http_weaveit_rules.c on plain buffers, table
 * by table: Range values (every form t/video-range.t sends, and the edges
 * no HTTP client would), entity-tag lists, preconditions, If-Range,
 * Content-Disposition file names, UUID and wallet syntax, base58, the text
 * a wallet signs and the window of its timestamp.  Built against nginx's
 * headers and linked with that file alone (mk/http.mk).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_weaveit.h"
#include "tap.h"


#define LEN    300000
#define CHUNK  65536

#define S(s)   { sizeof(s) - 1, (u_char *) s }


typedef struct {
    const char  *value;
    off_t        length;
    ngx_int_t    rc;
    off_t        start;
    off_t        end;            /* exclusive */
} range_case_t;


static const range_case_t  ranges[] = {

    /* one range, as t/video-range.t sends them */
    { "bytes=0-0",                 LEN, NGX_OK, 0, 1 },
    { "bytes=0-99",                LEN, NGX_OK, 0, 100 },
    { "bytes=100-",                LEN, NGX_OK, 100, LEN },
    { "bytes=0-",                  LEN, NGX_OK, 0, LEN },
    { "bytes=-500",                LEN, NGX_OK, LEN - 500, LEN },
    { "bytes=-1",                  LEN, NGX_OK, LEN - 1, LEN },
    { "bytes=-300000",             LEN, NGX_OK, 0, LEN },
    { "bytes=-9999999",            LEN, NGX_OK, 0, LEN },
    { "bytes=299999-",             LEN, NGX_OK, LEN - 1, LEN },
    { "bytes=299990-99999999",     LEN, NGX_OK, LEN - 10, LEN },
    { "bytes=65526-196618",        LEN, NGX_OK, CHUNK - 10, 3 * CHUNK + 11 },
    { "bytes=65536-131071",        LEN, NGX_OK, CHUNK, 2 * CHUNK },
    { "bytes=65535-65536",         LEN, NGX_OK, CHUNK - 1, CHUNK + 1 },
    { "bytes=1000-2000,300000-",   LEN, NGX_OK, 1000, 2001 },
    { "BYTES=5-9",                 LEN, NGX_OK, 5, 10 },
    { "bytes= 5 - 9 ",             LEN, NGX_OK, 5, 10 },
    { "bytes=990-",                1000, NGX_OK, 990, 1000 },
    { "bytes=\t0-1",               LEN, NGX_OK, 0, 2 },

    /* unsatisfiable */
    { "bytes=-0",                  LEN, NGX_HTTP_RANGE_NOT_SATISFIABLE },
    { "bytes=-0",                  1000, NGX_HTTP_RANGE_NOT_SATISFIABLE },
    { "bytes=300000-",             LEN, NGX_HTTP_RANGE_NOT_SATISFIABLE },
    { "bytes=300000-300010",       LEN, NGX_HTTP_RANGE_NOT_SATISFIABLE },
    { "bytes=99999999-",           LEN, NGX_HTTP_RANGE_NOT_SATISFIABLE },
    { "bytes=300000-,-0",          LEN, NGX_HTTP_RANGE_NOT_SATISFIABLE },
    { "bytes=2147483000-",         LEN, NGX_HTTP_RANGE_NOT_SATISFIABLE },
    { "bytes=3000000000-3000000010", LEN, NGX_HTTP_RANGE_NOT_SATISFIABLE },
    { "bytes=300000-,300001-",     LEN, NGX_HTTP_RANGE_NOT_SATISFIABLE },

    /* ignored: the whole video */
    { "items=0-10",                LEN, NGX_DECLINED },
    { "bytes=abc",                 LEN, NGX_DECLINED },
    { "bytes=",                    LEN, NGX_DECLINED },
    { "bytes=5-2",                 LEN, NGX_DECLINED },
    { "bytes=-",                   LEN, NGX_DECLINED },
    { "bytes=1-2-3",               LEN, NGX_DECLINED },
    { "bytes=0-10;",               LEN, NGX_DECLINED },
    { "bytes 0-10",                LEN, NGX_DECLINED },
    { "bytes=99999999999999999999-", LEN, NGX_DECLINED },
    { "bytes=0-9,20-29",           LEN, NGX_DECLINED },
    { "bytes=0-10,5-15",           LEN, NGX_DECLINED },
    { "bytes=5",                   LEN, NGX_DECLINED },
    { "bytes=0-1,",                LEN, NGX_DECLINED },
    { "bytes=0-1 ,  2-3",          LEN, NGX_DECLINED },
    { "",                          LEN, NGX_DECLINED },
    { "bytes",                     LEN, NGX_DECLINED },
    { "bytes=   ",                 LEN, NGX_DECLINED },
    { " bytes=0-1",                LEN, NGX_DECLINED },
    { "bytes=0-1x",                LEN, NGX_DECLINED },
    { "bytes=+1-2",                LEN, NGX_DECLINED },
    { "bytes=--1",                 LEN, NGX_DECLINED },

    /* an empty video has no range to give */
    { "bytes=0-",                  0, NGX_DECLINED },
    { "bytes=-5",                  0, NGX_DECLINED },

    /* off_t's edges: 2^63 - 1 parses, 2^63 and 2^64 do not */
    { "bytes=9223372036854775807-", LEN, NGX_HTTP_RANGE_NOT_SATISFIABLE },
    { "bytes=0-9223372036854775807", LEN, NGX_OK, 0, LEN },
    { "bytes=-9223372036854775807", LEN, NGX_OK, 0, LEN },
    { "bytes=9223372036854775806-9223372036854775807", LEN,
      NGX_HTTP_RANGE_NOT_SATISFIABLE },
    { "bytes=9223372036854775808-", LEN, NGX_DECLINED },
    { "bytes=0-9223372036854775808", LEN, NGX_DECLINED },
    { "bytes=-9223372036854775808", LEN, NGX_DECLINED },
    { "bytes=18446744073709551616-", LEN, NGX_DECLINED },
    { "bytes=-18446744073709551616", LEN, NGX_DECLINED },
    { "bytes=0-18446744073709551615", LEN, NGX_DECLINED },
};


static const char *
rc_name(ngx_int_t rc)
{
    switch (rc) {
    case NGX_OK:
        return "OK";
    case NGX_DECLINED:
        return "DECLINED";
    case NGX_HTTP_RANGE_NOT_SATISFIABLE:
        return "416";
    default:
        return "?";
    }
}


static void
test_ranges(void)
{
    off_t       start, end;
    size_t      i;
    ngx_int_t   rc;
    ngx_str_t   v;

    for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        v.data = (u_char *) ranges[i].value;
        v.len = strlen(ranges[i].value);
        start = -1;
        end = -1;

        rc = ngx_http_weaveit_parse_range(&v, ranges[i].length, &start, &end);

        if (ranges[i].rc == NGX_OK) {
            ok(rc == NGX_OK && start == ranges[i].start
               && end == ranges[i].end,
               "Range \"%s\" of %lld: [%lld, %lld) (got %s [%lld, %lld))",
               ranges[i].value, (long long) ranges[i].length,
               (long long) ranges[i].start, (long long) ranges[i].end,
               rc_name(rc), (long long) start, (long long) end);

        } else {
            ok(rc == ranges[i].rc, "Range \"%s\" of %lld: %s (got %s)",
               ranges[i].value, (long long) ranges[i].length,
               rc_name(ranges[i].rc), rc_name(rc));
        }
    }
}


/* many ranges: still "send it all", and nothing overflows */

static void
test_many_ranges(void)
{
    off_t       start, end;
    u_char      buf[8192], *p;
    ngx_int_t   rc;
    ngx_str_t   v;
    ngx_uint_t  i;

    p = ngx_cpymem(buf, "bytes=", 6);

    for (i = 0; i < 1000; i++) {
        p += snprintf((char *) p, 16, "%u-%u,", (unsigned) i, (unsigned) i);
    }

    v.data = buf;
    v.len = p - buf - 1;

    rc = ngx_http_weaveit_parse_range(&v, LEN, &start, &end);
    ok(rc == NGX_DECLINED, "1000 ranges: the whole video (got %s)",
       rc_name(rc));

    v.len = p - buf;
    rc = ngx_http_weaveit_parse_range(&v, LEN, &start, &end);
    ok(rc == NGX_DECLINED, "1000 ranges and a trailing comma: ignored");
}


typedef struct {
    const char  *list;
    ngx_uint_t   strong;
    ngx_uint_t   weak;
} etag_case_t;


static const etag_case_t  etags[] = {
    { "\"abc\"",                  1, 1 },
    { "W/\"abc\"",                0, 1 },
    { "*",                        1, 1 },
    { " * ",                      1, 1 },
    { "\"x\", \"abc\"",           1, 1 },
    { " \"a\",\"b\" , \"abc\" ",  1, 1 },
    { ", , \"abc\"",              1, 1 },
    { "\"x\",W/\"abc\"",          0, 1 },
    { "\"other\"",                0, 0 },
    { "\"ab\"",                   0, 0 },
    { "\"abcd\"",                 0, 0 },
    { "abc",                      0, 0 },
    { "\"abc",                    0, 0 },
    { "",                         0, 0 },
    { "   ",                      0, 0 },
    { "\"x\", abc, \"abc\"",      0, 0 },
    { "W/",                       0, 0 },
    { "w/\"abc\"",                0, 0 },
    { "**",                       0, 0 },
    { "\"*\"",                    0, 0 },
};


static void
test_etags(void)
{
    size_t     i;
    ngx_str_t  etag = S("\"abc\""), list;

    for (i = 0; i < sizeof(etags) / sizeof(etags[0]); i++) {
        list.data = (u_char *) etags[i].list;
        list.len = strlen(etags[i].list);

        ok(ngx_http_weaveit_etag_match(&list, &etag, 0) == etags[i].strong,
           "ETag list '%s': strong match %s", etags[i].list,
           etags[i].strong ? "yes" : "no");
        ok(ngx_http_weaveit_etag_match(&list, &etag, 1) == etags[i].weak,
           "ETag list '%s': weak match %s", etags[i].list,
           etags[i].weak ? "yes" : "no");
    }
}


#define MTIME  1000000000
#define NONE   NGX_ERROR


typedef struct {
    const char  *name;
    const char  *if_match;
    const char  *if_none_match;
    time_t       if_unmodified_since;
    time_t       if_modified_since;
    ngx_int_t    rc;
} precondition_case_t;


static const precondition_case_t  preconditions[] = {
    { "no conditions", NULL, NULL, NONE, NONE, NGX_OK },
    { "If-Match ours", "\"abc\"", NULL, NONE, NONE, NGX_OK },
    { "If-Match *", "*", NULL, NONE, NONE, NGX_OK },
    { "If-Match another", "\"x\"", NULL, NONE, NONE,
      NGX_HTTP_PRECONDITION_FAILED },
    { "If-Match weak (strong comparison)", "W/\"abc\"", NULL, NONE, NONE,
      NGX_HTTP_PRECONDITION_FAILED },
    { "If-Match malformed", "abc", NULL, NONE, NONE,
      NGX_HTTP_PRECONDITION_FAILED },
    { "If-Unmodified-Since before", NULL, NULL, MTIME - 1, NONE,
      NGX_HTTP_PRECONDITION_FAILED },
    { "If-Unmodified-Since equal", NULL, NULL, MTIME, NONE, NGX_OK },
    { "If-Unmodified-Since after", NULL, NULL, MTIME + 1, NONE, NGX_OK },
    { "If-Unmodified-Since ignored with If-Match", "\"abc\"", NULL,
      MTIME - 1, NONE, NGX_OK },
    { "If-None-Match ours", NULL, "\"abc\"", NONE, NONE,
      NGX_HTTP_NOT_MODIFIED },
    { "If-None-Match weak", NULL, "W/\"abc\"", NONE, NONE,
      NGX_HTTP_NOT_MODIFIED },
    { "If-None-Match *", NULL, "*", NONE, NONE, NGX_HTTP_NOT_MODIFIED },
    { "If-None-Match another", NULL, "\"x\"", NONE, NONE, NGX_OK },
    { "If-None-Match overrides If-Modified-Since", NULL, "\"x\"", NONE,
      MTIME, NGX_OK },
    { "If-Modified-Since equal", NULL, NULL, NONE, MTIME,
      NGX_HTTP_NOT_MODIFIED },
    { "If-Modified-Since after", NULL, NULL, NONE, MTIME + 1,
      NGX_HTTP_NOT_MODIFIED },
    { "If-Modified-Since before", NULL, NULL, NONE, MTIME - 1, NGX_OK },
    { "If-Match fails before If-None-Match", "\"x\"", "\"abc\"", NONE, NONE,
      NGX_HTTP_PRECONDITION_FAILED },
    { "If-Match holds, If-None-Match matches", "\"abc\"", "\"abc\"", NONE,
      NONE, NGX_HTTP_NOT_MODIFIED },
};


static ngx_str_t *
maybe_str(ngx_str_t *s, const char *value)
{
    if (value == NULL) {
        return NULL;
    }

    s->data = (u_char *) value;
    s->len = strlen(value);

    return s;
}


static void
test_preconditions(void)
{
    size_t                          i;
    ngx_int_t                       rc;
    ngx_str_t                       etag = S("\"abc\""), im, inm;
    ngx_http_weaveit_conditions_t   c;
    const precondition_case_t      *t;

    for (i = 0; i < sizeof(preconditions) / sizeof(preconditions[0]); i++) {
        t = &preconditions[i];

        ngx_memzero(&c, sizeof(c));
        c.if_match = maybe_str(&im, t->if_match);
        c.if_none_match = maybe_str(&inm, t->if_none_match);
        c.if_unmodified_since = t->if_unmodified_since;
        c.if_modified_since = t->if_modified_since;
        c.if_range_date = NONE;

        rc = ngx_http_weaveit_preconditions(&c, &etag, MTIME);
        ok(rc == t->rc, "preconditions, %s: %d (got %d)", t->name,
           (int) t->rc, (int) rc);
    }
}


typedef struct {
    const char  *if_range;
    time_t       date;
    ngx_uint_t   holds;
} if_range_case_t;


static const if_range_case_t  if_ranges[] = {
    { NULL,                 NONE,      1 },
    { "\"abc\"",            NONE,      1 },
    { "W/\"abc\"",          NONE,      0 },
    { "\"x\"",              NONE,      0 },
    { "\"abc\" ",           NONE,      0 },
    { "date equal",         MTIME,     1 },
    { "date before",        MTIME - 1, 0 },
    { "date after",         MTIME + 1, 0 },
    { "not a date",         NONE,      0 },
    { "\"",                 NONE,      0 },
};


static void
test_if_range(void)
{
    size_t                         i;
    ngx_str_t                      etag = S("\"abc\""), v;
    ngx_http_weaveit_conditions_t  c;

    for (i = 0; i < sizeof(if_ranges) / sizeof(if_ranges[0]); i++) {
        ngx_memzero(&c, sizeof(c));
        c.if_range = maybe_str(&v, if_ranges[i].if_range);
        c.if_range_date = if_ranges[i].date;

        ok(ngx_http_weaveit_if_range(&c, &etag, MTIME) == if_ranges[i].holds,
           "If-Range %s: the Range is %s",
           if_ranges[i].if_range ? if_ranges[i].if_range : "(none)",
           if_ranges[i].holds ? "honoured" : "ignored");
    }
}


typedef struct {
    const char  *title;
    const char  *value;
} disposition_case_t;


#define ID  "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"

static const disposition_case_t  dispositions[] = {
    { "Intro to Rust", "inline; filename=\"Intro to Rust.mp4\"" },
    { "say \"hi\" \\ bye", "inline; filename=\"say \\\"hi\\\" \\\\ bye.mp4\"" },
    { "tab\there", "inline; filename=\"tab_here.mp4\"" },
    { "Caf\xc3\xa9 \xf0\x9f\xa6\x80",
      "inline; filename=\"Caf_ _.mp4\"; "
      "filename*=UTF-8''Caf%C3%A9%20%F0%9F%A6%80.mp4" },
    { "", "inline; filename=\"" ID ".mp4\"" },
    { "   ", "inline; filename=\"" ID ".mp4\"" },
    { "\t x", "inline; filename=\"x.mp4\"" },
    { "\x01" "a\x7f", "inline; filename=\"_a_.mp4\"" },
    { "new\r\nline", "inline; filename=\"new__line.mp4\"" },
    { "a\"b", "inline; filename=\"a\\\"b.mp4\"" },

    /* invalid UTF-8 is sent percent-encoded, never raw */
    { "\xff\xfe", "inline; filename=\"__.mp4\"; filename*=UTF-8''%FF%FE.mp4" },
    { "a\xc3", "inline; filename=\"a_.mp4\"; filename*=UTF-8''a%C3.mp4" },
    { "\x80x", "inline; filename=\"x.mp4\"; filename*=UTF-8''%80x.mp4" },
    { "\xc3\xa9!#(", "inline; filename=\"_!#(.mp4\"; "
                     "filename*=UTF-8''%C3%A9!#%28.mp4" },
    { "\xc3\xa9\x01", "inline; filename=\"__.mp4\"; "
                      "filename*=UTF-8''%C3%A9_.mp4" },
};


static void test_disposition_fits(const char *title, size_t len);


static void
test_disposition_case(const char *title, size_t len, const char *want,
    const char *name)
{
    u_char     buf[NGX_HTTP_WEAVEIT_DISPOSITION_LEN], *last;
    ngx_str_t  id = S(ID);

    last = ngx_http_weaveit_disposition(buf, (u_char *) title, len, &id);

    ok((size_t) (last - buf) == strlen(want)
       && memcmp(buf, want, last - buf) == 0,
       "Content-Disposition for %s: %s (got %.*s)", name, want,
       (int) (last - buf), buf);
}


static void
test_dispositions(void)
{
    char    title[4 * NGX_HTTP_WEAVEIT_FILENAME_MAX + 1];
    char    want[NGX_HTTP_WEAVEIT_DISPOSITION_LEN + 1], *p;
    size_t  i;

    for (i = 0; i < sizeof(dispositions) / sizeof(dispositions[0]); i++) {
        snprintf(title, sizeof(title), "title %d", (int) i + 1);
        test_disposition_case(dispositions[i].title,
                              strlen(dispositions[i].title),
                              dispositions[i].value, title);
    }

    /* 80 two-byte characters are cut to 50 at a character boundary */

    for (i = 0; i < 80; i++) {
        memcpy(title + 2 * i, "\xc3\xa9", 2);
    }

    p = want + sprintf(want, "inline; filename=\"");
    for (i = 0; i < 50; i++) {
        *p++ = '_';
    }
    p += sprintf(p, ".mp4\"; filename*=UTF-8''");
    for (i = 0; i < 50; i++) {
        p += sprintf(p, "%%C3%%A9");
    }
    sprintf(p, ".mp4");

    test_disposition_case(title, 160, want, "80 x e-acute");

    /* a three-byte character across the cut is dropped whole */

    memset(title, 'a', 99);
    memcpy(title + 99, "\xe2\x82\xac", 3);
    p = want + sprintf(want, "inline; filename=\"");
    memset(p, 'a', 99);
    sprintf(p + 99, ".mp4\"");

    test_disposition_case(title, 102, want, "99 x a and a euro sign");

    /* the worst case fits: every byte escaped, then percent-encoded */

    memset(title, '"', 98);
    memcpy(title + 98, "\xc3\xa9", 2);
    test_disposition_fits(title, 100);
}


static void
test_disposition_fits(const char *title, size_t len)
{
    u_char     buf[NGX_HTTP_WEAVEIT_DISPOSITION_LEN + 64], *last;
    size_t     i;
    ngx_str_t  id = S(ID);

    memset(buf, 0xaa, sizeof(buf));

    last = ngx_http_weaveit_disposition(buf, (u_char *) title, len, &id);

    for (i = NGX_HTTP_WEAVEIT_DISPOSITION_LEN; i < sizeof(buf); i++) {
        if (buf[i] != 0xaa) {
            break;
        }
    }

    ok((size_t) (last - buf) <= NGX_HTTP_WEAVEIT_DISPOSITION_LEN
       && i == sizeof(buf),
       "the longest Content-Disposition (%d bytes) fits its buffer (%d)",
       (int) (last - buf), (int) NGX_HTTP_WEAVEIT_DISPOSITION_LEN);
}


static void
test_ids(void)
{
    size_t     i;
    ngx_str_t  s;

    static const char  *uuids[] = {
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
        "00000000-0000-0000-0000-000000000000",
    };

    static const char  *not_uuids[] = {
        "", "abc", "1", "a0eebc999c0b4ef8bb6d6bb9bd380a11",
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11x",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1'",
        "a0eebc99x9c0b-4ef8-bb6d-6bb9bd380a11",
        " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
    };

    static const char  *wallets[] = {
        "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T",
        "So11111111111111111111111111111111111111112",
        "11111111111111111111111111111111",
    };

    static const char  *not_wallets[] = {
        "", "abc",
        "1111111111111111111111111111111",                 /* 31 */
        "111111111111111111111111111111111",               /* 33 zeros */
        "222222222222222222222222222222222",               /* 24 bytes */
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",    /* > 2^256 */
        "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T1",   /* 45 */
        "0Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T",
        "ONd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T",
        "INd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T",
        "lNd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T",
        "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4 ",
    };

    for (i = 0; i < sizeof(uuids) / sizeof(uuids[0]); i++) {
        ok(ngx_http_weaveit_is_uuid(maybe_str(&s, uuids[i])),
           "a UUID: %s", uuids[i]);
    }

    for (i = 0; i < sizeof(not_uuids) / sizeof(not_uuids[0]); i++) {
        ok(!ngx_http_weaveit_is_uuid(maybe_str(&s, not_uuids[i])),
           "not a UUID: '%s'", not_uuids[i]);
    }

    for (i = 0; i < sizeof(wallets) / sizeof(wallets[0]); i++) {
        ok(ngx_http_weaveit_is_wallet(maybe_str(&s, wallets[i])),
           "a wallet: %s", wallets[i]);
    }

    for (i = 0; i < sizeof(not_wallets) / sizeof(not_wallets[0]); i++) {
        ok(!ngx_http_weaveit_is_wallet(maybe_str(&s, not_wallets[i])),
           "not a wallet: '%s'", not_wallets[i]);
    }

    /* a NUL inside is not a base58 digit */

    s.data = (u_char *) "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4\0";
    s.len = 44;
    ok(!ngx_http_weaveit_is_wallet(&s), "not a wallet: a NUL inside");
}


typedef struct {
    const char  *text;
    size_t       size;
    ssize_t      n;              /* NGX_ERROR: refused */
    const char  *hex;
} base58_case_t;


static const base58_case_t  base58s[] = {

    /* Bitcoin Core's vectors (src/test/data/base58_encode_decode.json) */
    { "",                   16, 0, "" },
    { "2g",                 16, 1, "61" },
    { "a3gV",               16, 3, "626262" },
    { "aPEr",               16, 3, "636363" },
    { "2cFupjhnEsSn59qHXstmK2ffpLv2", 32, 20,
      "73696d706c792061206c6f6e6720737472696e67" },
    { "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L", 32, 25,
      "00eb15231dfceb60925886b67d065299925915aeb172c06647" },
    { "ABnLTmg",            16, 5, "516b6fcd0f" },
    { "3SEo3LWLoPntC",      16, 9, "bf4f89001e670274dd" },
    { "3EFU7m",             16, 4, "572e4794" },
    { "EJDM8drfXA6uyA",     16, 10, "ecac89cad93923c02321" },
    { "Rt5zm",              16, 4, "10c8511e" },

    /* leading '1's are zero bytes, a '1' further on is a digit */
    { "1",                  16, 1, "00" },
    { "1111111111",         16, 10, "00000000000000000000" },
    { "12",                 16, 2, "0001" },
    { "1115Q",              16, 4, "000000ff" },
    { "21",                 16, 1, "3a" },
    { "1111",               4, 4, "00000000" },
    { "11111",              4, NGX_ERROR, NULL },

    /* a wallet: an ed25519 public key */
    { "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T", 32, 32,
      "321cfa5add185e8893a5fd88013ec4d7e122ded46354cadff50d956395e75b60" },

    /* the largest values that fit, and one more */
    { "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG", 32, 32,
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" },
    { "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFH", 32, NGX_ERROR, NULL },
    { "1JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG", 32, NGX_ERROR, NULL },
    { "67rpwLCuS5DGA8KGZXKsVQ7dnPb9goRLoKfgGbLfQg9WoLUgNY77E2jT11fem3coV9"
      "nAkguBACzrU1iyZM4B8roQ", 64, 64,
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" },
    { "67rpwLCuS5DGA8KGZXKsVQ7dnPb9goRLoKfgGbLfQg9WoLUgNY77E2jT11fem3coV9"
      "nAkguBACzrU1iyZM4B8roR", 64, NGX_ERROR, NULL },
    { "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 32, NGX_ERROR, NULL },
    { "2g",                 0, NGX_ERROR, NULL },
    { "",                   0, 0, "" },

    /* outside the alphabet */
    { "0",                  16, NGX_ERROR, NULL },
    { "O",                  16, NGX_ERROR, NULL },
    { "I",                  16, NGX_ERROR, NULL },
    { "l",                  16, NGX_ERROR, NULL },
    { "2g ",                16, NGX_ERROR, NULL },
    { " 2g",                16, NGX_ERROR, NULL },
    { "2g=",                16, NGX_ERROR, NULL },
    { "a+b",                16, NGX_ERROR, NULL },
    { "11\xc3\xa9",         16, NGX_ERROR, NULL },
    { "\xff",               16, NGX_ERROR, NULL },
};


static void
test_base58(void)
{
    u_char      out[80], hex[161];
    size_t      i, j;
    ssize_t     n;
    ngx_str_t   s;
    ngx_uint_t  same;

    for (i = 0; i < sizeof(base58s) / sizeof(base58s[0]); i++) {
        memset(out, 0xaa, sizeof(out));

        n = ngx_http_weaveit_base58_decode(maybe_str(&s, base58s[i].text),
                                           out, base58s[i].size);

        for (j = 0; n > 0 && j < (size_t) n; j++) {
            sprintf((char *) &hex[2 * j], "%02x", out[j]);
        }

        hex[n > 0 ? 2 * n : 0] = '\0';

        /* nothing written past "size", even when refused */

        same = 1;

        for (j = base58s[i].size; j < sizeof(out); j++) {
            same &= (out[j] == 0xaa);
        }

        ok(n == base58s[i].n
           && (n == NGX_ERROR || strcmp((char *) hex, base58s[i].hex) == 0)
           && same,
           "base58 '%s' into %d bytes: %d %s",
           base58s[i].text, (int) base58s[i].size, (int) n,
           n == NGX_ERROR ? "(refused)" : (char *) hex);
    }

    /* a NUL is no digit, and the length decides, not a terminator */

    s.data = (u_char *) "2g\0";
    s.len = 3;
    ok(ngx_http_weaveit_base58_decode(&s, out, 16) == NGX_ERROR,
       "base58 with a NUL inside: refused");

    s.len = 1;
    ok(ngx_http_weaveit_base58_decode(&s, out, 16) == 1 && out[0] == 1,
       "base58 '2' of '2g': 0x01");

    /* a long text is refused early: every digit multiplies by 58 */

    memset(out, '2', sizeof(out));
    s.data = out;
    s.len = sizeof(out);
    ok(ngx_http_weaveit_base58_decode(&s, hex, 32) == NGX_ERROR,
       "80 base58 digits into 32 bytes: refused");
}


typedef struct {
    const char  *method;
    const char  *uri;
    const char  *wallet;
    const char  *timestamp;
    const char  *body_sha256;
    const char  *text;           /* NULL: refused */
} signed_case_t;


#define WALLET  "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"
#define EMPTY                                                                 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


static const signed_case_t  signeds[] = {

    { "POST", "/api/generate", WALLET, "1764500000",
      "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
      "WeaveIt request\n"
      "POST /api/generate\n"
      "wallet: " WALLET "\n"
      "timestamp: 1764500000\n"
      "body-sha256: "
      "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9" },

    { "POST", "/api/generate?wait=1", WALLET, "1764500000", EMPTY,
      "WeaveIt request\n"
      "POST /api/generate?wait=1\n"
      "wallet: " WALLET "\n"
      "timestamp: 1764500000\n"
      "body-sha256: " EMPTY },

    { "GET", "/api/wallet/" WALLET "/videos?limit=2&offset=1", WALLET,
      "1", EMPTY,
      "WeaveIt request\n"
      "GET /api/wallet/" WALLET "/videos?limit=2&offset=1\n"
      "wallet: " WALLET "\n"
      "timestamp: 1\n"
      "body-sha256: " EMPTY },

    /* the request line's bytes, escapes and all, not the decoded path */
    { "GET", "/api/users/%34Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"
      "/points?", WALLET, "0001764500000", EMPTY,
      "WeaveIt request\n"
      "GET /api/users/%34Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"
      "/points?\n"
      "wallet: " WALLET "\n"
      "timestamp: 0001764500000\n"
      "body-sha256: " EMPTY },

    { "HEAD", "/a b", "", "", "",
      "WeaveIt request\nHEAD /a b\nwallet: \ntimestamp: \nbody-sha256: " },

    /* a newline anywhere could forge a line */
    { "GET", "/api/x\nwallet: " WALLET, WALLET, "1", EMPTY, NULL },
    { "GET\n", "/", WALLET, "1", EMPTY, NULL },
    { "GET", "/", WALLET "\n", "1", EMPTY, NULL },
    { "GET", "/", WALLET, "1\ntimestamp: 2", EMPTY, NULL },
    { "GET", "/", WALLET, "1", EMPTY "\n", NULL },
};


static void
test_signed_messages(void)
{
    u_char                     buf[1024], *last;
    size_t                     i, len;
    ngx_str_t                  s;
    ngx_http_weaveit_signed_t  m;

    for (i = 0; i < sizeof(signeds) / sizeof(signeds[0]); i++) {
        m.method = *maybe_str(&s, signeds[i].method);
        m.uri = *maybe_str(&s, signeds[i].uri);
        m.wallet = *maybe_str(&s, signeds[i].wallet);
        m.timestamp = *maybe_str(&s, signeds[i].timestamp);
        m.body_sha256 = *maybe_str(&s, signeds[i].body_sha256);

        memset(buf, 0xaa, sizeof(buf));
        len = ngx_http_weaveit_signed_len(&m);
        last = ngx_http_weaveit_signed_message(buf, sizeof(buf), &m);

        if (signeds[i].text == NULL) {
            ok(last == NULL, "signed text with a newline (case %d): refused",
               (int) i);
            continue;
        }

        ok(last != NULL && (size_t) (last - buf) == len
           && len == strlen(signeds[i].text)
           && memcmp(buf, signeds[i].text, len) == 0
           && buf[len] == 0xaa,
           "signed text of %s %s: %d bytes, exactly",
           signeds[i].method, signeds[i].uri, (int) len);

        /* exactly its length is enough, one byte less is not */

        ok(ngx_http_weaveit_signed_message(buf, len, &m) == buf + len
           && ngx_http_weaveit_signed_message(buf, len - 1, &m) == NULL,
           "  fits %d bytes, not %d", (int) len, (int) len - 1);
    }
}


typedef struct {
    const char  *value;
    time_t       now;
    time_t       window;
    ngx_int_t    rc;
    time_t       ts;
} time_case_t;


#define NOW  1764500000


static const time_case_t  times[] = {
    { "1764500000",            NOW, 300, NGX_OK, NOW },
    { "1764499700",            NOW, 300, NGX_OK, NOW - 300 },
    { "1764500300",            NOW, 300, NGX_OK, NOW + 300 },
    { "1764499699",            NOW, 300, NGX_DECLINED, NOW - 301 },
    { "1764500301",            NOW, 300, NGX_DECLINED, NOW + 301 },
    { "0001764500000",         NOW, 300, NGX_OK, NOW },
    { "1764500000000",         NOW, 300, NGX_DECLINED, NOW * 1000LL },
    { "0",                     NOW, 300, NGX_DECLINED, 0 },
    { "1764500001",            NOW, 0, NGX_DECLINED, NOW + 1 },
    { "9223372036854775807",   NOW, 300, NGX_DECLINED, NGX_MAX_TIME_T_VALUE },
    { "9223372036854775808",   NOW, 300, NGX_ERROR },
    { "99999999999999999999",  NOW, 300, NGX_ERROR },
    { "",                      NOW, 300, NGX_ERROR },
    { "-1764500000",           NOW, 300, NGX_ERROR },
    { "+1764500000",           NOW, 300, NGX_ERROR },
    { "1764500000.5",          NOW, 300, NGX_ERROR },
    { "1.7645e9",              NOW, 300, NGX_ERROR },
    { " 1764500000",           NOW, 300, NGX_ERROR },
    { "1764500000 ",           NOW, 300, NGX_ERROR },
    { "0x69298d20",            NOW, 300, NGX_ERROR },
};


static void
test_signature_times(void)
{
    size_t     i;
    time_t     ts;
    ngx_int_t  rc;
    ngx_str_t  s;

    for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        ts = -1;
        rc = ngx_http_weaveit_signature_time(maybe_str(&s, times[i].value),
                                             times[i].now, times[i].window,
                                             &ts);

        ok(rc == times[i].rc && (rc == NGX_ERROR || ts == times[i].ts),
           "timestamp '%s', window %d: %s", times[i].value,
           (int) times[i].window,
           rc == NGX_OK ? "fresh" : rc == NGX_DECLINED ? "expired"
                                                       : "malformed");
    }
}


int
main(void)
{
    test_ranges();
    test_many_ranges();
    test_etags();
    test_preconditions();
    test_if_range();
    test_dispositions();
    test_ids();
    test_base58();
    test_signed_messages();
    test_signature_times();

    tap_plan(tap_count);

    return tap_done();
}
