/*
 * Content-Disposition from any title bytes: it fits its buffer (allocated
 * at exactly NGX_HTTP_WEAVEIT_DISPOSITION_LEN bytes) and holds printable
 * ASCII only: no control character, no raw byte of a title's UTF-8.
 */

#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *buf, *last, *p;
    ngx_str_t   title, id = ngx_string("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");

    title = fuzz_str(data, size);
    buf = malloc(NGX_HTTP_WEAVEIT_DISPOSITION_LEN);
    fuzz_assert(buf != NULL);

    last = ngx_http_weaveit_disposition(buf, title.data, title.len, &id);

    fuzz_assert(last > buf
                && (size_t) (last - buf) <= NGX_HTTP_WEAVEIT_DISPOSITION_LEN);

    for (p = buf; p < last; p++) {
        fuzz_assert(*p >= 0x20 && *p < 0x7f);
    }

    free(buf);
    free(title.data);

    return 0;
}
