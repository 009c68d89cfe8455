
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
 * need the whole body to cut a range from it.
 */


#include "ngx_http_weaveit.h"


#define NGX_HTTP_WEAVEIT_UUID_LEN       36
#define NGX_HTTP_WEAVEIT_TITLE_MAX      100


typedef struct {
    ngx_http_request_t           *request;
    ngx_http_weaveit_pg_query_t   query;

    u_char                        id[NGX_HTTP_WEAVEIT_UUID_LEN + 1];
    u_char                        from[NGX_OFF_T_LEN + 1];
    u_char                        count[NGX_OFF_T_LEN + 1];
    const char                   *values[3];

    off_t                         length;
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
static ngx_int_t ngx_http_weaveit_video_preconditions(ngx_http_request_t *r,
    ngx_str_t *etag, time_t mtime);
static ngx_uint_t ngx_http_weaveit_video_etag_match(ngx_str_t *list,
    ngx_str_t *etag, ngx_uint_t weak);
static ngx_int_t ngx_http_weaveit_video_range(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, ngx_str_t *etag, time_t mtime);
static ngx_int_t ngx_http_weaveit_video_parse_range(ngx_str_t *value,
    off_t length, off_t *start, off_t *end);
static ngx_int_t ngx_http_weaveit_video_disposition(ngx_http_request_t *r,
    u_char *title, size_t len, ngx_str_t *id);
static ngx_table_elt_t *ngx_http_weaveit_video_add_header(
    ngx_http_request_t *r, char *key, u_char *value, size_t len);
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
 * turns it back into an instant.
 */

static const char  ngx_http_weaveit_video_find_sql[] =
    "SELECT v.video_id, octet_length(v.video_data),"
    " floor(extract(epoch FROM v.created_at::timestamptz))::int8,"
    " j.title"
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

    if (ngx_http_weaveit_pg_query(wmcf->pool, q, r->pool) != NGX_OK) {
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

    if (PQntuples(q->result) != 1 || PQnfields(q->result) != 4
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
    u_char           *p;
    off_t             length;
    time_t            mtime;
    ngx_int_t         rc;
    ngx_str_t         id, etag;
    ngx_table_elt_t  *h;

    id.data = (u_char *) PQgetvalue(res, 0, 0);
    id.len = PQgetlength(res, 0, 0);

    length = ngx_atoof((u_char *) PQgetvalue(res, 0, 1),
                       PQgetlength(res, 0, 1));
    mtime = ngx_atotm((u_char *) PQgetvalue(res, 0, 2),
                      PQgetlength(res, 0, 2));

    if (id.len != NGX_HTTP_WEAVEIT_UUID_LEN || length == NGX_ERROR
        || mtime == NGX_ERROR)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "weaveit: unexpected video row");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* chunks are fetched by the video id, whichever id was asked for */

    ngx_memcpy(ctx->id, id.data, NGX_HTTP_WEAVEIT_UUID_LEN);
    ctx->length = length;

    etag.len = NGX_HTTP_WEAVEIT_UUID_LEN + 2;
    etag.data = ngx_pnalloc(r->pool, etag.len);
    if (etag.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = etag.data;
    *p++ = '"';
    p = ngx_cpymem(p, ctx->id, NGX_HTTP_WEAVEIT_UUID_LEN);
    *p = '"';

    /* the validators go on every answer about the video */

    h = ngx_http_weaveit_video_add_header(r, "ETag", etag.data, etag.len);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.etag = h;
    r->headers_out.last_modified_time = mtime;

    h = ngx_http_weaveit_video_add_header(r, "Accept-Ranges",
                                          (u_char *) "bytes",
                                          sizeof("bytes") - 1);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.accept_ranges = h;

    /* the preconditions are ours: nginx's would see only 200 answers */

    r->disable_not_modified = 1;

    rc = ngx_http_weaveit_video_preconditions(r, &etag, mtime);

    if (rc == NGX_HTTP_PRECONDITION_FAILED) {
        return rc;
    }

    if (rc == NGX_OK) {
        rc = ngx_http_weaveit_video_range(r, ctx, &etag, mtime);

        if (rc == NGX_HTTP_RANGE_NOT_SATISFIABLE) {
            p = ngx_pnalloc(r->pool, sizeof("bytes */") - 1 + NGX_OFF_T_LEN);
            if (p == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            h = ngx_http_weaveit_video_add_header(r, "Content-Range", p,
                                    ngx_sprintf(p, "bytes */%O", length) - p);
            if (h == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            r->headers_out.content_range = h;

            return rc;
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* a stored video never changes: caches may keep it for good */

    if (ngx_http_weaveit_video_add_header(r, "Cache-Control",
            (u_char *) "public, max-age=31536000, immutable",
            sizeof("public, max-age=31536000, immutable") - 1)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_HTTP_NOT_MODIFIED) {
        r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
        r->header_only = 1;
        return NGX_OK;
    }

    if (ngx_http_weaveit_video_disposition(r,
            (u_char *) PQgetvalue(res, 0, 3), PQgetlength(res, 0, 3), &id)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&r->headers_out.content_type, "video/mp4");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = ctx->end - ctx->start;

    return NGX_OK;
}


/*
 * RFC 9110 section 13.2.2, in its order: If-Match, If-Unmodified-Since,
 * If-None-Match, If-Modified-Since.  Returns NGX_OK, NGX_HTTP_NOT_MODIFIED
 * or NGX_HTTP_PRECONDITION_FAILED.
 */

static ngx_int_t
ngx_http_weaveit_video_preconditions(ngx_http_request_t *r,
    ngx_str_t *etag, time_t mtime)
{
    time_t            since;
    ngx_table_elt_t  *h;

    h = r->headers_in.if_match;

    if (h && !ngx_http_weaveit_video_etag_match(&h->value, etag, 0)) {
        return NGX_HTTP_PRECONDITION_FAILED;
    }

    h = r->headers_in.if_unmodified_since;

    if (h && r->headers_in.if_match == NULL) {
        since = ngx_parse_http_time(h->value.data, h->value.len);

        if (since != NGX_ERROR && mtime > since) {
            return NGX_HTTP_PRECONDITION_FAILED;
        }
    }

    h = r->headers_in.if_none_match;

    if (h) {
        return ngx_http_weaveit_video_etag_match(&h->value, etag, 1)
               ? NGX_HTTP_NOT_MODIFIED : NGX_OK;
    }

    h = r->headers_in.if_modified_since;

    if (h) {
        since = ngx_parse_http_time(h->value.data, h->value.len);

        if (since != NGX_ERROR && mtime <= since) {
            return NGX_HTTP_NOT_MODIFIED;
        }
    }

    return NGX_OK;
}


/*
 * Whether a list of entity tags ("*", or "a", W/"b", ...) holds ours; a
 * weak tag matches only in the weak comparison.  A malformed list
 * matches nothing.
 */

static ngx_uint_t
ngx_http_weaveit_video_etag_match(ngx_str_t *list, ngx_str_t *etag,
    ngx_uint_t weak)
{
    u_char      *p, *last, *tag;
    ngx_uint_t   is_weak;

    p = list->data;
    last = p + list->len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

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
 * Sets ctx->start and ctx->end (exclusive) and, for a single range, the
 * 206 status and Content-Range.  Returns NGX_OK (200 or 206),
 * NGX_HTTP_RANGE_NOT_SATISFIABLE, or NGX_ERROR.
 */

static ngx_int_t
ngx_http_weaveit_video_range(ngx_http_request_t *r,
    ngx_http_weaveit_video_ctx_t *ctx, ngx_str_t *etag, time_t mtime)
{
    u_char           *p;
    time_t            date;
    ngx_int_t         rc;
    ngx_table_elt_t  *h, *ir;

    ctx->start = 0;
    ctx->end = ctx->length;
    r->headers_out.status = NGX_HTTP_OK;

    h = r->headers_in.range;

    if (h == NULL) {
        return NGX_OK;
    }

    /* If-Range: a strong match of the ETag or the exact Last-Modified */

    ir = r->headers_in.if_range;

    if (ir) {
        if (ir->value.len >= 2
            && (ir->value.data[ir->value.len - 1] == '"'))
        {
            if (ir->value.len != etag->len
                || ngx_strncmp(ir->value.data, etag->data, etag->len) != 0)
            {
                return NGX_OK;
            }

        } else {
            date = ngx_parse_http_time(ir->value.data, ir->value.len);

            if (date == NGX_ERROR || date != mtime) {
                return NGX_OK;
            }
        }
    }

    rc = ngx_http_weaveit_video_parse_range(&h->value, ctx->length,
                                            &ctx->start, &ctx->end);

    if (rc == NGX_DECLINED) {
        ctx->start = 0;
        ctx->end = ctx->length;
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    p = ngx_pnalloc(r->pool, sizeof("bytes -/") - 1 + 3 * NGX_OFF_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_http_weaveit_video_add_header(r, "Content-Range", p,
                                  ngx_sprintf(p, "bytes %O-%O/%O", ctx->start,
                                              ctx->end - 1, ctx->length)
                                  - p);
    if (h == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.content_range = h;
    r->headers_out.status = NGX_HTTP_PARTIAL_CONTENT;

    return NGX_OK;
}


/*
 * A Range value, with the arithmetic of nginx's range filter: "a-b" with
 * b past the end stops at the end, "-n" longer than the video is all of
 * it, "-0" and a start at or past the end are unsatisfiable.  Unlike
 * nginx, a value that does not parse is ignored rather than refused, as
 * RFC 9110 lets us.  Several satisfiable ranges are answered with the
 * whole video (the README says so): browsers never ask for them, and
 * RFC 9110 allows it.  Returns NGX_OK for one range, NGX_DECLINED for
 * "send it all", or NGX_HTTP_RANGE_NOT_SATISFIABLE.
 */

static ngx_int_t
ngx_http_weaveit_video_parse_range(ngx_str_t *value, off_t length,
    off_t *start, off_t *end)
{
    u_char      *p, *last;
    off_t        s, e, cutoff, cutlim;
    ngx_uint_t   suffix, n;

    if (value->len < 7
        || ngx_strncasecmp(value->data, (u_char *) "bytes=", 6) != 0)
    {
        return NGX_DECLINED;
    }

    p = value->data + 6;
    last = value->data + value->len;
    n = 0;

    cutoff = NGX_MAX_OFF_T_VALUE / 10;
    cutlim = NGX_MAX_OFF_T_VALUE % 10;

    for ( ;; ) {
        s = 0;
        e = 0;
        suffix = 0;

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p < last && *p != '-') {
            if (*p < '0' || *p > '9') {
                return NGX_DECLINED;
            }

            while (p < last && *p >= '0' && *p <= '9') {
                if (s >= cutoff && (s > cutoff || *p - '0' > cutlim)) {
                    return NGX_DECLINED;
                }

                s = s * 10 + (*p++ - '0');
            }

            while (p < last && (*p == ' ' || *p == '\t')) {
                p++;
            }

            if (p == last || *p++ != '-') {
                return NGX_DECLINED;
            }

            while (p < last && (*p == ' ' || *p == '\t')) {
                p++;
            }

            if (p == last || *p == ',') {
                e = length;
                goto found;
            }

        } else if (p < last) {
            suffix = 1;
            p++;

        } else {
            return NGX_DECLINED;
        }

        if (p == last || *p < '0' || *p > '9') {
            return NGX_DECLINED;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            if (e >= cutoff && (e > cutoff || *p - '0' > cutlim)) {
                return NGX_DECLINED;
            }

            e = e * 10 + (*p++ - '0');
        }

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p < last && *p != ',') {
            return NGX_DECLINED;
        }

        if (suffix) {
            s = (e < length) ? length - e : 0;
            e = length - 1;

        } else if (e < s) {
            /* "b < a" makes the whole header invalid (RFC 9110 14.1.1) */
            return NGX_DECLINED;
        }

        e = (e >= length) ? length : e + 1;

    found:

        if (s < e) {
            if (n++ == 0) {
                *start = s;
                *end = e;
            }
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
 * Content-Disposition: inline; filename="<title or id>.mp4", quoted with
 * '"' and '\' escaped; non-ASCII becomes '_' there, and the exact UTF-8
 * name goes in filename* (RFC 6266, RFC 8187).  Control characters are
 * never sent; long titles are cut at a character boundary.
 */

static ngx_int_t
ngx_http_weaveit_video_disposition(ngx_http_request_t *r, u_char *title,
    size_t len, ngx_str_t *id)
{
    u_char           *p, *value, c;
    size_t            i, size;
    ngx_uint_t        ascii;
    ngx_table_elt_t  *h;

    static u_char     hex[] = "0123456789ABCDEF";

    while (len && (*title == ' ' || *title == '\t')) {
        title++;
        len--;
    }

    if (len == 0) {
        title = id->data;
        len = id->len;
    }

    if (len > NGX_HTTP_WEAVEIT_TITLE_MAX) {
        len = NGX_HTTP_WEAVEIT_TITLE_MAX;

        while (len && (title[len] & 0xc0) == 0x80) {
            len--;
        }
    }

    ascii = 1;

    for (i = 0; i < len; i++) {
        if (title[i] >= 0x80) {
            ascii = 0;
            break;
        }
    }

    size = sizeof("inline; filename=\".mp4\"") - 1 + 2 * len;

    if (!ascii) {
        size += sizeof("; filename*=UTF-8''.mp4") - 1 + 3 * len;
    }

    value = ngx_pnalloc(r->pool, size);
    if (value == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(value, "inline; filename=\"",
                   sizeof("inline; filename=\"") - 1);

    for (i = 0; i < len; i++) {
        c = title[i];

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

    p = ngx_cpymem(p, ".mp4\"", sizeof(".mp4\"") - 1);

    if (!ascii) {
        p = ngx_cpymem(p, "; filename*=UTF-8''",
                       sizeof("; filename*=UTF-8''") - 1);

        for (i = 0; i < len; i++) {
            c = title[i];

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

        p = ngx_cpymem(p, ".mp4", sizeof(".mp4") - 1);
    }

    h = ngx_http_weaveit_video_add_header(r, "Content-Disposition", value,
                                          p - value);

    return (h == NULL) ? NGX_ERROR : NGX_OK;
}


static ngx_table_elt_t *
ngx_http_weaveit_video_add_header(ngx_http_request_t *r, char *key,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = len;

    return h;
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

    if (ngx_http_weaveit_pg_query(wmcf->pool, q, r->pool) != NGX_OK) {
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
