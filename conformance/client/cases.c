/* Every area of the client tier's cases (client_kit.h), in the order they
 * run. A new cases_<area>.c adds its area to AREAS below; nothing else
 * changes. */
#include "client_kit.h"
#include "live_int.h"

#define AREAS(X) X(transport) X(auth) X(messaging) X(delivery) X(sessions)

#define DECLARE(area)                                                                    \
    extern const vcl_case vcl_ccases_##area[];                                           \
    extern const size_t vcl_ccases_##area##_count;
#define ENTRY(area) {#area, vcl_ccases_##area, &vcl_ccases_##area##_count},

AREAS(DECLARE)

const vcl_area vcl_client_areas[] = {AREAS(ENTRY)};
const size_t vcl_client_area_count = sizeof vcl_client_areas / sizeof vcl_client_areas[0];
