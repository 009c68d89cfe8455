
/*
 * The JSON endpoints, and the helpers every handler uses to answer JSON.
 */


#include "ngx_http_weaveit.h"
#include "ngx_http_weaveit_demo.h"

#include <uuid/uuid.h>


#define NGX_HTTP_WEAVEIT_UUID_LEN       36
#define NGX_HTTP_WEAVEIT_MAX_TITLE      200
#define NGX_HTTP_WEAVEIT_DEFAULT_LIMIT  20
#define NGX_HTTP_WEAVEIT_MAX_LIMIT      100
#define NGX_HTTP_WEAVEIT_MAX_OFFSET     1000000


typedef struct {
    ngx_http_weaveit_pg_query_t    query;
    const char                    *values[7];
    ngx_str_t                      job_id;
    ngx_int_t                      cost;
    ngx_uint_t                     wait;
} ngx_http_weaveit_generate_ctx_t;


static ngx_int_t ngx_http_weaveit_send_buf(ngx_http_request_t *r,
    ngx_uint_t status, ngx_buf_t *b);
static ngx_int_t ngx_http_weaveit_request_query(ngx_http_request_t *r,
    ngx_http_weaveit_pg_query_t *q, const char *sql, int nparams,
    const char *const *values, ngx_http_weaveit_pg_handler_pt handler);
static ngx_int_t ngx_http_weaveit_eval_key(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_uint_t (*valid)(ngx_str_t *key),
    const char *invalid, ngx_str_t *key);
static ngx_int_t ngx_http_weaveit_lookup(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_uint_t (*valid)(ngx_str_t *key),
    const char *invalid, const char *sql,
    ngx_http_weaveit_pg_handler_pt handler);
static ngx_uint_t ngx_http_weaveit_is_wallet(ngx_str_t *wallet);
static char *ngx_http_weaveit_pstrdup(ngx_pool_t *pool, ngx_str_t *s);
static void ngx_http_weaveit_health_done(ngx_http_weaveit_pg_query_t *q);
static ngx_uint_t ngx_http_weaveit_is_json(ngx_http_request_t *r);
static void ngx_http_weaveit_generate_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_weaveit_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static const char *ngx_http_weaveit_validate(ngx_http_request_t *r,
    json_t *json, ngx_http_weaveit_generate_ctx_t *ctx);
static void ngx_http_weaveit_generate_created(
    ngx_http_weaveit_pg_query_t *q);
static ngx_int_t ngx_http_weaveit_send_accepted(ngx_http_request_t *r,
    ngx_http_weaveit_generate_ctx_t *ctx);
static void ngx_http_weaveit_status_done(ngx_http_weaveit_pg_query_t *q);
static void ngx_http_weaveit_wallet_videos_done(
    ngx_http_weaveit_pg_query_t *q);
static void ngx_http_weaveit_points_done(ngx_http_weaveit_pg_query_t *q);


ngx_int_t
ngx_http_weaveit_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *json)
{
    char       *text;
    size_t      len;
    ngx_buf_t  *b;

    text = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(text);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        free(text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, text, len);
    free(text);

    ngx_str_set(&r->headers_out.content_type,
                "application/json; charset=utf-8");
    r->headers_out.content_type_len = sizeof("application/json") - 1;

    return ngx_http_weaveit_send_buf(r, status, b);
}


/* a whole response in one buffer; the content type is already set */

static ngx_int_t
ngx_http_weaveit_send_buf(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    b->last_buf = (r == r->main);
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_weaveit_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *message)
{
    return ngx_http_weaveit_send_json(r, status,
                                      json_pack("{ss}", "error", message));
}


ngx_int_t
ngx_http_weaveit_method_not_allowed(ngx_http_request_t *r, const char *allow)
{
    ngx_table_elt_t  *h;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = (u_char *) allow;
    h->value.len = ngx_strlen(allow);

    return ngx_http_weaveit_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                       "Method not allowed");
}


/*
 * Answers a request that was parked with r->main->count++ while the
 * database worked, from outside the request's own event handlers.
 */

void
ngx_http_weaveit_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * Runs one query for a request: parks the request (r->main->count++) and
 * returns NGX_DONE; the handler answers with ngx_http_weaveit_finalize().
 */

static ngx_int_t
ngx_http_weaveit_request_query(ngx_http_request_t *r,
    ngx_http_weaveit_pg_query_t *q, const char *sql, int nparams,
    const char *const *values, ngx_http_weaveit_pg_handler_pt handler)
{
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = ngx_http_get_module_main_conf(r, ngx_http_weaveit_module);

    if (q == NULL) {
        q = ngx_pcalloc(r->pool, sizeof(ngx_http_weaveit_pg_query_t));
        if (q == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    q->sql = sql;
    q->nparams = nparams;
    q->values = values;
    q->handler = handler;
    q->data = r;
    q->log = r->connection->log;

    if (ngx_http_weaveit_pg_query(wmcf->pool, q, r->pool) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;

    return NGX_DONE;
}


/* the pool logged the details; the client learns only what kind */

ngx_int_t
ngx_http_weaveit_db_error(ngx_http_request_t *r,
    ngx_http_weaveit_pg_query_t *q)
{
    return ngx_http_weaveit_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       q->timed_out ? "Database timeout"
                                                    : "Database unavailable");
}


/* NGX_DECLINED: the request may go on; anything else is to be returned */

ngx_int_t
ngx_http_weaveit_get_only(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_weaveit_method_not_allowed(r, "GET, HEAD");
    }

    rc = ngx_http_discard_request_body(r);

    return (rc == NGX_OK) ? NGX_DECLINED : rc;
}


/*
 * Evaluates a handler's id or wallet argument into a NUL-terminated
 * string and checks it.  NGX_DECLINED: the key is good; anything else is
 * to be returned (the 400 was sent).
 */

static ngx_int_t
ngx_http_weaveit_eval_key(ngx_http_request_t *r, ngx_http_complex_value_t *cv,
    ngx_uint_t (*valid)(ngx_str_t *key), const char *invalid, ngx_str_t *key)
{
    ngx_str_t  value;

    if (ngx_http_complex_value(r, cv, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!valid(&value)) {
        return ngx_http_weaveit_send_error(r, NGX_HTTP_BAD_REQUEST, invalid);
    }

    key->data = (u_char *) ngx_http_weaveit_pstrdup(r->pool, &value);
    key->len = value.len;

    return key->data ? NGX_DECLINED : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* GET of one row by a key taken from the URI: status and points */

static ngx_int_t
ngx_http_weaveit_lookup(ngx_http_request_t *r, ngx_http_complex_value_t *cv,
    ngx_uint_t (*valid)(ngx_str_t *key), const char *invalid,
    const char *sql, ngx_http_weaveit_pg_handler_pt handler)
{
    ngx_int_t     rc;
    ngx_str_t     key;
    const char  **values;

    rc = ngx_http_weaveit_get_only(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_weaveit_eval_key(r, cv, valid, invalid, &key);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    values = ngx_palloc(r->pool, sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = (char *) key.data;

    return ngx_http_weaveit_request_query(r, NULL, sql, 1, values, handler);
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
 * A Solana public key: 32 to 44 base58 characters decoding to exactly
 * 32 bytes.  Debian packages no base58 library, hence this decoder.
 */

static ngx_uint_t
ngx_http_weaveit_is_wallet(ngx_str_t *wallet)
{
    static const char  alphabet[] =
        "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

    u_char       num[33];
    size_t       i, j, zeros, used;
    ngx_uint_t   carry;
    const char  *digit;
    size_t       len;
    u_char      *s;

    s = wallet->data;
    len = wallet->len;

    if (len < 32 || len > 44) {
        return 0;
    }

    ngx_memzero(num, sizeof(num));
    zeros = 0;

    while (zeros < len && s[zeros] == '1') {
        zeros++;
    }

    for (i = 0; i < len; i++) {
        digit = (s[i] == '\0') ? NULL : ngx_strchr(alphabet, s[i]);
        if (digit == NULL) {
            return 0;
        }

        carry = digit - alphabet;

        for (j = sizeof(num); j > 0; j--) {
            carry += 58 * num[j - 1];
            num[j - 1] = carry & 0xff;
            carry >>= 8;
        }

        if (carry) {
            return 0;
        }
    }

    for (used = sizeof(num); used > 0 && num[sizeof(num) - used] == 0;
         used--)
    {
        /* void */
    }

    return zeros + used == 32;
}


static char *
ngx_http_weaveit_pstrdup(ngx_pool_t *pool, ngx_str_t *s)
{
    char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p != NULL) {
        ngx_memcpy(p, s->data, s->len);
        p[s->len] = '\0';
    }

    return p;
}


/* GET /api/db/health */


ngx_int_t
ngx_http_weaveit_health_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_weaveit_get_only(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_weaveit_request_query(r, NULL, "SELECT 1", 0, NULL,
                                          ngx_http_weaveit_health_done);
}


static void
ngx_http_weaveit_health_done(ngx_http_weaveit_pg_query_t *q)
{
    json_t              *json;
    ngx_uint_t           status;
    ngx_http_request_t  *r;

    r = q->data;

    if (q->error) {
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        json = json_pack("{sbss}", "ok", 0, "error",
                         q->timed_out ? "Database timeout"
                                      : "Database unavailable");

    } else {
        status = NGX_HTTP_OK;
        json = json_pack("{sb}", "ok", 1);
    }

    ngx_http_weaveit_finalize(r, ngx_http_weaveit_send_json(r, status, json));
}


/* POST /api/generate */


ngx_int_t
ngx_http_weaveit_generate_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_weaveit_method_not_allowed(r, "POST");
    }

    if (!ngx_http_weaveit_is_json(r)) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            r->keepalive = 0;
        }

        return ngx_http_weaveit_send_error(r,
                                    NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                    "Content-Type must be application/json");
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_weaveit_generate_body);

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        r->keepalive = 0;
        return ngx_http_weaveit_send_error(r, rc, "Request body too large");
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_uint_t
ngx_http_weaveit_is_json(ngx_http_request_t *r)
{
    size_t      len;
    ngx_str_t  *type;

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    type = &r->headers_in.content_type->value;
    len = sizeof("application/json") - 1;

    if (type->len < len
        || ngx_strncasecmp(type->data, (u_char *) "application/json", len)
           != 0)
    {
        return 0;
    }

    return type->len == len || type->data[len] == ';'
           || type->data[len] == ' ';
}


static void
ngx_http_weaveit_generate_body(ngx_http_request_t *r)
{
    uuid_t                            uu;
    json_t                           *json;
    ngx_int_t                         rc;
    ngx_str_t                         body, wait;
    const char                       *error;
    json_error_t                      jerr;
    ngx_http_weaveit_loc_conf_t      *wlcf;
    ngx_http_weaveit_generate_ctx_t  *ctx;

    if (ngx_http_weaveit_read_body(r, &body) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_weaveit_generate_ctx_t));
    if (ctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    json = json_loadb((char *) body.data, body.len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (json == NULL) {
        rc = ngx_http_weaveit_send_json(r, NGX_HTTP_BAD_REQUEST,
                 json_pack("{s:s+}", "error", "Invalid JSON: ", jerr.text));
        ngx_http_finalize_request(r, rc);
        return;
    }

    error = ngx_http_weaveit_validate(r, json, ctx);
    json_decref(json);

    if (error) {
        ngx_http_finalize_request(r,
            ngx_http_weaveit_send_error(r, NGX_HTTP_BAD_REQUEST, error));
        return;
    }

    if (ctx->values[0] == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);

    ctx->wait = wlcf->generate_wait
                || (ngx_http_arg(r, (u_char *) "wait", 4, &wait) == NGX_OK
                    && wait.len == 1 && wait.data[0] == '1');
    ctx->cost = wlcf->generate_cost;

    ctx->job_id.data = ngx_pnalloc(r->pool, NGX_HTTP_WEAVEIT_UUID_LEN + 1);
    ctx->values[4] = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 1);
    ctx->values[5] = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 1);
    ctx->values[6] = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 1);
    if (ctx->job_id.data == NULL || ctx->values[4] == NULL
        || ctx->values[5] == NULL || ctx->values[6] == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    uuid_generate_random(uu);
    uuid_unparse_lower(uu, (char *) ctx->job_id.data);
    ctx->job_id.len = NGX_HTTP_WEAVEIT_UUID_LEN;

    (void) ngx_sprintf((u_char *) ctx->values[4], "%i%Z",
                       wlcf->signup_points);
    (void) ngx_sprintf((u_char *) ctx->values[5], "%i%Z", ctx->cost);
    (void) ngx_sprintf((u_char *) ctx->values[6], "%i%Z", wlcf->max_pending);
    ctx->values[0] = (char *) ctx->job_id.data;

    /* the body read holds the request: no count++ of our own */

    rc = ngx_http_weaveit_request_query(r, &ctx->query,
             "SELECT outcome, points FROM weaveit_create_job("
             "$1::uuid, $2, $3, $4, $5::int, $6::int, $7::int)",
             7, ctx->values, ngx_http_weaveit_generate_created);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    r->main->count--;
}


/* the body in one piece; it is bounded by client_max_body_size */

static ngx_int_t
ngx_http_weaveit_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    size_t        len;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL; cl;
         cl = cl->next)
    {
        len += ngx_buf_size(cl->buf);
    }

    body->len = len;
    body->data = ngx_pnalloc(r->pool, len + 1);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body ? r->request_body->bufs : NULL; cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                return NGX_ERROR;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    *p = '\0';

    return NGX_OK;
}


/*
 * Checks the fields and fills ctx->values[1..3] (wallet, script, title);
 * returns the error for the client, naming the field, or NULL.
 */

static const char *
ngx_http_weaveit_validate(ngx_http_request_t *r, json_t *json,
    ngx_http_weaveit_generate_ctx_t *ctx)
{
    size_t                        len, i, chars;
    json_t                       *script, *wallet, *title;
    ngx_str_t                     s, w;
    const u_char                 *p;
    ngx_http_weaveit_loc_conf_t  *wlcf;

    static u_char  too_long[64];

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);

    if (!json_is_object(json)) {
        return "Request body must be a JSON object";
    }

    script = json_object_get(json, "script");
    if (script == NULL || json_is_null(script)) {
        return "script is required";
    }

    if (!json_is_string(script)) {
        return "script must be a string";
    }

    p = (const u_char *) json_string_value(script);
    len = json_string_length(script);

    for (i = 0; i < len; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') {
            break;
        }
    }

    if (i == len) {
        return "script must not be empty";
    }

    if (len > wlcf->max_script) {
        (void) ngx_snprintf(too_long, sizeof(too_long) - 1,
                            "script is longer than %uz bytes%Z",
                            wlcf->max_script);
        return (const char *) too_long;
    }

    wallet = json_object_get(json, "walletAddress");
    if (wallet == NULL || json_is_null(wallet)) {
        return "walletAddress is required";
    }

    if (!json_is_string(wallet)) {
        return "walletAddress must be a Solana base58 public key";
    }

    w.len = json_string_length(wallet);
    w.data = (u_char *) json_string_value(wallet);

    if (!ngx_http_weaveit_is_wallet(&w)) {
        return "walletAddress must be a Solana base58 public key";
    }

    title = json_object_get(json, "title");

    if (title && !json_is_null(title)) {
        if (!json_is_string(title)) {
            return "title must be a string";
        }

        /* jansson checked the UTF-8: count characters, not bytes */

        p = (const u_char *) json_string_value(title);
        chars = 0;

        for (i = 0; i < json_string_length(title); i++) {
            chars += (p[i] & 0xc0) != 0x80;
        }

        if (chars > NGX_HTTP_WEAVEIT_MAX_TITLE) {
            return "title must be at most 200 characters";
        }

        s.data = (u_char *) p;
        s.len = json_string_length(title);
        ctx->values[3] = s.len ? ngx_http_weaveit_pstrdup(r->pool, &s)
                               : NULL;
    }

    ctx->values[1] = ngx_http_weaveit_pstrdup(r->pool, &w);

    s.data = (u_char *) json_string_value(script);
    s.len = len;
    ctx->values[2] = ngx_http_weaveit_pstrdup(r->pool, &s);

    ctx->values[0] = (ctx->values[1] && ctx->values[2]) ? "" : NULL;

    return NULL;
}


static void
ngx_http_weaveit_generate_created(ngx_http_weaveit_pg_query_t *q)
{
    char                             *outcome;
    ngx_int_t                         rc, points;
    ngx_table_elt_t                  *h;
    ngx_http_request_t               *r;
    ngx_http_weaveit_generate_ctx_t  *ctx;

    r = q->data;
    ctx = (ngx_http_weaveit_generate_ctx_t *) q;

    if (q->error) {
        ngx_http_weaveit_finalize(r, ngx_http_weaveit_db_error(r, q));
        return;
    }

    outcome = PQgetvalue(q->result, 0, 0);
    points = ngx_atoi((u_char *) PQgetvalue(q->result, 0, 1),
                      PQgetlength(q->result, 0, 1));

    if (ngx_strcmp(outcome, "busy") == 0) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            ngx_http_weaveit_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        ngx_str_set(&h->value, "10");

        rc = ngx_http_weaveit_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                         "Too many pending jobs, retry later");
        ngx_http_weaveit_finalize(r, rc);
        return;
    }

    if (ngx_strcmp(outcome, "points") == 0) {
        rc = ngx_http_weaveit_send_json(r, 402,
                 json_pack("{sssIsI}", "error", "Not enough points",
                           "required", (json_int_t) ctx->cost,
                           "points", (json_int_t) points));
        ngx_http_weaveit_finalize(r, rc);
        return;
    }

    ngx_http_weaveit_job_kick(
        ngx_http_get_module_main_conf(r, ngx_http_weaveit_module));

    if (ctx->wait) {
        if (ngx_http_weaveit_job_wait(r, &ctx->job_id) != NGX_OK) {
            ngx_http_weaveit_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    ngx_http_weaveit_finalize(r, ngx_http_weaveit_send_accepted(r, ctx));
}


static ngx_int_t
ngx_http_weaveit_send_accepted(ngx_http_request_t *r,
    ngx_http_weaveit_generate_ctx_t *ctx)
{
    u_char           *status_url, *video_url;
    ngx_table_elt_t  *h;

    status_url = ngx_pnalloc(r->pool, sizeof("/api/videos/status/")
                                      + NGX_HTTP_WEAVEIT_UUID_LEN);
    video_url = ngx_pnalloc(r->pool, sizeof("/api/videos/")
                                     + NGX_HTTP_WEAVEIT_UUID_LEN);
    h = ngx_list_push(&r->headers_out.headers);
    if (status_url == NULL || video_url == NULL || h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_sprintf(status_url, "/api/videos/status/%V%Z", &ctx->job_id);
    (void) ngx_sprintf(video_url, "/api/videos/%V%Z", &ctx->job_id);

    h->hash = 1;
    ngx_str_set(&h->key, "Location");
    h->value.data = status_url;
    h->value.len = ngx_strlen(status_url);
    r->headers_out.location = h;

    return ngx_http_weaveit_send_json(r, NGX_HTTP_ACCEPTED,
               json_pack("{s:s%,s:s,s:s,s:s}",
                         "jobId", ctx->job_id.data, ctx->job_id.len,
                         "status", "pending",
                         "statusUrl", status_url,
                         "videoUrl", video_url));
}


/* wait mode: the original service's answers, once the job has ended */

void
ngx_http_weaveit_send_generated(ngx_http_request_t *r, ngx_str_t *job_id,
    ngx_str_t *video_id)
{
    json_t  *json;

    if (video_id == NULL) {
        json = json_pack("{s:s,s:s%}", "error", "Failed to generate video",
                         "jobId", job_id->data, job_id->len);
        ngx_http_weaveit_finalize(r,
            ngx_http_weaveit_send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       json));
        return;
    }

    json = json_pack("{s:s%,s:s%,s:s,s:s}",
                     "jobId", job_id->data, job_id->len,
                     "videoId", video_id->data, video_id->len,
                     "status", "completed",
                     "message",
                     "Educational tutorial video generated successfully");

    ngx_http_weaveit_finalize(r,
                         ngx_http_weaveit_send_json(r, NGX_HTTP_OK, json));
}


/* GET /api/videos/status/:jobId */


ngx_int_t
ngx_http_weaveit_status_handler(ngx_http_request_t *r)
{
    ngx_http_weaveit_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);

    return ngx_http_weaveit_lookup(r, wlcf->status_id,
        ngx_http_weaveit_is_uuid, "Invalid job id",
        "SELECT j.job_id, j.status, j.error_message,"
        "  weaveit_iso(j.created_at), weaveit_iso(j.updated_at), j.progress,"
        "  EXISTS (SELECT 1 FROM videos v WHERE v.job_id = j.job_id)"
        " FROM video_jobs j WHERE j.job_id = $1::uuid",
        ngx_http_weaveit_status_done);
}


static void
ngx_http_weaveit_status_done(ngx_http_weaveit_pg_query_t *q)
{
    int                  available;
    json_t              *json;
    PGresult            *res;
    const char          *status;
    ngx_http_request_t  *r;

    r = q->data;
    res = q->result;

    if (q->error) {
        ngx_http_weaveit_finalize(r, ngx_http_weaveit_db_error(r, q));
        return;
    }

    if (PQntuples(res) == 0) {
        ngx_http_weaveit_finalize(r,
            ngx_http_weaveit_send_error(r, NGX_HTTP_NOT_FOUND,
                                        "Job not found"));
        return;
    }

    status = PQgetvalue(res, 0, 1);
    available = (PQgetvalue(res, 0, 6)[0] == 't');

    json = json_pack("{s:s,s:s,s:b,s:o,s:s,s:s,s:b,s:i}",
                     "jobId", PQgetvalue(res, 0, 0),
                     "status", status,
                     "ready", ngx_strcmp(status, "completed") == 0
                              && available,
                     "error", PQgetisnull(res, 0, 2)
                              ? json_null()
                              : json_string(PQgetvalue(res, 0, 2)),
                     "createdAt", PQgetvalue(res, 0, 3),
                     "updatedAt", PQgetvalue(res, 0, 4),
                     "videoAvailable", available,
                     "progress", atoi(PQgetvalue(res, 0, 5)));

    ngx_http_weaveit_finalize(r,
                          ngx_http_weaveit_send_json(r, NGX_HTTP_OK, json));
}


/* GET /api/wallet/:wallet/videos?limit=&offset= */


ngx_int_t
ngx_http_weaveit_wallet_videos_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc, limit, offset;
    ngx_str_t                     wallet, arg;
    const char                  **values;
    ngx_http_weaveit_loc_conf_t  *wlcf;

    rc = ngx_http_weaveit_get_only(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);

    rc = ngx_http_weaveit_eval_key(r, wlcf->wallet, ngx_http_weaveit_is_wallet,
                                   "Invalid wallet address", &wallet);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    limit = NGX_HTTP_WEAVEIT_DEFAULT_LIMIT;
    offset = 0;

    if (ngx_http_arg(r, (u_char *) "limit", 5, &arg) == NGX_OK) {
        limit = ngx_atoi(arg.data, arg.len);
        if (limit < 1 || limit > NGX_HTTP_WEAVEIT_MAX_LIMIT) {
            return ngx_http_weaveit_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "limit must be between 1 and 100");
        }
    }

    if (ngx_http_arg(r, (u_char *) "offset", 6, &arg) == NGX_OK) {
        offset = ngx_atoi(arg.data, arg.len);
        if (offset < 0 || offset > NGX_HTTP_WEAVEIT_MAX_OFFSET) {
            return ngx_http_weaveit_send_error(r, NGX_HTTP_BAD_REQUEST,
                                   "offset must be between 0 and 1000000");
        }
    }

    values = ngx_palloc(r->pool, 3 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = (char *) wallet.data;
    values[1] = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 1);
    values[2] = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 1);
    if (values[0] == NULL || values[1] == NULL || values[2] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_sprintf((u_char *) values[1], "%i%Z", limit);
    (void) ngx_sprintf((u_char *) values[2], "%i%Z", offset);

    return ngx_http_weaveit_request_query(r, NULL,
        "WITH page AS ("
        "  SELECT v.video_id, v.job_id, j.title, v.duration_sec, v.format,"
        "    v.created_at"
        "  FROM videos v JOIN video_jobs j ON j.job_id = v.job_id"
        "  WHERE v.wallet_address = $1"
        "  ORDER BY v.created_at DESC, v.video_id"
        "  LIMIT $2::int OFFSET $3::int"
        ") SELECT p.video_id, p.job_id, p.title, p.duration_sec, p.format,"
        "    weaveit_iso(p.created_at), t.total"
        "  FROM (SELECT count(*) AS total FROM videos"
        "        WHERE wallet_address = $1) t"
        "  LEFT JOIN page p ON true"
        "  ORDER BY p.created_at DESC, p.video_id",
        3, values, ngx_http_weaveit_wallet_videos_done);
}


static void
ngx_http_weaveit_wallet_videos_done(ngx_http_weaveit_pg_query_t *q)
{
    int                  row;
    char                *url;
    json_t              *videos, *video, *json;
    PGresult            *res;
    ngx_http_request_t  *r;

    r = q->data;
    res = q->result;

    if (q->error) {
        ngx_http_weaveit_finalize(r, ngx_http_weaveit_db_error(r, q));
        return;
    }

    videos = json_array();

    for (row = 0; row < PQntuples(res) && videos; row++) {
        if (PQgetisnull(res, row, 0)) {
            continue;
        }

        url = ngx_pnalloc(r->pool, sizeof("/api/videos/")
                                   + NGX_HTTP_WEAVEIT_UUID_LEN);
        if (url == NULL) {
            json_decref(videos);
            videos = NULL;
            break;
        }

        (void) ngx_sprintf((u_char *) url, "/api/videos/%s%Z",
                           PQgetvalue(res, row, 0));

        video = json_pack("{s:s,s:s,s:o,s:o,s:s,s:s,s:s}",
                          "videoId", PQgetvalue(res, row, 0),
                          "jobId", PQgetvalue(res, row, 1),
                          "title", PQgetisnull(res, row, 2)
                                   ? json_null()
                                   : json_string(PQgetvalue(res, row, 2)),
                          "durationSec", PQgetisnull(res, row, 3)
                                   ? json_null()
                                   : json_integer(atoi(PQgetvalue(res, row,
                                                                  3))),
                          "format", PQgetvalue(res, row, 4),
                          "createdAt", PQgetvalue(res, row, 5),
                          "videoUrl", url);

        if (json_array_append_new(videos, video) != 0) {
            json_decref(videos);
            videos = NULL;
        }
    }

    json = NULL;

    if (videos) {
        json = json_pack("{s:s,s:I,s:I,s:o}",
                         "walletAddress", ((const char **) q->values)[0],
                         "count", (json_int_t) json_array_size(videos),
                         "total", (json_int_t) (PQntuples(res)
                                  ? atoll(PQgetvalue(res, 0, 6)) : 0),
                         "videos", videos);
    }

    ngx_http_weaveit_finalize(r,
                          ngx_http_weaveit_send_json(r, NGX_HTTP_OK, json));
}


/* GET /api/users/:wallet/points */


ngx_int_t
ngx_http_weaveit_points_handler(ngx_http_request_t *r)
{
    ngx_http_weaveit_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);

    return ngx_http_weaveit_lookup(r, wlcf->wallet,
        ngx_http_weaveit_is_wallet, "Invalid wallet address",
        "SELECT wallet_address, prompt_points FROM users"
        " WHERE wallet_address = $1",
        ngx_http_weaveit_points_done);
}


static void
ngx_http_weaveit_points_done(ngx_http_weaveit_pg_query_t *q)
{
    ngx_http_request_t  *r;

    r = q->data;

    if (q->error) {
        ngx_http_weaveit_finalize(r, ngx_http_weaveit_db_error(r, q));
        return;
    }

    if (PQntuples(q->result) == 0) {
        ngx_http_weaveit_finalize(r,
            ngx_http_weaveit_send_error(r, NGX_HTTP_NOT_FOUND,
                                        "User not found"));
        return;
    }

    ngx_http_weaveit_finalize(r,
        ngx_http_weaveit_send_json(r, NGX_HTTP_OK,
            json_pack("{s:s,s:I}",
                      "walletAddress", PQgetvalue(q->result, 0, 0),
                      "points", (json_int_t) atoll(PQgetvalue(q->result, 0,
                                                              1)))));
}


/* GET /: the demo page (conf/www/index.html, compiled in) */


ngx_int_t
ngx_http_weaveit_demo_handler(ngx_http_request_t *r)
{
    ngx_int_t   rc;
    ngx_buf_t  *b;

    rc = ngx_http_weaveit_get_only(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) ngx_http_weaveit_demo_html;
    b->last = b->pos + sizeof(ngx_http_weaveit_demo_html) - 1;
    b->memory = 1;

    ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");

    return ngx_http_weaveit_send_buf(r, NGX_HTTP_OK, b);
}
