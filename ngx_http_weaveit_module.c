
/*
 * WeaveIt: narrated "scrolling script" videos generated, stored in
 * PostgreSQL and streamed by nginx.  This file holds the module object and
 * its directives; each concern has its own file under src/.
 */


#include "ngx_http_weaveit.h"


static void *ngx_http_weaveit_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_weaveit_init_main_conf(ngx_conf_t *cf, void *conf);
static char *ngx_http_weaveit_db(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_weaveit_db_pool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_weaveit_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_weaveit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_weaveit_health(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_weaveit_video(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_weaveit_init_process(ngx_cycle_t *cycle);
static void ngx_http_weaveit_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_weaveit_commands[] = {

    { ngx_string("weaveit_db"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_weaveit_db,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("weaveit_db_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_weaveit_db_pool,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("weaveit_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_weaveit_health,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("weaveit_video"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_weaveit_video,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, video_id),
      NULL },

    { ngx_string("weaveit_video_chunk"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, video_chunk),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_weaveit_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_weaveit_create_main_conf,     /* create main configuration */
    ngx_http_weaveit_init_main_conf,       /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_weaveit_create_loc_conf,      /* create location configuration */
    ngx_http_weaveit_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_weaveit_module = {
    NGX_MODULE_V1,
    &ngx_http_weaveit_module_ctx,          /* module context */
    ngx_http_weaveit_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_weaveit_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_weaveit_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_weaveit_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_weaveit_main_conf_t));
    if (wmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     wmcf->conninfo = { 0, NULL };
     *     wmcf->keywords = NULL;
     *     wmcf->values = NULL;
     *     wmcf->pool = NULL;
     *     wmcf->used = 0;
     */

    wmcf->pool_max = NGX_CONF_UNSET_UINT;
    wmcf->pool_timeout = NGX_CONF_UNSET_MSEC;

    return wmcf;
}


static char *
ngx_http_weaveit_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_weaveit_main_conf_t  *wmcf = conf;

    ngx_conf_init_uint_value(wmcf->pool_max, 8);
    ngx_conf_init_msec_value(wmcf->pool_timeout, 5000);

    return ngx_http_weaveit_pg_parse_conninfo(cf, wmcf);
}


static char *
ngx_http_weaveit_db(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_weaveit_main_conf_t  *wmcf = conf;

    ngx_str_t  *value;

    if (wmcf->conninfo.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    wmcf->conninfo = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_weaveit_db_pool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_weaveit_main_conf_t  *wmcf = conf;

    ngx_int_t    max;
    ngx_str_t   *value, s;
    ngx_msec_t   timeout;
    ngx_uint_t   i;

    if (wmcf->pool_max != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    max = NGX_ERROR;
    timeout = 5000;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            max = ngx_atoi(value[i].data + 4, value[i].len - 4);
            if (max == NGX_ERROR || max == 0) {
                goto invalid;
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;
            timeout = ngx_parse_time(&s, 0);
            if (timeout == (ngx_msec_t) NGX_ERROR || timeout == 0) {
                goto invalid;
            }
            continue;
        }

        goto invalid;
    }

    if (max == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs the \"max=\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    wmcf->pool_max = max;
    wmcf->pool_timeout = timeout;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\"",
                       &value[i], &cmd->name);
    return NGX_CONF_ERROR;
}


static void *
ngx_http_weaveit_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_weaveit_loc_conf_t  *wlcf;

    wlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_weaveit_loc_conf_t));
    if (wlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     wlcf->video_id = NULL;
     */

    wlcf->video_chunk = NGX_CONF_UNSET_SIZE;

    return wlcf;
}


static char *
ngx_http_weaveit_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_weaveit_loc_conf_t *prev = parent;
    ngx_http_weaveit_loc_conf_t *conf = child;

    ngx_conf_merge_size_value(conf->video_chunk, prev->video_chunk,
                              512 * 1024);

    if (conf->video_chunk < 4096) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"weaveit_video_chunk\" must be at least 4k");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * Installs a location's content handler; every WeaveIt handler talks to
 * the database, so the worker connects at start.
 */

static char *
ngx_http_weaveit_set_handler(ngx_conf_t *cf, ngx_http_handler_pt handler)
{
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_weaveit_main_conf_t  *wmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = handler;

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_weaveit_module);
    wmcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_weaveit_health(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_weaveit_set_handler(cf, ngx_http_weaveit_health_handler);
}


/* weaveit_video $id: the id may be a job id or a video id */

static char *
ngx_http_weaveit_video(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *rv;

    rv = ngx_http_set_complex_value_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_http_weaveit_set_handler(cf, ngx_http_weaveit_video_handler);
}


static ngx_int_t
ngx_http_weaveit_init_process(ngx_cycle_t *cycle)
{
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_weaveit_module);
    if (wmcf == NULL) {
        return NGX_OK;
    }

    return ngx_http_weaveit_pg_init_process(cycle, wmcf);
}


static void
ngx_http_weaveit_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_weaveit_module);
    if (wmcf == NULL) {
        return;
    }

    ngx_http_weaveit_pg_exit_process(wmcf);
}
