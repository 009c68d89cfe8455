
/*
 * The JSON endpoints: health, generate, job status, a wallet's videos, its
 * points, and the demo page.  How a request is answered is in
 * ngx_http_weaveit_http.c; the job queue is in ngx_http_weaveit_job.c.
 */


#include "ngx_http_weaveit.h"
#include "ngx_http_weaveit_demo.h"

#include <uuid/uuid.h>


/* characters, as the original service counted them */
#define NGX_HTTP_WEAVEIT_TITLE_MAX      200
#define NGX_HTTP_WEAVEIT_DEFAULT_LIMIT  20
#define NGX_HTTP_WEAVEIT_MAX_LIMIT      100
#define NGX_HTTP_WEAVEIT_MAX_OFFSET     1000000
#define NGX_HTTP_WEAVEIT_AWARD_MAX      1000000
#define NGX_HTTP_WEAVEIT_NOTE_MAX       200


typedef struct {
    ngx_http_weaveit_pg_query_t    query;
    const char                    *values[11];
    ngx_str_t                      job_id;
    ngx_int_t                      cost;
    ngx_uint_t                     wait;
    u_char                         id[NGX_HTTP_WEAVEIT_UUID_LEN + 1];
    u_char                         signup_points[NGX_INT_T_LEN + 1];
    u_char                         cost_text[NGX_INT_T_LEN + 1];
    u_char                         max_pending[NGX_INT_T_LEN + 1];
    u_char                         max_wallet[NGX_INT_T_LEN + 1];
    u_char                         expires[NGX_TIME_T_LEN + 1];
    u_char                         error[64];

    /*
     * weaveit_auth signature: the lowercase hex SHA-256 of the request's
     * signature, recorded with the job so it is spent once, and until when
     * it would be accepted; empty when unsigned
     */
    u_char                         signature[2 * 32 + 1];
    time_t                         signature_expires;
} ngx_http_weaveit_generate_ctx_t;


static ngx_int_t ngx_http_weaveit_send_query(ngx_http_request_t *r,
    ngx_http_weaveit_pg_query_t *q, const char *sql, int nparams,
    const char *const *values, ngx_http_weaveit_pg_handler_pt handler);
static ngx_int_t ngx_http_weaveit_body_query(ngx_http_request_t *r,
    const char *sql, int nparams, const char *const *values,
    ngx_http_weaveit_pg_handler_pt handler);
static ngx_int_t ngx_http_weaveit_request_query(ngx_http_request_t *r,
    const char *sql, int nparams, const char *const *values,
    ngx_http_weaveit_pg_handler_pt handler);
static ngx_int_t ngx_http_weaveit_eval_key(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_uint_t (*valid)(ngx_str_t *key),
    const char *invalid, ngx_str_t *key);
static ngx_int_t ngx_http_weaveit_wallet_key(ngx_http_request_t *r,
    ngx_str_t *wallet);
static ngx_int_t ngx_http_weaveit_lookup(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_uint_t (*valid)(ngx_str_t *key),
    const char *invalid, const char *sql,
    ngx_http_weaveit_pg_handler_pt handler);
static ngx_int_t ngx_http_weaveit_query_key(ngx_http_request_t *r,
    ngx_str_t *key, const char *sql, ngx_http_weaveit_pg_handler_pt handler);
static void ngx_http_weaveit_health_done(ngx_http_weaveit_pg_query_t *q);
static ngx_uint_t ngx_http_weaveit_is_json(ngx_http_request_t *r);
static void ngx_http_weaveit_generate_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_weaveit_generate_parse(ngx_http_request_t *r,
    ngx_http_weaveit_generate_ctx_t *ctx, ngx_str_t *body);
static ngx_int_t ngx_http_weaveit_generate_verify(ngx_http_request_t *r,
    ngx_http_weaveit_generate_ctx_t *ctx, ngx_str_t *body);
static ngx_int_t ngx_http_weaveit_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_weaveit_generate_fields(ngx_http_request_t *r,
    json_t *json, ngx_http_weaveit_generate_ctx_t *ctx, const char **error);
static const char *ngx_http_weaveit_check_script(ngx_http_request_t *r,
    json_t *script, ngx_http_weaveit_generate_ctx_t *ctx, ngx_str_t *s);
static const char *ngx_http_weaveit_check_wallet(json_t *wallet,
    ngx_str_t *s);
static const char *ngx_http_weaveit_check_voice(ngx_http_request_t *r,
    json_t *voice, ngx_str_t *s);
static const char *ngx_http_weaveit_check_text(json_t *text, size_t max,
    const char *not_string, const char *too_long, ngx_str_t *s);
static ngx_int_t ngx_http_weaveit_generate_create(ngx_http_request_t *r,
    ngx_http_weaveit_generate_ctx_t *ctx);
static void ngx_http_weaveit_generate_created(
    ngx_http_weaveit_pg_query_t *q);
static ngx_int_t ngx_http_weaveit_generate_refused(ngx_http_request_t *r,
    ngx_http_weaveit_generate_ctx_t *ctx, PGresult *res);
static ngx_int_t ngx_http_weaveit_send_busy(ngx_http_request_t *r,
    const char *message);
static ngx_int_t ngx_http_weaveit_send_accepted(ngx_http_request_t *r,
    ngx_http_weaveit_generate_ctx_t *ctx);
static void ngx_http_weaveit_generate_ended(void *data, ngx_str_t *job_id,
    ngx_int_t rc, ngx_str_t *video_id);
static void ngx_http_weaveit_status_done(ngx_http_weaveit_pg_query_t *q);
static void ngx_http_weaveit_wallet_videos_done(
    ngx_http_weaveit_pg_query_t *q);
static json_t *ngx_http_weaveit_wallet_video(ngx_http_request_t *r,
    PGresult *res, int row);
static void ngx_http_weaveit_points_done(ngx_http_weaveit_pg_query_t *q);
static ngx_int_t ngx_http_weaveit_post_json(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler);
static ngx_int_t ngx_http_weaveit_load_json(ngx_http_request_t *r,
    ngx_str_t *body, json_t **json);
static void ngx_http_weaveit_award_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_weaveit_award_parse(ngx_http_request_t *r,
    const char **values);
static const char *ngx_http_weaveit_award_fields(ngx_http_request_t *r,
    json_t *json, const char **values);
static const char *ngx_http_weaveit_check_award(json_t *points,
    ngx_int_t *n);
static void ngx_http_weaveit_award_done(ngx_http_weaveit_pg_query_t *q);


static const char  ngx_http_weaveit_health_sql[] = "SELECT 1";

/*
 * signature, user, signup points, charge, queue limits and their ledger
 * rows in one round trip: conf/schema.sql has the outcomes
 */

static const char  ngx_http_weaveit_create_job_sql[] =
    "SELECT outcome, points FROM weaveit_create_job("
    "$1::uuid, $2, $3, $4, $5::int, $6::int, $7::int, $8::int, $9,"
    " to_timestamp($10::bigint), $11)";

static const char  ngx_http_weaveit_status_sql[] =
    "SELECT j.job_id, j.status, j.error_message,"
    "  weaveit_iso(j.created_at), weaveit_iso(j.updated_at), j.progress,"
    "  EXISTS (SELECT 1 FROM videos v WHERE v.job_id = j.job_id), j.voice"
    " FROM video_jobs j WHERE j.job_id = $1::uuid";

/* one page, and the wallet's total even when the page is empty */

static const char  ngx_http_weaveit_wallet_videos_sql[] =
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
    "  ORDER BY p.created_at DESC, p.video_id";

static const char  ngx_http_weaveit_points_sql[] =
    "SELECT wallet_address, prompt_points FROM users"
    " WHERE wallet_address = $1";

/*
 * an award and its ledger row in one statement; the wallet is created if
 * need be (without signup points: they come with a first generation).
 * No row: the balance would pass the INTEGER column's maximum.
 */

static const char  ngx_http_weaveit_award_sql[] =
    "WITH a AS ("
    "  INSERT INTO users AS u (wallet_address, prompt_points)"
    "  VALUES ($1, $2::int)"
    "  ON CONFLICT (wallet_address) DO UPDATE"
    "  SET prompt_points = u.prompt_points + excluded.prompt_points"
    "  WHERE u.prompt_points <= 2147483647 - excluded.prompt_points"
    "  RETURNING wallet_address, prompt_points"
    "), l AS ("
    "  INSERT INTO points_ledger (wallet_address, delta, reason, note)"
    "  SELECT wallet_address, $2::int, 'award', $3 FROM a"
    ") SELECT wallet_address, prompt_points FROM a";


/* sends one query on behalf of a request; its handler gets q->data == r */

static ngx_int_t
ngx_http_weaveit_send_query(ngx_http_request_t *r,
    ngx_http_weaveit_pg_query_t *q, const char *sql, int nparams,
    const char *const *values, ngx_http_weaveit_pg_handler_pt handler)
{
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = ngx_http_get_module_main_conf(r, ngx_http_weaveit_module);

    q->sql = sql;
    q->nparams = nparams;
    q->values = values;
    q->handler = handler;
    q->data = r;
    q->log = r->connection->log;

    return ngx_http_weaveit_pg_query(wmcf->pool, q, r->pool);
}


/*
 * From a body handler: runs one query, which the body read's reference
 * keeps the request for.  NGX_DONE, or a code to finalize with.
 */

static ngx_int_t
ngx_http_weaveit_body_query(ngx_http_request_t *r, const char *sql,
    int nparams, const char *const *values,
    ngx_http_weaveit_pg_handler_pt handler)
{
    ngx_http_weaveit_pg_query_t  *q;

    q = ngx_pcalloc(r->pool, sizeof(ngx_http_weaveit_pg_query_t));
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_weaveit_send_query(r, q, sql, nparams, values, handler)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DONE;
}


/*
 * From a content handler: runs one query and parks the request
 * (r->main->count++); the query's handler answers with
 * ngx_http_weaveit_finalize().
 */

static ngx_int_t
ngx_http_weaveit_request_query(ngx_http_request_t *r, const char *sql,
    int nparams, const char *const *values,
    ngx_http_weaveit_pg_handler_pt handler)
{
    ngx_int_t  rc;

    rc = ngx_http_weaveit_body_query(r, sql, nparams, values, handler);

    if (rc == NGX_DONE) {
        r->main->count++;
    }

    return rc;
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


/* a GET of a wallet's data: NGX_DECLINED and *wallet, or what to return */

static ngx_int_t
ngx_http_weaveit_wallet_key(ngx_http_request_t *r, ngx_str_t *wallet)
{
    ngx_int_t                     rc;
    ngx_http_weaveit_loc_conf_t  *wlcf;

    rc = ngx_http_weaveit_get_only(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);

    return ngx_http_weaveit_eval_key(r, wlcf->wallet,
                                     ngx_http_weaveit_is_wallet,
                                     "Invalid wallet address", wallet);
}


/* GET of one row by a key taken from the URI: status */

static ngx_int_t
ngx_http_weaveit_lookup(ngx_http_request_t *r, ngx_http_complex_value_t *cv,
    ngx_uint_t (*valid)(ngx_str_t *key), const char *invalid,
    const char *sql, ngx_http_weaveit_pg_handler_pt handler)
{
    ngx_int_t  rc;
    ngx_str_t  key;

    rc = ngx_http_weaveit_get_only(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_weaveit_eval_key(r, cv, valid, invalid, &key);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_weaveit_query_key(r, &key, sql, handler);
}


/* the one-row query of a key from ngx_http_weaveit_eval_key() */

static ngx_int_t
ngx_http_weaveit_query_key(ngx_http_request_t *r, ngx_str_t *key,
    const char *sql, ngx_http_weaveit_pg_handler_pt handler)
{
    const char  **values;

    values = ngx_palloc(r->pool, sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = (char *) key->data;

    return ngx_http_weaveit_request_query(r, sql, 1, values, handler);
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

    return ngx_http_weaveit_request_query(r, ngx_http_weaveit_health_sql,
                                          0, NULL,
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
    return ngx_http_weaveit_post_json(r, ngx_http_weaveit_generate_body);
}


/*
 * A JSON POST's start: 405 for another method, 415 for another type, then
 * handler once the body is read.  The body read's own reference holds the
 * request until handler finalizes it.
 */

static ngx_int_t
ngx_http_weaveit_post_json(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler)
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

    rc = ngx_http_read_client_request_body(r, handler);

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


/* NGX_DECLINED: *json holds the body's JSON; otherwise the 400 was sent */

static ngx_int_t
ngx_http_weaveit_load_json(ngx_http_request_t *r, ngx_str_t *body,
    json_t **json)
{
    json_error_t  jerr;

    *json = json_loadb((char *) body->data, body->len, JSON_REJECT_DUPLICATES,
                       &jerr);
    if (*json == NULL) {
        return ngx_http_weaveit_send_json(r, NGX_HTTP_BAD_REQUEST,
                   json_pack("{s:s+}", "error", "Invalid JSON: ", jerr.text));
    }

    return NGX_DECLINED;
}


/*
 * The body is read: the body read's own reference holds the request
 * until a handler finalizes it, so nothing here parks it.  The body is
 * checked (400), then its signature (401), and only then does the
 * database see the request.
 */

static void
ngx_http_weaveit_generate_body(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         body;
    ngx_http_weaveit_generate_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_weaveit_generate_ctx_t));
    if (ctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_weaveit_module);

    rc = ngx_http_weaveit_read_body(r, &body);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_weaveit_generate_parse(r, ctx, &body);
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_weaveit_generate_verify(r, ctx, &body);
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_weaveit_generate_create(r, ctx);
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * NGX_DECLINED: ctx->values[1..3] hold the fields and the request goes on;
 * anything else is to be finalized with (the 400 was sent)
 */

static ngx_int_t
ngx_http_weaveit_generate_parse(ngx_http_request_t *r,
    ngx_http_weaveit_generate_ctx_t *ctx, ngx_str_t *body)
{
    json_t      *json;
    ngx_int_t    rc;
    const char  *error;

    rc = ngx_http_weaveit_load_json(r, body, &json);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_weaveit_generate_fields(r, json, ctx, &error);
    json_decref(json);

    if (rc == NGX_DECLINED) {
        return ngx_http_weaveit_send_error(r, NGX_HTTP_BAD_REQUEST, error);
    }

    return (rc == NGX_OK) ? NGX_DECLINED : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * weaveit_auth signature: the body's wallet signed this very request.
 * NGX_DECLINED: it did (or no signature is asked for), and ctx->signature
 * names it for the job; anything else is to be finalized with.
 */

static ngx_int_t
ngx_http_weaveit_generate_verify(ngx_http_request_t *r,
    ngx_http_weaveit_generate_ctx_t *ctx, ngx_str_t *body)
{
    ngx_str_t  wallet;

    wallet.data = (u_char *) ctx->values[1];
    wallet.len = ngx_strlen(wallet.data);

    return ngx_http_weaveit_auth_check(r, &wallet, body, ctx->signature,
                                       &ctx->signature_expires);
}


/*
 * NGX_DECLINED: *body holds the body in one piece; otherwise a code to
 * finalize with.  The location's body buffer holds the largest body the
 * handler accepts (ngx_http_weaveit_hold_body() in the module file), so
 * the body is in memory.  One nginx spooled to a temporary file all the
 * same, a chunked body swollen with chunk extensions say, is refused
 * rather than read back on the event loop.
 */

static ngx_int_t
ngx_http_weaveit_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    size_t        len;
    u_char       *p;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL; cl;
         cl = cl->next)
    {
        if (cl->buf->in_file) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "weaveit: request body refused: nginx buffered "
                          "it to a temporary file");

            return ngx_http_weaveit_send_error(r,
                                            NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                            "Request body too large");
        }

        len += ngx_buf_size(cl->buf);
    }

    body->len = len;
    body->data = ngx_pnalloc(r->pool, len + 1);
    if (body->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = body->data;

    for (cl = r->request_body ? r->request_body->bufs : NULL; cl;
         cl = cl->next)
    {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    *p = '\0';

    return NGX_DECLINED;
}


/*
 * Checks the fields in the original service's order, then the voice, and
 * copies them into ctx->values[1..3] (wallet, script, title) and [10]
 * (voice).  Returns NGX_OK, NGX_DECLINED with the client's error, naming
 * the field, in *error, or NGX_ERROR.
 */

static ngx_int_t
ngx_http_weaveit_generate_fields(ngx_http_request_t *r, json_t *json,
    ngx_http_weaveit_generate_ctx_t *ctx, const char **error)
{
    ngx_str_t  script, wallet, title, voice;

    if (!json_is_object(json)) {
        *error = "Request body must be a JSON object";
        return NGX_DECLINED;
    }

    *error = ngx_http_weaveit_check_script(r,
                 json_object_get(json, "script"), ctx, &script);

    if (*error == NULL) {
        *error = ngx_http_weaveit_check_wallet(
                     json_object_get(json, "walletAddress"), &wallet);
    }

    if (*error == NULL) {
        *error = ngx_http_weaveit_check_text(json_object_get(json, "title"),
                     NGX_HTTP_WEAVEIT_TITLE_MAX, "title must be a string",
                     "title must be at most 200 characters", &title);
    }

    if (*error == NULL) {
        *error = ngx_http_weaveit_check_voice(r,
                     json_object_get(json, "voice"), &voice);
    }

    if (*error) {
        return NGX_DECLINED;
    }

    ctx->values[1] = ngx_http_weaveit_pstrdup(r->pool, &wallet);
    ctx->values[2] = ngx_http_weaveit_pstrdup(r->pool, &script);
    ctx->values[3] = title.len ? ngx_http_weaveit_pstrdup(r->pool, &title)
                               : NULL;
    ctx->values[10] = ngx_http_weaveit_pstrdup(r->pool, &voice);

    if (ctx->values[1] == NULL || ctx->values[2] == NULL
        || (title.len && ctx->values[3] == NULL) || ctx->values[10] == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a message for the client, or NULL: *s is the script */

static const char *
ngx_http_weaveit_check_script(ngx_http_request_t *r, json_t *script,
    ngx_http_weaveit_generate_ctx_t *ctx, ngx_str_t *s)
{
    size_t                        i;
    ngx_http_weaveit_loc_conf_t  *wlcf;

    if (script == NULL || json_is_null(script)) {
        return "script is required";
    }

    if (!json_is_string(script)) {
        return "script must be a string";
    }

    s->data = (u_char *) json_string_value(script);
    s->len = json_string_length(script);

    for (i = 0; i < s->len; i++) {
        if (s->data[i] != ' ' && s->data[i] != '\t' && s->data[i] != '\r'
            && s->data[i] != '\n')
        {
            break;
        }
    }

    if (i == s->len) {
        return "script must not be empty";
    }

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);

    if (s->len > wlcf->max_script) {
        (void) ngx_snprintf(ctx->error, sizeof(ctx->error) - 1,
                            "script is longer than %uz bytes%Z",
                            wlcf->max_script);
        return (const char *) ctx->error;
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


/* an optional voice, one the operator allows; *s is the default without */

static const char *
ngx_http_weaveit_check_voice(ngx_http_request_t *r, json_t *voice,
    ngx_str_t *s)
{
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = ngx_http_get_module_main_conf(r, ngx_http_weaveit_module);

    if (voice == NULL || json_is_null(voice)) {
        *s = wmcf->voice;
        return NULL;
    }

    if (!json_is_string(voice)) {
        return "voice must be a string";
    }

    s->data = (u_char *) json_string_value(voice);
    s->len = json_string_length(voice);

    if (!ngx_http_weaveit_voice_allowed(wmcf, s)) {
        return "voice is not one of this server's voices (GET /api/voices)";
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


/* NGX_DONE: the job is being created; otherwise an answer's code */

static ngx_int_t
ngx_http_weaveit_generate_create(ngx_http_request_t *r,
    ngx_http_weaveit_generate_ctx_t *ctx)
{
    uuid_t                        uu;
    ngx_str_t                     wait;
    ngx_http_weaveit_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);

    ctx->wait = wlcf->generate_wait
                || (ngx_http_arg(r, (u_char *) "wait", 4, &wait) == NGX_OK
                    && wait.len == 1 && wait.data[0] == '1');
    ctx->cost = wlcf->generate_cost;

    uuid_generate_random(uu);
    uuid_unparse_lower(uu, (char *) ctx->id);
    ctx->job_id.data = ctx->id;
    ctx->job_id.len = NGX_HTTP_WEAVEIT_UUID_LEN;

    (void) ngx_sprintf(ctx->signup_points, "%i%Z", wlcf->signup_points);
    (void) ngx_sprintf(ctx->cost_text, "%i%Z", ctx->cost);
    (void) ngx_sprintf(ctx->max_pending, "%i%Z", wlcf->max_pending);
    (void) ngx_sprintf(ctx->max_wallet, "%i%Z", wlcf->max_pending_wallet);
    (void) ngx_sprintf(ctx->expires, "%T%Z", ctx->signature_expires);

    ctx->values[0] = (char *) ctx->id;
    ctx->values[4] = (char *) ctx->signup_points;
    ctx->values[5] = (char *) ctx->cost_text;
    ctx->values[6] = (char *) ctx->max_pending;
    ctx->values[7] = (char *) ctx->max_wallet;

    /* an unsigned request: SQL NULLs, and no signature to spend */

    if (ctx->signature[0] != '\0') {
        ctx->values[8] = (char *) ctx->signature;
        ctx->values[9] = (char *) ctx->expires;
    }

    if (ngx_http_weaveit_send_query(r, &ctx->query,
                                    ngx_http_weaveit_create_job_sql, 11,
                                    ctx->values,
                                    ngx_http_weaveit_generate_created)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DONE;
}


static void
ngx_http_weaveit_generate_created(ngx_http_weaveit_pg_query_t *q)
{
    ngx_http_request_t               *r;
    ngx_http_weaveit_loc_conf_t      *wlcf;
    ngx_http_weaveit_main_conf_t     *wmcf;
    ngx_http_weaveit_generate_ctx_t  *ctx;

    r = q->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_weaveit_module);

    if (q->error) {
        ngx_http_weaveit_finalize(r, ngx_http_weaveit_db_error(r, q));
        return;
    }

    if (ngx_strcmp(PQgetvalue(q->result, 0, 0), "created") != 0) {
        ngx_http_weaveit_finalize(r,
                      ngx_http_weaveit_generate_refused(r, ctx, q->result));
        return;
    }

    wmcf = ngx_http_get_module_main_conf(r, ngx_http_weaveit_module);

    ngx_http_weaveit_job_kick(wmcf->jobs);

    if (!ctx->wait) {
        ngx_http_weaveit_finalize(r, ngx_http_weaveit_send_accepted(r, ctx));
        return;
    }

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);

    if (ngx_http_weaveit_job_wait(wmcf->jobs, r->pool, &ctx->job_id,
                                  wlcf->generate_wait_timeout,
                                  ngx_http_weaveit_generate_ended, r)
        != NGX_OK)
    {
        ngx_http_weaveit_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* notice a client that leaves; the job goes on without it */

    r->read_event_handler = ngx_http_test_reading;
}


/* weaveit_create_job() refused the job and wrote nothing */

static ngx_int_t
ngx_http_weaveit_generate_refused(ngx_http_request_t *r,
    ngx_http_weaveit_generate_ctx_t *ctx, PGresult *res)
{
    char       *outcome;
    ngx_int_t   points;

    outcome = PQgetvalue(res, 0, 0);

    if (ngx_strcmp(outcome, "replayed") == 0) {
        return ngx_http_weaveit_send_unauthorized(r,
                                                  "Signature already used");
    }

    if (ngx_strcmp(outcome, "busy") == 0) {
        return ngx_http_weaveit_send_busy(r,
                                      "Too many pending jobs, retry later");
    }

    if (ngx_strcmp(outcome, "wallet_busy") == 0) {
        return ngx_http_weaveit_send_busy(r,
                                   "Too many pending jobs for this wallet");
    }

    if (ngx_strcmp(outcome, "points") == 0) {
        points = ngx_atoi((u_char *) PQgetvalue(res, 0, 1),
                          PQgetlength(res, 0, 1));

        return ngx_http_weaveit_send_json(r, 402,
                   json_pack("{sssIsI}", "error", "Not enough points",
                             "required", (json_int_t) ctx->cost,
                             "points", (json_int_t) points));
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "weaveit: unknown outcome \"%s\" of weaveit_create_job()",
                  outcome);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static ngx_int_t
ngx_http_weaveit_send_busy(ngx_http_request_t *r, const char *message)
{
    if (ngx_http_weaveit_add_header(r, "Retry-After", (u_char *) "10",
                                    sizeof("10") - 1)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_weaveit_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                       message);
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
    if (status_url == NULL || video_url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_sprintf(status_url, "/api/videos/status/%V%Z", &ctx->job_id);
    (void) ngx_sprintf(video_url, "/api/videos/%V%Z", &ctx->job_id);

    h = ngx_http_weaveit_add_header(r, "Location", status_url,
                                    ngx_strlen(status_url));
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.location = h;

    return ngx_http_weaveit_send_json(r, NGX_HTTP_ACCEPTED,
               json_pack("{s:s%,s:s,s:s,s:s}",
                         "jobId", ctx->job_id.data, ctx->job_id.len,
                         "status", "pending",
                         "statusUrl", status_url,
                         "videoUrl", video_url));
}


/*
 * wait mode: the original service's answers once the job has ended, or
 * 202 with its URLs when it runs past weaveit_generate_wait_timeout or
 * the worker exits
 */

static void
ngx_http_weaveit_generate_ended(void *data, ngx_str_t *job_id, ngx_int_t rc,
    ngx_str_t *video_id)
{
    ngx_http_request_t *r = data;

    json_t      *json;
    ngx_uint_t   status;

    if (rc == NGX_AGAIN) {
        ngx_http_weaveit_finalize(r, ngx_http_weaveit_send_accepted(r,
                              ngx_http_get_module_ctx(r,
                                                      ngx_http_weaveit_module)));
        return;
    }

    if (rc != NGX_OK) {
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        json = json_pack("{s:s,s:s%}", "error", "Failed to generate video",
                         "jobId", job_id->data, job_id->len);

    } else {
        status = NGX_HTTP_OK;
        json = json_pack("{s:s%,s:s%,s:s,s:s}",
                         "jobId", job_id->data, job_id->len,
                         "videoId", video_id->data, video_id->len,
                         "status", "completed",
                         "message",
                         "Educational tutorial video generated successfully");
    }

    ngx_http_weaveit_finalize(r, ngx_http_weaveit_send_json(r, status, json));
}


/* GET /api/videos/status/:jobId */


ngx_int_t
ngx_http_weaveit_status_handler(ngx_http_request_t *r)
{
    ngx_http_weaveit_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);

    return ngx_http_weaveit_lookup(r, wlcf->status_id,
                                   ngx_http_weaveit_is_uuid, "Invalid job id",
                                   ngx_http_weaveit_status_sql,
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

    json = json_pack("{s:s,s:s,s:b,s:o,s:s,s:s,s:b,s:i,s:o}",
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
                     "progress", atoi(PQgetvalue(res, 0, 5)),
                     "voice", PQgetisnull(res, 0, 7)
                              ? json_null()
                              : json_string(PQgetvalue(res, 0, 7)));

    ngx_http_weaveit_finalize(r,
                          ngx_http_weaveit_send_json(r, NGX_HTTP_OK, json));
}


/* GET /api/wallet/:wallet/videos?limit=&offset= */


ngx_int_t
ngx_http_weaveit_wallet_videos_handler(ngx_http_request_t *r)
{
    ngx_int_t     rc, limit, offset;
    ngx_str_t     wallet, arg;
    const char  **values;

    rc = ngx_http_weaveit_wallet_key(r, &wallet);
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

    rc = ngx_http_weaveit_auth_check(r, &wallet, NULL, NULL, NULL);
    if (rc != NGX_DECLINED) {
        return rc;
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

    return ngx_http_weaveit_request_query(r,
                                          ngx_http_weaveit_wallet_videos_sql,
                                          3, values,
                                          ngx_http_weaveit_wallet_videos_done);
}


static void
ngx_http_weaveit_wallet_videos_done(ngx_http_weaveit_pg_query_t *q)
{
    int                  row;
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

        /* an empty page is one row with the total alone */

        if (PQgetisnull(res, row, 0)) {
            continue;
        }

        video = ngx_http_weaveit_wallet_video(r, res, row);

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


/* one row of the page: NULL if out of memory */

static json_t *
ngx_http_weaveit_wallet_video(ngx_http_request_t *r, PGresult *res, int row)
{
    u_char  *url;

    url = ngx_pnalloc(r->pool, sizeof("/api/videos/")
                               + NGX_HTTP_WEAVEIT_UUID_LEN);
    if (url == NULL) {
        return NULL;
    }

    (void) ngx_sprintf(url, "/api/videos/%s%Z", PQgetvalue(res, row, 0));

    return json_pack("{s:s,s:s,s:o,s:o,s:s,s:s,s:s}",
                     "videoId", PQgetvalue(res, row, 0),
                     "jobId", PQgetvalue(res, row, 1),
                     "title", PQgetisnull(res, row, 2)
                              ? json_null()
                              : json_string(PQgetvalue(res, row, 2)),
                     "durationSec", PQgetisnull(res, row, 3)
                              ? json_null()
                              : json_integer(atoi(PQgetvalue(res, row, 3))),
                     "format", PQgetvalue(res, row, 4),
                     "createdAt", PQgetvalue(res, row, 5),
                     "videoUrl", url);
}


/* GET /api/users/:wallet/points */


ngx_int_t
ngx_http_weaveit_points_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    ngx_str_t  wallet;

    rc = ngx_http_weaveit_wallet_key(r, &wallet);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_weaveit_auth_check(r, &wallet, NULL, NULL, NULL);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_weaveit_query_key(r, &wallet, ngx_http_weaveit_points_sql,
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


/* GET /api/voices: the backend, its default voice, the voices allowed */


ngx_int_t
ngx_http_weaveit_voices_handler(ngx_http_request_t *r)
{
    json_t                        *json, *list;
    ngx_int_t                      rc;
    ngx_uint_t                     i;
    ngx_http_weaveit_voice_t      *v;
    ngx_http_weaveit_main_conf_t  *wmcf;

    rc = ngx_http_weaveit_get_only(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    wmcf = ngx_http_get_module_main_conf(r, ngx_http_weaveit_module);
    list = json_array();
    v = wmcf->voices->elts;

    for (i = 0; list != NULL && i < wmcf->voices->nelts; i++) {
        if (json_array_append_new(list,
                json_pack("{s:s%,s:o}",
                          "name", v[i].name.data, v[i].name.len,
                          "language", v[i].language.len
                              ? json_stringn((char *) v[i].language.data,
                                             v[i].language.len)
                              : json_null()))
            != 0)
        {
            json_decref(list);
            list = NULL;
        }
    }

    json = json_pack("{s:s,s:s,s:o}",
                     "backend", ngx_http_weaveit_speech_name(wmcf),
                     "default", (char *) wmcf->voice.data,
                     "voices", list);

    return ngx_http_weaveit_send_json(r, NGX_HTTP_OK, json);
}


/*
 * POST /api/admin/points {walletAddress, points, note?}: an operator
 * awards points.  Nothing here asks who the client is: the location keeps
 * it to operators (allow/deny, auth_request).
 */


ngx_int_t
ngx_http_weaveit_points_award_handler(ngx_http_request_t *r)
{
    return ngx_http_weaveit_post_json(r, ngx_http_weaveit_award_body);
}


static void
ngx_http_weaveit_award_body(ngx_http_request_t *r)
{
    ngx_int_t     rc;
    const char  **values;

    values = ngx_pcalloc(r->pool, 3 * sizeof(char *));
    if (values == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_weaveit_award_parse(r, values);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_weaveit_body_query(r, ngx_http_weaveit_award_sql, 3,
                                         values, ngx_http_weaveit_award_done);
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * NGX_DECLINED: values[] hold the wallet, the points and the note (or
 * NULL) and the request goes on; anything else is to be finalized with
 */

static ngx_int_t
ngx_http_weaveit_award_parse(ngx_http_request_t *r, const char **values)
{
    json_t      *json;
    ngx_int_t    rc;
    ngx_str_t    body;
    const char  *error;

    rc = ngx_http_weaveit_read_body(r, &body);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_weaveit_load_json(r, &body, &json);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    error = ngx_http_weaveit_award_fields(r, json, values);
    json_decref(json);

    if (error != NULL) {
        return ngx_http_weaveit_send_error(r, NGX_HTTP_BAD_REQUEST, error);
    }

    return (values[0] != NULL) ? NGX_DECLINED
                               : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * A message for the client, naming the field, or NULL: then values[] are
 * filled, or values[0] is NULL if memory ran out.
 */

static const char *
ngx_http_weaveit_award_fields(ngx_http_request_t *r, json_t *json,
    const char **values)
{
    u_char      *points_text;
    ngx_int_t    points;
    ngx_str_t    wallet, note;
    const char  *error;

    if (!json_is_object(json)) {
        return "Request body must be a JSON object";
    }

    error = ngx_http_weaveit_check_wallet(
                json_object_get(json, "walletAddress"), &wallet);

    if (error == NULL) {
        error = ngx_http_weaveit_check_award(json_object_get(json, "points"),
                                             &points);
    }

    if (error == NULL) {
        error = ngx_http_weaveit_check_text(json_object_get(json, "note"),
                    NGX_HTTP_WEAVEIT_NOTE_MAX, "note must be a string",
                    "note must be at most 200 characters", &note);
    }

    if (error != NULL) {
        return error;
    }

    points_text = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 1);
    values[2] = note.len ? ngx_http_weaveit_pstrdup(r->pool, &note) : NULL;

    if (points_text == NULL || (note.len && values[2] == NULL)) {
        return NULL;
    }

    (void) ngx_sprintf(points_text, "%i%Z", points);
    values[1] = (char *) points_text;
    values[0] = ngx_http_weaveit_pstrdup(r->pool, &wallet);

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


/* no row: the balance would overflow; otherwise the answer of a lookup */

static void
ngx_http_weaveit_award_done(ngx_http_weaveit_pg_query_t *q)
{
    if (q->error == NULL && PQntuples(q->result) == 0) {
        ngx_http_weaveit_finalize(q->data,
            ngx_http_weaveit_send_error(q->data, NGX_HTTP_BAD_REQUEST,
                              "points would take the balance past "
                              "2147483647"));
        return;
    }

    ngx_http_weaveit_points_done(q);
}
