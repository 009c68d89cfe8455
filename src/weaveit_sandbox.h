/*
 * The sandbox of a generator process (weaveit-render --serve): whatever a
 * script makes espeak-ng, FreeType or FFmpeg do, the process computes,
 * reads files and writes to the descriptors it was given, within bounds of
 * memory and CPU time, at the lowest priority, and dies with its parent.
 *
 * weaveit_sandbox.c needs libseccomp: it is linked into weaveit-render
 * only, never into the nginx module.
 */

#ifndef _WEAVEIT_SANDBOX_H_INCLUDED_
#define _WEAVEIT_SANDBOX_H_INCLUDED_


#include <stdio.h>
#include <sys/types.h>

#include "weaveit.h"


/* descriptors 0 to 3 are the job's: stdin, stdout, stderr, progress */
#define WEAVEIT_SANDBOX_FDS  4


typedef struct {
    unsigned long long  max_memory;     /* bytes of address space, 0: none */
    unsigned long long  max_cpu;        /* seconds of CPU time, 0: none */
    pid_t               parent;         /* --parent, or getppid() at start */
} weaveit_sandbox_t;


/*
 * In this order: every descriptor from WEAVEIT_SANDBOX_FDS up closed, no
 * new privileges and death with the parent, resource limits, the lowest
 * priority, weaveit_generate_preload(p), a seccomp filter.  Returns 0, or
 * -1 with a message in err.  Called before the process starts a thread:
 * threads inherit the limits and the priority, and the filter covers them
 * all.
 */
int weaveit_sandbox_enter(const weaveit_sandbox_t *sb,
    const weaveit_params_t *p, char *err, size_t errlen);

/*
 * In the sandbox: tries what it forbids and what generation needs, one
 * line each on out.  Returns 0 if every forbidden call was refused and
 * every needed one worked, else -1.
 */
int weaveit_sandbox_test(const weaveit_params_t *p, FILE *out);


#endif /* _WEAVEIT_SANDBOX_H_INCLUDED_ */
