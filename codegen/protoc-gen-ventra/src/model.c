/* protoc-gen-ventra: builds the RPC catalogue, the event list and the error
 * codes from protoc's descriptors and checks the rules of spec/wire.md, RPC
 * catalogue (method id = Request/Response body field number). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgv.h"
#include "ventra/v1/options.pb-c.h"

/* Field numbers of descriptor.proto, for SourceCodeInfo paths. */
enum {
    FILE_MESSAGE_TYPE = 4,
    FILE_ENUM_TYPE = 5,
    FILE_SERVICE = 6,
    MESSAGE_FIELD = 2,
    MESSAGE_NESTED_TYPE = 3,
    ENUM_VALUE = 2,
    SERVICE_METHOD = 2,
};

void pgv_error(pgv_model *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cg_buf_vprintf(&m->errors, fmt, ap);
    va_end(ap);
    cg_buf_puts(&m->errors, "\n");
}

static const char *strip_dot(const char *type_name)
{
    return type_name[0] == '.' ? type_name + 1 : type_name;
}

static void add_msgs(pgv_model *m, const pgv_file_desc *file, const char *prefix,
                     Google__Protobuf__DescriptorProto **descs, size_t n, size_t *cap)
{
    for (size_t i = 0; i < n; i++) {
        if (m->n_msgs == *cap) {
            size_t ncap = *cap ? *cap * 2 : 64;
            pgv_msg *nm = pgv_alloc(ncap * sizeof(*nm));
            if (m->n_msgs) {
                memcpy(nm, m->msgs, m->n_msgs * sizeof(*nm));
            }
            m->msgs = nm;
            *cap = ncap;
        }
        pgv_msg *msg = &m->msgs[m->n_msgs++];
        msg->full_name = prefix[0] ? pgv_printf("%s.%s", prefix, descs[i]->name)
                                   : pgv_strdup(descs[i]->name);
        msg->desc = descs[i];
        msg->file = file;
        add_msgs(m, file, msg->full_name, descs[i]->nested_type, descs[i]->n_nested_type,
                 cap);
    }
}

const pgv_msg *pgv_find_msg(const pgv_model *m, const char *full_name)
{
    full_name = strip_dot(full_name);
    for (size_t i = 0; i < m->n_msgs; i++) {
        if (strcmp(m->msgs[i].full_name, full_name) == 0) {
            return &m->msgs[i];
        }
    }
    return NULL;
}

const pgv_field_desc *pgv_find_field(const pgv_msg *msg, const char *name)
{
    for (size_t i = 0; i < msg->desc->n_field; i++) {
        if (strcmp(msg->desc->field[i]->name, name) == 0) {
            return msg->desc->field[i];
        }
    }
    return NULL;
}

const pgv_file_desc *pgv_find_file(const pgv_model *m, const char *name)
{
    for (size_t i = 0; i < m->req->n_proto_file; i++) {
        if (strcmp(m->req->proto_file[i]->name, name) == 0) {
            return m->req->proto_file[i];
        }
    }
    return NULL;
}

char *pgv_source_path(const pgv_model *m, const char *proto_name)
{
    return pgv_printf("%s%s", m->source_root, proto_name);
}

static bool is_generated(const pgv_model *m, const char *name)
{
    for (size_t i = 0; i < m->req->n_file_to_generate; i++) {
        if (strcmp(m->req->file_to_generate[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* The leading comment at |path| of |file|, as one line ("" when none). */
static char *comment_at(const pgv_file_desc *file, const int32_t *path, size_t n)
{
    if (file->source_code_info == NULL) {
        return pgv_strdup("");
    }
    const Google__Protobuf__SourceCodeInfo *sci = file->source_code_info;
    for (size_t i = 0; i < sci->n_location; i++) {
        const Google__Protobuf__SourceCodeInfo__Location *loc = sci->location[i];
        if (loc->n_path == n && memcmp(loc->path, path, n * sizeof(*path)) == 0 &&
            loc->leading_comments != NULL) {
            return pgv_comment_line(loc->leading_comments);
        }
    }
    return pgv_strdup("");
}

/* Path of a field of a top-level message in its file ([4, msg, 2, field]). */
static char *field_comment(const pgv_msg *msg, const pgv_field_desc *field)
{
    const pgv_file_desc *file = msg->file;
    for (size_t i = 0; i < file->n_message_type; i++) {
        if (file->message_type[i] != msg->desc) {
            continue;
        }
        for (size_t j = 0; j < msg->desc->n_field; j++) {
            if (msg->desc->field[j] == field) {
                int32_t path[4] = {FILE_MESSAGE_TYPE, (int32_t)i, MESSAGE_FIELD,
                                   (int32_t)j};
                return comment_at(file, path, 4);
            }
        }
    }
    return pgv_strdup("");
}

/* The fields of |msg|'s oneof |name|, in declaration order. */
static size_t oneof_fields(const pgv_msg *msg, const char *name,
                           const pgv_field_desc **out, size_t cap, bool *found)
{
    *found = false;
    size_t idx = 0;
    for (; idx < msg->desc->n_oneof_decl; idx++) {
        if (strcmp(msg->desc->oneof_decl[idx]->name, name) == 0) {
            *found = true;
            break;
        }
    }
    size_t n = 0;
    if (!*found) {
        return 0;
    }
    for (size_t i = 0; i < msg->desc->n_field; i++) {
        const pgv_field_desc *f = msg->desc->field[i];
        if (f->has_oneof_index && (size_t)f->oneof_index == idx && n < cap) {
            out[n++] = f;
        }
    }
    return n;
}

static bool is_message_field(const pgv_field_desc *f)
{
    return f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE &&
           f->type_name != NULL;
}

/* Decodes the ventra.v1.rpc option: protobuf-c keeps extensions it does not
 * know as unknown fields of MethodOptions. */
static void rpc_options(pgv_model *m, pgv_rpc *rpc,
                        const Google__Protobuf__MethodDescriptorProto *method)
{
    if (method->options == NULL) {
        return;
    }
    const ProtobufCMessage *base = &method->options->base;
    for (unsigned i = 0; i < base->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &base->unknown_fields[i];
        if (u->tag != PGV_RPC_OPTION_FIELD) {
            continue;
        }
        if (u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
            pgv_error(m,
                      "rpc %s: option ventra.v1.rpc has wire type %d, expected a message",
                      rpc->full_name, (int)u->wire_type);
            continue;
        }
        /* protobuf-c keeps an unknown length-delimited field with its length
         * prefix: skip the varint and check it covers the rest. */
        size_t pos = 0;
        uint64_t len = 0;
        unsigned shift = 0;
        bool done = false;
        while (pos < u->len && shift < 64 && !done) {
            len |= (uint64_t)(u->data[pos] & 0x7f) << shift;
            done = (u->data[pos] & 0x80) == 0;
            shift += 7;
            pos++;
        }
        Ventra__V1__RpcOptions *o = NULL;
        if (done && len == u->len - pos) {
            o = ventra__v1__rpc_options__unpack(NULL, (size_t)len, u->data + pos);
        }
        if (o == NULL) {
            pgv_error(m, "rpc %s: option ventra.v1.rpc does not decode as RpcOptions",
                      rpc->full_name);
            continue;
        }
        /* Repeated occurrences merge, as protobuf merges messages. */
        rpc->is_public = rpc->is_public || o->public_;
        rpc->idempotent = rpc->idempotent || o->idempotent;
        ventra__v1__rpc_options__free_unpacked(o, NULL);
    }
}

#define MAX_BODY 1024

static void build_rpcs(pgv_model *m)
{
    size_t cap = 0;
    for (size_t fi = 0; fi < m->req->n_proto_file; fi++) {
        const pgv_file_desc *file = m->req->proto_file[fi];
        if (!is_generated(m, file->name)) {
            continue;
        }
        for (size_t si = 0; si < file->n_service; si++) {
            const Google__Protobuf__ServiceDescriptorProto *svc = file->service[si];
            if (m->service_file == NULL) {
                m->service_file = file->name;
            }
            for (size_t mi = 0; mi < svc->n_method; mi++) {
                const Google__Protobuf__MethodDescriptorProto *meth = svc->method[mi];
                if (m->n_rpcs == cap) {
                    cap = cap ? cap * 2 : 32;
                    pgv_rpc *n = pgv_alloc(cap * sizeof(*n));
                    if (m->n_rpcs) {
                        memcpy(n, m->rpcs, m->n_rpcs * sizeof(*n));
                    }
                    m->rpcs = n;
                }
                pgv_rpc *r = &m->rpcs[m->n_rpcs++];
                memset(r, 0, sizeof(*r));
                r->service = svc->name;
                r->method = meth->name;
                r->full_name =
                    pgv_printf("%s%s%s/%s", file->package ? file->package : "",
                               file->package ? "." : "", svc->name, meth->name);
                r->snake = pgv_snake(meth->name);
                r->upper = pgv_upper(r->snake);
                r->request_type = pgv_strdup(strip_dot(meth->input_type));
                r->response_type = pgv_strdup(strip_dot(meth->output_type));
                int32_t path[4] = {FILE_SERVICE, (int32_t)si, SERVICE_METHOD,
                                   (int32_t)mi};
                r->summary = comment_at(file, path, 4);
                if (meth->client_streaming || meth->server_streaming) {
                    pgv_error(m, "rpc %s: streaming rpcs are not part of the protocol",
                              r->full_name);
                }
                rpc_options(m, r, meth);
            }
        }
    }
}

/* Every rpc's input type is exactly one Request.body field; its output type
 * is the Response.body field with the same number; every body field belongs
 * to exactly one rpc; method ids are unique. */
static void check_rpcs(pgv_model *m)
{
    static const pgv_field_desc *req_body[MAX_BODY];
    static const pgv_field_desc *resp_body[MAX_BODY];
    bool found;
    size_t n_req = oneof_fields(m->request, PGV_BODY_ONEOF, req_body, MAX_BODY, &found);
    if (!found) {
        pgv_error(m, "%s has no oneof body", PGV_REQUEST);
    }
    size_t n_resp =
        oneof_fields(m->response, PGV_BODY_ONEOF, resp_body, MAX_BODY, &found);
    if (!found) {
        pgv_error(m, "%s has no oneof body", PGV_RESPONSE);
    }
    if (m->n_rpcs == 0) {
        pgv_error(m, "no rpc found in the files to generate");
    }
    for (size_t i = 0; i < m->n_rpcs; i++) {
        pgv_rpc *r = &m->rpcs[i];
        size_t hits = 0;
        for (size_t j = 0; j < n_req; j++) {
            if (is_message_field(req_body[j]) &&
                strcmp(strip_dot(req_body[j]->type_name), r->request_type) == 0) {
                if (hits == 0) {
                    r->req_field = req_body[j];
                }
                hits++;
            }
        }
        if (hits == 0) {
            pgv_error(m, "rpc %s: input type %s is not a field of %s.body", r->full_name,
                      r->request_type, PGV_REQUEST);
            continue;
        }
        if (hits > 1) {
            pgv_error(
                m, "rpc %s: input type %s is %zu fields of %s.body, expected exactly one",
                r->full_name, r->request_type, hits, PGV_REQUEST);
        }
        r->id = (uint32_t)r->req_field->number;
        const pgv_field_desc *same = NULL;
        const pgv_field_desc *typed = NULL;
        for (size_t j = 0; j < n_resp; j++) {
            if ((uint32_t)resp_body[j]->number == r->id) {
                same = resp_body[j];
            }
            if (is_message_field(resp_body[j]) &&
                strcmp(strip_dot(resp_body[j]->type_name), r->response_type) == 0 &&
                typed == NULL) {
                typed = resp_body[j];
            }
        }
        if (same != NULL && is_message_field(same) &&
            strcmp(strip_dot(same->type_name), r->response_type) == 0) {
            r->resp_field = same;
        } else if (typed != NULL) {
            pgv_error(m,
                      "rpc %s: output type %s is field %d of %s.body, expected field %u "
                      "(the method id, %s.body field %s)",
                      r->full_name, r->response_type, typed->number, PGV_RESPONSE, r->id,
                      PGV_REQUEST, r->req_field->name);
        } else if (same != NULL) {
            pgv_error(m, "rpc %s: %s.body field %u (%s) is not of the output type %s",
                      r->full_name, PGV_RESPONSE, r->id, same->name, r->response_type);
        } else {
            pgv_error(
                m,
                "rpc %s: output type %s is not a field of %s.body (expected number %u)",
                r->full_name, r->response_type, PGV_RESPONSE, r->id);
        }
    }
    for (size_t i = 0; i < m->n_rpcs; i++) {
        for (size_t j = i + 1; j < m->n_rpcs; j++) {
            if (m->rpcs[i].req_field && m->rpcs[i].req_field == m->rpcs[j].req_field) {
                pgv_error(m, "rpcs %s and %s share method id %u (%s.body field %s)",
                          m->rpcs[i].full_name, m->rpcs[j].full_name, m->rpcs[i].id,
                          PGV_REQUEST, m->rpcs[i].req_field->name);
            }
        }
    }
    for (size_t j = 0; j < n_req; j++) {
        bool owned = false;
        for (size_t i = 0; i < m->n_rpcs; i++) {
            owned = owned || m->rpcs[i].req_field == req_body[j];
        }
        if (!owned) {
            pgv_error(m, "%s.body field %s (%d) is the input of no rpc", PGV_REQUEST,
                      req_body[j]->name, req_body[j]->number);
        }
    }
    for (size_t j = 0; j < n_resp; j++) {
        bool owned = false;
        for (size_t i = 0; i < m->n_rpcs; i++) {
            owned = owned || m->rpcs[i].resp_field == resp_body[j];
        }
        if (!owned) {
            pgv_error(m, "%s.body field %s (%d) is the output of no rpc", PGV_RESPONSE,
                      resp_body[j]->name, resp_body[j]->number);
        }
    }
}

static int cmp_rpc(const void *a, const void *b)
{
    const pgv_rpc *x = a;
    const pgv_rpc *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_event(const void *a, const void *b)
{
    const pgv_event *x = a;
    const pgv_event *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_err(const void *a, const void *b)
{
    const pgv_errcode *x = a;
    const pgv_errcode *y = b;
    return x->number < y->number ? -1 : x->number > y->number;
}

static void build_events(pgv_model *m)
{
    static const pgv_field_desc *body[MAX_BODY];
    bool found;
    size_t n = oneof_fields(m->event, PGV_BODY_ONEOF, body, MAX_BODY, &found);
    if (!found) {
        pgv_error(m, "%s has no oneof body", PGV_EVENT);
        return;
    }
    m->events = pgv_alloc((n ? n : 1) * sizeof(*m->events));
    for (size_t i = 0; i < n; i++) {
        if (!is_message_field(body[i])) {
            pgv_error(m, "%s.body field %s is not a message", PGV_EVENT, body[i]->name);
            continue;
        }
        pgv_event *e = &m->events[m->n_events++];
        e->id = (uint32_t)body[i]->number;
        e->name = body[i]->name;
        e->upper = pgv_upper(body[i]->name);
        e->type = pgv_strdup(strip_dot(body[i]->type_name));
        e->summary = field_comment(m->event, body[i]);
        e->field = body[i];
    }
    qsort(m->events, m->n_events, sizeof(*m->events), cmp_event);
}

static void build_errors(pgv_model *m)
{
    for (size_t fi = 0; fi < m->req->n_proto_file; fi++) {
        const pgv_file_desc *file = m->req->proto_file[fi];
        for (size_t ei = 0; ei < file->n_enum_type; ei++) {
            const Google__Protobuf__EnumDescriptorProto *en = file->enum_type[ei];
            char *full =
                pgv_printf("%s.%s", file->package ? file->package : "", en->name);
            if (strcmp(full, PGV_ERROR_CODE) != 0) {
                continue;
            }
            m->error_file = file->name;
            m->errs = pgv_alloc((en->n_value ? en->n_value : 1) * sizeof(*m->errs));
            for (size_t vi = 0; vi < en->n_value; vi++) {
                const Google__Protobuf__EnumValueDescriptorProto *v = en->value[vi];
                pgv_errcode *e = &m->errs[m->n_errs++];
                e->number = v->number;
                e->name = v->name;
                if (strcmp(v->name, "ERROR_OK") == 0) {
                    e->c_name = pgv_strdup("VT_OK");
                } else if (strncmp(v->name, "ERROR_", 6) == 0) {
                    e->c_name = pgv_printf("VT_ERR_%s", v->name + 6);
                } else {
                    pgv_error(m, "%s value %s does not start with ERROR_", PGV_ERROR_CODE,
                              v->name);
                    e->c_name = pgv_printf("VT_ERR_%s", v->name);
                }
                if (v->number < 0) {
                    pgv_error(m, "%s value %s is negative", PGV_ERROR_CODE, v->name);
                }
                int32_t path[4] = {FILE_ENUM_TYPE, (int32_t)ei, ENUM_VALUE, (int32_t)vi};
                char *line = comment_at(file, path, 4);
                if (line[0] == '\0') {
                    /* vt_strerror() must have a message for every code. */
                    pgv_error(m, "%s value %s has no leading comment (its message)",
                              PGV_ERROR_CODE, v->name);
                }
                e->message = pgv_first_sentence(line);
            }
            qsort(m->errs, m->n_errs, sizeof(*m->errs), cmp_err);
            for (size_t i = 1; i < m->n_errs; i++) {
                if (m->errs[i].number == m->errs[i - 1].number) {
                    pgv_error(m, "%s values %s and %s share the number %d",
                              PGV_ERROR_CODE, m->errs[i - 1].name, m->errs[i].name,
                              m->errs[i].number);
                }
            }
            /* The generated dispatch and stubs return these. */
            static const char *const needed[] = {
                "ERROR_UNKNOWN_RPC",
                "ERROR_UNAUTHENTICATED",
                "ERROR_INVALID_ARGUMENT",
                "ERROR_BUFFER_TOO_SMALL",
            };
            for (size_t k = 0; k < sizeof(needed) / sizeof(needed[0]); k++) {
                bool have = false;
                for (size_t i = 0; i < m->n_errs; i++) {
                    have = have || strcmp(m->errs[i].name, needed[k]) == 0;
                }
                if (!have) {
                    pgv_error(m, "%s has no value %s (the generated code returns it)",
                              PGV_ERROR_CODE, needed[k]);
                }
            }
            if (m->n_errs == 0 || m->errs[0].number != 0 ||
                strcmp(m->errs[0].name, "ERROR_OK") != 0) {
                pgv_error(m, "%s must start with ERROR_OK = 0", PGV_ERROR_CODE);
            }
            return;
        }
    }
    pgv_error(m, "enum %s not found (import frame.proto)", PGV_ERROR_CODE);
}

void pgv_model_build(pgv_model *m,
                     const Google__Protobuf__Compiler__CodeGeneratorRequest *req)
{
    m->req = req;
    size_t cap = 0;
    for (size_t i = 0; i < req->n_proto_file; i++) {
        const pgv_file_desc *f = req->proto_file[i];
        add_msgs(m, f, f->package ? f->package : "", f->message_type, f->n_message_type,
                 &cap);
    }
    m->request = pgv_find_msg(m, PGV_REQUEST);
    m->response = pgv_find_msg(m, PGV_RESPONSE);
    m->event = pgv_find_msg(m, PGV_EVENT);
    if (m->request == NULL || m->response == NULL || m->event == NULL) {
        pgv_error(m, "messages %s, %s and %s must be defined (pass frame.proto)",
                  PGV_REQUEST, PGV_RESPONSE, PGV_EVENT);
        return;
    }
    m->frame_file = m->request->file->name;
    build_rpcs(m);
    if (m->service_file == NULL) {
        m->service_file = m->frame_file;
    }
    check_rpcs(m);
    qsort(m->rpcs, m->n_rpcs, sizeof(*m->rpcs), cmp_rpc);
    build_events(m);
    build_errors(m);
}
