/*
 * engine/cmd/cmd_send.c: `edm send -c edm.json --template T.json --recipients
 * R.csv|R.ndjson|R.json --from ADDR`: a one-shot campaign from files. It
 * stores the template and a campaign in the configured database, imports
 * the recipients (bad rows are reported with their line and kept out; the
 * rest go on), starts the campaign at once and runs the engine until every
 * recipient is in a terminal state, drawing a progress bar on stderr, then
 * prints a summary (per state and per bounce category) on stdout. A
 * template that does not compile is refused before anything is stored
 * (its part, line and column printed, exit 1).
 *
 * Exit status: 0 when the campaign completed (whatever each recipient's
 * outcome), 1 on a setup error or when interrupted (SIGINT/SIGTERM: what
 * is not sent stays queued in the database, and `edm serve` carries on
 * with it), 2 on a usage error.
 */
#include "engine/base/addr.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"
#include "engine/campaign/lifecycle.h"
#include "engine/cmd/cmd.h"
#include "engine/engine.h"
#include "engine/ingest/import.h"
#include "templates/template.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Rejected rows listed on stderr (the others are counted). */
#define REJECTED_LISTED 100

static const char usage_text[] =
    "usage: edm send -c edm.json --template T.json --recipients R.csv|R.ndjson --from ADDR\n"
    "                [--name NAME] [--reply-to ADDR] [--pool NAME] [--quiet]\n"
    "Sends one campaign from files and waits until every recipient has an outcome.\n"
    "  -c, --config FILE    the configuration (database, SMTP, pools, DKIM keys)\n"
    "  --template FILE      JSON: {\"subject\", \"html\", \"text\", \"partials\"}\n"
    "  --recipients FILE    CSV (header row: email plus variables), NDJSON, or a JSON\n"
    "                       array (by extension: .csv, .ndjson/.jsonl, .json)\n"
    "  --from ADDR          From address, \"Name <addr>\" or addr\n"
    "  --name NAME          campaign name (default: the recipients file's name)\n"
    "  --reply-to ADDR      Reply-To address\n"
    "  --pool NAME          source IP pool (default: \"default\")\n"
    "  --quiet              no progress bar\n";

struct send {
    uv_loop_t loop;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm;
    edm_store *st;
    edm_engine *eng;
    int64_t cid;
    int64_t total;
    int quiet, tty, interrupted, finished;
    uint64_t t0;
    /* import counts */
    int64_t accepted, duplicates, suppressed, rejected;
};

static enum edm_upload_format format_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && (strcmp(dot, ".ndjson") == 0 || strcmp(dot, ".jsonl") == 0))
        return EDM_UPLOAD_NDJSON;
    if (dot && strcmp(dot, ".json") == 0)
        return EDM_UPLOAD_JSON;
    if (dot && strcmp(dot, ".csv") == 0)
        return EDM_UPLOAD_CSV;
    return EDM_UPLOAD_SNIFF;
}

/* Imports the recipients file through the import routine the API uses
 * (engine/ingest/import.h): same checks, batches, state check and counts.
 * Lists the first rejected rows on stderr. Returns 0 or -1 (printed). */
static int import_recipients(struct send *s, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "edm send: %s: cannot read: %s\n", path, strerror(errno));
        return -1;
    }
    edm_import_opts o = {.format = format_of(path),
                         .check = edm_lifecycle_import_check,
                         .rejected_max = REJECTED_LISTED};
    edm_import *im = NULL;
    int rc = edm_import_new(s->st, s->cid, &o, &im);
    char buf[1 << 16];
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, f)) > 0)
        rc = edm_import_feed(im, buf, n);
    if (rc == 0)
        rc = edm_import_finish(im);
    if (im) {
        size_t nr;
        const edm_import_reject *r = edm_import_rejected(im, &nr);
        for (size_t i = 0; i < nr; i++)
            fprintf(stderr, "edm send: line %ld: %s%s%s\n", r[i].line, r[i].email ? r[i].email : "",
                    r[i].email ? ": " : "", r[i].error);
        const edm_import_counts *c = edm_import_get_counts(im);
        if (c->rejected > REJECTED_LISTED)
            fprintf(stderr, "edm send: (more rejected lines are counted, not listed)\n");
        s->accepted = c->accepted;
        s->duplicates = c->duplicates;
        s->suppressed = c->suppressed;
        s->rejected = c->rejected;
    }
    if (rc != 0)
        fprintf(stderr, "edm send: %s: %s\n", path,
                im && *edm_import_error(im) ? edm_import_error(im) : edm_strerror(rc));
    edm_import_free(im);
    fclose(f);
    return rc == 0 ? 0 : -1;
}

static json_t *load_template(const char *path)
{
    json_t *t = edm_cmd_load_json("send", NULL, path, 0);
    if (t == NULL)
        return NULL;
    if (!json_is_object(t)) {
        fprintf(stderr, "edm send: %s: expected a JSON object {subject, html, text, partials}\n",
                path);
        json_decref(t);
        return NULL;
    }
    static const char *const allowed[] = {"name", "subject", "html", "text", "partials"};
    const char *k;
    json_t *v;
    json_object_foreach(t, k, v)
    {
        size_t i;
        for (i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
            if (strcmp(k, allowed[i]) == 0)
                break;
        if (i == sizeof allowed / sizeof allowed[0]) {
            fprintf(stderr, "edm send: %s: %s: unknown key\n", path, k);
            json_decref(t);
            return NULL;
        }
    }
    /* A template that does not compile would only fail every recipient:
     * refuse it here, with its part and position, before anything is
     * stored. */
    edm_tpl_set *set = NULL;
    edm_tpl_error err;
    memset(&err, 0, sizeof err);
    if (edm_tpl_set_compile(&set, t, &err) != 0) {
        fprintf(stderr, "edm send: %s: %s%s%s\n", path, err.part, err.part[0] ? ": " : "", err.msg);
        json_decref(t);
        return NULL;
    }
    edm_tpl_set_free(set);
    if (!json_object_get(t, "name"))
        json_object_set_new(t, "name", json_string(path));
    return t;
}

static void draw(struct send *s, int final)
{
    int64_t c[EDM_DSTATE_COUNT];
    if (s->cid == 0 || s->st->ops->campaign_counts(s->st, s->cid, c) != 0)
        return;
    int64_t done = c[EDM_DSTATE_DELIVERED] + c[EDM_DSTATE_BOUNCED] + c[EDM_DSTATE_SUPPRESSED] +
                   c[EDM_DSTATE_FAILED] + c[EDM_DSTATE_CANCELLED];
    if (s->quiet || (!s->tty && !final))
        return;
    double secs = (double)(edm_time_mono_ms() - s->t0) / 1000.0;
    int width = 30, fill = s->total ? (int)(width * done / s->total) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr,
            "\r[%s] %lld/%lld  delivered %lld  deferred %lld  bounced %lld  failed %lld  "
            "%.0f/s ",
            bar, (long long)done, (long long)s->total, (long long)c[EDM_DSTATE_DELIVERED],
            (long long)c[EDM_DSTATE_DEFERRED], (long long)c[EDM_DSTATE_BOUNCED],
            (long long)c[EDM_DSTATE_FAILED], secs > 0 ? (double)done / secs : 0.0);
    if (final)
        fputc('\n', stderr);
}

static void on_stopped(void *arg)
{
    struct send *s = arg;
    s->eng = NULL;
    /* Installed until the end (a second signal is ignored), but they no
     * longer keep the loop alive; closed by the final walk. */
    uv_unref((uv_handle_t *)&s->sigint);
    uv_unref((uv_handle_t *)&s->sigterm);
}

static void finish(struct send *s)
{
    if (s->finished)
        return;
    s->finished = 1;
    uv_timer_stop(&s->tick);
    uv_close((uv_handle_t *)&s->tick, NULL);
    draw(s, 1);
    edm_engine_stop(s->eng, on_stopped, s);
}

static void on_tick(uv_timer_t *t)
{
    struct send *s = t->data;
    draw(s, 0);
    edm_campaign_row c;
    if (s->st->ops->campaign_get(s->st, s->cid, &c) == 0) {
        int done = c.state == EDM_CSTATE_COMPLETED;
        edm_campaign_row_clear(&c);
        if (done)
            finish(s);
    }
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct send *s = sig->data;
    (void)signum;
    s->interrupted = 1;
    finish(s);
}

static void summary(struct send *s)
{
    json_t *stats = NULL;
    if (s->st->ops->campaign_stats(s->st, s->cid, &stats) != 0)
        return;
    double secs = (double)(edm_time_mono_ms() - s->t0) / 1000.0;
    printf("campaign %lld: %s in %.1f s\n", (long long)s->cid,
           json_string_value(json_object_get(stats, "status")), secs);
    printf("  recipients  %lld (imported %lld, duplicates %lld, rejected %lld)\n",
           (long long)json_integer_value(json_object_get(stats, "total")),
           (long long)s->accepted + s->suppressed, (long long)s->duplicates,
           (long long)s->rejected);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(stats, "counts"), k, v)
    {
        if (json_integer_value(v))
            printf("  %-11s %lld\n", k, (long long)json_integer_value(v));
    }
    json_object_foreach(json_object_get(stats, "bounce_categories"), k, v)
    {
        printf("  bounced as %-12s %lld\n", k, (long long)json_integer_value(v));
    }
    json_decref(stats);
}

/* Stores the template and the campaign, imports the recipients and starts
 * the campaign. Returns 0 or -1 (message printed). */
static int prepare(struct send *s, json_t *tpl, json_t **cf, const char *name, const char *from,
                   const char *reply_to, const char *pool, const char *tpl_path,
                   const char *rcpt_path)
{
    edm_template_row t;
    if (s->st->ops->template_create(s->st, tpl, &t) != 0) {
        fprintf(stderr, "edm send: %s: %s\n", tpl_path, edm_store_errmsg(s->st));
        return -1;
    }
    *cf = json_pack("{s:s, s:I, s:s, s:s?, s:s}", "name", name, "template_id", (json_int_t)t.id,
                    "from", from, "reply_to", reply_to, "pool", pool ? pool : "default");
    edm_template_row_clear(&t);
    edm_campaign_row c;
    if (s->st->ops->campaign_create(s->st, *cf, &c) != 0) {
        fprintf(stderr, "edm send: cannot create the campaign: %s\n", edm_store_errmsg(s->st));
        return -1;
    }
    s->cid = c.id;
    edm_campaign_row_clear(&c);
    if (import_recipients(s, rcpt_path) != 0)
        return -1;
    int64_t counts[EDM_DSTATE_COUNT];
    s->st->ops->campaign_counts(s->st, s->cid, counts);
    for (int i = 0; i < EDM_DSTATE_COUNT; i++)
        s->total += counts[i];
    fprintf(stderr,
            "edm send: campaign %lld: %lld recipients (%lld suppressed, %lld duplicates, "
            "%lld rejected)\n",
            (long long)s->cid, (long long)s->total, (long long)s->suppressed,
            (long long)s->duplicates, (long long)s->rejected);
    int64_t now = edm_time_now();
    enum edm_cstate to;
    if (edm_lifecycle_apply(s->st, s->cid, EDM_LIFECYCLE_SCHEDULE, now, now, &to, NULL) != 0) {
        fprintf(stderr, "edm send: cannot start the campaign\n");
        return -1;
    }
    edm_engine_wake(s->eng);
    return 0;
}

int edm_cmd_send(int argc, char **argv)
{
    const char *cfg_path = NULL, *tpl_path = NULL, *rcpt_path = NULL, *from = NULL;
    const char *name = NULL, *reply_to = NULL, *pool = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (edm_cmd_is_help(a)) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (edm_cmd_config_opt(argc, argv, &i, &cfg_path))
            continue;
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = 1;
            continue;
        }
        if (strcmp(a, "--template") == 0)
            slot = &tpl_path;
        else if (strcmp(a, "--recipients") == 0)
            slot = &rcpt_path;
        else if (strcmp(a, "--from") == 0)
            slot = &from;
        else if (strcmp(a, "--name") == 0)
            slot = &name;
        else if (strcmp(a, "--reply-to") == 0)
            slot = &reply_to;
        else if (strcmp(a, "--pool") == 0)
            slot = &pool;
        if (slot == NULL || i + 1 >= argc) {
            fprintf(stderr, "edm send: unexpected argument '%s'\n%s", a, usage_text);
            return 2;
        }
        *slot = argv[++i];
    }
    if (!tpl_path || !rcpt_path || !from) {
        fprintf(stderr, "edm send: --template, --recipients and --from are required\n%s",
                usage_text);
        return 2;
    }
    /* The addresses as the API checks them (engine/base/addr.c): what is
     * accepted here composes. */
    const char *addr_opt[] = {"--from", from, "--reply-to", reply_to};
    for (size_t i = 0; i < 4; i += 2) {
        edm_mailbox mb;
        const char *why;
        if (addr_opt[i + 1] &&
            edm_addr_mailbox(addr_opt[i + 1], strlen(addr_opt[i + 1]), &mb, &why) != 0) {
            fprintf(stderr, "edm send: %s: not a valid address: %s\n", addr_opt[i], why);
            return 2;
        }
    }
    edm_config cfg;
    if (edm_cmd_load_config("send", cfg_path, &cfg) != 0)
        return 1;
    edm_log_set_level(cfg.log_level > EDM_LOG_WARN ? cfg.log_level : EDM_LOG_WARN);
    struct send s;
    memset(&s, 0, sizeof s);
    s.quiet = quiet;
    s.tty = isatty(2);
    int rc = 1;
    json_t *tpl = load_template(tpl_path), *cf = NULL;
    if (tpl == NULL || edm_cmd_open_store("send", &cfg, &s.st) != 0)
        goto out;
    if (pool && edm_config_pool_find(&cfg, pool) == NULL) {
        fprintf(stderr, "edm send: --pool: no pool named \"%s\" in the config\n", pool);
        goto out;
    }
    /* The engine first: it takes the database's engine lock, so nothing is
     * created when another engine (edm serve) owns this database. */
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&s.loop);
    char err[512];
    if (edm_engine_start(&s.loop, &cfg, s.st, &s.eng, err, sizeof err) != 0) {
        fprintf(stderr, "edm send: %s\n", err);
        uv_loop_close(&s.loop);
        goto out;
    }
    uv_signal_init(&s.loop, &s.sigint);
    uv_signal_init(&s.loop, &s.sigterm);
    s.sigint.data = s.sigterm.data = &s;
    uv_timer_init(&s.loop, &s.tick);
    s.tick.data = &s;
    if (prepare(&s, tpl, &cf, name ? name : rcpt_path, from, reply_to, pool, tpl_path, rcpt_path) !=
        0) {
        finish(&s); /* stops the engine and closes the handles */
        edm_cmd_run_loop(&s.loop);
        goto out;
    }
    s.t0 = edm_time_mono_ms();
    uv_timer_start(&s.tick, on_tick, 200, 200);
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    edm_cmd_run_loop(&s.loop); /* the summary is printed whatever comes now */
    summary(&s);
    if (s.interrupted)
        fprintf(stderr, "edm send: interrupted; unsent recipients stay queued in %s\n", cfg.db);
    rc = s.interrupted ? 1 : 0;
out:
    json_decref(tpl);
    json_decref(cf);
    edm_store_close(s.st);
    edm_config_free(&cfg);
    return rc;
}
