/* Private to the live runner: the tables of every area's cases (cases.c
 * for `server`, conformance/client/cases.c for `client`) and the runner's
 * entry points (runner.c). */
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

/* The client tier's areas (conformance/client/cases.c). */
extern const vcl_area vcl_client_areas[];
extern const size_t vcl_client_area_count;

/* `ventra-conform MODE ARGS`: runs the cases of the |narea| areas |areas|
 * ("server": vcl_areas, "client": vcl_client_areas); |argc| and |argv| are
 * the arguments after MODE. Returns the exit status: 0 when no case
 * failed, 1 when any did (or a case listed as an expected failure
 * passed), 2 on a usage error. */
int vcl_run(const char *mode, const vcl_area *areas, size_t narea, int argc, char **argv);

/* vcl_run("server", vcl_areas, ...). */
int vcl_main(int argc, char **argv);

#endif
