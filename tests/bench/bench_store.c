/*
 * tests/bench/bench_store.c: the store's throughput through the storage
 * interface (scripts/bench-store runs it). Inserts N deliveries into one
 * campaign via upload (batches of 20,000 sorted by domain and address, one
 * transaction each, as the API feeds them; only the store calls are
 * timed), then claims them in batches and records one
 * outcome per row (delivered, with an attempt event) in batches.
 * Prints rows/s for each phase. Usage: bench_store DB_PATH [N] [BATCH]
 */
#include "engine/store/store.h"
#include "engine/base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define UPLOAD_ROWS 20000

struct row {
    const char *domain;
    char email[64];
    char vars[96];
};

static int row_cmp(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int c = strcmp(x->domain, y->domain);
    return c ? c : strcmp(x->email, y->email);
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_store DB_PATH [N] [BATCH]\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 1000000;
    size_t batch = argc > 3 ? (size_t)atol(argv[3]) : 1000;
    char err[512];
    edm_store *st;
    if (edm_store_open(argv[1], &st, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    json_t *cf = json_pack("{s:s, s:s}", "name", "bench", "from", "news@example.com");
    edm_campaign_row c;
    if (st->ops->campaign_create(st, cf, &c) != 0)
        return 1;
    int64_t cid = c.id;
    json_decref(cf);
    edm_campaign_row_clear(&c);

    /* Rows go in as the API's upload feeds them: batches of UPLOAD_ROWS,
     * each one store transaction, sorted by domain then address. */
    double insert_s = 0, insert_cpu = 0;
    static const char *const domains[] = {"gmail.test", "yahoo.test", "outlook.test", "a.test",
                                          "b.test"};
    struct row *rows = calloc(UPLOAD_ROWS, sizeof *rows);
    for (long base = 0; base < n; base += UPLOAD_ROWS) {
        long m = n - base < UPLOAD_ROWS ? n - base : UPLOAD_ROWS;
        for (long k = 0; k < m; k++) {
            long i = base + k;
            rows[k].domain = domains[i % 5];
            snprintf(rows[k].email, sizeof rows[k].email, "user%ld@%s", i, rows[k].domain);
            snprintf(rows[k].vars, sizeof rows[k].vars,
                     "{\"first_name\":\"User%ld\",\"plan\":\"gold\"}", i);
        }
        qsort(rows, (size_t)m, sizeof *rows, row_cmp);
        double b0 = now_s(), c0 = cpu_s();
        edm_upload *up;
        if (st->ops->upload_begin(st, cid, &up) != 0)
            return 1;
        for (long k = 0; k < m; k++) {
            edm_recipient r = {
                .email = rows[k].email, .domain = rows[k].domain, .vars_json = rows[k].vars};
            enum edm_add_outcome o;
            if (st->ops->upload_add(up, &r, 1, &o) != 0 || o != EDM_ADD_ACCEPTED) {
                fprintf(stderr, "insert %ld failed: %s\n", base + k, edm_store_errmsg(st));
                return 1;
            }
        }
        if (st->ops->upload_end(up, 1) != 0)
            return 1;
        insert_s += now_s() - b0;
        insert_cpu += cpu_s() - c0;
    }
    free(rows);

    edm_outcome *res = calloc(batch, sizeof *res);
    long claimed = 0, recorded = 0;
    double claim_s = 0, record_s = 0, claim_cpu = 0, record_cpu = 0;
    int64_t now = edm_time_now(), cursor = 0;
    for (;;) {
        edm_job *jobs;
        size_t got;
        double a = now_s(), ac = cpu_s();
        if (st->ops->claim(st, cid, now, 3600, &cursor, batch, &jobs, &got) != 0)
            return 1;
        claim_s += now_s() - a;
        claim_cpu += cpu_s() - ac;
        if (got == 0)
            break;
        claimed += (long)got;
        for (size_t i = 0; i < got; i++) {
            res[i] = (edm_outcome){.id = jobs[i].id,
                                   .status = EDM_DSTATE_DELIVERED,
                                   .attempted = 1,
                                   .attempted_at = now,
                                   .code = 250,
                                   .enhanced = "2.0.0",
                                   .text = "2.0.0 Ok: queued as X",
                                   .mx_host = "mx.a.test",
                                   .mx_ip = "127.0.1.1",
                                   .source_ip = "127.0.0.2",
                                   .remote_queue_id = "X",
                                   .duration_ms = 3};
        }
        a = now_s();
        ac = cpu_s();
        if (st->ops->record(st, res, got) != 0)
            return 1;
        record_s += now_s() - a;
        record_cpu += cpu_s() - ac;
        recorded += (long)got;
        edm_store_jobs_free(jobs, got);
    }
    free(res);
    int64_t counts[EDM_DSTATE_COUNT];
    st->ops->campaign_counts(st, cid, counts);
    edm_store_close(st);
    if (counts[EDM_DSTATE_DELIVERED] != n || claimed != n || recorded != n) {
        fprintf(stderr, "bench: expected %ld delivered, got %lld\n", n,
                (long long)counts[EDM_DSTATE_DELIVERED]);
        return 1;
    }
    /* Wall-clock rates, and rates per CPU second (user + system) of this
     * process, which a shared machine's load disturbs less. */
    printf("rows: %ld, batch: %zu            wall clock              per CPU second\n", n, batch);
    const struct {
        const char *what;
        double wall, cpu;
    } rows_out[] = {
        {"insert (upload)", insert_s, insert_cpu},
        {"claim (read due rows)", claim_s, claim_cpu},
        {"record (result + event)", record_s, record_cpu},
        {"update: claim + record", claim_s + record_s, claim_cpu + record_cpu},
    };
    for (size_t i = 0; i < sizeof rows_out / sizeof rows_out[0]; i++)
        printf("%-26s %10.0f rows/s (%5.2f s)  %10.0f rows/s (%5.2f s)\n", rows_out[i].what,
               (double)n / rows_out[i].wall, rows_out[i].wall, (double)n / rows_out[i].cpu,
               rows_out[i].cpu);
    return 0;
}
