
/*
 * The JSON bodies clients POST, checked on plain buffers: the bytes of a
 * body in, its fields or a message for the client out, with no request,
 * no pool and no call into nginx's runtime, so that t/fuzz/fuzz_body.c
 * drives them directly.  jansson parses: it refuses invalid UTF-8, a
 * "\u0000" and duplicate keys, so every string accepted here is valid
 * UTF-8 without NUL.  Every message about a field starts with its name.
 * ngx_http_weaveit_api.c applies them to a request and answers 400 with
 * the message.
 */


#include "ngx_http_weaveit.h"
#include "weaveit.h"


static json_t *ngx_http_weaveit_load_object(ngx_str_t *body, char *error,
    size_t size, const char **message);
static const char *ngx_http_weaveit_check_script(json_t *script,
    size_t max, char *error, size_t size, ngx_str_t *s);
static const char *ngx_http_weaveit_check_wallet(json_t *wallet,
    ngx_str_t *s);
static const char *ngx_http_weaveit_check_text(json_t *text, size_t max,
    const char *not_string, const char *too_long, ngx_str_t *s);
static const char *ngx_http_weaveit_check_format(json_t *format,
    ngx_str_t *s);
static const char *ngx_http_weaveit_check_theme(json_t *theme,
    ngx_str_t *s);
static const char *ngx_http_weaveit_check_award(json_t *points,
    ngx_int_t *n);


/*
 * POST /api/generate {script, walletAddress, title?, voice?, format?,
 * theme?}, checked in the original service's order, then the voice
 * (whether this server allows it is the caller's to check: it knows the
 * configuration), the format and the theme.  NULL: in->json holds the
 * body, which the caller releases once it has copied the fields;
 * otherwise the message.
 */

const char *
ngx_http_weaveit_generate_input(ngx_str_t *body, size_t max_script,
    ngx_http_weaveit_generate_input_t *in)
{
    const char  *error;

    in->json = ngx_http_weaveit_load_object(body, in->error,
                                            sizeof(in->error), &error);
    if (in->json == NULL) {
        return error;
    }

    error = ngx_http_weaveit_check_script(json_object_get(in->json, "script"),
                                          max_script, in->error,
                                          sizeof(in->error), &in->script);

    if (error == NULL) {
        error = ngx_http_weaveit_check_wallet(
                    json_object_get(in->json, "walletAddress"), &in->wallet);
    }

    if (error == NULL) {
        error = ngx_http_weaveit_check_text(
                    json_object_get(in->json, "title"),
                    NGX_HTTP_WEAVEIT_TITLE_MAX, "title must be a string",
                    "title must be at most 200 characters", &in->title);
    }

    if (error == NULL) {
        error = ngx_http_weaveit_check_text(
                    json_object_get(in->json, "voice"),
                    NGX_HTTP_WEAVEIT_VOICE_MAX, "voice must be a string",
                    NGX_HTTP_WEAVEIT_VOICE_UNKNOWN, &in->voice);
    }

    if (error == NULL) {
        error = ngx_http_weaveit_check_format(
                    json_object_get(in->json, "format"), &in->format);
    }

    if (error == NULL) {
        error = ngx_http_weaveit_check_theme(
                    json_object_get(in->json, "theme"), &in->theme);
    }

    if (error != NULL) {
        json_decref(in->json);
        in->json = NULL;
    }

    return error;
}


/*
 * POST /api/admin/points {walletAddress, points, note?}: the same
 * contract as ngx_http_weaveit_generate_input()
 */

const char *
ngx_http_weaveit_award_input(ngx_str_t *body,
    ngx_http_weaveit_award_input_t *in)
{
    const char  *error;

    in->json = ngx_http_weaveit_load_object(body, in->error,
                                            sizeof(in->error), &error);
    if (in->json == NULL) {
        return error;
    }

    error = ngx_http_weaveit_check_wallet(
                json_object_get(in->json, "walletAddress"), &in->wallet);

    if (error == NULL) {
        error = ngx_http_weaveit_check_award(
                    json_object_get(in->json, "points"), &in->points);
    }

    if (error == NULL) {
        error = ngx_http_weaveit_check_text(
                    json_object_get(in->json, "note"),
                    NGX_HTTP_WEAVEIT_NOTE_MAX, "note must be a string",
                    "note must be at most 200 characters", &in->note);
    }

    if (error != NULL) {
        json_decref(in->json);
        in->json = NULL;
    }

    return error;
}


/* a JSON object, or NULL and *message (jansson's words go into error) */

static json_t *
ngx_http_weaveit_load_object(ngx_str_t *body, char *error, size_t size,
    const char **message)
{
    json_t        *json;
    json_error_t   jerr;

    json = json_loadb((char *) body->data, body->len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (json == NULL) {
        (void) snprintf(error, size, "Invalid JSON: %s", jerr.text);
        *message = error;
        return NULL;
    }

    if (!json_is_object(json)) {
        json_decref(json);
        *message = "Request body must be a JSON object";
        return NULL;
    }

    return json;
}


/* a message for the client, or NULL: *s is the script */

static const char *
ngx_http_weaveit_check_script(json_t *script, size_t max, char *error,
    size_t size, ngx_str_t *s)
{
    if (script == NULL || json_is_null(script)) {
        return "script is required";
    }

    if (!json_is_string(script)) {
        return "script must be a string";
    }

    s->data = (u_char *) json_string_value(script);
    s->len = json_string_length(script);

    if (weaveit_text_blank((char *) s->data, s->len)) {
        return "script must not be empty";
    }

    if (s->len > max) {
        (void) snprintf(error, size, "script is longer than %zu bytes", max);
        return error;
    }

    return NULL;
}


static const char *
ngx_http_weaveit_check_wallet(json_t *wallet, ngx_str_t *s)
{
    if (wallet == NULL || json_is_null(wallet)) {
        return "walletAddress is required";
    }

    if (!json_is_string(wallet)) {
        return "walletAddress must be a Solana base58 public key";
    }

    s->len = json_string_length(wallet);
    s->data = (u_char *) json_string_value(wallet);

    if (!ngx_http_weaveit_is_wallet(s)) {
        return "walletAddress must be a Solana base58 public key";
    }

    return NULL;
}


/* an optional string of at most max characters; *s is empty without it */

static const char *
ngx_http_weaveit_check_text(json_t *text, size_t max, const char *not_string,
    const char *too_long, ngx_str_t *s)
{
    size_t  i, chars;

    s->len = 0;
    s->data = NULL;

    if (text == NULL || json_is_null(text)) {
        return NULL;
    }

    if (!json_is_string(text)) {
        return not_string;
    }

    s->data = (u_char *) json_string_value(text);
    s->len = json_string_length(text);

    /* jansson checked the UTF-8: count characters, not bytes */

    chars = 0;

    for (i = 0; i < s->len; i++) {
        chars += (s->data[i] & 0xc0) != 0x80;
    }

    return (chars > max) ? too_long : NULL;
}


/* "text" or "markdown"; without it the generator looks (*s is empty) */

static const char *
ngx_http_weaveit_check_format(json_t *format, ngx_str_t *s)
{
    const char  *name;

    s->len = 0;
    s->data = NULL;

    if (format == NULL || json_is_null(format)) {
        return NULL;
    }

    name = json_is_string(format) ? json_string_value(format) : "";

    /* "auto" is the absence of a format, not one */
    if (weaveit_format_parse(name) <= WEAVEIT_FORMAT_AUTO) {
        return "format must be \"text\" or \"markdown\"";
    }

    s->data = (u_char *) name;
    s->len = ngx_strlen(name);

    return NULL;
}


/* a theme of the core's table; without it, the location's (*s empty) */

static const char *
ngx_http_weaveit_check_theme(json_t *theme, ngx_str_t *s)
{
    const char  *name;

    s->len = 0;
    s->data = NULL;

    if (theme == NULL || json_is_null(theme)) {
        return NULL;
    }

    name = json_is_string(theme) ? json_string_value(theme) : "";

    if (weaveit_theme_parse(name) < 0) {
        return "theme must be \"light\" or \"dark\"";
    }

    s->data = (u_char *) name;
    s->len = ngx_strlen(name);

    return NULL;
}


static const char *
ngx_http_weaveit_check_award(json_t *points, ngx_int_t *n)
{
    json_int_t  value;

    if (points == NULL || json_is_null(points)) {
        return "points is required";
    }

    value = json_is_integer(points) ? json_integer_value(points) : 0;

    if (value < 1 || value > NGX_HTTP_WEAVEIT_AWARD_MAX) {
        return "points must be an integer from 1 to 1000000";
    }

    *n = (ngx_int_t) value;

    return NULL;
}
