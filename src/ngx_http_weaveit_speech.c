
/*
 * Speech settings: the backend (espeak-ng, or a server with OpenAI's
 * speech API), the server's bearer token, and the voices a request may
 * choose.  All of it is settled when the configuration loads: the token
 * file is read then (the workers may not be able to read it), and
 * espeak-ng's installed voices are asked of the generator, which links
 * espeak-ng where the module does not (`weaveit-render --list-voices`).
 */


#include "ngx_http_weaveit.h"
#include "weaveit.h"

#include <spawn.h>
#include <sys/wait.h>


/* 131 voices of about 30 bytes each in espeak-ng 1.51 */
#define NGX_HTTP_WEAVEIT_VOICES_OUTPUT  (64 * 1024)


extern char  **environ;


static char *ngx_http_weaveit_speech_check_url(ngx_conf_t *cf,
    ngx_str_t *url);
static char *ngx_http_weaveit_speech_init_server(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf);
static char *ngx_http_weaveit_speech_init_ca_file(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf);
static char *ngx_http_weaveit_speech_init_voices(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf);
static ngx_int_t ngx_http_weaveit_speech_add_voice(ngx_array_t *voices,
    ngx_str_t *name, ngx_str_t *language);
static ngx_array_t *ngx_http_weaveit_speech_server_voices(ngx_conf_t *cf);
static ngx_array_t *ngx_http_weaveit_speech_espeak_voices(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf);
static ngx_int_t ngx_http_weaveit_speech_run_list(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf, ngx_str_t *out);
static ngx_int_t ngx_http_weaveit_speech_parse_list(ngx_str_t *out,
    ngx_array_t *voices);
static ngx_http_weaveit_voice_t *ngx_http_weaveit_speech_find(
    ngx_array_t *voices, ngx_str_t *name);


/* weaveit_speech espeak | openai URL */

char *
ngx_http_weaveit_speech_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_weaveit_main_conf_t  *wmcf = conf;

    ngx_str_t  *value;

    if (wmcf->speech_url.data != NULL || wmcf->speech != NGX_CONF_UNSET_UINT)
    {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "espeak") == 0) {
        wmcf->speech = WEAVEIT_SPEECH_ESPEAK;
        return NGX_CONF_OK;
    }

    if (cf->args->nelts == 3 && ngx_strcmp(value[1].data, "openai") == 0) {
        wmcf->speech = WEAVEIT_SPEECH_OPENAI;
        wmcf->speech_url = value[2];
        return ngx_http_weaveit_speech_check_url(cf, &value[2]);
    }

    return "takes \"espeak\" or \"openai URL\"";
}


/* weaveit_voices NAME...: checked once the backend is known */

char *
ngx_http_weaveit_speech_set_voices(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_weaveit_main_conf_t  *wmcf = conf;

    ngx_str_t   *value, *name;
    ngx_uint_t   i;

    if (wmcf->voice_names != NULL) {
        return "is duplicate";
    }

    wmcf->voice_names = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                         sizeof(ngx_str_t));
    if (wmcf->voice_names == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        name = ngx_array_push(wmcf->voice_names);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;
}


/* http:// or https://, a host, maybe a port, a path; nothing resolved */

static char *
ngx_http_weaveit_speech_check_url(ngx_conf_t *cf, ngx_str_t *url)
{
    size_t     skip;
    ngx_url_t  u;

    ngx_memzero(&u, sizeof(ngx_url_t));

    if (url->len > 7 && ngx_strncasecmp(url->data, (u_char *) "http://", 7)
                        == 0)
    {
        skip = 7;
        u.default_port = 80;

    } else if (url->len > 8
               && ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0)
    {
        skip = 8;
        u.default_port = 443;

    } else {
        return "URL must begin with http:// or https://";
    }

    u.url.data = url->data + skip;
    u.url.len = url->len - skip;
    u.uri_part = 1;
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.host.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid speech server URL \"%V\": %s", url,
                           u.err ? u.err : "no host");
        return NGX_CONF_ERROR;
    }

    if (ngx_strlchr(url->data, url->data + url->len, ' ') != NULL
        || ngx_strlchr(url->data, url->data + url->len, '#') != NULL)
    {
        return "URL must have no blank and no fragment";
    }

    return NGX_CONF_OK;
}


char *
ngx_http_weaveit_speech_init_conf(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf)
{
    weaveit_params_t  defaults;

    weaveit_params_init(&defaults);

    ngx_conf_init_uint_value(wmcf->speech, defaults.speech);
    ngx_conf_init_value(wmcf->speech_timeout, defaults.speech_timeout);
    ngx_conf_init_value(wmcf->speech_concurrency,
                        defaults.speech_concurrency);

    if (wmcf->speech_model.data == NULL) {
        ngx_str_set(&wmcf->speech_model, WEAVEIT_OPENAI_MODEL);
    }

    if (wmcf->speech_format.data == NULL) {
        ngx_str_set(&wmcf->speech_format, "wav");
    }

    if (wmcf->speech == WEAVEIT_SPEECH_OPENAI
        && ngx_http_weaveit_speech_init_server(cf, wmcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (wmcf->voice.data == NULL) {
        wmcf->voice.data = (u_char *) weaveit_default_voice(wmcf->speech);
        wmcf->voice.len = ngx_strlen(wmcf->voice.data);
    }

    if (!ngx_http_weaveit_voice_name_valid(&wmcf->voice)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"weaveit_voice\" \"%V\" is not a voice name",
                           &wmcf->voice);
        return NGX_CONF_ERROR;
    }

    if (!wmcf->generates && !wmcf->lists_voices) {
        return NGX_CONF_OK;
    }

    return ngx_http_weaveit_speech_init_voices(cf, wmcf);
}


/*
 * The token is read here, by whoever loads the configuration (root,
 * usually): a file that only root may read keeps it from the workers'
 * user, who get it in memory.
 */

static char *
ngx_http_weaveit_speech_init_server(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf)
{
    char  err[512];

    if (wmcf->speech_timeout < WEAVEIT_SPEECH_TIMEOUT_MIN
        || wmcf->speech_timeout > WEAVEIT_SPEECH_TIMEOUT_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"weaveit_speech_timeout\" must be between %ds "
                           "and %ds", WEAVEIT_SPEECH_TIMEOUT_MIN,
                           WEAVEIT_SPEECH_TIMEOUT_MAX);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_weaveit_speech_init_ca_file(cf, wmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (wmcf->speech_key_file.data == NULL) {
        return NGX_CONF_OK;
    }

    wmcf->speech_key.data = ngx_pnalloc(cf->pool, WEAVEIT_SPEECH_KEY_MAX + 1);
    if (wmcf->speech_key.data == NULL) {
        return NGX_CONF_ERROR;
    }

    if (weaveit_speech_key_read((char *) wmcf->speech_key_file.data,
                                (char *) wmcf->speech_key.data,
                                WEAVEIT_SPEECH_KEY_MAX + 1, err,
                                sizeof(err)) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    wmcf->speech_key.len = ngx_strlen(wmcf->speech_key.data);

    return NGX_CONF_OK;
}


/*
 * Relative to the prefix, as nginx's own certificate paths, for the
 * generator, which runs elsewhere; a file that is not there fails here
 * rather than at every job's first request.
 */

static char *
ngx_http_weaveit_speech_init_ca_file(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf)
{
    ngx_file_info_t  fi;

    if (wmcf->speech_ca_file.data == NULL) {
        return NGX_CONF_OK;
    }

    if (ngx_conf_full_name(cf->cycle, &wmcf->speech_ca_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_file_info(wmcf->speech_ca_file.data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"weaveit_speech_ca_file\" \"%V\" cannot be "
                           "read", &wmcf->speech_ca_file);
        return NGX_CONF_ERROR;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"weaveit_speech_ca_file\" \"%V\" is not a "
                           "file", &wmcf->speech_ca_file);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * weaveit_voices, or by default every installed espeak-ng voice, or the
 * nine voices of OpenAI; espeak-ng's must be installed.
 */

static char *
ngx_http_weaveit_speech_init_voices(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf)
{
    ngx_str_t                 *name, none;
    ngx_uint_t                 i;
    ngx_array_t               *known;
    ngx_http_weaveit_voice_t  *v;

    known = (wmcf->speech == WEAVEIT_SPEECH_ESPEAK)
            ? ngx_http_weaveit_speech_espeak_voices(cf, wmcf)
            : ngx_http_weaveit_speech_server_voices(cf);

    if (known == NULL) {
        return NGX_CONF_ERROR;
    }

    if (wmcf->voice_names == NULL) {
        wmcf->voices = known;
        return NGX_CONF_OK;
    }

    wmcf->voices = ngx_array_create(cf->pool, wmcf->voice_names->nelts,
                                    sizeof(ngx_http_weaveit_voice_t));
    if (wmcf->voices == NULL) {
        return NGX_CONF_ERROR;
    }

    name = wmcf->voice_names->elts;
    ngx_str_null(&none);

    for (i = 0; i < wmcf->voice_names->nelts; i++) {
        v = ngx_http_weaveit_speech_find(known, &name[i]);

        if (!ngx_http_weaveit_voice_name_valid(&name[i])
            || (v == NULL && wmcf->speech == WEAVEIT_SPEECH_ESPEAK))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"weaveit_voices\": \"%V\" is not %s",
                               &name[i],
                               (wmcf->speech == WEAVEIT_SPEECH_ESPEAK)
                               ? "an installed espeak-ng voice "
                                 "(weaveit-render --list-voices)"
                               : "a voice name");
            return NGX_CONF_ERROR;
        }

        if (ngx_http_weaveit_speech_add_voice(wmcf->voices, &name[i],
                                              v ? &v->language : &none)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_weaveit_speech_add_voice(ngx_array_t *voices, ngx_str_t *name,
    ngx_str_t *language)
{
    ngx_http_weaveit_voice_t  *v;

    v = ngx_array_push(voices);
    if (v == NULL) {
        return NGX_ERROR;
    }

    v->name = *name;
    v->language = *language;

    return NGX_OK;
}


/* OpenAI's voices; they speak every language the model does */

static ngx_array_t *
ngx_http_weaveit_speech_server_voices(ngx_conf_t *cf)
{
    ngx_str_t     name, none;
    ngx_uint_t    i;
    ngx_array_t  *voices;

    static const char  *names[] = { WEAVEIT_OPENAI_VOICES };

    voices = ngx_array_create(cf->pool, sizeof(names) / sizeof(names[0]),
                              sizeof(ngx_http_weaveit_voice_t));
    if (voices == NULL) {
        return NULL;
    }

    ngx_str_null(&none);

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        name.data = (u_char *) names[i];
        name.len = ngx_strlen(names[i]);

        if (ngx_http_weaveit_speech_add_voice(voices, &name, &none)
            != NGX_OK)
        {
            return NULL;
        }
    }

    return voices;
}


/* and "auto", which the generator resolves by the script's writing system */

static ngx_array_t *
ngx_http_weaveit_speech_espeak_voices(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf)
{
    ngx_str_t     out, none;
    ngx_array_t  *voices;

    static ngx_str_t  auto_voice = ngx_string(WEAVEIT_VOICE_AUTO);

    voices = ngx_array_create(cf->pool, 160,
                              sizeof(ngx_http_weaveit_voice_t));
    if (voices == NULL
        || ngx_http_weaveit_speech_run_list(cf, wmcf, &out) != NGX_OK)
    {
        return NULL;
    }

    if (ngx_http_weaveit_speech_parse_list(&out, voices) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V --list-voices\" listed no voices",
                           &wmcf->generator);
        return NULL;
    }

    ngx_str_null(&none);

    if (ngx_http_weaveit_speech_add_voice(voices, &auto_voice, &none)
        != NGX_OK)
    {
        return NULL;
    }

    return voices;
}


/* the generator's stdout, read whole; blocking is fine while loading */

static ngx_int_t
ngx_http_weaveit_speech_run_list(ngx_conf_t *cf,
    ngx_http_weaveit_main_conf_t *wmcf, ngx_str_t *out)
{
    int                          fd[2], status, rc;
    char                        *argv[3];
    pid_t                        pid;
    ssize_t                      n;
    posix_spawn_file_actions_t   fa;

    out->data = ngx_pnalloc(cf->pool, NGX_HTTP_WEAVEIT_VOICES_OUTPUT);
    out->len = 0;

    if (out->data == NULL || pipe2(fd, O_CLOEXEC) == -1) {
        return NGX_ERROR;
    }

    argv[0] = (char *) wmcf->generator.data;
    argv[1] = "--list-voices";
    argv[2] = NULL;

    rc = posix_spawn_file_actions_init(&fa);

    if (rc == 0) {
        rc = posix_spawn_file_actions_adddup2(&fa, fd[1], 1);

        if (rc == 0) {
            rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
        }

        posix_spawn_file_actions_destroy(&fa);
    }

    (void) close(fd[1]);

    while (rc == 0
           && (n = read(fd[0], out->data + out->len,
                        NGX_HTTP_WEAVEIT_VOICES_OUTPUT - out->len)) != 0)
    {
        if (n > 0) {
            out->len += n;

        } else if (errno != EINTR) {
            break;
        }
    }

    (void) close(fd[0]);

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, rc,
                           "cannot run \"%V --list-voices\"",
                           &wmcf->generator);
        return NGX_ERROR;
    }

    while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
        /* void */
    }

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V --list-voices\" failed", &wmcf->generator);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* lines "NAME\tLANGUAGE" */

static ngx_int_t
ngx_http_weaveit_speech_parse_list(ngx_str_t *out, ngx_array_t *voices)
{
    u_char     *p, *last, *eol, *tab;
    ngx_str_t   name, language;

    last = out->data + out->len;

    for (p = out->data; p < last; p = eol + 1) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            break;
        }

        tab = ngx_strlchr(p, eol, '\t');
        if (tab == NULL) {
            continue;
        }

        name.data = p;
        name.len = tab - p;
        language.data = tab + 1;
        language.len = eol - tab - 1;

        if (ngx_http_weaveit_voice_name_valid(&name)
            && ngx_http_weaveit_speech_add_voice(voices, &name, &language)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return voices->nelts ? NGX_OK : NGX_ERROR;
}


static ngx_http_weaveit_voice_t *
ngx_http_weaveit_speech_find(ngx_array_t *voices, ngx_str_t *name)
{
    ngx_uint_t                 i;
    ngx_http_weaveit_voice_t  *v;

    v = voices->elts;

    for (i = 0; i < voices->nelts; i++) {
        if (v[i].name.len == name->len
            && ngx_strncmp(v[i].name.data, name->data, name->len) == 0)
        {
            return &v[i];
        }
    }

    return NULL;
}


/*
 * A name goes on the generator's command line and into JSON: printable
 * ASCII without blanks, quotes or backslashes, as voice names are.
 */

ngx_uint_t
ngx_http_weaveit_voice_name_valid(ngx_str_t *name)
{
    size_t  i;

    if (name->len == 0 || name->len > WEAVEIT_VOICE_MAX) {
        return 0;
    }

    for (i = 0; i < name->len; i++) {
        if (name->data[i] <= ' ' || name->data[i] >= 0x7f
            || name->data[i] == '"' || name->data[i] == '\\')
        {
            return 0;
        }
    }

    return 1;
}


/* the default voice is always allowed, listed or not */

ngx_uint_t
ngx_http_weaveit_voice_allowed(ngx_http_weaveit_main_conf_t *wmcf,
    ngx_str_t *name)
{
    if (name->len == wmcf->voice.len
        && ngx_strncmp(name->data, wmcf->voice.data, name->len) == 0)
    {
        return 1;
    }

    return wmcf->voices != NULL
           && ngx_http_weaveit_speech_find(wmcf->voices, name) != NULL;
}


const char *
ngx_http_weaveit_speech_name(ngx_http_weaveit_main_conf_t *wmcf)
{
    return (wmcf->speech == WEAVEIT_SPEECH_OPENAI) ? "openai" : "espeak";
}
