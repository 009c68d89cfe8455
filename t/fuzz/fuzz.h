/*
 * What the libFuzzer harnesses of the module's code share: nginx's
 * headers, the module's header, and inputs copied into buffers of their
 * exact size, so that AddressSanitizer sees a read one byte past the end.
 */

#ifndef _WEAVEIT_FUZZ_H_INCLUDED_
#define _WEAVEIT_FUZZ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <stdint.h>
#include <stdlib.h>

#include "ngx_http_weaveit.h"
#include "fuzz_assert.h"


static ngx_str_t
fuzz_str(const uint8_t *data, size_t size)
{
    ngx_str_t  s;

    s.len = size;
    s.data = malloc(size ? size : 1);
    fuzz_assert(s.data != NULL);
    memcpy(s.data, data, size);

    return s;
}


/* the next field of the input, up to a '\n' or its end */

static ngx_str_t
fuzz_field(const uint8_t **data, size_t *size)
{
    size_t       n;
    ngx_str_t    s;
    const void  *nl;

    nl = memchr(*data, '\n', *size);
    n = nl ? (size_t) ((const uint8_t *) nl - *data) : *size;

    s = fuzz_str(*data, n);

    *data += nl ? n + 1 : n;
    *size -= nl ? n + 1 : n;

    return s;
}


#endif /* _WEAVEIT_FUZZ_H_INCLUDED_ */
