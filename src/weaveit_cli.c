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


static void weaveit_cli_usage(FILE *f);
static int weaveit_cli_number(const char *s, int *n);
static int weaveit_cli_read(const char *path, char **data, size_t *len);
static void *weaveit_cli_thread(void *arg);
static double weaveit_cli_now(void);


static void
weaveit_cli_usage(FILE *f)
{
    fprintf(f, "usage: weaveit-render [--title T] [--size WxH] [--fps N] "
            "[--font F]\n"
            "           [--voice V] [--rate N] [--preset P] [--crf N] "
            "[--threads N]\n"
            "           script.txt out.mp4\n");
}


/* a non-negative int: weaveit_generate() judges its range */

static int
weaveit_cli_number(const char *s, int *n)
{
    long   v;
    char  *end;

    errno = 0;
    v = strtol(s, &end, 10);

    if (errno || end == s || *end != '\0' || v < 0 || v > INT_MAX) {
        return -1;
    }

    *n = (int) v;
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
    int                 c, tty, shown;
    FILE               *out;
    double              start;
    pthread_t           thread;
    const char         *output;
    weaveit_cli_job_t   job;

    static const struct option  options[] = {
        { "title",   required_argument, NULL, 't' },
        { "size",    required_argument, NULL, 's' },
        { "fps",     required_argument, NULL, 'f' },
        { "font",    required_argument, NULL, 'F' },
        { "voice",   required_argument, NULL, 'v' },
        { "rate",    required_argument, NULL, 'r' },
        { "preset",  required_argument, NULL, 'p' },
        { "crf",     required_argument, NULL, 'c' },
        { "threads", required_argument, NULL, 'j' },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    memset(&job, 0, sizeof(weaveit_cli_job_t));
    weaveit_params_init(&job.params);

    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {

        case 't':
            job.params.title = optarg;
            break;

        case 's':
            if (sscanf(optarg, "%dx%d", &job.params.width,
                       &job.params.height) != 2)
            {
                fprintf(stderr, "weaveit-render: bad --size \"%s\" "
                        "(want WxH)\n", optarg);
                return 2;
            }

            break;

        case 'f':
        case 'r':
        case 'c':
        case 'j':
            if (weaveit_cli_number(optarg,
                                   c == 'f' ? &job.params.fps
                                   : c == 'r' ? &job.params.speech_rate
                                   : c == 'c' ? &job.params.crf
                                   : &job.params.threads)
                != 0)
            {
                fprintf(stderr, "weaveit-render: bad number \"%s\"\n",
                        optarg);
                return 2;
            }

            break;

        case 'F':
            job.params.font_path = optarg;
            break;

        case 'v':
            job.params.voice = optarg;
            break;

        case 'p':
            job.params.x264_preset = optarg;
            break;

        case 'h':
            weaveit_cli_usage(stdout);
            return 0;

        default:
            weaveit_cli_usage(stderr);
            return 2;
        }
    }

    if (argc - optind != 2) {
        weaveit_cli_usage(stderr);
        return 2;
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
    tty = isatty(STDERR_FILENO);
    shown = -1;

    if (pthread_create(&thread, NULL, weaveit_cli_thread, &job) != 0) {
        weaveit_cli_thread(&job);

    } else {
        while (!atomic_load(&job.done)) {
            if (tty && atomic_load(&job.progress) != shown) {
                shown = atomic_load(&job.progress);
                fprintf(stderr, "\rweaveit-render: %3d%%", shown);
            }

            usleep(100000);
        }

        pthread_join(thread, NULL);

        if (tty) {
            fprintf(stderr, "\r                     \r");
        }
    }

    free(job.script);

    if (job.rc != 0) {
        fprintf(stderr, "weaveit-render: %s\n", job.err);
        fclose(out);
        unlink(output);
        return 1;
    }

    c = (fwrite(job.video.data, 1, job.video.size, out) == job.video.size);

    if (fclose(out) != 0 || !c) {
        fprintf(stderr, "weaveit-render: cannot write \"%s\": %s\n", output,
                strerror(errno));
        unlink(output);
        weaveit_video_free(&job.video);
        return 1;
    }

    printf("%s: %.3f s, %u frames, %zu bytes, %.2f s taken\n", output,
           job.video.duration, job.video.frames, job.video.size,
           weaveit_cli_now() - start);

    weaveit_video_free(&job.video);

    return 0;
}
