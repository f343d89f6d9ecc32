/* Send and delivery helpers of the test kit: Sends built with exact device
 * lists (spec/delivery.md section 3, DELIV-1), events waited for by kind,
 * and the fields of a delivered message checked as DELIV-1 says. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ventra/err.h"
#include "vtc.h"
#include "vtc_int.h"

void vtc_send_build(vtc_send_buf *b, const char *recipient, const uint32_t *r, size_t nr,
                    const uint32_t *s, size_t ns, const char *text, const uint8_t *mid,
                    const vtc_send_opts *o)
{
    static const vtc_send_opts none;

    if (o == NULL)
        o = &none;
    VTC_ASSERT(nr <= 8 && ns <= 8);
    memset(b, 0, sizeof *b);
    ventra__v1__request__init(&b->req);
    ventra__v1__send_request__init(&b->send);
    memcpy(b->mid, mid, 16);
    b->send.message_id = vtc_bin(b->mid, o->message_id_len ? o->message_id_len : 16);
    if (o->empty_message_id)
        b->send.message_id.len = 0;
    b->send.recipient = (char *)recipient;
    b->send.ephemeral = o->ephemeral;
    b->send.group_id = vtc_bin(o->group_id, o->group_id_len);
    for (size_t i = 0; i < nr + ns; i++) {
        Ventra__V1__OutgoingEnvelope *e = &b->env[i];
        bool self = i >= nr;
        uint32_t dev = self ? s[i - nr] : r[i];

        ventra__v1__outgoing_envelope__init(e);
        e->device_id = dev;
        e->type = VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE;
        if (o->bare_content)
            snprintf(b->content[i], sizeof b->content[i], "%s", text);
        else
            snprintf(b->content[i], sizeof b->content[i], "%s|%c%u", text,
                     self ? 's' : 'r', dev);
        e->content = vtc_bin((const uint8_t *)b->content[i], strlen(b->content[i]));
        if (i + 1 == nr + ns) {
            if (o->unspecified_type)
                e->type = VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_UNSPECIFIED;
            if (o->bad_type)
                e->type = (Ventra__V1__EnvelopeType)o->bad_type;
            if (o->empty_content)
                e->content.len = 0;
        }
        if (self)
            b->sp[b->send.n_to_self++] = e;
        else
            b->rp[b->send.n_to_recipient++] = e;
    }
    b->send.to_recipient = b->rp;
    b->send.to_self = b->sp;
    b->req.body_case = VENTRA__V1__REQUEST__BODY_SEND;
    b->req.send = &b->send;
}

Ventra__V1__Response *vtc_send_lists(vtc_device *from, const char *recipient,
                                     const uint32_t *r, size_t nr, const uint32_t *s,
                                     size_t ns, const char *text, const uint8_t *mid,
                                     const vtc_send_opts *o)
{
    vtc_send_buf *b = vtc_xmalloc(sizeof *b);
    Ventra__V1__Response *resp;

    vtc_send_build(b, recipient, r, nr, s, ns, text, mid, o);
    resp = vtc_call(from->c, &b->req);
    free(b);
    return resp;
}

uint64_t vtc_expect_sent(Ventra__V1__Response *r, bool duplicate)
{
    uint64_t t;

    if (r == NULL || r->body_case != VENTRA__V1__RESPONSE__BODY_SEND) {
        int code = vtc_error_code(r);

        vtc_response_free(r);
        vtc_fail("Send: expected a SendResponse, got code %d (%s)", code,
                 code < 0 ? "no response" : vt_err_name((vt_err)code));
    }
    bool dup = r->send->duplicate;

    t = r->send->server_time_ms;
    vtc_response_free(r); /* before any assertion, so that a failure leaks nothing */
    VTC_ASSERT_INT(dup, duplicate);
    VTC_ASSERT(t > 0);
    return t;
}

Ventra__V1__Event *vtc_wait_events(vtc_client *c, uint32_t kinds, int timeout_ms)
{
    int64_t deadline = vtc_now_ms() + timeout_ms;

    for (;;) {
        Ventra__V1__Event *e = vtc_next_event(c, vtc_left_ms(deadline));

        if (e == NULL)
            return NULL;
        if (e->body_case < 32 && (kinds & VTC_EVENT(e->body_case)) != 0)
            return e;
        vtc_event_free(e);
    }
}

Ventra__V1__Event *vtc_wait_event(vtc_client *c, int kind, int timeout_ms)
{
    return vtc_wait_events(c, VTC_EVENT(kind), timeout_ms);
}

Ventra__V1__Event *vtc_expect_message(vtc_device *d, int timeout_ms)
{
    Ventra__V1__Event *e =
        vtc_wait_event(d->c, VENTRA__V1__EVENT__BODY_MESSAGE, timeout_ms);

    if (e == NULL)
        vtc_fail("%s/%u: no MessageEvent within %d ms", d->username, d->device_id,
                 timeout_ms);
    return e;
}

void vtc_check_message(const Ventra__V1__MessageEvent *m, const vtc_device *from,
                       const char *recipient, const uint8_t *mid, const uint8_t *group_id,
                       const char *content, uint64_t time_ms)
{
    VTC_ASSERT(m->seq >= 1);
    VTC_ASSERT(strcmp(m->sender, from->username) == 0);
    VTC_ASSERT_INT(m->sender_device, from->device_id);
    VTC_ASSERT_INT(m->message_id.len, 16);
    VTC_ASSERT(memcmp(m->message_id.data, mid, 16) == 0);
    VTC_ASSERT_INT(m->type, VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE);
    VTC_ASSERT_INT(m->content.len, strlen(content));
    VTC_ASSERT(memcmp(m->content.data, content, strlen(content)) == 0);
    if (time_ms != 0)
        VTC_ASSERT_INT(m->server_time_ms, time_ms);
    if (group_id == NULL) {
        VTC_ASSERT_INT(m->group_id.len, 0);
    } else {
        VTC_ASSERT_INT(m->group_id.len, 16);
        VTC_ASSERT(memcmp(m->group_id.data, group_id, 16) == 0);
    }
    VTC_ASSERT(strcmp(m->recipient, recipient) == 0);
    VTC_ASSERT(!(m->ephemeral));
}

uint64_t vtc_expect_next_is(vtc_device *d, const uint8_t *mid, bool ack)
{
    Ventra__V1__Event *e = vtc_expect_message(d, 5000);
    uint64_t seq = e->message->seq;
    bool same = e->message->message_id.len == 16 &&
                memcmp(e->message->message_id.data, mid, 16) == 0;

    vtc_event_free(e);
    if (!same)
        vtc_fail("%s/%u: the next message (seq %llu) is not the one expected",
                 d->username, d->device_id, (unsigned long long)seq);
    if (ack)
        VTC_ASSERT_INT(vtc_ack(d, &seq, 1), 1);
    return seq;
}

void vtc_free_events(Ventra__V1__Event **ev, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vtc_event_free(ev[i]);
    free(ev);
}
