/*
 * Conditional requests: If-Match, If-None-Match and If-Range lines of the
 * input against the ETag of its fourth line; the dates come from the
 * first bytes.  Every answer is one the handler knows.
 */

#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    time_t                         dates[4];
    ngx_int_t                      rc;
    ngx_str_t                      im, inm, ir, etag;
    ngx_uint_t                     weak, strong;
    ngx_http_weaveit_conditions_t  c;

    if (size < sizeof(dates)) {
        return 0;
    }

    memcpy(dates, data, sizeof(dates));
    data += sizeof(dates);
    size -= sizeof(dates);

    im = fuzz_field(&data, &size);
    inm = fuzz_field(&data, &size);
    ir = fuzz_field(&data, &size);
    etag = fuzz_field(&data, &size);

    ngx_memzero(&c, sizeof(c));
    c.if_match = (dates[0] & 1) ? &im : NULL;
    c.if_none_match = (dates[0] & 2) ? &inm : NULL;
    c.if_range = (dates[0] & 4) ? &ir : NULL;
    c.if_unmodified_since = (dates[1] & 1) ? NGX_ERROR : dates[1];
    c.if_modified_since = (dates[2] & 1) ? NGX_ERROR : dates[2];
    c.if_range_date = (dates[3] & 1) ? NGX_ERROR : dates[3];

    rc = ngx_http_weaveit_preconditions(&c, &etag, dates[0]);
    fuzz_assert(rc == NGX_OK || rc == NGX_HTTP_NOT_MODIFIED
                || rc == NGX_HTTP_PRECONDITION_FAILED);

    (void) ngx_http_weaveit_if_range(&c, &etag, dates[0]);

    /* a strong match is a weak match too */
    strong = ngx_http_weaveit_etag_match(&im, &etag, 0);
    weak = ngx_http_weaveit_etag_match(&im, &etag, 1);
    fuzz_assert(!strong || weak);

    free(im.data);
    free(inm.data);
    free(ir.data);
    free(etag.data);

    return 0;
}
