/*
 * tests/templates/bench_templates.c: the C side of scripts/bench-templates.
 *
 *   bench_templates TEMPLATE.json DATA.ndjson OUTDIR
 *
 * Compiles the message template once, then renders every recipient of
 * DATA.ndjson (one JSON object per line; subject + html + text each) as the
 * engine does: a batch of recipients is parsed (not timed), then rendered
 * (timed, wall clock and process CPU time). Round 0 warms up and writes the
 * parts of the first 3 recipients to OUTDIR/edm-<i>.json for comparison
 * with handlebars.js; of the $EDM_BENCH_ROUNDS (default 3) timed rounds the
 * best counts, so other load on the machine disturbs the figures least.
 * $EDM_BENCH_BATCH (default 100) recipients per batch; 0 parses everything
 * first (all data cold in memory when it is rendered).
 * Prints "edm renders/s: W cpu-renders/s: C (...)".
 */
#include "templates/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sample(const char *dir, size_t i, const edm_tpl_msg *m)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/edm-%zu.json", dir, i);
    json_t *o = json_pack("{s:s%, s:s%, s:s%}", "subject", m->subject.data, m->subject.len, "html",
                          m->html.data, m->html.len, "text", m->text.data, m->text.len);
    json_dump_file(o, path, JSON_SORT_KEYS);
    json_decref(o);
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
    char **lines = malloc(cap * sizeof *lines);
    size_t *lens = malloc(cap * sizeof *lens);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        if (n == cap) {
            cap *= 2;
            lines = realloc(lines, cap * sizeof *lines);
            lens = realloc(lens, cap * sizeof *lens);
        }
        lines[n] = strndup(line, (size_t)len);
        lens[n++] = (size_t)len;
    }
    free(line);
    fclose(f);
    edm_tpl_set *set;
    edm_tpl_error err;
    if (edm_tpl_set_compile(&set, tmpl, &err) != 0) {
        fprintf(stderr, "bench_templates: %s: %s\n", err.part, err.msg);
        return 1;
    }
    int rounds = getenv("EDM_BENCH_ROUNDS") ? atoi(getenv("EDM_BENCH_ROUNDS")) : 3;
    size_t batch = getenv("EDM_BENCH_BATCH") ? (size_t)atol(getenv("EDM_BENCH_BATCH")) : 100;
    if (batch == 0 || batch > n)
        batch = n;
    json_t **vars = malloc(batch * sizeof *vars);
    /* EDM_BENCH_REPEAT renders each batch that many times (for profilers;
     * the figures printed are then not renders/s). */
    size_t repeat = getenv("EDM_BENCH_REPEAT") ? (size_t)atol(getenv("EDM_BENCH_REPEAT")) : 1;
    if (repeat == 0)
        repeat = 1;
    edm_tpl_msg msg;
    edm_tpl_msg_init(&msg);
    double best_wall = 0, best_cpu = 0;
    size_t bytes = 0;
    for (int round = 0; round <= rounds; round++) {
        double wall = 0, cpu = 0;
        bytes = 0;
        for (size_t b = 0; b < n; b += batch) {
            size_t k = n - b < batch ? n - b : batch;
            for (size_t i = 0; i < k; i++)
                if ((vars[i] = json_loadb(lines[b + i], lens[b + i], 0, &jerr)) == NULL) {
                    fprintf(stderr, "bench_templates: line %zu: %s\n", b + i + 1, jerr.text);
                    return 1;
                }
            double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
            for (size_t i = 0; i < k * repeat; i++) {
                if (edm_tpl_set_render(set, vars[i % k], NULL, &msg, &err) != 0) {
                    fprintf(stderr, "bench_templates: recipient %zu: %s\n", b + i % k, err.msg);
                    return 1;
                }
                if (i >= k)
                    continue;
                bytes += msg.subject.len + msg.html.len + msg.text.len;
                if (round == 0 && b + i < 3)
                    sample(argv[3], b + i, &msg);
            }
            wall += now(CLOCK_MONOTONIC) - w0;
            cpu += now(CLOCK_PROCESS_CPUTIME_ID) - c0;
            for (size_t i = 0; i < k; i++)
                json_decref(vars[i]);
        }
        if (round > 0 && (double)n / wall > best_wall)
            best_wall = (double)n / wall;
        if (round > 0 && (double)n / cpu > best_cpu)
            best_cpu = (double)n / cpu;
    }
    printf("edm renders/s: %.0f cpu-renders/s: %.0f (best of %d rounds of %zu recipients in "
           "batches of %zu, %.0f bytes/message)\n",
           best_wall, best_cpu, rounds, n, batch, (double)bytes / (double)n);
    edm_tpl_msg_free(&msg);
    edm_tpl_set_free(set);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    free(lens);
    free(vars);
    json_decref(tmpl);
    return 0;
}
