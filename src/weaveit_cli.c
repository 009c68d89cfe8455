/*
 * weaveit-render: the generation core from the command line.
 *
 *   weaveit-render [--title T] [--size WxH] [--fps N] [--font F]
 *       [--font-size N] [--voice V] [--rate N] [--preset P] [--crf N]
 *       [--threads N] script.txt out.mp4
 */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weaveit.h"


#define WEAVEIT_CLI_RUN          -1     /* the options are good: go on */
#define WEAVEIT_CLI_TICK_NS       100000000    /* progress is looked at */


typedef struct {
    weaveit_params_t    params;
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
static int weaveit_cli_string(weaveit_cli_conf_t *conf, size_t offset,
    const char *arg);
static int weaveit_cli_number(weaveit_cli_conf_t *conf, size_t offset,
    const char *arg);
static int weaveit_cli_size(weaveit_cli_conf_t *conf, size_t offset,
    const char *arg);
static int weaveit_cli_file(weaveit_cli_conf_t *conf, const char *input,
    const char *output);
static int weaveit_cli_read(FILE *f, size_t max, char **data, size_t *len);
static void weaveit_cli_job_init(weaveit_cli_job_t *job,
    const weaveit_params_t *p);
static void weaveit_cli_job_free(weaveit_cli_job_t *job);
static void weaveit_cli_generate(weaveit_cli_job_t *job);
static void weaveit_cli_wait(weaveit_cli_job_t *job);
static void *weaveit_cli_thread(void *arg);
static void weaveit_cli_run(weaveit_cli_job_t *job);
static void weaveit_cli_show_tty(int fd, int pct);
static int weaveit_cli_write(weaveit_cli_job_t *job, FILE *out,
    const char *output, double start);
static double weaveit_cli_now(void);

#define weaveit_cli_param(field)                                              \
    offsetof(weaveit_cli_conf_t, params.field)

static const weaveit_cli_option_t  weaveit_cli_options[] = {
    { "title",      weaveit_cli_string, weaveit_cli_param(title) },
    { "size",       weaveit_cli_size,   0 },
    { "fps",        weaveit_cli_number, weaveit_cli_param(fps) },
    { "font",       weaveit_cli_string, weaveit_cli_param(font_path) },
    { "font-size",  weaveit_cli_number, weaveit_cli_param(font_size) },
    { "voice",      weaveit_cli_string, weaveit_cli_param(voice) },
    { "rate",       weaveit_cli_number, weaveit_cli_param(speech_rate) },
    { "preset",     weaveit_cli_string, weaveit_cli_param(x264_preset) },
    { "crf",        weaveit_cli_number, weaveit_cli_param(crf) },
    { "threads",    weaveit_cli_number, weaveit_cli_param(threads) }
};

#define WEAVEIT_CLI_NOPTIONS                                                  \
    (sizeof(weaveit_cli_options) / sizeof(weaveit_cli_option_t))


static void
weaveit_cli_usage(FILE *f)
{
    fprintf(f, "usage: weaveit-render [--title T] [--size WxH] [--fps N] "
            "[--font F]\n"
            "           [--font-size N] [--voice V] [--rate N] "
            "[--preset P] [--crf N]\n"
            "           [--threads N] script.txt out.mp4\n");
}


/*
 * Returns WEAVEIT_CLI_RUN, or the exit status when there is nothing to
 * generate: --help, a bad option or not two file names.
 */

static int
weaveit_cli_parse(int argc, char **argv, weaveit_cli_conf_t *conf)
{
    int                          c, i, opt;
    struct option                longopts[WEAVEIT_CLI_NOPTIONS + 2];
    const weaveit_cli_option_t  *o;

    for (i = 0; i < (int) WEAVEIT_CLI_NOPTIONS; i++) {
        longopts[i] = (struct option) {
            weaveit_cli_options[i].name, required_argument, NULL, 0
        };
    }

    longopts[i++] = (struct option) { "help", no_argument, NULL, 'h' };
    longopts[i] = (struct option) { NULL, 0, NULL, 0 };

    while ((c = getopt_long(argc, argv, "h", longopts, &opt)) != -1) {

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

    if (argc - optind != 2) {
        weaveit_cli_usage(stderr);
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
    long   v;
    char  *end;

    errno = 0;
    v = strtol(arg, &end, 10);

    if (errno || end == arg || *end != '\0' || v < 0 || v > INT_MAX) {
        fprintf(stderr, "weaveit-render: bad number \"%s\"\n", arg);
        return -1;
    }

    *(int *) ((char *) conf + offset) = (int) v;

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
weaveit_cli_job_init(weaveit_cli_job_t *job, const weaveit_params_t *p)
{
    memset(job, 0, sizeof(weaveit_cli_job_t));
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

    printf("%s: %.3f s, %u frames, %zu bytes, %.2f s taken\n", output,
           job->video.duration, job->video.frames, job->video.size,
           weaveit_cli_now() - start);

    return 0;
}


static double
weaveit_cli_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


int
main(int argc, char **argv)
{
    int                 rc;
    weaveit_cli_conf_t  conf;

    memset(&conf, 0, sizeof(weaveit_cli_conf_t));
    weaveit_params_init(&conf.params);

    rc = weaveit_cli_parse(argc, argv, &conf);
    if (rc != WEAVEIT_CLI_RUN) {
        return rc;
    }

    return weaveit_cli_file(&conf, argv[optind], argv[optind + 1]);
}
