
/*
 * What every WeaveIt handler needs to answer a request: JSON bodies and
 * errors, response headers, the method check, finishing a request that was
 * parked while the database worked.  The HTTP rules themselves (Range,
 * conditional requests, Content-Disposition, id syntax) work on plain
 * buffers in ngx_http_weaveit_rules.c.
 */


#include "ngx_http_weaveit.h"


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

ngx_int_t
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


/* a refused wallet signature (weaveit_auth signature): one message a cause */

ngx_int_t
ngx_http_weaveit_send_unauthorized(ngx_http_request_t *r,
    const char *message)
{
    ngx_table_elt_t  *h;

    h = ngx_http_weaveit_add_header(r, "WWW-Authenticate",
                                    (u_char *) "WeaveIt-Signature",
                                    sizeof("WeaveIt-Signature") - 1);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.www_authenticate = h;

    return ngx_http_weaveit_send_error(r, NGX_HTTP_UNAUTHORIZED, message);
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


/* the key must be static or live as long as the request */

ngx_table_elt_t *
ngx_http_weaveit_add_header(ngx_http_request_t *r, char *key,
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


ngx_int_t
ngx_http_weaveit_method_not_allowed(ngx_http_request_t *r, char *allow)
{
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    if (ngx_http_weaveit_add_header(r, "Allow", (u_char *) allow,
                                    ngx_strlen(allow))
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_weaveit_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                       "Method not allowed");
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


/* a NUL-terminated copy, as libpq's parameters want */

char *
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
