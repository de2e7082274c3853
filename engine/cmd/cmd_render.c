/*
 * engine/cmd/cmd_render.c: `edm render [--raw] [-c edm.json] [--from ADDR]
 * [--to ADDR] [--strict] TEMPLATE.json DATA.json`: compiles TEMPLATE.json
 * ({subject, html, text, partials}) and prints {"subject","html","text"}
 * rendered with DATA.json (any JSON value) as one JSON object.
 *
 * With --raw it prints instead the whole message as it would go on the
 * wire (after DATA, before dot-stuffing): composed from --from/--to, the
 * config's unsubscribe URL, bounce and Message-ID domains, and signed
 * with the config's DKIM keys for the From domain, exactly as the API's
 * preview with raw=true builds it (edm_message_preview, delivery id 0).
 * The List-Unsubscribe tokens are signed with the secret the engine uses:
 * $unsubscribe.secret_env when set (16 bytes or more), else the one kept in
 * an existing database, else a throwaway one (the preview's tokens are then
 * not valid for that engine).
 *
 * Exit status: 0 rendered; 1 unreadable file, invalid JSON, template error
 * (printed with its part and position), bad config or key, an address the
 * composer refuses or, with --strict, missing variables; 2 usage error.
 */
#include "engine/cmd/cmd.h"

#include "engine/message/dkim.h"
#include "engine/message/message.h"
#include "templates/template.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: edm render [--raw] [-c edm.json] [--from ADDR] [--to ADDR] [--strict]\n"
    "                  TEMPLATE.json DATA.json\n"
    "Renders TEMPLATE.json ({\"subject\", \"html\", \"text\", \"partials\"}) with the\n"
    "values in DATA.json and prints {\"subject\",\"html\",\"text\"} as JSON (a part the\n"
    "template lacks is null). A template error prints its part, line and column\n"
    "and exits 1.\n"
    "  --strict        fail (exit 1) listing the variables DATA.json lacks\n"
    "  --raw           print the whole message as it would go on the wire, composed\n"
    "                  and DKIM-signed with the config's keys (needs --from, --to)\n"
    "  -c FILE         configuration (DKIM keys, unsubscribe URL, domains; for --raw)\n"
    "  --from ADDR     sender, \"Name <addr>\" or addr (for --raw)\n"
    "  --to ADDR       recipient address (for --raw)\n";

static json_t *part(const edm_buf *b, int present)
{
    return present ? json_stringn_nocheck(edm_buf_cstr(b), b->len) : json_null();
}

/* The secret that signs VERP and unsubscribe tokens, found as the engine
 * finds it (see the top of this file). Returns its length. */
static size_t token_secret(const edm_config *cfg, unsigned char *out, size_t max)
{
    const char *env = cfg->unsubscribe.secret_env ? getenv(cfg->unsubscribe.secret_env) : NULL;
    if (env && strlen(env) >= 16) {
        size_t n = strlen(env) < max ? strlen(env) : max;
        memcpy(out, env, n);
        return n;
    }
    edm_store *st = NULL;
    if (cfg->db && access(cfg->db, F_OK) == 0 && edm_cmd_open_store("render", cfg, &st) == 0) {
        int rc = st->ops->setting_get_or_create(st, "secret", out, 32);
        edm_store_close(st);
        if (rc == 0)
            return 32;
    }
    if (RAND_bytes(out, 32) != 1)
        return 0;
    return 32;
}

/* --raw: the composed, signed message on stdout. */
static int render_raw(const char *cfg_path, const char *from, const char *to, json_t *tmpl,
                      json_t *data)
{
    edm_config cfg;
    if (edm_cmd_load_config("render", cfg_path, &cfg) != 0)
        return 1;
    int status = 1;
    edm_dkim_key **keys = calloc(cfg.ndkim ? cfg.ndkim : 1, sizeof *keys);
    size_t nkeys = 0;
    char err[512] = "";
    for (size_t i = 0; keys && i < cfg.ndkim; i++, nkeys++) {
        const struct edm_config_dkim *d = &cfg.dkim[i];
        if (edm_dkim_key_load(&keys[i], d->key, d->domain, d->selector, d->algorithm, err,
                              sizeof err) != 0) {
            fprintf(stderr, "edm render: dkim[%zu].%s\n", i, err);
            goto done;
        }
    }
    unsigned char secret[256];
    size_t slen = token_secret(&cfg, secret, sizeof secret);
    if (keys == NULL || slen == 0) {
        fputs("edm render: out of memory or no random bytes\n", stderr);
        goto done;
    }
    edm_buf out = EDM_BUF_INIT;
    int rc = edm_message_preview(tmpl, data, from, to, keys, nkeys, cfg.unsubscribe.url,
                                 cfg.bounce_domain, cfg.message_id_domain, secret, slen, &out, err,
                                 sizeof err);
    if (rc != 0)
        fprintf(stderr, "edm render: %s\n", err[0] ? err : "cannot build the message");
    else if (fwrite(out.data, 1, out.len, stdout) == out.len && fflush(stdout) == 0)
        status = 0;
    edm_buf_free(&out);
done:
    for (size_t i = 0; keys && i < nkeys; i++)
        edm_dkim_key_free(keys[i]);
    free(keys);
    edm_config_free(&cfg);
    return status;
}

int edm_cmd_render(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL};
    const char *cfg_path = NULL, *from = NULL, *to = NULL;
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
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 || strcmp(a, "--from") == 0 ||
                   strcmp(a, "--to") == 0) {
            if (++i == argc) {
                fprintf(stderr, "edm render: %s needs a value\n%s", a, usage);
                return 2;
            }
            *(a[2] == 'f' ? &from : a[2] == 't' ? &to : &cfg_path) = argv[i];
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
    if (nfiles != 2) {
        fprintf(stderr, "edm render: expected TEMPLATE.json and DATA.json\n%s", usage);
        return 2;
    }
    if (raw && (from == NULL || to == NULL)) {
        fprintf(stderr, "edm render: --raw needs --from and --to\n%s", usage);
        return 2;
    }
    json_t *tmpl = edm_cmd_load_json("render", "template", files[0], JSON_DECODE_ANY);
    if (tmpl == NULL)
        return 1;
    json_t *data = edm_cmd_load_json("render", "data", files[1], JSON_DECODE_ANY);
    if (data == NULL) {
        json_decref(tmpl);
        return 1;
    }
    if (raw) {
        int st = render_raw(cfg_path, from, to, tmpl, data);
        json_decref(tmpl);
        json_decref(data);
        return st;
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
