/* UUID and wallet syntax: any bytes, no crash, and only sane lengths pass */

#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_str_t  s;

    s = fuzz_str(data, size);

    if (ngx_http_weaveit_is_uuid(&s)) {
        fuzz_assert(s.len == NGX_HTTP_WEAVEIT_UUID_LEN);
    }

    if (ngx_http_weaveit_is_wallet(&s)) {
        fuzz_assert(s.len >= 32 && s.len <= 44);
    }

    free(s.data);

    return 0;
}
