/*
 * Range values: one range is inside the video and not empty, anything
 * else is "send it all" or 416.  The first 8 bytes are the video's length.
 */

#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    off_t      length, start, end;
    uint64_t   raw;
    ngx_int_t  rc;
    ngx_str_t  value;

    if (size < sizeof(raw)) {
        return 0;
    }

    memcpy(&raw, data, sizeof(raw));

    /* mostly small videos, sometimes lengths near 2^63 */
    length = (raw & 1) ? (off_t) (raw >> 1) : (off_t) (raw >> 40);

    value = fuzz_str(data + sizeof(raw), size - sizeof(raw));
    start = -1;
    end = -1;

    rc = ngx_http_weaveit_parse_range(&value, length, &start, &end);

    if (rc == NGX_OK) {
        fuzz_assert(0 <= start && start < end && end <= length);

    } else {
        fuzz_assert(rc == NGX_DECLINED
                    || (rc == NGX_HTTP_RANGE_NOT_SATISFIABLE && length > 0));
    }

    free(value.data);

    return 0;
}
