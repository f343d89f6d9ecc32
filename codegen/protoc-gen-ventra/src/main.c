/* protoc-gen-ventra: protoc plugin entry point. Reads a CodeGeneratorRequest
 * on stdin, writes a CodeGeneratorResponse on stdout: generated/rpc/ (the RPC
 * catalogue of spec/wire.md, dispatch, client stubs, errors, limits), or an
 * error naming every schema problem found. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgv.h"

/* Parameters: comma-separated key=value pairs. */
static void parse_parameter(pgv_model *m, const char *param)
{
    if (param == NULL) {
        return;
    }
    char *copy = pgv_strdup(param);
    char *save = NULL;
    for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        if (strncmp(kv, "options_dir=", 12) == 0) {
            m->options_dir = kv + 12;
        } else {
            pgv_error(m, "unknown parameter %s (known: options_dir=DIR)", kv);
        }
    }
}

/* options_dir is relative to protoc's working directory and ends in the
 * .proto files' own folder ("schemas/" + "ventra/v1"): what precedes it is
 * where the sources live, named in every generated file's first line. */
static void derive_source_root(pgv_model *m)
{
    m->source_root = "";
    const char *slash = strrchr(m->frame_file, '/');
    if (slash == NULL) {
        return;
    }
    size_t dir_len = (size_t)(slash - m->frame_file);
    size_t opt_len = strlen(m->options_dir);
    while (opt_len > 0 && m->options_dir[opt_len - 1] == '/') {
        opt_len--;
    }
    if (opt_len > dir_len && m->options_dir[opt_len - dir_len - 1] == '/' &&
        strncmp(m->options_dir + opt_len - dir_len, m->frame_file, dir_len) == 0) {
        m->source_root = pgv_strndup(m->options_dir, opt_len - dir_len);
    }
}

void pgv_outs_add(pgv_outs *o, const char *name, cg_buf *b)
{
    if (o->n == sizeof(o->items) / sizeof(o->items[0])) {
        fputs("protoc-gen-ventra: too many outputs\n", stderr);
        exit(1);
    }
    o->items[o->n].name = name;
    o->items[o->n].content = pgv_buf_str(b);
    o->n++;
    cg_buf_free(b);
}

int main(void)
{
    int rc = 1;
    Google__Protobuf__Compiler__CodeGeneratorRequest *req = NULL;
    uint8_t *out = NULL;
    size_t len = 0;
    pgv_model m = {0};
    pgv_outs outs = {0};
    cg_tool = "protoc-gen-ventra";
    char *in = cg_read_stream(stdin, &len);
    if (in == NULL) {
        fputs("protoc-gen-ventra: cannot read the request from stdin\n", stderr);
        goto out;
    }
    req = google__protobuf__compiler__code_generator_request__unpack(NULL, len,
                                                                     (const uint8_t *)in);
    free(in);
    if (req == NULL) {
        fputs("protoc-gen-ventra: stdin is not a CodeGeneratorRequest (run me from "
              "protoc)\n",
              stderr);
        goto out;
    }

    parse_parameter(&m, req->parameter);
    if (m.options_dir == NULL) {
        pgv_error(&m,
                  "parameter options_dir=DIR (the nanopb .options folder) is required");
    }
    if (m.errors.len == 0) {
        pgv_model_build(&m, req);
    }
    if (m.errors.len == 0) {
        derive_source_root(&m);
        pgv_options_load(&m);
    }
    if (m.errors.len == 0) {
        pgv_emit_catalogue(&m, &outs);
        pgv_emit_errors(&m, &outs);
        pgv_emit_limits(&m, &outs);
        pgv_emit_server(&m, &outs);
        pgv_emit_client(&m, &outs);
    }

    Google__Protobuf__Compiler__CodeGeneratorResponse resp =
        GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
    Google__Protobuf__Compiler__CodeGeneratorResponse__File files[16];
    Google__Protobuf__Compiler__CodeGeneratorResponse__File *file_ptrs[16];
    if (m.errors.len != 0) {
        /* Drop the last newline: protoc adds its own. */
        char *err = pgv_buf_str(&m.errors);
        err[strlen(err) - 1] = '\0';
        resp.error = err;
    } else {
        for (size_t i = 0; i < outs.n; i++) {
            Google__Protobuf__Compiler__CodeGeneratorResponse__File f =
                GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__FILE__INIT;
            files[i] = f;
            files[i].name = (char *)outs.items[i].name;
            files[i].content = outs.items[i].content;
            file_ptrs[i] = &files[i];
        }
        resp.n_file = outs.n;
        resp.file = file_ptrs;
    }
    size_t out_len =
        google__protobuf__compiler__code_generator_response__get_packed_size(&resp);
    out = malloc(out_len ? out_len : 1);
    if (out == NULL) {
        fputs("protoc-gen-ventra: out of memory\n", stderr);
        goto out;
    }
    google__protobuf__compiler__code_generator_response__pack(&resp, out);
    if (fwrite(out, 1, out_len, stdout) != out_len || fflush(stdout) != 0) {
        fputs("protoc-gen-ventra: cannot write the response to stdout\n", stderr);
        goto out;
    }
    rc = 0;
out:
    free(out);
    if (req != NULL) {
        google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
    }
    cg_buf_free(&m.errors);
    pgv_arena_free();
    return rc;
}
