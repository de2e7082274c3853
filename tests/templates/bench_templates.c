/*
 * tests/templates/bench_templates.c: the C side of scripts/bench-templates.
 *
 *   bench_templates TEMPLATE.json DATA.ndjson OUTDIR
 *
 * Loads the message template and one JSON object per line (parsing is not
 * timed), compiles once, renders every recipient (subject + html + text)
 * once to warm up, then again timed, and prints "edm renders/s: N". The
 * parts rendered for the first 3 recipients are written to OUTDIR/edm-<i>.json
 * so the script can compare them with handlebars.js's.
 */
#include "templates/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_templates TEMPLATE.json DATA.ndjson OUTDIR\n");
        return 2;
    }
    json_error_t jerr;
    json_t *tmpl = json_load_file(argv[1], 0, &jerr);
    FILE *f = fopen(argv[2], "r");
    if (tmpl == NULL || f == NULL) {
        fprintf(stderr, "bench_templates: cannot load %s or %s\n", argv[1], argv[2]);
        return 1;
    }
    size_t n = 0, cap = 1024;
    json_t **recips = malloc(cap * sizeof *recips);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        if (n == cap)
            recips = realloc(recips, (cap *= 2) * sizeof *recips);
        if ((recips[n] = json_loadb(line, (size_t)len, 0, &jerr)) == NULL) {
            fprintf(stderr, "bench_templates: line %zu: %s\n", n + 1, jerr.text);
            return 1;
        }
        n++;
    }
    free(line);
    fclose(f);
    edm_tpl_set *set;
    edm_tpl_error err;
    if (edm_tpl_set_compile(&set, tmpl, &err) != 0) {
        fprintf(stderr, "bench_templates: %s: %s\n", err.part, err.msg);
        return 1;
    }
    edm_tpl_msg msg;
    edm_tpl_msg_init(&msg);
    size_t bytes = 0;
    for (int pass = 0; pass < 2; pass++) {
        double t0 = now();
        bytes = 0;
        for (size_t i = 0; i < n; i++) {
            if (edm_tpl_set_render(set, recips[i], NULL, &msg, &err) != 0) {
                fprintf(stderr, "bench_templates: recipient %zu: %s\n", i, err.msg);
                return 1;
            }
            bytes += msg.subject.len + msg.html.len + msg.text.len;
            if (pass == 1 && i < 3) {
                char path[4096];
                snprintf(path, sizeof path, "%s/edm-%zu.json", argv[3], i);
                json_t *o = json_pack("{s:s%, s:s%, s:s%}", "subject", msg.subject.data,
                                      msg.subject.len, "html", msg.html.data, msg.html.len, "text",
                                      msg.text.data, msg.text.len);
                json_dump_file(o, path, JSON_SORT_KEYS);
                json_decref(o);
            }
        }
        double dt = now() - t0;
        if (pass == 1)
            printf("edm renders/s: %.0f (%zu recipients in %.3f s, %.0f bytes/message)\n",
                   (double)n / dt, n, dt, (double)bytes / (double)n);
    }
    edm_tpl_msg_free(&msg);
    edm_tpl_set_free(set);
    for (size_t i = 0; i < n; i++)
        json_decref(recips[i]);
    free(recips);
    json_decref(tmpl);
    return 0;
}
