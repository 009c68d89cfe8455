/*
 * weaveit-render: the generation core from the command line.
 *
 *   weaveit-render [--title T] [--size WxH] [--fps N] [--font F]
 *       [--voice V] [--rate N] [--preset P] [--crf N] [--threads N]
 *       script.txt out.mp4
 */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weaveit.h"


typedef struct {
    weaveit_params_t    params;
    char               *script;
    size_t              len;
    weaveit_video_t     video;
    atomic_int          progress;
    atomic_int          done;
    int                 rc;
    char                err[512];
} weaveit_cli_job_t;


/* --name ARG stores ARG, converted by set, at offset in the parameters */

typedef struct {
    const char         *name;
    int               (*set)(weaveit_params_t *p, size_t offset,
                             const char *arg);
    size_t              offset;
} weaveit_cli_option_t;


#define WEAVEIT_CLI_RUN  -1     /* the options are good: generate */


static void weaveit_cli_usage(FILE *f);
static int weaveit_cli_parse(int argc, char **argv, weaveit_params_t *p);
static int weaveit_cli_string(weaveit_params_t *p, size_t offset,
    const char *arg);
static int weaveit_cli_number(weaveit_params_t *p, size_t offset,
    const char *arg);
static int weaveit_cli_size(weaveit_params_t *p, size_t offset,
    const char *arg);
static int weaveit_cli_read(const char *path, char **data, size_t *len);
static void weaveit_cli_generate(weaveit_cli_job_t *job);
static void *weaveit_cli_thread(void *arg);
static int weaveit_cli_write(weaveit_cli_job_t *job, FILE *out,
    const char *output, double start);
static double weaveit_cli_now(void);


#define weaveit_cli_param(field)  offsetof(weaveit_params_t, field)

static const weaveit_cli_option_t  weaveit_cli_options[] = {
    { "title",   weaveit_cli_string, weaveit_cli_param(title) },
    { "size",    weaveit_cli_size,   0 },
    { "fps",     weaveit_cli_number, weaveit_cli_param(fps) },
    { "font",    weaveit_cli_string, weaveit_cli_param(font_path) },
    { "voice",   weaveit_cli_string, weaveit_cli_param(voice) },
    { "rate",    weaveit_cli_number, weaveit_cli_param(speech_rate) },
    { "preset",  weaveit_cli_string, weaveit_cli_param(x264_preset) },
    { "crf",     weaveit_cli_number, weaveit_cli_param(crf) },
    { "threads", weaveit_cli_number, weaveit_cli_param(threads) }
};

#define WEAVEIT_CLI_NOPTIONS                                                  \
    (sizeof(weaveit_cli_options) / sizeof(weaveit_cli_option_t))


static void
weaveit_cli_usage(FILE *f)
{
    fprintf(f, "usage: weaveit-render [--title T] [--size WxH] [--fps N] "
            "[--font F]\n"
            "           [--voice V] [--rate N] [--preset P] [--crf N] "
            "[--threads N]\n"
            "           script.txt out.mp4\n");
}


/*
 * Returns WEAVEIT_CLI_RUN, or the exit status when there is nothing to
 * generate: --help, a bad option or not two file names.
 */

static int
weaveit_cli_parse(int argc, char **argv, weaveit_params_t *p)
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

            if (o->set(p, o->offset, optarg) != 0) {
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
weaveit_cli_string(weaveit_params_t *p, size_t offset, const char *arg)
{
    *(const char **) ((char *) p + offset) = arg;

    return 0;
}


/* a non-negative int: weaveit_generate() judges its range */

static int
weaveit_cli_number(weaveit_params_t *p, size_t offset, const char *arg)
{
    long   v;
    char  *end;

    errno = 0;
    v = strtol(arg, &end, 10);

    if (errno || end == arg || *end != '\0' || v < 0 || v > INT_MAX) {
        fprintf(stderr, "weaveit-render: bad number \"%s\"\n", arg);
        return -1;
    }

    *(int *) ((char *) p + offset) = (int) v;

    return 0;
}


static int
weaveit_cli_size(weaveit_params_t *p, size_t offset, const char *arg)
{
    (void) offset;

    if (sscanf(arg, "%dx%d", &p->width, &p->height) != 2) {
        fprintf(stderr, "weaveit-render: bad --size \"%s\" (want WxH)\n",
                arg);
        return -1;
    }

    return 0;
}


static int
weaveit_cli_read(const char *path, char **data, size_t *len)
{
    FILE    *f;
    char    *buf, *p;
    size_t   n, alloc;

    f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }

    alloc = 65536;
    n = 0;
    buf = malloc(alloc);

    while (buf != NULL) {
        n += fread(buf + n, 1, alloc - n, f);

        if (n < alloc) {
            break;
        }

        alloc *= 2;
        p = realloc(buf, alloc);

        if (p == NULL) {
            free(buf);
            buf = NULL;
            errno = ENOMEM;
        }

        buf = p;
    }

    if (buf != NULL && ferror(f)) {
        free(buf);
        buf = NULL;
    }

    fclose(f);

    if (buf == NULL) {
        return -1;
    }

    *data = buf;
    *len = n;

    return 0;
}


/* in a thread of its own, so a terminal can watch the progress */

static void
weaveit_cli_generate(weaveit_cli_job_t *job)
{
    int        tty, shown;
    pthread_t  thread;

    tty = isatty(STDERR_FILENO);
    shown = -1;

    if (pthread_create(&thread, NULL, weaveit_cli_thread, job) != 0) {
        weaveit_cli_thread(job);
        return;
    }

    while (!atomic_load(&job->done)) {
        if (tty && atomic_load(&job->progress) != shown) {
            shown = atomic_load(&job->progress);
            fprintf(stderr, "\rweaveit-render: %3d%%", shown);
        }

        usleep(100000);
    }

    pthread_join(thread, NULL);

    if (tty) {
        fprintf(stderr, "\r                     \r");
    }
}


static void *
weaveit_cli_thread(void *arg)
{
    weaveit_cli_job_t  *job;

    job = arg;
    job->rc = weaveit_generate(&job->params, job->script, job->len,
                               &job->video, &job->progress, job->err,
                               sizeof(job->err));
    atomic_store(&job->done, 1);

    return NULL;
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
    FILE               *out;
    double              start;
    const char         *output;
    weaveit_cli_job_t   job;

    memset(&job, 0, sizeof(weaveit_cli_job_t));
    weaveit_params_init(&job.params);

    rc = weaveit_cli_parse(argc, argv, &job.params);
    if (rc != WEAVEIT_CLI_RUN) {
        return rc;
    }

    output = argv[optind + 1];

    if (weaveit_cli_read(argv[optind], &job.script, &job.len) != 0) {
        fprintf(stderr, "weaveit-render: cannot read \"%s\": %s\n",
                argv[optind], strerror(errno));
        return 1;
    }

    /* fail before the work, not after it */
    out = fopen(output, "wb");
    if (out == NULL) {
        fprintf(stderr, "weaveit-render: cannot write \"%s\": %s\n", output,
                strerror(errno));
        free(job.script);
        return 1;
    }

    start = weaveit_cli_now();
    weaveit_cli_generate(&job);
    free(job.script);

    if (job.rc != 0) {
        fprintf(stderr, "weaveit-render: %s\n", job.err);
        fclose(out);
        unlink(output);
        return 1;
    }

    rc = weaveit_cli_write(&job, out, output, start);
    weaveit_video_free(&job.video);

    return rc;
}
