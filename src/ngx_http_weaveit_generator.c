
/*
 * One job in the sandboxed generator process (`weaveit-render --serve`),
 * supervised from a thread of nginx's thread pool.
 *
 * The text a client sends is parsed by espeak-ng, FreeType and FFmpeg,
 * which have crashed on crafted input for years: they run in a child that
 * may crash, run out of memory or time, and cost one job.  The child sets
 * up its own sandbox (limits, seccomp) before it reads the script.
 *
 * The thread posix_spawn()s the child (never fork() in a threaded
 * process) with nothing but the job's pipes: nginx's listening sockets,
 * client and PostgreSQL connections are not close-on-exec, so every
 * other descriptor is closed in the child.  Then one poll() loop feeds
 * stdin (the title's length, the title, the script), collects the MP4
 * from stdout, the error message from stderr and progress and duration
 * from fd 3, kills a child that outlives its wall-clock deadline or a
 * fast stop of nginx, and waitpid()s.  Nothing here touches nginx's structures or logs: the
 * outcome is handed back in the plain C struct for the event loop (and
 * only thread-safe libc is called: strerrordesc_np(), sigabbrev_np()).
 */


#include "ngx_http_weaveit.h"

#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>


#define NGX_HTTP_WEAVEIT_GEN_VIDEO_MAX  (1024 * 1024 * 1024)

/*
 * How often the loop looks at ngx_terminate: at a fast stop the master
 * kills a worker still there after a second, and the worker waits for
 * this thread (the thread pool's exit joins it).
 */
#define NGX_HTTP_WEAVEIT_GEN_TICK       100


typedef struct {
    int                          fd[4];       /* stdin, stdout, stderr, 3 */
    int                          child[4];
    struct iovec                 in[3];
    ngx_uint_t                   nin;
    u_char                       header[NGX_SIZE_T_LEN + 2];
    u_char                       line[512];
    size_t                       line_len;
    size_t                       error_len;
    size_t                       capacity;
} ngx_http_weaveit_gen_io_t;


static ngx_int_t ngx_http_weaveit_gen_pipes(ngx_http_weaveit_gen_io_t *io);
static ngx_int_t ngx_http_weaveit_gen_spawn(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_io_t *io, pid_t *pid);
static void ngx_http_weaveit_gen_close(int *fd, ngx_uint_t n);
static void ngx_http_weaveit_gen_exchange(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_io_t *io, pid_t pid);
static ngx_int_t ngx_http_weaveit_gen_write(ngx_http_weaveit_gen_io_t *io);
static ngx_int_t ngx_http_weaveit_gen_read(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_io_t *io, ngx_uint_t i);
static ngx_int_t ngx_http_weaveit_gen_read_video(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_io_t *io);
static void ngx_http_weaveit_gen_keep_tail(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_io_t *io, u_char *p, size_t n);
static char *ngx_http_weaveit_gen_last_line(char *text);
static void ngx_http_weaveit_gen_progress(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_io_t *io, u_char *p, size_t n);
static void ngx_http_weaveit_gen_voice(ngx_http_weaveit_gen_t *g,
    u_char *name, size_t len);
static void ngx_http_weaveit_gen_note(ngx_http_weaveit_gen_t *g,
    u_char *text, size_t len);
static void ngx_http_weaveit_gen_outcome(ngx_http_weaveit_gen_t *g,
    int status);
static ngx_msec_t ngx_http_weaveit_gen_now(void);
static void ngx_http_weaveit_gen_set(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_outcome_e outcome, const char *fmt, ...);


void
ngx_http_weaveit_generator_run(ngx_http_weaveit_gen_t *g)
{
    int                         status;
    pid_t                       pid;
    ngx_http_weaveit_gen_io_t   io;

    ngx_memzero(&io, sizeof(ngx_http_weaveit_gen_io_t));

    if (ngx_http_weaveit_gen_pipes(&io) != NGX_OK) {
        ngx_http_weaveit_gen_set(g, NGX_HTTP_WEAVEIT_GEN_LOST,
                                 "pipe2() failed: %s", strerrordesc_np(errno));
        return;
    }

    if (ngx_http_weaveit_gen_spawn(g, &io, &pid) != NGX_OK) {
        ngx_http_weaveit_gen_close(io.fd, 4);
        return;
    }

    ngx_http_weaveit_gen_exchange(g, &io, pid);

    while (waitpid(pid, &status, 0) == -1) {
        if (errno != EINTR) {
            ngx_http_weaveit_gen_set(g, NGX_HTTP_WEAVEIT_GEN_LOST,
                                     "waitpid() failed: %s",
                                     strerrordesc_np(errno));
            return;
        }
    }

    if (g->outcome == NGX_HTTP_WEAVEIT_GEN_DONE) {
        ngx_http_weaveit_gen_outcome(g, status);
    }

    if (g->outcome != NGX_HTTP_WEAVEIT_GEN_DONE) {
        ngx_http_weaveit_generator_free(g);
    }
}


void
ngx_http_weaveit_generator_free(ngx_http_weaveit_gen_t *g)
{
    free(g->video);
    g->video = NULL;
    g->size = 0;
}


/*
 * Close-on-exec, so that a child another thread spawns meanwhile does not
 * get them; our ends do not block, so a child that stops reading or
 * writing cannot hold the thread past the deadline.
 */

static ngx_int_t
ngx_http_weaveit_gen_pipes(ngx_http_weaveit_gen_io_t *io)
{
    int         p[2];
    ngx_uint_t  i;

    for (i = 0; i < 4; i++) {
        io->fd[i] = -1;
        io->child[i] = -1;
    }

    for (i = 0; i < 4; i++) {
        if (pipe2(p, O_CLOEXEC) == -1) {
            ngx_http_weaveit_gen_close(io->fd, i);
            ngx_http_weaveit_gen_close(io->child, i);
            return NGX_ERROR;
        }

        /* the child reads its stdin and writes the others */

        io->fd[i] = (i == 0) ? p[1] : p[0];
        io->child[i] = (i == 0) ? p[0] : p[1];

        if (fcntl(io->fd[i], F_SETFL, O_NONBLOCK) == -1) {
            ngx_http_weaveit_gen_close(io->fd, i + 1);
            ngx_http_weaveit_gen_close(io->child, i + 1);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The child gets the pipes as 0 to 3 and nothing else, default signal
 * dispositions (nginx ignores SIGPIPE) and an empty signal mask (the pool's
 * threads block every signal).
 */

static ngx_int_t
ngx_http_weaveit_gen_spawn(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_io_t *io, pid_t *pid)
{
    int                          rc;
    sigset_t                     all, none;
    ngx_uint_t                   i;
    posix_spawnattr_t            attr;
    posix_spawn_file_actions_t   fa;

    sigfillset(&all);
    sigemptyset(&none);

    rc = posix_spawn_file_actions_init(&fa);

    if (rc == 0) {
        rc = posix_spawnattr_init(&attr);

        if (rc != 0) {
            posix_spawn_file_actions_destroy(&fa);
        }
    }

    if (rc != 0) {
        ngx_http_weaveit_gen_set(g, NGX_HTTP_WEAVEIT_GEN_LOST,
                                 "posix_spawn setup failed: %s",
                                 strerrordesc_np(rc));
        ngx_http_weaveit_gen_close(io->child, 4);
        return NGX_ERROR;
    }

    for (i = 0; i < 4 && rc == 0; i++) {
        rc = posix_spawn_file_actions_adddup2(&fa, io->child[i], (int) i);
    }

    if (rc == 0) {
        rc = posix_spawn_file_actions_addclosefrom_np(&fa, 4);
    }

    if (rc == 0) {
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK
                                             |POSIX_SPAWN_SETSIGDEF);
    }

    if (rc == 0) {
        rc = posix_spawnattr_setsigmask(&attr, &none);
    }

    if (rc == 0) {
        rc = posix_spawnattr_setsigdefault(&attr, &all);
    }

    if (rc == 0) {
        rc = posix_spawn(pid, g->argv[0], &fa, &attr, g->argv, g->envp);
    }

    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ngx_http_weaveit_gen_close(io->child, 4);

    if (rc != 0) {
        ngx_http_weaveit_gen_set(g, NGX_HTTP_WEAVEIT_GEN_LOST,
                                 "posix_spawn(\"%s\") failed: %s",
                                 g->argv[0], strerrordesc_np(rc));
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_weaveit_gen_close(int *fd, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (fd[i] != -1) {
            (void) close(fd[i]);
            fd[i] = -1;
        }
    }
}


/*
 * Feeds the job in and reads everything back until the child has closed
 * its ends, which it does when it exits (seccomp refuses it fork(), so no
 * grandchild can keep them open).  Past the deadline the child is killed.
 */

static void
ngx_http_weaveit_gen_exchange(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_io_t *io, pid_t pid)
{
    int            n;
    ngx_msec_t     now, deadline;
    ngx_uint_t     i, nfds, map[4];
    struct pollfd  pfd[4];

    io->in[0].iov_base = io->header;
    io->in[0].iov_len = ngx_sprintf(io->header, "%uz\n", g->title_len)
                        - io->header;
    io->in[1].iov_base = (void *) g->title;
    io->in[1].iov_len = g->title_len;
    io->in[2].iov_base = (void *) g->script;
    io->in[2].iov_len = g->script_len;
    io->nin = 3;

    deadline = ngx_http_weaveit_gen_now() + g->deadline;

    for ( ;; ) {
        nfds = 0;

        for (i = 0; i < 4; i++) {
            if (io->fd[i] != -1) {
                pfd[nfds].fd = io->fd[i];
                pfd[nfds].events = (i == 0) ? POLLOUT : POLLIN;
                map[nfds++] = i;
            }
        }

        if (nfds == 0 || (nfds == 1 && io->fd[0] != -1)) {
            break;
        }

        now = ngx_http_weaveit_gen_now();

        if (ngx_terminate && !g->killed) {
            ngx_http_weaveit_gen_set(g, NGX_HTTP_WEAVEIT_GEN_LOST,
                                     "nginx is stopping");
            (void) kill(pid, SIGKILL);
            g->killed = 1;
        }

        if (now >= deadline && !g->killed) {
            (void) kill(pid, SIGKILL);
            g->killed = 1;
        }

        n = poll(pfd, nfds,
                 g->killed ? 1000
                           : (int) ngx_min(deadline - now,
                                           NGX_HTTP_WEAVEIT_GEN_TICK));

        if (n == -1 && errno != EINTR) {
            ngx_http_weaveit_gen_set(g, NGX_HTTP_WEAVEIT_GEN_LOST,
                                     "poll() failed: %s",
                                     strerrordesc_np(errno));
            (void) kill(pid, SIGKILL);
            g->killed = 1;
            break;
        }

        for (i = 0; n > 0 && i < nfds; i++) {
            if (pfd[i].revents == 0) {
                continue;
            }

            if ((map[i] == 0 ? ngx_http_weaveit_gen_write(io)
                             : ngx_http_weaveit_gen_read(g, io, map[i]))
                != NGX_AGAIN)
            {
                ngx_http_weaveit_gen_close(&io->fd[map[i]], 1);
            }
        }

        if (g->outcome != NGX_HTTP_WEAVEIT_GEN_DONE && !g->killed) {
            (void) kill(pid, SIGKILL);
            g->killed = 1;
        }
    }

    ngx_http_weaveit_gen_close(io->fd, 4);
}


/* NGX_AGAIN while there is more to write */

static ngx_int_t
ngx_http_weaveit_gen_write(ngx_http_weaveit_gen_io_t *io)
{
    size_t         sent;
    ssize_t        n;
    struct iovec  *v;

    n = writev(io->fd[0], &io->in[3 - io->nin], io->nin);

    if (n == -1) {
        return (errno == EINTR || errno == EAGAIN) ? NGX_AGAIN : NGX_ERROR;
    }

    for (sent = n; io->nin; io->nin--) {
        v = &io->in[3 - io->nin];

        if (sent < v->iov_len) {
            v->iov_base = (u_char *) v->iov_base + sent;
            v->iov_len -= sent;
            break;
        }

        sent -= v->iov_len;
    }

    return io->nin ? NGX_AGAIN : NGX_OK;
}


/* NGX_AGAIN until end of file (or an error) */

static ngx_int_t
ngx_http_weaveit_gen_read(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_io_t *io, ngx_uint_t i)
{
    u_char   buf[4096];
    ssize_t  n;

    if (i == 1) {
        return ngx_http_weaveit_gen_read_video(g, io);
    }

    n = read(io->fd[i], buf, sizeof(buf));

    if (n == -1) {
        return (errno == EINTR || errno == EAGAIN) ? NGX_AGAIN : NGX_ERROR;
    }

    if (n == 0) {
        return NGX_OK;
    }

    if (i == 3) {
        ngx_http_weaveit_gen_progress(g, io, buf, n);
        return NGX_AGAIN;
    }

    /* stderr: the message is its last line; keep the end of it */

    ngx_http_weaveit_gen_keep_tail(g, io, buf, n);

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_weaveit_gen_read_video(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_io_t *io)
{
    u_char   *p;
    size_t    size;
    ssize_t   n;

    if (g->size == io->capacity) {
        size = io->capacity ? 2 * io->capacity : 1024 * 1024;

        if (size > NGX_HTTP_WEAVEIT_GEN_VIDEO_MAX) {
            ngx_http_weaveit_gen_set(g, NGX_HTTP_WEAVEIT_GEN_FAILED,
                                     "the video is larger than %d bytes",
                                     NGX_HTTP_WEAVEIT_GEN_VIDEO_MAX);
            return NGX_ERROR;
        }

        p = realloc(g->video, size);
        if (p == NULL) {
            ngx_http_weaveit_gen_set(g, NGX_HTTP_WEAVEIT_GEN_LOST,
                                     "out of memory for the video");
            return NGX_ERROR;
        }

        g->video = p;
        io->capacity = size;
    }

    n = read(io->fd[1], g->video + g->size, io->capacity - g->size);

    if (n == -1) {
        return (errno == EINTR || errno == EAGAIN) ? NGX_AGAIN : NGX_ERROR;
    }

    g->size += n;

    return n ? NGX_AGAIN : NGX_OK;
}


static void
ngx_http_weaveit_gen_keep_tail(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_io_t *io, u_char *p, size_t n)
{
    size_t  max, keep;

    max = sizeof(g->message) - 1;

    if (n >= max) {
        p += n - max;
        n = max;
    }

    keep = ngx_min(io->error_len, max - n);
    ngx_memmove(g->message, g->message + io->error_len - keep, keep);
    ngx_memcpy(g->message + keep, p, n);

    io->error_len = keep + n;
    g->message[io->error_len] = '\0';
}


/* the last line that is not blank, in place */

static char *
ngx_http_weaveit_gen_last_line(char *text)
{
    char  *end, *start;

    end = text + ngx_strlen(text);

    while (end > text && (end[-1] == '\n' || end[-1] == '\r')) {
        *--end = '\0';
    }

    start = end;

    while (start > text && start[-1] != '\n') {
        start--;
    }

    return start;
}


/*
 * lines "N" (percent done), "note TEXT" (for the log) and, last,
 * "voice NAME", "missing N" and "duration SECONDS"
 */

static void
ngx_http_weaveit_gen_progress(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_io_t *io, u_char *p, size_t n)
{
    int     percent;
    u_char  c;

    while (n--) {
        c = *p++;

        if (c != '\n') {
            if (io->line_len < sizeof(io->line) - 1) {
                io->line[io->line_len++] = c;
            }

            continue;
        }

        io->line[io->line_len] = '\0';

        if (ngx_strncmp(io->line, "note ", 5) == 0) {
            ngx_http_weaveit_gen_note(g, io->line + 5, io->line_len - 5);
            io->line_len = 0;
            continue;
        }

        if (ngx_strncmp(io->line, "voice ", 6) == 0) {
            ngx_http_weaveit_gen_voice(g, io->line + 6, io->line_len - 6);
            io->line_len = 0;
            continue;
        }

        io->line_len = 0;

        if (sscanf((char *) io->line, "duration %lf", &g->duration) == 1
            || sscanf((char *) io->line, "missing %zu", &g->missing) == 1)
        {
            continue;
        }

        if (sscanf((char *) io->line, "%d", &percent) == 1
            && percent >= 0 && percent <= 100)
        {
            atomic_store(&g->progress, percent);
        }
    }
}


/* a name too long is no voice's: it is dropped, not cut */

static void
ngx_http_weaveit_gen_voice(ngx_http_weaveit_gen_t *g, u_char *name,
    size_t len)
{
    if (len < sizeof(g->voice)) {
        ngx_cpystrn((u_char *) g->voice, name, len + 1);
    }
}


/* the first notes that fit, whole lines, printable */

static void
ngx_http_weaveit_gen_note(ngx_http_weaveit_gen_t *g, u_char *text,
    size_t len)
{
    size_t  i;
    u_char  *p;

    if (g->notes_len + len + 1 > sizeof(g->notes)) {
        return;
    }

    p = (u_char *) g->notes + g->notes_len;

    for (i = 0; i < len; i++) {
        *p++ = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '?';
    }

    *p = '\n';
    g->notes_len += len + 1;
}


/* how the child ended: only a clean exit with a video is a success */

static void
ngx_http_weaveit_gen_outcome(ngx_http_weaveit_gen_t *g, int status)
{
    int          sig;
    char        *line;
    const char  *name;

    if (WIFEXITED(status)) {

        if (WEXITSTATUS(status) == 0 && g->size && g->duration > 0) {
            return;
        }

        line = ngx_http_weaveit_gen_last_line(g->message);

        ngx_http_weaveit_gen_set(g, NGX_HTTP_WEAVEIT_GEN_FAILED,
                                 "%s (exit status %d)",
                                 line[0] ? line : "no video and no message",
                                 WEXITSTATUS(status));
        return;
    }

    sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    name = sigabbrev_np(sig);

    if (g->killed) {
        ngx_http_weaveit_gen_set(g, NGX_HTTP_WEAVEIT_GEN_KILLED,
                                 "was killed after %M ms, its wall-clock limit",
                                 g->deadline);

    } else if (sig == SIGXCPU) {
        ngx_http_weaveit_gen_set(g, NGX_HTTP_WEAVEIT_GEN_KILLED,
                                 "was killed by SIGXCPU: it used up its "
                                 "CPU time (weaveit_generate_timeout)");

    } else if (sig == SIGKILL) {
        ngx_http_weaveit_gen_set(g, NGX_HTTP_WEAVEIT_GEN_KILLED,
                                 "was killed by SIGKILL: a hard limit or "
                                 "the kernel's OOM killer");

    } else {
        ngx_http_weaveit_gen_set(g, NGX_HTTP_WEAVEIT_GEN_KILLED,
                                 "crashed with signal %d (SIG%s)", sig,
                                 name ? name : "?");
    }
}


static ngx_msec_t
ngx_http_weaveit_gen_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (ngx_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* the first outcome other than "done" sticks, with its message */

static void
ngx_http_weaveit_gen_set(ngx_http_weaveit_gen_t *g,
    ngx_http_weaveit_gen_outcome_e outcome, const char *fmt, ...)
{
    u_char   text[sizeof(g->message)], *last;
    va_list  args;

    if (g->outcome != NGX_HTTP_WEAVEIT_GEN_DONE) {
        return;
    }

    va_start(args, fmt);
    last = ngx_vslprintf(text, text + sizeof(text) - 1, fmt, args);
    va_end(args);

    *last = '\0';

    g->outcome = outcome;
    ngx_cpystrn((u_char *) g->message, text, sizeof(g->message));
}
