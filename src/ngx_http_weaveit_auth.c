
/*
 * Wallet signatures (weaveit_auth signature).  A request to a wallet's
 * endpoint carries X-WeaveIt-Timestamp and X-WeaveIt-Signature: the base58
 * of an ed25519 signature, by the wallet's key (the address is the public
 * key), of the text ngx_http_weaveit_signed_message() lays out.  OpenSSL's
 * EVP hashes and verifies; the text, base58 and the window are plain rules
 * in ngx_http_weaveit_rules.c.  A POST's signature is spent with its job
 * (ngx_http_weaveit_api.c hands it to the database); a GET's may be
 * replayed within the window.
 */


#include "ngx_http_weaveit.h"

#include <openssl/err.h>
#include <openssl/evp.h>


#define NGX_HTTP_WEAVEIT_SHA256_LEN  32


/* what the two headers say */

typedef struct {
    ngx_str_t                       timestamp;
    time_t                          time;
    ngx_int_t                       fresh;        /* NGX_OK, NGX_DECLINED */
    u_char                          signature[NGX_HTTP_WEAVEIT_SIGNATURE_LEN];
} ngx_http_weaveit_auth_t;


static ngx_int_t ngx_http_weaveit_auth_read(ngx_http_request_t *r,
    ngx_str_t *wallet, time_t window, ngx_http_weaveit_auth_t *a);
static ngx_int_t ngx_http_weaveit_auth_signed(ngx_http_request_t *r,
    ngx_str_t *wallet, ngx_str_t *body, ngx_http_weaveit_auth_t *a);
static ngx_int_t ngx_http_weaveit_auth_headers(ngx_http_request_t *r,
    ngx_str_t *timestamp, ngx_str_t *signature);
static ngx_int_t ngx_http_weaveit_auth_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_weaveit_auth_message(ngx_http_request_t *r,
    ngx_str_t *wallet, ngx_str_t *timestamp, ngx_str_t *body,
    ngx_str_t *text);
static ngx_int_t ngx_http_weaveit_auth_verify(ngx_http_request_t *r,
    ngx_str_t *wallet, u_char *signature, ngx_str_t *text);
static ngx_int_t ngx_http_weaveit_sha256_hex(u_char *hex, u_char *data,
    size_t len);
static ngx_int_t ngx_http_weaveit_auth_refuse(ngx_http_request_t *r,
    ngx_str_t *wallet, const char *why, const char *message);


static ngx_str_t  ngx_http_weaveit_timestamp_header =
    ngx_string("X-WeaveIt-Timestamp");
static ngx_str_t  ngx_http_weaveit_signature_header =
    ngx_string("X-WeaveIt-Signature");
static ngx_str_t  ngx_http_weaveit_no_body = ngx_string("");


/*
 * For a request that is otherwise valid, before any query: "wallet" is
 * the (valid) wallet it is for, "body" its raw body, NULL for a GET.
 * NGX_DECLINED: the request goes on, signed or under weaveit_auth off;
 * then "spent" (65 bytes), if not NULL, holds the lowercase hex SHA-256
 * of the signature, NUL-terminated (untouched when unsigned), and
 * *expires the end of its window, so that the database takes it once.
 * Anything else is to be returned: the 401 was sent, or it is
 * NGX_HTTP_INTERNAL_SERVER_ERROR.
 *
 * The order of the checks: both headers, their syntax, the signature,
 * and only then the window, so that "Signature expired" is said of
 * genuine signatures alone (a client whose clock is off learns it).
 */

ngx_int_t
ngx_http_weaveit_auth_check(ngx_http_request_t *r, ngx_str_t *wallet,
    ngx_str_t *body, u_char *spent, time_t *expires)
{
    ngx_int_t                     rc;
    ngx_http_weaveit_auth_t       a;
    ngx_http_weaveit_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);

    if (wlcf->auth == NGX_HTTP_WEAVEIT_AUTH_OFF) {
        return NGX_DECLINED;
    }

    rc = ngx_http_weaveit_auth_read(r, wallet, wlcf->auth_window, &a);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_weaveit_auth_signed(r, wallet, body, &a);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (a.fresh != NGX_OK) {
        return ngx_http_weaveit_auth_refuse(r, wallet,
                   "the timestamp is outside weaveit_auth_window",
                   "Signature expired");
    }

    if (spent == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_weaveit_sha256_hex(spent, a.signature, sizeof(a.signature))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    spent[2 * NGX_HTTP_WEAVEIT_SHA256_LEN] = '\0';
    *expires = a.time + wlcf->auth_window;

    return NGX_DECLINED;
}


/*
 * The two headers and their syntax into "a"; whether the timestamp is
 * fresh is told later.  NGX_DECLINED: they are well-formed; anything
 * else is to be returned.
 */

static ngx_int_t
ngx_http_weaveit_auth_read(ngx_http_request_t *r, ngx_str_t *wallet,
    time_t window, ngx_http_weaveit_auth_t *a)
{
    ngx_int_t  rc;
    ngx_str_t  encoded;

    rc = ngx_http_weaveit_auth_headers(r, &a->timestamp, &encoded);

    if (rc == NGX_DECLINED) {
        return ngx_http_weaveit_auth_refuse(r, wallet,
                   "no X-WeaveIt-Timestamp or no X-WeaveIt-Signature",
                   "Missing signature");
    }

    /* twice: which one was meant is anybody's guess */

    if (rc != NGX_OK) {
        return ngx_http_weaveit_auth_refuse(r, wallet,
                   "X-WeaveIt-Timestamp or X-WeaveIt-Signature given twice",
                   "Invalid signature");
    }

    if (ngx_http_weaveit_base58_decode(&encoded, a->signature,
                                       sizeof(a->signature))
        != NGX_HTTP_WEAVEIT_SIGNATURE_LEN)
    {
        return ngx_http_weaveit_auth_refuse(r, wallet,
                   "the signature is not 64 bytes in base58",
                   "Invalid signature");
    }

    a->fresh = ngx_http_weaveit_signature_time(&a->timestamp, ngx_time(),
                                               window, &a->time);
    if (a->fresh == NGX_ERROR) {
        return ngx_http_weaveit_auth_refuse(r, wallet,
                   "the timestamp is not unix seconds", "Invalid signature");
    }

    return NGX_DECLINED;
}


/* NGX_DECLINED: the wallet signed this request; else to be returned */

static ngx_int_t
ngx_http_weaveit_auth_signed(ngx_http_request_t *r, ngx_str_t *wallet,
    ngx_str_t *body, ngx_http_weaveit_auth_t *a)
{
    ngx_int_t  rc;
    ngx_str_t  text;

    if (ngx_http_weaveit_auth_message(r, wallet, &a->timestamp, body, &text)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_weaveit_auth_verify(r, wallet, a->signature, &text);

    if (rc == NGX_DECLINED) {
        return ngx_http_weaveit_auth_refuse(r, wallet,
                   "the signature does not verify", "Invalid signature");
    }

    return (rc == NGX_OK) ? NGX_DECLINED : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* NGX_OK: both headers, once each; NGX_DECLINED: one is absent */

static ngx_int_t
ngx_http_weaveit_auth_headers(ngx_http_request_t *r, ngx_str_t *timestamp,
    ngx_str_t *signature)
{
    ngx_int_t  rc, rc2;

    rc = ngx_http_weaveit_auth_header(r, &ngx_http_weaveit_timestamp_header,
                                      timestamp);
    rc2 = ngx_http_weaveit_auth_header(r, &ngx_http_weaveit_signature_header,
                                       signature);

    if (rc == NGX_DECLINED || rc2 == NGX_DECLINED) {
        return NGX_DECLINED;
    }

    return (rc == NGX_OK && rc2 == NGX_OK) ? NGX_OK : NGX_ERROR;
}


/* NGX_OK, NGX_DECLINED: absent, NGX_ERROR: given more than once */

static ngx_int_t
ngx_http_weaveit_auth_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_uint_t        i, found;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    found = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != name->len
            || ngx_strncasecmp(h[i].key.data, name->data, name->len) != 0)
        {
            continue;
        }

        if (found++) {
            return NGX_ERROR;
        }

        *value = h[i].value;
    }

    return found ? NGX_OK : NGX_DECLINED;
}


/* the signed text of this request, in its pool */

static ngx_int_t
ngx_http_weaveit_auth_message(ngx_http_request_t *r, ngx_str_t *wallet,
    ngx_str_t *timestamp, ngx_str_t *body, ngx_str_t *text)
{
    size_t                     len;
    u_char                    *last, hex[2 * NGX_HTTP_WEAVEIT_SHA256_LEN];
    ngx_http_weaveit_signed_t  s;

    if (body == NULL) {
        body = &ngx_http_weaveit_no_body;
    }

    if (ngx_http_weaveit_sha256_hex(hex, body->data, body->len) != NGX_OK) {
        return NGX_ERROR;
    }

    s.method = r->method_name;
    s.uri = r->unparsed_uri;
    s.wallet = *wallet;
    s.timestamp = *timestamp;
    s.body_sha256.data = hex;
    s.body_sha256.len = sizeof(hex);

    len = ngx_http_weaveit_signed_len(&s);

    text->data = ngx_pnalloc(r->pool, len);
    if (text->data == NULL) {
        return NGX_ERROR;
    }

    /* nginx takes no newline into a request line, a header or a wallet */

    last = ngx_http_weaveit_signed_message(text->data, len, &s);
    if (last == NULL) {
        return NGX_ERROR;
    }

    text->len = last - text->data;

    return NGX_OK;
}


/*
 * NGX_OK: the wallet's key signed the text; NGX_DECLINED: it did not, or
 * the wallet is no ed25519 key; NGX_ERROR: OpenSSL failed.  OpenSSL
 * refuses a non-canonical S, so nobody but the key's owner makes a second
 * valid signature of a text: a POST's signature names its request.
 */

static ngx_int_t
ngx_http_weaveit_auth_verify(ngx_http_request_t *r, ngx_str_t *wallet,
    u_char *signature, ngx_str_t *text)
{
    int          rc;
    u_char       key[NGX_HTTP_WEAVEIT_WALLET_KEY_LEN];
    EVP_PKEY    *pkey;
    EVP_MD_CTX  *md;

    if (ngx_http_weaveit_base58_decode(wallet, key, sizeof(key))
        != NGX_HTTP_WEAVEIT_WALLET_KEY_LEN)
    {
        return NGX_DECLINED;
    }

    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key,
                                       sizeof(key));
    if (pkey == NULL) {
        ERR_clear_error();
        return NGX_DECLINED;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        EVP_PKEY_free(pkey);
        return NGX_ERROR;
    }

    /* ed25519 hashes the text itself: no digest of ours */

    rc = EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey);

    if (rc == 1) {
        rc = EVP_DigestVerify(md, signature, NGX_HTTP_WEAVEIT_SIGNATURE_LEN,
                              text->data, text->len);

        /* 0 or, for some malformed signatures, less: not verified */

        rc = (rc == 1) ? NGX_OK : NGX_DECLINED;

    } else {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "weaveit: EVP_DigestVerifyInit() failed");
        rc = NGX_ERROR;
    }

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);

    /* what OpenSSL queued must not surface in nginx's next SSL error */

    ERR_clear_error();

    return rc;
}


/* 64 lowercase hex digits, not NUL-terminated */

static ngx_int_t
ngx_http_weaveit_sha256_hex(u_char *hex, u_char *data, size_t len)
{
    u_char  md[NGX_HTTP_WEAVEIT_SHA256_LEN];

    if (EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL) != 1) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    (void) ngx_hex_dump(hex, md, sizeof(md));

    return NGX_OK;
}


/* the client gets one message a cause; the log says more, at info */

static ngx_int_t
ngx_http_weaveit_auth_refuse(ngx_http_request_t *r, ngx_str_t *wallet,
    const char *why, const char *message)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "weaveit: signature for wallet \"%V\" refused: %s",
                  wallet, why);

    return ngx_http_weaveit_send_unauthorized(r, message);
}
