/*
 * tests/bench/bench_store.c: the store's throughput through the storage
 * interface (scripts/bench-store runs it). Inserts N deliveries into one
 * campaign via upload, then claims them in batches and records one
 * outcome per row (delivered, with an attempt event) in batches.
 * Prints rows/s for each phase. Usage: bench_store DB_PATH [N] [BATCH]
 */
#include "engine/store.h"
#include "engine/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    json_t *c = NULL;
    if (st->ops->campaign_create(st, cf, &c) != 0)
        return 1;
    int64_t cid = json_integer_value(json_object_get(c, "id"));
    json_decref(cf);
    json_decref(c);

    double t0 = now_s();
    edm_upload *up;
    if (st->ops->upload_begin(st, cid, &up) != 0)
        return 1;
    static const char *const domains[] = {"gmail.test", "yahoo.test", "outlook.test", "a.test",
                                          "b.test"};
    for (long i = 0; i < n; i++) {
        char email[64], vars[96];
        const char *d = domains[i % 5];
        snprintf(email, sizeof email, "user%ld@%s", i, d);
        snprintf(vars, sizeof vars, "{\"first_name\":\"User%ld\",\"plan\":\"gold\"}", i);
        edm_recipient r = {email, d, vars};
        enum edm_add_outcome o;
        if (st->ops->upload_add(up, &r, &o) != 0 || o != EDM_ADD_ACCEPTED) {
            fprintf(stderr, "insert %ld failed: %s\n", i, edm_store_errmsg(st));
            return 1;
        }
    }
    if (st->ops->upload_end(up, 1) != 0)
        return 1;
    double t1 = now_s();

    edm_result *res = calloc(batch, sizeof *res);
    long claimed = 0, recorded = 0;
    double claim_s = 0, record_s = 0;
    int64_t now = edm_time_now(), cursor = 0;
    for (;;) {
        edm_job *jobs;
        size_t got;
        double a = now_s();
        if (st->ops->claim(st, cid, now, 3600, &cursor, batch, &jobs, &got) != 0)
            return 1;
        double b = now_s();
        claim_s += b - a;
        if (got == 0)
            break;
        claimed += (long)got;
        for (size_t i = 0; i < got; i++) {
            res[i] = (edm_result){.id = jobs[i].id,
                                  .status = EDM_DSTATE_DELIVERED,
                                  .attempted = 1,
                                  .attempted_at = now,
                                  .smtp_code = 250,
                                  .enhanced_code = "2.0.0",
                                  .response = "2.0.0 Ok: queued as X",
                                  .mx_host = "mx.a.test",
                                  .mx_ip = "127.0.1.1",
                                  .source_ip = "127.0.0.2",
                                  .remote_queue_id = "X",
                                  .duration_ms = 3};
        }
        a = now_s();
        if (st->ops->record(st, res, got) != 0)
            return 1;
        record_s += now_s() - a;
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
    double ins = (double)n / (t1 - t0);
    printf("rows: %ld, batch: %zu\n", n, batch);
    printf("insert (upload):             %10.0f rows/s  (%.2f s)\n", ins, t1 - t0);
    printf("claim (read due rows):       %10.0f rows/s  (%.2f s)\n", (double)n / claim_s, claim_s);
    printf("record (result + event):     %10.0f rows/s  (%.2f s)\n", (double)n / record_s,
           record_s);
    printf("claim + record, per row:     %10.0f rows/s  (%.2f s)\n",
           (double)n / (claim_s + record_s), claim_s + record_s);
    return 0;
}
