/*
 * The generator's sandbox: descriptors, prctl(), resource limits,
 * scheduling and a seccomp filter (libseccomp), entered before any
 * untrusted byte is read.
 *
 * The filter allows by default and answers EPERM to what a generator never
 * does (network, unless its speech comes from a server; other programs
 * and processes, changes to the file system): a library that tries gets
 * an error it can report, and the job fails with a message instead of a
 * mystery.  Reading files stays allowed: espeak-ng opens its voice files
 * again whenever a voice is set.
 */

/* CLONE_THREAD, SCHED_IDLE, close_range() */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <seccomp.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "weaveit_internal.h"
#include "weaveit_sandbox.h"


/* the pipes, the font, espeak-ng's data files, with room to spare */
#define WEAVEIT_SANDBOX_NOFILE  64
#define WEAVEIT_SANDBOX_NICE    19
#define WEAVEIT_SANDBOX_PROBE   "/tmp/weaveit-sandbox-probe"


typedef struct {
    const char         *name;
    int               (*call)(const weaveit_params_t *p);  /* -1 and errno */
    int                 allowed;
    int                 allowed_for_server;   /* with speech from a server */
} weaveit_sandbox_probe_t;


static int weaveit_sandbox_close(char *err, size_t errlen);
static int weaveit_sandbox_tie(const weaveit_sandbox_t *sb, char *err,
    size_t errlen);
static int weaveit_sandbox_limits(const weaveit_sandbox_t *sb, char *err,
    size_t errlen);
static int weaveit_sandbox_limit(int resource, const char *name, rlim_t soft,
    rlim_t hard, char *err, size_t errlen);
static rlim_t weaveit_sandbox_address_space(const weaveit_sandbox_t *sb);
static int weaveit_sandbox_priority(char *err, size_t errlen);
static int weaveit_sandbox_filter(const weaveit_params_t *p, char *err,
    size_t errlen);
static int weaveit_sandbox_rules(scmp_filter_ctx ctx,
    const weaveit_params_t *p);
static int weaveit_sandbox_deny(scmp_filter_ctx ctx, const int *nr,
    size_t n);
static int weaveit_sandbox_internet_only(scmp_filter_ctx ctx);
static int weaveit_sandbox_arg_rules(scmp_filter_ctx ctx, int nr,
    unsigned arg, const int *masks, size_t n);

static int weaveit_probe_inet(const weaveit_params_t *p);
static int weaveit_probe_unix(const weaveit_params_t *p);
static int weaveit_probe_create(const weaveit_params_t *p);
static int weaveit_probe_closed(int fd);
static int weaveit_probe_exec(const weaveit_params_t *p);
static int weaveit_probe_ptrace(const weaveit_params_t *p);
static int weaveit_probe_fork(const weaveit_params_t *p);
static int weaveit_probe_kill(const weaveit_params_t *p);
static int weaveit_probe_font(const weaveit_params_t *p);
static int weaveit_probe_thread(const weaveit_params_t *p);
static void *weaveit_probe_thread_run(void *arg);
static int weaveit_probe_run(const weaveit_sandbox_probe_t *probe,
    const weaveit_params_t *p, FILE *out);


#define weaveit_nelts(a)  (sizeof(a) / sizeof((a)[0]))


/*
 * LeakSanitizer's check at exit stops the threads with ptrace() from a
 * clone() the filter refuses, and would fail every run of a sanitizer
 * build (make test-asan): it checks once, before the filter, instead.
 * The pipeline's own leaks are checked outside the sandbox, where the CLI
 * runs it (t/unit/04-video.t, t/unit/06-errors.t).
 */

#if defined(__SANITIZE_ADDRESS__)
#define weaveit_sandbox_leak_check()  __lsan_do_leak_check()
#else
#define weaveit_sandbox_leak_check()
#endif


/*
 * The network, even through a descriptor the parent leaked: refused
 * unless the speech comes from a server (then socket() is in the rules).
 */

static const int  weaveit_sandbox_network[] = {
    SCMP_SYS(socket), SCMP_SYS(socketpair), SCMP_SYS(connect),
    SCMP_SYS(sendto), SCMP_SYS(sendmsg), SCMP_SYS(sendmmsg)
};


/* refused whatever their arguments */

static const int  weaveit_sandbox_denied[] = {

    /* a server, whatever the speech */
    SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept), SCMP_SYS(accept4),

    /* other programs and other processes */
    SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(fork), SCMP_SYS(vfork),
    SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv),
    SCMP_SYS(process_vm_writev), SCMP_SYS(tkill),
    SCMP_SYS(pidfd_send_signal),

    /* changes to the file system; open() and openat() are in the rules */
    SCMP_SYS(creat), SCMP_SYS(openat2), SCMP_SYS(open_by_handle_at),
    SCMP_SYS(truncate), SCMP_SYS(unlink), SCMP_SYS(unlinkat),
    SCMP_SYS(rmdir), SCMP_SYS(rename), SCMP_SYS(renameat),
    SCMP_SYS(renameat2), SCMP_SYS(mkdir), SCMP_SYS(mkdirat),
    SCMP_SYS(mknod), SCMP_SYS(mknodat), SCMP_SYS(chmod), SCMP_SYS(fchmod),
    SCMP_SYS(fchmodat), SCMP_SYS(chown), SCMP_SYS(fchown),
    SCMP_SYS(lchown), SCMP_SYS(fchownat), SCMP_SYS(link), SCMP_SYS(linkat),
    SCMP_SYS(symlink), SCMP_SYS(symlinkat), SCMP_SYS(mount),
    SCMP_SYS(umount2), SCMP_SYS(chroot), SCMP_SYS(pivot_root),

    /* io_uring opens and connects where no filter sees the call */
    SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter),
    SCMP_SYS(io_uring_register),

    /* kernel interfaces a generator never needs, rich in past exploits */
    SCMP_SYS(bpf), SCMP_SYS(perf_event_open), SCMP_SYS(userfaultfd),
    SCMP_SYS(unshare), SCMP_SYS(setns), SCMP_SYS(keyctl),
    SCMP_SYS(add_key), SCMP_SYS(request_key)
};


/* open() and openat() with any of these flags: opening to write */
static const int  weaveit_sandbox_write_flags[] = {
    O_WRONLY, O_RDWR, O_CREAT, O_TRUNC
};


/* signals to a process other than this one */
static const int  weaveit_sandbox_signals[] = {
    SCMP_SYS(kill), SCMP_SYS(tgkill), SCMP_SYS(rt_sigqueueinfo),
    SCMP_SYS(rt_tgsigqueueinfo)
};


/* the execve() probe runs /bin/false: if it ran, the test cannot pass */

static const weaveit_sandbox_probe_t  weaveit_sandbox_probes[] = {
    { "socket(AF_INET)", weaveit_probe_inet, 0, 1 },
    { "socket(AF_UNIX)", weaveit_probe_unix, 0, 0 },
    { "open(\"" WEAVEIT_SANDBOX_PROBE "\", O_WRONLY|O_CREAT)",
      weaveit_probe_create, 0, 0 },
    { "execve(\"/bin/false\")", weaveit_probe_exec, 0, 0 },
    { "ptrace(PTRACE_TRACEME)", weaveit_probe_ptrace, 0, 0 },
    { "fork()", weaveit_probe_fork, 0, 0 },
    { "kill(parent, 0)", weaveit_probe_kill, 0, 0 },
    { "open(font, O_RDONLY)", weaveit_probe_font, 1, 1 },
    { "pthread_create()", weaveit_probe_thread, 1, 1 }
};


int
weaveit_sandbox_enter(const weaveit_sandbox_t *sb, const weaveit_params_t *p,
    char *err, size_t errlen)
{
    if (weaveit_sandbox_close(err, errlen) != 0
        || weaveit_sandbox_tie(sb, err, errlen) != 0
        || weaveit_sandbox_limits(sb, err, errlen) != 0
        || weaveit_sandbox_priority(err, errlen) != 0
        || weaveit_generate_preload(p, err, errlen) != 0
        || weaveit_sandbox_filter(p, err, errlen) != 0)
    {
        return -1;
    }

    return 0;
}


/*
 * nginx opens its listening and client sockets without close-on-exec: the
 * filter refuses new connections and messages, but write() on a socket a
 * spawner leaked would still reach a client.  Only the job's are kept.
 */

static int
weaveit_sandbox_close(char *err, size_t errlen)
{
    if (close_range(WEAVEIT_SANDBOX_FDS, ~0U, 0) != 0) {
        weaveit_error(err, errlen, "sandbox: close_range() failed: %s",
                      strerror(errno));
        return -1;
    }

    return 0;
}


/*
 * No setuid program can give the process privileges back, and it is killed
 * when the thread that started it ends; a parent gone before that was set
 * up left it with another parent already.
 */

static int
weaveit_sandbox_tie(const weaveit_sandbox_t *sb, char *err, size_t errlen)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
        || prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
    {
        weaveit_error(err, errlen, "sandbox: prctl() failed: %s",
                      strerror(errno));
        return -1;
    }

    if (getppid() != sb->parent) {
        weaveit_error(err, errlen, "sandbox: the parent process is gone");
        return -1;
    }

    return 0;
}


/*
 * RLIMIT_CPU sends SIGXCPU at max_cpu seconds and SIGKILL one second
 * later.  RLIMIT_FSIZE 0 stops writes to any regular file (pipes are not
 * files); with SIGXFSZ ignored such a write fails with EFBIG, and the
 * message says so, rather than killing the process.
 */

static int
weaveit_sandbox_limits(const weaveit_sandbox_t *sb, char *err,
    size_t errlen)
{
    rlim_t  as;

    if (sb->max_memory) {
        as = weaveit_sandbox_address_space(sb);

        if (weaveit_sandbox_limit(RLIMIT_AS, "RLIMIT_AS", as, as, err, errlen)
            != 0)
        {
            return -1;
        }
    }

    if (sb->max_cpu
        && weaveit_sandbox_limit(RLIMIT_CPU, "RLIMIT_CPU", sb->max_cpu,
                                 sb->max_cpu + 1, err, errlen) != 0)
    {
        return -1;
    }

    signal(SIGXFSZ, SIG_IGN);

    if (weaveit_sandbox_limit(RLIMIT_CORE, "RLIMIT_CORE", 0, 0, err, errlen)
        != 0
        || weaveit_sandbox_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", 0, 0, err,
                                 errlen) != 0
        || weaveit_sandbox_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE",
                                 WEAVEIT_SANDBOX_NOFILE,
                                 WEAVEIT_SANDBOX_NOFILE, err, errlen) != 0)
    {
        return -1;
    }

    return 0;
}


/*
 * AddressSanitizer (make test-asan) maps terabytes of shadow and allocator
 * space before main(), and RLIMIT_AS counts that too: in such a build the
 * limit is max_memory more than what is mapped now.  Small allocations
 * come from the space already mapped and escape it; frames, encoders and
 * anything large do not.
 */

static rlim_t
weaveit_sandbox_address_space(const weaveit_sandbox_t *sb)
{
#if defined(__SANITIZE_ADDRESS__)
    FILE           *f;
    unsigned long   pages;

    pages = 0;

    f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%lu", &pages) != 1) {
            pages = 0;
        }

        fclose(f);
    }

    return sb->max_memory + (rlim_t) pages * sysconf(_SC_PAGESIZE);
#else
    return sb->max_memory;
#endif
}


static int
weaveit_sandbox_limit(int resource, const char *name, rlim_t soft,
    rlim_t hard, char *err, size_t errlen)
{
    struct rlimit  rl;

    rl.rlim_cur = soft;
    rl.rlim_max = hard;

    if (setrlimit(resource, &rl) != 0) {
        weaveit_error(err, errlen, "sandbox: setrlimit(%s) failed: %s", name,
                      strerror(errno));
        return -1;
    }

    return 0;
}


/*
 * SCHED_IDLE: any other runnable task, an nginx worker first, preempts the
 * generator and its encoder threads, which inherit the policy.  Inside a
 * worker this inverted priorities; in a process of its own nothing waits
 * on it but the job.
 */

static int
weaveit_sandbox_priority(char *err, size_t errlen)
{
    struct sched_param  sp;

    memset(&sp, 0, sizeof(struct sched_param));

    if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0
        || setpriority(PRIO_PROCESS, 0, WEAVEIT_SANDBOX_NICE) != 0)
    {
        weaveit_error(err, errlen, "sandbox: cannot lower the priority: %s",
                      strerror(errno));
        return -1;
    }

    return 0;
}


/*
 * no_new_privs is set already; CTL_NNP stays on so this filter never loads
 * without it.  TSYNC puts the threads that exist under it as well:
 * espeak-ng 1.51 starts one when initialised, for its asynchronous mode.
 * Only the x86_64 ABI is allowed: a 32-bit system call kills the process.
 */

static int
weaveit_sandbox_filter(const weaveit_params_t *p, char *err, size_t errlen)
{
    int              rc;
    scmp_filter_ctx  ctx;

    ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL) {
        weaveit_error(err, errlen, "sandbox: seccomp_init() failed");
        return -1;
    }

    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);

    if (rc == 0) {
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    }

    if (rc == 0) {
        rc = weaveit_sandbox_rules(ctx, p);
    }

    if (rc == 0) {
        weaveit_sandbox_leak_check();
        rc = seccomp_load(ctx);
    }

    seccomp_release(ctx);

    if (rc != 0) {
        weaveit_error(err, errlen, "sandbox: seccomp: %s", strerror(-rc));
        return -1;
    }

    return 0;
}


/*
 * glibc makes threads and processes with clone3() when it can, and falls
 * back to clone() on ENOSYS: clone3() passes its flags in memory a filter
 * cannot read, clone() in a register.  So clone3() "does not exist" and
 * clone() without CLONE_THREAD, a new process, is refused.
 */

static int
weaveit_sandbox_rules(scmp_filter_ctx ctx, const weaveit_params_t *p)
{
    int     rc;
    size_t  i;
    pid_t   self;

    rc = weaveit_sandbox_deny(ctx, weaveit_sandbox_denied,
                              weaveit_nelts(weaveit_sandbox_denied));
    if (rc != 0) {
        return rc;
    }

    rc = (p->speech == WEAVEIT_SPEECH_ESPEAK)
         ? weaveit_sandbox_deny(ctx, weaveit_sandbox_network,
                                weaveit_nelts(weaveit_sandbox_network))
         : weaveit_sandbox_internet_only(ctx);
    if (rc != 0) {
        return rc;
    }

    rc = weaveit_sandbox_arg_rules(ctx, SCMP_SYS(open), 1,
                                   weaveit_sandbox_write_flags,
                                   weaveit_nelts(weaveit_sandbox_write_flags));
    if (rc != 0) {
        return rc;
    }

    rc = weaveit_sandbox_arg_rules(ctx, SCMP_SYS(openat), 2,
                                   weaveit_sandbox_write_flags,
                                   weaveit_nelts(weaveit_sandbox_write_flags));
    if (rc != 0) {
        return rc;
    }

    self = getpid();

    for (i = 0; i < weaveit_nelts(weaveit_sandbox_signals); i++) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
                              weaveit_sandbox_signals[i], 1,
                              SCMP_A0(SCMP_CMP_NE, (scmp_datum_t) self));
        if (rc != 0) {
            return rc;
        }
    }

    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
    if (rc != 0) {
        return rc;
    }

    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3),
                            0);
}


static int
weaveit_sandbox_deny(scmp_filter_ctx ctx, const int *nr, size_t n)
{
    int     rc;
    size_t  i;

    for (i = 0; i < n; i++) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr[i], 0);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


/*
 * A speech server: sockets of AF_INET and AF_INET6 alone (DNS and HTTP);
 * libcurl wakes its resolver thread through a socketpair(), which reaches
 * nothing outside.  A filter cannot say "family not in {...}" in one
 * rule, so every other family gets its own.
 */

static int
weaveit_sandbox_internet_only(scmp_filter_ctx ctx)
{
    int  rc, family;

    for (family = 0; family < AF_MAX; family++) {
        if (family == AF_INET || family == AF_INET6) {
            continue;
        }

        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket),
                              1, SCMP_A0(SCMP_CMP_EQ,
                                         (scmp_datum_t) family));
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


/* system call nr is refused when argument arg has all the bits of a mask */

static int
weaveit_sandbox_arg_rules(scmp_filter_ctx ctx, int nr, unsigned arg,
    const int *masks, size_t n)
{
    int                     rc;
    size_t                  i;
    struct scmp_arg_cmp     cmp;

    for (i = 0; i < n; i++) {
        cmp = (struct scmp_arg_cmp) {
            arg, SCMP_CMP_MASKED_EQ, (scmp_datum_t) masks[i],
            (scmp_datum_t) masks[i]
        };

        rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
                                    &cmp);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


int
weaveit_sandbox_test(const weaveit_params_t *p, FILE *out)
{
    int     rc;
    size_t  i;

    rc = 0;

    for (i = 0; i < weaveit_nelts(weaveit_sandbox_probes); i++) {
        if (weaveit_probe_run(&weaveit_sandbox_probes[i], p, out) != 0) {
            rc = -1;
        }
    }

    return rc;
}


/*
 * One line: "refused (why)" or "allowed" when that is what should happen,
 * in capitals when it is not.  Only EPERM, the filter's answer, counts as
 * refused: a forbidden call failing for another reason proves nothing.
 */

static int
weaveit_probe_run(const weaveit_sandbox_probe_t *probe,
    const weaveit_params_t *p, FILE *out)
{
    int  rc, refused, allowed;

    allowed = (p->speech == WEAVEIT_SPEECH_ESPEAK)
              ? probe->allowed : probe->allowed_for_server;

    errno = 0;
    rc = probe->call(p);
    refused = (rc != 0 && errno == EPERM);

    if (rc == 0) {
        fprintf(out, "%s: %s\n", probe->name,
                allowed ? "allowed" : "ALLOWED");

    } else {
        fprintf(out, "%s: %s (%s)\n", probe->name,
                (allowed || !refused) ? "REFUSED" : "refused",
                strerror(errno));
    }

    /* a line that was not written is a test that did not pass */
    if (fflush(out) != 0) {
        return -1;
    }

    return (allowed ? rc == 0 : refused) ? 0 : -1;
}


static int
weaveit_probe_inet(const weaveit_params_t *p)
{
    (void) p;

    return weaveit_probe_closed(socket(AF_INET, SOCK_STREAM, 0));
}


static int
weaveit_probe_unix(const weaveit_params_t *p)
{
    (void) p;

    return weaveit_probe_closed(socket(AF_UNIX, SOCK_STREAM, 0));
}


static int
weaveit_probe_create(const weaveit_params_t *p)
{
    int  rc;

    (void) p;

    rc = weaveit_probe_closed(open(WEAVEIT_SANDBOX_PROBE, O_WRONLY | O_CREAT,
                                   0600));
    if (rc == 0) {
        unlink(WEAVEIT_SANDBOX_PROBE);
    }

    return rc;
}


/* a call that returned a descriptor worked; the descriptor is closed */

static int
weaveit_probe_closed(int fd)
{
    if (fd == -1) {
        return -1;
    }

    close(fd);

    return 0;
}


static int
weaveit_probe_exec(const weaveit_params_t *p)
{
    char  *argv[] = { "false", NULL };
    char  *envp[] = { NULL };

    (void) p;

    return execve("/bin/false", argv, envp);
}


static int
weaveit_probe_ptrace(const weaveit_params_t *p)
{
    (void) p;

    return (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == -1) ? -1 : 0;
}


static int
weaveit_probe_fork(const weaveit_params_t *p)
{
    pid_t  pid;

    (void) p;

    pid = fork();

    if (pid == 0) {
        _exit(0);
    }

    if (pid == -1) {
        return -1;
    }

    waitpid(pid, NULL, 0);

    return 0;
}


static int
weaveit_probe_kill(const weaveit_params_t *p)
{
    (void) p;

    return kill(getppid(), 0);
}


/* a fontconfig pattern is matched to its file, as generation does */

static int
weaveit_probe_font(const weaveit_params_t *p)
{
    int    rc, index;
    char  *file, err[256];

    if (weaveit_fonts_resolve(p->font_path, &file, &index, err, sizeof(err))
        != 0)
    {
        errno = ENOENT;
        return -1;
    }

    rc = weaveit_probe_closed(open(file, O_RDONLY | O_CLOEXEC));
    free(file);

    return rc;
}


static int
weaveit_probe_thread(const weaveit_params_t *p)
{
    int        rc;
    pthread_t  thread;

    (void) p;

    rc = pthread_create(&thread, NULL, weaveit_probe_thread_run, NULL);
    if (rc != 0) {
        errno = rc;
        return -1;
    }

    return pthread_join(thread, NULL);
}


static void *
weaveit_probe_thread_run(void *arg)
{
    return arg;
}
