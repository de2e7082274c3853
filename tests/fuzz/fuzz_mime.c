/*
 * tests/fuzz/fuzz_mime.c: header safety under arbitrary bytes. The input,
 * split at NUL bytes, fills the display names, subject, two custom header
 * values, Feedback-ID, text, HTML, an attachment's name and type (also
 * those of an inline part when the first byte's bit 1 is set:
 * multipart/related; its content_id is logo@x, or the 11th field when bit
 * 2 is set: one that edm_mime_content_id_ok refuses fails the message);
 * the first byte's low bit asks for 8bit. Composition must succeed
 * and the message must keep its shape whatever the bytes: CRLF line ends only, no line over 998
 * octets, a header block of printable ASCII holding exactly the fields we wrote in our order, and
 * (7bit transports) exactly the boundary lines of the structure.
 */
#include "engine/message/dkim_int.h"
#include "engine/base/err.h"
#include "engine/message/mime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NF 11

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    EDM_ASSERT(copy != NULL);
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *f[NF];
    size_t len[NF];
    const char *p = copy, *end = copy + size;
    for (int i = 0; i < NF; i++) {
        f[i] = p < end ? p : "";
        len[i] = strlen(f[i]);
        p += p < end ? len[i] + 1 : 0;
    }
    int eight = size > 0 && (data[0] & 1);
    edm_mime_header hdrs[2] = {{"X-A", f[3]}, {"X-B", f[4]}};
    int inl = size > 0 && (data[0] & 2);
    const char *cid = size > 0 && (data[0] & 4) ? f[10] : "logo@x";
    edm_mime_attachment att[2] = {
        {.filename = f[8], .content_type = f[9], .data = data, .len = size},
        {.filename = f[8], .content_type = f[9], .data = data, .len = size, .content_id = cid}};
    edm_mime_msg msg = {.from_addr = "a@example.com",
                        .from_name = f[0],
                        .to_addr = "b@example.com",
                        .to_name = f[1],
                        .subject = f[2],
                        .headers = hdrs,
                        .n_headers = 2,
                        .feedback_id = f[5],
                        .text = f[6],
                        .text_len = len[6],
                        .html = f[7],
                        .html_len = len[7],
                        .attachments = att,
                        .n_attachments = inl ? 2 : 1,
                        .unsub_url = "https://example.com/u?t=1",
                        .date = 1795784761,
                        .allow_8bit = eight};
    edm_mime *m = edm_mime_new();
    edm_buf out = EDM_BUF_INIT;
    /* a header field value over EDM_MIME_MAX_FIELD fails the message */
    int over = 0;
    for (int i = 0; i < 6; i++)
        over |= len[i] > EDM_MIME_MAX_FIELD;
    over |= inl && *cid && !edm_mime_content_id_ok(cid);
    int rc = edm_mime_compose(m, &msg, &out);
    if (over) {
        EDM_ASSERT(rc == EDM_EINVAL && out.len == 0);
        edm_buf_free(&out);
        edm_mime_free(m);
        free(copy);
        return 0;
    }
    EDM_ASSERT(rc == 0);

    /* Lines: CRLF only, at most 998 octets. */
    size_t line = 0;
    for (size_t i = 0; i < out.len; i++) {
        char c = out.data[i];
        if (c == '\r' && i + 1 < out.len && out.data[i + 1] == '\n') {
            line = 0;
            i++;
            continue;
        }
        EDM_ASSERT(c != '\r' && c != '\n');
        EDM_ASSERT(++line <= 998);
    }
    /* The header block: exactly our fields, in order, printable ASCII. */
    static const char *const names[] = {"From",
                                        "To",
                                        "Subject",
                                        "Date",
                                        "Message-ID",
                                        "MIME-Version",
                                        "List-Unsubscribe",
                                        "List-Unsubscribe-Post",
                                        "Feedback-ID",
                                        "X-A",
                                        "X-B",
                                        "Content-Type"};
    dkim_field *fields = NULL;
    size_t cap = 0, n = 0, body = 0;
    EDM_ASSERT(dkim_canon_split(out.data, out.len, &fields, &cap, &n, &body) == 0);
    EDM_ASSERT(n == sizeof names / sizeof names[0]);
    for (size_t i = 0; i < n; i++) {
        EDM_ASSERT(fields[i].name_len == strlen(names[i]) &&
                   memcmp(fields[i].p, names[i], fields[i].name_len) == 0);
        for (size_t k = 0; k < fields[i].len; k++) {
            unsigned char c = (unsigned char)fields[i].p[k];
            EDM_ASSERT((c >= 32 && c < 127) || c == '\t' || c == '\r' || c == '\n');
        }
    }
    EDM_ASSERT(body > 0 && body <= out.len);
    if (!eight) {
        /* mixed (open, 1 attachment, close) + alternative (open, html,
         * close), + related (open, 1 inline part, close); an empty
         * content_id is a second attachment (one delimiter more). A
         * message's boundaries are "=_" + a kind letter + the same random
         * suffix: the top one (the last field, Content-Type) gives it,
         * and only delimiter lines with it count (a text may hold "--=_"
         * lines). */
        const dkim_field *ct = &fields[n - 1];
        const char *bp = strstr(ct->p, "boundary=\"=_");
        EDM_ASSERT(bp != NULL && bp < ct->p + ct->len);
        bp += strlen("boundary=\"=_") + 1;
        size_t sl = strcspn(bp, "\"");
        EDM_ASSERT(sl >= 16 && bp[sl] == '"');
        size_t bounds = 0;
        for (const char *q = out.data; (q = strstr(q, "\r\n--=_")) != NULL; q += 2)
            bounds += q[6] != '\0' && strncmp(q + 7, bp, sl) == 0 && q[7 + sl] != '\0' &&
                      strchr("\r-", q[7 + sl]) != NULL;
        EDM_ASSERT(bounds == (!inl ? 6u : *cid ? 9u : 7u));
    }
    free(fields);
    edm_buf_free(&out);
    edm_mime_free(m);
    free(copy);
    return 0;
}
