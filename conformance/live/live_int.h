/* Private to the live runner: the table of every area's cases (cases.c)
 * and the runner's entry point (runner.c). */
#ifndef VCL_LIVE_INT_H
#define VCL_LIVE_INT_H

#include <stddef.h>

#include "live.h"

typedef struct vcl_area {
    const char *name;
    const vcl_case *cases;
    const size_t *count;
} vcl_area;

extern const vcl_area vcl_areas[];
extern const size_t vcl_area_count;

/* `ventra-conform server ARGS`: |argc| and |argv| are the arguments after
 * "server". Returns the exit status: 0 when no case failed, 1 when any
 * did (or a case listed as an expected failure passed), 2 on a usage
 * error. */
int vcl_main(int argc, char **argv);

#endif
