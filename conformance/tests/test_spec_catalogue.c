/* spec/wire.md states the RPC catalogue, the events and the error codes in
 * prose tables; schemas/ states them again as protobuf, from which the
 * generated tables come. This test reads the Markdown and holds the two to
 * each other, row for row, so neither can drift (spec/wire.md, sections 3
 * and 5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ventra/err.h"
#include "vt_rpc.h"

#define MAX_CELLS 8
#define CELL_LEN 128

typedef struct row {
    int ncells;
    char cell[MAX_CELLS][CELL_LEN];
} row;

/* Splits a Markdown table row into trimmed cells with backticks removed. */
static bool split_row(const char *line, row *r)
{
    if (line[0] != '|')
        return false;
    r->ncells = 0;
    const char *p = line + 1;
    while (*p != '\0' && *p != '\n' && r->ncells < MAX_CELLS) {
        const char *end = strchr(p, '|');
        if (end == NULL)
            break;
        char *out = r->cell[r->ncells];
        size_t n = 0;
        for (const char *q = p; q < end && n + 1 < CELL_LEN; q++) {
            if (*q == '`' || ((*q == ' ') && (n == 0 || q + 1 == end)))
                continue;
            out[n++] = *q;
        }
        while (n > 0 && out[n - 1] == ' ')
            n--;
        out[n] = '\0';
        r->ncells++;
        p = end + 1;
    }
    return r->ncells > 0;
}

/* Calls |fn| for every body row of the first table in spec/wire.md whose
 * header row starts with |header|; returns the number of rows. */
static size_t for_each_row(const char *header, void (*fn)(const row *r, void *arg),
                           void *arg)
{
    FILE *f = fopen("spec/wire.md", "r");
    assert_non_null(f);
    char line[1024];
    bool in_table = false, found = false;
    size_t rows = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        if (!in_table) {
            if (!found && strncmp(line, header, strlen(header)) == 0) {
                in_table = found = true;
                /* Skip the delimiter row. */
                assert_non_null(fgets(line, sizeof(line), f));
            }
            continue;
        }
        row r;
        if (!split_row(line, &r))
            break;
        fn(&r, arg);
        rows++;
    }
    fclose(f);
    if (!found)
        fail_msg("spec/wire.md has no table headed '%s'", header);
    return rows;
}

static void check_rpc_row(const row *r, void *arg)
{
    (void)arg;
    assert_int_equal(r->ncells, 7);
    const vt_rpc_desc *d = vt_rpc_find((uint32_t)strtoul(r->cell[0], NULL, 10));
    if (d == NULL)
        fail_msg("spec/wire.md lists method id %s, which the schema lacks", r->cell[0]);
    char type[CELL_LEN + 16];
    assert_string_equal(r->cell[1], d->method);
    assert_string_equal(r->cell[2], d->service);
    snprintf(type, sizeof(type), "ventra.v1.%s", r->cell[3]);
    assert_string_equal(type, d->request_type);
    snprintf(type, sizeof(type), "ventra.v1.%s", r->cell[4]);
    assert_string_equal(type, d->response_type);
    assert_string_equal(r->cell[5], d->is_public ? "yes" : "no");
    assert_string_equal(r->cell[6], d->idempotent ? "yes" : "no");
}

static void test_rpc_catalogue(void **state)
{
    (void)state;
    size_t rows = for_each_row("| Method id | RPC |", check_rpc_row, NULL);
    /* Every schema rpc has its row (ids are unique, so counts suffice). */
    assert_int_equal(rows, vt_rpc_count);
}

static void check_event_row(const row *r, void *arg)
{
    (void)arg;
    const vt_event_desc *d = vt_event_find((uint32_t)strtoul(r->cell[0], NULL, 10));
    if (d == NULL)
        fail_msg("spec/wire.md lists event id %s, which the schema lacks", r->cell[0]);
    char type[CELL_LEN + 16];
    assert_string_equal(r->cell[1], d->name);
    snprintf(type, sizeof(type), "ventra.v1.%s", r->cell[2]);
    assert_string_equal(type, d->type);
}

static void test_events(void **state)
{
    (void)state;
    assert_int_equal(for_each_row("| Event id | Event |", check_event_row, NULL),
                     vt_event_count);
}

static void check_error_row(const row *r, void *arg)
{
    size_t *known = arg;
    int value = atoi(r->cell[1]);
    const char *name = vt_err_name((vt_err)value);
    if (name == NULL)
        fail_msg("spec/wire.md lists %s = %d, which the schema lacks", r->cell[0], value);
    assert_string_equal(r->cell[0], name);
    /* The local range is marked as such in the prose (WIRE-42). */
    assert_int_equal(strncmp(r->cell[2], "Local:", 6) == 0, !vt_err_is_wire((vt_err)value));
    (*known)++;
}

static void test_error_codes(void **state)
{
    (void)state;
    size_t rows = 0;
    for_each_row("| Code | Value | Meaning |", check_error_row, &rows);
    size_t in_schema = 0;
    for (int v = 0; v < 1000; v++)
        in_schema += vt_err_name((vt_err)v) != NULL;
    assert_int_equal(rows, in_schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rpc_catalogue),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_error_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
