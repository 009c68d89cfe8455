
/*
 * GET/HEAD of a stored video, streamed from PostgreSQL in chunks with
 * HTTP Range support.
 *
 * One query finds the video and its size without reading the bytes; the
 * headers (200, 206, 304, 412 or 416) are decided from that alone.  The
 * body is then a sequence of substring() queries, one chunk each, sent
 * straight from libpq's result: the next chunk is fetched only once the
 * client has taken the previous one, so a connection holds at most one
 * chunk and the PostgreSQL connection goes back to the pool in between.
 *
 * nginx's range filter stays out (r->allow_ranges is not set): it would
 * need the whole body to cut a range from it.  The rules for Range and
 * conditional requests are in ngx_http_weaveit_rules.c; this file applies
 * them to the request and streams the bytes.
 */


#include "ngx_http_weaveit.h"


/* a year: for good, as far as caches go */
#define NGX_HTTP_WEAVEIT_VIDEO_MAX_AGE  31536000


typedef struct {
    ngx_http_request_t           *request;
    ngx_http_weaveit_pg_query_t   query;

    u_char                        id[NGX_HTTP_WEAVEIT_UUID_LEN + 1];
    u_char                        from[NGX_OFF_T_LEN + 1];
    u_char                        count[NGX_OFF_T_LEN + 1];
    const char                   *values[3];

    off_t                         length;
    time_t                        mtime;
    time_t                        age;
    off_t                         start;
    off_t                         end;
    off_t                         offset;

    ngx_chain_t                  *free;
    ngx_chain_t                  *busy;
    PGresult                     *chunk;

    unsigned                      fetching:1;
} ngx_http_weaveit_video_ctx_t;


static void ngx_http_weaveit_video_found(ngx_http_weaveit_pg_query_t *q);
static ngx_int_t ngx_http_weaveit_video_headers(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, PGresult *res);
static ngx_int_t ngx_http_weaveit_video_row(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, PGresult *res);
static ngx_int_t ngx_http_weaveit_video_validators(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, ngx_str_t *etag);
static ngx_int_t ngx_http_weaveit_video_cache_control(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx);
static void ngx_http_weaveit_video_conditions(ngx_http_request_t *r,
    ngx_http_weaveit_conditions_t *c);
static time_t ngx_http_weaveit_video_date(ngx_table_elt_t *h);
static ngx_int_t ngx_http_weaveit_video_range(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, ngx_http_weaveit_conditions_t *c,
    ngx_str_t *etag);
static ngx_int_t ngx_http_weaveit_video_content_range(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_weaveit_video_disposition(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, PGresult *res);
static void ngx_http_weaveit_video_fetch(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx);
static void ngx_http_weaveit_video_chunk(ngx_http_weaveit_pg_query_t *q);
static void ngx_http_weaveit_video_send(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, ngx_chain_t *out);
static void ngx_http_weaveit_video_write_handler(ngx_http_request_t *r);
static void ngx_http_weaveit_video_cleanup(void *data);


/*
 * The id is a job id or a video id; a video id wins, and a job with
 * several videos (a retried job) gives its latest.  created_at is a
 * timestamp without time zone written with now(): the session's zone
 * turns it back into an instant.  Its age is measured by the clock the
 * retention cleanup goes by, the database's.
 */

static const char  ngx_http_weaveit_video_find_sql[] =
    "SELECT v.video_id, octet_length(v.video_data),"
    " floor(extract(epoch FROM v.created_at::timestamptz))::int8,"
    " j.title,"
    " greatest(0, floor(extract(epoch FROM"
    "  now() - v.created_at::timestamptz)))::int8"
    " FROM videos v LEFT JOIN video_jobs j ON j.job_id = v.job_id"
    " WHERE v.video_id = $1::uuid OR v.job_id = $1::uuid"
    " ORDER BY v.video_id = $1::uuid DESC, v.created_at DESC"
    " LIMIT 1";

static const char  ngx_http_weaveit_video_chunk_sql[] =
    "SELECT substring(video_data FROM $2 FOR $3)"
    " FROM videos WHERE video_id = $1::uuid";


ngx_int_t
ngx_http_weaveit_video_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      id;
    ngx_pool_cleanup_t            *cln;
    ngx_http_weaveit_pg_query_t   *q;
    ngx_http_weaveit_loc_conf_t   *wlcf;
    ngx_http_weaveit_main_conf_t  *wmcf;
    ngx_http_weaveit_video_ctx_t  *ctx;

    rc = ngx_http_weaveit_get_only(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);
    wmcf = ngx_http_get_module_main_conf(r, ngx_http_weaveit_module);

    if (ngx_http_complex_value(r, wlcf->video_id, &id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ngx_http_weaveit_is_uuid(&id)) {
        return ngx_http_weaveit_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           "Invalid video id");
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_weaveit_video_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_weaveit_video_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ngx_memcpy(ctx->id, id.data, NGX_HTTP_WEAVEIT_UUID_LEN);
    ctx->values[0] = (char *) ctx->id;
    ctx->values[1] = (char *) ctx->from;
    ctx->values[2] = (char *) ctx->count;

    ngx_http_set_ctx(r, ctx, ngx_http_weaveit_module);

    q = &ctx->query;
    q->name = "weaveit_video_find";
    q->sql = ngx_http_weaveit_video_find_sql;
    q->nparams = 1;
    q->values = ctx->values;
    q->handler = ngx_http_weaveit_video_found;
    q->data = r;
    q->log = r->connection->log;

    if (ngx_http_weaveit_replica_read(wmcf, q, r->pool) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a client that leaves while the database works is noticed at once */

    if (!r->discard_body) {
        r->read_event_handler = ngx_http_test_reading;
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_weaveit_video_found(ngx_http_weaveit_pg_query_t *q)
{
    ngx_int_t                      rc;
    ngx_http_request_t            *r;
    ngx_http_weaveit_video_ctx_t  *ctx;

    r = q->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_weaveit_module);

    if (q->error) {
        ngx_http_weaveit_finalize(r, ngx_http_weaveit_db_error(r, q));
        return;
    }

    if (PQntuples(q->result) != 1 || PQnfields(q->result) != 5
        || PQgetisnull(q->result, 0, 1))
    {
        ngx_http_weaveit_finalize(r,
            ngx_http_weaveit_send_error(r, NGX_HTTP_NOT_FOUND,
                                        "Video not found"));
        return;
    }

    rc = ngx_http_weaveit_video_headers(r, ctx, q->result);

    if (rc == NGX_HTTP_PRECONDITION_FAILED) {
        ngx_http_weaveit_finalize(r,
            ngx_http_weaveit_send_error(r, rc, "Precondition failed"));
        return;
    }

    if (rc == NGX_HTTP_RANGE_NOT_SATISFIABLE) {
        ngx_http_weaveit_finalize(r,
            ngx_http_weaveit_send_error(r, rc, "Range not satisfiable"));
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_weaveit_finalize(r, rc);
        return;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_weaveit_finalize(r, rc);
        return;
    }

    if (ctx->start == ctx->end) {
        ngx_http_weaveit_finalize(r, ngx_http_send_special(r, NGX_HTTP_LAST));
        return;
    }

    r->write_event_handler = ngx_http_weaveit_video_write_handler;
    ctx->offset = ctx->start;

    ngx_http_weaveit_video_fetch(r, ctx);
}


/*
 * Sets the headers of a 200, 206 or 304 and returns NGX_OK; otherwise
 * returns NGX_HTTP_PRECONDITION_FAILED, NGX_HTTP_RANGE_NOT_SATISFIABLE
 * (with Content-Range set) or NGX_HTTP_INTERNAL_SERVER_ERROR.
 */

static ngx_int_t
ngx_http_weaveit_video_headers(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, PGresult *res)
{
    ngx_int_t                      rc;
    ngx_str_t                      etag;
    ngx_http_weaveit_conditions_t  c;

    if (ngx_http_weaveit_video_row(r, ctx, res) != NGX_OK
        || ngx_http_weaveit_video_validators(r, ctx, &etag) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the preconditions are ours: nginx's would see only 200 answers */

    r->disable_not_modified = 1;

    ngx_http_weaveit_video_conditions(r, &c);

    rc = ngx_http_weaveit_preconditions(&c, &etag, ctx->mtime);

    if (rc == NGX_HTTP_PRECONDITION_FAILED) {
        return rc;
    }

    if (rc == NGX_OK) {
        rc = ngx_http_weaveit_video_range(r, ctx, &c, &etag);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ngx_http_weaveit_video_cache_control(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_HTTP_NOT_MODIFIED) {
        r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
        r->header_only = 1;
        return NGX_OK;
    }

    if (ngx_http_weaveit_video_disposition(r, ctx, res) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&r->headers_out.content_type, "video/mp4");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = ctx->end - ctx->start;

    return NGX_OK;
}


/*
 * the found row: the video's own id, its size, its creation time and its
 * age
 */

static ngx_int_t
ngx_http_weaveit_video_row(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, PGresult *res)
{
    off_t   length;
    time_t  mtime, age;

    length = ngx_atoof((u_char *) PQgetvalue(res, 0, 1),
                       PQgetlength(res, 0, 1));
    mtime = ngx_atotm((u_char *) PQgetvalue(res, 0, 2),
                      PQgetlength(res, 0, 2));
    age = ngx_atotm((u_char *) PQgetvalue(res, 0, 4),
                    PQgetlength(res, 0, 4));

    if (PQgetlength(res, 0, 0) != NGX_HTTP_WEAVEIT_UUID_LEN
        || length == NGX_ERROR || mtime == NGX_ERROR || age == NGX_ERROR)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "weaveit: unexpected video row");
        return NGX_ERROR;
    }

    /* chunks are fetched by the video id, whichever id was asked for */

    ngx_memcpy(ctx->id, PQgetvalue(res, 0, 0), NGX_HTTP_WEAVEIT_UUID_LEN);
    ctx->length = length;
    ctx->mtime = mtime;
    ctx->age = age;

    return NGX_OK;
}


/* ETag, Last-Modified and Accept-Ranges go on every answer about it */

static ngx_int_t
ngx_http_weaveit_video_validators(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, ngx_str_t *etag)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    etag->len = NGX_HTTP_WEAVEIT_UUID_LEN + 2;
    etag->data = ngx_pnalloc(r->pool, etag->len);
    if (etag->data == NULL) {
        return NGX_ERROR;
    }

    p = etag->data;
    *p++ = '"';
    p = ngx_cpymem(p, ctx->id, NGX_HTTP_WEAVEIT_UUID_LEN);
    *p = '"';

    h = ngx_http_weaveit_add_header(r, "ETag", etag->data, etag->len);
    if (h == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.etag = h;
    r->headers_out.last_modified_time = ctx->mtime;

    h = ngx_http_weaveit_add_header(r, "Accept-Ranges", (u_char *) "bytes",
                                    sizeof("bytes") - 1);
    if (h == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.accept_ranges = h;

    return NGX_OK;
}


/*
 * A stored video never changes while it exists: caches may keep it for a
 * year, or, under weaveit_video_retention, no longer than it has left
 * (the bytes stay immutable until then).
 */

static ngx_int_t
ngx_http_weaveit_video_cache_control(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx)
{
    u_char                        *p, *last;
    time_t                         max_age;
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = ngx_http_get_module_main_conf(r, ngx_http_weaveit_module);

    max_age = NGX_HTTP_WEAVEIT_VIDEO_MAX_AGE;

    if (wmcf->video_retention) {
        max_age = ngx_min(max_age,
                          ngx_max(wmcf->video_retention - ctx->age, 0));
    }

    p = ngx_pnalloc(r->pool, sizeof("public, max-age=, immutable") - 1
                             + NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = ngx_sprintf(p, "public, max-age=%T, immutable", max_age);

    if (ngx_http_weaveit_add_header(r, "Cache-Control", p, last - p)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_weaveit_video_conditions(ngx_http_request_t *r,
    ngx_http_weaveit_conditions_t *c)
{
    ngx_http_headers_in_t  *in;

    in = &r->headers_in;

    c->if_match = in->if_match ? &in->if_match->value : NULL;
    c->if_none_match = in->if_none_match ? &in->if_none_match->value : NULL;
    c->if_range = in->if_range ? &in->if_range->value : NULL;

    c->if_unmodified_since =
                    ngx_http_weaveit_video_date(in->if_unmodified_since);
    c->if_modified_since = ngx_http_weaveit_video_date(in->if_modified_since);
    c->if_range_date = ngx_http_weaveit_video_date(in->if_range);
}


static time_t
ngx_http_weaveit_video_date(ngx_table_elt_t *h)
{
    return h ? ngx_parse_http_time(h->value.data, h->value.len) : NGX_ERROR;
}


/*
 * Sets ctx->start and ctx->end (exclusive) and, for a single range, the
 * 206 status and Content-Range.  Returns NGX_OK (200 or 206),
 * NGX_HTTP_RANGE_NOT_SATISFIABLE (Content-Range set) or
 * NGX_HTTP_INTERNAL_SERVER_ERROR.
 */

static ngx_int_t
ngx_http_weaveit_video_range(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, ngx_http_weaveit_conditions_t *c,
    ngx_str_t *etag)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    ctx->start = 0;
    ctx->end = ctx->length;
    r->headers_out.status = NGX_HTTP_OK;

    h = r->headers_in.range;

    if (h == NULL || !ngx_http_weaveit_if_range(c, etag, ctx->mtime)) {
        return NGX_OK;
    }

    rc = ngx_http_weaveit_parse_range(&h->value, ctx->length, &ctx->start,
                                      &ctx->end);

    if (rc == NGX_DECLINED) {
        ctx->start = 0;
        ctx->end = ctx->length;
        return NGX_OK;
    }

    if (ngx_http_weaveit_video_content_range(r, ctx, rc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        r->headers_out.status = NGX_HTTP_PARTIAL_CONTENT;
    }

    return rc;
}


/* "bytes a-b/length" for a 206, "bytes * /length" for a 416 */

static ngx_int_t
ngx_http_weaveit_video_content_range(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, ngx_int_t rc)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    p = ngx_pnalloc(r->pool, sizeof("bytes -/") - 1 + 3 * NGX_OFF_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        last = ngx_sprintf(p, "bytes %O-%O/%O", ctx->start, ctx->end - 1,
                           ctx->length);

    } else {
        last = ngx_sprintf(p, "bytes */%O", ctx->length);
    }

    h = ngx_http_weaveit_add_header(r, "Content-Range", p, last - p);
    if (h == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.content_range = h;

    return NGX_OK;
}


static ngx_int_t
ngx_http_weaveit_video_disposition(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, PGresult *res)
{
    u_char     *value, *last;
    ngx_str_t   id;

    value = ngx_pnalloc(r->pool, NGX_HTTP_WEAVEIT_DISPOSITION_LEN);
    if (value == NULL) {
        return NGX_ERROR;
    }

    id.data = ctx->id;
    id.len = NGX_HTTP_WEAVEIT_UUID_LEN;

    last = ngx_http_weaveit_disposition(value,
                                        (u_char *) PQgetvalue(res, 0, 3),
                                        PQgetlength(res, 0, 3), &id);

    if (ngx_http_weaveit_add_header(r, "Content-Disposition", value,
                                    last - value)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the body */


static void
ngx_http_weaveit_video_fetch(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx)
{
    off_t                          count;
    ngx_http_weaveit_pg_query_t   *q;
    ngx_http_weaveit_loc_conf_t   *wlcf;
    ngx_http_weaveit_main_conf_t  *wmcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);
    wmcf = ngx_http_get_module_main_conf(r, ngx_http_weaveit_module);

    count = ngx_min((off_t) wlcf->video_chunk, ctx->end - ctx->offset);

    /* substring() counts from 1 */

    *ngx_sprintf(ctx->from, "%O", ctx->offset + 1) = '\0';
    *ngx_sprintf(ctx->count, "%O", count) = '\0';

    q = &ctx->query;
    q->name = "weaveit_video_chunk";
    q->sql = ngx_http_weaveit_video_chunk_sql;
    q->nparams = 3;
    q->binary_result = 1;
    q->handler = ngx_http_weaveit_video_chunk;

    ctx->fetching = 1;

    if (ngx_http_weaveit_replica_read(wmcf, q, r->pool) != NGX_OK) {
        ctx->fetching = 0;
        ngx_http_weaveit_finalize(r, NGX_ERROR);
    }
}


static void
ngx_http_weaveit_video_chunk(ngx_http_weaveit_pg_query_t *q)
{
    off_t                          count;
    ngx_buf_t                     *b;
    ngx_chain_t                   *cl;
    ngx_http_request_t            *r;
    ngx_http_weaveit_video_ctx_t  *ctx;

    r = q->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_weaveit_module);
    ctx->fetching = 0;

    /*
     * The status line is gone: all that is left is to close the
     * connection, so the client sees a short body, not a complete one.
     */

    if (q->error) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "weaveit: video stream aborted at byte %O of %O",
                      ctx->offset, ctx->length);
        ngx_http_weaveit_finalize(r, NGX_ERROR);
        return;
    }

    count = ngx_atoof(ctx->count, ngx_strlen(ctx->count));

    if (PQntuples(q->result) != 1 || PQgetisnull(q->result, 0, 0)
        || PQgetlength(q->result, 0, 0) != count)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "weaveit: video %s changed or was deleted while being "
                      "sent, aborted at byte %O", ctx->id, ctx->offset);
        ngx_http_weaveit_finalize(r, NGX_ERROR);
        return;
    }

    cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
    if (cl == NULL) {
        ngx_http_weaveit_finalize(r, NGX_ERROR);
        return;
    }

    /* the buffer points into the result, which lives until it is sent */

    ctx->chunk = ngx_http_weaveit_pg_take_result(q);

    b = cl->buf;
    ngx_memzero(b, sizeof(ngx_buf_t));

    b->start = (u_char *) PQgetvalue(ctx->chunk, 0, 0);
    b->pos = b->start;
    b->last = b->start + count;
    b->end = b->last;
    b->memory = 1;
    b->flush = 1;
    b->tag = (ngx_buf_tag_t) &ngx_http_weaveit_module;

    ctx->offset += count;

    if (ctx->offset == ctx->end) {
        b->last_buf = (r == r->main);
        b->last_in_chain = 1;
    }

    ngx_http_weaveit_video_send(r, ctx, cl);
}


/*
 * Passes "out" (NULL: only what is pending) to the output filters and
 * decides what comes next: the next chunk once the client has taken this
 * one, or a wait for the write event with send_timeout.
 */

static void
ngx_http_weaveit_video_send(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, ngx_chain_t *out)
{
    ngx_int_t                  rc;
    ngx_event_t               *wev;
    ngx_connection_t          *c;
    ngx_http_core_loc_conf_t  *clcf;

    c = r->connection;
    wev = c->write;

    /* an empty call would make the write filter cry "chain is empty" */

    if (out || ctx->busy || c->buffered || r->buffered) {
        rc = ngx_http_output_filter(r, out);

        if (rc == NGX_ERROR) {
            ngx_http_weaveit_finalize(r, NGX_ERROR);
            return;
        }

    } else {
        rc = NGX_OK;
    }

    /* the last chunk is out: ngx_http_writer() sends the rest */

    if (ctx->offset == ctx->end && !ctx->fetching) {
        ngx_http_weaveit_finalize(r, rc);
        return;
    }

    ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &out,
                            (ngx_buf_tag_t) &ngx_http_weaveit_module);

    if (ctx->busy == NULL) {
        PQclear(ctx->chunk);
        ctx->chunk = NULL;

        if (wev->timer_set && !wev->delayed) {
            ngx_del_timer(wev);
        }

        ngx_http_weaveit_video_fetch(r, ctx);
        return;
    }

    if (wev->delayed) {
        /* limit_rate: its own timer wakes us */
        return;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
        ngx_http_weaveit_finalize(r, NGX_ERROR);
        return;
    }

    if (wev->active && !wev->ready) {
        ngx_add_timer(wev, clcf->send_timeout);

    } else if (wev->timer_set) {
        ngx_del_timer(wev);
    }
}


static void
ngx_http_weaveit_video_write_handler(ngx_http_request_t *r)
{
    ngx_connection_t              *c;
    ngx_http_weaveit_video_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_weaveit_module);

    if (c->write->timedout) {
        c->timedout = 1;
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "client timed out");
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    /* nothing to send while the database fetches the next chunk */

    if (ctx->fetching) {
        return;
    }

    ngx_http_weaveit_video_send(r, ctx, NULL);
}


static void
ngx_http_weaveit_video_cleanup(void *data)
{
    ngx_http_weaveit_video_ctx_t  *ctx = data;

    PQclear(ctx->chunk);
}
