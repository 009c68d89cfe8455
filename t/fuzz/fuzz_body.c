/*
 * The input is a POSTed body, checked as POST /api/generate checks it
 * (with the default weaveit_max_script and with a tiny one) and as POST
 * /api/admin/points does.  A body is accepted with its fields inside
 * their bounds, each equal to the body's own: a script of at most max
 * bytes that the generator takes too (weaveit_text_check()), a wallet
 * whose base58 decodes to 32 bytes, a title or note of at most 200
 * characters of UTF-8 without NUL (a title the generator takes, or blank:
 * no title card), points from 1 to 1000000.  Or it is refused with a
 * message that names a field whenever the body is a JSON object.  A
 * tighter maximum only refuses more; nothing leaks.
 */

#include "fuzz.h"
#include "weaveit_internal.h"


#define FUZZ_MAX_SCRIPT    20000
#define FUZZ_TINY_SCRIPT   8


static const char  *fuzz_generate_fields[] = {
    "script", "walletAddress", "title", "voice", "format", "theme", NULL
};

static const char  *fuzz_award_fields[] = {
    "walletAddress", "points", "note", NULL
};


/* characters of UTF-8 without NUL, or -1 */

static ssize_t
fuzz_chars(ngx_str_t *s)
{
    size_t    i, n;
    ssize_t   chars;
    uint32_t  cp;

    chars = 0;

    for (i = 0; i < s->len; i += n) {
        n = weaveit_utf8_decode(s->data + i, s->len - i, &cp);

        if (n == 0 || cp == 0) {
            return -1;
        }

        chars++;
    }

    return chars;
}


/* the field as the body holds it; an empty one may be absent or null */

static ngx_uint_t
fuzz_is_field(ngx_str_t *s, json_t *body, const char *key)
{
    json_t  *v;

    v = json_object_get(body, key);

    if (s->len == 0 && (v == NULL || json_is_null(v))) {
        return 1;
    }

    return json_is_string(v) && json_string_length(v) == s->len
           && memcmp(json_string_value(v), s->data, s->len) == 0;
}


static void
fuzz_wallet(ngx_str_t *wallet, json_t *body)
{
    u_char  key[NGX_HTTP_WEAVEIT_WALLET_KEY_LEN + 1];

    fuzz_assert(wallet->len >= 32 && wallet->len <= 44);
    fuzz_assert(ngx_http_weaveit_base58_decode(wallet, key, sizeof(key))
                == NGX_HTTP_WEAVEIT_WALLET_KEY_LEN);
    fuzz_assert(wallet->len && fuzz_is_field(wallet, body, "walletAddress"));
}


/* what a refusal says: jansson's words, the body's type, or a field */

static void
fuzz_refused(const char *error, json_t *body, const char **fields)
{
    size_t  n;

    fuzz_assert(strlen(error) < NGX_HTTP_WEAVEIT_INPUT_ERRLEN);

    if (body == NULL) {
        fuzz_assert(strncmp(error, "Invalid JSON: ", 14) == 0);
        return;
    }

    if (!json_is_object(body)) {
        fuzz_assert(strcmp(error, "Request body must be a JSON object") == 0);
        return;
    }

    for ( ;; ) {
        fuzz_assert(*fields != NULL);

        n = strlen(*fields);

        if (strncmp(error, *fields, n) == 0 && error[n] == ' ') {
            return;
        }

        fields++;
    }
}


static void
fuzz_generate(ngx_str_t *body, json_t *json, size_t max,
    ngx_http_weaveit_generate_input_t *in)
{
    char         err[256];
    ssize_t      chars;
    const char  *error;

    error = ngx_http_weaveit_generate_input(body, max, in);

    if (error != NULL) {
        fuzz_assert(in->json == NULL);
        fuzz_refused(error, json, fuzz_generate_fields);
        return;
    }

    fuzz_assert(in->json != NULL && json_is_object(json));

    fuzz_assert(in->script.len > 0 && in->script.len <= max);
    fuzz_assert(fuzz_is_field(&in->script, json, "script"));
    fuzz_assert(weaveit_text_check((char *) in->script.data, in->script.len,
                                   "script", err, sizeof(err))
                == 0);

    fuzz_wallet(&in->wallet, json);

    chars = fuzz_chars(&in->title);
    fuzz_assert(chars >= 0 && chars <= NGX_HTTP_WEAVEIT_TITLE_MAX);
    fuzz_assert(in->title.len <= WEAVEIT_TITLE_MAX);
    fuzz_assert(fuzz_is_field(&in->title, json, "title"));
    fuzz_assert(weaveit_text_blank((char *) in->title.data, in->title.len)
                || weaveit_text_check((char *) in->title.data,
                                      in->title.len, "title", err,
                                      sizeof(err))
                   == 0);

    /* a format the generator takes, never "auto": that is no format */
    fuzz_assert(in->format.len == 0
                || (fuzz_is_field(&in->format, json, "format")
                    && weaveit_format_parse((char *) in->format.data)
                       > WEAVEIT_FORMAT_AUTO));
    fuzz_assert(fuzz_is_field(&in->theme, json, "theme")
                && (in->theme.len == 0
                    || weaveit_theme_parse((char *) in->theme.data) >= 0));
}


static void
fuzz_award(ngx_str_t *body, json_t *json)
{
    ssize_t                          chars;
    const char                      *error;
    ngx_http_weaveit_award_input_t   in;

    error = ngx_http_weaveit_award_input(body, &in);

    if (error != NULL) {
        fuzz_assert(in.json == NULL);
        fuzz_refused(error, json, fuzz_award_fields);
        return;
    }

    fuzz_assert(in.json != NULL && json_is_object(json));

    fuzz_wallet(&in.wallet, json);

    fuzz_assert(in.points >= 1 && in.points <= NGX_HTTP_WEAVEIT_AWARD_MAX);
    fuzz_assert(json_is_integer(json_object_get(json, "points"))
                && json_integer_value(json_object_get(json, "points"))
                   == in.points);

    chars = fuzz_chars(&in.note);
    fuzz_assert(chars >= 0 && chars <= NGX_HTTP_WEAVEIT_NOTE_MAX);
    fuzz_assert(fuzz_is_field(&in.note, json, "note"));

    json_decref(in.json);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t                             *json;
    ngx_str_t                           body;
    ngx_http_weaveit_generate_input_t   in, tiny;

    body = fuzz_str(data, size);

    /* the body as jansson sees it, to know what the answer must say */
    json = json_loadb((char *) body.data, body.len, JSON_REJECT_DUPLICATES,
                      NULL);

    fuzz_generate(&body, json, FUZZ_MAX_SCRIPT, &in);
    fuzz_generate(&body, json, FUZZ_TINY_SCRIPT, &tiny);

    if (tiny.json != NULL) {
        fuzz_assert(in.json != NULL);
        fuzz_assert(tiny.script.len == in.script.len
                    && memcmp(tiny.script.data, in.script.data,
                              in.script.len) == 0);
    }

    json_decref(in.json);
    json_decref(tiny.json);

    fuzz_award(&body, json);

    json_decref(json);
    free(body.data);

    return 0;
}
