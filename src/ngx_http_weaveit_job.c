
/*
 * Job lifecycle.  Jobs live in PostgreSQL, not in a worker's memory: a job
 * being generated carries a lease (claimed_by, lease_until, attempts).  A
 * timer in every worker runs a round of queries each weaveit_job_interval:
 * renew the leases it holds and write their progress, fail jobs that used
 * up their attempts, claim pending or expired jobs while its thread pool
 * has room, tell waiters about jobs that ended, delete old failed jobs,
 * the used signatures that have expired and the videos older than
 * weaveit_video_retention, a batch at a time.
 *
 * A claimed job runs in the sandboxed generator process, supervised from
 * a thread of an nginx thread pool (ngx_http_weaveit_generator.c); its
 * completion event, back on the event loop, stores the video and marks
 * the job completed in one statement, which only succeeds while this
 * worker still holds the claim: a job is never stored twice.  A generator
 * that failed, crashed or hit a limit fails its job at once, with a
 * refund: the input is to blame, and trying it again would only crash
 * again.  Only a job whose worker is lost runs again, when its lease
 * expires, and never more than weaveit_job_attempts times.
 *
 * Every query here is a priority one for the pool, with a reserve of
 * connections as large as how many of them can run at once: a lease
 * renewal never waits behind client traffic, however much of it queues.
 *
 * This file knows nothing of requests: whoever waits for a job (wait mode
 * of POST /api/generate) gives a handler and its data to
 * ngx_http_weaveit_job_wait().
 */


#include "ngx_http_weaveit.h"
#include "weaveit.h"

#include <uuid/uuid.h>


#define NGX_HTTP_WEAVEIT_ID_LEN       128
#define NGX_HTTP_WEAVEIT_CLEANUP_SEC  60

/*
 * A cleanup deletes at most this many videos, and of these the oldest
 * up to 64 MB, or one larger than that: a TOAST row goes per 2 KB of
 * video, and the statement must end well within statement_timeout.
 */
#define NGX_HTTP_WEAVEIT_RETENTION_ROWS   100
#define NGX_HTTP_WEAVEIT_RETENTION_BYTES  67108864


extern char  **environ;


typedef enum {
    ngx_http_weaveit_step_renew = 0,
    ngx_http_weaveit_step_reap,
    ngx_http_weaveit_step_claim,
    ngx_http_weaveit_step_waiters,
    ngx_http_weaveit_step_cleanup,
    ngx_http_weaveit_step_done
} ngx_http_weaveit_step_e;


/* a job this worker claimed and runs in its thread pool */

typedef struct {
    ngx_queue_t                    queue;
    ngx_http_weaveit_jobs_t       *jobs;
    char                           id[NGX_HTTP_WEAVEIT_UUID_LEN + 1];
    char                           video_id[NGX_HTTP_WEAVEIT_UUID_LEN + 1];
    char                          *script;
    size_t                         script_len;
    char                          *title;
    char                          *voice;
    char                          *format;       /* NULL: detected */
    char                          *theme;        /* NULL: light */
    ngx_http_weaveit_gen_t         gen;
    ngx_msec_t                     started;
    ngx_msec_t                     elapsed;
    char                           duration[NGX_INT_T_LEN + 1];
    const char                    *values[7];
    int                            lengths[7];
    int                            formats[7];
    ngx_http_weaveit_pg_query_t    query;
    ngx_thread_task_t              task;
} ngx_http_weaveit_running_t;


typedef struct {
    ngx_queue_t                    queue;
    ngx_str_t                      job_id;
    ngx_http_weaveit_job_ended_pt  handler;
    void                          *data;
    ngx_event_t                    timer;
    unsigned                       waiting:1;
} ngx_http_weaveit_waiter_t;


typedef ngx_int_t (*ngx_http_weaveit_step_pt)(ngx_http_weaveit_jobs_t *jobs);


struct ngx_http_weaveit_jobs_s {
    ngx_http_weaveit_main_conf_t  *conf;
    ngx_log_t                     *log;
    char                         **argv;
    ngx_uint_t                     nargs;
    ngx_uint_t                     voice_arg;    /* argv[] of --voice's */
    ngx_uint_t                     format_arg;   /* of --format's */
    ngx_uint_t                     theme_arg;    /* of --theme's */
    char                         **envp;
    ngx_queue_t                    running;
    ngx_int_t                      nrunning;
    ngx_int_t                      room;         /* what the pool takes */
    ngx_queue_t                    waiters;
    ngx_event_t                    tick;
    ngx_http_weaveit_step_e        step;
    ngx_http_weaveit_pg_query_t    query;
    const char                    *values[4];
    char                           lease[NGX_INT_T_LEN + 16];
    char                           number[NGX_INT_T_LEN + 16];
    char                           attempts[NGX_INT_T_LEN + 1];
    char                           retention[NGX_INT_T_LEN + 16];
    char                          *ids;
    char                          *progress;
    char                          *waiter_ids;
    time_t                         last_cleanup;
    char                           worker_id[NGX_HTTP_WEAVEIT_ID_LEN];
    unsigned                       ticking:1;
    unsigned                       again:1;
};


static ngx_int_t ngx_http_weaveit_job_check_generator(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf);
static ngx_int_t ngx_http_weaveit_job_check_font(ngx_conf_t *cf,
    char *directive, ngx_str_t *font);
static ngx_int_t ngx_http_weaveit_job_argv(ngx_http_weaveit_jobs_t *jobs,
    ngx_pool_t *pool);
static ngx_int_t ngx_http_weaveit_job_option(ngx_array_t *args, char *name,
    const char *fmt, ...);
static ngx_int_t ngx_http_weaveit_job_format_arg(
    ngx_http_weaveit_jobs_t *jobs, ngx_array_t *args);
static ngx_int_t ngx_http_weaveit_job_speech_args(
    ngx_http_weaveit_jobs_t *jobs, ngx_array_t *args);
static ngx_int_t ngx_http_weaveit_job_envp(ngx_http_weaveit_jobs_t *jobs,
    ngx_pool_t *pool);
static char *const *ngx_http_weaveit_job_voice_argv(
    ngx_http_weaveit_running_t *job);
static ngx_int_t ngx_http_weaveit_job_own_children(ngx_cycle_t *cycle);
static ngx_msec_t ngx_http_weaveit_job_deadline(
    ngx_http_weaveit_main_conf_t *wmcf);
static void ngx_http_weaveit_job_worker_id(ngx_http_weaveit_jobs_t *jobs);
static void ngx_http_weaveit_job_tick(ngx_event_t *ev);
static void ngx_http_weaveit_job_next_step(ngx_http_weaveit_jobs_t *jobs);
static void ngx_http_weaveit_job_step_done(ngx_http_weaveit_pg_query_t *q);
static void ngx_http_weaveit_job_send(ngx_http_weaveit_jobs_t *jobs,
    const char *sql, ngx_uint_t nparams);
static ngx_int_t ngx_http_weaveit_job_renew(ngx_http_weaveit_jobs_t *jobs);
static ngx_int_t ngx_http_weaveit_job_reap(ngx_http_weaveit_jobs_t *jobs);
static ngx_int_t ngx_http_weaveit_job_claim(ngx_http_weaveit_jobs_t *jobs);
static ngx_int_t ngx_http_weaveit_job_poll_waiters(
    ngx_http_weaveit_jobs_t *jobs);
static ngx_int_t ngx_http_weaveit_job_cleanup(ngx_http_weaveit_jobs_t *jobs);
static void ngx_http_weaveit_job_cleaned(ngx_http_weaveit_jobs_t *jobs,
    PGresult *res);
static void ngx_http_weaveit_job_start_claimed(ngx_http_weaveit_jobs_t *jobs,
    PGresult *res);
static ngx_int_t ngx_http_weaveit_job_start(ngx_http_weaveit_jobs_t *jobs,
    PGresult *res, int row);
static void ngx_http_weaveit_job_release(ngx_http_weaveit_running_t *job);
static void ngx_http_weaveit_job_released(ngx_http_weaveit_pg_query_t *q);
static void ngx_http_weaveit_job_thread(void *data, ngx_log_t *log);
static void ngx_http_weaveit_job_done(ngx_event_t *ev);
static void ngx_http_weaveit_job_record_failure(
    ngx_http_weaveit_running_t *job);
static void ngx_http_weaveit_job_log_outcome(
    ngx_http_weaveit_running_t *job);
static void ngx_http_weaveit_job_log_notes(ngx_http_weaveit_running_t *job);
static void ngx_http_weaveit_job_store(ngx_http_weaveit_running_t *job);
static const char *ngx_http_weaveit_job_spoken_voice(
    ngx_http_weaveit_running_t *job);
static void ngx_http_weaveit_job_stored(ngx_http_weaveit_pg_query_t *q);
static void ngx_http_weaveit_job_free(ngx_http_weaveit_running_t *job);
static void ngx_http_weaveit_job_answer_waiters(
    ngx_http_weaveit_jobs_t *jobs, PGresult *res);
static void ngx_http_weaveit_job_wake(ngx_http_weaveit_jobs_t *jobs,
    const char *job_id, const char *status, const char *video_id);
static void ngx_http_weaveit_job_waiter_cleanup(void *data);
static void ngx_http_weaveit_job_wait_timeout(ngx_event_t *ev);
static void ngx_http_weaveit_job_release_waiters(
    ngx_http_weaveit_jobs_t *jobs);
static void ngx_http_weaveit_job_answer(ngx_http_weaveit_waiter_t *w,
    ngx_int_t rc, ngx_str_t *video_id);


/* the steps of a round, in ngx_http_weaveit_step_e's order */

static ngx_http_weaveit_step_pt  ngx_http_weaveit_job_steps[] = {
    ngx_http_weaveit_job_renew,
    ngx_http_weaveit_job_reap,
    ngx_http_weaveit_job_claim,
    ngx_http_weaveit_job_poll_waiters,
    ngx_http_weaveit_job_cleanup
};


/* this worker's leases, and the progress of each of its jobs */

static const char  ngx_http_weaveit_job_renew_sql[] =
    "UPDATE video_jobs j SET lease_until = now() + $2::interval,"
    "  progress = p.progress, updated_at = now()"
    " FROM unnest($3::uuid[], $4::int[]) AS p(job_id, progress)"
    " WHERE j.job_id = p.job_id AND j.claimed_by = $1"
    "   AND j.status = 'generating'";

/*
 * expired leases with no attempt left fail, and their points go back,
 * each job's refund with its ledger row
 */

static const char  ngx_http_weaveit_job_reap_sql[] =
    "WITH j AS ("
    "  UPDATE video_jobs SET status = 'failed',"
    "    error_message = 'Generation did not finish after '"
    "      || attempts || ' attempts',"
    "    lease_until = NULL, updated_at = now()"
    "  WHERE status = 'generating' AND lease_until < now()"
    "    AND attempts >= $1::int"
    "  RETURNING job_id, wallet_address, points_charged"
    "), refund AS ("
    "  UPDATE users u SET prompt_points = u.prompt_points + r.p"
    "  FROM (SELECT wallet_address, sum(points_charged) AS p"
    "        FROM j GROUP BY wallet_address) r"
    "  WHERE u.wallet_address = r.wallet_address"
    "), ledger AS ("
    "  INSERT INTO points_ledger (wallet_address, delta, reason, job_id)"
    "  SELECT wallet_address, points_charged, 'refund', job_id FROM j"
    "  WHERE points_charged <> 0"
    ") SELECT count(*) FROM j";

static const char  ngx_http_weaveit_job_claim_sql[] =
    "WITH c AS ("
    "  SELECT job_id FROM video_jobs"
    "  WHERE (status = 'pending'"
    "         OR (status = 'generating' AND lease_until < now()))"
    "    AND attempts < $4::int"
    "  ORDER BY created_at LIMIT $3::int"
    "  FOR UPDATE SKIP LOCKED"
    ") UPDATE video_jobs j SET status = 'generating',"
    "    claimed_by = $1, lease_until = now() + $2::interval,"
    "    attempts = j.attempts + 1, progress = 0,"
    "    updated_at = now()"
    "  FROM c WHERE j.job_id = c.job_id"
    "  RETURNING j.job_id, j.script_body, j.title, j.voice, j.script_format,"
    "    j.theme";

/* a job deleted meanwhile counts as failed */

static const char  ngx_http_weaveit_job_waiters_sql[] =
    "SELECT w.job_id, coalesce(j.status, 'failed'), v.video_id"
    " FROM unnest($1::uuid[]) AS w(job_id)"
    " LEFT JOIN video_jobs j ON j.job_id = w.job_id"
    " LEFT JOIN videos v ON v.job_id = w.job_id";

/*
 * one worker of the whole fleet at a time: signatures past their expiry
 * (they would be refused as expired anyway), failed jobs older than $1
 * (none when $1 is NULL), and the oldest batch of videos older than $2
 * (none when $2 is NULL; octet_length() reads no TOAST), their jobs
 * expired; it counts those videos.
 * The points spent on them stay spent.  "= ANY (ARRAY(...))" looks each
 * row up by its key: "IN (...)" lets the planner scan a whole table.
 */

static const char  ngx_http_weaveit_job_cleanup_sql[] =
    "WITH l AS (SELECT pg_try_advisory_xact_lock("
    "  7245327115563012097) AS ok),"
    " s AS (DELETE FROM used_signatures"
    "  WHERE (SELECT ok FROM l) AND expires_at < now()),"
    " f AS (DELETE FROM video_jobs"
    "  WHERE (SELECT ok FROM l) AND status = 'failed'"
    "    AND updated_at < now() - $1::interval),"
    " v AS (DELETE FROM videos WHERE video_id = ANY (ARRAY("
    "    SELECT video_id FROM ("
    "      SELECT video_id, size,"
    "        sum(size) OVER (ORDER BY created_at, video_id) AS upto"
    "      FROM (SELECT video_id, created_at,"
    "              octet_length(video_data) AS size FROM videos"
    "            WHERE (SELECT ok FROM l)"
    "              AND created_at < now() - $2::interval"
    "            ORDER BY created_at"
    "            LIMIT " ngx_value(NGX_HTTP_WEAVEIT_RETENTION_ROWS) ") o"
    "    ) b WHERE upto = size"
    "      OR upto <= " ngx_value(NGX_HTTP_WEAVEIT_RETENTION_BYTES) "))"
    "  RETURNING job_id),"
    " e AS (UPDATE video_jobs SET status = 'expired', script_body = NULL,"
    "    updated_at = now()"
    "  WHERE job_id = ANY (ARRAY(SELECT job_id FROM v)))"
    " SELECT count(*) FROM v";

/* a claimed job the thread pool had no room for, its attempt given back */

static const char  ngx_http_weaveit_job_release_sql[] =
    "UPDATE video_jobs SET status = 'pending', claimed_by = NULL,"
    "  lease_until = NULL, attempts = attempts - 1, updated_at = now()"
    " WHERE job_id = $1 AND claimed_by = $2 AND status = 'generating'";

/* these two succeed only while this worker holds the claim */

static const char  ngx_http_weaveit_job_failed_sql[] =
    "WITH j AS ("
    "  UPDATE video_jobs SET status = 'failed', error_message = $3,"
    "    lease_until = NULL, updated_at = now()"
    "  WHERE job_id = $1 AND claimed_by = $2"
    "    AND status = 'generating'"
    "  RETURNING job_id, wallet_address, points_charged"
    "), refund AS ("
    "  UPDATE users u SET prompt_points = u.prompt_points"
    "    + j.points_charged"
    "  FROM j WHERE u.wallet_address = j.wallet_address"
    "), ledger AS ("
    "  INSERT INTO points_ledger (wallet_address, delta, reason, job_id)"
    "  SELECT wallet_address, points_charged, 'refund', job_id FROM j"
    "  WHERE points_charged <> 0"
    ") SELECT job_id, 'failed', NULL FROM j";

/* $7: the voice that spoke, when the job's was "auto" and so resolved */

static const char  ngx_http_weaveit_job_store_sql[] =
    "WITH j AS ("
    "  UPDATE video_jobs SET status = 'completed', progress = 100,"
    "    error_message = NULL, lease_until = NULL, updated_at = now(),"
    "    script_body = CASE WHEN $6::bool THEN script_body END,"
    "    voice = coalesce($7, voice)"
    "  WHERE job_id = $1 AND claimed_by = $2"
    "    AND status = 'generating'"
    "  RETURNING job_id, wallet_address"
    ") INSERT INTO videos (video_id, job_id, wallet_address, video_data,"
    "    duration_sec, format)"
    "  SELECT $3, j.job_id, j.wallet_address, $4, $5::int, 'mp4' FROM j"
    "  RETURNING job_id, 'completed', video_id";


/* configuration */


char *
ngx_http_weaveit_job_init_conf(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf)
{
    if (!wmcf->generates) {
        return NGX_CONF_OK;
    }

    /* conf strings are NUL-terminated: they are handed on as they are */

    if (ngx_http_weaveit_job_check_generator(cf, wmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (wmcf->generate_timeout < 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"weaveit_generate_timeout\" must be at least "
                           "1s");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_weaveit_job_check_font(cf, "weaveit_font", &wmcf->font)
        != NGX_OK
        || ngx_http_weaveit_job_check_font(cf, "weaveit_prose_font",
                                           &wmcf->prose_font)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    wmcf->thread_pool = ngx_thread_pool_add(cf, &wmcf->thread_pool_name);
    if (wmcf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the round's query and one per job (store, failure or release) */

    wmcf->db.reserve = wmcf->max_jobs + 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_weaveit_job_check_generator(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf)
{
    ngx_err_t        err;
    ngx_file_info_t  fi;

    err = 0;

    if (ngx_file_info(wmcf->generator.data, &fi) == NGX_FILE_ERROR) {
        err = ngx_errno;

    } else if (ngx_is_file(&fi)
               && access((char *) wmcf->generator.data, X_OK) == 0
               && (ngx_file_access(&fi) & 0111))
    {
        return NGX_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, err,
                       "\"weaveit_generator\" \"%V\" is not an executable "
                       "file", &wmcf->generator);

    return NGX_ERROR;
}


/* a fontconfig pattern is checked by the generator as it starts */

static ngx_int_t
ngx_http_weaveit_job_check_font(ngx_conf_t *cf, char *directive,
    ngx_str_t *font)
{
    if (ngx_strlchr(font->data, font->data + font->len, '/') == NULL
        || access((char *) font->data, R_OK) == 0)
    {
        return NGX_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                       "\"%s\" \"%V\" is not readable", directive, font);

    return NGX_ERROR;
}


ngx_int_t
ngx_http_weaveit_job_init_process(ngx_cycle_t *cycle,
    ngx_http_weaveit_main_conf_t *wmcf)
{
    ngx_http_weaveit_jobs_t  *jobs;

    if (!wmcf->generates) {
        return NGX_OK;
    }

    jobs = ngx_pcalloc(cycle->pool, sizeof(ngx_http_weaveit_jobs_t));
    if (jobs == NULL) {
        return NGX_ERROR;
    }

    /* room for the renew round's arrays of ids and progress values */

    jobs->ids = ngx_pnalloc(cycle->pool,
                            wmcf->max_jobs * (NGX_HTTP_WEAVEIT_UUID_LEN + 1)
                            + 3);
    jobs->progress = ngx_pnalloc(cycle->pool, wmcf->max_jobs * 4 + 3);
    if (jobs->ids == NULL || jobs->progress == NULL) {
        return NGX_ERROR;
    }

    jobs->conf = wmcf;
    jobs->log = cycle->log;
    jobs->room = wmcf->max_jobs;
    ngx_queue_init(&jobs->running);
    ngx_queue_init(&jobs->waiters);

    if (ngx_http_weaveit_job_argv(jobs, cycle->pool) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_weaveit_job_worker_id(jobs);

    (void) ngx_sprintf((u_char *) jobs->lease, "%M milliseconds%Z",
                       10 * wmcf->job_interval);

    jobs->query.handler = ngx_http_weaveit_job_step_done;
    jobs->query.data = jobs;
    jobs->query.log = cycle->log;
    jobs->query.values = jobs->values;
    jobs->query.priority = 1;

    jobs->tick.handler = ngx_http_weaveit_job_tick;
    jobs->tick.data = jobs;
    jobs->tick.log = cycle->log;
    jobs->tick.cancelable = 1;
    ngx_add_timer(&jobs->tick, 1);

    wmcf->jobs = jobs;

    return ngx_http_weaveit_job_own_children(cycle);
}


/*
 * nginx's signal handler reaps any child on SIGCHLD, in workers too, and
 * would take the generator's exit status from the thread that waits for
 * it.  A worker has no children of nginx's own: with the default action
 * its generators stay zombies until their thread's waitpid().
 */

static ngx_int_t
ngx_http_weaveit_job_own_children(ngx_cycle_t *cycle)
{
    struct sigaction  sa;

    ngx_memzero(&sa, sizeof(struct sigaction));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);

    if (sigaction(SIGCHLD, &sa, NULL) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "weaveit: sigaction(SIGCHLD) failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The generator's command line: what nginx.conf says about rendering and
 * the sandbox's limits.  The job's own text goes on its stdin.
 */

static ngx_int_t
ngx_http_weaveit_job_argv(ngx_http_weaveit_jobs_t *jobs, ngx_pool_t *pool)
{
    char                         **arg;
    ngx_array_t                   *args;
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = jobs->conf;

    args = ngx_array_create(pool, 24, sizeof(char *));
    if (args == NULL) {
        return NGX_ERROR;
    }

    /* the program (conf strings are NUL-terminated), then the options */

    if (ngx_http_weaveit_job_option(args, (char *) wmcf->generator.data,
                                    "--serve") != NGX_OK
        || ngx_http_weaveit_job_option(args, "--size", "%ix%i",
                                       wmcf->video_width, wmcf->video_height)
           != NGX_OK
        || ngx_http_weaveit_job_option(args, "--fps", "%i", wmcf->video_fps)
           != NGX_OK
        || ngx_http_weaveit_job_option(args, "--font", "%V", &wmcf->font)
           != NGX_OK
        || ngx_http_weaveit_job_option(args, "--prose-font", "%V",
                                       &wmcf->prose_font) != NGX_OK
        || ngx_http_weaveit_job_option(args, "--font-size", "%i",
                                       wmcf->font_size) != NGX_OK
        || ngx_http_weaveit_job_speech_args(jobs, args) != NGX_OK
        || ngx_http_weaveit_job_option(args, "--rate", "%i",
                                       wmcf->speech_rate) != NGX_OK
        || ngx_http_weaveit_job_option(args, "--preset", "%V",
                                       &wmcf->x264_preset) != NGX_OK
        || ngx_http_weaveit_job_format_arg(jobs, args) != NGX_OK
        || ngx_http_weaveit_job_option(args, "--max-memory", "%O",
                                       wmcf->generate_memory) != NGX_OK
        || ngx_http_weaveit_job_option(args, "--max-cpu", "%T",
                                       wmcf->generate_timeout) != NGX_OK

        /* this worker: a generator that starts after it died stops */

        || ngx_http_weaveit_job_option(args, "--parent", "%P", ngx_pid)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    arg = ngx_array_push(args);
    if (arg == NULL) {
        return NGX_ERROR;
    }

    *arg = NULL;
    jobs->argv = args->elts;
    jobs->nargs = args->nelts;

    return ngx_http_weaveit_job_envp(jobs, pool);
}


/*
 * The backend and the voice, whose value a job's own voice replaces
 * (ngx_http_weaveit_job_voice_argv())
 */

static ngx_int_t
ngx_http_weaveit_job_speech_args(ngx_http_weaveit_jobs_t *jobs,
    ngx_array_t *args)
{
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = jobs->conf;

    if (wmcf->speech == WEAVEIT_SPEECH_OPENAI
        && (ngx_http_weaveit_job_option(args, "--speech", "openai")
            != NGX_OK
            || ngx_http_weaveit_job_option(args, "--speech-url", "%V",
                                           &wmcf->speech_url) != NGX_OK
            || ngx_http_weaveit_job_option(args, "--speech-model", "%V",
                                           &wmcf->speech_model) != NGX_OK
            || ngx_http_weaveit_job_option(args, "--speech-format", "%V",
                                           &wmcf->speech_format) != NGX_OK
            || ngx_http_weaveit_job_option(args, "--speech-timeout", "%T",
                                           wmcf->speech_timeout) != NGX_OK
            || ngx_http_weaveit_job_option(args, "--speech-concurrency",
                                           "%i", wmcf->speech_concurrency)
               != NGX_OK
            || (wmcf->speech_ca_file.len
                && ngx_http_weaveit_job_option(args, "--speech-ca-file",
                                               "%V", &wmcf->speech_ca_file)
                   != NGX_OK)))
    {
        return NGX_ERROR;
    }

    jobs->voice_arg = args->nelts + 1;

    return ngx_http_weaveit_job_option(args, "--voice", "%V", &wmcf->voice);
}


/*
 * The script's format and the theme, which a job's own replace, and
 * constant frame rate
 */

static ngx_int_t
ngx_http_weaveit_job_format_arg(ngx_http_weaveit_jobs_t *jobs,
    ngx_array_t *args)
{
    char  **arg;

    jobs->format_arg = args->nelts + 1;

    if (ngx_http_weaveit_job_option(args, "--format", "auto") != NGX_OK) {
        return NGX_ERROR;
    }

    jobs->theme_arg = args->nelts + 1;

    if (ngx_http_weaveit_job_option(args, "--theme", "light") != NGX_OK) {
        return NGX_ERROR;
    }

    if (!jobs->conf->video_cfr) {
        return NGX_OK;
    }

    arg = ngx_array_push(args);
    if (arg == NULL) {
        return NGX_ERROR;
    }

    *arg = "--cfr";

    return NGX_OK;
}


/*
 * The worker's environment, and the speech server's token, which a
 * command line would show to every user of the host.
 */

static ngx_int_t
ngx_http_weaveit_job_envp(ngx_http_weaveit_jobs_t *jobs, ngx_pool_t *pool)
{
    u_char      *key;
    ngx_str_t   *token;
    ngx_uint_t   n;

    token = &jobs->conf->speech_key;

    if (token->len == 0) {
        jobs->envp = environ;
        return NGX_OK;
    }

    for (n = 0; environ[n] != NULL; n++) {
        /* void */
    }

    jobs->envp = ngx_palloc(pool, (n + 2) * sizeof(char *));
    key = ngx_pnalloc(pool, sizeof(WEAVEIT_SPEECH_KEY_ENV "=") + token->len);
    if (jobs->envp == NULL || key == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(jobs->envp, environ, n * sizeof(char *));
    (void) ngx_sprintf(key, WEAVEIT_SPEECH_KEY_ENV "=%V%Z", token);
    jobs->envp[n] = (char *) key;
    jobs->envp[n + 1] = NULL;

    return NGX_OK;
}


/* two arguments: the name, and the value made from fmt */

static ngx_int_t
ngx_http_weaveit_job_option(ngx_array_t *args, char *name, const char *fmt,
    ...)
{
    u_char   *value, *last;
    char    **arg;
    size_t    size;
    va_list   ap;

    size = NGX_MAX_PATH + 1;

    value = ngx_pnalloc(args->pool, size);
    arg = ngx_array_push_n(args, 2);
    if (value == NULL || arg == NULL) {
        return NGX_ERROR;
    }

    va_start(ap, fmt);
    last = ngx_vslprintf(value, value + size - 1, fmt, ap);
    va_end(ap);

    *last = '\0';
    arg[0] = name;
    arg[1] = (char *) value;

    return NGX_OK;
}


/*
 * A generator's wall-clock bound: its CPU time (it runs at the lowest
 * priority, so a busy host slows it down) twice over, and half a minute.
 */

static ngx_msec_t
ngx_http_weaveit_job_deadline(ngx_http_weaveit_main_conf_t *wmcf)
{
    return (ngx_msec_t) wmcf->generate_timeout * 2000 + 30000;
}


/* host, pid and a per-start random part: unique across a fleet */

static void
ngx_http_weaveit_job_worker_id(ngx_http_weaveit_jobs_t *jobs)
{
    u_char  host[NGX_MAXHOSTNAMELEN];
    char    boot_text[NGX_HTTP_WEAVEIT_UUID_LEN + 1];
    uuid_t  boot;

    if (gethostname((char *) host, NGX_MAXHOSTNAMELEN) == -1) {
        ngx_cpystrn(host, (u_char *) "localhost", NGX_MAXHOSTNAMELEN);
    }

    host[NGX_MAXHOSTNAMELEN - 1] = '\0';
    uuid_generate_random(boot);
    uuid_unparse_lower(boot, boot_text);
    boot_text[8] = '\0';

    ngx_snprintf((u_char *) jobs->worker_id, NGX_HTTP_WEAVEIT_ID_LEN - 1,
                 "%s/%P/%s%Z", host, ngx_pid, boot_text);
}


/* the round of queries */


void
ngx_http_weaveit_job_kick(ngx_http_weaveit_jobs_t *jobs)
{
    if (jobs->ticking) {
        jobs->again = 1;
        return;
    }

    if (jobs->tick.timer_set) {
        ngx_del_timer(&jobs->tick);
    }

    if (!jobs->tick.posted) {
        ngx_post_event(&jobs->tick, &ngx_posted_events);
    }
}


static void
ngx_http_weaveit_job_tick(ngx_event_t *ev)
{
    ngx_http_weaveit_jobs_t  *jobs;

    jobs = ev->data;

    if (jobs->ticking) {
        jobs->again = 1;
        return;
    }

    if (jobs->tick.timer_set) {
        ngx_del_timer(&jobs->tick);
    }

    /* a worker that is exiting keeps nobody waiting for a queue */

    if (ngx_exiting) {
        ngx_http_weaveit_job_release_waiters(jobs);
    }

    jobs->ticking = 1;
    jobs->again = 0;
    jobs->step = ngx_http_weaveit_step_renew;

    ngx_http_weaveit_job_next_step(jobs);
}


/*
 * Runs the steps from jobs->step on: a step returns NGX_OK when it sent
 * a query (ngx_http_weaveit_job_step_done() then comes back here with the
 * next step), anything else when it had nothing to do.
 */

static void
ngx_http_weaveit_job_next_step(ngx_http_weaveit_jobs_t *jobs)
{
    for ( /* void */ ; jobs->step < ngx_http_weaveit_step_done; jobs->step++)
    {
        if (ngx_http_weaveit_job_steps[jobs->step](jobs) == NGX_OK) {
            return;
        }
    }

    jobs->ticking = 0;

    /* a worker shutting down waits for its jobs and waiters */

    jobs->tick.cancelable = (jobs->nrunning == 0
                             && ngx_queue_empty(&jobs->waiters));
    ngx_add_timer(&jobs->tick, jobs->again ? 1 : jobs->conf->job_interval);
}


static void
ngx_http_weaveit_job_send(ngx_http_weaveit_jobs_t *jobs, const char *sql,
    ngx_uint_t nparams)
{
    jobs->query.sql = sql;
    jobs->query.nparams = nparams;

    (void) ngx_http_weaveit_pg_query(jobs->conf->pool, &jobs->query, NULL);
}


static void
ngx_http_weaveit_job_step_done(ngx_http_weaveit_pg_query_t *q)
{
    ngx_http_weaveit_jobs_t  *jobs;

    jobs = q->data;

    if (q->error == NULL) {

        switch (jobs->step) {

        case ngx_http_weaveit_step_reap:
            if (ngx_atoi((u_char *) PQgetvalue(q->result, 0, 0),
                         PQgetlength(q->result, 0, 0)) > 0)
            {
                ngx_log_error(NGX_LOG_WARN, jobs->log, 0,
                              "weaveit: failed %s job(s) out of attempts",
                              PQgetvalue(q->result, 0, 0));
            }
            break;

        case ngx_http_weaveit_step_claim:
            ngx_http_weaveit_job_start_claimed(jobs, q->result);
            break;

        case ngx_http_weaveit_step_waiters:
            ngx_http_weaveit_job_answer_waiters(jobs, q->result);
            break;

        case ngx_http_weaveit_step_cleanup:
            ngx_http_weaveit_job_cleaned(jobs, q->result);
            break;

        default:
            break;
        }
    }

    if (jobs->step == ngx_http_weaveit_step_waiters) {
        ngx_free(jobs->waiter_ids);
        jobs->waiter_ids = NULL;
    }

    jobs->step++;
    ngx_http_weaveit_job_next_step(jobs);
}


/* renews the leases of this worker's jobs and writes their progress */

static ngx_int_t
ngx_http_weaveit_job_renew(ngx_http_weaveit_jobs_t *jobs)
{
    u_char                      *ids, *progress;
    ngx_queue_t                 *qq;
    ngx_http_weaveit_running_t  *job;

    if (jobs->nrunning == 0) {
        return NGX_DECLINED;
    }

    ids = (u_char *) jobs->ids;
    progress = (u_char *) jobs->progress;
    *ids++ = '{';
    *progress++ = '{';

    for (qq = ngx_queue_head(&jobs->running);
         qq != ngx_queue_sentinel(&jobs->running);
         qq = ngx_queue_next(qq))
    {
        job = ngx_queue_data(qq, ngx_http_weaveit_running_t, queue);

        if (ids[-1] != '{') {
            *ids++ = ',';
            *progress++ = ',';
        }

        ids = ngx_cpymem(ids, job->id, NGX_HTTP_WEAVEIT_UUID_LEN);
        progress = ngx_sprintf(progress, "%d",
                               atomic_load(&job->gen.progress) % 101);
    }

    *ids++ = '}';
    *ids = '\0';
    *progress++ = '}';
    *progress = '\0';

    jobs->values[0] = jobs->worker_id;
    jobs->values[1] = jobs->lease;
    jobs->values[2] = jobs->ids;
    jobs->values[3] = jobs->progress;

    ngx_http_weaveit_job_send(jobs, ngx_http_weaveit_job_renew_sql, 4);

    return NGX_OK;
}


static ngx_int_t
ngx_http_weaveit_job_reap(ngx_http_weaveit_jobs_t *jobs)
{
    (void) ngx_sprintf((u_char *) jobs->number, "%i%Z",
                       jobs->conf->job_attempts);
    jobs->values[0] = jobs->number;

    ngx_http_weaveit_job_send(jobs, ngx_http_weaveit_job_reap_sql, 1);

    return NGX_OK;
}


/* as many jobs as the thread pool has room for */

static ngx_int_t
ngx_http_weaveit_job_claim(ngx_http_weaveit_jobs_t *jobs)
{
    if (ngx_exiting || jobs->nrunning >= jobs->room) {
        return NGX_DECLINED;
    }

    (void) ngx_sprintf((u_char *) jobs->number, "%i%Z",
                       jobs->room - jobs->nrunning);
    (void) ngx_sprintf((u_char *) jobs->attempts, "%i%Z",
                       jobs->conf->job_attempts);
    jobs->values[0] = jobs->worker_id;
    jobs->values[1] = jobs->lease;
    jobs->values[2] = jobs->number;
    jobs->values[3] = jobs->attempts;

    ngx_http_weaveit_job_send(jobs, ngx_http_weaveit_job_claim_sql, 4);

    return NGX_OK;
}


/* the status of every job someone waits for */

static ngx_int_t
ngx_http_weaveit_job_poll_waiters(ngx_http_weaveit_jobs_t *jobs)
{
    u_char                     *p;
    ngx_uint_t                  n;
    ngx_queue_t                *qq;
    ngx_http_weaveit_waiter_t  *w;

    if (ngx_queue_empty(&jobs->waiters)) {
        return NGX_DECLINED;
    }

    n = 0;

    for (qq = ngx_queue_head(&jobs->waiters);
         qq != ngx_queue_sentinel(&jobs->waiters);
         qq = ngx_queue_next(qq))
    {
        n++;
    }

    p = ngx_alloc(n * (NGX_HTTP_WEAVEIT_UUID_LEN + 1) + 3, jobs->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    jobs->waiter_ids = (char *) p;
    *p++ = '{';

    for (qq = ngx_queue_head(&jobs->waiters);
         qq != ngx_queue_sentinel(&jobs->waiters);
         qq = ngx_queue_next(qq))
    {
        w = ngx_queue_data(qq, ngx_http_weaveit_waiter_t, queue);

        if (p[-1] != '{') {
            *p++ = ',';
        }

        p = ngx_cpymem(p, w->job_id.data, w->job_id.len);
    }

    *p++ = '}';
    *p = '\0';

    jobs->values[0] = jobs->waiter_ids;

    ngx_http_weaveit_job_send(jobs, ngx_http_weaveit_job_waiters_sql, 1);

    return NGX_OK;
}


/*
 * expired signatures, failed jobs older than weaveit_cleanup_failed_after
 * and videos older than weaveit_video_retention, unless they are 0, once
 * a minute
 */

static ngx_int_t
ngx_http_weaveit_job_cleanup(ngx_http_weaveit_jobs_t *jobs)
{
    if (ngx_time() - jobs->last_cleanup < NGX_HTTP_WEAVEIT_CLEANUP_SEC) {
        return NGX_DECLINED;
    }

    jobs->last_cleanup = ngx_time();
    jobs->values[0] = NULL;
    jobs->values[1] = NULL;

    if (jobs->conf->cleanup_failed_after) {
        (void) ngx_sprintf((u_char *) jobs->number, "%T seconds%Z",
                           jobs->conf->cleanup_failed_after);
        jobs->values[0] = jobs->number;
    }

    if (jobs->conf->video_retention) {
        (void) ngx_sprintf((u_char *) jobs->retention, "%T seconds%Z",
                           jobs->conf->video_retention);
        jobs->values[1] = jobs->retention;
    }

    ngx_http_weaveit_job_send(jobs, ngx_http_weaveit_job_cleanup_sql, 2);

    return NGX_OK;
}


/*
 * A batch may have left more behind: the next round looks again rather
 * than a minute later, so a backlog drains a batch a round.
 */

static void
ngx_http_weaveit_job_cleaned(ngx_http_weaveit_jobs_t *jobs, PGresult *res)
{
    ngx_int_t  n;

    n = ngx_atoi((u_char *) PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));
    if (n <= 0) {
        return;
    }

    ngx_http_weaveit_metrics_videos_expired(n);
    ngx_log_error(NGX_LOG_INFO, jobs->log, 0,
                  "weaveit: deleted %i video(s) older than "
                  "weaveit_video_retention, their jobs expired", n);

    jobs->last_cleanup = 0;
}


/* starting claimed jobs in the thread pool */


static void
ngx_http_weaveit_job_start_claimed(ngx_http_weaveit_jobs_t *jobs,
    PGresult *res)
{
    int  row;

    for (row = 0; row < PQntuples(res); row++) {
        if (ngx_http_weaveit_job_start(jobs, res, row) == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, jobs->log, 0,
                          "weaveit: job %s not started; another worker "
                          "will take it when its lease expires",
                          PQgetvalue(res, row, 0));
        }
    }
}


static ngx_int_t
ngx_http_weaveit_job_start(ngx_http_weaveit_jobs_t *jobs, PGresult *res,
    int row)
{
    size_t                       script_len, title_len, voice_len;
    ngx_http_weaveit_running_t  *job;

    script_len = PQgetlength(res, row, 1);
    title_len = PQgetisnull(res, row, 2) ? 0 : PQgetlength(res, row, 2);
    voice_len = PQgetisnull(res, row, 3) ? 0 : PQgetlength(res, row, 3);

    if (PQgetlength(res, row, 0) != NGX_HTTP_WEAVEIT_UUID_LEN) {
        return NGX_ERROR;
    }

    job = ngx_calloc(sizeof(ngx_http_weaveit_running_t)
                     + jobs->nargs * sizeof(char *) + script_len + 1
                     + title_len + 1 + voice_len + 1, jobs->log);
    if (job == NULL) {
        return NGX_ERROR;
    }

    job->jobs = jobs;
    ngx_memcpy(job->id, PQgetvalue(res, row, 0), NGX_HTTP_WEAVEIT_UUID_LEN);

    job->script = (char *) (job + 1) + jobs->nargs * sizeof(char *);
    job->script_len = script_len;
    ngx_memcpy(job->script, PQgetvalue(res, row, 1), script_len);

    job->title = job->script + script_len + 1;
    ngx_memcpy(job->title, PQgetvalue(res, row, 2), title_len);

    job->voice = job->title + title_len + 1;
    ngx_memcpy(job->voice, PQgetvalue(res, row, 3), voice_len);

    /* the table's CHECKs allow these two each, or NULL */
    job->format = PQgetisnull(res, row, 4) ? NULL
                  : (ngx_strcmp(PQgetvalue(res, row, 4), "markdown") == 0)
                  ? "markdown" : "text";
    job->theme = PQgetisnull(res, row, 5) ? NULL
                 : (ngx_strcmp(PQgetvalue(res, row, 5), "dark") == 0)
                 ? "dark" : "light";

    job->gen.argv = ngx_http_weaveit_job_voice_argv(job);
    job->gen.envp = jobs->envp;
    job->gen.deadline = ngx_http_weaveit_job_deadline(jobs->conf);
    job->gen.title = job->title;
    job->gen.title_len = title_len;
    job->gen.script = job->script;
    job->gen.script_len = script_len;

    job->task.ctx = job;
    job->task.handler = ngx_http_weaveit_job_thread;
    job->task.event.data = job;
    job->task.event.handler = ngx_http_weaveit_job_done;
    job->task.event.log = jobs->log;

    if (ngx_thread_task_post(jobs->conf->thread_pool, &job->task) != NGX_OK)
    {
        ngx_http_weaveit_job_release(job);
        return NGX_DECLINED;
    }

    ngx_queue_insert_tail(&jobs->running, &job->queue);
    jobs->nrunning++;
    job->started = ngx_current_msec;

    ngx_log_error(NGX_LOG_INFO, jobs->log, 0,
                  "weaveit: job %s generating", job->id);

    return NGX_OK;
}


/* the worker's command line, with the job's voice, format and theme */

static char *const *
ngx_http_weaveit_job_voice_argv(ngx_http_weaveit_running_t *job)
{
    char                    **argv;
    ngx_http_weaveit_jobs_t  *jobs;

    jobs = job->jobs;

    if (job->voice[0] == '\0' && job->format == NULL && job->theme == NULL) {
        return jobs->argv;
    }

    argv = (char **) (job + 1);
    ngx_memcpy(argv, jobs->argv, jobs->nargs * sizeof(char *));

    if (job->voice[0] != '\0') {
        argv[jobs->voice_arg] = job->voice;
    }

    if (job->format != NULL) {
        argv[jobs->format_arg] = job->format;
    }

    if (job->theme != NULL) {
        argv[jobs->theme_arg] = job->theme;
    }

    return argv;
}


/*
 * The thread pool's queue is full (it may be shared, or smaller than
 * weaveit_max_jobs): the job goes back to pending at once, its attempt
 * given back, and this worker claims no more than the pool holds until
 * one of its jobs ends.
 */

static void
ngx_http_weaveit_job_release(ngx_http_weaveit_running_t *job)
{
    ngx_http_weaveit_jobs_t  *jobs;

    jobs = job->jobs;
    jobs->room = ngx_max(jobs->nrunning, 1);

    ngx_log_error(NGX_LOG_WARN, jobs->log, 0,
                  "weaveit: thread pool \"%V\" is full: job %s goes back "
                  "to pending, and this worker claims at most %i job(s) "
                  "until one ends", &jobs->conf->thread_pool_name, job->id,
                  jobs->room);

    job->values[0] = job->id;
    job->values[1] = jobs->worker_id;
    job->query.sql = ngx_http_weaveit_job_release_sql;
    job->query.nparams = 2;
    job->query.values = job->values;
    job->query.handler = ngx_http_weaveit_job_released;
    job->query.data = job;
    job->query.log = jobs->log;
    job->query.priority = 1;

    (void) ngx_http_weaveit_pg_query(jobs->conf->pool, &job->query, NULL);
}


static void
ngx_http_weaveit_job_released(ngx_http_weaveit_pg_query_t *q)
{
    ngx_http_weaveit_running_t  *job;

    job = q->data;

    if (q->error) {
        ngx_log_error(NGX_LOG_ERR, job->jobs->log, 0,
                      "weaveit: job %s not released (%s); it runs again "
                      "when its lease expires", job->id, q->error);
    }

    ngx_free(job);
}


/* in a thread of the pool: nothing here may touch nginx or PostgreSQL */

static void
ngx_http_weaveit_job_thread(void *data, ngx_log_t *log)
{
    ngx_http_weaveit_running_t  *job = data;

    ngx_http_weaveit_generator_run(&job->gen);
}


/* back on the event loop: store the video, or record the failure */

static void
ngx_http_weaveit_job_done(ngx_event_t *ev)
{
    ngx_http_weaveit_jobs_t     *jobs;
    ngx_http_weaveit_running_t  *job;

    job = ev->data;
    job->elapsed = ngx_current_msec - job->started;

    ngx_http_weaveit_job_log_outcome(job);

    if (job->gen.outcome == NGX_HTTP_WEAVEIT_GEN_LOST) {
        ngx_http_weaveit_metrics_job_ended("retried", job->elapsed, 0);
        jobs = job->jobs;
        ngx_http_weaveit_job_free(job);
        ngx_http_weaveit_job_kick(jobs);
        return;
    }

    job->values[0] = job->id;
    job->values[1] = job->jobs->worker_id;

    job->query.values = job->values;
    job->query.lengths = job->lengths;
    job->query.formats = job->formats;
    job->query.handler = ngx_http_weaveit_job_stored;
    job->query.data = job;
    job->query.log = job->jobs->log;
    job->query.priority = 1;

    if (job->gen.outcome == NGX_HTTP_WEAVEIT_GEN_DONE) {
        ngx_http_weaveit_job_store(job);

    } else {
        ngx_http_weaveit_job_record_failure(job);
    }

    (void) ngx_http_weaveit_pg_query(job->jobs->conf->pool, &job->query,
                                     NULL);
}


/* the details are for the operator's log; clients learn only this much */

static void
ngx_http_weaveit_job_record_failure(ngx_http_weaveit_running_t *job)
{
    job->values[2] = "Generation failed";
    job->query.nparams = 3;
    job->query.sql = ngx_http_weaveit_job_failed_sql;
}


static void
ngx_http_weaveit_job_log_outcome(ngx_http_weaveit_running_t *job)
{
    ngx_http_weaveit_gen_t  *g;

    g = &job->gen;

    ngx_http_weaveit_job_log_notes(job);

    switch (g->outcome) {

    case NGX_HTTP_WEAVEIT_GEN_DONE:
        break;

    case NGX_HTTP_WEAVEIT_GEN_FAILED:
        ngx_log_error(NGX_LOG_ERR, job->jobs->log, 0,
                      "weaveit: job %s failed: %s", job->id, g->message);
        break;

    case NGX_HTTP_WEAVEIT_GEN_KILLED:
        ngx_log_error(NGX_LOG_ERR, job->jobs->log, 0,
                      "weaveit: job %s failed without retry, the input is "
                      "to blame: the generator %s", job->id, g->message);
        break;

    case NGX_HTTP_WEAVEIT_GEN_LOST:
        ngx_log_error(NGX_LOG_ERR, job->jobs->log, 0,
                      "weaveit: job %s not generated here (%s); it runs "
                      "again when its lease expires", job->id, g->message);
        break;
    }
}


/* what the generator said along the way: a speech server's retries */

static void
ngx_http_weaveit_job_log_notes(ngx_http_weaveit_running_t *job)
{
    u_char  *p, *last, *eol;

    p = (u_char *) job->gen.notes;
    last = p + job->gen.notes_len;

    for ( /* void */ ; p < last; p = eol + 1) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        ngx_log_error(NGX_LOG_WARN, job->jobs->log, 0,
                      "weaveit: job %s: %*s", job->id, eol - p, p);
    }
}


static void
ngx_http_weaveit_job_store(ngx_http_weaveit_running_t *job)
{
    uuid_t  video_id;

    uuid_generate_random(video_id);
    uuid_unparse_lower(video_id, job->video_id);
    (void) ngx_sprintf((u_char *) job->duration, "%d%Z",
                       (int) (job->gen.duration + 0.5));

    job->values[2] = job->video_id;
    job->values[3] = (const char *) job->gen.video;
    job->lengths[3] = job->gen.size;
    job->formats[3] = 1;
    job->values[4] = job->duration;
    job->values[5] = job->jobs->conf->keep_script ? "t" : "f";
    job->values[6] = ngx_http_weaveit_job_spoken_voice(job);
    job->query.nparams = 7;
    job->query.sql = ngx_http_weaveit_job_store_sql;
}


/*
 * The generator is sandboxed because its input is hostile: what it says
 * is checked as a name before it is stored.  A job that named its voice
 * keeps the name it was given.
 */

static const char *
ngx_http_weaveit_job_spoken_voice(ngx_http_weaveit_running_t *job)
{
    ngx_str_t  name;

    if (ngx_strcmp(job->voice, WEAVEIT_VOICE_AUTO) != 0) {
        return NULL;
    }

    name.data = (u_char *) job->gen.voice;
    name.len = ngx_strlen(job->gen.voice);

    return ngx_http_weaveit_voice_name_valid(&name) ? job->gen.voice : NULL;
}


static void
ngx_http_weaveit_job_stored(ngx_http_weaveit_pg_query_t *q)
{
    ngx_uint_t                   level;
    ngx_http_weaveit_jobs_t     *jobs;
    ngx_http_weaveit_running_t  *job;

    job = q->data;
    jobs = job->jobs;

    if (q->error) {
        ngx_log_error(NGX_LOG_ERR, jobs->log, 0,
                      "weaveit: job %s not recorded (%s); it runs again "
                      "when its lease expires", job->id, q->error);
        ngx_http_weaveit_metrics_job_ended("retried", job->elapsed, 0);

    } else if (PQntuples(q->result) == 0) {
        ngx_log_error(NGX_LOG_WARN, jobs->log, 0,
                      "weaveit: job %s was taken over by another worker; "
                      "result dropped", job->id);

    } else {
        level = job->gen.missing ? NGX_LOG_WARN : NGX_LOG_INFO;

        ngx_log_error(level, jobs->log, 0, "weaveit: job %s %s, %uz "
                      "characters with no glyph in any installed font",
                      job->id, PQgetvalue(q->result, 0, 1), job->gen.missing);
        ngx_http_weaveit_metrics_job_ended(PQgetvalue(q->result, 0, 1),
                                           job->elapsed, job->gen.duration);

        ngx_http_weaveit_job_answer_waiters(jobs, q->result);
    }

    ngx_http_weaveit_job_free(job);

    /* room in the thread pool: claim the next job now */

    ngx_http_weaveit_job_kick(jobs);
}


static void
ngx_http_weaveit_job_free(ngx_http_weaveit_running_t *job)
{
    ngx_queue_remove(&job->queue);
    job->jobs->nrunning--;
    job->jobs->room = job->jobs->conf->max_jobs;

    ngx_http_weaveit_generator_free(&job->gen);
    ngx_free(job);
}


/* waiting for a job to end */


/*
 * Calls handler(data, job_id, rc, video_id) once: NGX_OK with the video
 * when the job completed, NGX_ERROR when it failed (or its video expired
 * already), NGX_AGAIN when it has
 * not ended after timeout ms (0: no limit) or when this worker exits;
 * never after the pool is destroyed.  job_id lives as long as the pool.
 */

ngx_int_t
ngx_http_weaveit_job_wait(ngx_http_weaveit_jobs_t *jobs, ngx_pool_t *pool,
    ngx_str_t *job_id, ngx_msec_t timeout,
    ngx_http_weaveit_job_ended_pt handler, void *data)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_weaveit_waiter_t  *w;

    w = ngx_pcalloc(pool, sizeof(ngx_http_weaveit_waiter_t));
    cln = ngx_pool_cleanup_add(pool, 0);
    if (w == NULL || cln == NULL) {
        return NGX_ERROR;
    }

    w->job_id = *job_id;
    w->handler = handler;
    w->data = data;
    w->waiting = 1;
    ngx_queue_insert_tail(&jobs->waiters, &w->queue);

    cln->handler = ngx_http_weaveit_job_waiter_cleanup;
    cln->data = w;

    if (timeout) {
        w->timer.handler = ngx_http_weaveit_job_wait_timeout;
        w->timer.data = w;
        w->timer.log = jobs->log;
        w->timer.cancelable = 1;
        ngx_add_timer(&w->timer, timeout);
    }

    jobs->tick.cancelable = 0;

    return NGX_OK;
}


static void
ngx_http_weaveit_job_waiter_cleanup(void *data)
{
    ngx_http_weaveit_waiter_t  *w = data;

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    if (w->waiting) {
        ngx_queue_remove(&w->queue);
        w->waiting = 0;
    }
}


static void
ngx_http_weaveit_job_wait_timeout(ngx_event_t *ev)
{
    ngx_http_weaveit_job_answer(ev->data, NGX_AGAIN, NULL);
}


static void
ngx_http_weaveit_job_release_waiters(ngx_http_weaveit_jobs_t *jobs)
{
    ngx_queue_t  *qq;

    while (!ngx_queue_empty(&jobs->waiters)) {
        qq = ngx_queue_head(&jobs->waiters);

        ngx_http_weaveit_job_answer(ngx_queue_data(qq,
                                        ngx_http_weaveit_waiter_t, queue),
                                    NGX_AGAIN, NULL);
    }
}


/* the one answer a waiter gets; its pool may be gone when this returns */

static void
ngx_http_weaveit_job_answer(ngx_http_weaveit_waiter_t *w, ngx_int_t rc,
    ngx_str_t *video_id)
{
    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    ngx_queue_remove(&w->queue);
    w->waiting = 0;

    w->handler(w->data, &w->job_id, rc, video_id);
}


/* rows of (job_id, status, video_id): wakes the waiters of ended jobs */

static void
ngx_http_weaveit_job_answer_waiters(ngx_http_weaveit_jobs_t *jobs,
    PGresult *res)
{
    int  row;

    for (row = 0; row < PQntuples(res); row++) {
        ngx_http_weaveit_job_wake(jobs, PQgetvalue(res, row, 0),
                                  PQgetvalue(res, row, 1),
                                  PQgetisnull(res, row, 2)
                                  ? NULL : PQgetvalue(res, row, 2));
    }
}


static void
ngx_http_weaveit_job_wake(ngx_http_weaveit_jobs_t *jobs, const char *job_id,
    const char *status, const char *video_id)
{
    ngx_str_t                   vid;
    ngx_queue_t                *qq, *next;
    ngx_http_weaveit_waiter_t  *w;

    if (ngx_strcmp(status, "pending") == 0
        || ngx_strcmp(status, "generating") == 0)
    {
        return;
    }

    if (ngx_strcmp(status, "completed") != 0) {
        video_id = NULL;
    }

    vid.data = (u_char *) video_id;
    vid.len = video_id ? ngx_strlen(video_id) : 0;

    for (qq = ngx_queue_head(&jobs->waiters);
         qq != ngx_queue_sentinel(&jobs->waiters);
         qq = next)
    {
        next = ngx_queue_next(qq);
        w = ngx_queue_data(qq, ngx_http_weaveit_waiter_t, queue);

        if (w->job_id.len != ngx_strlen(job_id)
            || ngx_strncmp(w->job_id.data, job_id, w->job_id.len) != 0)
        {
            continue;
        }

        ngx_http_weaveit_job_answer(w, video_id ? NGX_OK : NGX_ERROR,
                                    video_id ? &vid : NULL);
    }
}
