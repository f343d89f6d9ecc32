/* ventra: what the command line prints. Text for people (every string from
 * the network is cleaned of terminal control sequences and invalid UTF-8
 * first), JSON lines for scripts (--json), and the warning of a changed
 * identity key (spec/crypto.md section 9, SEC-5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

/* Decodes one UTF-8 sequence at |s| (strict: no overlong forms, no
 * surrogates, nothing above U+10FFFF). Returns its length, 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
    size_t n, i;
    uint32_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        c &= 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        c &= 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        c &= 0x07;
    } else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

/* Characters a terminal would act on: C0 and C1 controls, DEL, and the
 * bidirectional overrides that reorder what is shown. */
static bool is_control(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

void cli_put_text(FILE *out, const char *s, int indent)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        uint32_t cp;
        size_t n = utf8_seq(p, &cp);
        if (n == 0) {
            fputs("\xef\xbf\xbd", out); /* U+FFFD */
            p++;
            continue;
        }
        if (cp == '\n')
            fprintf(out, "\n%*s", indent, "");
        else if (cp == '\t')
            fputc('\t', out);
        else if (is_control(cp))
            fputc('?', out);
        else
            fwrite(p, 1, n, out);
        p += n;
    }
}

void *cli_json_str(const char *s)
{
    size_t len = strlen(s);
    char *clean = malloc(len * 3 + 1), *q = clean;
    const unsigned char *p = (const unsigned char *)s;
    json_t *j;
    if (clean == NULL)
        return json_string("");
    while (*p != '\0') {
        uint32_t cp;
        size_t n = utf8_seq(p, &cp);
        if (n == 0) {
            memcpy(q, "\xef\xbf\xbd", 3);
            q += 3;
            p++;
        } else {
            memcpy(q, p, n);
            q += n;
            p += n;
        }
    }
    *q = '\0';
    j = json_string(clean);
    free(clean);
    return j;
}

static void json_fline(FILE *out, json_t *obj)
{
    char *line;
    if (obj == NULL)
        return;
    line = json_dumps(obj, JSON_COMPACT);
    if (line != NULL) {
        fputs(line, out);
        fputc('\n', out);
        free(line);
    }
    json_decref(obj);
    fflush(out);
}

void cli_json_line(void *obj)
{
    json_fline(stdout, obj);
}

void cli_hex(char *out, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool cli_unhex(uint8_t *out, size_t n, const char *in)
{
    if (strlen(in) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

const char *cli_status_name(vt_client_msg_status st)
{
    switch (st) {
    case VT_MSG_QUEUED:
        return "queued";
    case VT_MSG_SENDING:
        return "sending";
    case VT_MSG_STALE_DEVICES:
        return "stale_devices";
    case VT_MSG_HELD:
        return "held";
    case VT_MSG_SENT:
        return "sent";
    case VT_MSG_DELIVERED:
        return "delivered";
    case VT_MSG_READ:
        return "read";
    case VT_MSG_FAILED:
        return "failed";
    }
    return "unknown";
}

void cli_format_time(char *out, size_t cap, uint64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(out, cap, "%llu", (unsigned long long)ms);
}

void cli_print_message(cli *x, FILE *out, const vt_client_message *m, const char *status)
{
    char id[33], gid[33], when[32];
    cli_hex(id, m->message_id, 16);
    if (m->group_id != NULL)
        cli_hex(gid, m->group_id, 16);
    if (x->json) {
        json_t *o = json_object();
        json_object_set_new(o, "conversation", cli_json_str(m->conversation));
        json_object_set_new(o, "sender", cli_json_str(m->sender));
        json_object_set_new(o, "sender_device", json_integer(m->sender_device));
        json_object_set_new(o, "message_id", json_string(id));
        json_object_set_new(o, "group_id", m->group_id ? json_string(gid) : json_null());
        json_object_set_new(o, "text", cli_json_str(m->text));
        json_object_set_new(o, "sent_at_ms", json_integer((json_int_t)m->sent_at_ms));
        json_object_set_new(o, "server_time_ms",
                            json_integer((json_int_t)m->server_time_ms));
        json_object_set_new(o, "outgoing", json_boolean(m->outgoing));
        if (status != NULL)
            json_object_set_new(o, "status", json_string(status));
        json_fline(out, o);
        return;
    }
    /* the server's clock orders a conversation; the sender's is a fallback
     * for what this device has not sent yet */
    cli_format_time(when, sizeof when,
                    m->server_time_ms ? m->server_time_ms : m->sent_at_ms);
    fprintf(out, "%s ", when);
    if (m->outgoing && m->group_id != NULL) {
        fprintf(out, "-> #%s: ", gid);
    } else if (m->outgoing) {
        fputs("-> ", out);
        cli_put_text(out, m->conversation, 0);
        fputs(": ", out);
    } else {
        cli_put_text(out, m->sender, 0);
        if (m->group_id != NULL)
            fprintf(out, " #%s", gid);
        fputs(": ", out);
    }
    cli_put_text(out, m->text, 4);
    if (status != NULL)
        fprintf(out, "  (%s)", status);
    fputc('\n', out);
    fflush(out);
}

/* ---- the identity warning ------------------------------------------------ */

#define BOX_W 68 /* the text's width inside the box */

static void box_rule(void)
{
    fputc('+', stderr);
    for (int i = 0; i < BOX_W + 2; i++)
        fputc('-', stderr);
    fputs("+\n", stderr);
}

static void box_line(const char *s, size_t n)
{
    fprintf(stderr, "| %.*s%*s |\n", (int)n, s, (int)(BOX_W - n), "");
}

/* Word-wraps a paragraph into the box; a paragraph that starts with a space
 * is shown as it is (a command to type). */
static void box_para(const char *p)
{
    size_t len = strlen(p);
    if (p[0] == ' ' || len <= BOX_W) {
        box_line(p, len < BOX_W ? len : BOX_W);
        return;
    }
    while (len > 0) {
        size_t n = len <= BOX_W ? len : BOX_W;
        if (n < len) {
            while (n > 0 && p[n] != ' ')
                n--;
            if (n == 0)
                n = BOX_W;
        }
        box_line(p, n);
        p += n;
        len -= n;
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
    }
}

void cli_print_identity_warning(const char *username, uint32_t device_id)
{
    char user[VT_MAX_USERNAME_LEN + 1], buf[512];
    size_t i;
    /* a username is [a-z0-9._-] (AUTH-1); show nothing else from the network */
    for (i = 0; username[i] != '\0' && i < VT_MAX_USERNAME_LEN; i++) {
        char ch = username[i];
        user[i] = ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                   ch == '_' || ch == '-')
                      ? ch
                      : '?';
    }
    user[i] = '\0';

    fputc('\n', stderr);
    box_rule();
    if (device_id != 0)
        snprintf(buf, sizeof buf,
                 "WARNING: the identity key of %s (device %u) has changed.", user,
                 device_id);
    else
        snprintf(buf, sizeof buf, "WARNING: an identity key of %s has changed.", user);
    box_para(buf);
    box_line("", 0);
    snprintf(buf, sizeof buf,
             "This can mean that %s reinstalled Ventra, or deleted the account and "
             "created it again. It can also mean that someone is posing as %s to "
             "read your messages. Messages to %s are held, not sent, until you "
             "decide.",
             user, user, user);
    box_para(buf);
    box_line("", 0);
    snprintf(buf, sizeof buf,
             "Compare safety numbers with %s first, in person or on a call you "
             "trust:",
             user);
    box_para(buf);
    snprintf(buf, sizeof buf, "    ventra verify %s", user);
    box_para(buf);
    box_para("Only if the numbers match, accept the new key; the held messages "
             "are then sent:");
    snprintf(buf, sizeof buf, "    ventra accept %s", user);
    box_para(buf);
    box_rule();
    fputc('\n', stderr);
    fflush(stderr);
}
