/*
 * api/routes/messages_attach.c: the `attachments` of POST /v1/messages
 * (docs/api.md, "Attachments"): an array of at most API_MAX_ATTACHMENTS
 * objects {filename, content (standard base64, RFC 4648 section 4, padded;
 * whitespace ignored), content_type?, content_id?}, at most
 * API_MAX_ATTACHMENT_BYTES decoded in all. Entry points:
 * api_message_attachments (checks and decodes them all; any wrong one
 * answers 422 naming it, e.g. attachments[1].content, and nothing is
 * stored), api_message_attachments_inline, api_attachments_free.
 *
 * A missing content_type comes from the file name's extension (a short
 * table of common types), else application/octet-stream. content_id
 * makes the attachment an inline part for cid: links in the HTML
 * (multipart/related: engine/message/mime.c): 1-250 bytes that
 * edm_mime_content_id_ok takes, unique within the message, and the
 * message needs an html body (api_message_attachments_inline, called once
 * the body is known).
 */
#include "api/api_int.h"
#include "engine/base/alloc.h"
#include "engine/base/base64.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/message/mime.h"
#include "engine/store/store.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const attachment_fields[] = {"filename", "content", "content_type", "content_id",
                                                NULL};

/* Types by file name extension, for a missing content_type. */
static const struct {
    const char *ext, *type;
} by_ext[] = {
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"svg", "image/svg+xml"},
    {"bmp", "image/bmp"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"txt", "text/plain"},
    {"csv", "text/csv"},
    {"htm", "text/html"},
    {"html", "text/html"},
    {"md", "text/markdown"},
    {"ics", "text/calendar"},
    {"vcf", "text/vcard"},
    {"json", "application/json"},
    {"xml", "application/xml"},
    {"rtf", "application/rtf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
};

static const char *type_of_name(const char *filename)
{
    const char *dot = strrchr(filename, '.');
    if (dot == NULL || dot == filename)
        return "application/octet-stream";
    for (size_t i = 0; i < sizeof by_ext / sizeof by_ext[0]; i++)
        if (strcasecmp(dot + 1, by_ext[i].ext) == 0)
            return by_ext[i].type;
    return "application/octet-stream";
}

/* 1 if s[0..n) holds a control character (C0, CR, LF, NUL, DEL). */
static int has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

/* A string member `name` of attachments[i]: 1 present, 0 absent or null,
 * -1 answered (not a string). */
static int member_string(api_call *c, json_t *o, size_t i, const char *name, json_t **out)
{
    *out = json_object_get(o, name);
    if (*out == NULL || json_is_null(*out))
        return 0;
    if (!json_is_string(*out)) {
        char field[64];
        snprintf(field, sizeof field, "attachments[%zu].%s", i, name);
        api_error(c, 422, "invalid_type", field, "%s must be a string", field);
        return -1;
    }
    return 1;
}

static int check_filename(api_call *c, json_t *o, size_t i)
{
    char field[64];
    snprintf(field, sizeof field, "attachments[%zu].filename", i);
    json_t *v;
    int r = member_string(c, o, i, "filename", &v);
    if (r < 0)
        return -1;
    size_t n = r ? json_string_length(v) : 0;
    if (n == 0) {
        api_error(c, 422, "required", field, "%s is required (the name the recipient sees)", field);
        return -1;
    }
    if (n > API_MAX_FILENAME) {
        api_error(c, 422, "too_long", field, "%s is longer than %d bytes", field, API_MAX_FILENAME);
        return -1;
    }
    if (has_control(json_string_value(v), n)) {
        api_error(c, 422, "invalid", field,
                  "%s must not contain control characters (CR, LF, NUL, ...)", field);
        return -1;
    }
    return 0;
}

static int check_type(api_call *c, json_t *o, size_t i, const char **type)
{
    json_t *v;
    int r = member_string(c, o, i, "content_type", &v);
    if (r < 0)
        return -1;
    if (r == 0) {
        *type = type_of_name(json_string_value(json_object_get(o, "filename")));
        return 0;
    }
    *type = json_string_value(v);
    if (!edm_mime_attachment_type_ok(*type)) {
        char field[64];
        snprintf(field, sizeof field, "attachments[%zu].content_type", i);
        api_error(c, 422, "invalid", field,
                  "%s must be type/subtype (RFC 2045 tokens, at most 100 bytes), not "
                  "multipart/ or message/",
                  field);
        return -1;
    }
    return 0;
}

/* attachments[i].content_id: absent, or a Content-ID not used by an
 * earlier attachment of the message (items[0..i) are checked). */
static int check_content_id(api_call *c, json_t *o, size_t i, const api_attachments *out,
                            const char **cid)
{
    char field[64];
    snprintf(field, sizeof field, "attachments[%zu].content_id", i);
    json_t *v;
    int r = member_string(c, o, i, "content_id", &v);
    *cid = NULL;
    if (r <= 0)
        return r;
    const char *s = json_string_value(v);
    if (json_string_length(v) != strlen(s) || !edm_mime_content_id_ok(s)) {
        api_error(c, 422, "invalid", field,
                  "%s must be 1-%d bytes of visible ASCII without spaces or <>: a token or "
                  "id-left@id-right (RFC 2392), as in <img src=\"cid:logo@example.com\">",
                  field, EDM_MIME_MAX_CONTENT_ID);
        return -1;
    }
    for (size_t j = 0; j < i; j++) {
        if (out->items[j].content_id && strcmp(out->items[j].content_id, s) == 0) {
            api_error(c, 422, "duplicate", field, "%s: attachments[%zu] has the same content_id",
                      field, j);
            return -1;
        }
    }
    *cid = s;
    return 0;
}

/* Decodes attachments[i].content into data; *total counts every decoded
 * byte so far. */
static int decode_content(api_call *c, json_t *o, size_t i, edm_buf *data, size_t *total)
{
    char field[64];
    snprintf(field, sizeof field, "attachments[%zu].content", i);
    json_t *v;
    int r = member_string(c, o, i, "content", &v);
    if (r < 0)
        return -1;
    if (r == 0) {
        api_error(c, 422, "required", field, "%s is required (the file's bytes in base64)", field);
        return -1;
    }
    size_t n = json_string_length(v);
    int rc = edm_buf_reserve(data, n / 4 * 3 + 3);
    if (rc == 0)
        rc = edm_base64_decode(data, json_string_value(v), n);
    if (rc == EDM_EINVAL) {
        api_error(c, 422, "invalid", field, "%s: not base64 (RFC 4648, standard alphabet, padded)",
                  field);
        return -1;
    }
    if (rc != 0) {
        api_error(c, 500, "internal", NULL, "decoding %s: out of memory", field);
        return -1;
    }
    *total += data->len;
    if (*total > API_MAX_ATTACHMENT_BYTES) {
        api_error(c, 422, "too_large", "attachments",
                  "attachments are over %d bytes in all (decoded)", API_MAX_ATTACHMENT_BYTES);
        return -1;
    }
    return 0;
}

static int check_one(api_call *c, json_t *o, size_t i, api_attachments *out, size_t *total)
{
    char field[120];
    if (!json_is_object(o)) {
        snprintf(field, sizeof field, "attachments[%zu]", i);
        api_error(c, 422, "invalid_type", field,
                  "%s must be {filename, content, content_type, content_id}", field);
        return -1;
    }
    const char *k;
    json_t *m;
    json_object_foreach(o, k, m)
    {
        size_t j = 0;
        while (attachment_fields[j] && strcmp(attachment_fields[j], k) != 0)
            j++;
        if (attachment_fields[j] == NULL) {
            snprintf(field, sizeof field, "attachments[%zu].%.60s", i, k);
            api_error(c, 422, "unknown_field", field,
                      "%s is not a field of an attachment (filename, content, content_type, "
                      "content_id)",
                      field);
            return -1;
        }
    }
    const char *type, *cid;
    if (check_filename(c, o, i) != 0 || check_type(c, o, i, &type) != 0 ||
        check_content_id(c, o, i, out, &cid) != 0 ||
        decode_content(c, o, i, &out->data[i], total) != 0)
        return -1;
    out->items[i] = (edm_attachment_new){
        .filename = json_string_value(json_object_get(o, "filename")),
        .content_type = type,
        .data = out->data[i].data,
        .len = out->data[i].len,
        .content_id = cid,
    };
    return 0;
}

int api_message_attachments(api_call *c, json_t *b, api_attachments *out)
{
    memset(out, 0, sizeof *out);
    json_t *a = json_object_get(b, "attachments");
    if (a == NULL || json_is_null(a))
        return 0;
    if (!json_is_array(a)) {
        api_error(c, 422, "invalid_type", "attachments",
                  "attachments must be an array of {filename, content, content_type}");
        return -1;
    }
    size_t n = json_array_size(a);
    if (n > API_MAX_ATTACHMENTS) {
        api_error(c, 422, "invalid", "attachments", "at most %d attachments", API_MAX_ATTACHMENTS);
        return -1;
    }
    if (n == 0)
        return 0;
    out->items = edm_xcalloc(n, sizeof *out->items);
    out->data = edm_xcalloc(n, sizeof *out->data);
    out->n = n;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (check_one(c, json_array_get(a, i), i, out, &total) != 0) {
            api_attachments_free(out);
            return -1;
        }
    }
    return 0;
}

int api_message_attachments_inline(api_call *c, json_t *b, int64_t template_id,
                                   const api_attachments *a)
{
    size_t i = 0;
    while (i < a->n && a->items[i].content_id == NULL)
        i++;
    if (i == a->n)
        return 0;
    int html;
    if (template_id != 0) {
        edm_store *st = c->api->store;
        edm_template_row t;
        memset(&t, 0, sizeof t);
        int rc = st->ops->template_get(st, template_id, &t);
        if (rc != 0) {
            api_store_error(c, rc, "template");
            return -1;
        }
        html = t.html != NULL;
        edm_template_row_clear(&t);
    } else {
        html = json_is_string(json_object_get(b, "html"));
    }
    if (html)
        return 0;
    char field[64];
    snprintf(field, sizeof field, "attachments[%zu].content_id", i);
    api_error(c, 422, "invalid", field,
              "%s: inline parts need an html body (they go in multipart/related with it, for "
              "its cid: links)",
              field);
    return -1;
}

void api_attachments_free(api_attachments *a)
{
    for (size_t i = 0; a->data && i < a->n; i++)
        edm_buf_free(&a->data[i]);
    edm_free(a->data);
    edm_free(a->items);
    memset(a, 0, sizeof *a);
}
