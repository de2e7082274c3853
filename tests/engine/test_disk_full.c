/*
 * tests/engine/test_disk_full.c: a real full filesystem under the database
 * (issue "hold under abuse and faults", Deliver 2; docs/api.md, "Per-recipient
 * delivery states": after a crash at most the messages in flight are sent
 * twice). The database lives on a small tmpfs mounted here; `edm send`
 * (pipeline.window WINDOW) sends a campaign to smtp-sink, which dumps one
 * file per message. Mid-campaign a filler file takes every free byte of the
 * tmpfs, so outcome writes fail: sending must stop within the window (the
 * unrecorded outcomes count against it). Then kill -9, the filler is removed,
 * `edm serve` finishes the campaign. Every recipient is delivered in the
 * store, and the sink got at most WINDOW messages more than recipients.
 *
 * The test runs as root (mount); if the kernel refuses the mount it fails,
 * saying so. Every server it starts and the mount are undone in the
 * teardown, also when an assertion fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECIPIENTS 4000
#define WINDOW     50    /* pipeline.window */
#define PER_MINUTE 30000 /* 500/s: the campaign lasts seconds, the fill lands mid-way */
#define FILL_AT    1000  /* messages at the sink before the filesystem is filled */
#define TMPFS_SIZE "32m"

/* What the teardown undoes. */
static struct {
    char *dir;
    char mnt[4300];
    int mounted;
    pid_t sink, send, serve;
} g;

/* Writes path until the filesystem refuses (ENOSPC); returns the bytes
 * written, or -1 if it stopped for another reason. */
static long long fill(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    static char buf[65536];
    long long total = 0;
    size_t chunk = sizeof buf;
    for (;;) {
        ssize_t w = write(fd, buf, chunk);
        if (w > 0) {
            total += w;
            continue;
        }
        if (w < 0 && errno == ENOSPC && chunk > 1) {
            chunk /= 2; /* the last pages, down to the last byte */
            continue;
        }
        int full = w < 0 && errno == ENOSPC;
        close(fd);
        return full ? total : -1;
    }
}

static int contains(const char *path, const char *needle)
{
    char *s = edm_test_read_file(path, NULL);
    int yes = s && strstr(s, needle) != NULL;
    free(s);
    return yes;
}

static int teardown(void **state)
{
    (void)state;
    if (g.send > 0)
        edm_test_stop(g.send, 2000);
    if (g.serve > 0)
        edm_test_stop(g.serve, 5000);
    if (g.sink > 0)
        edm_test_stop(g.sink, 2000);
    if (g.mounted && umount(g.mnt) != 0)
        umount2(g.mnt, MNT_DETACH);
    if (g.dir) {
        edm_test_rmtree(g.dir);
        free(g.dir);
    }
    memset(&g, 0, sizeof g);
    return 0;
}

static void disk_full_then_kill9_duplicates_within_window(void **state)
{
    (void)state;
    g.dir = edm_test_tmpdir("diskfull");
    assert_int_equal(chmod(g.dir, 0755), 0); /* smtp-sink writes as nobody */
    char dump[4200], path[4300], db[4400], filler[4400], slog[4300], addr[64], tmpl[4300];
    snprintf(g.mnt, sizeof g.mnt, "%s/fs", g.dir);
    assert_int_equal(mkdir(g.mnt, 0700), 0);
    if (mount("tmpfs", g.mnt, "tmpfs", 0, "size=" TMPFS_SIZE ",mode=0700") != 0)
        fail_msg("mount -t tmpfs on %s refused: %s (this test needs root and a kernel that "
                 "allows tmpfs mounts)",
                 g.mnt, strerror(errno));
    g.mounted = 1;
    snprintf(db, sizeof db, "%s/edm.db", g.mnt);
    snprintf(filler, sizeof filler, "%s/filler", g.mnt);

    snprintf(dump, sizeof dump, "%s/dump", g.dir);
    assert_int_equal(mkdir(dump, 0777), 0);
    assert_int_equal(chmod(dump, 0777), 0);
    int port = edm_test_free_port("127.0.0.1"), api = edm_test_free_port("127.0.0.1");
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    snprintf(tmpl, sizeof tmpl, "%s/%%H%%M%%S.", dump);
    snprintf(path, sizeof path, "%s/sink.log", g.dir);
    char *sargv[] = {"smtp-sink", "-u", "nobody", "-m", "200", "-d", tmpl, addr, "256", NULL};
    g.sink = edm_test_spawn(sargv, path);
    assert_int_equal(edm_test_wait_port("127.0.0.1", port, 10000), 0);

    char json[6000];
    snprintf(json, sizeof json,
             "{\"db\": \"%s\", \"api\": {\"listen\": \"127.0.0.1:%d\"},"
             " \"smtp\": {\"helo\": \"edm.test\", \"tls\": \"none\"},"
             " \"pipeline\": {\"window\": %d},"
             " \"domains\": [{\"match\": \"*\", \"max_connections\": 4,"
             " \"max_per_minute\": %d}],"
             " \"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:%d\"}]}",
             db, api, WINDOW, PER_MINUTE, port);
    snprintf(path, sizeof path, "%s/edm.json", g.dir);
    assert_int_equal(edm_test_write_file(path, json, strlen(json)), 0);
    const char *tpl = "{\"subject\": \"n{{n}}\", \"text\": \"message {{n}}\"}";
    snprintf(path, sizeof path, "%s/t.json", g.dir);
    assert_int_equal(edm_test_write_file(path, tpl, strlen(tpl)), 0);
    snprintf(path, sizeof path, "%s/r.csv", g.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "email,n\n");
    for (int i = 0; i < RECIPIENTS; i++)
        fprintf(f, "r%d@d.test,%d\n", i, i);
    assert_int_equal(fclose(f), 0);

    /* edm send, until FILL_AT messages reached the sink. */
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(g.dir), 0);
    char *argv[] = {(char *)edm_test_bin(), "send",   "-q",           "-c",    "edm.json",
                    "--template",           "t.json", "--recipients", "r.csv", "--from",
                    "a@example.com",        NULL};
    snprintf(slog, sizeof slog, "%s/send.log", g.dir);
    g.send = edm_test_spawn(argv, slog);
    assert_int_equal(chdir(cwd), 0);
    assert_true(g.send > 0);
    long seen = 0;
    for (int i = 0; i < 6000 && seen < FILL_AT; i++) {
        edm_test_sleep_ms(5);
        seen = edm_test_count_files(dump);
    }
    if (seen < FILL_AT)
        fail_msg("only %ld messages at the sink after 30 s (see %s)", seen, slog);

    /* The filesystem fills up under the running campaign. */
    long long filled = fill(filler);
    long at_fill = edm_test_count_files(dump);
    if (filled < 0)
        fail_msg("filling %s: %s", filler, strerror(errno));
    if (at_fill >= RECIPIENTS)
        fail_msg("the campaign was over before the filesystem was full (%ld messages)", at_fill);

    /* Sending stops: no new message at the sink for 2 s (500/s when it runs). */
    long before = -1, now = edm_test_count_files(dump);
    int stable_ms = 0, waited = 0;
    while (stable_ms < 2000 && waited < 60000) {
        edm_test_sleep_ms(100);
        waited += 100;
        before = now;
        now = edm_test_count_files(dump);
        stable_ms = now == before ? stable_ms + 100 : 0;
    }
    long at_stall = now;
    int recorded = edm_test_store_value(db, "SELECT count(*) FROM deliveries WHERE status = 2");
    int failed_logged = contains(slog, "event=record_failed");
    printf("filled %lld bytes at %ld messages; sending stopped at %ld (%d recorded delivered, "
           "%d ms to stop)\n",
           filled, at_fill, at_stall, recorded, waited - stable_ms);
    if (stable_ms < 2000)
        fail_msg("sending did not stop within 60 s of a full disk (%ld messages)", at_stall);
    if (!failed_logged)
        fail_msg("no event=record_failed in %s: the full disk did not refuse the outcomes", slog);
    assert_true(recorded >= 0);
    /* What was sent and is not recorded is at most the window (before the
     * window counted unrecorded outcomes: all 4,000 sent, 924 recorded). */
    if (at_stall - recorded > WINDOW)
        fail_msg("%ld messages sent but only %d recorded: more than the window (%d) unrecorded",
                 at_stall, recorded, WINDOW);
    assert_true(at_stall < RECIPIENTS);

    /* kill -9, space freed, `edm serve` finishes the campaign. */
    kill(g.send, SIGKILL);
    assert_int_equal(edm_test_wait_exit(g.send, 5000), 128 + SIGKILL);
    g.send = 0;
    assert_int_equal(unlink(filler), 0);
    snprintf(slog, sizeof slog, "%s/serve.log", g.dir);
    snprintf(path, sizeof path, "%s/edm.json", g.dir);
    char *vargv[] = {(char *)edm_test_bin(), "serve", "-c", path, NULL};
    setenv("EDM_API_KEYS", "k", 1);
    g.serve = edm_test_spawn(vargv, slog);
    assert_true(g.serve > 0);
    int status = 0;
    for (int i = 0; i < 1200; i++) {
        status = edm_test_store_value(db, "SELECT status FROM campaigns WHERE id = 1");
        if (status == 4) /* completed */
            break;
        edm_test_sleep_ms(50);
    }
    assert_int_equal(edm_test_stop(g.serve, 5000), 0);
    g.serve = 0;
    edm_test_sleep_ms(200); /* smtp-sink finishes writing its last files */
    long received = edm_test_count_files(dump);
    printf("after kill -9 and restart: %ld messages at the sink for %d recipients "
           "(%ld duplicates, window %d)\n",
           received, RECIPIENTS, received - RECIPIENTS, WINDOW);
    assert_int_equal(status, 4);
    assert_int_equal(edm_test_store_value(db, "SELECT count(*) FROM deliveries"), RECIPIENTS);
    assert_int_equal(edm_test_store_value(db, "SELECT count(*) FROM deliveries WHERE status = 2"),
                     RECIPIENTS);
    assert_int_equal(edm_test_store_value(db, "SELECT count(DISTINCT email) FROM deliveries"),
                     RECIPIENTS);
    assert_int_equal(
        edm_test_store_value(
            db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"),
        1);
    assert_true(received >= RECIPIENTS);
    assert_true(received - RECIPIENTS <= WINDOW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(disk_full_then_kill9_duplicates_within_window, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
