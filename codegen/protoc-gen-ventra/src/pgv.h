/* protoc-gen-ventra: shared declarations of the plugin (model, helpers,
 * emitters). The plugin implements the RPC catalogue of spec/wire.md from
 * schemas/ventra/v1/service.proto, frame.proto and the nanopb .options files.
 */
#ifndef PGV_H
#define PGV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cg.h"
#include "google/protobuf/compiler/plugin.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"

typedef Google__Protobuf__FileDescriptorProto pgv_file_desc;
typedef Google__Protobuf__DescriptorProto pgv_msg_desc;
typedef Google__Protobuf__FieldDescriptorProto pgv_field_desc;

/* The package every Ventra schema lives in, and the envelope messages the
 * checks are about (spec/wire.md, RPC catalogue). */
#define PGV_PACKAGE "ventra.v1"
#define PGV_REQUEST "ventra.v1.Request"
#define PGV_RESPONSE "ventra.v1.Response"
#define PGV_EVENT "ventra.v1.Event"
#define PGV_ERROR_CODE "ventra.v1.ErrorCode"
#define PGV_BODY_ONEOF "body"
/* ventra.v1.rpc, the RpcOptions extension of MethodOptions (options.proto). */
#define PGV_RPC_OPTION_FIELD 50710u

/* ---- arena and strings (strbuf.c) ------------------------------------- */

/* Every allocation of the plugin lives until pgv_arena_free(): the process
 * is short-lived, and one owner keeps sanitizer builds leak-free. Allocation
 * failure ends the process (this is a build tool, not library code). The
 * output buffers are codegen/common's cg_buf (cg.h), outside the arena:
 * whoever fills one releases it (pgv_outs_add does for the emitters). */
void *pgv_alloc(size_t n);
char *pgv_strdup(const char *s);
char *pgv_strndup(const char *s, size_t n);
char *pgv_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pgv_arena_free(void);

/* NUL-terminated copy of the buffer's contents, in the arena. */
char *pgv_buf_str(const cg_buf *b);

/* Name conversions. */
char *pgv_snake(const char *camel);      /* GetServerInfo -> get_server_info */
char *pgv_upper(const char *s);          /* get_server_info -> GET_SERVER_INFO */
char *pgv_pbc_type(const char *full);    /* ventra.v1.Foo -> Ventra__V1__Foo */
char *pgv_pbc_lower(const char *full);   /* ventra.v1.FooBar -> ventra__v1__foo_bar */
char *pgv_pbc_upper(const char *full);   /* ventra.v1.FooBar -> VENTRA__V1__FOO_BAR */
char *pgv_pbc_member(const char *field); /* register -> register_ (C keywords) */
char *pgv_nanopb_type(const char *full); /* ventra.v1.Foo -> ventra_v1_Foo */
/* Joins the lines of a protoc comment into one trimmed line. */
char *pgv_comment_line(const char *comment);
/* The first sentence of a comment line (up to a '.' that ends the text or is
 * followed by a space), including its full stop. */
char *pgv_first_sentence(const char *line);

/* ---- model (model.c) ------------------------------------------------- */

typedef struct pgv_msg {
    char *full_name; /* "ventra.v1.Foo", no leading dot */
    const pgv_msg_desc *desc;
    const pgv_file_desc *file;
} pgv_msg;

typedef struct pgv_rpc {
    const char *service; /* "Session" */
    const char *method;  /* "GetServerInfo" */
    char *full_name;     /* "ventra.v1.Session/GetServerInfo" */
    char *snake;         /* "get_server_info" */
    char *upper;         /* "GET_SERVER_INFO" */
    char *request_type;  /* "ventra.v1.GetServerInfoRequest" */
    char *response_type; /* "ventra.v1.GetServerInfoResponse" */
    uint32_t id;         /* method id = body field number */
    const pgv_field_desc *req_field;
    const pgv_field_desc *resp_field;
    bool is_public;
    bool idempotent;
    char *summary; /* the rpc's leading comment, one line */
} pgv_rpc;

typedef struct pgv_event {
    uint32_t id;
    const char *name; /* the Event.body field name, "message" */
    char *upper;      /* "MESSAGE" */
    char *type;       /* "ventra.v1.MessageEvent" */
    char *summary;
    const pgv_field_desc *field;
} pgv_event;

typedef struct pgv_errcode {
    int32_t number;
    const char *name; /* "ERROR_TOO_LARGE" */
    char *c_name;     /* "VT_ERR_TOO_LARGE" */
    char *message;    /* first sentence of the leading comment */
} pgv_errcode;

typedef struct pgv_limit {
    const pgv_msg *msg;
    const pgv_field_desc *field;
    uint32_t max_count;
    uint32_t max_len;
    bool has_count;
    bool has_size;
} pgv_limit;

typedef struct pgv_model {
    const Google__Protobuf__Compiler__CodeGeneratorRequest *req;
    pgv_msg *msgs;
    size_t n_msgs;
    /* Where the .proto files live relative to protoc's working directory
     * ("schemas/"), derived from options_dir; used in first lines only. */
    const char *source_root;
    const char *options_dir;
    const char *service_file; /* "ventra/v1/service.proto" */
    const char *frame_file;   /* the file defining ventra.v1.Request */
    const char *error_file;   /* the file defining ventra.v1.ErrorCode */
    const pgv_msg *request;
    const pgv_msg *response;
    const pgv_msg *event;
    pgv_rpc *rpcs;
    size_t n_rpcs;
    pgv_event *events;
    size_t n_events;
    pgv_errcode *errs;
    size_t n_errs;
    pgv_limit *limits;
    size_t n_limits;
    char **options_used; /* .options file names read, sorted */
    size_t n_options_used;
    char **options_skipped; /* .options files whose .proto is not loaded */
    size_t n_options_skipped;
    cg_buf errors; /* one line per problem; empty = success */
} pgv_model;

void pgv_error(pgv_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const pgv_msg *pgv_find_msg(const pgv_model *m, const char *full_name);
const pgv_field_desc *pgv_find_field(const pgv_msg *msg, const char *name);
const pgv_file_desc *pgv_find_file(const pgv_model *m, const char *name);
/* "ventra/v1/frame.proto" -> "schemas/ventra/v1/frame.proto" */
char *pgv_source_path(const pgv_model *m, const char *proto_name);

/* Builds the catalogue, events and error codes and runs every check; the
 * problems land in m->errors. */
void pgv_model_build(pgv_model *m,
                     const Google__Protobuf__Compiler__CodeGeneratorRequest *req);

/* ---- .options files (options_file.c) ---------------------------------- */

/* Reads every *.options file of m->options_dir into m->limits. */
void pgv_options_load(pgv_model *m);

/* ---- emitters ----------------------------------------------------------- */

typedef struct pgv_out {
    const char *name;
    char *content;
} pgv_out;

typedef struct pgv_outs {
    pgv_out items[16];
    size_t n;
} pgv_outs;

/* Adds output |name| with |b|'s contents (copied into the arena) and
 * releases |b|. */
void pgv_outs_add(pgv_outs *o, const char *name, cg_buf *b);
void pgv_emit_catalogue(const pgv_model *m, pgv_outs *o);
void pgv_emit_errors(const pgv_model *m, pgv_outs *o);
void pgv_emit_limits(const pgv_model *m, pgv_outs *o);
void pgv_emit_server(const pgv_model *m, pgv_outs *o);
void pgv_emit_client(const pgv_model *m, pgv_outs *o);

#endif
