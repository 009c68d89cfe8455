
/*
 * WeaveIt: narrated "scrolling script" videos generated, stored in
 * PostgreSQL and streamed by nginx.  This file holds the module object and
 * its directives; each concern has its own file under src/.
 */


#include "ngx_http_weaveit.h"
#include "ngx_http_weaveit_paths.h"
#include "ngx_http_weaveit_schema.h"
#include "weaveit.h"


/*
 * What a JSON POST body holds besides its script: the title (200
 * characters, up to 12 bytes each escaped as a surrogate pair), the
 * wallet, an award's note, the keys, and room to spare.
 */
#define NGX_HTTP_WEAVEIT_JSON_ROOM  8192

/* a script byte in JSON: at most "\u00XX" */
#define NGX_HTTP_WEAVEIT_JSON_ESCAPED  6


static void *ngx_http_weaveit_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_weaveit_init_main_conf(ngx_conf_t *cf, void *conf);
static void ngx_http_weaveit_init_jobs_conf(
    ngx_http_weaveit_main_conf_t *wmcf);
static void ngx_http_weaveit_init_render_conf(
    ngx_http_weaveit_main_conf_t *wmcf);
static void ngx_http_weaveit_init_str(ngx_str_t *s, const char *value);
static void *ngx_http_weaveit_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_weaveit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_weaveit_hold_body(ngx_conf_t *cf,
    ngx_http_weaveit_loc_conf_t *wlcf);
static char *ngx_http_weaveit_set_handler(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_weaveit_generate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_weaveit_video_size(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_weaveit_x264_preset(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_weaveit_speech_format(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_weaveit_voices_list(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_weaveit_check_bounds(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_weaveit_check_interval(ngx_conf_t *cf, void *post,
    void *data);


static ngx_conf_num_bounds_t  ngx_http_weaveit_positive = {
    ngx_http_weaveit_check_bounds, 1, -1
};

static ngx_conf_num_bounds_t  ngx_http_weaveit_not_negative = {
    ngx_http_weaveit_check_bounds, 0, -1
};

static ngx_conf_num_bounds_t  ngx_http_weaveit_fps_bounds = {
    ngx_http_weaveit_check_bounds, WEAVEIT_FPS_MIN, WEAVEIT_FPS_MAX
};

static ngx_conf_num_bounds_t  ngx_http_weaveit_font_size_bounds = {
    ngx_http_weaveit_check_bounds, WEAVEIT_FONT_SIZE_MIN,
    WEAVEIT_FONT_SIZE_MAX
};

static ngx_conf_num_bounds_t  ngx_http_weaveit_speech_rate_bounds = {
    ngx_http_weaveit_check_bounds, WEAVEIT_SPEECH_RATE_MIN,
    WEAVEIT_SPEECH_RATE_MAX
};

/* a longer script would be refused by the generator, failing its job */

static ngx_conf_num_bounds_t  ngx_http_weaveit_max_script_bounds = {
    ngx_http_weaveit_check_bounds, 1, WEAVEIT_SCRIPT_MAX
};

static ngx_conf_post_t  ngx_http_weaveit_x264_preset_post = {
    ngx_http_weaveit_x264_preset
};

static ngx_conf_post_t  ngx_http_weaveit_speech_format_post = {
    ngx_http_weaveit_speech_format
};

static ngx_conf_num_bounds_t  ngx_http_weaveit_speech_concurrency_bounds = {
    ngx_http_weaveit_check_bounds, WEAVEIT_SPEECH_CONCURRENCY_MIN,
    WEAVEIT_SPEECH_CONCURRENCY_MAX
};

/* a worker runs its jobs' generators at once: a thousand is plenty */

static ngx_conf_num_bounds_t  ngx_http_weaveit_max_jobs_bounds = {
    ngx_http_weaveit_check_bounds, 1, 1024
};

static ngx_conf_post_t  ngx_http_weaveit_job_interval_post = {
    ngx_http_weaveit_check_interval
};

static ngx_conf_enum_t  ngx_http_weaveit_themes[] = {
    { ngx_string("light"), WEAVEIT_THEME_LIGHT },
    { ngx_string("dark"), WEAVEIT_THEME_DARK },
    { ngx_null_string, 0 }
};

static ngx_conf_enum_t  ngx_http_weaveit_auth_modes[] = {
    { ngx_string("off"), NGX_HTTP_WEAVEIT_AUTH_OFF },
    { ngx_string("signature"), NGX_HTTP_WEAVEIT_AUTH_SIGNATURE },
    { ngx_null_string, 0 }
};


/* the content handlers, for ngx_http_weaveit_set_handler() in cmd->post */

static ngx_http_handler_pt  ngx_http_weaveit_health_post =
    ngx_http_weaveit_health_handler;
static ngx_http_handler_pt  ngx_http_weaveit_video_post =
    ngx_http_weaveit_video_handler;
static ngx_http_handler_pt  ngx_http_weaveit_generate_post =
    ngx_http_weaveit_generate_handler;
static ngx_http_handler_pt  ngx_http_weaveit_status_post =
    ngx_http_weaveit_status_handler;
static ngx_http_handler_pt  ngx_http_weaveit_wallet_videos_post =
    ngx_http_weaveit_wallet_videos_handler;
static ngx_http_handler_pt  ngx_http_weaveit_points_post =
    ngx_http_weaveit_points_handler;
static ngx_http_handler_pt  ngx_http_weaveit_demo_post =
    ngx_http_weaveit_demo_handler;
static ngx_http_handler_pt  ngx_http_weaveit_points_award_post =
    ngx_http_weaveit_points_award_handler;
static ngx_http_handler_pt  ngx_http_weaveit_voices_post =
    ngx_http_weaveit_voices_handler;
static ngx_http_handler_pt  ngx_http_weaveit_metrics_post =
    ngx_http_weaveit_metrics_handler;


static ngx_int_t ngx_http_weaveit_init_process(ngx_cycle_t *cycle);
static void ngx_http_weaveit_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_weaveit_commands[] = {

    { ngx_string("weaveit_db"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_weaveit_pg_set_conninfo,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, db),
      NULL },

    { ngx_string("weaveit_db_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_weaveit_pg_set_pool,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, db),
      NULL },

    { ngx_string("weaveit_db_prepare"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, db.prepare),
      NULL },

    /* each one a conf of its own, handed to the pool's setter at offset 0 */

    { ngx_string("weaveit_db_replica"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_weaveit_replica_add,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("weaveit_db_replica_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_weaveit_pg_set_pool,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, replica.pool),
      NULL },

    { ngx_string("weaveit_db_replica_max_lag"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, replica.max_lag),
      NULL },

    { ngx_string("weaveit_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_weaveit_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_weaveit_health_post },

    { ngx_string("weaveit_video"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_weaveit_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, video_id),
      &ngx_http_weaveit_video_post },

    { ngx_string("weaveit_generate"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_weaveit_generate,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_weaveit_generate_post },

    { ngx_string("weaveit_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_weaveit_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, status_id),
      &ngx_http_weaveit_status_post },

    { ngx_string("weaveit_wallet_videos"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_weaveit_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, wallet),
      &ngx_http_weaveit_wallet_videos_post },

    { ngx_string("weaveit_points"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_weaveit_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, wallet),
      &ngx_http_weaveit_points_post },

    { ngx_string("weaveit_demo"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_weaveit_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_weaveit_demo_post },

    { ngx_string("weaveit_points_award"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_weaveit_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_weaveit_points_award_post },

    { ngx_string("weaveit_voices_list"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_weaveit_voices_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_weaveit_voices_post },

    { ngx_string("weaveit_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_weaveit_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_weaveit_metrics_post },

    { ngx_string("weaveit_max_script"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, max_script),
      &ngx_http_weaveit_max_script_bounds },

    { ngx_string("weaveit_theme"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, theme),
      &ngx_http_weaveit_themes },

    { ngx_string("weaveit_signup_points"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, signup_points),
      &ngx_http_weaveit_not_negative },

    { ngx_string("weaveit_generate_cost"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, generate_cost),
      &ngx_http_weaveit_not_negative },

    { ngx_string("weaveit_max_pending"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, max_pending),
      &ngx_http_weaveit_positive },

    { ngx_string("weaveit_max_pending_per_wallet"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, max_pending_wallet),
      &ngx_http_weaveit_positive },

    { ngx_string("weaveit_generate_wait"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, generate_wait),
      NULL },

    { ngx_string("weaveit_generate_wait_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, generate_wait_timeout),
      NULL },

    { ngx_string("weaveit_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, thread_pool_name),
      NULL },

    { ngx_string("weaveit_max_jobs"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, max_jobs),
      &ngx_http_weaveit_max_jobs_bounds },

    { ngx_string("weaveit_job_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, job_interval),
      &ngx_http_weaveit_job_interval_post },

    { ngx_string("weaveit_job_attempts"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, job_attempts),
      &ngx_http_weaveit_positive },

    { ngx_string("weaveit_keep_script"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, keep_script),
      NULL },

    { ngx_string("weaveit_cleanup_failed_after"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, cleanup_failed_after),
      NULL },

    { ngx_string("weaveit_video_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, video_retention),
      NULL },

    { ngx_string("weaveit_generator"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, generator),
      NULL },

    { ngx_string("weaveit_generate_memory"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, generate_memory),
      NULL },

    { ngx_string("weaveit_generate_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, generate_timeout),
      NULL },

    { ngx_string("weaveit_video_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_weaveit_video_size,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("weaveit_video_cfr"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, video_cfr),
      NULL },

    { ngx_string("weaveit_video_fps"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, video_fps),
      &ngx_http_weaveit_fps_bounds },

    { ngx_string("weaveit_font"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, font),
      NULL },

    { ngx_string("weaveit_prose_font"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, prose_font),
      NULL },

    { ngx_string("weaveit_font_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, font_size),
      &ngx_http_weaveit_font_size_bounds },

    { ngx_string("weaveit_voice"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, voice),
      NULL },

    { ngx_string("weaveit_voices"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_weaveit_speech_set_voices,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, voice_names),
      NULL },

    { ngx_string("weaveit_speech"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_weaveit_speech_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("weaveit_speech_model"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, speech_model),
      NULL },

    { ngx_string("weaveit_speech_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, speech_key_file),
      NULL },

    { ngx_string("weaveit_speech_format"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, speech_format),
      &ngx_http_weaveit_speech_format_post },

    { ngx_string("weaveit_speech_ca_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, speech_ca_file),
      NULL },

    { ngx_string("weaveit_speech_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, speech_timeout),
      NULL },

    { ngx_string("weaveit_speech_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, speech_concurrency),
      &ngx_http_weaveit_speech_concurrency_bounds },

    { ngx_string("weaveit_speech_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, speech_rate),
      &ngx_http_weaveit_speech_rate_bounds },

    { ngx_string("weaveit_x264_preset"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_weaveit_main_conf_t, x264_preset),
      &ngx_http_weaveit_x264_preset_post },

    { ngx_string("weaveit_video_chunk"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, video_chunk),
      NULL },

    { ngx_string("weaveit_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, auth),
      &ngx_http_weaveit_auth_modes },

    { ngx_string("weaveit_auth_window"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_weaveit_loc_conf_t, auth_window),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_weaveit_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_weaveit_metrics_init,         /* postconfiguration */

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
     *     wmcf->pool = NULL;
 *     wmcf->replica.confs = NULL;
 *     wmcf->replica.set = NULL;
     *     wmcf->used = 0;
     *     wmcf->generates = 0;
     *     wmcf->thread_pool_name = { 0, NULL };
     *     wmcf->font = { 0, NULL };
     *     wmcf->prose_font = { 0, NULL };
     *     wmcf->voice = { 0, NULL };
     *     wmcf->x264_preset = { 0, NULL };
     *     wmcf->speech_url = { 0, NULL };
     *     wmcf->speech_model = { 0, NULL };
     *     wmcf->speech_key_file = { 0, NULL };
     *     wmcf->speech_key = { 0, NULL };
     *     wmcf->speech_format = { 0, NULL };
     *     wmcf->speech_ca_file = { 0, NULL };
     *     wmcf->voice_names = NULL;
     *     wmcf->voices = NULL;
     *     wmcf->lists_voices = 0;
     */

    ngx_http_weaveit_pg_conf_unset(&wmcf->db);
    ngx_http_weaveit_replica_conf_unset(&wmcf->replica);

    /* each worker's pool brings the schema up to date when it connects */

    wmcf->db.setup_sql = ngx_http_weaveit_schema_sql;
    wmcf->db.setup_name = "schema";
    wmcf->db.observer = &ngx_http_weaveit_metrics_db_observer;

    wmcf->max_jobs = NGX_CONF_UNSET;
    wmcf->job_interval = NGX_CONF_UNSET_MSEC;
    wmcf->job_attempts = NGX_CONF_UNSET;
    wmcf->keep_script = NGX_CONF_UNSET;
    wmcf->cleanup_failed_after = NGX_CONF_UNSET;
    wmcf->video_retention = NGX_CONF_UNSET;
    wmcf->generate_memory = NGX_CONF_UNSET;
    wmcf->generate_timeout = NGX_CONF_UNSET;
    wmcf->video_width = NGX_CONF_UNSET;
    wmcf->video_height = NGX_CONF_UNSET;
    wmcf->video_fps = NGX_CONF_UNSET;
    wmcf->video_cfr = NGX_CONF_UNSET;
    wmcf->font_size = NGX_CONF_UNSET;
    wmcf->speech_rate = NGX_CONF_UNSET;
    wmcf->speech = NGX_CONF_UNSET_UINT;
    wmcf->speech_timeout = NGX_CONF_UNSET;
    wmcf->speech_concurrency = NGX_CONF_UNSET;

    return wmcf;
}


static char *
ngx_http_weaveit_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_weaveit_main_conf_t  *wmcf = conf;

    if (ngx_http_weaveit_pg_conf_init(cf, &wmcf->db) != NGX_CONF_OK
        || ngx_http_weaveit_replica_conf_init(cf, wmcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_http_weaveit_init_jobs_conf(wmcf);
    ngx_http_weaveit_init_render_conf(wmcf);

    if (ngx_http_weaveit_job_init_conf(cf, wmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_weaveit_speech_init_conf(cf, wmcf);
}


static void
ngx_http_weaveit_init_jobs_conf(ngx_http_weaveit_main_conf_t *wmcf)
{
    ngx_conf_init_value(wmcf->max_jobs, 1);
    ngx_conf_init_msec_value(wmcf->job_interval, 1000);
    ngx_conf_init_value(wmcf->job_attempts, 3);
    ngx_conf_init_value(wmcf->keep_script, 0);
    ngx_conf_init_value(wmcf->cleanup_failed_after, 7 * 24 * 60 * 60);
    ngx_conf_init_value(wmcf->video_retention, 0);
    ngx_conf_init_value(wmcf->generate_memory, 1024 * 1024 * 1024);
    ngx_conf_init_value(wmcf->generate_timeout, 300);

    if (wmcf->thread_pool_name.data == NULL) {
        ngx_str_set(&wmcf->thread_pool_name, "default");
    }

    if (wmcf->generator.data == NULL) {
        ngx_str_set(&wmcf->generator, NGX_HTTP_WEAVEIT_GENERATOR);
    }
}


/* the rendering defaults are the core's */

static void
ngx_http_weaveit_init_render_conf(ngx_http_weaveit_main_conf_t *wmcf)
{
    weaveit_params_t  defaults;

    weaveit_params_init(&defaults);

    ngx_conf_init_value(wmcf->video_width, defaults.width);
    ngx_conf_init_value(wmcf->video_height, defaults.height);
    ngx_conf_init_value(wmcf->video_fps, defaults.fps);
    ngx_conf_init_value(wmcf->video_cfr, defaults.cfr);
    ngx_conf_init_value(wmcf->font_size, defaults.font_size);
    ngx_conf_init_value(wmcf->speech_rate, defaults.speech_rate);

    ngx_http_weaveit_init_str(&wmcf->font, defaults.font_path);
    ngx_http_weaveit_init_str(&wmcf->prose_font, defaults.prose_font);
    ngx_http_weaveit_init_str(&wmcf->x264_preset, defaults.x264_preset);
}


/* the core's strings are static, and NUL-terminated like conf strings */

static void
ngx_http_weaveit_init_str(ngx_str_t *s, const char *value)
{
    if (s->data == NULL) {
        s->data = (u_char *) value;
        s->len = ngx_strlen(value);
    }
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
     *     wlcf->status_id = NULL;
     *     wlcf->wallet = NULL;
     *     wlcf->video_id = NULL;
     *     wlcf->endpoint = 0;
     */

    wlcf->max_script = NGX_CONF_UNSET_SIZE;
    wlcf->theme = NGX_CONF_UNSET_UINT;
    wlcf->signup_points = NGX_CONF_UNSET;
    wlcf->generate_cost = NGX_CONF_UNSET;
    wlcf->max_pending = NGX_CONF_UNSET;
    wlcf->max_pending_wallet = NGX_CONF_UNSET;
    wlcf->generate_wait = NGX_CONF_UNSET;
    wlcf->generate_wait_timeout = NGX_CONF_UNSET_MSEC;
    wlcf->video_chunk = NGX_CONF_UNSET_SIZE;
    wlcf->auth = NGX_CONF_UNSET_UINT;
    wlcf->auth_window = NGX_CONF_UNSET;

    return wlcf;
}


static char *
ngx_http_weaveit_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_weaveit_loc_conf_t *prev = parent;
    ngx_http_weaveit_loc_conf_t *conf = child;

    ngx_conf_merge_size_value(conf->max_script, prev->max_script, 20000);
    ngx_conf_merge_uint_value(conf->theme, prev->theme, WEAVEIT_THEME_LIGHT);
    ngx_conf_merge_value(conf->signup_points, prev->signup_points, 0);
    ngx_conf_merge_value(conf->generate_cost, prev->generate_cost, 0);
    ngx_conf_merge_value(conf->max_pending, prev->max_pending, 1000);
    ngx_conf_merge_value(conf->max_pending_wallet, prev->max_pending_wallet,
                         5);
    ngx_conf_merge_value(conf->generate_wait, prev->generate_wait, 0);
    ngx_conf_merge_msec_value(conf->generate_wait_timeout,
                              prev->generate_wait_timeout, 120000);
    ngx_conf_merge_size_value(conf->video_chunk, prev->video_chunk,
                              512 * 1024);

    ngx_conf_merge_uint_value(conf->auth, prev->auth,
                              NGX_HTTP_WEAVEIT_AUTH_OFF);
    ngx_conf_merge_value(conf->auth_window, prev->auth_window, 300);

    if (conf->video_chunk < 4096) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"weaveit_video_chunk\" must be at least 4k");
        return NGX_CONF_ERROR;
    }

    /* 0 would refuse a client whose second has just turned */

    if (conf->auth_window < 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"weaveit_auth_window\" must be at least 1s");
        return NGX_CONF_ERROR;
    }

    return ngx_http_weaveit_hold_body(cf, conf);
}


/*
 * A JSON POST's body is parsed from memory: a body nginx spooled to a
 * temporary file would have to be read back on the event loop.  So in a
 * location of weaveit_generate or weaveit_points_award the body is
 * bounded by the largest one the handler can accept, and the body buffer
 * holds that much.  Core's loc confs are merged before this module's.
 */

static char *
ngx_http_weaveit_hold_body(ngx_conf_t *cf, ngx_http_weaveit_loc_conf_t *wlcf)
{
    off_t                      largest;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_weaveit_generate_handler) {
        largest = NGX_MAX_OFF_T_VALUE;

        if (wlcf->max_script < (size_t) (NGX_MAX_OFF_T_VALUE
                                         - NGX_HTTP_WEAVEIT_JSON_ROOM)
                               / NGX_HTTP_WEAVEIT_JSON_ESCAPED)
        {
            largest = (off_t) wlcf->max_script * NGX_HTTP_WEAVEIT_JSON_ESCAPED
                      + NGX_HTTP_WEAVEIT_JSON_ROOM;
        }

    } else if (clcf->handler == ngx_http_weaveit_points_award_handler) {
        largest = NGX_HTTP_WEAVEIT_JSON_ROOM;

    } else {
        return NGX_CONF_OK;
    }

    if (clcf->client_body_in_file_only) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"client_body_in_file_only\" cannot be used "
                           "where a WeaveIt handler reads a JSON body: it "
                           "is parsed from memory");
        return NGX_CONF_ERROR;
    }

    if (clcf->client_max_body_size == 0
        || clcf->client_max_body_size > largest)
    {
        clcf->client_max_body_size = largest;
    }

    if ((off_t) clcf->client_body_buffer_size < clcf->client_max_body_size) {
        clcf->client_body_buffer_size = (size_t) clcf->client_max_body_size;
    }

    return NGX_CONF_OK;
}


/*
 * weaveit_health, weaveit_video $id, weaveit_status $id, ...: installs the
 * location's content handler, given in cmd->post, after evaluating the
 * directive's argument if it takes one.  Every WeaveIt handler talks to
 * the database, so the worker connects at start.
 */

static char *
ngx_http_weaveit_set_handler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_weaveit_loc_conf_t   *wlcf = conf;
    ngx_http_handler_pt           *handler = cmd->post;

    char                          *rv;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_weaveit_main_conf_t  *wmcf;

    if (cmd->type & NGX_CONF_TAKE1) {
        rv = ngx_http_set_complex_value_slot(cf, cmd, conf);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = *handler;

    wlcf->endpoint = ngx_http_weaveit_metrics_endpoint(&cmd->name);

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_weaveit_module);
    wmcf->used = 1;

    return NGX_CONF_OK;
}


/* a location that generates: the worker runs jobs */

static char *
ngx_http_weaveit_generate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_weaveit_module);
    wmcf->generates = 1;

    return ngx_http_weaveit_set_handler(cf, cmd, conf);
}


/* GET /api/voices: espeak-ng's voices are asked for at start */

static char *
ngx_http_weaveit_voices_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_weaveit_module);
    wmcf->lists_voices = 1;

    return ngx_http_weaveit_set_handler(cf, cmd, conf);
}


/* weaveit_video_size WIDTHxHEIGHT; H.264 4:2:0 wants even sizes */

static char *
ngx_http_weaveit_video_size(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_weaveit_main_conf_t  *wmcf = conf;

    u_char     *x;
    ngx_int_t   w, h;
    ngx_str_t  *value;

    if (wmcf->video_width != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    x = ngx_strlchr(value[1].data, value[1].data + value[1].len, 'x');
    if (x == NULL) {
        goto invalid;
    }

    w = ngx_atoi(value[1].data, x - value[1].data);
    h = ngx_atoi(x + 1, value[1].data + value[1].len - x - 1);

    if (w < WEAVEIT_WIDTH_MIN || w > WEAVEIT_WIDTH_MAX
        || h < WEAVEIT_HEIGHT_MIN || h > WEAVEIT_HEIGHT_MAX
        || w % 2 || h % 2)
    {
        goto invalid;
    }

    wmcf->video_width = w;
    wmcf->video_height = h;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\": want WIDTHxHEIGHT, "
                       "even numbers from %dx%d to %dx%d",
                       &value[1], &cmd->name,
                       WEAVEIT_WIDTH_MIN, WEAVEIT_HEIGHT_MIN,
                       WEAVEIT_WIDTH_MAX, WEAVEIT_HEIGHT_MAX);
    return NGX_CONF_ERROR;
}


/*
 * like ngx_conf_check_num_bounds(), but the message names the directive;
 * a size (size_t) is read as the ngx_int_t of the same width
 */

static char *
ngx_http_weaveit_check_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_conf_num_bounds_t  *bounds = post;
    ngx_int_t              *np = data;

    u_char  *msg;

    if (*np >= bounds->low && (bounds->high == -1 || *np <= bounds->high)) {
        return NGX_CONF_OK;
    }

    msg = ngx_pnalloc(cf->pool, sizeof("must be between  and ")
                                + 2 * NGX_INT_T_LEN);
    if (msg == NULL) {
        return NGX_CONF_ERROR;
    }

    if (bounds->high == -1) {
        (void) ngx_sprintf(msg, "must be at least %i%Z", bounds->low);

    } else {
        (void) ngx_sprintf(msg, "must be between %i and %i%Z",
                           bounds->low, bounds->high);
    }

    return (char *) msg;
}


/* the job timer: 0 would spin, and the lease is ten intervals */

static char *
ngx_http_weaveit_check_interval(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *interval = data;

    if (*interval < 10 || *interval > 60000) {
        return "must be between 10ms and 60s";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_weaveit_x264_preset(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *preset = data;

    if (weaveit_x264_preset_valid((char *) preset->data)) {
        return NGX_CONF_OK;
    }

    return "is not an x264 preset (ultrafast ... placebo)";
}


static char *
ngx_http_weaveit_speech_format(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *format = data;

    if (weaveit_speech_format_valid((char *) format->data)) {
        return NGX_CONF_OK;
    }

    return "is not wav, mp3, opus, flac or aac";
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

    /* weaveit_db alone, without a handler, still connects at start */

    if (wmcf->used || wmcf->db.conninfo.len) {
        wmcf->pool = ngx_http_weaveit_pg_pool_create(cycle, &wmcf->db);
        if (wmcf->pool == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_weaveit_replica_init_process(cycle, wmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_weaveit_job_init_process(cycle, wmcf);
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

    ngx_http_weaveit_replica_exit_process(wmcf);

    if (wmcf->pool) {
        ngx_http_weaveit_pg_pool_destroy(wmcf->pool);
    }
}
