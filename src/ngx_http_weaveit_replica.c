
/*
 * Read replicas.  The reads of requests (a video's lookup and its chunks,
 * a job's status, a wallet's videos and its points) go to a replica in
 * use, round robin; everything else (what writes: POST, the jobs, the
 * ledger, the cleanup; and health) goes to the primary, weaveit_db.
 *
 * Each weaveit_db_replica is an ngx_http_weaveit_pg_conf_t of its own,
 * completed like weaveit_db's (no name is looked up on the event loop),
 * with weaveit_db_replica_pool's max and timeout, and a reserve connection
 * for its lag check; each worker makes one pool of it.
 *
 * Every second each worker asks each replica how far behind it is: 0 when
 * it has replayed all the WAL it received (pg_last_wal_receive_lsn() =
 * pg_last_wal_replay_lsn()), otherwise the age of the last transaction it
 * replayed (pg_last_xact_replay_timestamp()).  The age alone would grow
 * on an idle primary, with nothing to replay.  A server not in recovery
 * (a promoted standby) counts as 0 behind.  A replica that fails the
 * check, or is more than weaveit_db_replica_max_lag behind, is skipped
 * until a check finds it well again; each change of state is logged once
 * (by each worker), the pool's own errors only at info.
 *
 * Read-your-writes: a read that a replica fails, or that finds no row
 * there (a video, a chunk, a job or a wallet it has not replayed yet), runs
 * once more on the primary before its caller hears of it, and a replica
 * that failed one is skipped until its next good check.  So a client that
 * polls right after its POST, or fetches the video of a job it has just
 * seen completed, never gets a 404 or a 503 because of lag.  A wallet's
 * list of videos always has a row: it may be up to max_lag old.
 *
 * A query sent again (a video's chunks after its lookup) goes where its
 * last read was answered: to the same replica while it is in use, or
 * straight to the primary once the primary had to answer, so a video the
 * replica has not replayed yet costs one miss there, not one per chunk.
 */


#include "ngx_http_weaveit.h"


#define NGX_HTTP_WEAVEIT_REPLICA_CHECK   1000


typedef enum {
    ngx_http_weaveit_replica_unchecked = 0,
    ngx_http_weaveit_replica_reading,
    ngx_http_weaveit_replica_lagging,
    ngx_http_weaveit_replica_down
} ngx_http_weaveit_replica_state_e;


typedef struct {
    ngx_http_weaveit_pg_conf_t        *conf;
    ngx_http_weaveit_pg_pool_t        *pool;
    ngx_http_weaveit_pg_query_t        check;
    ngx_event_t                        timer;
    ngx_msec_t                         max_lag;
    ngx_http_weaveit_replica_state_e   state;
} ngx_http_weaveit_replica_t;


struct ngx_http_weaveit_replicas_s {
    ngx_http_weaveit_replica_t        *replicas;
    ngx_uint_t                         n;
    ngx_uint_t                         next;
    ngx_http_weaveit_pg_pool_t        *primary;
};


static ngx_http_weaveit_pg_pool_t *ngx_http_weaveit_replica_pick(
    ngx_http_weaveit_replicas_t *set, ngx_http_weaveit_pg_pool_t *last);
static ngx_http_weaveit_pg_pool_t *ngx_http_weaveit_replica_next(
    ngx_http_weaveit_replicas_t *set);
static ngx_http_weaveit_replica_t *ngx_http_weaveit_replica_find(
    ngx_http_weaveit_replicas_t *set, ngx_http_weaveit_pg_pool_t *pool);
static void ngx_http_weaveit_replica_answered(ngx_http_weaveit_pg_query_t *q);
static void ngx_http_weaveit_replica_failed(ngx_http_weaveit_replicas_t *set,
    ngx_http_weaveit_pg_query_t *q);
static void ngx_http_weaveit_replica_check(ngx_http_weaveit_replica_t *rp);
static void ngx_http_weaveit_replica_check_handler(ngx_event_t *ev);
static void ngx_http_weaveit_replica_checked(ngx_http_weaveit_pg_query_t *q);
static void ngx_http_weaveit_replica_set_state(ngx_http_weaveit_replica_t *rp,
    ngx_http_weaveit_replica_state_e state, ngx_int_t lag,
    const char *error);


/*
 * 0 when the replica has replayed what it received, NULL when it has
 * replayed no transaction yet (the lag is unknown)
 */

static const char  ngx_http_weaveit_replica_lag_sql[] =
    "SELECT CASE WHEN NOT pg_is_in_recovery()"
    "  OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE greatest(0, floor(1000 * extract(epoch FROM"
    "  now() - pg_last_xact_replay_timestamp())))::int8 END";


/* configuration time */


/*
 * weaveit_db_replica <conninfo>: each one a conf of its own, which the
 * pool's setter fills (the command's offset is 0)
 */

char *
ngx_http_weaveit_replica_add(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_weaveit_main_conf_t  *wmcf = conf;

    ngx_http_weaveit_pg_conf_t  *pcf;

    if (wmcf->replica.confs == NULL) {
        wmcf->replica.confs = ngx_array_create(cf->pool, 2,
                                           sizeof(ngx_http_weaveit_pg_conf_t));
        if (wmcf->replica.confs == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    pcf = ngx_array_push(wmcf->replica.confs);
    if (pcf == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(pcf, sizeof(ngx_http_weaveit_pg_conf_t));
    ngx_http_weaveit_pg_conf_unset(pcf);

    return ngx_http_weaveit_pg_set_conninfo(cf, cmd, pcf);
}


/*
 * Before the directives.  Set by the caller's ngx_pcalloc():
 *
 *     rcf->confs = NULL;
 *     rcf->set = NULL;
 */

void
ngx_http_weaveit_replica_conf_unset(ngx_http_weaveit_replica_conf_t *rcf)
{
    ngx_http_weaveit_pg_conf_unset(&rcf->pool);
    rcf->max_lag = NGX_CONF_UNSET_MSEC;
}


/* after the directives, and after the primary's conf */

char *
ngx_http_weaveit_replica_conf_init(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf)
{
    ngx_uint_t                        i;
    ngx_http_weaveit_pg_conf_t       *pcf;
    ngx_http_weaveit_replica_conf_t  *rcf;

    rcf = &wmcf->replica;

    ngx_conf_init_msec_value(rcf->max_lag, 10000);

    if (rcf->confs == NULL) {
        return NGX_CONF_OK;
    }

    pcf = rcf->confs->elts;

    for (i = 0; i < rcf->confs->nelts; i++) {
        pcf[i].max = rcf->pool.max;
        pcf[i].timeout = rcf->pool.timeout;
        pcf[i].prepare = wmcf->db.prepare;
        pcf[i].reserve = 1;
        pcf[i].error_level = NGX_LOG_INFO;

        if (ngx_http_weaveit_pg_conf_init(cf, &pcf[i]) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* a worker's replicas */


/* at worker start, after the primary's pool: each replica's, checked */

ngx_int_t
ngx_http_weaveit_replica_init_process(ngx_cycle_t *cycle,
    ngx_http_weaveit_main_conf_t *wmcf)
{
    ngx_uint_t                    i;
    ngx_http_weaveit_pg_conf_t   *pcf;
    ngx_http_weaveit_replica_t   *rp;
    ngx_http_weaveit_replicas_t  *set;

    if (wmcf->replica.confs == NULL || wmcf->pool == NULL) {
        return NGX_OK;
    }

    set = ngx_pcalloc(cycle->pool, sizeof(ngx_http_weaveit_replicas_t));
    if (set == NULL) {
        return NGX_ERROR;
    }

    set->n = wmcf->replica.confs->nelts;
    set->primary = wmcf->pool;
    set->replicas = ngx_pcalloc(cycle->pool,
                                set->n * sizeof(ngx_http_weaveit_replica_t));
    if (set->replicas == NULL) {
        return NGX_ERROR;
    }

    pcf = wmcf->replica.confs->elts;

    for (i = 0; i < set->n; i++) {
        rp = &set->replicas[i];

        rp->conf = &pcf[i];
        rp->max_lag = wmcf->replica.max_lag;
        rp->pool = ngx_http_weaveit_pg_pool_create(cycle, rp->conf);
        if (rp->pool == NULL) {
            return NGX_ERROR;
        }

        rp->timer.handler = ngx_http_weaveit_replica_check_handler;
        rp->timer.data = rp;
        rp->timer.log = cycle->log;
        rp->timer.cancelable = 1;

        /* the check must not hold up a worker's shutdown either */

        rp->check.timer.cancelable = 1;

        ngx_http_weaveit_replica_check(rp);
    }

    wmcf->replica.set = set;

    return NGX_OK;
}


void
ngx_http_weaveit_replica_exit_process(ngx_http_weaveit_main_conf_t *wmcf)
{
    ngx_uint_t                    i;
    ngx_http_weaveit_replicas_t  *set;

    set = wmcf->replica.set;
    if (set == NULL) {
        return;
    }

    for (i = 0; i < set->n; i++) {
        ngx_http_weaveit_pg_pool_destroy(set->replicas[i].pool);
    }
}


/* the replicas this worker reads from now */

ngx_uint_t
ngx_http_weaveit_replica_in_use(ngx_http_weaveit_main_conf_t *wmcf)
{
    ngx_uint_t                    i, n;
    ngx_http_weaveit_replicas_t  *set;

    set = wmcf->replica.set;
    n = 0;

    for (i = 0; set && i < set->n; i++) {
        n += (set->replicas[i].state == ngx_http_weaveit_replica_reading);
    }

    return n;
}


/* reads */


/*
 * Sends a read to a replica in use, or to the primary if none is or if
 * the query's last read needed the primary; the caller's handler gets the
 * final answer, as from ngx_http_weaveit_pg_query().
 */

ngx_int_t
ngx_http_weaveit_replica_read(ngx_http_weaveit_main_conf_t *wmcf,
    ngx_http_weaveit_pg_query_t *q, ngx_pool_t *owner)
{
    ngx_http_weaveit_pg_pool_t  *pool;

    pool = wmcf->replica.set
           ? ngx_http_weaveit_replica_pick(wmcf->replica.set, q->read_pool)
           : NULL;

    if (pool == NULL) {
        return ngx_http_weaveit_pg_query(wmcf->pool, q, owner);
    }

    q->read_handler = q->handler;
    q->handler = ngx_http_weaveit_replica_answered;

    return ngx_http_weaveit_pg_query(pool, q, owner);
}


/*
 * "last" is the pool that answered the query's last read: NULL (the
 * primary) if that was the primary, the same replica if it is still in
 * use, otherwise the next one in use
 */

static ngx_http_weaveit_pg_pool_t *
ngx_http_weaveit_replica_pick(ngx_http_weaveit_replicas_t *set,
    ngx_http_weaveit_pg_pool_t *last)
{
    ngx_http_weaveit_replica_t  *rp;

    if (last == set->primary) {
        return NULL;
    }

    rp = ngx_http_weaveit_replica_find(set, last);

    if (rp && rp->state == ngx_http_weaveit_replica_reading) {
        return last;
    }

    return ngx_http_weaveit_replica_next(set);
}


static ngx_http_weaveit_pg_pool_t *
ngx_http_weaveit_replica_next(ngx_http_weaveit_replicas_t *set)
{
    ngx_uint_t                   i, k;
    ngx_http_weaveit_replica_t  *rp;

    for (i = 0; i < set->n; i++) {
        k = (set->next + i) % set->n;
        rp = &set->replicas[k];

        if (rp->state == ngx_http_weaveit_replica_reading) {
            set->next = (k + 1) % set->n;
            return rp->pool;
        }
    }

    return NULL;
}


/* a replica's answer: the caller's, unless the primary is to be asked */

static void
ngx_http_weaveit_replica_answered(ngx_http_weaveit_pg_query_t *q)
{
    ngx_http_weaveit_replicas_t   *set;
    ngx_http_weaveit_main_conf_t  *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_weaveit_module);
    set = wmcf->replica.set;

    q->handler = q->read_handler;
    q->read_pool = q->pool;

    if (q->pool == set->primary
        || (q->error == NULL && PQntuples(q->result) > 0))
    {
        ngx_http_weaveit_metrics_replica_read(q->pool == set->primary);
        q->handler(q);
        return;
    }

    if (q->error) {
        ngx_http_weaveit_replica_failed(set, q);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, q->log, 0,
                   "weaveit: read again on the primary: %s",
                   q->error ? q->error : "no row on the replica");

    /* the owner's cleanup is in place since the first send */

    q->handler = ngx_http_weaveit_replica_answered;

    (void) ngx_http_weaveit_pg_query(set->primary, q, NULL);
}


static void
ngx_http_weaveit_replica_failed(ngx_http_weaveit_replicas_t *set,
    ngx_http_weaveit_pg_query_t *q)
{
    ngx_http_weaveit_replica_t  *rp;

    rp = ngx_http_weaveit_replica_find(set, q->pool);

    if (rp) {
        ngx_http_weaveit_replica_set_state(rp, ngx_http_weaveit_replica_down,
                                           0, q->error);
    }
}


static ngx_http_weaveit_replica_t *
ngx_http_weaveit_replica_find(ngx_http_weaveit_replicas_t *set,
    ngx_http_weaveit_pg_pool_t *pool)
{
    ngx_uint_t  i;

    for (i = 0; i < set->n; i++) {
        if (set->replicas[i].pool == pool) {
            return &set->replicas[i];
        }
    }

    return NULL;
}


/* the lag check */


static void
ngx_http_weaveit_replica_check(ngx_http_weaveit_replica_t *rp)
{
    ngx_http_weaveit_pg_query_t  *q;

    q = &rp->check;
    q->sql = ngx_http_weaveit_replica_lag_sql;
    q->handler = ngx_http_weaveit_replica_checked;
    q->data = rp;
    q->log = ngx_cycle->log;

    /* first in the queue, and a reserve connection if all are busy */

    q->priority = 1;

    (void) ngx_http_weaveit_pg_query(rp->pool, q, NULL);
}


static void
ngx_http_weaveit_replica_check_handler(ngx_event_t *ev)
{
    ngx_http_weaveit_replica_check(ev->data);
}


static void
ngx_http_weaveit_replica_checked(ngx_http_weaveit_pg_query_t *q)
{
    ngx_int_t                    lag;
    ngx_http_weaveit_replica_t  *rp;

    rp = q->data;

    if (q->error) {
        ngx_http_weaveit_replica_set_state(rp, ngx_http_weaveit_replica_down,
                                           0, q->error);

    } else if (PQntuples(q->result) != 1 || PQgetisnull(q->result, 0, 0)) {
        ngx_http_weaveit_replica_set_state(rp,
                                           ngx_http_weaveit_replica_lagging,
                                           NGX_ERROR, NULL);

    } else {
        lag = ngx_atoi((u_char *) PQgetvalue(q->result, 0, 0),
                       PQgetlength(q->result, 0, 0));

        ngx_http_weaveit_replica_set_state(rp,
            lag != NGX_ERROR && (ngx_msec_t) lag <= rp->max_lag
            ? ngx_http_weaveit_replica_reading
            : ngx_http_weaveit_replica_lagging, lag, NULL);
    }

    if (!ngx_exiting && !ngx_terminate) {
        ngx_add_timer(&rp->timer, NGX_HTTP_WEAVEIT_REPLICA_CHECK);
    }
}


/* "lag" in ms, NGX_ERROR unknown; "error" why it is down */

static void
ngx_http_weaveit_replica_set_state(ngx_http_weaveit_replica_t *rp,
    ngx_http_weaveit_replica_state_e state, ngx_int_t lag, const char *error)
{
    if (rp->state == state) {
        return;
    }

    rp->state = state;

    switch (state) {

    case ngx_http_weaveit_replica_reading:
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "weaveit: replica %V in use, %i ms behind",
                      &rp->conf->target, lag);
        break;

    case ngx_http_weaveit_replica_lagging:
        if (lag == NGX_ERROR) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "weaveit: replica %V skipped: its lag is unknown "
                          "(no transaction replayed yet)",
                          &rp->conf->target);

        } else {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "weaveit: replica %V skipped: %i ms behind, "
                          "more than weaveit_db_replica_max_lag",
                          &rp->conf->target, lag);
        }
        break;

    default:
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "weaveit: replica %V skipped: %s",
                      &rp->conf->target, error);
    }
}
