/* a minimal TAP producer for the C unit tests (prove reads the output) */

#ifndef _WEAVEIT_TAP_H_INCLUDED_
#define _WEAVEIT_TAP_H_INCLUDED_

#include <stdio.h>

static int  tap_count;
static int  tap_failed;

#define tap_plan(n)  printf("1..%d\n", (n))

#define ok(cond, ...)                                                         \
    do {                                                                      \
        int  tap_ok_ = (cond) ? 1 : 0;                                        \
        printf("%sok %d - ", tap_ok_ ? "" : "not ", ++tap_count);             \
        printf(__VA_ARGS__);                                                  \
        printf("\n");                                                         \
        if (!tap_ok_) {                                                       \
            tap_failed++;                                                     \
            printf("#   failed at %s line %d\n", __FILE__, __LINE__);         \
        }                                                                     \
        fflush(stdout);                                                       \
    } while (0)

#define diag(...)                                                             \
    do { printf("# "); printf(__VA_ARGS__); printf("\n"); } while (0)

#define tap_done()  (tap_failed ? 1 : 0)

#endif
