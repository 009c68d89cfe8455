/*
 * The conninfo completed at configuration time: any conninfo, PGHOST,
 * PGSERVICE and service file, no crash, no leak, and on success nothing
 * left for libpq to look up: every host entry that is a name has its
 * hostaddr entry, and the port list matches the host list.  Input: the
 * conninfo, PGHOST and PGSERVICE on a line each ("" is unset), then the
 * service file.  The resolver is a fake: numeric hosts are themselves,
 * "localhost" has two addresses, "*.invalid" none, other names one.
 */

#include "fuzz.h"

#include <arpa/inet.h>


typedef struct {
    ngx_str_t  pghost;
    ngx_str_t  pgservice;
    ngx_str_t  service_file;
} fuzz_env_t;


static const char *
fuzz_getenv(void *data, const char *name)
{
    fuzz_env_t  *env = data;

    if (strcmp(name, "PGHOST") == 0 && env->pghost.len) {
        return (char *) env->pghost.data;
    }

    if (strcmp(name, "PGSERVICE") == 0 && env->pgservice.len) {
        return (char *) env->pgservice.data;
    }

    if (strcmp(name, "PGSERVICEFILE") == 0) {
        return "fuzz_service.conf";
    }

    return NULL;
}


static char *
fuzz_read_file(void *data, const char *path)
{
    char        *text;
    fuzz_env_t  *env = data;

    if (strcmp(path, "fuzz_service.conf") != 0) {
        return NULL;
    }

    text = malloc(env->service_file.len + 1);
    fuzz_assert(text != NULL);
    memcpy(text, env->service_file.data, env->service_file.len);
    text[env->service_file.len] = '\0';

    return text;
}


static ngx_int_t
fuzz_resolve(void *data, const char *host, char *addrs, size_t size,
    char *error)
{
    size_t         len;
    unsigned char  buf[sizeof(struct in6_addr)];

    len = strlen(host);
    fuzz_assert(len > 0 && strchr(host, ',') == NULL);

    if (inet_pton(AF_INET, host, buf) == 1
        || inet_pton(AF_INET6, host, buf) == 1)
    {
        fuzz_assert(len < size);
        memcpy(addrs, host, len + 1);
        return NGX_OK;
    }

    if (len > 8 && strcmp(host + len - 8, ".invalid") == 0) {
        snprintf(error, NGX_HTTP_WEAVEIT_PG_ERRLEN, "host not found");
        return NGX_ERROR;
    }

    snprintf(addrs, size, "%s", strcmp(host, "localhost") == 0
                                ? "127.0.0.1,::1" : "192.0.2.1");

    return NGX_OK;
}


static size_t
fuzz_count(const char *list)
{
    size_t  n;

    for (n = 1; *list; list++) {
        n += (*list == ',');
    }

    return n;
}


/* entry n of a comma-separated list: its start, and its length */

static const char *
fuzz_entry(const char *list, size_t n, size_t *len)
{
    while (n--) {
        list = strchr(list, ',') + 1;
    }

    *len = strcspn(list, ",");

    return list;
}


static void
fuzz_check(ngx_http_weaveit_conninfo_t *ci)
{
    size_t       i, n, hlen, alen;
    const char  *hosts, *addrs, *ports, *h;

    hosts = ngx_http_weaveit_conninfo_value(ci, "host");
    addrs = ngx_http_weaveit_conninfo_value(ci, "hostaddr");
    ports = ngx_http_weaveit_conninfo_value(ci, "port");

    if (hosts == NULL) {
        return;
    }

    n = fuzz_count(hosts);

    fuzz_assert(ports == NULL || fuzz_count(ports) == 1
                || fuzz_count(ports) == n);

    if (addrs == NULL) {

        /* nothing was resolved: no entry is a name */

        for (i = 0; i < n; i++) {
            h = fuzz_entry(hosts, i, &hlen);
            fuzz_assert(hlen == 0 || h[0] == '/' || h[0] == '@');
        }

        return;
    }

    fuzz_assert(fuzz_count(addrs) == n);

    for (i = 0; i < n; i++) {
        h = fuzz_entry(hosts, i, &hlen);
        (void) fuzz_entry(addrs, i, &alen);
        fuzz_assert(hlen == 0 || h[0] == '/' || h[0] == '@' || alen > 0);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                             error[NGX_HTTP_WEAVEIT_PG_ERRLEN];
    ngx_str_t                        conninfo;
    fuzz_env_t                       fe;
    ngx_http_weaveit_conninfo_t      ci;
    ngx_http_weaveit_conninfo_env_t  env;

    /* C strings: a NUL ends each field, as it would in nginx.conf */

    conninfo = fuzz_field(&data, &size);
    fe.pghost = fuzz_field(&data, &size);
    fe.pgservice = fuzz_field(&data, &size);
    fe.service_file = fuzz_str(data, size);

    conninfo.data = realloc(conninfo.data, conninfo.len + 1);
    fe.pghost.data = realloc(fe.pghost.data, fe.pghost.len + 1);
    fe.pgservice.data = realloc(fe.pgservice.data, fe.pgservice.len + 1);
    fuzz_assert(conninfo.data && fe.pghost.data && fe.pgservice.data);
    conninfo.data[conninfo.len] = '\0';
    fe.pghost.data[fe.pghost.len] = '\0';
    fe.pgservice.data[fe.pgservice.len] = '\0';
    fe.pghost.len = strlen((char *) fe.pghost.data);
    fe.pgservice.len = strlen((char *) fe.pgservice.data);

    env.getenv = fuzz_getenv;
    env.read_file = fuzz_read_file;
    env.resolve = fuzz_resolve;
    env.data = &fe;
    env.home = NULL;
    env.sysconfdir = "/nonexistent";

    if (ngx_http_weaveit_conninfo_complete(&ci, (char *) conninfo.data, &env,
                                           error)
        == NGX_OK)
    {
        fuzz_check(&ci);

    } else {
        fuzz_assert(memchr(error, '\0', sizeof(error)) != NULL);
    }

    ngx_http_weaveit_conninfo_free(&ci);

    free(conninfo.data);
    free(fe.pghost.data);
    free(fe.pgservice.data);
    free(fe.service_file.data);

    return 0;
}
