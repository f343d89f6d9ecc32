/* The frame log of the kit: every WebSocket message a connection sends or
 * receives goes to a settable hook, with a one-line summary decoded through
 * protobuf-c's descriptors and the generated RPC catalogue (spec/wire.md
 * section 2: Frame, Request, Response, Event). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "ventra/err.h"
#include "vt_rpc.h"
#include "vtc.h"
#include "vtc_int.h"

static vtc_frame_fn hook;
static void *hook_ud;
static unsigned conn_count;

void vtc_set_frame_hook(vtc_frame_fn fn, void *ud)
{
    hook = fn;
    hook_ud = ud;
}

unsigned vtc_next_conn_no(void)
{
    return ++conn_count;
}

void vtc_log_frame(unsigned conn, bool sent, int opcode, const void *data, size_t len,
                   int status)
{
    vtc_frame_rec rec = {.conn = conn,
                         .sent = sent,
                         .opcode = opcode,
                         .data = data,
                         .len = data ? len : 0,
                         .status = status};

    if (hook != NULL)
        hook(&rec, hook_ud);
}

/* The name of field |number| of |desc| (a oneof member), or "?". */
static const char *field_name(const ProtobufCMessageDescriptor *desc, unsigned number)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(desc, number);

    return f != NULL ? f->name : "?";
}

static void summarize_frame(const uint8_t *data, size_t len, char *out, size_t cap)
{
    Ventra__V1__Frame *f = ventra__v1__frame__unpack(NULL, len, data);

    if (f == NULL) {
        snprintf(out, cap, "not a Frame");
        return;
    }
    if (f->kind_case == VENTRA__V1__FRAME__KIND_REQUEST && f->request != NULL) {
        const vt_rpc_desc *rpc = vt_rpc_find((uint32_t)f->request->body_case);

        snprintf(out, cap, "Request %u %s", f->request->id,
                 rpc != NULL ? rpc->method
                 : f->request->body_case == 0
                     ? "(no body)"
                     : field_name(&ventra__v1__request__descriptor,
                                  (unsigned)f->request->body_case));
    } else if (f->kind_case == VENTRA__V1__FRAME__KIND_RESPONSE && f->response != NULL) {
        const Ventra__V1__Response *r = f->response;

        if (r->error != NULL) {
            const char *name = vt_err_name((vt_err)r->error->code);

            snprintf(out, cap, "Response %u error %s%s%s", r->id, name ? name : "?",
                     r->error->message && r->error->message[0] ? ": " : "",
                     r->error->message ? r->error->message : "");
        } else {
            snprintf(out, cap, "Response %u %s", r->id,
                     r->body_case == 0 ? "(no body)"
                                       : field_name(&ventra__v1__response__descriptor,
                                                    (unsigned)r->body_case));
        }
    } else if (f->kind_case == VENTRA__V1__FRAME__KIND_EVENT && f->event != NULL) {
        const vt_event_desc *ev = vt_event_find((uint32_t)f->event->body_case);

        snprintf(out, cap, "Event %s", ev != NULL ? ev->name : "(unknown kind)");
    } else {
        snprintf(out, cap, "Frame of no known kind");
    }
    ventra__v1__frame__free_unpacked(f, NULL);
}

void vtc_frame_summary(const vtc_frame_rec *rec, char *out, size_t cap)
{
    switch (rec->opcode) {
    case -2:
        snprintf(out, cap, "WebSocket protocol error");
        break;
    case -1:
        snprintf(out, cap, "handshake GET %.*s: %s %d", (int)rec->len,
                 (const char *)rec->data, rec->status < 0 ? "no answer" : "HTTP",
                 rec->status);
        break;
    case 0:
        snprintf(out, cap, "raw bytes");
        break;
    case 1:
        snprintf(out, cap, "text message");
        break;
    case 2:
        summarize_frame(rec->data, rec->len, out, cap);
        if (rec->sent && rec->status > 1) {
            size_t n = strlen(out);

            snprintf(out + n, cap - n, " (in %d fragments)", rec->status);
        }
        break;
    case 8:
        if (rec->status < 0)
            snprintf(out, cap, "end of stream");
        else
            snprintf(out, cap, "close %d%s%.*s", rec->status, rec->len ? " " : "",
                     (int)rec->len, rec->data ? (const char *)rec->data : "");
        break;
    case 9:
        snprintf(out, cap, "ping");
        break;
    case 10:
        snprintf(out, cap, "pong");
        break;
    default:
        snprintf(out, cap, "opcode %d", rec->opcode);
        break;
    }
}
