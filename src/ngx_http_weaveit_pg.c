
/*
 * A per-worker pool of non-blocking libpq connections driven by the nginx
 * event loop.
 *
 * Configuration and instance are apart.  An ngx_http_weaveit_pg_conf_t is
 * what the directives say about one database.  Its directives find it at
 * cmd->offset in the main conf: ngx_http_weaveit_pg_set_conninfo(),
 * ngx_http_weaveit_pg_set_pool(), and ngx_conf_set_flag_slot for
 * "prepare".  ngx_http_weaveit_pg_conf_init() then sets the defaults and
 * turns the conninfo into keywords and values in three steps: parse
 * (libpq's parser), resolve (the host name, once: libpq would call a
 * blocking getaddrinfo() on every connect) and build.  The conf is
 * read-only from then on.  An ngx_http_weaveit_pg_pool_t is one worker's
 * instance of a conf, made by ngx_http_weaveit_pg_pool_create() at worker
 * start: it adds what only the worker knows (its pid, in the application
 * name), connects at once and, if the conf has setup SQL (the module
 * gives the schema), runs it on its first connection before any query.
 *
 * A second database, a read replica say, is one more conf, its directives
 * as command entries with these setters and its offset, one more
 * ngx_http_weaveit_pg_conf_init() and one more pool created at worker
 * start and destroyed at exit, without setup SQL
 * (ngx_http_weaveit_replica.c).  Its errors may be logged at a lower
 * level ("error_level") when someone above tells them once.
 *
 * Each connection's socket is wrapped in an ngx_connection_t.  Its read
 * event is registered level-triggered for the connection's whole life: one
 * PQconsumeInput() may leave bytes in the socket, and an edge-triggered
 * event would then never fire again.  The write event is registered only
 * while libpq has something to send (connecting, or PQflush() returned 1).
 *
 * Queries wait in a FIFO until a connection is idle; connections are opened
 * on demand up to "max".  Every query carries one timer covering its wait
 * and its execution: when it fires the caller gets an error, and a
 * connection caught mid-query is closed, since its state is unknown.
 *
 * Priority queries (job upkeep: a lease renewal late behind a burst of
 * downloads hands a running job to another worker) have a FIFO of their
 * own, served first, and "reserve" connections beyond "max": other
 * queries never run on more than "max" connections at once, so a priority
 * query finds an idle connection or room to open one as long as no more
 * than "reserve" of them run at once.  A priority lane alone would still
 * wait for a slow client statement on every connection (up to the
 * statement_timeout); a connection kept for upkeep alone would wait behind
 * the upkeep's own slow statement (storing a large video).
 * Handlers are never called from inside ngx_http_weaveit_pg_query(): the
 * dispatch runs from a posted event, so callers need not be reentrant.
 *
 * An error is written where it happens, into that function's stack, and
 * passed down: a connection is freed before those who depended on it are
 * told, so its reason is never kept in it.  A query keeps its own copy.
 *
 * Whoever watches the pool (the metrics) gets its numbers through the
 * conf's observer, a table of handlers: the pool names nobody above it.
 *
 * A query with a name is prepared by each connection the first time that
 * connection runs it (one more round trip), then only bound and executed;
 * a new connection starts with none.  weaveit_db_prepare off sends every
 * query unnamed, for poolers that do not keep prepared statements.  Should
 * the server not know a statement the connection prepared (SQLSTATE 26000,
 * behind a pooler in transaction mode or after DISCARD ALL), or know one
 * of its name already (42P05, another client's through a pooler), the
 * connection forgets its prepared statements and the query runs once more,
 * unnamed.
 */


#include "ngx_http_weaveit.h"
#include "ngx_http_weaveit_paths.h"

#include <netdb.h>
#include <pwd.h>
#include <arpa/inet.h>


#define NGX_HTTP_WEAVEIT_PG_PREPARED   8


typedef enum {
    ngx_http_weaveit_pg_connecting = 0,
    ngx_http_weaveit_pg_setting_up,
    ngx_http_weaveit_pg_idle,
    ngx_http_weaveit_pg_busy
} ngx_http_weaveit_pg_state_e;


struct ngx_http_weaveit_pg_conn_s {
    ngx_queue_t                    queue;
    PGconn                        *pgconn;
    ngx_connection_t              *c;
    ngx_http_weaveit_pg_pool_t    *pool;
    ngx_http_weaveit_pg_query_t   *query;
    PGresult                      *result;
    ngx_http_weaveit_pg_state_e    state;
    ino_t                          socket_ino;
    const char                    *prepared[NGX_HTTP_WEAVEIT_PG_PREPARED];
    const char                    *preparing;
    unsigned                       flushing:1;
    unsigned                       client:1;
};


struct ngx_http_weaveit_pg_pool_s {
    ngx_http_weaveit_pg_conf_t    *conf;

    /* the conf's, and the worker's fallback_application_name */
    const char                   **keywords;
    const char                   **values;

    ngx_log_t                     *log;
    ngx_queue_t                    idle;
    ngx_queue_t                    active;
    ngx_queue_t                    waiting;
    ngx_queue_t                    waiting_priority;
    ngx_uint_t                     nconns;
    ngx_uint_t                     nconnecting;
    ngx_uint_t                     nwaiting;
    ngx_uint_t                     nwaiting_priority;

    /* connections running a query that is not a priority one */
    ngx_uint_t                     nclients;
    ngx_event_t                    dispatch;
    unsigned                       set_up:1;
    unsigned                       result_taken:1;
};


static char *ngx_http_weaveit_pg_conninfo_text(ngx_conf_t *cf,
    ngx_http_weaveit_pg_conf_t *pcf);
static char **ngx_http_weaveit_pg_environment(ngx_conf_t *cf);
static const char *ngx_http_weaveit_pg_getenv(void *data, const char *name);
static char *ngx_http_weaveit_pg_read_file(void *data, const char *path);
static ngx_int_t ngx_http_weaveit_pg_resolve(void *data, const char *host,
    char *addrs, size_t size, char *error);
static const char *ngx_http_weaveit_pg_workers_home(ngx_conf_t *cf);
static char *ngx_http_weaveit_pg_build_conninfo(ngx_conf_t *cf,
    ngx_http_weaveit_pg_conf_t *pcf, ngx_http_weaveit_conninfo_t *ci);
static char *ngx_http_weaveit_pg_target(ngx_conf_t *cf,
    ngx_http_weaveit_pg_conf_t *pcf);
static char *ngx_http_weaveit_pg_statement_timeout(ngx_pool_t *pool,
    ngx_msec_t timeout);
static char *ngx_http_weaveit_pg_strdup(ngx_pool_t *pool, const char *s);
static ngx_int_t ngx_http_weaveit_pg_worker_conninfo(
    ngx_http_weaveit_pg_pool_t *pool, ngx_pool_t *mem);
static void ngx_http_weaveit_pg_notice(void *arg, const char *message);
static void ngx_http_weaveit_pg_post_dispatch(
    ngx_http_weaveit_pg_pool_t *pool);
static void ngx_http_weaveit_pg_dispatch_handler(ngx_event_t *ev);
static ngx_http_weaveit_pg_query_t *ngx_http_weaveit_pg_next_query(
    ngx_http_weaveit_pg_pool_t *pool);
static ngx_uint_t ngx_http_weaveit_pg_runnable(
    ngx_http_weaveit_pg_pool_t *pool);
static void ngx_http_weaveit_pg_unqueue(ngx_http_weaveit_pg_query_t *q);
static ngx_int_t ngx_http_weaveit_pg_connect(
    ngx_http_weaveit_pg_pool_t *pool);
static ngx_int_t ngx_http_weaveit_pg_wrap_socket(
    ngx_http_weaveit_pg_conn_t *pc);
static void ngx_http_weaveit_pg_unwrap_socket(ngx_http_weaveit_pg_conn_t *pc);
static ngx_uint_t ngx_http_weaveit_pg_socket_changed(
    ngx_http_weaveit_pg_conn_t *pc);
static ngx_int_t ngx_http_weaveit_pg_want_write(
    ngx_http_weaveit_pg_conn_t *pc, ngx_uint_t want);
static void ngx_http_weaveit_pg_connect_poll(ngx_http_weaveit_pg_conn_t *pc);
static void ngx_http_weaveit_pg_connected(ngx_http_weaveit_pg_conn_t *pc);
static void ngx_http_weaveit_pg_setup(ngx_http_weaveit_pg_conn_t *pc);
static void ngx_http_weaveit_pg_setup_done(ngx_http_weaveit_pg_conn_t *pc,
    PGresult *res);
static void ngx_http_weaveit_pg_send(ngx_http_weaveit_pg_conn_t *pc,
    ngx_http_weaveit_pg_query_t *q);
static ngx_uint_t ngx_http_weaveit_pg_prepared_slot(
    ngx_http_weaveit_pg_conn_t *pc, const char *name);
static void ngx_http_weaveit_pg_send_query(ngx_http_weaveit_pg_conn_t *pc,
    ngx_http_weaveit_pg_query_t *q, ngx_uint_t prepared);
static void ngx_http_weaveit_pg_prepared(ngx_http_weaveit_pg_conn_t *pc,
    const char *error);
static void ngx_http_weaveit_pg_sent(ngx_http_weaveit_pg_conn_t *pc,
    int sent, const char *what);
static ngx_int_t ngx_http_weaveit_pg_flush(ngx_http_weaveit_pg_conn_t *pc);
static void ngx_http_weaveit_pg_read_handler(ngx_event_t *rev);
static void ngx_http_weaveit_pg_write_handler(ngx_event_t *wev);
static void ngx_http_weaveit_pg_collect(ngx_http_weaveit_pg_conn_t *pc);
static void ngx_http_weaveit_pg_complete(ngx_http_weaveit_pg_conn_t *pc);
static ngx_uint_t ngx_http_weaveit_pg_statement_lost(
    ngx_http_weaveit_pg_conn_t *pc, PGresult *res);
static void ngx_http_weaveit_pg_run_unnamed(ngx_http_weaveit_pg_conn_t *pc,
    ngx_http_weaveit_pg_query_t *q, const char *error);
static const char *ngx_http_weaveit_pg_result_error(PGresult *res,
    char *error);
static void ngx_http_weaveit_pg_make_idle(ngx_http_weaveit_pg_conn_t *pc);
static void ngx_http_weaveit_pg_end_client(ngx_http_weaveit_pg_conn_t *pc);
static void ngx_http_weaveit_pg_set_log(ngx_http_weaveit_pg_conn_t *pc,
    ngx_log_t *log);
static void ngx_http_weaveit_pg_close(ngx_http_weaveit_pg_conn_t *pc,
    const char *reason);
static void ngx_http_weaveit_pg_fail_waiting(ngx_http_weaveit_pg_pool_t *pool,
    const char *error);
static void ngx_http_weaveit_pg_take_all(ngx_queue_t *to, ngx_queue_t *from);
static void ngx_http_weaveit_pg_finish(ngx_http_weaveit_pg_query_t *q,
    PGresult *res, const char *error);
static void ngx_http_weaveit_pg_query_timeout(ngx_event_t *ev);
static void ngx_http_weaveit_pg_cleanup(void *data);
static void ngx_http_weaveit_pg_close_failed(ngx_http_weaveit_pg_conn_t *pc,
    const char *what);
static void ngx_http_weaveit_pg_report(ngx_http_weaveit_pg_pool_t *pool);
static const char *ngx_http_weaveit_pg_error(char *error, const char *prefix,
    const char *message);


/* configuration time */


/*
 * The directives of one database take its ngx_http_weaveit_pg_conf_t at
 * cmd->offset in the module's main conf.
 */

char *
ngx_http_weaveit_pg_set_conninfo(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t                   *value;
    ngx_http_weaveit_pg_conf_t  *pcf;

    pcf = (ngx_http_weaveit_pg_conf_t *) ((char *) conf + cmd->offset);

    if (pcf->conninfo.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    pcf->conninfo = value[1];

    /* for the messages of ngx_http_weaveit_pg_conf_init() */

    pcf->directive = cmd->name;

    return NGX_CONF_OK;
}


/* weaveit_db_pool max=N [timeout=T] */

char *
ngx_http_weaveit_pg_set_pool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_int_t                    max;
    ngx_str_t                   *value, s;
    ngx_msec_t                   timeout;
    ngx_uint_t                   i;
    ngx_http_weaveit_pg_conf_t  *pcf;

    pcf = (ngx_http_weaveit_pg_conf_t *) ((char *) conf + cmd->offset);

    if (pcf->max != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    max = NGX_ERROR;
    timeout = NGX_CONF_UNSET_MSEC;

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

    pcf->max = max;
    pcf->timeout = timeout;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\"",
                       &value[i], &cmd->name);
    return NGX_CONF_ERROR;
}


/*
 * Before the directives.  Set by the caller's ngx_pcalloc():
 *
 *     pcf->conninfo = { 0, NULL };
 *     pcf->directive = { 0, NULL };
 *     pcf->keywords = NULL;
 *     pcf->values = NULL;
 *     pcf->setup_sql = NULL;
 *     pcf->setup_name = NULL;
 *     pcf->reserve = 0;
 */

void
ngx_http_weaveit_pg_conf_unset(ngx_http_weaveit_pg_conf_t *pcf)
{
    pcf->max = NGX_CONF_UNSET_UINT;
    pcf->timeout = NGX_CONF_UNSET_MSEC;
    pcf->prepare = NGX_CONF_UNSET;
    pcf->error_level = NGX_LOG_ERR;
}


/*
 * After the directives: the defaults, then the conninfo completed as
 * libpq would complete it in a worker (ngx_http_weaveit_conninfo.c), with
 * the environment nginx gives its workers, and host names resolved here,
 * once: libpq would call a blocking getaddrinfo() on every connect.
 */

char *
ngx_http_weaveit_pg_conf_init(ngx_conf_t *cf, ngx_http_weaveit_pg_conf_t *pcf)
{
    char                             *rv, *conninfo;
    char                              error[NGX_HTTP_WEAVEIT_PG_ERRLEN];
    char                            **environment;
    ngx_http_weaveit_conninfo_t       ci;
    ngx_http_weaveit_conninfo_env_t   env;

    ngx_conf_init_uint_value(pcf->max, 2);
    ngx_conf_init_msec_value(pcf->timeout, 5000);
    ngx_conf_init_value(pcf->prepare, 1);

    conninfo = ngx_http_weaveit_pg_conninfo_text(cf, pcf);
    environment = ngx_http_weaveit_pg_environment(cf);
    if (conninfo == NULL || environment == NULL) {
        return NGX_CONF_ERROR;
    }

    env.getenv = ngx_http_weaveit_pg_getenv;
    env.read_file = ngx_http_weaveit_pg_read_file;
    env.resolve = ngx_http_weaveit_pg_resolve;
    env.data = environment;
    env.home = ngx_http_weaveit_pg_workers_home(cf);
    env.sysconfdir = NGX_HTTP_WEAVEIT_PG_SYSCONFDIR;

    if (ngx_http_weaveit_conninfo_complete(&ci, conninfo, &env, error)
        == NGX_OK)
    {
        rv = ngx_http_weaveit_pg_build_conninfo(cf, pcf, &ci);

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\" value \"%V\": %s",
                           &pcf->directive, &pcf->conninfo, error);
        rv = NGX_CONF_ERROR;
    }

    ngx_http_weaveit_conninfo_free(&ci);
    ngx_free(environment);

    return rv;
}


static char *
ngx_http_weaveit_pg_conninfo_text(ngx_conf_t *cf,
    ngx_http_weaveit_pg_conf_t *pcf)
{
    char  *conninfo;

    conninfo = ngx_pnalloc(cf->pool, pcf->conninfo.len + 1);
    if (conninfo == NULL) {
        return NULL;
    }

    (void) ngx_cpystrn((u_char *) conninfo, pcf->conninfo.data,
                       pcf->conninfo.len + 1);

    return conninfo;
}


/*
 * What a worker's environment will hold: the "env" directives read so far
 * (they belong before the http block), NULL-terminated, to ngx_free().
 */

static char **
ngx_http_weaveit_pg_environment(ngx_conf_t *cf)
{
    ngx_uint_t  n;

    n = 0;

    return ngx_set_environment(cf->cycle, &n);
}


static const char *
ngx_http_weaveit_pg_getenv(void *data, const char *name)
{
    char   **environment = data;

    size_t   len;

    len = ngx_strlen(name);

    for ( /* void */ ; *environment; environment++) {
        if (ngx_strncmp(*environment, name, len) == 0
            && (*environment)[len] == '=')
        {
            return *environment + len + 1;
        }
    }

    return NULL;
}


/* a service file, at configuration time */

static char *
ngx_http_weaveit_pg_read_file(void *data, const char *path)
{
    char         *text;
    FILE         *f;
    size_t        n;
    struct stat   st;

    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }

    text = NULL;

    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        text = malloc(st.st_size + 1);

        if (text != NULL) {
            n = fread(text, 1, st.st_size, f);
            text[n] = '\0';
        }
    }

    fclose(f);

    return text;
}


/* libpq tries every address of a host in turn: all of them, in order */

static ngx_int_t
ngx_http_weaveit_pg_resolve(void *data, const char *host, char *addrs,
    size_t size, char *error)
{
    int               rc;
    char              addr[NGX_SOCKADDR_STRLEN];
    u_char           *p, *last;
    const void       *sin;
    struct addrinfo   hints, *res, *ai;

    ngx_memzero(&hints, sizeof(struct addrinfo));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        *ngx_snprintf((u_char *) error, NGX_HTTP_WEAVEIT_PG_ERRLEN - 1,
                      "host \"%s\" not found: %s", host, gai_strerror(rc))
            = '\0';
        return NGX_ERROR;
    }

    p = (u_char *) addrs;
    last = p + size - 1;

    for (ai = res; ai; ai = ai->ai_next) {

        if (ai->ai_family == AF_INET6) {
            sin = &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr;

        } else {
            sin = &((struct sockaddr_in *) ai->ai_addr)->sin_addr;
        }

        /* the addresses that fit: a host has a few */

        if (inet_ntop(ai->ai_family, sin, addr, sizeof(addr)) == NULL
            || p + 1 + ngx_strlen(addr) > last)
        {
            continue;
        }

        if (p != (u_char *) addrs) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, addr, ngx_strlen(addr));
    }

    freeaddrinfo(res);

    *p = '\0';

    return NGX_OK;
}


/* libpq looks for ~/.pg_service.conf in the home of the user it runs as */

static const char *
ngx_http_weaveit_pg_workers_home(ngx_conf_t *cf)
{
    struct passwd    *pw;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    if (geteuid() != 0) {
        pw = getpwuid(geteuid());

    } else {
        pw = getpwnam(ccf->username ? ccf->username : NGX_USER);
    }

    return pw ? ngx_http_weaveit_pg_strdup(cf->pool, pw->pw_dir) : NULL;
}


/*
 * The options as completed but "service" (its options are in), and unless
 * they set "options", a statement_timeout of the pool timeout: it bounds
 * every statement on the server too.  What only a worker knows is added
 * by the pool (ngx_http_weaveit_pg_worker_conninfo()).
 */

static char *
ngx_http_weaveit_pg_build_conninfo(ngx_conf_t *cf,
    ngx_http_weaveit_pg_conf_t *pcf, ngx_http_weaveit_conninfo_t *ci)
{
    ngx_uint_t   i, n;
    const char  *keyword;

    /* room for every option libpq knows, options and NULL */

    for (n = 0; ci->options[n].keyword; n++) { /* void */ }

    pcf->keywords = ngx_pcalloc(cf->pool, (n + 2) * sizeof(char *));
    pcf->values = ngx_pcalloc(cf->pool, (n + 2) * sizeof(char *));
    if (pcf->keywords == NULL || pcf->values == NULL) {
        return NGX_CONF_ERROR;
    }

    n = 0;

    for (i = 0; ci->options[i].keyword; i++) {
        keyword = ci->options[i].keyword;

        if (ngx_http_weaveit_conninfo_value(ci, keyword) == NULL
            || ngx_strcmp(keyword, "service") == 0)
        {
            continue;
        }

        pcf->keywords[n] = ngx_http_weaveit_pg_strdup(cf->pool, keyword);
        pcf->values[n] = ngx_http_weaveit_pg_strdup(cf->pool,
                                                    ci->values[i]);
        if (pcf->keywords[n] == NULL || pcf->values[n] == NULL) {
            return NGX_CONF_ERROR;
        }

        n++;
    }

    if (ngx_http_weaveit_conninfo_value(ci, "options") == NULL) {
        pcf->keywords[n] = "options";
        pcf->values[n] = ngx_http_weaveit_pg_statement_timeout(cf->pool,
                                                               pcf->timeout);
        if (pcf->values[n] == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return ngx_http_weaveit_pg_target(cf, pcf);
}


/*
 * Where connects go, as libpq is told, for the logs: every host name with
 * its hostaddr means no name is looked up on the event loop.  No user, no
 * password.
 */

static char *
ngx_http_weaveit_pg_target(ngx_conf_t *cf, ngx_http_weaveit_pg_conf_t *pcf)
{
    u_char      target[NGX_HTTP_WEAVEIT_PG_ERRLEN], *p, *last;
    ngx_uint_t  i;

    p = target;
    last = target + sizeof(target);

    for (i = 0; pcf->keywords[i]; i++) {
        if (ngx_strcmp(pcf->keywords[i], "host") == 0
            || ngx_strcmp(pcf->keywords[i], "hostaddr") == 0
            || ngx_strcmp(pcf->keywords[i], "port") == 0)
        {
            p = ngx_slprintf(p, last, "%s%s=%s", p == target ? "" : " ",
                             pcf->keywords[i], pcf->values[i]);
        }
    }

    if (p == target) {
        p = ngx_slprintf(p, last, "libpq's default socket");
    }

    pcf->target.len = p - target;
    pcf->target.data = ngx_pnalloc(cf->pool, pcf->target.len);
    if (pcf->target.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(pcf->target.data, target, pcf->target.len);

    return NGX_CONF_OK;
}


static char *
ngx_http_weaveit_pg_statement_timeout(ngx_pool_t *pool, ngx_msec_t timeout)
{
    u_char  *p;

    p = ngx_pnalloc(pool, sizeof("-c statement_timeout=") - 1
                          + NGX_INT_T_LEN + 1);
    if (p != NULL) {
        (void) ngx_sprintf(p, "-c statement_timeout=%M%Z", timeout);
    }

    return (char *) p;
}


static char *
ngx_http_weaveit_pg_strdup(ngx_pool_t *pool, const char *s)
{
    size_t   len;
    char    *p;

    len = ngx_strlen(s) + 1;

    p = ngx_pnalloc(pool, len);
    if (p != NULL) {
        ngx_memcpy(p, s, len);
    }

    return p;
}


/* a worker's pool */


/*
 * Called at worker start.  The pool lives in the cycle's memory and keeps
 * a pointer to "conf", which must live as long.  NULL: out of memory.
 */

ngx_http_weaveit_pg_pool_t *
ngx_http_weaveit_pg_pool_create(ngx_cycle_t *cycle,
    ngx_http_weaveit_pg_conf_t *conf)
{
    ngx_http_weaveit_pg_pool_t  *pool;

    pool = ngx_pcalloc(cycle->pool, sizeof(ngx_http_weaveit_pg_pool_t));
    if (pool == NULL) {
        return NULL;
    }

    pool->conf = conf;
    pool->log = cycle->log;
    ngx_queue_init(&pool->idle);
    ngx_queue_init(&pool->active);
    ngx_queue_init(&pool->waiting);
    ngx_queue_init(&pool->waiting_priority);

    pool->dispatch.handler = ngx_http_weaveit_pg_dispatch_handler;
    pool->dispatch.data = pool;
    pool->dispatch.log = cycle->log;

    /* a pool with nothing to run on its first connection is set up */

    pool->set_up = (conf->setup_sql == NULL);

    if (ngx_http_weaveit_pg_worker_conninfo(pool, cycle->pool) != NGX_OK) {
        return NULL;
    }

    ngx_log_error(NGX_LOG_INFO, pool->log, 0, "weaveit: PostgreSQL at %V",
                  &conf->target);

    /*
     * Connect at once, so the setup has run (the schema is in place) and a
     * misconfigured database is in error_log before the first request.
     */

    (void) ngx_http_weaveit_pg_connect(pool);

    return pool;
}


/*
 * The pg conf's keywords and values, and what only a worker knows: its pid
 * in fallback_application_name, "weaveit/PID", which tells the workers
 * apart in pg_stat_activity.  Last, it overrides one in the conninfo.
 */

static ngx_int_t
ngx_http_weaveit_pg_worker_conninfo(ngx_http_weaveit_pg_pool_t *pool,
    ngx_pool_t *mem)
{
    u_char      *name;
    size_t       size;
    ngx_uint_t   n;

    for (n = 0; pool->conf->keywords[n]; n++) { /* void */ }

    size = (n + 2) * sizeof(char *);

    pool->keywords = ngx_palloc(mem, size);
    pool->values = ngx_palloc(mem, size);
    name = ngx_pnalloc(mem, sizeof("weaveit/") + NGX_INT_T_LEN);
    if (pool->keywords == NULL || pool->values == NULL || name == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(pool->keywords, pool->conf->keywords, n * sizeof(char *));
    ngx_memcpy(pool->values, pool->conf->values, n * sizeof(char *));

    (void) ngx_sprintf(name, "weaveit/%P%Z", ngx_pid);

    pool->keywords[n] = "fallback_application_name";
    pool->values[n] = (char *) name;
    pool->keywords[n + 1] = NULL;
    pool->values[n + 1] = NULL;

    return NGX_OK;
}


/* at worker exit: the connections are closed, no query is called back */

void
ngx_http_weaveit_pg_pool_destroy(ngx_http_weaveit_pg_pool_t *pool)
{
    ngx_queue_t  *q;

    while (!ngx_queue_empty(&pool->idle)) {
        q = ngx_queue_head(&pool->idle);
        ngx_http_weaveit_pg_close(
            ngx_queue_data(q, ngx_http_weaveit_pg_conn_t, queue), NULL);
    }

    while (!ngx_queue_empty(&pool->active)) {
        q = ngx_queue_head(&pool->active);
        ngx_http_weaveit_pg_close(
            ngx_queue_data(q, ngx_http_weaveit_pg_conn_t, queue), NULL);
    }

    if (pool->dispatch.posted) {
        ngx_delete_posted_event(&pool->dispatch);
    }

    if (pool->conf->observer) {
        pool->conf->observer->changed(0, 0, 0);
    }
}


/* the query API */


ngx_int_t
ngx_http_weaveit_pg_query(ngx_http_weaveit_pg_pool_t *pool,
    ngx_http_weaveit_pg_query_t *q, ngx_pool_t *owner)
{
    ngx_pool_cleanup_t  *cln;

    if (owner && !q->cleanup_added) {
        cln = ngx_pool_cleanup_add(owner, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_weaveit_pg_cleanup;
        cln->data = q;
        q->cleanup_added = 1;
    }

    q->pool = pool;
    q->result = NULL;
    q->error = NULL;
    q->conn = NULL;
    q->timed_out = 0;
    q->retried = 0;

    q->timer.handler = ngx_http_weaveit_pg_query_timeout;
    q->timer.data = q;
    q->timer.log = q->log;
    ngx_add_timer(&q->timer, pool->conf->timeout);

    if (q->priority) {
        ngx_queue_insert_tail(&pool->waiting_priority, &q->queue);
        pool->nwaiting_priority++;

    } else {
        ngx_queue_insert_tail(&pool->waiting, &q->queue);
    }

    q->waiting = 1;
    q->queued = ngx_current_msec;
    pool->nwaiting++;

    ngx_http_weaveit_pg_post_dispatch(pool);

    return NGX_OK;
}


/*
 * The caller no longer wants the answer.  A query still running keeps its
 * connection: the result is drained and dropped, within the pool timeout.
 */

void
ngx_http_weaveit_pg_cancel(ngx_http_weaveit_pg_query_t *q)
{
    ngx_http_weaveit_pg_conn_t  *pc;

    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }

    if (q->waiting) {
        ngx_http_weaveit_pg_unqueue(q);
        ngx_http_weaveit_pg_report(q->pool);
    }

    pc = q->conn;

    if (pc) {
        q->conn = NULL;
        pc->query = NULL;

        /* the caller's log may go with its request */

        ngx_http_weaveit_pg_set_log(pc, pc->pool->log);

        ngx_add_timer(pc->c->read, pc->pool->conf->timeout);
    }
}


/*
 * For a handler that keeps the result past its return, to PQclear() it
 * itself: a large value then needs no copy.
 */

PGresult *
ngx_http_weaveit_pg_take_result(ngx_http_weaveit_pg_query_t *q)
{
    PGresult  *res;

    res = q->result;
    q->result = NULL;
    q->pool->result_taken = 1;

    return res;
}


static void
ngx_http_weaveit_pg_cleanup(void *data)
{
    ngx_http_weaveit_pg_cancel(data);
}


static void
ngx_http_weaveit_pg_post_dispatch(ngx_http_weaveit_pg_pool_t *pool)
{
    if (!pool->dispatch.posted) {
        ngx_post_event(&pool->dispatch, &ngx_posted_events);
    }
}


static void
ngx_http_weaveit_pg_dispatch_handler(ngx_event_t *ev)
{
    ngx_queue_t                  *qq;
    ngx_http_weaveit_pg_conn_t   *pc;
    ngx_http_weaveit_pg_pool_t   *pool;
    ngx_http_weaveit_pg_query_t  *q;

    pool = ev->data;

    while (!ngx_queue_empty(&pool->idle)) {
        q = ngx_http_weaveit_pg_next_query(pool);
        if (q == NULL) {
            break;
        }

        ngx_http_weaveit_pg_unqueue(q);

        qq = ngx_queue_head(&pool->idle);
        pc = ngx_queue_data(qq, ngx_http_weaveit_pg_conn_t, queue);

        if (pool->conf->observer) {
            pool->conf->observer->waited(ngx_current_msec - q->queued);
        }

        ngx_http_weaveit_pg_send(pc, q);
    }

    while (ngx_http_weaveit_pg_runnable(pool) > pool->nconnecting
           && pool->nconns < pool->conf->max + pool->conf->reserve)
    {
        if (ngx_http_weaveit_pg_connect(pool) != NGX_OK) {
            break;
        }
    }

    ngx_http_weaveit_pg_report(pool);
}


/* priority queries first; the others while fewer than "max" run */

static ngx_http_weaveit_pg_query_t *
ngx_http_weaveit_pg_next_query(ngx_http_weaveit_pg_pool_t *pool)
{
    ngx_queue_t  *qq;

    if (!ngx_queue_empty(&pool->waiting_priority)) {
        qq = ngx_queue_head(&pool->waiting_priority);

    } else if (!ngx_queue_empty(&pool->waiting)
               && pool->nclients < pool->conf->max)
    {
        qq = ngx_queue_head(&pool->waiting);

    } else {
        return NULL;
    }

    return ngx_queue_data(qq, ngx_http_weaveit_pg_query_t, queue);
}


/* the waiting queries a new connection could start now */

static ngx_uint_t
ngx_http_weaveit_pg_runnable(ngx_http_weaveit_pg_pool_t *pool)
{
    ngx_uint_t  clients;

    clients = ngx_min(pool->nwaiting - pool->nwaiting_priority,
                      pool->conf->max - pool->nclients);

    return pool->nwaiting_priority + clients;
}


static void
ngx_http_weaveit_pg_unqueue(ngx_http_weaveit_pg_query_t *q)
{
    ngx_queue_remove(&q->queue);
    q->waiting = 0;
    q->pool->nwaiting--;

    if (q->priority) {
        q->pool->nwaiting_priority--;
    }
}


/* connecting */


static ngx_int_t
ngx_http_weaveit_pg_connect(ngx_http_weaveit_pg_pool_t *pool)
{
    char                         error[NGX_HTTP_WEAVEIT_PG_ERRLEN];
    ngx_http_weaveit_pg_conn_t  *pc;

    pc = ngx_calloc(sizeof(ngx_http_weaveit_pg_conn_t), pool->log);
    if (pc == NULL) {
        ngx_http_weaveit_pg_fail_waiting(pool, "out of memory");
        return NGX_ERROR;
    }

    pc->pool = pool;
    pc->state = ngx_http_weaveit_pg_connecting;
    pc->pgconn = PQconnectStartParams(pool->keywords, pool->values, 0);

    if (pc->pgconn == NULL || PQstatus(pc->pgconn) == CONNECTION_BAD) {
        (void) ngx_http_weaveit_pg_error(error, "connect failed: ",
                                         pc->pgconn
                                         ? PQerrorMessage(pc->pgconn)
                                         : "out of memory");
        ngx_log_error(pool->conf->error_level, pool->log, 0, "weaveit: %s",
                      error);
        PQfinish(pc->pgconn);
        ngx_free(pc);
        ngx_http_weaveit_pg_fail_waiting(pool, error);
        return NGX_ERROR;
    }

    PQsetNoticeProcessor(pc->pgconn, ngx_http_weaveit_pg_notice, pool);

    ngx_queue_insert_tail(&pool->active, &pc->queue);
    pool->nconns++;
    pool->nconnecting++;

    if (ngx_http_weaveit_pg_wrap_socket(pc) != NGX_OK) {
        ngx_http_weaveit_pg_close(pc, "cannot watch the socket");
        return NGX_ERROR;
    }

    ngx_add_timer(pc->c->read, pool->conf->timeout);

    /* PQconnectStartParams() leaves us as if polling asked to write */

    if (ngx_http_weaveit_pg_want_write(pc, 1) != NGX_OK) {
        ngx_http_weaveit_pg_close(pc, "cannot watch the socket");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* libpq would print notices on stderr */

static void
ngx_http_weaveit_pg_notice(void *arg, const char *message)
{
    ngx_http_weaveit_pg_pool_t *pool = arg;

    ngx_log_error(NGX_LOG_NOTICE, pool->log, 0, "weaveit: PostgreSQL: %*s",
                  strcspn(message, "\n"), message);
}


static ngx_int_t
ngx_http_weaveit_pg_wrap_socket(ngx_http_weaveit_pg_conn_t *pc)
{
    int                fd;
    struct stat        st;
    ngx_connection_t  *c;

    fd = PQsocket(pc->pgconn);
    if (fd == -1 || fstat(fd, &st) == -1) {
        return NGX_ERROR;
    }

    pc->socket_ino = st.st_ino;

    c = ngx_get_connection(fd, pc->pool->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = pc;
    c->read->handler = ngx_http_weaveit_pg_read_handler;
    c->write->handler = ngx_http_weaveit_pg_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;

    pc->c = c;

    /* timers on this connection must not hold up a worker's shutdown */

    c->read->cancelable = 1;
    c->write->cancelable = 1;

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * libpq owns the descriptor and closes it itself, so the connection is
 * freed without ngx_close_connection().
 */

static void
ngx_http_weaveit_pg_unwrap_socket(ngx_http_weaveit_pg_conn_t *pc)
{
    ngx_connection_t  *c;

    c = pc->c;
    if (c == NULL) {
        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
    pc->c = NULL;
}


/*
 * When libpq gives up on one address it closes the socket and opens
 * another, often under the same descriptor number; the kernel dropped the
 * old one from epoll, so the new one must be registered afresh.
 */

static ngx_uint_t
ngx_http_weaveit_pg_socket_changed(ngx_http_weaveit_pg_conn_t *pc)
{
    int          fd;
    struct stat  st;

    fd = PQsocket(pc->pgconn);

    if (fd != pc->c->fd || fstat(fd, &st) == -1) {
        return 1;
    }

    return st.st_ino != pc->socket_ino;
}


static ngx_int_t
ngx_http_weaveit_pg_want_write(ngx_http_weaveit_pg_conn_t *pc,
    ngx_uint_t want)
{
    ngx_event_t  *wev;

    wev = pc->c->write;

    if (want && !wev->active) {
        return ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }

    if (!want && wev->active) {
        return ngx_del_event(wev, NGX_WRITE_EVENT, 0);
    }

    return NGX_OK;
}


static void
ngx_http_weaveit_pg_connect_poll(ngx_http_weaveit_pg_conn_t *pc)
{
    PostgresPollingStatusType  status;

    status = PQconnectPoll(pc->pgconn);

    /* libpq may have moved on to the next address on a new socket */

    if (status != PGRES_POLLING_FAILED
        && ngx_http_weaveit_pg_socket_changed(pc))
    {
        ngx_http_weaveit_pg_unwrap_socket(pc);

        if (ngx_http_weaveit_pg_wrap_socket(pc) != NGX_OK) {
            ngx_http_weaveit_pg_close(pc, "cannot watch the new socket");
            return;
        }

        ngx_add_timer(pc->c->read, pc->pool->conf->timeout);
    }

    switch (status) {

    case PGRES_POLLING_READING:
        if (ngx_http_weaveit_pg_want_write(pc, 0) != NGX_OK) {
            ngx_http_weaveit_pg_close(pc, "cannot watch the socket");
        }
        return;

    case PGRES_POLLING_WRITING:
        if (ngx_http_weaveit_pg_want_write(pc, 1) != NGX_OK) {
            ngx_http_weaveit_pg_close(pc, "cannot watch the socket");
        }
        return;

    case PGRES_POLLING_OK:
        ngx_http_weaveit_pg_connected(pc);
        return;

    default:
        ngx_http_weaveit_pg_close_failed(pc, "connect failed: ");
        return;
    }
}


static void
ngx_http_weaveit_pg_connected(ngx_http_weaveit_pg_conn_t *pc)
{
    ngx_http_weaveit_pg_pool_t  *pool;

    pool = pc->pool;

    /*
     * Counted as connecting no more, as ngx_http_weaveit_pg_close() counts
     * by the state: the connection is unusable until it is set up or idle.
     */

    pool->nconnecting--;
    pc->state = ngx_http_weaveit_pg_setting_up;

    if (pc->c->read->timer_set) {
        ngx_del_timer(pc->c->read);
    }

    if (ngx_http_weaveit_pg_want_write(pc, 0) != NGX_OK) {
        ngx_http_weaveit_pg_close(pc, "cannot watch the socket");
        return;
    }

    if (PQsetnonblocking(pc->pgconn, 1) != 0) {
        ngx_http_weaveit_pg_close_failed(pc, "PQsetnonblocking() failed: ");
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pool->log, 0,
                   "weaveit: connected to PostgreSQL, fd:%d", pc->c->fd);

    if (!pool->set_up) {
        ngx_http_weaveit_pg_setup(pc);
        return;
    }

    ngx_http_weaveit_pg_make_idle(pc);
    ngx_http_weaveit_pg_post_dispatch(pool);
}


/*
 * Until one connection of the pool has run the conf's setup SQL, every new
 * one runs it before it takes queries; so the SQL must be harmless when
 * connections, workers or hosts race (the schema is idempotent and
 * serialised by an advisory lock).
 */

static void
ngx_http_weaveit_pg_setup(ngx_http_weaveit_pg_conn_t *pc)
{
    char                         what[NGX_HTTP_WEAVEIT_PG_ERRLEN];
    ngx_http_weaveit_pg_conf_t  *conf;

    conf = pc->pool->conf;

    pc->state = ngx_http_weaveit_pg_setting_up;
    ngx_add_timer(pc->c->read, conf->timeout);

    *ngx_snprintf((u_char *) what, sizeof(what) - 1, "%s not sent: ",
                  conf->setup_name) = '\0';

    ngx_http_weaveit_pg_sent(pc, PQsendQuery(pc->pgconn, conf->setup_sql),
                             what);
}


/* a failed setup closes the connection, and fails the queries waiting */

static void
ngx_http_weaveit_pg_setup_done(ngx_http_weaveit_pg_conn_t *pc,
    PGresult *res)
{
    char                         text[NGX_HTTP_WEAVEIT_PG_ERRLEN];
    char                         reason[NGX_HTTP_WEAVEIT_PG_ERRLEN];
    const char                  *error;
    ngx_http_weaveit_pg_pool_t  *pool;

    pool = pc->pool;
    error = ngx_http_weaveit_pg_result_error(res, text);
    PQclear(res);

    if (error) {
        *ngx_snprintf((u_char *) reason, sizeof(reason) - 1, "%s failed: %s",
                      pool->conf->setup_name, error) = '\0';
        ngx_http_weaveit_pg_close(pc, reason);
        return;
    }

    pool->set_up = 1;
    ngx_log_error(NGX_LOG_INFO, pool->log, 0,
                  "weaveit: database %s is up to date",
                  pool->conf->setup_name);

    ngx_http_weaveit_pg_make_idle(pc);
    ngx_http_weaveit_pg_post_dispatch(pool);
}


/* running queries */


static void
ngx_http_weaveit_pg_send(ngx_http_weaveit_pg_conn_t *pc,
    ngx_http_weaveit_pg_query_t *q)
{
    ngx_uint_t  i;

    ngx_queue_remove(&pc->queue);
    ngx_queue_insert_tail(&pc->pool->active, &pc->queue);

    pc->state = ngx_http_weaveit_pg_busy;
    pc->query = q;
    ngx_http_weaveit_pg_set_log(pc, q->log);
    pc->c->idle = 0;
    q->conn = pc;

    if (!q->priority) {
        pc->client = 1;
        pc->pool->nclients++;
    }

    i = (q->name && pc->pool->conf->prepare)
        ? ngx_http_weaveit_pg_prepared_slot(pc, q->name)
        : NGX_HTTP_WEAVEIT_PG_PREPARED;

    if (i == NGX_HTTP_WEAVEIT_PG_PREPARED || pc->prepared[i]) {
        ngx_http_weaveit_pg_send_query(pc, q,
                                       i < NGX_HTTP_WEAVEIT_PG_PREPARED);
        return;
    }

    /* the statement itself is sent once the server has answered this */

    pc->preparing = q->name;

    ngx_http_weaveit_pg_sent(pc,
                             PQsendPrepare(pc->pgconn, q->name, q->sql,
                                           q->nparams, NULL),
                             "statement not prepared: ");
}


/*
 * Where "name" is in the connection's list of prepared statements, or the
 * free slot for it; NGX_HTTP_WEAVEIT_PG_PREPARED when the list is full and
 * the statement is to be sent unprepared.
 */

static ngx_uint_t
ngx_http_weaveit_pg_prepared_slot(ngx_http_weaveit_pg_conn_t *pc,
    const char *name)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_WEAVEIT_PG_PREPARED; i++) {
        if (pc->prepared[i] == NULL
            || ngx_strcmp(pc->prepared[i], name) == 0)
        {
            break;
        }
    }

    return i;
}


static void
ngx_http_weaveit_pg_send_query(ngx_http_weaveit_pg_conn_t *pc,
    ngx_http_weaveit_pg_query_t *q, ngx_uint_t prepared)
{
    int  sent;

    if (prepared) {
        sent = PQsendQueryPrepared(pc->pgconn, q->name, q->nparams,
                                   q->values, q->lengths, q->formats,
                                   q->binary_result);

    } else {
        sent = PQsendQueryParams(pc->pgconn, q->sql, q->nparams, NULL,
                                 q->values, q->lengths, q->formats,
                                 q->binary_result);
    }

    ngx_http_weaveit_pg_sent(pc, sent, "query not sent: ");
}


/* after a PQsend*() call: "sent" is what it returned */

static void
ngx_http_weaveit_pg_sent(ngx_http_weaveit_pg_conn_t *pc, int sent,
    const char *what)
{
    if (!sent) {
        ngx_http_weaveit_pg_close_failed(pc, what);
        return;
    }

    (void) ngx_http_weaveit_pg_flush(pc);
}


/*
 * A large parameter (a video) takes many write events to go out.
 * NGX_ERROR: the connection was closed (and freed).
 */

static ngx_int_t
ngx_http_weaveit_pg_flush(ngx_http_weaveit_pg_conn_t *pc)
{
    int  rc;

    rc = PQflush(pc->pgconn);

    if (rc == -1) {
        ngx_http_weaveit_pg_close_failed(pc, "PQflush() failed: ");
        return NGX_ERROR;
    }

    pc->flushing = (rc == 1);

    if (ngx_http_weaveit_pg_want_write(pc, pc->flushing) != NGX_OK) {
        ngx_http_weaveit_pg_close(pc, "cannot watch the socket");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_weaveit_pg_write_handler(ngx_event_t *wev)
{
    ngx_connection_t            *c;
    ngx_http_weaveit_pg_conn_t  *pc;

    c = wev->data;
    pc = c->data;

    if (pc->state == ngx_http_weaveit_pg_connecting) {
        ngx_http_weaveit_pg_connect_poll(pc);
        return;
    }

    if (pc->flushing) {
        (void) ngx_http_weaveit_pg_flush(pc);
        return;
    }

    (void) ngx_http_weaveit_pg_want_write(pc, 0);
}


static void
ngx_http_weaveit_pg_read_handler(ngx_event_t *rev)
{
    ngx_connection_t            *c;
    PGnotify                    *notify;
    ngx_http_weaveit_pg_conn_t  *pc;

    c = rev->data;
    pc = c->data;

    /*
     * nginx closes an idle connection when its worker starts to shut down,
     * and any connection at worker_shutdown_timeout: whoever waits for a
     * busy one must be told, or its query is left pointing at it.
     */

    if (c->close) {
        ngx_http_weaveit_pg_close(pc, pc->state == ngx_http_weaveit_pg_idle
                                      ? NULL
                                      : "closed at the worker's shutdown");
        return;
    }

    if (rev->timedout) {
        ngx_http_weaveit_pg_close(pc,
                                  pc->state == ngx_http_weaveit_pg_connecting
                                  ? "connect timed out"
                                  : "PostgreSQL did not answer in time");
        return;
    }

    if (pc->state == ngx_http_weaveit_pg_connecting) {
        ngx_http_weaveit_pg_connect_poll(pc);
        return;
    }

    if (!PQconsumeInput(pc->pgconn)) {
        ngx_http_weaveit_pg_close_failed(pc, "connection lost: ");
        return;
    }

    while ((notify = PQnotifies(pc->pgconn)) != NULL) {
        PQfreemem(notify);
    }

    if (pc->state == ngx_http_weaveit_pg_idle) {
        if (PQstatus(pc->pgconn) == CONNECTION_BAD) {
            ngx_http_weaveit_pg_close_failed(pc, "connection lost: ");
        }
        return;
    }

    if (pc->flushing && ngx_http_weaveit_pg_flush(pc) != NGX_OK) {
        return;
    }

    ngx_http_weaveit_pg_collect(pc);
}


static void
ngx_http_weaveit_pg_collect(ngx_http_weaveit_pg_conn_t *pc)
{
    PGresult  *res;

    while (!PQisBusy(pc->pgconn)) {

        res = PQgetResult(pc->pgconn);

        if (res == NULL) {
            ngx_http_weaveit_pg_complete(pc);
            return;
        }

        /* the first error wins; otherwise the last result is the answer */

        if (pc->result
            && PQresultStatus(pc->result) != PGRES_TUPLES_OK
            && PQresultStatus(pc->result) != PGRES_COMMAND_OK)
        {
            PQclear(res);
            continue;
        }

        PQclear(pc->result);
        pc->result = res;
    }
}


static void
ngx_http_weaveit_pg_complete(ngx_http_weaveit_pg_conn_t *pc)
{
    char                          text[NGX_HTTP_WEAVEIT_PG_ERRLEN];
    PGresult                     *res;
    const char                   *error;
    ngx_http_weaveit_pg_pool_t   *pool;
    ngx_http_weaveit_pg_query_t  *q;

    pool = pc->pool;
    res = pc->result;
    pc->result = NULL;

    if (pc->c->read->timer_set) {
        ngx_del_timer(pc->c->read);
    }

    if (pc->state == ngx_http_weaveit_pg_setting_up) {
        ngx_http_weaveit_pg_setup_done(pc, res);
        return;
    }

    error = ngx_http_weaveit_pg_result_error(res, text);

    q = pc->query;

    if (error && ngx_http_weaveit_pg_statement_lost(pc, res)) {
        ngx_http_weaveit_pg_run_unnamed(pc, q, error);
        PQclear(res);
        return;
    }

    if (error) {
        ngx_log_error(pool->conf->error_level, q ? q->log : pool->log, 0,
                      "weaveit: query failed: %s", error);
    }

    if (pc->preparing) {
        PQclear(res);
        ngx_http_weaveit_pg_prepared(pc, error);
        return;
    }

    pc->query = NULL;
    ngx_http_weaveit_pg_make_idle(pc);

    if (q) {
        pool->result_taken = 0;
        ngx_http_weaveit_pg_finish(q, res, error);

        /* q may be gone with its request by now: the pool remembers */

        if (pool->result_taken) {
            res = NULL;
        }
    }

    PQclear(res);

    ngx_http_weaveit_pg_post_dispatch(pool);
}


/*
 * The server lost a statement this connection prepared (26000: a pooler in
 * transaction mode ran the Execute on another server than the Prepare, or
 * DISCARD ALL dropped it), or has one of that name already (42P05: another
 * client's, on a server the pooler shares).
 */

static ngx_uint_t
ngx_http_weaveit_pg_statement_lost(ngx_http_weaveit_pg_conn_t *pc,
    PGresult *res)
{
    const char                   *state;
    ngx_http_weaveit_pg_query_t  *q;

    q = pc->query;

    if (q == NULL || q->name == NULL || q->retried
        || !pc->pool->conf->prepare || res == NULL)
    {
        return 0;
    }

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    return state != NULL
           && (ngx_strcmp(state, "26000") == 0
               || ngx_strcmp(state, "42P05") == 0);
}


/*
 * The connection forgets what it prepared (it prepares again next time)
 * and runs the query once unnamed: parse, bind and execute in one message
 * sequence, which a pooler keeps on one server.
 */

static void
ngx_http_weaveit_pg_run_unnamed(ngx_http_weaveit_pg_conn_t *pc,
    ngx_http_weaveit_pg_query_t *q, const char *error)
{
    ngx_log_error(NGX_LOG_INFO, q->log, 0,
                  "weaveit: statement \"%s\" is not the server's (%s): "
                  "sent unnamed", q->name, error);

    ngx_memzero(pc->prepared, sizeof(pc->prepared));
    pc->preparing = NULL;
    q->retried = 1;

    ngx_http_weaveit_pg_send_query(pc, q, 0);
}


/* NULL if "res" is a success; its error, written into "error", if not */

static const char *
ngx_http_weaveit_pg_result_error(PGresult *res, char *error)
{
    ExecStatusType  status;

    status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
        return NULL;
    }

    return ngx_http_weaveit_pg_error(error, NULL,
                                     res ? PQresultErrorMessage(res)
                                         : "no result");
}


/*
 * The server answered a Prepare: on success the statement it was for runs
 * next on the same connection, unless its caller is gone.
 */

static void
ngx_http_weaveit_pg_prepared(ngx_http_weaveit_pg_conn_t *pc,
    const char *error)
{
    ngx_uint_t                    i;
    ngx_http_weaveit_pg_pool_t   *pool;
    ngx_http_weaveit_pg_query_t  *q;

    pool = pc->pool;

    if (error == NULL) {
        i = ngx_http_weaveit_pg_prepared_slot(pc, pc->preparing);

        if (i < NGX_HTTP_WEAVEIT_PG_PREPARED) {
            pc->prepared[i] = pc->preparing;
        }
    }

    pc->preparing = NULL;
    q = pc->query;

    if (q && error == NULL) {
        ngx_http_weaveit_pg_send_query(pc, q, 1);
        return;
    }

    pc->query = NULL;
    ngx_http_weaveit_pg_make_idle(pc);

    if (q) {
        ngx_http_weaveit_pg_finish(q, NULL, error);
    }

    ngx_http_weaveit_pg_post_dispatch(pool);
}


static void
ngx_http_weaveit_pg_make_idle(ngx_http_weaveit_pg_conn_t *pc)
{
    ngx_http_weaveit_pg_pool_t  *pool;

    pool = pc->pool;

    ngx_http_weaveit_pg_end_client(pc);

    if ((ngx_exiting || ngx_terminate) && pool->nwaiting == 0) {
        ngx_http_weaveit_pg_close(pc, NULL);
        return;
    }

    ngx_queue_remove(&pc->queue);
    ngx_queue_insert_head(&pool->idle, &pc->queue);

    pc->state = ngx_http_weaveit_pg_idle;

    /* an idle connection must not point into a freed request's log */

    ngx_http_weaveit_pg_set_log(pc, pool->log);
    pc->c->idle = 1;
}


/* a client query's connection is free for the next, within "max" */

static void
ngx_http_weaveit_pg_end_client(ngx_http_weaveit_pg_conn_t *pc)
{
    if (pc->client) {
        pc->client = 0;
        pc->pool->nclients--;
    }
}


static void
ngx_http_weaveit_pg_set_log(ngx_http_weaveit_pg_conn_t *pc, ngx_log_t *log)
{
    pc->c->log = log;
    pc->c->read->log = log;
    pc->c->write->log = log;
}


/*
 * Closes the connection and tells whoever depended on it: the query it was
 * running and, if it never became usable, the queries waiting for one.
 * "reason" is NULL for an orderly close; it is read after the connection
 * is freed, so it is never kept in the connection.
 */

static void
ngx_http_weaveit_pg_close(ngx_http_weaveit_pg_conn_t *pc, const char *reason)
{
    ngx_uint_t                    unusable;
    ngx_http_weaveit_pg_pool_t   *pool;
    ngx_http_weaveit_pg_query_t  *q;

    pool = pc->pool;
    q = pc->query;
    unusable = (pc->state == ngx_http_weaveit_pg_connecting
                || pc->state == ngx_http_weaveit_pg_setting_up);

    if (pc->state == ngx_http_weaveit_pg_connecting) {
        pool->nconnecting--;
    }

    if (reason) {
        ngx_log_error(pool->conf->error_level, q ? q->log : pool->log, 0,
                      "weaveit: %s", reason);
    }

    ngx_queue_remove(&pc->queue);
    pool->nconns--;
    ngx_http_weaveit_pg_end_client(pc);

    ngx_http_weaveit_pg_unwrap_socket(pc);
    PQclear(pc->result);
    PQfinish(pc->pgconn);
    ngx_free(pc);

    if (reason == NULL) {
        return;
    }

    if (q) {
        q->conn = NULL;
        ngx_http_weaveit_pg_finish(q, NULL, reason);
    }

    if (unusable) {
        ngx_http_weaveit_pg_fail_waiting(pool, reason);
    }

    ngx_http_weaveit_pg_post_dispatch(pool);
}


/*
 * A connection could not be opened: the queries waiting for one are told
 * at once rather than at their timeout, so "database down" answers fast.
 */

static void
ngx_http_weaveit_pg_fail_waiting(ngx_http_weaveit_pg_pool_t *pool,
    const char *error)
{
    ngx_queue_t                   failed, *qq;
    ngx_http_weaveit_pg_query_t  *q;

    if (pool->nconns > pool->nconnecting) {
        return;
    }

    /* handlers may queue new queries: they are not failed with these */

    ngx_queue_init(&failed);
    ngx_http_weaveit_pg_take_all(&failed, &pool->waiting_priority);
    ngx_http_weaveit_pg_take_all(&failed, &pool->waiting);

    while (!ngx_queue_empty(&failed)) {
        qq = ngx_queue_head(&failed);
        q = ngx_queue_data(qq, ngx_http_weaveit_pg_query_t, queue);

        /* off the "failed" list, and out of the pool's counts */

        ngx_http_weaveit_pg_unqueue(q);

        ngx_http_weaveit_pg_finish(q, NULL, error);
    }
}


static void
ngx_http_weaveit_pg_take_all(ngx_queue_t *to, ngx_queue_t *from)
{
    if (!ngx_queue_empty(from)) {
        ngx_queue_add(to, from);
        ngx_queue_init(from);
    }
}


static void
ngx_http_weaveit_pg_finish(ngx_http_weaveit_pg_query_t *q, PGresult *res,
    const char *error)
{
    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }

    q->conn = NULL;
    q->result = res;
    q->error = NULL;

    /* the error's text may live on a caller's stack: the query keeps it */

    if (error) {
        (void) ngx_cpystrn((u_char *) q->error_text, (u_char *) error,
                           NGX_HTTP_WEAVEIT_PG_ERRLEN);
        q->error = q->error_text;

        if (q->pool->conf->observer) {
            q->pool->conf->observer->failed();
        }
    }

    ngx_http_weaveit_pg_report(q->pool);

    q->handler(q);
}


static void
ngx_http_weaveit_pg_report(ngx_http_weaveit_pg_pool_t *pool)
{
    ngx_uint_t    idle;
    ngx_queue_t  *q;

    if (pool->conf->observer == NULL) {
        return;
    }

    idle = 0;

    for (q = ngx_queue_head(&pool->idle);
         q != ngx_queue_sentinel(&pool->idle);
         q = ngx_queue_next(q))
    {
        idle++;
    }

    pool->conf->observer->changed(pool->nconns - idle, idle, pool->nwaiting);
}


static void
ngx_http_weaveit_pg_query_timeout(ngx_event_t *ev)
{
    ngx_http_weaveit_pg_pool_t   *pool;
    ngx_http_weaveit_pg_query_t  *q;

    q = ev->data;
    pool = q->pool;
    q->timed_out = 1;

    if (q->conn) {
        ngx_http_weaveit_pg_close(q->conn,
                                  "PostgreSQL did not answer in time");
        return;
    }

    if (q->waiting) {
        ngx_http_weaveit_pg_unqueue(q);
    }

    ngx_log_error(pool->conf->error_level, q->log, 0,
                  "weaveit: no PostgreSQL connection within %M ms",
                  pool->conf->timeout);

    ngx_http_weaveit_pg_finish(q, NULL, "database timeout");
}


/* on a libpq call that failed: closes the connection with libpq's reason */

static void
ngx_http_weaveit_pg_close_failed(ngx_http_weaveit_pg_conn_t *pc,
    const char *what)
{
    char  error[NGX_HTTP_WEAVEIT_PG_ERRLEN];

    (void) ngx_http_weaveit_pg_error(error, what, PQerrorMessage(pc->pgconn));
    ngx_http_weaveit_pg_close(pc, error);
}


/*
 * Writes "prefix" and the first line of a libpq message, whitespace
 * trimmed, into "error" (NGX_HTTP_WEAVEIT_PG_ERRLEN bytes) and returns it.
 */

static const char *
ngx_http_weaveit_pg_error(char *error, const char *prefix,
    const char *message)
{
    size_t  len;

    while (*message == ' ' || *message == '\t' || *message == '\n') {
        message++;
    }

    len = ngx_min(strcspn(message, "\r\n"), NGX_HTTP_WEAVEIT_PG_ERRLEN - 1);

    while (len && (message[len - 1] == ' ' || message[len - 1] == '\t')) {
        len--;
    }

    *ngx_snprintf((u_char *) error, NGX_HTTP_WEAVEIT_PG_ERRLEN - 1, "%s%*s",
                  prefix ? prefix : "", len, message) = '\0';

    return error;
}
