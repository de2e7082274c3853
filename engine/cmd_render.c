/*
 * engine/cmd_render.c: `edm render [--raw] [-c edm.json] [--from ADDR]
 * [--to ADDR] [--strict] TEMPLATE.json DATA.json`: compiles TEMPLATE.json
 * ({subject, html, text, partials}) and prints {"subject","html","text"}
 * rendered with DATA.json (any JSON value) as one JSON object.
 *
 * Exit status: 0 rendered; 1 unreadable file, invalid JSON, template error
 * (printed with its part and position) or, with --strict, missing
 * variables; 2 usage error. --raw (the composed, DKIM-signed message) is
 * not available yet and exits 2; -c, --from and --to are accepted for it.
 */
#include "engine/cmd.h"

#include "templates/template.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: edm render [--raw] [-c edm.json] [--from ADDR] [--to ADDR] [--strict]\n"
    "                  TEMPLATE.json DATA.json\n"
    "Renders TEMPLATE.json ({\"subject\", \"html\", \"text\", \"partials\"}) with the\n"
    "values in DATA.json and prints {\"subject\",\"html\",\"text\"} as JSON (a part the\n"
    "template lacks is null). A template error prints its part, line and column\n"
    "and exits 1.\n"
    "  --strict        fail (exit 1) listing the variables DATA.json lacks\n"
    "  --raw           print the whole message as it would go on the wire, composed\n"
    "                  and DKIM-signed with the config's keys (not yet available)\n"
    "  -c FILE         configuration (DKIM keys, for --raw)\n"
    "  --from ADDR     sender address (for --raw)\n"
    "  --to ADDR       recipient address (for --raw)\n";

static json_t *load(const char *path, const char *what)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_DECODE_ANY, &jerr);
    if (j == NULL)
        fprintf(stderr, "edm render: %s %s: line %d, col %d: %s\n", what, path, jerr.line,
                jerr.column, jerr.text);
    return j;
}

static json_t *part(const edm_buf *b, int present)
{
    return present ? json_stringn_nocheck(edm_buf_cstr(b), b->len) : json_null();
}

int edm_cmd_render(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL};
    int nfiles = 0, raw = 0, strict = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--raw") == 0) {
            raw = 1;
        } else if (strcmp(a, "--strict") == 0) {
            strict = 1;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--from") == 0 || strcmp(a, "--to") == 0) {
            if (++i == argc) {
                fprintf(stderr, "edm render: %s needs a value\n%s", a, usage);
                return 2;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "edm render: unknown option '%s'\n%s", a, usage);
            return 2;
        } else if (nfiles < 2) {
            files[nfiles++] = a;
        } else {
            fprintf(stderr, "edm render: too many arguments\n%s", usage);
            return 2;
        }
    }
    if (raw) {
        fputs("edm render: --raw is not yet available (needs message composition and "
              "DKIM signing)\n",
              stderr);
        return 2;
    }
    if (nfiles != 2) {
        fprintf(stderr, "edm render: expected TEMPLATE.json and DATA.json\n%s", usage);
        return 2;
    }
    json_t *tmpl = load(files[0], "template");
    if (tmpl == NULL)
        return 1;
    json_t *data = load(files[1], "data");
    if (data == NULL) {
        json_decref(tmpl);
        return 1;
    }
    edm_tpl_set *set = NULL;
    edm_tpl_error err;
    int status = 1;
    if (edm_tpl_set_compile(&set, tmpl, &err) != 0) {
        fprintf(stderr, "edm render: %s%s%s\n", err.part, err.part[0] ? ": " : "", err.msg);
    } else {
        edm_tpl_msg msg;
        edm_tpl_msg_init(&msg);
        edm_tpl_opts opts = {.strict = strict};
        if (edm_tpl_set_render(set, data, &opts, &msg, &err) != 0) {
            fprintf(stderr, "edm render: %s%s%s\n", err.part, err.part[0] ? ": " : "", err.msg);
        } else {
            json_t *res = json_object();
            json_object_set_new(res, "subject", part(&msg.subject, 1));
            json_object_set_new(res, "html", part(&msg.html, edm_tpl_set_has_html(set)));
            json_object_set_new(res, "text", part(&msg.text, edm_tpl_set_has_text(set)));
            char *s = json_dumps(res, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            if (s) {
                puts(s);
                free(s);
                status = 0;
            }
            json_decref(res);
        }
        edm_tpl_msg_free(&msg);
        edm_tpl_set_free(set);
    }
    json_decref(tmpl);
    json_decref(data);
    return status;
}
