/* Every area of live cases, in the order they run. A new cases_<area>.c
 * adds its area to AREAS below; nothing else changes. */
#include "live_int.h"

#define AREAS(X) X(transport) X(session) X(auth) X(errors) X(hostile) X(messaging) X(groups) X(durability) X(ratelimit) X(devices) X(prekeys)

#define DECLARE(area)                                                                    \
    extern const vcl_case vcl_cases_##area[];                                            \
    extern const size_t vcl_cases_##area##_count;
#define ENTRY(area) {#area, vcl_cases_##area, &vcl_cases_##area##_count},

AREAS(DECLARE)

const vcl_area vcl_areas[] = {AREAS(ENTRY)};
const size_t vcl_area_count = sizeof vcl_areas / sizeof vcl_areas[0];
