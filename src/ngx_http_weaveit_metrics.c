
/*
 * Prometheus metrics of the whole nginx instance: counters, histograms and
 * per-worker gauges live in one shared memory zone, so a scrape answered
 * by any worker sees every worker's numbers.
 *
 * Writers never lock: counters are atomic additions.  A histogram is a
 * set of such counters read one by one, so a scrape racing an observation
 * can see a bucket and the count disagree by one for that instant, which
 * Prometheus tolerates.  Each worker's database pool writes its gauges
 * into the slot of its worker number; a slot carries the writer's pid, so
 * after a reload an old worker still draining does not overwrite the new
 * one's numbers.
 *
 * HTTP requests are counted once, when the request is freed, with the
 * status its log line shows: a pool cleanup added when the request enters
 * a WeaveIt location survives error_page redirects, which reset module
 * contexts.
 *
 * The fleet's job counts come from PostgreSQL, at most once a second for
 * the whole instance: the worker that wins the compare-and-swap of the
 * next refresh time runs the query; every other scrape reads the copy in
 * shared memory.
 */


#include "ngx_http_weaveit.h"
#include "ngx_http_weaveit_version.h"


#define NGX_HTTP_WEAVEIT_METRICS_CODES      600
#define NGX_HTTP_WEAVEIT_METRICS_BUCKETS    12
#define NGX_HTTP_WEAVEIT_METRICS_REFRESH    1000
#define NGX_HTTP_WEAVEIT_METRICS_MICRO      1000000

/* the content handlers' directives, less "weaveit_", as endpoint labels */
#define NGX_HTTP_WEAVEIT_ENDPOINTS          10
#define NGX_HTTP_WEAVEIT_ENDPOINT_VIDEO     4

/* what a scrape writes besides one line a request counter in use */
#define NGX_HTTP_WEAVEIT_METRICS_FIXED      16384
#define NGX_HTTP_WEAVEIT_METRICS_LINE       128


typedef struct {
    ngx_atomic_t                    buckets[NGX_HTTP_WEAVEIT_METRICS_BUCKETS];
    ngx_atomic_t                    count;
    ngx_atomic_t                    sum;          /* in millionths */
} ngx_http_weaveit_histogram_t;


typedef struct {
    const char                     *name;
    const char                     *help;
    const double                   *bounds;      /* +Inf comes after */
    ngx_uint_t                      nbounds;
} ngx_http_weaveit_histogram_def_t;


#define ngx_http_weaveit_bounds(a)  a, sizeof(a) / sizeof(a[0])


typedef struct {
    ngx_atomic_t                    pid;
    ngx_atomic_t                    busy;
    ngx_atomic_t                    idle;
    ngx_atomic_t                    waiting;
} ngx_http_weaveit_worker_slot_t;


typedef enum {
    ngx_http_weaveit_job_completed = 0,
    ngx_http_weaveit_job_failed,
    ngx_http_weaveit_job_retried,
    ngx_http_weaveit_job_results
} ngx_http_weaveit_job_result_e;


typedef enum {
    ngx_http_weaveit_hist_generation = 0,
    ngx_http_weaveit_hist_realtime,
    ngx_http_weaveit_hist_db_wait,
    ngx_http_weaveit_hists
} ngx_http_weaveit_hist_e;


#define NGX_HTTP_WEAVEIT_JOB_STATUSES  5


typedef struct {
    ngx_atomic_t                    requests[NGX_HTTP_WEAVEIT_ENDPOINTS]
                                            [NGX_HTTP_WEAVEIT_METRICS_CODES];
    ngx_atomic_t                    video_bytes;
    ngx_atomic_t                    video_ranges;
    ngx_atomic_t                    jobs[ngx_http_weaveit_job_results];
    ngx_atomic_t                    videos_expired;
    ngx_atomic_t                    db_errors;
    ngx_atomic_t                    replica_reads[2]; /* replica, primary */
    ngx_http_weaveit_histogram_t    hists[ngx_http_weaveit_hists];
    ngx_http_weaveit_worker_slot_t  workers[NGX_MAX_PROCESSES];

    /* the fleet's jobs by status, and when a worker may query them again */
    ngx_atomic_t                    fleet_due;
    ngx_atomic_t                    fleet_known;
    ngx_atomic_t                    fleet[NGX_HTTP_WEAVEIT_JOB_STATUSES];
} ngx_http_weaveit_metrics_t;


/* a request of a WeaveIt location, counted when it is freed */

typedef struct {
    ngx_http_request_t             *request;
    ngx_uint_t                      endpoint;
} ngx_http_weaveit_counted_t;


/* a scrape that refreshes the fleet's job counts */

typedef struct {
    ngx_http_request_t             *request;
    ngx_http_weaveit_pg_query_t     query;
} ngx_http_weaveit_metrics_ctx_t;


static ngx_int_t ngx_http_weaveit_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_weaveit_metrics_enter(ngx_http_request_t *r);
static void ngx_http_weaveit_metrics_count_request(void *data);
static void ngx_http_weaveit_metrics_db_waited(ngx_msec_t waited);
static void ngx_http_weaveit_metrics_db_failed(void);
static void ngx_http_weaveit_metrics_db_changed(ngx_uint_t busy,
    ngx_uint_t idle, ngx_uint_t waiting);
static void ngx_http_weaveit_metrics_observe(ngx_http_weaveit_hist_e h,
    double value);
static ngx_int_t ngx_http_weaveit_metrics_refresh_fleet(
    ngx_http_request_t *r);
static void ngx_http_weaveit_metrics_fleet_done(
    ngx_http_weaveit_pg_query_t *q);
static ngx_int_t ngx_http_weaveit_metrics_send(ngx_http_request_t *r);
static u_char *ngx_http_weaveit_metrics_requests(u_char *p, u_char *last);
static u_char *ngx_http_weaveit_metrics_jobs(u_char *p, u_char *last);
static u_char *ngx_http_weaveit_metrics_db(u_char *p, u_char *last);
static u_char *ngx_http_weaveit_metrics_histogram(u_char *p, u_char *last,
    ngx_http_weaveit_hist_e h);
static u_char *ngx_http_weaveit_metrics_header(u_char *p, u_char *last,
    const char *name, const char *type, const char *help);
static u_char *ngx_http_weaveit_metrics_micro(u_char *p, u_char *last,
    ngx_atomic_uint_t value);


/* a location's endpoint is its index here + 1; 0: not WeaveIt's */

static ngx_str_t  ngx_http_weaveit_endpoints[NGX_HTTP_WEAVEIT_ENDPOINTS] = {
    ngx_string("health"),
    ngx_string("generate"),
    ngx_string("status"),
    ngx_string("video"),
    ngx_string("wallet_videos"),
    ngx_string("points"),
    ngx_string("points_award"),
    ngx_string("demo"),
    ngx_string("metrics"),
    ngx_string("voices_list")
};


static const char  *ngx_http_weaveit_job_results_names[] = {
    "completed", "failed", "retried"
};


/* as the CHECK of video_jobs.status has them */

static const char  *ngx_http_weaveit_job_statuses[] = {
    "pending", "generating", "completed", "failed", "expired"
};


static const double  ngx_http_weaveit_generation_bounds[] = {
    1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600
};

static const double  ngx_http_weaveit_realtime_bounds[] = {
    0.25, 0.5, 1, 2, 4, 8, 16
};

static const double  ngx_http_weaveit_db_wait_bounds[] = {
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5
};


static ngx_http_weaveit_histogram_def_t
    ngx_http_weaveit_histograms[ngx_http_weaveit_hists] =
{
    { "weaveit_generation_seconds",
      "Wall time of the generator for each job this instance completed.",
      ngx_http_weaveit_bounds(ngx_http_weaveit_generation_bounds) },

    { "weaveit_generation_realtime_ratio",
      "Seconds of video made per second of generation, each completed job.",
      ngx_http_weaveit_bounds(ngx_http_weaveit_realtime_bounds) },

    { "weaveit_db_wait_seconds",
      "Time a query waited in a worker's pool for a PostgreSQL connection.",
      ngx_http_weaveit_bounds(ngx_http_weaveit_db_wait_bounds) }
};


const ngx_http_weaveit_pg_observer_t  ngx_http_weaveit_metrics_db_observer = {
    ngx_http_weaveit_metrics_db_waited,
    ngx_http_weaveit_metrics_db_failed,
    ngx_http_weaveit_metrics_db_changed
};


static const char  ngx_http_weaveit_fleet_sql[] =
    "SELECT status, count(*) FROM video_jobs GROUP BY status";


/* set in the master by the zone's init, and inherited by the workers */

static ngx_http_weaveit_metrics_t  *ngx_http_weaveit_metrics;


/* configuration */


ngx_uint_t
ngx_http_weaveit_metrics_endpoint(ngx_str_t *directive)
{
    ngx_str_t   name;
    ngx_uint_t  i;

    name.data = directive->data + sizeof("weaveit_") - 1;
    name.len = directive->len - (sizeof("weaveit_") - 1);

    for (i = 0; i < NGX_HTTP_WEAVEIT_ENDPOINTS; i++) {
        if (name.len == ngx_http_weaveit_endpoints[i].len
            && ngx_strncmp(name.data, ngx_http_weaveit_endpoints[i].data,
                           name.len) == 0)
        {
            return i + 1;
        }
    }

    return 0;
}


/*
 * postconfiguration: the zone, and the phase handler that counts the
 * requests of WeaveIt locations, wherever a worker will have a pool or
 * jobs to report (ngx_http_weaveit_init_process()): the pointer to the
 * zone must never outlive a zone a reload dropped.
 */

ngx_int_t
ngx_http_weaveit_metrics_init(ngx_conf_t *cf)
{
    ngx_str_t                      name = ngx_string("weaveit_metrics");
    ngx_shm_zone_t                *zone;
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_weaveit_module);
    if (!wmcf->used && wmcf->db.conninfo.len == 0) {
        return NGX_OK;
    }

    zone = ngx_shared_memory_add(cf, &name,
                                 sizeof(ngx_http_weaveit_metrics_t)
                                 + 8 * ngx_pagesize,
                                 &ngx_http_weaveit_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_weaveit_metrics_init_zone;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_weaveit_metrics_enter;

    return NGX_OK;
}


/* a reload keeps the counters: Prometheus sees no reset */

static ngx_int_t
ngx_http_weaveit_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    if (data) {
        zone->data = data;
        ngx_http_weaveit_metrics = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    ngx_http_weaveit_metrics = ngx_slab_calloc(shpool,
                                           sizeof(ngx_http_weaveit_metrics_t));
    if (ngx_http_weaveit_metrics == NULL) {
        return NGX_ERROR;
    }

    zone->data = ngx_http_weaveit_metrics;

    return NGX_OK;
}


/* counting requests */


static ngx_int_t
ngx_http_weaveit_metrics_enter(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_weaveit_counted_t   *counted;
    ngx_http_weaveit_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_weaveit_module);

    if (wlcf->endpoint == 0 || r != r->main) {
        return NGX_DECLINED;
    }

    /* a redirect from one WeaveIt location to another counts once */

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_weaveit_metrics_count_request) {
            return NGX_DECLINED;
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_weaveit_counted_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    counted = cln->data;
    counted->request = r;
    counted->endpoint = wlcf->endpoint;
    cln->handler = ngx_http_weaveit_metrics_count_request;

    return NGX_DECLINED;
}


/*
 * Runs as the request's pool is destroyed, after its log line: the
 * request is still whole.  The status and body size are the ones
 * ngx_http_log_module writes ($status, $body_bytes_sent).
 */

static void
ngx_http_weaveit_metrics_count_request(void *data)
{
    ngx_http_weaveit_counted_t *counted = data;

    off_t                        sent;
    ngx_uint_t                   status;
    ngx_http_request_t          *r;
    ngx_http_weaveit_metrics_t  *m;

    m = ngx_http_weaveit_metrics;
    r = counted->request;

    status = r->err_status ? r->err_status : r->headers_out.status;

    if (status >= NGX_HTTP_WEAVEIT_METRICS_CODES) {
        status = 0;
    }

    (void) ngx_atomic_fetch_add(&m->requests[counted->endpoint - 1][status],
                                1);

    if (counted->endpoint != NGX_HTTP_WEAVEIT_ENDPOINT_VIDEO) {
        return;
    }

    sent = r->connection->sent - r->header_size;

    if (sent > 0) {
        (void) ngx_atomic_fetch_add(&m->video_bytes, sent);
    }

    if (status == NGX_HTTP_PARTIAL_CONTENT) {
        (void) ngx_atomic_fetch_add(&m->video_ranges, 1);
    }
}


/* what the jobs and the database pools report */


void
ngx_http_weaveit_metrics_job_ended(const char *status, ngx_msec_t elapsed,
    double video_seconds)
{
    double      seconds;
    ngx_uint_t  result;

    if (ngx_http_weaveit_metrics == NULL) {
        return;
    }

    if (ngx_strcmp(status, "completed") == 0) {
        result = ngx_http_weaveit_job_completed;

    } else if (ngx_strcmp(status, "failed") == 0) {
        result = ngx_http_weaveit_job_failed;

    } else {
        result = ngx_http_weaveit_job_retried;
    }

    (void) ngx_atomic_fetch_add(&ngx_http_weaveit_metrics->jobs[result], 1);

    if (result != ngx_http_weaveit_job_completed) {
        return;
    }

    /* the clock ticks in milliseconds: a job takes at least one */

    seconds = (double) ngx_max(elapsed, 1) / 1000;

    ngx_http_weaveit_metrics_observe(ngx_http_weaveit_hist_generation,
                                     seconds);
    ngx_http_weaveit_metrics_observe(ngx_http_weaveit_hist_realtime,
                                     video_seconds / seconds);
}


void
ngx_http_weaveit_metrics_videos_expired(ngx_uint_t n)
{
    if (ngx_http_weaveit_metrics) {
        (void) ngx_atomic_fetch_add(&ngx_http_weaveit_metrics->videos_expired,
                                    n);
    }
}


static void
ngx_http_weaveit_metrics_db_waited(ngx_msec_t waited)
{
    if (ngx_http_weaveit_metrics) {
        ngx_http_weaveit_metrics_observe(ngx_http_weaveit_hist_db_wait,
                                         (double) waited / 1000);
    }
}


static void
ngx_http_weaveit_metrics_db_failed(void)
{
    if (ngx_http_weaveit_metrics) {
        (void) ngx_atomic_fetch_add(&ngx_http_weaveit_metrics->db_errors, 1);
    }
}


/* a read sent to a replica, answered by it or, after it, by the primary */

void
ngx_http_weaveit_metrics_replica_read(ngx_uint_t primary)
{
    if (ngx_http_weaveit_metrics) {
        (void) ngx_atomic_fetch_add(
                   &ngx_http_weaveit_metrics->replica_reads[primary != 0], 1);
    }
}


/* a worker's pool, after each change */

static void
ngx_http_weaveit_metrics_db_changed(ngx_uint_t busy, ngx_uint_t idle,
    ngx_uint_t waiting)
{
    ngx_http_weaveit_worker_slot_t  *slot;

    if (ngx_http_weaveit_metrics == NULL || ngx_worker >= NGX_MAX_PROCESSES)
    {
        return;
    }

    slot = &ngx_http_weaveit_metrics->workers[ngx_worker];

    if (slot->pid != (ngx_atomic_uint_t) ngx_pid) {

        /* a worker being replaced does not overwrite its successor */

        if (ngx_exiting || ngx_terminate) {
            return;
        }

        slot->pid = ngx_pid;
    }

    slot->busy = busy;
    slot->idle = idle;
    slot->waiting = waiting;
}


static void
ngx_http_weaveit_metrics_observe(ngx_http_weaveit_hist_e h, double value)
{
    ngx_uint_t                         i;
    ngx_http_weaveit_histogram_t      *hist;
    ngx_http_weaveit_histogram_def_t  *def;

    hist = &ngx_http_weaveit_metrics->hists[h];
    def = &ngx_http_weaveit_histograms[h];

    for (i = 0; i < def->nbounds && value > def->bounds[i]; i++) {
        /* void */
    }

    (void) ngx_atomic_fetch_add(&hist->buckets[i], 1);
    (void) ngx_atomic_fetch_add(&hist->count, 1);
    (void) ngx_atomic_fetch_add(&hist->sum, (ngx_atomic_int_t)
                                (value * NGX_HTTP_WEAVEIT_METRICS_MICRO));
}


/* GET /metrics */


ngx_int_t
ngx_http_weaveit_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_msec_t                   due;
    ngx_http_weaveit_metrics_t  *m;

    rc = ngx_http_weaveit_get_only(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    m = ngx_http_weaveit_metrics;
    due = m->fleet_due;

    if ((ngx_msec_int_t) (ngx_current_msec - due) >= 0
        && ngx_atomic_cmp_set(&m->fleet_due, due,
                              ngx_current_msec
                              + NGX_HTTP_WEAVEIT_METRICS_REFRESH))
    {
        return ngx_http_weaveit_metrics_refresh_fleet(r);
    }

    return ngx_http_weaveit_metrics_send(r);
}


static ngx_int_t
ngx_http_weaveit_metrics_refresh_fleet(ngx_http_request_t *r)
{
    ngx_http_weaveit_main_conf_t    *wmcf;
    ngx_http_weaveit_metrics_ctx_t  *ctx;

    wmcf = ngx_http_get_module_main_conf(r, ngx_http_weaveit_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_weaveit_metrics_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->query.name = "weaveit_metrics_jobs";
    ctx->query.sql = ngx_http_weaveit_fleet_sql;
    ctx->query.handler = ngx_http_weaveit_metrics_fleet_done;
    ctx->query.data = ctx;
    ctx->query.log = r->connection->log;

    if (ngx_http_weaveit_pg_query(wmcf->pool, &ctx->query, r->pool)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;

    return NGX_DONE;
}


/* a failed refresh leaves the last counts: the scrape still answers */

static void
ngx_http_weaveit_metrics_fleet_done(ngx_http_weaveit_pg_query_t *q)
{
    int                              row;
    ngx_int_t                        n;
    ngx_uint_t                       i;
    ngx_atomic_uint_t                counts[NGX_HTTP_WEAVEIT_JOB_STATUSES];
    ngx_http_weaveit_metrics_t      *m;
    ngx_http_weaveit_metrics_ctx_t  *ctx;

    ctx = q->data;
    m = ngx_http_weaveit_metrics;

    if (q->error == NULL) {
        ngx_memzero(counts, sizeof(counts));

        for (row = 0; row < PQntuples(q->result); row++) {
            n = ngx_atoi((u_char *) PQgetvalue(q->result, row, 1),
                         PQgetlength(q->result, row, 1));

            for (i = 0; i < NGX_HTTP_WEAVEIT_JOB_STATUSES; i++) {
                if (n != NGX_ERROR
                    && ngx_strcmp(PQgetvalue(q->result, row, 0),
                                  ngx_http_weaveit_job_statuses[i]) == 0)
                {
                    counts[i] = n;
                }
            }
        }

        for (i = 0; i < NGX_HTTP_WEAVEIT_JOB_STATUSES; i++) {
            m->fleet[i] = counts[i];
        }

        m->fleet_known = 1;
    }

    ngx_http_weaveit_finalize(ctx->request,
                              ngx_http_weaveit_metrics_send(ctx->request));
}


static ngx_int_t
ngx_http_weaveit_metrics_send(ngx_http_request_t *r)
{
    size_t                       size;
    ngx_buf_t                   *b;
    ngx_uint_t                   e, code;
    ngx_http_weaveit_metrics_t  *m;

    m = ngx_http_weaveit_metrics;
    size = NGX_HTTP_WEAVEIT_METRICS_FIXED;

    for (e = 0; e < NGX_HTTP_WEAVEIT_ENDPOINTS; e++) {
        for (code = 0; code < NGX_HTTP_WEAVEIT_METRICS_CODES; code++) {
            if (m->requests[e][code]) {
                size += NGX_HTTP_WEAVEIT_METRICS_LINE;
            }
        }
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_http_weaveit_metrics_header(b->last, b->end,
                  "weaveit_build_info", "gauge",
                  "The WeaveIt module's version, as a label.");
    b->last = ngx_slprintf(b->last, b->end,
                           "weaveit_build_info{version=\"%s\"} 1\n",
                           NGX_HTTP_WEAVEIT_VERSION);

    b->last = ngx_http_weaveit_metrics_requests(b->last, b->end);
    b->last = ngx_http_weaveit_metrics_jobs(b->last, b->end);
    b->last = ngx_http_weaveit_metrics_db(b->last, b->end);

    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;

    return ngx_http_weaveit_send_buf(r, NGX_HTTP_OK, b);
}


static u_char *
ngx_http_weaveit_metrics_requests(u_char *p, u_char *last)
{
    ngx_uint_t                   e, code;
    ngx_atomic_uint_t            n;
    ngx_http_weaveit_metrics_t  *m;

    m = ngx_http_weaveit_metrics;

    p = ngx_http_weaveit_metrics_header(p, last,
            "weaveit_http_requests_total", "counter",
            "Requests answered by WeaveIt locations, by endpoint and status.");

    for (e = 0; e < NGX_HTTP_WEAVEIT_ENDPOINTS; e++) {
        for (code = 0; code < NGX_HTTP_WEAVEIT_METRICS_CODES; code++) {
            n = m->requests[e][code];

            if (n) {
                p = ngx_slprintf(p, last, "weaveit_http_requests_total"
                                 "{endpoint=\"%V\",code=\"%ui\"} %uA\n",
                                 &ngx_http_weaveit_endpoints[e], code, n);
            }
        }
    }

    p = ngx_http_weaveit_metrics_header(p, last,
            "weaveit_video_bytes_sent_total", "counter",
            "Video body bytes sent to clients (headers not included).");
    p = ngx_slprintf(p, last, "weaveit_video_bytes_sent_total %uA\n",
                     m->video_bytes);

    p = ngx_http_weaveit_metrics_header(p, last,
            "weaveit_video_range_requests_total", "counter",
            "Video requests answered with a range (206).");

    return ngx_slprintf(p, last, "weaveit_video_range_requests_total %uA\n",
                        m->video_ranges);
}


static u_char *
ngx_http_weaveit_metrics_jobs(u_char *p, u_char *last)
{
    ngx_uint_t                   i;
    ngx_http_weaveit_metrics_t  *m;

    m = ngx_http_weaveit_metrics;

    p = ngx_http_weaveit_metrics_header(p, last, "weaveit_jobs_total",
            "counter", "Jobs this instance generated, by how they ended "
            "(retried: its result was lost and it runs again).");

    for (i = 0; i < ngx_http_weaveit_job_results; i++) {
        p = ngx_slprintf(p, last, "weaveit_jobs_total{result=\"%s\"} %uA\n",
                         ngx_http_weaveit_job_results_names[i], m->jobs[i]);
    }

    p = ngx_http_weaveit_metrics_histogram(p, last,
                                           ngx_http_weaveit_hist_generation);
    p = ngx_http_weaveit_metrics_histogram(p, last,
                                           ngx_http_weaveit_hist_realtime);

    p = ngx_http_weaveit_metrics_header(p, last,
            "weaveit_videos_expired_total", "counter",
            "Videos this instance deleted for weaveit_video_retention.");
    p = ngx_slprintf(p, last, "weaveit_videos_expired_total %uA\n",
                     m->videos_expired);

    if (!m->fleet_known) {
        return p;
    }

    p = ngx_http_weaveit_metrics_header(p, last, "weaveit_jobs", "gauge",
            "Jobs of the whole fleet by status, as PostgreSQL had them "
            "at most a second ago.");

    for (i = 0; i < NGX_HTTP_WEAVEIT_JOB_STATUSES; i++) {
        p = ngx_slprintf(p, last, "weaveit_jobs{status=\"%s\"} %uA\n",
                         ngx_http_weaveit_job_statuses[i], m->fleet[i]);
    }

    return p;
}


static u_char *
ngx_http_weaveit_metrics_db(u_char *p, u_char *last)
{
    ngx_uint_t                       i;
    ngx_atomic_uint_t                busy, idle, waiting;
    ngx_http_weaveit_metrics_t      *m;
    ngx_http_weaveit_worker_slot_t  *slot;

    m = ngx_http_weaveit_metrics;
    busy = 0;
    idle = 0;
    waiting = 0;

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        slot = &m->workers[i];

        if (slot->pid) {
            busy += slot->busy;
            idle += slot->idle;
            waiting += slot->waiting;
        }
    }

    p = ngx_http_weaveit_metrics_header(p, last, "weaveit_db_connections",
            "gauge", "PostgreSQL connections of all workers' pools "
            "(busy: running a query or connecting).");
    p = ngx_slprintf(p, last, "weaveit_db_connections{state=\"busy\"} %uA\n"
                     "weaveit_db_connections{state=\"idle\"} %uA\n",
                     busy, idle);

    p = ngx_http_weaveit_metrics_header(p, last, "weaveit_db_queue_length",
            "gauge", "Queries waiting for a PostgreSQL connection.");
    p = ngx_slprintf(p, last, "weaveit_db_queue_length %uA\n", waiting);

    p = ngx_http_weaveit_metrics_histogram(p, last,
                                           ngx_http_weaveit_hist_db_wait);

    p = ngx_http_weaveit_metrics_header(p, last, "weaveit_db_errors_total",
            "counter", "Queries that failed: refused, broken connection, "
            "PostgreSQL down or timed out.");

    p = ngx_slprintf(p, last, "weaveit_db_errors_total %uA\n",
                     m->db_errors);

    p = ngx_http_weaveit_metrics_header(p, last,
            "weaveit_db_replica_reads_total", "counter",
            "Reads sent to a replica, by what answered them: the replica, "
            "or the primary after it (no row there yet, or a failure).");

    return ngx_slprintf(p, last,
               "weaveit_db_replica_reads_total{answered_by=\"replica\"} %uA\n"
               "weaveit_db_replica_reads_total{answered_by=\"primary\"} %uA\n",
               m->replica_reads[0], m->replica_reads[1]);
}


static u_char *
ngx_http_weaveit_metrics_histogram(u_char *p, u_char *last,
    ngx_http_weaveit_hist_e h)
{
    ngx_uint_t                         i;
    ngx_atomic_uint_t                  cumulative;
    ngx_http_weaveit_histogram_t      *hist;
    ngx_http_weaveit_histogram_def_t  *def;

    hist = &ngx_http_weaveit_metrics->hists[h];
    def = &ngx_http_weaveit_histograms[h];
    cumulative = 0;

    p = ngx_http_weaveit_metrics_header(p, last, def->name, "histogram",
                                        def->help);

    for (i = 0; i < def->nbounds; i++) {
        cumulative += hist->buckets[i];
        p = ngx_slprintf(p, last, "%s_bucket{le=\"", def->name);
        p = ngx_http_weaveit_metrics_micro(p, last, (ngx_atomic_uint_t)
                   (def->bounds[i] * NGX_HTTP_WEAVEIT_METRICS_MICRO + 0.5));
        p = ngx_slprintf(p, last, "\"} %uA\n", cumulative);
    }

    cumulative += hist->buckets[i];

    p = ngx_slprintf(p, last, "%s_bucket{le=\"+Inf\"} %uA\n%s_sum ",
                     def->name, cumulative, def->name);
    p = ngx_http_weaveit_metrics_micro(p, last, hist->sum);

    return ngx_slprintf(p, last, "\n%s_count %uA\n", def->name,
                        hist->count);
}


static u_char *
ngx_http_weaveit_metrics_header(u_char *p, u_char *last, const char *name,
    const char *type, const char *help)
{
    return ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n",
                        name, help, name, type);
}


/* millionths as a decimal number, without trailing zeros */

static u_char *
ngx_http_weaveit_metrics_micro(u_char *p, u_char *last,
    ngx_atomic_uint_t value)
{
    ngx_atomic_uint_t  fraction;

    p = ngx_slprintf(p, last, "%uA", value / NGX_HTTP_WEAVEIT_METRICS_MICRO);

    fraction = value % NGX_HTTP_WEAVEIT_METRICS_MICRO;

    if (fraction == 0) {
        return p;
    }

    p = ngx_slprintf(p, last, ".%06uA", fraction);

    while (p[-1] == '0') {
        p--;
    }

    return p;
}
