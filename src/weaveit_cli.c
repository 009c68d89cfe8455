/*
 * weaveit-render: the generation core from the command line, and the
 * sandboxed generator process that nginx spawns for each video.
 *
 *   weaveit-render [options] [--title T] script.txt out.mp4
 *   weaveit-render [options] [--max-memory B] [--max-cpu S] [--parent P]
 *       --serve
 *   weaveit-render [options] [--max-memory B] [--max-cpu S] --sandbox-test
 *   weaveit-render --list-voices
 *
 *   options: [--size WxH] [--fps N] [--font F] [--font-size N] [--voice V]
 *            [--prose-font F] [--rate N] [--preset P] [--crf N] [--threads N]
 *            [--format auto|text|markdown] [--theme light|dark] [--cfr]
 *            [--speech espeak|openai] [--speech-url URL]
 *            [--speech-model NAME] [--speech-key-file F]
 *            [--speech-format F] [--speech-timeout S]
 *            [--speech-concurrency N]
 *
 * --voice auto speaks with the installed espeak-ng voice of the script's
 * writing system (Han: cmn, Arabic: ar, ...; Latin and the others: en).
 * With --speech openai the voice is the server's (default nova, which
 * --voice auto is too) and the
 * bearer token comes from --speech-key-file or, for --serve, from the
 * environment variable WEAVEIT_SPEECH_KEY, which is cleared once read:
 * a token on the command line would show in every process list.
 * --list-voices prints espeak-ng's installed voices, "NAME\tLANGUAGE" a
 * line.
 *
 * --serve enters the sandbox (weaveit_sandbox.c) before it reads a byte;
 * the options are trusted, what comes on stdin is not:
 *
 *   stdin   the title's length in bytes in ASCII decimal, "\n", the title
 *           (length 0: none), then the script until EOF; a title over
 *           WEAVEIT_TITLE_MAX or a script over WEAVEIT_SCRIPT_MAX bytes is
 *           refused
 *   stdout  the MP4, written once generation has succeeded
 *   fd 3    if open: the progress, a line "N\n" (0 to 100) as it changes,
 *           news for the log as lines "note TEXT\n" (a speech server's
 *           retries), and on success, before the MP4, "voice NAME\n" (the
 *           voice that spoke, "auto" resolved), "missing N\n"
 *           (characters no installed font has a glyph for) and
 *           "duration SECONDS\n"
 *   stderr  on failure, one line: why
 *   exit    0: the MP4 is on stdout; 1: this job failed, its input or its
 *           generation; 2: no job can run, stdin is not read: bad options,
 *           or their font, voice or encoders, or the sandbox, unusable;
 *           killed by a signal: a crash (SIGABRT, SIGSEGV) or the CPU
 *           limit (SIGXCPU, then SIGKILL)
 *
 * stdout, stderr and fd 3 must be pipes: no regular file can be written in
 * the sandbox; descriptors from 4 up are closed.  --sandbox-test enters
 * the same sandbox and tries what it forbids and what generation needs,
 * one line each.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weaveit.h"
#include "weaveit_sandbox.h"


#define WEAVEIT_CLI_RUN          -1     /* the options are good: go on */

#define WEAVEIT_CLI_FILE          0     /* the modes */
#define WEAVEIT_CLI_SERVE         1
#define WEAVEIT_CLI_SANDBOX_TEST  2
#define WEAVEIT_CLI_LIST_VOICES   3

#define WEAVEIT_CLI_TICK_NS       100000000    /* progress is looked at */
#define WEAVEIT_SERVE_PROGRESS    3            /* the progress fd */
#define WEAVEIT_SERVE_DIGITS      7            /* of the title's length */


typedef struct {
    weaveit_params_t    params;
    weaveit_sandbox_t   sandbox;
    int                 mode;
    char                key[WEAVEIT_SPEECH_KEY_MAX + 1];
} weaveit_cli_conf_t;


typedef struct {
    const weaveit_params_t  *params;
    char                    *script;
    size_t                   len;
    weaveit_video_t          video;
    atomic_int               progress;
    int                      rc;
    char                     err[512];

    /* show(fd, percent), if set, as the percentage changes */
    void                   (*show)(int fd, int pct);
    int                      fd;
    pthread_mutex_t          lock;
    pthread_cond_t           cond;
    int                      done;
} weaveit_cli_job_t;


/* --name ARG stores ARG, converted by set, at offset in the conf */

typedef struct {
    const char         *name;
    int               (*set)(weaveit_cli_conf_t *conf, size_t offset,
                             const char *arg);
    size_t              offset;
} weaveit_cli_option_t;


static void weaveit_cli_usage(FILE *f);
static int weaveit_cli_parse(int argc, char **argv, weaveit_cli_conf_t *conf);
static int weaveit_cli_conflicts(const weaveit_cli_conf_t *conf);
static int weaveit_cli_string(weaveit_cli_conf_t *conf, size_t offset,
    const char *arg);
static int weaveit_cli_number(weaveit_cli_conf_t *conf, size_t offset,
    const char *arg);
static int weaveit_cli_limit(weaveit_cli_conf_t *conf, size_t offset,
    const char *arg);
static int weaveit_cli_decimal(const char *arg, unsigned long long max,
    unsigned long long *v);
static int weaveit_cli_size(weaveit_cli_conf_t *conf, size_t offset,
    const char *arg);
static int weaveit_cli_format(weaveit_cli_conf_t *conf, size_t offset,
    const char *arg);
static int weaveit_cli_theme(weaveit_cli_conf_t *conf, size_t offset,
    const char *arg);
static int weaveit_cli_speech(weaveit_cli_conf_t *conf, size_t offset,
    const char *arg);
static int weaveit_cli_key_file(weaveit_cli_conf_t *conf, size_t offset,
    const char *arg);
static void weaveit_cli_key_from_env(weaveit_cli_conf_t *conf);
static void weaveit_cli_note(void *data, const char *text);
static void weaveit_cli_print_voice(void *data, const char *name,
    const char *language);
static int weaveit_cli_list_voices(void);
static int weaveit_cli_file(weaveit_cli_conf_t *conf, const char *input,
    const char *output);
static int weaveit_cli_read(FILE *f, size_t max, char **data, size_t *len);
static void weaveit_cli_job_init(weaveit_cli_job_t *job,
    weaveit_params_t *p);
static void weaveit_cli_job_free(weaveit_cli_job_t *job);
static void weaveit_cli_generate(weaveit_cli_job_t *job);
static void weaveit_cli_wait(weaveit_cli_job_t *job);
static void *weaveit_cli_thread(void *arg);
static void weaveit_cli_run(weaveit_cli_job_t *job);
static void weaveit_cli_show_tty(int fd, int pct);
static void weaveit_cli_show_line(int fd, int pct);
static int weaveit_cli_write(weaveit_cli_job_t *job, FILE *out,
    const char *output, double start);
static double weaveit_cli_now(void);
static int weaveit_cli_serve(weaveit_cli_conf_t *conf);
static int weaveit_cli_serve_read(weaveit_cli_job_t *job, char *title);
static int weaveit_cli_serve_title(weaveit_cli_job_t *job, char *title,
    const char *input, size_t n, size_t *used);
static int weaveit_cli_sandbox_test(weaveit_cli_conf_t *conf);


#define weaveit_cli_param(field)                                              \
    offsetof(weaveit_cli_conf_t, params.field)
#define weaveit_cli_sandbox(field)                                            \
    offsetof(weaveit_cli_conf_t, sandbox.field)

static const weaveit_cli_option_t  weaveit_cli_options[] = {
    { "title",      weaveit_cli_string, weaveit_cli_param(title) },
    { "size",       weaveit_cli_size,   0 },
    { "fps",        weaveit_cli_number, weaveit_cli_param(fps) },
    { "font",       weaveit_cli_string, weaveit_cli_param(font_path) },
    { "font-size",  weaveit_cli_number, weaveit_cli_param(font_size) },
    { "prose-font", weaveit_cli_string, weaveit_cli_param(prose_font) },
    { "voice",      weaveit_cli_string, weaveit_cli_param(voice) },
    { "rate",       weaveit_cli_number, weaveit_cli_param(speech_rate) },
    { "preset",     weaveit_cli_string, weaveit_cli_param(x264_preset) },
    { "crf",        weaveit_cli_number, weaveit_cli_param(crf) },
    { "threads",    weaveit_cli_number, weaveit_cli_param(threads) },
    { "format",     weaveit_cli_format, 0 },
    { "theme",      weaveit_cli_theme,  0 },
    { "speech",     weaveit_cli_speech, 0 },
    { "speech-url", weaveit_cli_string, weaveit_cli_param(speech_url) },
    { "speech-model", weaveit_cli_string, weaveit_cli_param(speech_model) },
    { "speech-key-file", weaveit_cli_key_file, 0 },
    { "speech-format", weaveit_cli_string,
      weaveit_cli_param(speech_format) },
    { "speech-ca-file", weaveit_cli_string,
      weaveit_cli_param(speech_ca_file) },
    { "speech-timeout", weaveit_cli_number,
      weaveit_cli_param(speech_timeout) },
    { "speech-concurrency", weaveit_cli_number,
      weaveit_cli_param(speech_concurrency) },
    { "max-memory", weaveit_cli_limit,  weaveit_cli_sandbox(max_memory) },
    { "max-cpu",    weaveit_cli_limit,  weaveit_cli_sandbox(max_cpu) },
    { "parent",     weaveit_cli_number, weaveit_cli_sandbox(parent) }
};

#define WEAVEIT_CLI_NOPTIONS                                                  \
    (sizeof(weaveit_cli_options) / sizeof(weaveit_cli_option_t))


static void
weaveit_cli_usage(FILE *f)
{
    fprintf(f, "usage: weaveit-render [options] [--title T] script.txt "
            "out.mp4\n"
            "       weaveit-render [options] [--max-memory B] "
            "[--max-cpu S] [--parent P] --serve\n"
            "       weaveit-render [options] [--max-memory B] "
            "[--max-cpu S] --sandbox-test\n"
            "       weaveit-render --list-voices\n"
            "options: [--size WxH] [--fps N] [--font F] [--font-size N] "
            "[--voice V]\n"
            "         [--prose-font F] [--rate N] [--preset P] [--crf N] "
            "[--threads N]\n"
            "         [--format auto|text|markdown] [--theme light|dark] "
            "[--cfr]\n"
            "         [--speech espeak|openai] [--speech-url URL] "
            "[--speech-model NAME]\n"
            "         [--speech-key-file F] [--speech-format F] "
            "[--speech-timeout S]\n"
            "         [--speech-concurrency N] [--speech-ca-file F]\n");
}


/*
 * Returns WEAVEIT_CLI_RUN, or the exit status when there is nothing to
 * do: --help, a bad option, options of another mode, or not two file
 * names where they are wanted.
 */

static int
weaveit_cli_parse(int argc, char **argv, weaveit_cli_conf_t *conf)
{
    int                          c, i, opt, operands;
    struct option                longopts[WEAVEIT_CLI_NOPTIONS + 6];
    const weaveit_cli_option_t  *o;

    for (i = 0; i < (int) WEAVEIT_CLI_NOPTIONS; i++) {
        longopts[i] = (struct option) {
            weaveit_cli_options[i].name, required_argument, NULL, 0
        };
    }

    longopts[i++] = (struct option) {
        "serve", no_argument, &conf->mode, WEAVEIT_CLI_SERVE
    };
    longopts[i++] = (struct option) {
        "sandbox-test", no_argument, &conf->mode, WEAVEIT_CLI_SANDBOX_TEST
    };
    longopts[i++] = (struct option) {
        "list-voices", no_argument, &conf->mode, WEAVEIT_CLI_LIST_VOICES
    };
    longopts[i++] = (struct option) {
        "cfr", no_argument, &conf->params.cfr, 1
    };
    longopts[i++] = (struct option) { "help", no_argument, NULL, 'h' };
    longopts[i] = (struct option) { NULL, 0, NULL, 0 };

    while ((c = getopt_long(argc, argv, "h", longopts, &opt)) != -1) {

        /* past the table: a mode, stored by getopt_long() */
        if (c == 0 && opt >= (int) WEAVEIT_CLI_NOPTIONS) {
            continue;
        }

        if (c == 0) {
            o = &weaveit_cli_options[opt];

            if (o->set(conf, o->offset, optarg) != 0) {
                return 2;
            }

            continue;
        }

        weaveit_cli_usage(c == 'h' ? stdout : stderr);
        return (c == 'h') ? 0 : 2;
    }

    operands = (conf->mode == WEAVEIT_CLI_FILE) ? 2 : 0;

    if (conf->mode == WEAVEIT_CLI_LIST_VOICES && argc != 2) {
        weaveit_cli_usage(stderr);
        return 2;
    }

    if (argc - optind != operands) {
        weaveit_cli_usage(stderr);
        return 2;
    }

    return weaveit_cli_conflicts(conf);
}


/* the title and the limits belong to one mode each */

static int
weaveit_cli_conflicts(const weaveit_cli_conf_t *conf)
{
    if (conf->mode != WEAVEIT_CLI_FILE && conf->params.title != NULL) {
        fprintf(stderr, "weaveit-render: --title is for a script file; "
                "--serve reads the title from stdin\n");
        return 2;
    }

    if (conf->mode == WEAVEIT_CLI_FILE
        && (conf->sandbox.max_memory || conf->sandbox.max_cpu))
    {
        fprintf(stderr, "weaveit-render: --max-memory and --max-cpu are "
                "limits of the sandbox: --serve or --sandbox-test\n");
        return 2;
    }

    return WEAVEIT_CLI_RUN;
}


static int
weaveit_cli_string(weaveit_cli_conf_t *conf, size_t offset, const char *arg)
{
    *(const char **) ((char *) conf + offset) = arg;

    return 0;
}


/* a non-negative int: weaveit_generate() judges its range */

static int
weaveit_cli_number(weaveit_cli_conf_t *conf, size_t offset, const char *arg)
{
    unsigned long long  v;

    if (weaveit_cli_decimal(arg, INT_MAX, &v) != 0) {
        return -1;
    }

    *(int *) ((char *) conf + offset) = (int) v;

    return 0;
}


/* bytes or seconds, to LLONG_MAX: the CPU limit's hard value N + 1 fits */

static int
weaveit_cli_limit(weaveit_cli_conf_t *conf, size_t offset, const char *arg)
{
    return weaveit_cli_decimal(arg, LLONG_MAX,
                               (unsigned long long *) ((char *) conf
                                                       + offset));
}


static int
weaveit_cli_decimal(const char *arg, unsigned long long max,
    unsigned long long *v)
{
    char  *end;

    errno = 0;
    *v = strtoull(arg, &end, 10);

    /* strtoull() takes "-1" and leading blanks: digits only */
    if (arg[0] < '0' || arg[0] > '9' || errno || *end != '\0' || *v > max) {
        fprintf(stderr, "weaveit-render: bad number \"%s\"\n", arg);
        return -1;
    }

    return 0;
}


static int
weaveit_cli_size(weaveit_cli_conf_t *conf, size_t offset, const char *arg)
{
    (void) offset;

    if (sscanf(arg, "%dx%d", &conf->params.width, &conf->params.height)
        != 2)
    {
        fprintf(stderr, "weaveit-render: bad --size \"%s\" (want WxH)\n",
                arg);
        return -1;
    }

    return 0;
}


static int
weaveit_cli_format(weaveit_cli_conf_t *conf, size_t offset, const char *arg)
{
    (void) offset;

    conf->params.format = weaveit_format_parse(arg);

    if (conf->params.format < 0) {
        fprintf(stderr, "weaveit-render: bad --format \"%s\" (auto, text "
                "or markdown)\n", arg);
        return -1;
    }

    return 0;
}


static int
weaveit_cli_theme(weaveit_cli_conf_t *conf, size_t offset, const char *arg)
{
    (void) offset;

    conf->params.theme = weaveit_theme_parse(arg);

    if (conf->params.theme < 0) {
        fprintf(stderr, "weaveit-render: bad --theme \"%s\" (light or "
                "dark)\n", arg);
        return -1;
    }

    return 0;
}


static int
weaveit_cli_speech(weaveit_cli_conf_t *conf, size_t offset, const char *arg)
{
    (void) offset;

    if (strcmp(arg, "espeak") == 0) {
        conf->params.speech = WEAVEIT_SPEECH_ESPEAK;

    } else if (strcmp(arg, "openai") == 0) {
        conf->params.speech = WEAVEIT_SPEECH_OPENAI;

    } else {
        fprintf(stderr, "weaveit-render: bad --speech \"%s\" (espeak or "
                "openai)\n", arg);
        return -1;
    }

    return 0;
}


static int
weaveit_cli_key_file(weaveit_cli_conf_t *conf, size_t offset,
    const char *arg)
{
    char  err[512];

    (void) offset;

    if (weaveit_speech_key_read(arg, conf->key, sizeof(conf->key), err,
                                sizeof(err)) != 0)
    {
        fprintf(stderr, "weaveit-render: %s\n", err);
        return -1;
    }

    conf->params.speech_key = conf->key;

    return 0;
}


/* nginx's token: no other reader of this environment ever sees it */

static void
weaveit_cli_key_from_env(weaveit_cli_conf_t *conf)
{
    char    *key;
    size_t   len;

    key = getenv(WEAVEIT_SPEECH_KEY_ENV);

    if (key == NULL || conf->params.speech_key != NULL) {
        return;
    }

    len = strlen(key);

    if (len < sizeof(conf->key)) {
        memcpy(conf->key, key, len + 1);
        conf->params.speech_key = conf->key;
    }

    memset(key, 0, len);
    unsetenv(WEAVEIT_SPEECH_KEY_ENV);
}


/* news for the log: a line on fd 3 for nginx, or on stderr */

static void
weaveit_cli_note(void *data, const char *text)
{
    weaveit_cli_job_t  *job;

    job = data;

    if (job->show == weaveit_cli_show_line) {
        dprintf(job->fd, "note %s\n", text);

    } else {
        fprintf(stderr, "%sweaveit-render: %s\n",
                job->show ? "\r" : "", text);
    }
}


static void
weaveit_cli_print_voice(void *data, const char *name, const char *language)
{
    (void) data;

    printf("%s\t%s\n", name, language);
}


static int
weaveit_cli_list_voices(void)
{
    char  err[512];

    if (weaveit_espeak_voices(weaveit_cli_print_voice, NULL, err,
                              sizeof(err)) != 0)
    {
        fprintf(stderr, "weaveit-render: %s\n", err);
        return 2;
    }

    return (fflush(stdout) == 0) ? 0 : 2;
}


static int
weaveit_cli_file(weaveit_cli_conf_t *conf, const char *input,
    const char *output)
{
    int                 rc;
    FILE               *in, *out;
    double              start;
    weaveit_cli_job_t   job;

    weaveit_cli_job_init(&job, &conf->params);

    in = fopen(input, "rb");
    rc = (in == NULL) ? -1 : weaveit_cli_read(in, SIZE_MAX, &job.script,
                                              &job.len);
    if (in != NULL) {
        fclose(in);
    }

    if (rc != 0) {
        fprintf(stderr, "weaveit-render: cannot read \"%s\": %s\n", input,
                strerror(errno));
        weaveit_cli_job_free(&job);
        return 1;
    }

    /* fail before the work, not after it */
    out = fopen(output, "wb");
    if (out == NULL) {
        fprintf(stderr, "weaveit-render: cannot write \"%s\": %s\n", output,
                strerror(errno));
        weaveit_cli_job_free(&job);
        return 1;
    }

    if (isatty(STDERR_FILENO)) {
        job.show = weaveit_cli_show_tty;
        job.fd = STDERR_FILENO;
    }

    start = weaveit_cli_now();
    weaveit_cli_generate(&job);

    if (job.show != NULL) {
        fprintf(stderr, "\r                     \r");
    }

    if (job.rc != 0) {
        fprintf(stderr, "weaveit-render: %s\n", job.err);
        fclose(out);
        unlink(output);
        weaveit_cli_job_free(&job);
        return 1;
    }

    rc = weaveit_cli_write(&job, out, output, start);
    weaveit_cli_job_free(&job);

    return rc;
}


/* all of f, but no more than max bytes */

static int
weaveit_cli_read(FILE *f, size_t max, char **data, size_t *len)
{
    char    *buf, *p;
    size_t   n, alloc;

    alloc = (max < 65536) ? max : 65536;
    n = 0;
    buf = malloc(alloc);

    while (buf != NULL) {
        n += fread(buf + n, 1, alloc - n, f);

        if (n < alloc || n == max) {
            break;
        }

        alloc = (alloc > max / 2) ? max : alloc * 2;
        p = realloc(buf, alloc);

        if (p == NULL) {
            free(buf);
            errno = ENOMEM;
        }

        buf = p;
    }

    if (buf != NULL && ferror(f)) {
        free(buf);
        buf = NULL;
    }

    if (buf == NULL) {
        return -1;
    }

    *data = buf;
    *len = n;

    return 0;
}


static void
weaveit_cli_job_init(weaveit_cli_job_t *job, weaveit_params_t *p)
{
    memset(job, 0, sizeof(weaveit_cli_job_t));
    p->note = weaveit_cli_note;
    p->note_data = job;
    job->params = p;
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->cond, NULL);
}


static void
weaveit_cli_job_free(weaveit_cli_job_t *job)
{
    free(job->script);
    weaveit_video_free(&job->video);
    pthread_mutex_destroy(&job->lock);
    pthread_cond_destroy(&job->cond);
}


/*
 * With show(), generation runs in a thread of its own while this one looks
 * at the progress every tick, and at the end at once; without, here.
 */

static void
weaveit_cli_generate(weaveit_cli_job_t *job)
{
    int        pct, shown, done;
    pthread_t  thread;

    if (job->show == NULL
        || pthread_create(&thread, NULL, weaveit_cli_thread, job) != 0)
    {
        weaveit_cli_run(job);
        return;
    }

    shown = -1;
    pthread_mutex_lock(&job->lock);

    do {
        done = job->done;
        pct = atomic_load(&job->progress);

        if (pct != shown) {
            job->show(job->fd, pct);
            shown = pct;
        }

        if (!done) {
            weaveit_cli_wait(job);
        }

    } while (!done);

    pthread_mutex_unlock(&job->lock);
    pthread_join(thread, NULL);
}


/* a tick, or less if the job ends; the caller holds job->lock */

static void
weaveit_cli_wait(weaveit_cli_job_t *job)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += WEAVEIT_CLI_TICK_NS;

    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }

    pthread_cond_timedwait(&job->cond, &job->lock, &ts);
}


static void *
weaveit_cli_thread(void *arg)
{
    weaveit_cli_job_t  *job;

    job = arg;
    weaveit_cli_run(job);

    pthread_mutex_lock(&job->lock);
    job->done = 1;
    pthread_cond_signal(&job->cond);
    pthread_mutex_unlock(&job->lock);

    return NULL;
}


static void
weaveit_cli_run(weaveit_cli_job_t *job)
{
    job->rc = weaveit_generate(job->params, job->script, job->len,
                               &job->video, &job->progress, job->err,
                               sizeof(job->err));
}


/* a terminal: one line rewritten in place */

static void
weaveit_cli_show_tty(int fd, int pct)
{
    dprintf(fd, "\rweaveit-render: %3d%%", pct);
}


/* a parent that stopped reading costs it its progress, not the job */

static void
weaveit_cli_show_line(int fd, int pct)
{
    dprintf(fd, "%d\n", pct);
}


/* closes out; a file that could not be written whole is removed */

static int
weaveit_cli_write(weaveit_cli_job_t *job, FILE *out, const char *output,
    double start)
{
    int  written;

    written = (fwrite(job->video.data, 1, job->video.size, out)
               == job->video.size);

    if (fclose(out) != 0 || !written) {
        fprintf(stderr, "weaveit-render: cannot write \"%s\": %s\n", output,
                strerror(errno));
        unlink(output);
        return 1;
    }

    printf("%s: %.3f s, %u frames, voice %s, %zu characters without a "
           "glyph, %zu bytes, %.3f s taken\n", output, job->video.duration,
           job->video.frames, job->video.voice, job->video.missing_glyphs,
           job->video.size, weaveit_cli_now() - start);

    return 0;
}


static double
weaveit_cli_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/*
 * fd 3 is looked at first: once the sandbox has opened files, one of them
 * could be fd 3.  Pipes are written with SIGPIPE ignored, so a parent
 * that stopped reading makes a write error, not a death by signal.
 */

static int
weaveit_cli_serve(weaveit_cli_conf_t *conf)
{
    char               title[WEAVEIT_TITLE_MAX + 1];
    weaveit_cli_job_t  job;

    weaveit_cli_job_init(&job, &conf->params);
    weaveit_cli_key_from_env(conf);

    if (fcntl(WEAVEIT_SERVE_PROGRESS, F_GETFD) != -1) {
        job.show = weaveit_cli_show_line;
        job.fd = WEAVEIT_SERVE_PROGRESS;
    }

    signal(SIGPIPE, SIG_IGN);

    if (weaveit_sandbox_enter(&conf->sandbox, &conf->params, job.err,
                              sizeof(job.err)) != 0)
    {
        fprintf(stderr, "%s\n", job.err);
        weaveit_cli_job_free(&job);
        return 2;
    }

    if (weaveit_cli_serve_read(&job, title) != 0) {
        job.rc = -1;

    } else {
        conf->params.title = title;
        weaveit_cli_generate(&job);
    }

    if (job.rc == 0 && job.show == weaveit_cli_show_line) {
        dprintf(job.fd, "voice %s\nmissing %zu\nduration %.3f\n",
                job.video.voice, job.video.missing_glyphs,
                job.video.duration);
    }

    if (job.rc == 0
        && (fwrite(job.video.data, 1, job.video.size, stdout)
            != job.video.size || fflush(stdout) != 0))
    {
        snprintf(job.err, sizeof(job.err), "cannot write the MP4: %s",
                 strerror(errno));
        job.rc = -1;
    }

    if (job.rc != 0) {
        fprintf(stderr, "%s\n", job.err);
    }

    weaveit_cli_job_free(&job);

    return (job.rc == 0) ? 0 : 1;
}


/*
 * The title and the script from stdin, of which no more is read than the
 * longest of both can take; job->err says why not.
 */

static int
weaveit_cli_serve_read(weaveit_cli_job_t *job, char *title)
{
    char    *input;
    size_t   n, used;

    if (weaveit_cli_read(stdin, WEAVEIT_SERVE_DIGITS + 1 + WEAVEIT_TITLE_MAX
                                + WEAVEIT_SCRIPT_MAX + 1, &input, &n)
        != 0)
    {
        snprintf(job->err, sizeof(job->err), "cannot read stdin: %s",
                 strerror(errno));
        return -1;
    }

    job->script = input;

    if (weaveit_cli_serve_title(job, title, input, n, &used) != 0) {
        return -1;
    }

    job->len = n - used;

    if (job->len > WEAVEIT_SCRIPT_MAX) {
        snprintf(job->err, sizeof(job->err), "script is over %d bytes",
                 WEAVEIT_SCRIPT_MAX);
        return -1;
    }

    memmove(input, input + used, job->len);

    return 0;
}


/* "N\n" and N bytes of title, a C string: no NUL byte in it */

static int
weaveit_cli_serve_title(weaveit_cli_job_t *job, char *title,
    const char *input, size_t n, size_t *used)
{
    size_t  i, len;

    len = 0;

    for (i = 0; i < n && i < WEAVEIT_SERVE_DIGITS; i++) {
        if (input[i] < '0' || input[i] > '9') {
            break;
        }

        len = len * 10 + (input[i] - '0');
    }

    if (i == 0 || i == n || input[i] != '\n') {
        snprintf(job->err, sizeof(job->err), "stdin must begin with the "
                 "title's length in bytes and a newline");
        return -1;
    }

    if (len > WEAVEIT_TITLE_MAX) {
        snprintf(job->err, sizeof(job->err), "title is %zu bytes, over %d",
                 len, WEAVEIT_TITLE_MAX);
        return -1;
    }

    if (len > n - i - 1) {
        snprintf(job->err, sizeof(job->err), "stdin ends within the title");
        return -1;
    }

    if (memchr(input + i + 1, '\0', len) != NULL) {
        snprintf(job->err, sizeof(job->err), "title contains a NUL byte");
        return -1;
    }

    memcpy(title, input + i + 1, len);
    title[len] = '\0';
    *used = i + 1 + len;

    return 0;
}


static int
weaveit_cli_sandbox_test(weaveit_cli_conf_t *conf)
{
    char  err[512];

    if (weaveit_sandbox_enter(&conf->sandbox, &conf->params, err,
                              sizeof(err)) != 0)
    {
        fprintf(stderr, "weaveit-render: %s\n", err);
        return 2;
    }

    return (weaveit_sandbox_test(&conf->params, stdout) == 0) ? 0 : 1;
}


int
main(int argc, char **argv)
{
    int                 rc;
    weaveit_cli_conf_t  conf;

    memset(&conf, 0, sizeof(weaveit_cli_conf_t));

    /*
     * first: the parent the sandbox checks is still there; --parent names
     * it, for a parent that may be gone before this line runs
     */
    conf.sandbox.parent = getppid();
    weaveit_params_init(&conf.params);

    rc = weaveit_cli_parse(argc, argv, &conf);
    if (rc != WEAVEIT_CLI_RUN) {
        return rc;
    }

    switch (conf.mode) {

    case WEAVEIT_CLI_SERVE:
        return weaveit_cli_serve(&conf);

    case WEAVEIT_CLI_SANDBOX_TEST:
        return weaveit_cli_sandbox_test(&conf);

    case WEAVEIT_CLI_LIST_VOICES:
        return weaveit_cli_list_voices();

    default:
        return weaveit_cli_file(&conf, argv[optind], argv[optind + 1]);
    }
}
