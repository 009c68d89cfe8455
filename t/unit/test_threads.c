/*
 * Two generations at once in two threads (as the nginx thread pool runs
 * them): both succeed, both MP4s decode cleanly, progress is readable.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weaveit.h"
#include "tap.h"


typedef struct {
    const char        *script;
    const char        *title;
    weaveit_video_t    video;
    atomic_int         progress;
    int                rc;
    char               err[256];
} job_t;


static void *
run(void *arg)
{
    job_t             *job;
    weaveit_params_t   p;

    job = arg;
    weaveit_params_init(&p);
    p.title = job->title;

    job->rc = weaveit_generate(&p, job->script, strlen(job->script),
                               &job->video, &job->progress, job->err,
                               sizeof(job->err));
    return NULL;
}


/* ffmpeg decodes the whole file and prints nothing */
static int
decodes(const weaveit_video_t *v, const char *path)
{
    int    c, quiet;
    char   cmd[512];
    FILE  *f;

    f = fopen(path, "wb");
    if (f == NULL) {
        return 0;
    }

    fwrite(v->data, 1, v->size, f);
    fclose(f);

    snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -i %s -f null - "
             "2>&1", path);

    f = popen(cmd, "r");
    if (f == NULL) {
        return 0;
    }

    quiet = 1;

    while ((c = fgetc(f)) != EOF) {
        quiet = 0;
        putchar(c == '\n' ? ' ' : c);
    }

    return pclose(f) == 0 && quiet;
}


int
main(void)
{
    int        i, seen, moving;
    char       path[2][64];
    pthread_t  t[2];
    job_t      jobs[2];

    tap_plan(8);

    memset(jobs, 0, sizeof(jobs));
    jobs[0].script = "The first video talks about arrays.\n"
                     "    int a[3] = { 1, 2, 3 };\n";
    jobs[1].script = "The second video talks about pointers, and it is "
                     "narrated at the same time as the first one.\n";
    jobs[1].title = "Pointers";

    for (i = 0; i < 2; i++) {
        atomic_init(&jobs[i].progress, -1);
        pthread_create(&t[i], NULL, run, &jobs[i]);
    }

    /* progress is written by the worker and read here */
    seen = 0;
    moving = 0;

    while (atomic_load(&jobs[0].progress) < 100
           || atomic_load(&jobs[1].progress) < 100)
    {
        i = atomic_load(&jobs[1].progress);

        if (i > 0 && i < 100 && i != seen) {
            moving++;
            seen = i;
        }

        if (jobs[0].err[0] || jobs[1].err[0]) {
            break;
        }

        usleep(2000);
    }

    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);

    for (i = 0; i < 2; i++) {
        snprintf(path[i], sizeof(path[i]), "/tmp/weaveit-thread-%d-%d.mp4",
                 (int) getpid(), i);
        ok(jobs[i].rc == 0, "generation %d succeeded (%s)", i,
           jobs[i].rc ? jobs[i].err : "ok");
        ok(jobs[i].video.size > 1000
           && memcmp(jobs[i].video.data + 4, "ftyp", 4) == 0,
           "generation %d: %zu bytes of MP4", i, jobs[i].video.size);
        ok(jobs[i].rc == 0 && decodes(&jobs[i].video, path[i]),
           "generation %d decodes without an error", i);
        unlink(path[i]);
    }

    ok(moving >= 3, "progress observed moving from another thread (%d "
       "changes)", moving);
    ok(jobs[1].video.duration > jobs[0].video.duration,
       "the longer, titled script gives the longer video (%.2f > %.2f s)",
       jobs[1].video.duration, jobs[0].video.duration);

    weaveit_video_free(&jobs[0].video);
    weaveit_video_free(&jobs[1].video);

    return tap_done();
}
