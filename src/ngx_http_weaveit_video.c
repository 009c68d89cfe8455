
/*
 * GET/HEAD of a stored video, streamed from PostgreSQL in chunks with
 * HTTP Range support.
 */


#include "ngx_http_weaveit.h"


ngx_int_t
ngx_http_weaveit_video_handler(ngx_http_request_t *r)
{
    return ngx_http_weaveit_send_error(r, NGX_HTTP_NOT_IMPLEMENTED,
                                       "Not implemented yet");
}
