/*
 * api/routes/preview.c: templates through the template module (templates/):
 *  - api_template_compile_check: a template body must compile before it is
 *    stored (422 naming the part, "subject", "html", "text" or
 *    "partials.NAME", with line and column in the message);
 *  - POST /v1/templates/{id}/preview {"vars": any JSON, "strict": bool,
 *    "raw": bool, "from": addr, "to": addr} (raw also as ?raw=true): renders the stored template
 *    for vars and answers {"subject","html","text"}; strict reports the
 *    variables the data lacks (422, field "vars"). raw=true asks the engine
 *    for the whole composed and signed message (edm_api_engine.render_raw)
 *    and answers it as message/rfc822; without that hook it answers 501.
 *    from and to are optional (the engine picks a sender on its first DKIM
 *    domain and vars' email, see edm_engine_render_raw); given, they must
 *    be a mailbox and an address (422 naming them).
 *
 * The plain preview compiles and renders on libuv's thread pool
 * (uv_queue_work), never on the loop: the API and the engine go on while
 * it runs, and the renderer's work budget (docs/templates.md "Limits")
 * ends a hostile template within milliseconds anyway. The job owns copies
 * of everything it reads; if the request goes away first (the client
 * closed), the call detaches from the job and its result is dropped.
 * raw=true stays on the loop (the engine's composition is not shared with
 * other threads) and is bounded by the same budget.
 */
#include "api/api_int.h"
#include "api/rows_json.h"
#include "engine/base/addr.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "templates/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "partial footer" -> "partials.footer"; the part names the field. */
static void part_field(const edm_tpl_error *e, char *out, size_t n)
{
    if (strncmp(e->part, "partial ", 8) == 0)
        snprintf(out, n, "partials.%s", e->part + 8);
    else
        snprintf(out, n, "%s", e->part[0] ? e->part : "subject");
}

/* Answers a compile or render failure. */
static void template_failure(api_call *c, int rc, const edm_tpl_error *e, const char *field)
{
    char f[96] = "";
    if (field == NULL) {
        part_field(e, f, sizeof f);
        field = f;
    }
    const char *code = rc == EDM_EINVAL      ? "template_syntax"
                       : rc == EDM_ENOTFOUND ? "missing_variables"
                       : rc == EDM_ETOOBIG   ? "template_limit"
                                             : "template_error";
    if (rc == EDM_ENOMEM)
        api_error(c, 503, "no_memory", NULL, "out of memory");
    else
        api_error(c, 422, code, field, "%s: %s", field, e->msg);
}

int api_template_compile_check(api_call *c, json_t *tpl)
{
    edm_tpl_set *set = NULL;
    edm_tpl_error e;
    memset(&e, 0, sizeof e);
    int rc = edm_tpl_set_compile(&set, tpl, &e);
    edm_tpl_set_free(set);
    if (rc == 0)
        return 0;
    template_failure(c, rc, &e, NULL);
    return -1;
}

static json_t *part(const edm_buf *b, int present)
{
    return present ? json_stringn(edm_buf_cstr(b), b->len) : json_null();
}

/* A plain preview on the thread pool. The loop owns `call` (NULL once the
 * request is gone); the worker reads only the job's own tpl and vars. */
typedef struct preview_job {
    uv_work_t work;
    api_call *call;
    json_t *tpl, *vars;
    int strict;
    int rc;
    int has_html, has_text;
    edm_tpl_error e;
    edm_tpl_msg m;
} preview_job;

static void preview_job_free(preview_job *j)
{
    json_decref(j->tpl);
    json_decref(j->vars);
    edm_tpl_msg_free(&j->m);
    edm_free(j);
}

/* The request ended before the result: the result will be dropped. */
static void preview_detach(void *state)
{
    preview_job *j = state;
    j->call = NULL;
}

static void preview_work(uv_work_t *w)
{
    preview_job *j = w->data;
    edm_tpl_set *set = NULL;
    memset(&j->e, 0, sizeof j->e);
    j->rc = edm_tpl_set_compile(&set, j->tpl, &j->e);
    if (j->rc != 0)
        return;
    edm_tpl_opts opts = {.strict = j->strict};
    j->rc = edm_tpl_set_render(set, j->vars, &opts, &j->m, &j->e);
    j->has_html = edm_tpl_set_has_html(set);
    j->has_text = edm_tpl_set_has_text(set);
    edm_tpl_set_free(set);
}

static void preview_after(uv_work_t *w, int status)
{
    preview_job *j = w->data;
    api_call *c = j->call;
    if (c == NULL) { /* the client went away */
        preview_job_free(j);
        return;
    }
    c->state = NULL;
    c->free_state = NULL;
    if (status != 0) {
        api_error(c, 503, "unavailable", NULL, "the preview was cancelled");
    } else if (j->rc != 0) {
        template_failure(c, j->rc, &j->e, j->rc == EDM_ENOTFOUND ? "vars" : NULL);
    } else {
        json_t *out =
            json_pack("{s:o,s:o,s:o}", "subject", part(&j->m.subject, 1), "html",
                      part(&j->m.html, j->has_html), "text", part(&j->m.text, j->has_text));
        if (out == NULL)
            api_error(c, 422, "render_failed", "vars", "the rendering is not valid UTF-8");
        else
            api_reply(c, 200, out);
    }
    preview_job_free(j);
}

void api_templates_preview(api_call *c)
{
    static const char *const fields[] = {"vars", "strict", "raw", "from", "to", NULL};
    json_t *b = c->body;
    const char *from, *to;
    if (api_fields_known(c, b, fields) != 0 || api_field_string(c, b, "from", 0, 998, &from) < 0 ||
        api_field_string(c, b, "to", 0, 998, &to) < 0)
        return;
    if ((from && api_check_mailbox(c, "from", from) != 0))
        return;
    if (to && !edm_addr_sendable(to)) {
        api_error(c, 422, "invalid_address", "to", "to is not a valid address");
        return;
    }
    json_t *raw = json_object_get(b, "raw"), *strict = json_object_get(b, "strict");
    if ((raw && !json_is_boolean(raw)) || (strict && !json_is_boolean(strict))) {
        api_error(c, 422, "invalid_type", raw && !json_is_boolean(raw) ? "raw" : "strict",
                  "%s must be true or false", raw && !json_is_boolean(raw) ? "raw" : "strict");
        return;
    }
    /* raw also as a query parameter (?raw=true, ?raw), the body's wins */
    int want_raw = json_is_true(raw);
    char qraw[8];
    int qr = raw ? 0 : api_query(c, "raw", qraw, sizeof qraw);
    if (qr > 0 && (qraw[0] == '\0' || strcmp(qraw, "true") == 0 || strcmp(qraw, "1") == 0))
        want_raw = 1;
    else if (qr < 0 || (qr > 0 && strcmp(qraw, "false") != 0 && strcmp(qraw, "0") != 0)) {
        api_error(c, 422, "invalid", "raw", "raw must be true or false");
        return;
    }
    edm_store *st = c->api->store;
    edm_template_row row;
    int rc = c->id > 0 ? st->ops->template_get(st, c->id, &row) : EDM_ENOTFOUND;
    if (rc != 0) {
        api_store_error(c, rc, "template");
        return;
    }
    /* the template as the API shows it: what edm_tpl_set_compile and the
     * engine's render_raw take */
    json_t *tpl = api_template_json(&row);
    edm_template_row_clear(&row);
    if (tpl == NULL) {
        api_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    json_t *vars = json_object_get(b, "vars");
    if (want_raw) {
        const edm_api_engine *en = &c->api->engine;
        char *msg = NULL, err[256] = "";
        size_t len = 0;
        if (en->render_raw == NULL) {
            api_error(c, 501, "not_implemented", "raw",
                      "raw=true (the composed, DKIM-signed message) is not available in this "
                      "server: it needs the engine's message composition and signing");
        } else if ((rc = en->render_raw(en->ctx, tpl, vars, from, to, &msg, &len, err,
                                        sizeof err)) != 0) {
            api_error(c, 422, "render_failed", NULL, "%s", err[0] ? err : edm_strerror(rc));
        } else {
            c->answered = 1;
            http_respond(c->req, 200, "message/rfc822", NULL, msg, len);
        }
        free(msg);
        json_decref(tpl);
        return;
    }
    preview_job *j = edm_xcalloc(1, sizeof *j);
    j->call = c;
    j->tpl = tpl; /* built above for this call: only the job uses it */
    j->vars = vars ? json_deep_copy(vars) : NULL;
    j->strict = json_is_true(strict);
    j->work.data = j;
    edm_tpl_msg_init(&j->m);
    if (vars && j->vars == NULL) {
        preview_job_free(j);
        api_error(c, 503, "no_memory", NULL, "out of memory");
        return;
    }
    c->state = j;
    c->free_state = preview_detach;
    if (uv_queue_work(c->api->loop, &j->work, preview_work, preview_after) != 0) {
        c->state = NULL;
        c->free_state = NULL;
        preview_job_free(j);
        api_error(c, 500, "internal", NULL, "cannot start the preview");
        return;
    }
    c->deferred = 1;
}
