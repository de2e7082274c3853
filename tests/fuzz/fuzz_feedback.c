/*
 * tests/fuzz/fuzz_feedback.c: libFuzzer target for the DSN and ARF parser
 * (engine/feedback/report.c, report_text.c). Parses the input whole and
 * checks the report's invariants: counts within their limits, every
 * string terminated inside its buffer, tokens made of token characters.
 * The corpus (tests/fuzz/corpus/fuzz_feedback/) starts from the parser's
 * samples (tests/engine/feedback/samples/).
 */
#include "engine/base/err.h"
#include "engine/feedback/report.h"

#include <stdint.h>
#include <string.h>

static void check_str(const char *s, size_t size)
{
    EDM_ASSERT(memchr(s, '\0', size) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fb_report r;
    if (fb_parse((const char *)data, size, &r) != 0)
        return 0;
    EDM_ASSERT(r.nrcpts <= FB_MAX_RCPTS && r.nbounce <= FB_MAX_TOKENS && r.nunsub <= FB_MAX_TOKENS);
    EDM_ASSERT(r.kind != FB_KIND_NONE || r.nrcpts == 0);
    for (size_t i = 0; i < r.nrcpts; i++) {
        const fb_rcpt *x = &r.rcpts[i];
        check_str(x->status, sizeof x->status);
        check_str(x->diagnostic, sizeof x->diagnostic);
        check_str(x->final_rcpt, sizeof x->final_rcpt);
        check_str(x->original_rcpt, sizeof x->original_rcpt);
        check_str(x->remote_mta, sizeof x->remote_mta);
        EDM_ASSERT(x->code == 0 || (x->code >= 400 && x->code < 600));
    }
    for (size_t i = 0; i < r.nbounce; i++)
        EDM_ASSERT(strspn(r.bounce_tokens[i], "0123456789abcdefghijklmnopqrstuvwxyz-") ==
                   strlen(r.bounce_tokens[i]));
    for (size_t i = 0; i < r.nunsub; i++)
        EDM_ASSERT(strspn(r.unsub_tokens[i], "0123456789abcdefghijklmnopqrstuvwxyz-") ==
                   strlen(r.unsub_tokens[i]));
    check_str(r.message_id, sizeof r.message_id);
    check_str(r.feedback_type, sizeof r.feedback_type);
    return 0;
}
