/* Assertions of the kit: fresh identities, the shape of error answers
 * (spec/wire.md section 3, WIRE-41, WIRE-43) and the end of a session
 * (WIRE-9, WIRE-14, WIRE-601). A failed one calls the failure handler, and
 * frees first what it owns, so that a failing test leaks nothing. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "ventra/crypto.h"
#include "ventra/err.h"
#include "vtc.h"
#include "vtc_int.h"

/* The name of an error code, for messages. */
static const char *code_name(int code)
{
    const char *name = code < 0 ? "no response" : vt_err_name((vt_err)code);

    return name != NULL ? name : "unknown code";
}

vt_identity *vtc_new_identity(void)
{
    vt_identity *id = NULL;

    if (vt_identity_generate(&id) != VT_OK)
        vtc_fail("vt_identity_generate failed");
    return id;
}

void vtc_random16(uint8_t out[16])
{
    if (vt_random_bytes(out, 16) != VT_OK)
        vtc_fail("vt_random_bytes failed");
}

int vtc_take_code(Ventra__V1__Response *r)
{
    int rc = vtc_error_code(r);

    vtc_response_free(r);
    return rc;
}

void vtc_expect_error(Ventra__V1__Response *r, int code)
{
    char why[256] = "";

    if (r == NULL)
        snprintf(why, sizeof why, "expected error %s, got no response", code_name(code));
    else if (r->error == NULL)
        snprintf(why, sizeof why, "expected error %s, got a body %d", code_name(code),
                 (int)r->body_case);
    else if (r->body_case != VENTRA__V1__RESPONSE__BODY__NOT_SET)
        snprintf(why, sizeof why, "error %s came with a body %d", code_name(code),
                 (int)r->body_case);
    else if ((int)r->error->code != code)
        snprintf(why, sizeof why, "expected error %s, got %s", code_name(code),
                 code_name((int)r->error->code));
    else if (r->error->retry_after_ms != 0)
        snprintf(why, sizeof why, "error %s carries retry_after_ms %u", code_name(code),
                 (unsigned)r->error->retry_after_ms);
    else if (code != VT_ERR_STALE_DEVICES && r->error->n_stale != 0) /* WIRE-43 */
        snprintf(why, sizeof why, "error %s lists %zu stale entries", code_name(code),
                 r->error->n_stale);
    vtc_response_free(r);
    if (why[0] != '\0')
        vtc_fail("%s", why);
}

void vtc_expect_body(const Ventra__V1__Response *r, int body)
{
    if (r == NULL)
        vtc_fail("expected a body %d, got no response", body);
    if (r->error != NULL)
        vtc_fail("expected a body %d, got error %s (%s)", body,
                 code_name((int)r->error->code),
                 r->error->message ? r->error->message : "");
    if ((int)r->body_case != body)
        vtc_fail("expected a body %d, got a body %d", body, (int)r->body_case);
}

int vtc_tally(int rc, int want, const char *what)
{
    if (rc == want)
        return 0;
    fprintf(stderr, "%s: code %d, want %d\n", what, rc, want);
    return 1;
}

void vtc_expect_session_ended(vtc_client *c, int reason, int close_code, int timeout_ms)
{
    Ventra__V1__Event *e =
        vtc_wait_event(c, VENTRA__V1__EVENT__BODY_SESSION_ENDED, timeout_ms);
    int got, code;

    if (e == NULL)
        vtc_fail("no SessionEndedEvent (close code %d)", vtc_client_close_code(c));
    got = (int)e->session_ended->reason;
    vtc_event_free(e);
    if (got != reason)
        vtc_fail("SessionEndedEvent reason %d, want %d", got, reason);
    /* WIRE-601: the event is the last frame before the close. */
    e = vtc_next_event(c, timeout_ms);
    if (e != NULL) {
        got = (int)e->body_case;
        vtc_event_free(e);
        vtc_fail("an event (body %d) after the SessionEndedEvent", got);
    }
    code = vtc_wait_close(c, timeout_ms);
    if (code != close_code)
        vtc_fail("close code %d after the SessionEndedEvent, want %d", code, close_code);
}
