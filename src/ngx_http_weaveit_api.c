
/*
 * The JSON endpoints, and the helpers every handler uses to answer JSON.
 */


#include "ngx_http_weaveit.h"


static void ngx_http_weaveit_health_done(ngx_http_weaveit_pg_query_t *q);


ngx_int_t
ngx_http_weaveit_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *json)
{
    char         *text;
    size_t        len;
    ngx_buf_t    *b;
    ngx_int_t     rc;
    ngx_chain_t   out;

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
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;
    free(text);

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type,
                "application/json; charset=utf-8");
    r->headers_out.content_type_len = sizeof("application/json") - 1;

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


/* GET /api/db/health */


ngx_int_t
ngx_http_weaveit_health_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_http_weaveit_pg_query_t   *q;
    ngx_http_weaveit_main_conf_t  *wmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_weaveit_method_not_allowed(r, "GET, HEAD");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    wmcf = ngx_http_get_module_main_conf(r, ngx_http_weaveit_module);

    q = ngx_pcalloc(r->pool, sizeof(ngx_http_weaveit_pg_query_t));
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->sql = "SELECT 1";
    q->handler = ngx_http_weaveit_health_done;
    q->data = r;
    q->log = r->connection->log;

    if (ngx_http_weaveit_pg_query(wmcf->pool, q, r->pool) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;

    return NGX_DONE;
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
                         q->timed_out ? "database timeout"
                                      : "database unavailable");

    } else {
        status = NGX_HTTP_OK;
        json = json_pack("{sb}", "ok", 1);
    }

    ngx_http_weaveit_finalize(r, ngx_http_weaveit_send_json(r, status, json));
}
