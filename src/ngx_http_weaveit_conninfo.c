
/*
 * A libpq conninfo completed at configuration time the way libpq itself
 * would complete it on every connect, so that a worker's connect has
 * nothing left to look up: the options it gives (PQconninfoParse()), then
 * for those it leaves unset the service's (pg_service.conf: PGSERVICEFILE
 * or ~/.pg_service.conf, then PGSYSCONFDIR or libpq's own directory) and
 * the environment's (PGHOST, PGPORT, ...), and last every host name
 * resolved into a hostaddr list matching the host list, with libpq's
 * rules: one hostaddr entry per host entry, and one port for all or one
 * per host.  A host of several addresses becomes as many entries, the
 * name repeated (libpq tries each in turn, as it tries a name's
 * addresses).
 *
 * Plain buffers and libpq only: the environment, the files and the
 * resolver are the caller's callbacks, so a fuzzer drives this without
 * nginx running and without DNS.  Strings are malloc()ed and freed by
 * ngx_http_weaveit_conninfo_free(); errors are written into a buffer of
 * NGX_HTTP_WEAVEIT_PG_ERRLEN bytes.
 *
 * What would still block a worker is refused: an LDAP line in a service
 * (libpq would query the LDAP server on every connect).
 */


#include "ngx_http_weaveit.h"

#include <ctype.h>


/* libpq reads service files with a buffer of this size */
#define NGX_HTTP_WEAVEIT_CONNINFO_LINE  1024


/* a comma-separated list being built: the entries may be empty */

typedef struct {
    char                          *data;
    size_t                         len;
    size_t                         size;
    ngx_uint_t                     entries;
} ngx_http_weaveit_conninfo_buf_t;


static ngx_int_t ngx_http_weaveit_conninfo_service(
    ngx_http_weaveit_conninfo_t *ci, ngx_http_weaveit_conninfo_env_t *env,
    char *error);
static ngx_int_t ngx_http_weaveit_conninfo_service_file(
    ngx_http_weaveit_conninfo_t *ci, ngx_http_weaveit_conninfo_env_t *env,
    const char *path, ngx_uint_t required, ngx_uint_t *found, char *error);
static ngx_int_t ngx_http_weaveit_conninfo_service_line(
    ngx_http_weaveit_conninfo_t *ci, char *line, const char *path,
    ngx_uint_t n, char *error);
static ngx_int_t ngx_http_weaveit_conninfo_environment(
    ngx_http_weaveit_conninfo_t *ci, ngx_http_weaveit_conninfo_env_t *env);
static ngx_int_t ngx_http_weaveit_conninfo_hosts(
    ngx_http_weaveit_conninfo_t *ci, ngx_http_weaveit_conninfo_env_t *env,
    char *error);
static ngx_int_t ngx_http_weaveit_conninfo_entry(
    ngx_http_weaveit_conninfo_buf_t *lists, const char *host,
    const char *addr, const char *port);
static ngx_int_t ngx_http_weaveit_conninfo_set(
    ngx_http_weaveit_conninfo_t *ci, const char *keyword, const char *value,
    ngx_uint_t replace);
static ngx_int_t ngx_http_weaveit_conninfo_index(
    ngx_http_weaveit_conninfo_t *ci, const char *keyword);
static ngx_uint_t ngx_http_weaveit_conninfo_count(const char *list);
static const char *ngx_http_weaveit_conninfo_element(const char *list,
    ngx_uint_t n, char *buf, size_t size);
static ngx_int_t ngx_http_weaveit_conninfo_append(
    ngx_http_weaveit_conninfo_buf_t *b, const char *s, size_t len);
static char *ngx_http_weaveit_conninfo_strdup(const char *s, size_t len);
static ngx_int_t ngx_http_weaveit_conninfo_error(char *error,
    const char *fmt, ...);


ngx_int_t
ngx_http_weaveit_conninfo_complete(ngx_http_weaveit_conninfo_t *ci,
    const char *conninfo, ngx_http_weaveit_conninfo_env_t *env, char *error)
{
    char        *errmsg;
    ngx_uint_t   i, n;

    ngx_memzero(ci, sizeof(ngx_http_weaveit_conninfo_t));

    errmsg = NULL;
    ci->options = PQconninfoParse(conninfo, &errmsg);

    if (ci->options == NULL) {
        (void) ngx_http_weaveit_conninfo_error(error, "%.*s",
                   errmsg ? (int) strcspn(errmsg, "\n") : 13,
                   errmsg ? errmsg : "out of memory");
        PQfreemem(errmsg);
        return NGX_ERROR;
    }

    for (n = 0; ci->options[n].keyword; n++) { /* void */ }

    ci->values = calloc(n + 1, sizeof(char *));
    if (ci->values == NULL) {
        return ngx_http_weaveit_conninfo_error(error, "out of memory");
    }

    for (i = 0; i < n; i++) {
        if (ci->options[i].val) {
            ci->values[i] = ngx_http_weaveit_conninfo_strdup(
                                ci->options[i].val,
                                ngx_strlen(ci->options[i].val));
            if (ci->values[i] == NULL) {
                return ngx_http_weaveit_conninfo_error(error,
                                                       "out of memory");
            }
        }
    }

    if (ngx_http_weaveit_conninfo_service(ci, env, error) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_weaveit_conninfo_environment(ci, env) != NGX_OK) {
        return ngx_http_weaveit_conninfo_error(error, "out of memory");
    }

    return ngx_http_weaveit_conninfo_hosts(ci, env, error);
}


void
ngx_http_weaveit_conninfo_free(ngx_http_weaveit_conninfo_t *ci)
{
    ngx_uint_t  i;

    if (ci->values) {
        for (i = 0; ci->options[i].keyword; i++) {
            free(ci->values[i]);
        }

        free(ci->values);
    }

    PQconninfoFree(ci->options);
    ngx_memzero(ci, sizeof(ngx_http_weaveit_conninfo_t));
}


/* the value of an option, NULL if it is unset or empty */

const char *
ngx_http_weaveit_conninfo_value(ngx_http_weaveit_conninfo_t *ci,
    const char *keyword)
{
    ngx_int_t  i;

    i = ngx_http_weaveit_conninfo_index(ci, keyword);

    if (i == NGX_ERROR || ci->values[i] == NULL || ci->values[i][0] == '\0')
    {
        return NULL;
    }

    return ci->values[i];
}


/* libpq's parseServiceInfo(), files read through the callback */

static ngx_int_t
ngx_http_weaveit_conninfo_service(ngx_http_weaveit_conninfo_t *ci,
    ngx_http_weaveit_conninfo_env_t *env, char *error)
{
    char        path[NGX_MAX_PATH];
    ngx_int_t   i;
    ngx_uint_t  found;
    const char  *name, *file, *dir;

    i = ngx_http_weaveit_conninfo_index(ci, "service");

    name = (i != NGX_ERROR && ci->values[i]) ? ci->values[i]
                                              : env->getenv(env->data,
                                                            "PGSERVICE");
    if (name == NULL) {
        return NGX_OK;
    }

    ci->service = name;
    found = 0;

    file = env->getenv(env->data, "PGSERVICEFILE");

    if (file) {
        if (ngx_http_weaveit_conninfo_service_file(ci, env, file, 1, &found,
                                                   error)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (env->home) {
        (void) snprintf(path, sizeof(path), "%s/.pg_service.conf",
                        env->home);

        if (ngx_http_weaveit_conninfo_service_file(ci, env, path, 0, &found,
                                                   error)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (!found) {
        dir = env->getenv(env->data, "PGSYSCONFDIR");
        (void) snprintf(path, sizeof(path), "%s/pg_service.conf",
                        dir ? dir : env->sysconfdir);

        if (ngx_http_weaveit_conninfo_service_file(ci, env, path, 0, &found,
                                                   error)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (!found) {
        return ngx_http_weaveit_conninfo_error(error,
                   "definition of service \"%s\" not found", name);
    }

    return NGX_OK;
}


/* the lines of the service's group set what is still unset */

static ngx_int_t
ngx_http_weaveit_conninfo_service_file(ngx_http_weaveit_conninfo_t *ci,
    ngx_http_weaveit_conninfo_env_t *env, const char *path,
    ngx_uint_t required, ngx_uint_t *found, char *error)
{
    char        *text, *line, *next, *end;
    size_t       len;
    ngx_int_t    rc;
    ngx_uint_t   n, in_group;

    text = env->read_file(env->data, path);

    if (text == NULL) {
        return required
               ? ngx_http_weaveit_conninfo_error(error,
                     "service file \"%s\" not found", path)
               : NGX_OK;
    }

    len = ngx_strlen(ci->service);
    rc = NGX_OK;
    in_group = 0;

    for (line = text, n = 1; line; line = next, n++) {

        next = strchr(line, '\n');

        if (next) {
            *next++ = '\0';
        }

        if (ngx_strlen(line) >= NGX_HTTP_WEAVEIT_CONNINFO_LINE - 2) {
            rc = ngx_http_weaveit_conninfo_error(error,
                     "line %d too long in service file \"%s\"", (int) n,
                     path);
            break;
        }

        end = line + ngx_strlen(line);

        while (end > line && isspace((u_char) end[-1])) {
            *--end = '\0';
        }

        while (isspace((u_char) *line)) {
            line++;
        }

        if (line[0] == '\0' || line[0] == '#') {
            continue;
        }

        if (line[0] == '[') {
            if (in_group) {
                break;
            }

            in_group = (ngx_strncmp(line + 1, ci->service, len) == 0
                        && line[len + 1] == ']');
            *found |= in_group;
            continue;
        }

        if (in_group) {
            rc = ngx_http_weaveit_conninfo_service_line(ci, line, path, n,
                                                        error);
            if (rc != NGX_OK) {
                break;
            }
        }
    }

    free(text);

    return rc;
}


static ngx_int_t
ngx_http_weaveit_conninfo_service_line(ngx_http_weaveit_conninfo_t *ci,
    char *line, const char *path, ngx_uint_t n, char *error)
{
    char       *value;
    ngx_int_t   rc;

    if (ngx_strncmp(line, "ldap", 4) == 0) {
        return ngx_http_weaveit_conninfo_error(error,
                   "service file \"%s\", line %d: LDAP lookups would "
                   "block nginx on every connect", path, (int) n);
    }

    value = strchr(line, '=');

    if (value == NULL) {
        return ngx_http_weaveit_conninfo_error(error,
                   "syntax error in service file \"%s\", line %d", path,
                   (int) n);
    }

    *value++ = '\0';

    if (ngx_strcmp(line, "service") == 0) {
        return ngx_http_weaveit_conninfo_error(error,
                   "nested service specifications not supported in "
                   "service file \"%s\", line %d", path, (int) n);
    }

    rc = ngx_http_weaveit_conninfo_set(ci, line, value, 0);

    if (rc == NGX_DECLINED) {
        return ngx_http_weaveit_conninfo_error(error,
                   "syntax error in service file \"%s\", line %d", path,
                   (int) n);
    }

    if (rc == NGX_ERROR) {
        return ngx_http_weaveit_conninfo_error(error, "out of memory");
    }

    return NGX_OK;
}


/* options still unset take their environment variable */

static ngx_int_t
ngx_http_weaveit_conninfo_environment(ngx_http_weaveit_conninfo_t *ci,
    ngx_http_weaveit_conninfo_env_t *env)
{
    ngx_uint_t         i;
    const char        *value;
    PQconninfoOption  *o;

    for (i = 0; ci->options[i].keyword; i++) {
        o = &ci->options[i];

        if (ci->values[i] || o->envvar == NULL) {
            continue;
        }

        value = env->getenv(env->data, o->envvar);

        if (value) {
            ci->values[i] = ngx_http_weaveit_conninfo_strdup(value,
                                                          ngx_strlen(value));
            if (ci->values[i] == NULL) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/*
 * Every host entry without a hostaddr entry that is a name, neither empty
 * (libpq's default socket) nor a socket directory, gets its addresses.
 */

static ngx_int_t
ngx_http_weaveit_conninfo_hosts(ngx_http_weaveit_conninfo_t *ci,
    ngx_http_weaveit_conninfo_env_t *env, char *error)
{
    char                             addrs[NGX_HTTP_WEAVEIT_CONNINFO_LINE];
    char                             host[NGX_HTTP_WEAVEIT_CONNINFO_LINE];
    char                             addr[NGX_HTTP_WEAVEIT_CONNINFO_LINE];
    char                             port[NGX_HTTP_WEAVEIT_CONNINFO_LINE];
    ngx_int_t                        rc;
    ngx_uint_t                       i, j, nhosts, naddrs, nports, resolved;
    const char                      *hosts, *hostaddrs, *ports, *h, *a, *p;
    ngx_http_weaveit_conninfo_buf_t  lists[3];

    hosts = ngx_http_weaveit_conninfo_value(ci, "host");
    hostaddrs = ngx_http_weaveit_conninfo_value(ci, "hostaddr");
    ports = ngx_http_weaveit_conninfo_value(ci, "port");

    if (hosts == NULL) {
        return NGX_OK;
    }

    nhosts = ngx_http_weaveit_conninfo_count(hosts);
    naddrs = hostaddrs ? ngx_http_weaveit_conninfo_count(hostaddrs) : 0;
    nports = ports ? ngx_http_weaveit_conninfo_count(ports) : 0;

    if (hostaddrs && naddrs != nhosts) {
        return ngx_http_weaveit_conninfo_error(error,
                   "could not match %d host names to %d hostaddr values",
                   (int) nhosts, (int) naddrs);
    }

    if (nports > 1 && nports != nhosts) {
        return ngx_http_weaveit_conninfo_error(error,
                   "could not match %d port numbers to %d hosts",
                   (int) nports, (int) nhosts);
    }

    ngx_memzero(lists, sizeof(lists));
    rc = NGX_OK;
    resolved = 0;

    for (i = 0; i < nhosts && rc == NGX_OK; i++) {
        h = ngx_http_weaveit_conninfo_element(hosts, i, host, sizeof(host));
        a = hostaddrs ? ngx_http_weaveit_conninfo_element(hostaddrs, i, addr,
                                                          sizeof(addr))
                      : "";
        p = (nports > 1) ? ngx_http_weaveit_conninfo_element(ports, i, port,
                                                             sizeof(port))
                         : "";

        if (h == NULL || a == NULL || p == NULL) {
            (void) ngx_http_weaveit_conninfo_error(error,
                       "an entry of host, hostaddr or port is too long");
            rc = NGX_DECLINED;
            break;
        }

        if (nports < 2) {
            p = NULL;
        }

        if (host[0] == '\0' || host[0] == '/' || host[0] == '@' || a[0]) {
            rc = ngx_http_weaveit_conninfo_entry(lists, host, a, p);
            continue;
        }

        if (env->resolve(env->data, host, addrs, sizeof(addrs), error)
            != NGX_OK)
        {
            rc = NGX_DECLINED;
            break;
        }

        resolved = 1;

        for (j = 0; j < ngx_http_weaveit_conninfo_count(addrs); j++) {
            a = ngx_http_weaveit_conninfo_element(addrs, j, addr,
                                                  sizeof(addr));
            rc = a ? ngx_http_weaveit_conninfo_entry(lists, host, a, p)
                   : NGX_ERROR;

            if (rc != NGX_OK) {
                break;
            }
        }
    }

    if (rc == NGX_OK && resolved) {
        if (ngx_http_weaveit_conninfo_set(ci, "host", lists[0].data, 1)
            != NGX_OK
            || ngx_http_weaveit_conninfo_set(ci, "hostaddr", lists[1].data, 1)
               != NGX_OK
            || (nports > 1
                && ngx_http_weaveit_conninfo_set(ci, "port", lists[2].data,
                                                 1)
                   != NGX_OK))
        {
            rc = NGX_ERROR;
        }
    }

    for (i = 0; i < 3; i++) {
        free(lists[i].data);
    }

    if (rc == NGX_ERROR) {
        return ngx_http_weaveit_conninfo_error(error, "out of memory");
    }

    return (rc == NGX_OK) ? NGX_OK : NGX_ERROR;
}


/* one more entry of the host, hostaddr and (NULL: single) port lists */

static ngx_int_t
ngx_http_weaveit_conninfo_entry(ngx_http_weaveit_conninfo_buf_t *lists,
    const char *host, const char *addr, const char *port)
{
    ngx_uint_t   i;
    const char  *entry[3];

    entry[0] = host;
    entry[1] = addr;
    entry[2] = port;

    for (i = 0; i < 3 && entry[i]; i++) {
        if ((lists[i].entries++
             && ngx_http_weaveit_conninfo_append(&lists[i], ",", 1)
                != NGX_OK)
            || ngx_http_weaveit_conninfo_append(&lists[i], entry[i],
                                                ngx_strlen(entry[i]))
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * NGX_DECLINED: libpq knows no such option.  An option already set is
 * kept unless "replace".
 */

static ngx_int_t
ngx_http_weaveit_conninfo_set(ngx_http_weaveit_conninfo_t *ci,
    const char *keyword, const char *value, ngx_uint_t replace)
{
    char       *copy;
    ngx_int_t   i;

    i = ngx_http_weaveit_conninfo_index(ci, keyword);

    if (i == NGX_ERROR) {
        return NGX_DECLINED;
    }

    if (ci->values[i] && !replace) {
        return NGX_OK;
    }

    copy = ngx_http_weaveit_conninfo_strdup(value, ngx_strlen(value));
    if (copy == NULL) {
        return NGX_ERROR;
    }

    free(ci->values[i]);
    ci->values[i] = copy;

    return NGX_OK;
}


static ngx_int_t
ngx_http_weaveit_conninfo_index(ngx_http_weaveit_conninfo_t *ci,
    const char *keyword)
{
    ngx_int_t  i;

    for (i = 0; ci->options[i].keyword; i++) {
        if (ngx_strcmp(ci->options[i].keyword, keyword) == 0) {
            return i;
        }
    }

    return NGX_ERROR;
}


/* a comma-separated list, as libpq counts it: "" is one empty entry */

static ngx_uint_t
ngx_http_weaveit_conninfo_count(const char *list)
{
    ngx_uint_t  n;

    for (n = 1; *list; list++) {
        n += (*list == ',');
    }

    return n;
}


/* entry n of a list, "" past its end; NULL if longer than "size" */

static const char *
ngx_http_weaveit_conninfo_element(const char *list, ngx_uint_t n, char *buf,
    size_t size)
{
    size_t  len;

    while (n && list) {
        list = strchr(list, ',');
        list = list ? list + 1 : NULL;
        n--;
    }

    len = list ? strcspn(list, ",") : 0;

    if (len >= size) {
        return NULL;
    }

    if (len) {
        ngx_memcpy(buf, list, len);
    }

    buf[len] = '\0';

    return buf;
}


static ngx_int_t
ngx_http_weaveit_conninfo_append(ngx_http_weaveit_conninfo_buf_t *b,
    const char *s, size_t len)
{
    char    *p;
    size_t   size;

    if (b->len + len + 1 > b->size) {
        size = ngx_max(2 * b->size, b->len + len + 1);

        p = realloc(b->data, size);
        if (p == NULL) {
            return NGX_ERROR;
        }

        b->data = p;
        b->size = size;
    }

    ngx_memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';

    return NGX_OK;
}


static char *
ngx_http_weaveit_conninfo_strdup(const char *s, size_t len)
{
    char  *p;

    p = malloc(len + 1);
    if (p != NULL) {
        ngx_memcpy(p, s, len);
        p[len] = '\0';
    }

    return p;
}


/* writes the message into "error"; returns NGX_ERROR */

static ngx_int_t
ngx_http_weaveit_conninfo_error(char *error, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    (void) vsnprintf(error, NGX_HTTP_WEAVEIT_PG_ERRLEN, fmt, ap);
    va_end(ap);

    return NGX_ERROR;
}
