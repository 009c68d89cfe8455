#ifndef _NGX_HTTP_WEAVEIT_H_INCLUDED_
#define _NGX_HTTP_WEAVEIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>
#include <jansson.h>
#include <stdatomic.h>


#if !(NGX_THREADS)
#error "weaveit needs nginx configured --with-threads"
#endif


#define NGX_HTTP_WEAVEIT_PG_ERRLEN  512


typedef struct ngx_http_weaveit_pg_pool_s  ngx_http_weaveit_pg_pool_t;
typedef struct ngx_http_weaveit_pg_conn_s  ngx_http_weaveit_pg_conn_t;
typedef struct ngx_http_weaveit_pg_query_s ngx_http_weaveit_pg_query_t;

typedef void (*ngx_http_weaveit_pg_handler_pt)(
    ngx_http_weaveit_pg_query_t *q);


/*
 * One statement sent through the pool.  The caller fills the fields above
 * the line, usually in memory of the pool passed to
 * ngx_http_weaveit_pg_query(), and is called back exactly once, unless it
 * cancels first: with "result" set on success, or with "error" set (and
 * "result" possibly holding the failed result) otherwise; "timed_out" tells
 * a timeout from a failure.  "error" is for logs, not for clients: it can
 * name hosts and paths; it points into the query and lasts until the query
 * is passed to ngx_http_weaveit_pg_query() again.  The result is cleared
 * when the handler returns, unless the handler takes it with
 * ngx_http_weaveit_pg_take_result().
 * A "name" makes the statement a prepared one (unless weaveit_db_prepare is
 * off): each connection prepares it the first time it runs it, and only
 * binds and executes it afterwards.
 * A "priority" query (job upkeep: a lease must not wait for downloads)
 * goes before every other waiting query, and may open one of the conf's
 * "reserve" connections when all the others are taken.
 */
struct ngx_http_weaveit_pg_query_s {
    const char                     *name;
    const char                     *sql;
    int                             nparams;
    const char *const              *values;
    const int                      *lengths;
    const int                      *formats;
    int                             binary_result;

    ngx_http_weaveit_pg_handler_pt  handler;
    void                           *data;
    ngx_log_t                      *log;
    unsigned                        priority:1;

    /*
     * set by ngx_http_weaveit_replica_read(): the caller's handler, called
     * once the replica, or the primary after it, has answered; and the
     * pool that answered, where the query's next read goes first
     */
    ngx_http_weaveit_pg_handler_pt  read_handler;
    ngx_http_weaveit_pg_pool_t     *read_pool;

    /* ---- filled by the pool ---- */
    PGresult                       *result;
    const char                     *error;

    ngx_queue_t                     queue;
    ngx_event_t                     timer;
    ngx_http_weaveit_pg_conn_t     *conn;
    ngx_http_weaveit_pg_pool_t     *pool;
    ngx_msec_t                      queued;
    unsigned                        waiting:1;
    unsigned                        timed_out:1;
    unsigned                        retried:1;
    unsigned                        cleanup_added:1;
    char                            error_text[NGX_HTTP_WEAVEIT_PG_ERRLEN];
};


/*
 * Whoever watches a pool (the metrics) learns, without the pool knowing
 * who it is: how long a query waited for a connection, each query that
 * failed, and the pool's connections and queue after each change (all
 * zero when the pool is destroyed).
 */
typedef struct {
    void                          (*waited)(ngx_msec_t waited);
    void                          (*failed)(void);
    void                          (*changed)(ngx_uint_t busy, ngx_uint_t idle,
                                             ngx_uint_t waiting);
} ngx_http_weaveit_pg_observer_t;


/*
 * What the directives say about one PostgreSQL database, completed by
 * ngx_http_weaveit_pg_conf_init() at configuration time and read-only
 * after it; each worker's pool of that database points at it.
 */
typedef struct {
    /* as given, and the directive that gave it, for messages */
    ngx_str_t                       conninfo;
    ngx_str_t                       directive;

    /* host, hostaddr and port as completed, for logs (no credentials) */
    ngx_str_t                       target;

    /* built from conninfo, NULL-terminated, as PQconnectStartParams() */
    const char                    **keywords;
    const char                    **values;

    ngx_uint_t                      max;
    ngx_msec_t                      timeout;
    ngx_flag_t                      prepare;

    /*
     * Connections beyond "max" that only priority queries open: one for
     * each priority query that can run at once, and none of them waits
     * for a connection a client query holds.
     */
    ngx_uint_t                      reserve;

    /*
     * SQL a pool runs on its first connection, and on each new one until
     * it has succeeded once; queries wait for it.  NULL: none.  error_log
     * names it: "database <setup_name> is up to date", "<setup_name>
     * failed: ...".
     */
    const char                     *setup_sql;
    const char                     *setup_name;

    /* NULL: nobody watches */
    const ngx_http_weaveit_pg_observer_t  *observer;

    /*
     * of the pool's connection and query errors: NGX_LOG_ERR; a replica's
     * are told once, when it is skipped, and go at NGX_LOG_INFO
     */
    ngx_uint_t                      error_level;
} ngx_http_weaveit_pg_conf_t;


typedef struct ngx_http_weaveit_replicas_s  ngx_http_weaveit_replicas_t;


/* what the weaveit_db_replica* directives say, and a worker's replicas */
typedef struct {
    ngx_array_t                    *confs;    /* ngx_http_weaveit_pg_conf_t */

    /* weaveit_db_replica_pool: the max and timeout of each */
    ngx_http_weaveit_pg_conf_t      pool;
    ngx_msec_t                      max_lag;

    /* NULL: none, or not a worker */
    ngx_http_weaveit_replicas_t    *set;
} ngx_http_weaveit_replica_conf_t;


typedef struct ngx_http_weaveit_jobs_s  ngx_http_weaveit_jobs_t;


#define NGX_HTTP_WEAVEIT_UUID_LEN         36


/* a voice a request may choose; language is empty when nobody said */
typedef struct {
    ngx_str_t                       name;
    ngx_str_t                       language;
} ngx_http_weaveit_voice_t;


typedef struct {
    ngx_http_weaveit_pg_conf_t      db;
    ngx_http_weaveit_pg_pool_t     *pool;
    ngx_http_weaveit_replica_conf_t replica;
    ngx_flag_t                      used;

    /* jobs (ngx_http_weaveit_job.c) */
    ngx_flag_t                      generates;
    ngx_str_t                       thread_pool_name;
    ngx_thread_pool_t              *thread_pool;
    ngx_int_t                       max_jobs;
    ngx_msec_t                      job_interval;
    ngx_int_t                       job_attempts;
    ngx_flag_t                      keep_script;
    ngx_str_t                       generator;
    off_t                           generate_memory;
    time_t                          generate_timeout;
    time_t                          cleanup_failed_after;
    time_t                          video_retention;
    ngx_http_weaveit_jobs_t        *jobs;

    /* rendering, handed to the generation core */
    ngx_int_t                       video_width;
    ngx_int_t                       video_height;
    ngx_int_t                       video_fps;
    ngx_flag_t                      video_cfr;
    ngx_str_t                       font;
    ngx_str_t                       prose_font;
    ngx_int_t                       font_size;
    ngx_str_t                       voice;
    ngx_int_t                       speech_rate;
    ngx_str_t                       x264_preset;

    /* speech (ngx_http_weaveit_speech.c) */
    ngx_uint_t                      speech;       /* WEAVEIT_SPEECH_* */
    ngx_str_t                       speech_url;
    ngx_str_t                       speech_model;
    ngx_str_t                       speech_key_file;
    ngx_str_t                       speech_key;   /* the file's token */
    ngx_str_t                       speech_format;
    ngx_str_t                       speech_ca_file;
    time_t                          speech_timeout;
    ngx_int_t                       speech_concurrency;
    ngx_array_t                    *voice_names;  /* weaveit_voices */
    ngx_array_t                    *voices;       /* of ..._voice_t */
    ngx_flag_t                      lists_voices;
} ngx_http_weaveit_main_conf_t;


typedef struct {
    /* POST /api/generate */
    size_t                          max_script;
    ngx_uint_t                      theme;        /* WEAVEIT_THEME_* */
    ngx_int_t                       signup_points;
    ngx_int_t                       generate_cost;
    ngx_int_t                       max_pending;
    ngx_int_t                       max_pending_wallet;
    ngx_flag_t                      generate_wait;
    ngx_msec_t                      generate_wait_timeout;

    /* the id or wallet of status, wallet videos and points */
    ngx_http_complex_value_t       *status_id;
    ngx_http_complex_value_t       *wallet;

    /* video streaming (ngx_http_weaveit_video.c) */
    ngx_http_complex_value_t       *video_id;
    size_t                          video_chunk;

    /* wallet signatures (ngx_http_weaveit_auth.c) */
    ngx_uint_t                      auth;
    time_t                          auth_window;

    /* which handler, for the metrics; 0: none of WeaveIt's, not inherited */
    ngx_uint_t                      endpoint;
} ngx_http_weaveit_loc_conf_t;


#define NGX_HTTP_WEAVEIT_AUTH_OFF         0
#define NGX_HTTP_WEAVEIT_AUTH_SIGNATURE   1


extern ngx_module_t  ngx_http_weaveit_module;


/* ngx_http_weaveit_pg.c */
char *ngx_http_weaveit_pg_set_conninfo(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_weaveit_pg_set_pool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_weaveit_pg_conf_unset(ngx_http_weaveit_pg_conf_t *pcf);
char *ngx_http_weaveit_pg_conf_init(ngx_conf_t *cf,
    ngx_http_weaveit_pg_conf_t *pcf);
ngx_http_weaveit_pg_pool_t *ngx_http_weaveit_pg_pool_create(
    ngx_cycle_t *cycle, ngx_http_weaveit_pg_conf_t *conf);
void ngx_http_weaveit_pg_pool_destroy(ngx_http_weaveit_pg_pool_t *pool);
ngx_int_t ngx_http_weaveit_pg_query(ngx_http_weaveit_pg_pool_t *pool,
    ngx_http_weaveit_pg_query_t *q, ngx_pool_t *owner);
void ngx_http_weaveit_pg_cancel(ngx_http_weaveit_pg_query_t *q);
PGresult *ngx_http_weaveit_pg_take_result(ngx_http_weaveit_pg_query_t *q);

/*
 * ngx_http_weaveit_replica.c: read replicas; reads go through
 * ngx_http_weaveit_replica_read(), everything else to the primary's pool
 */
char *ngx_http_weaveit_replica_add(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_weaveit_replica_conf_unset(ngx_http_weaveit_replica_conf_t *rcf);
char *ngx_http_weaveit_replica_conf_init(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf);
ngx_int_t ngx_http_weaveit_replica_init_process(ngx_cycle_t *cycle,
    ngx_http_weaveit_main_conf_t *wmcf);
void ngx_http_weaveit_replica_exit_process(
    ngx_http_weaveit_main_conf_t *wmcf);
ngx_int_t ngx_http_weaveit_replica_read(ngx_http_weaveit_main_conf_t *wmcf,
    ngx_http_weaveit_pg_query_t *q, ngx_pool_t *owner);
ngx_uint_t ngx_http_weaveit_replica_in_use(
    ngx_http_weaveit_main_conf_t *wmcf);

/*
 * ngx_http_weaveit_conninfo.c: a conninfo completed at configuration time
 * as libpq would complete it at every connect (service, environment, host
 * names resolved), on plain buffers and callbacks
 */

typedef struct {
    /* the environment libpq would see in a worker; NULL: unset */
    const char                   *(*getenv)(void *data, const char *name);

    /* a file's text, malloc()ed and NUL-terminated; NULL: no such file */
    char                         *(*read_file)(void *data, const char *path);

    /*
     * a host name's numeric addresses, comma-separated, into "addrs";
     * NGX_ERROR with a message in "error" (NGX_HTTP_WEAVEIT_PG_ERRLEN)
     */
    ngx_int_t                     (*resolve)(void *data, const char *host,
                                      char *addrs, size_t size, char *error);
    void                           *data;

    const char                     *home;        /* NULL: none */
    const char                     *sysconfdir;  /* libpq's own */
} ngx_http_weaveit_conninfo_env_t;

typedef struct {
    PQconninfoOption               *options;     /* their keywords */
    char                          **values;      /* NULL: unset */
    const char                     *service;     /* NULL: none */
} ngx_http_weaveit_conninfo_t;

ngx_int_t ngx_http_weaveit_conninfo_complete(ngx_http_weaveit_conninfo_t *ci,
    const char *conninfo, ngx_http_weaveit_conninfo_env_t *env, char *error);
const char *ngx_http_weaveit_conninfo_value(ngx_http_weaveit_conninfo_t *ci,
    const char *keyword);
void ngx_http_weaveit_conninfo_free(ngx_http_weaveit_conninfo_t *ci);


/* ngx_http_weaveit_http.c: answering requests */
ngx_int_t ngx_http_weaveit_send_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *json);
ngx_int_t ngx_http_weaveit_send_buf(ngx_http_request_t *r,
    ngx_uint_t status, ngx_buf_t *b);
ngx_int_t ngx_http_weaveit_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *message);
ngx_int_t ngx_http_weaveit_send_unauthorized(ngx_http_request_t *r,
    const char *message);
ngx_int_t ngx_http_weaveit_db_error(ngx_http_request_t *r,
    ngx_http_weaveit_pg_query_t *q);
ngx_table_elt_t *ngx_http_weaveit_add_header(ngx_http_request_t *r,
    char *key, u_char *value, size_t len);
ngx_int_t ngx_http_weaveit_method_not_allowed(ngx_http_request_t *r,
    char *allow);
ngx_int_t ngx_http_weaveit_get_only(ngx_http_request_t *r);
void ngx_http_weaveit_finalize(ngx_http_request_t *r, ngx_int_t rc);
char *ngx_http_weaveit_pstrdup(ngx_pool_t *pool, ngx_str_t *s);


/* ngx_http_weaveit_rules.c: HTTP rules and id syntax on plain buffers */

typedef struct {
    ngx_str_t                      *if_match;     /* NULL: no header */
    ngx_str_t                      *if_none_match;
    ngx_str_t                      *if_range;
    time_t                          if_unmodified_since; /* NGX_ERROR: */
    time_t                          if_modified_since;   /* no header, */
    time_t                          if_range_date;       /* or no date */
} ngx_http_weaveit_conditions_t;


/* a download's file name: the title, cut at a character boundary */
#define NGX_HTTP_WEAVEIT_FILENAME_MAX     100
#define NGX_HTTP_WEAVEIT_DISPOSITION_LEN                                      \
    (sizeof("inline; filename=\".mp4\"; filename*=UTF-8''.mp4") - 1          \
     + 5 * NGX_HTTP_WEAVEIT_FILENAME_MAX)

ngx_int_t ngx_http_weaveit_preconditions(ngx_http_weaveit_conditions_t *c,
    ngx_str_t *etag, time_t mtime);
ngx_uint_t ngx_http_weaveit_etag_match(ngx_str_t *list, ngx_str_t *etag,
    ngx_uint_t weak);
ngx_uint_t ngx_http_weaveit_if_range(ngx_http_weaveit_conditions_t *c,
    ngx_str_t *etag, time_t mtime);
ngx_int_t ngx_http_weaveit_parse_range(ngx_str_t *value, off_t length,
    off_t *start, off_t *end);
u_char *ngx_http_weaveit_disposition(u_char *buf, u_char *title, size_t len,
    ngx_str_t *id);
ngx_uint_t ngx_http_weaveit_is_uuid(ngx_str_t *s);
ssize_t ngx_http_weaveit_base58_decode(ngx_str_t *text, u_char *dst,
    size_t size);
ngx_uint_t ngx_http_weaveit_is_wallet(ngx_str_t *wallet);


/* a wallet is an ed25519 public key; what it signs, and the signature */

#define NGX_HTTP_WEAVEIT_WALLET_KEY_LEN   32
#define NGX_HTTP_WEAVEIT_SIGNATURE_LEN    64

typedef struct {
    ngx_str_t                       method;
    ngx_str_t                       uri;          /* as in the request line */
    ngx_str_t                       wallet;
    ngx_str_t                       timestamp;
    ngx_str_t                       body_sha256;  /* lowercase hex */
} ngx_http_weaveit_signed_t;

u_char *ngx_http_weaveit_signed_message(u_char *buf, size_t size,
    ngx_http_weaveit_signed_t *s);
size_t ngx_http_weaveit_signed_len(ngx_http_weaveit_signed_t *s);
ngx_int_t ngx_http_weaveit_signature_time(ngx_str_t *value, time_t now,
    time_t window, time_t *ts);


/* ngx_http_weaveit_input.c: the JSON bodies of the POSTs, on plain buffers */

/* in characters, as the original service counted them */
#define NGX_HTTP_WEAVEIT_TITLE_MAX        200
#define NGX_HTTP_WEAVEIT_NOTE_MAX         200
#define NGX_HTTP_WEAVEIT_AWARD_MAX        1000000
/* longer than any voice name: refused as unknown before any lookup */
#define NGX_HTTP_WEAVEIT_VOICE_MAX        100
#define NGX_HTTP_WEAVEIT_VOICE_UNKNOWN                                        \
    "voice is not one of this server's voices (GET /api/voices)"

/* jansson's message after "Invalid JSON: " is the longest */
#define NGX_HTTP_WEAVEIT_INPUT_ERRLEN                                         \
    (sizeof("Invalid JSON: ") + JSON_ERROR_TEXT_LENGTH)

/* the strings point into json */
typedef struct {
    json_t                         *json;
    ngx_str_t                       script;
    ngx_str_t                       wallet;
    ngx_str_t                       title;        /* empty: none */
    ngx_str_t                       voice;        /* data NULL: none */
    ngx_str_t                       format;       /* empty: detected */
    ngx_str_t                       theme;        /* empty: the conf's */
    char                            error[NGX_HTTP_WEAVEIT_INPUT_ERRLEN];
} ngx_http_weaveit_generate_input_t;

typedef struct {
    json_t                         *json;
    ngx_str_t                       wallet;
    ngx_int_t                       points;
    ngx_str_t                       note;         /* empty: none */
    char                            error[NGX_HTTP_WEAVEIT_INPUT_ERRLEN];
} ngx_http_weaveit_award_input_t;

const char *ngx_http_weaveit_generate_input(ngx_str_t *body,
    size_t max_script, ngx_http_weaveit_generate_input_t *in);
const char *ngx_http_weaveit_award_input(ngx_str_t *body,
    ngx_http_weaveit_award_input_t *in);


/* ngx_http_weaveit_job.c: the job queue; knows nothing of requests */

/*
 * the end of a wait: NGX_OK the job completed (video_id), NGX_ERROR it
 * failed, NGX_AGAIN it goes on without its waiter
 */
typedef void (*ngx_http_weaveit_job_ended_pt)(void *data, ngx_str_t *job_id,
    ngx_int_t rc, ngx_str_t *video_id);

char *ngx_http_weaveit_job_init_conf(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf);
ngx_int_t ngx_http_weaveit_job_init_process(ngx_cycle_t *cycle,
    ngx_http_weaveit_main_conf_t *wmcf);
void ngx_http_weaveit_job_kick(ngx_http_weaveit_jobs_t *jobs);
ngx_int_t ngx_http_weaveit_job_wait(ngx_http_weaveit_jobs_t *jobs,
    ngx_pool_t *pool, ngx_str_t *job_id, ngx_msec_t timeout,
    ngx_http_weaveit_job_ended_pt handler, void *data);


/* ngx_http_weaveit_generator.c: one job in the sandboxed generator */

typedef enum {
    NGX_HTTP_WEAVEIT_GEN_DONE = 0,
    NGX_HTTP_WEAVEIT_GEN_FAILED,       /* it refused the input, and said why */
    NGX_HTTP_WEAVEIT_GEN_KILLED,       /* a crash or a limit: poison input */
    NGX_HTTP_WEAVEIT_GEN_LOST          /* it could not run here: retry */
} ngx_http_weaveit_gen_outcome_e;


/* plain C, filled on the event loop and by a thread of the pool in turn */

typedef struct {
    char *const                    *argv;
    char *const                    *envp;
    ngx_msec_t                      deadline;     /* wall clock */
    const char                     *title;
    size_t                          title_len;
    const char                     *script;
    size_t                          script_len;

    atomic_int                      progress;
    u_char                         *video;        /* malloc()ed */
    size_t                          size;
    double                          duration;
    size_t                          missing;      /* glyphs no font has */
    char                            voice[NGX_HTTP_WEAVEIT_VOICE_MAX + 1];
    ngx_http_weaveit_gen_outcome_e  outcome;
    unsigned                        killed:1;
    char                            message[256]; /* for the log */
    char                            notes[1024];  /* lines, the first ones */
    size_t                          notes_len;
} ngx_http_weaveit_gen_t;


void ngx_http_weaveit_generator_run(ngx_http_weaveit_gen_t *g);
void ngx_http_weaveit_generator_free(ngx_http_weaveit_gen_t *g);


/* ngx_http_weaveit_speech.c: the speech backend and its voices */
char *ngx_http_weaveit_speech_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_weaveit_speech_set_voices(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_weaveit_speech_init_conf(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf);
ngx_uint_t ngx_http_weaveit_voice_name_valid(ngx_str_t *name);
ngx_uint_t ngx_http_weaveit_voice_allowed(ngx_http_weaveit_main_conf_t *wmcf,
    ngx_str_t *name);
const char *ngx_http_weaveit_speech_name(ngx_http_weaveit_main_conf_t *wmcf);


/* ngx_http_weaveit_auth.c: wallet signatures */
ngx_int_t ngx_http_weaveit_auth_check(ngx_http_request_t *r,
    ngx_str_t *wallet, ngx_str_t *body, u_char *spent, time_t *expires);


/* ngx_http_weaveit_video.c */
ngx_int_t ngx_http_weaveit_video_handler(ngx_http_request_t *r);


/*
 * ngx_http_weaveit_metrics.c: shared-memory counters, and the Prometheus
 * exposition; what reports to it does nothing where no zone exists
 */
extern const ngx_http_weaveit_pg_observer_t
    ngx_http_weaveit_metrics_db_observer;

ngx_uint_t ngx_http_weaveit_metrics_endpoint(ngx_str_t *directive);
ngx_int_t ngx_http_weaveit_metrics_init(ngx_conf_t *cf);
ngx_int_t ngx_http_weaveit_metrics_handler(ngx_http_request_t *r);
void ngx_http_weaveit_metrics_job_ended(const char *status,
    ngx_msec_t elapsed, double video_seconds);
void ngx_http_weaveit_metrics_replica_read(ngx_uint_t primary);
void ngx_http_weaveit_metrics_videos_expired(ngx_uint_t n);


/* ngx_http_weaveit_api.c */
ngx_int_t ngx_http_weaveit_health_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_weaveit_generate_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_weaveit_status_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_weaveit_wallet_videos_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_weaveit_points_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_weaveit_demo_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_weaveit_points_award_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_weaveit_voices_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_WEAVEIT_H_INCLUDED_ */
