/*
 * tests/support/testlib.c: test helpers (see testlib.h). Everything here aborts the
 * test run loudly on setup failures rather than letting a test pass on a
 * half-started environment.
 */
#include "tests/support/testlib.h"
#include "engine/store/schema.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *tmp_base(void)
{
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

char *edm_test_tmpdir(const char *tag)
{
    char *path = malloc(4096);
    if (path == NULL)
        abort();
    snprintf(path, 4096, "%s/edm-%s-XXXXXX", tmp_base(), tag ? tag : "test");
    if (mkdtemp(path) == NULL) {
        fprintf(stderr, "mkdtemp %s: %s\n", path, strerror(errno));
        abort();
    }
    return path;
}

void edm_test_rmtree(const char *path)
{
    const char *base = tmp_base();
    if (path == NULL ||
        (strncmp(path, base, strlen(base)) != 0 && strncmp(path, "/tmp/", 5) != 0) ||
        strstr(path, "..") != NULL) {
        fprintf(stderr, "refusing to remove %s\n", path ? path : "(null)");
        return;
    }
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "rm -rf %s failed\n", path);
}

char *edm_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0, r;
    char *d = malloc(cap);
    while (d && (r = fread(d + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            d = realloc(d, cap);
        }
    }
    fclose(f);
    if (d == NULL)
        return NULL;
    d[n] = '\0';
    if (len)
        *len = n;
    return d;
}

int edm_test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

const char *edm_test_src(const char *rel)
{
    static char bufs[8][4096];
    static int next;
    const char *src = getenv("EDM_SOURCE_DIR");
    char *b = bufs[next++ % 8];
    snprintf(b, 4096, "%s/%s", src ? src : ".", rel);
    return b;
}

const char *edm_test_bin(void)
{
    const char *b = getenv("EDM_BIN");
    return b ? b : "edm";
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

int edm_test_run(const char *cmd, char **out)
{
    char *full = malloc(strlen(cmd) + 16);
    sprintf(full, "(%s) 2>&1", cmd);
    FILE *p = popen(full, "r");
    free(full);
    if (p == NULL)
        return -1;
    size_t cap = 4096, n = 0, r;
    char *d = malloc(cap);
    while ((r = fread(d + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            d = realloc(d, cap);
        }
    }
    d[n] = '\0';
    int st = pclose(p);
    if (out)
        *out = d;
    else
        free(d);
    return decode_status(st);
}

pid_t edm_test_spawn(char *const argv[], const char *logpath)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0);
        /* A test that dies (a failed assertion, a signal) takes its servers
         * with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(logpath ? logpath : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0) {
            dup2(in, 0);
            close(in);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

int edm_test_wait_exit(pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return decode_status(st);
        if (r < 0)
            return -1;
        edm_test_sleep_ms(10);
    }
    return -1;
}

int edm_test_stop(pid_t pid, int grace_ms)
{
    if (pid <= 0)
        return -1;
    /* One signal, to the group the child leads (it also reaches what the
     * child started); a second one could land after the child's handler is
     * gone and turn a clean shutdown into a kill. */
    if (kill(-pid, SIGTERM) != 0)
        kill(pid, SIGTERM);
    int st = edm_test_wait_exit(pid, grace_ms);
    if (st >= 0)
        return st;
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    int raw;
    if (waitpid(pid, &raw, 0) == pid)
        return decode_status(raw);
    return -1;
}

/* A port below the kernel's ephemeral range (32768 and up on Linux), so
 * that no client socket of a parallel test can be given it between this
 * check and the server's bind; picked at random and checked free. */
int edm_test_free_port(const char *ip)
{
    static unsigned seed;
    if (seed == 0)
        seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
    for (int tries = 0; tries < 1000; tries++) {
        seed = seed * 1103515245u + 12345u;
        int port = 20000 + (int)((seed >> 8) % 12000);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {0};
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, ip, &sa.sin_addr);
        if (fd < 0) {
            fprintf(stderr, "free port on %s: %s\n", ip, strerror(errno));
            abort();
        }
        int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
        if (ok)
            return port;
    }
    fprintf(stderr, "free port on %s: none free in 20000-31999\n", ip);
    abort();
}

int edm_test_wait_port(const char *ip, int port, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {0};
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, ip, &sa.sin_addr);
        int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
        if (ok)
            return 0;
        edm_test_sleep_ms(20);
    }
    return -1;
}

long edm_test_count_files(const char *dir)
{
    long n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

void edm_test_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int edm_test_migrations(void)
{
    int n = 0;
    for (const struct edm_migration *m = edm_migrations; m->version; m++)
        n++;
    return n;
}

int edm_test_schema_version(void)
{
    int v = 0;
    for (const struct edm_migration *m = edm_migrations; m->version; m++)
        v = m->version > v ? m->version : v;
    return v;
}
