/*
 * What a wallet signs: five fields of the input (method, URI, wallet,
 * timestamp, body hash) make a text of exactly ngx_http_weaveit_signed_len()
 * bytes in a buffer of that size, or are refused for a newline, never
 * more; base58 never writes past its buffer and decodes only what it
 * should; a timestamp is fresh only within its window.
 */

#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                     *buf, *last, key[NGX_HTTP_WEAVEIT_SIGNATURE_LEN];
    size_t                      len;
    time_t                      ts;
    ssize_t                     n;
    ngx_int_t                   rc;
    ngx_http_weaveit_signed_t   s;

    s.method = fuzz_field(&data, &size);
    s.uri = fuzz_field(&data, &size);
    s.wallet = fuzz_field(&data, &size);
    s.timestamp = fuzz_field(&data, &size);
    s.body_sha256 = fuzz_str(data, size);

    len = ngx_http_weaveit_signed_len(&s);
    buf = malloc(len ? len : 1);
    fuzz_assert(buf != NULL);

    last = ngx_http_weaveit_signed_message(buf, len, &s);
    fuzz_assert(last == NULL || (size_t) (last - buf) == len);

    /* a field with a newline in it (only the body hash can have one) */
    if (memchr(s.body_sha256.data, '\n', s.body_sha256.len)) {
        fuzz_assert(last == NULL);
    }

    /* one byte short is always refused */
    if (len) {
        fuzz_assert(ngx_http_weaveit_signed_message(buf, len - 1, &s)
                    == NULL);
    }

    n = ngx_http_weaveit_base58_decode(&s.wallet, key, sizeof(key));
    fuzz_assert(n == NGX_ERROR || (n >= 0 && (size_t) n <= sizeof(key)));

    if (ngx_http_weaveit_is_wallet(&s.wallet)) {
        fuzz_assert(n == NGX_HTTP_WEAVEIT_WALLET_KEY_LEN);
    }

    rc = ngx_http_weaveit_signature_time(&s.timestamp, 1700000000, 300, &ts);
    if (rc == NGX_OK) {
        fuzz_assert(ts >= 1700000000 - 300 && ts <= 1700000000 + 300);
    }

    free(buf);
    free(s.method.data);
    free(s.uri.data);
    free(s.wallet.data);
    free(s.timestamp.data);
    free(s.body_sha256.data);

    return 0;
}
