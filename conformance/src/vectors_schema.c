/* The schema lock checks (conformance/vectors/schema, its JSON files): every message
 * field and enum value released in v1 must still be in the schema this
 * build was generated from, with the same number, name, type, label and
 * oneof (spec/README.md SPEC-2, SPEC-4). Compared against the protobuf-c
 * descriptors of generated/pbc, walked from the schema's root messages. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "vectors.h"
#include "vectors_int.h"
#include "ventra/v1/e2e.pb-c.h"
#include "ventra/v1/frame.pb-c.h"

/* Every message and enum of the schema is reachable from these: the frame
 * and the end-to-end payloads, which no frame field names. */
static const ProtobufCMessageDescriptor *const roots[] = {
    &ventra__v1__frame__descriptor,
    &ventra__v1__content__descriptor,
    &ventra__v1__prekey_message__descriptor,
    &ventra__v1__link_code__descriptor,
};

enum { MAX_SEEN = 256 };

typedef struct walk {
    const ProtobufCMessageDescriptor *msgs[MAX_SEEN];
    size_t n_msgs;
    const ProtobufCEnumDescriptor *enums[MAX_SEEN];
    size_t n_enums;
} walk;

static void visit(walk *w, const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < w->n_msgs; i++)
        if (w->msgs[i] == d)
            return;
    if (w->n_msgs == MAX_SEEN)
        return;
    w->msgs[w->n_msgs++] = d;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            visit(w, f->descriptor);
        } else if (f->type == PROTOBUF_C_TYPE_ENUM) {
            const ProtobufCEnumDescriptor *e = f->descriptor;
            bool seen = false;
            for (size_t j = 0; j < w->n_enums && !seen; j++)
                seen = w->enums[j] == e;
            if (!seen && w->n_enums < MAX_SEEN)
                w->enums[w->n_enums++] = e;
        }
    }
}

static const walk *schema_walk(void)
{
    static walk w;
    if (w.n_msgs == 0)
        for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
            visit(&w, roots[i]);
    return &w;
}

static const char *type_name(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
        return "int32";
    case PROTOBUF_C_TYPE_SINT32:
        return "sint32";
    case PROTOBUF_C_TYPE_SFIXED32:
        return "sfixed32";
    case PROTOBUF_C_TYPE_INT64:
        return "int64";
    case PROTOBUF_C_TYPE_SINT64:
        return "sint64";
    case PROTOBUF_C_TYPE_SFIXED64:
        return "sfixed64";
    case PROTOBUF_C_TYPE_UINT32:
        return "uint32";
    case PROTOBUF_C_TYPE_FIXED32:
        return "fixed32";
    case PROTOBUF_C_TYPE_UINT64:
        return "uint64";
    case PROTOBUF_C_TYPE_FIXED64:
        return "fixed64";
    case PROTOBUF_C_TYPE_FLOAT:
        return "float";
    case PROTOBUF_C_TYPE_DOUBLE:
        return "double";
    case PROTOBUF_C_TYPE_BOOL:
        return "bool";
    case PROTOBUF_C_TYPE_ENUM:
        return "enum";
    case PROTOBUF_C_TYPE_STRING:
        return "string";
    case PROTOBUF_C_TYPE_BYTES:
        return "bytes";
    case PROTOBUF_C_TYPE_MESSAGE:
        return "message";
    }
    return "?";
}

/* The full name a field's message or enum type has, "" for scalars. */
static const char *field_type_name(const ProtobufCFieldDescriptor *f)
{
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return ((const ProtobufCMessageDescriptor *)f->descriptor)->name;
    if (f->type == PROTOBUF_C_TYPE_ENUM)
        return ((const ProtobufCEnumDescriptor *)f->descriptor)->name;
    return "";
}

/* protobuf-c keeps no oneof names: a member is checked to be in some oneof,
 * and members the lock puts in one oneof to still share one (below). */
static bool in_oneof(const ProtobufCFieldDescriptor *f)
{
    return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

static void check_message(vt_conform_detail *d, const ProtobufCMessageDescriptor *m,
                          json_t *fields)
{
    size_t i;
    json_t *e;
    json_array_foreach(fields, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        json_int_t number = json_integer_value(json_object_get(e, "number"));
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *tname = json_string_value(json_object_get(e, "typeName"));
        const char *label = json_string_value(json_object_get(e, "label"));
        const char *oneof = json_string_value(json_object_get(e, "oneof"));
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(m, (unsigned)number);
        if (name == NULL || type == NULL || label == NULL) {
            vt_conform_detail_add(d, "field entry %zu lacks name, type or label", i);
            continue;
        }
        if (f == NULL) {
            vt_conform_detail_add(d, "field %s = %lld is gone", name, (long long)number);
            continue;
        }
        if (strcmp(f->name, name) != 0)
            vt_conform_detail_add(d, "field %lld is named %s, was %s", (long long)number,
                                  f->name, name);
        if (strcmp(type_name(f->type), type) != 0)
            vt_conform_detail_add(d, "field %s is %s, was %s", name, type_name(f->type),
                                  type);
        else if (tname != NULL && strcmp(field_type_name(f), tname) != 0)
            vt_conform_detail_add(d, "field %s is of type %s, was %s", name,
                                  field_type_name(f), tname);
        bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
        if (repeated != (strcmp(label, "repeated") == 0))
            vt_conform_detail_add(d, "field %s is %s, was %s", name,
                                  repeated ? "repeated" : "singular", label);
        if (in_oneof(f) != (oneof != NULL))
            vt_conform_detail_add(d, "field %s is %s a oneof, was %s", name,
                                  in_oneof(f) ? "in" : "not in", oneof ? oneof : "not");
    }
    /* Members the lock puts in one oneof must still share one: protobuf-c
     * gives every member of a oneof the same quantifier (case) offset. */
    json_t *a, *b;
    size_t j;
    json_array_foreach(fields, i, a)
    {
        const char *oa = json_string_value(json_object_get(a, "oneof"));
        if (oa == NULL)
            continue;
        json_array_foreach(fields, j, b)
        {
            const char *ob = json_string_value(json_object_get(b, "oneof"));
            if (j <= i || ob == NULL)
                continue;
            const ProtobufCFieldDescriptor *fa = protobuf_c_message_descriptor_get_field(
                m, (unsigned)json_integer_value(json_object_get(a, "number")));
            const ProtobufCFieldDescriptor *fb = protobuf_c_message_descriptor_get_field(
                m, (unsigned)json_integer_value(json_object_get(b, "number")));
            if (fa == NULL || fb == NULL || !in_oneof(fa) || !in_oneof(fb))
                continue;
            bool same = fa->quantifier_offset == fb->quantifier_offset;
            if (same != (strcmp(oa, ob) == 0))
                vt_conform_detail_add(d, "fields %s and %s are %s one oneof, were %s",
                                      fa->name, fb->name, same ? "in" : "not in",
                                      strcmp(oa, ob) == 0 ? "in" : "not in");
        }
    }
}

static void check_enum(vt_conform_detail *d, const ProtobufCEnumDescriptor *en,
                       json_t *values)
{
    size_t i;
    json_t *e;
    json_array_foreach(values, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        json_int_t number = json_integer_value(json_object_get(e, "number"));
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(en, (int)number);
        if (name == NULL)
            vt_conform_detail_add(d, "value entry %zu lacks a name", i);
        else if (v == NULL)
            vt_conform_detail_add(d, "value %s = %lld is gone", name, (long long)number);
        else if (strcmp(v->name, name) != 0)
            vt_conform_detail_add(d, "value %lld is named %s, was %s", (long long)number,
                                  v->name, name);
    }
}

static void check_test(vt_conform_detail *d, json_t *group, json_t *t)
{
    const char *type = json_string_value(json_object_get(group, "type"));
    const walk *w = schema_walk();
    const char *name = json_string_value(json_object_get(t, "name"));
    if (name == NULL) {
        vt_conform_detail_add(d, "no name");
        return;
    }
    if (type != NULL && strcmp(type, "SchemaMessage") == 0) {
        for (size_t i = 0; i < w->n_msgs; i++)
            if (strcmp(w->msgs[i]->name, name) == 0) {
                check_message(d, w->msgs[i], json_object_get(t, "fields"));
                return;
            }
        vt_conform_detail_add(d, "message %s is gone (not reachable from the roots)",
                              name);
    } else if (type != NULL && strcmp(type, "SchemaEnum") == 0) {
        for (size_t i = 0; i < w->n_enums; i++)
            if (strcmp(w->enums[i]->name, name) == 0) {
                check_enum(d, w->enums[i], json_object_get(t, "values"));
                return;
            }
        vt_conform_detail_add(d, "enum %s is gone (no field uses it)", name);
    } else {
        vt_conform_detail_add(d, "unknown test type %s", type != NULL ? type : "(none)");
    }
}

int vt_conform_schema_run(const char *dir, vt_conform_case_fn fn, void *ud)
{
    return vt_conform_kind_run(dir, "schema", check_test, fn, ud);
}
