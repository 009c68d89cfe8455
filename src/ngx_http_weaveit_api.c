
/*
 * The JSON endpoints: health, generate, job status, a wallet's videos, its
 * points and their award, and the demo page.  How a request is answered
 * is in ngx_http_weaveit_http.c; what a POSTed body must hold, in
 * ngx_http_weaveit_input.c; the job queue is in ngx_http_weaveit_job.c.
 */


#include "ngx_http_weaveit.h"
#include "weaveit.h"
#include "ngx_http_weaveit_demo.h"

#include <uuid/uuid.h>


#define NGX_HTTP_WEAVEIT_DEFAULT_LIMIT  20
#define NGX_HTTP_WEAVEIT_MAX_LIMIT      100
#define NGX_HTTP_WEAVEIT_MAX_OFFSET     1000000


typedef struct {
    ngx_http_weaveit_pg_query_t    query;
    const char                    *values[13];
    ngx_str_t                      job_id;
    ngx_int_t                      cost;
    ngx_uint_t                     wait;
    u_char                         id[NGX_HTTP_WEAVEIT_UUID_LEN + 1];
    u_char                         signup_points[NGX_INT_T_LEN + 1];
    u_char                         cost_text[NGX_INT_T_LEN + 1];
    u_char                         max_pending[NGX_INT_T_LEN + 1];
    u_char                         max_wallet[NGX_INT_T_LEN + 1];
    u_char                         expires[NGX_TIME_T_LEN + 1];

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
    const char *const *values, ngx_http_weaveit_pg_handler_pt handler,
    ngx_uint_t read);
static ngx_int_t ngx_http_weaveit_body_query(ngx_http_request_t *r,
    const char *sql, int nparams, const char *const *values,
    ngx_http_weaveit_pg_handler_pt handler, ngx_uint_t read);
static ngx_int_t ngx_http_weaveit_request_query(ngx_http_request_t *r,
    const char *sql, int nparams, const char *const *values,
    ngx_http_weaveit_pg_handler_pt handler, ngx_uint_t read);
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
static void ngx_http_weaveit_award_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_weaveit_award_parse(ngx_http_request_t *r,
    const char **values);
static void ngx_http_weaveit_award_done(ngx_http_weaveit_pg_query_t *q);


static const char  ngx_http_weaveit_health_sql[] = "SELECT 1";

/*
 * signature, user, signup points, charge, queue limits and their ledger
 * rows in one round trip: conf/schema.sql has the outcomes
 */

static const char  ngx_http_weaveit_create_job_sql[] =
    "SELECT outcome, points FROM weaveit_create_job("
    "$1::uuid, $2, $3, $4, $5::int, $6::int, $7::int, $8::int, $9,"
    " to_timestamp($10::bigint), $11, $12, $13)";

static const char  ngx_http_weaveit_status_sql[] =
    "SELECT j.job_id, j.status, j.error_message,"
    "  weaveit_iso(j.created_at), weaveit_iso(j.updated_at), j.progress,"
    "  EXISTS (SELECT 1 FROM videos v WHERE v.job_id = j.job_id), j.voice,"
    "  j.script_format, coalesce(j.theme, 'light')"
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


/*
 * sends one query on behalf of a request, a "read" one to a replica if
 * there is one in use; its handler gets q->data == r
 */

static ngx_int_t
ngx_http_weaveit_send_query(ngx_http_request_t *r,
    ngx_http_weaveit_pg_query_t *q, const char *sql, int nparams,
    const char *const *values, ngx_http_weaveit_pg_handler_pt handler,
    ngx_uint_t read)
{
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = ngx_http_get_module_main_conf(r, ngx_http_weaveit_module);

    q->sql = sql;
    q->nparams = nparams;
    q->values = values;
    q->handler = handler;
    q->data = r;
    q->log = r->connection->log;

    if (read) {
        return ngx_http_weaveit_replica_read(wmcf, q, r->pool);
    }

    return ngx_http_weaveit_pg_query(wmcf->pool, q, r->pool);
}


/*
 * From a body handler: runs one query, which the body read's reference
 * keeps the request for.  NGX_DONE, or a code to finalize with.
 */

static ngx_int_t
ngx_http_weaveit_body_query(ngx_http_request_t *r, const char *sql,
    int nparams, const char *const *values,
    ngx_http_weaveit_pg_handler_pt handler, ngx_uint_t read)
{
    ngx_http_weaveit_pg_query_t  *q;

    q = ngx_pcalloc(r->pool, sizeof(ngx_http_weaveit_pg_query_t));
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_weaveit_send_query(r, q, sql, nparams, values, handler,
                                    read)
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
    ngx_http_weaveit_pg_handler_pt handler, ngx_uint_t read)
{
    ngx_int_t  rc;

    rc = ngx_http_weaveit_body_query(r, sql, nparams, values, handler, read);

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

    return ngx_http_weaveit_request_query(r, sql, 1, values, handler, 1);
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
                                          ngx_http_weaveit_health_done, 0);
}


static void
ngx_http_weaveit_health_done(ngx_http_weaveit_pg_query_t *q)
{
    json_t                        *json;
    ngx_uint_t                     status;
    ngx_http_request_t            *r;
    ngx_http_weaveit_main_conf_t  *wmcf;

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

    wmcf = ngx_http_get_module_main_conf(r, ngx_http_weaveit_module);

    /* this worker's view: each checks the replicas on its own */

    if (json && wmcf->replica.confs
        && json_object_set_new(json, "replicas",
               json_pack("{s:I,s:I}",
                         "configured", (json_int_t) wmcf->replica.confs->nelts,
                         "inUse", (json_int_t)
                                  ngx_http_weaveit_replica_in_use(wmcf)))
           != 0)
    {
        json_decref(json);
        json = NULL;
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
 * NGX_DECLINED: ctx->values[1..3] hold the wallet, the script and the
 * title (or NULL), ctx->values[10] the voice, ctx->values[11] the format
 * (or NULL), ctx->values[12] the theme, and the request goes on;
 * anything else is the status to finalize the request with (a 400 was
 * sent)
 */

static ngx_int_t
ngx_http_weaveit_generate_parse(ngx_http_request_t *r,
    ngx_http_weaveit_generate_ctx_t *ctx, ngx_str_t *body)
{
    const char                         *error;
    ngx_http_weaveit_loc_conf_t        *wlcf;
    ngx_http_weaveit_main_conf_t       *wmcf;
    ngx_http_weaveit_generate_input_t   in;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);
    wmcf = ngx_http_get_module_main_conf(r, ngx_http_weaveit_module);

    error = ngx_http_weaveit_generate_input(body, wlcf->max_script, &in);

    if (error == NULL && in.voice.data == NULL) {
        in.voice = wmcf->voice;

    } else if (error == NULL
               && !ngx_http_weaveit_voice_allowed(wmcf, &in.voice))
    {
        json_decref(in.json);
        error = NGX_HTTP_WEAVEIT_VOICE_UNKNOWN;
    }

    if (error != NULL) {
        return ngx_http_weaveit_send_error(r, NGX_HTTP_BAD_REQUEST, error);
    }

    ctx->values[1] = ngx_http_weaveit_pstrdup(r->pool, &in.wallet);
    ctx->values[2] = ngx_http_weaveit_pstrdup(r->pool, &in.script);
    ctx->values[3] = in.title.len
                     ? ngx_http_weaveit_pstrdup(r->pool, &in.title) : NULL;
    ctx->values[10] = ngx_http_weaveit_pstrdup(r->pool, &in.voice);
    ctx->values[11] = in.format.len
                      ? ngx_http_weaveit_pstrdup(r->pool, &in.format) : NULL;
    ctx->values[12] = in.theme.len
                      ? ngx_http_weaveit_pstrdup(r->pool, &in.theme)
                      : weaveit_theme_name((int) wlcf->theme);

    json_decref(in.json);

    if (ctx->values[1] == NULL || ctx->values[2] == NULL
        || (in.title.len && ctx->values[3] == NULL) || ctx->values[10] == NULL
        || (in.format.len && ctx->values[11] == NULL)
        || ctx->values[12] == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
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
        /*
         * an empty body comes as a buffer with no memory, and memcpy()
         * from NULL is undefined even for 0 bytes
         */
        if (cl->buf->pos == cl->buf->last) {
            continue;
        }

        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    *p = '\0';

    return NGX_DECLINED;
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
                                    ngx_http_weaveit_create_job_sql, 13,
                                    ctx->values,
                                    ngx_http_weaveit_generate_created, 0)
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

    json_t                           *json;
    ngx_uint_t                        status;
    ngx_http_weaveit_generate_ctx_t  *ctx;

    if (rc == NGX_AGAIN) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_weaveit_module);
        ngx_http_weaveit_finalize(r, ngx_http_weaveit_send_accepted(r, ctx));
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

    json = json_pack("{s:s,s:s,s:b,s:o,s:s,s:s,s:b,s:i,s:o,s:o,s:s}",
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
                              : json_string(PQgetvalue(res, 0, 7)),
                     "format", PQgetisnull(res, 0, 8)
                               ? json_null()
                               : json_string(PQgetvalue(res, 0, 8)),
                     "theme", PQgetvalue(res, 0, 9));

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
                                          ngx_http_weaveit_wallet_videos_done,
                                          1);
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
                                         values, ngx_http_weaveit_award_done,
                                         0);
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * NGX_DECLINED: values[] hold the wallet, the points and the note (or
 * NULL) and the request goes on; anything else is the status to finalize
 * the request with
 */

static ngx_int_t
ngx_http_weaveit_award_parse(ngx_http_request_t *r, const char **values)
{
    u_char                          *points;
    ngx_int_t                        rc;
    ngx_str_t                        body;
    const char                      *error;
    ngx_http_weaveit_award_input_t   in;

    rc = ngx_http_weaveit_read_body(r, &body);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    error = ngx_http_weaveit_award_input(&body, &in);
    if (error != NULL) {
        return ngx_http_weaveit_send_error(r, NGX_HTTP_BAD_REQUEST, error);
    }

    points = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 1);
    if (points != NULL) {
        (void) ngx_sprintf(points, "%i%Z", in.points);
    }

    values[0] = ngx_http_weaveit_pstrdup(r->pool, &in.wallet);
    values[1] = (char *) points;
    values[2] = in.note.len ? ngx_http_weaveit_pstrdup(r->pool, &in.note)
                            : NULL;

    json_decref(in.json);

    if (values[0] == NULL || values[1] == NULL
        || (in.note.len && values[2] == NULL))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
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
