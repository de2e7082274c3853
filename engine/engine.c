/*
 * engine/engine.c: builds and tears down the engine (see engine.h). Order
 * of construction: TLS context, DKIM keys, pools, DNS, relay (with the DNS
 * resolver and the SMTP transport as its seams), pipeline, scheduler;
 * teardown in reverse, each part closing its own handles. The heartbeat
 * (node beat, address counters) also kicks the purge of deleted campaigns
 * (engine/campaign/purge.c).
 */
#include "engine/engine.h"
#include "engine/base/addr.h"
#include "engine/base/alloc.h"
#include "engine/message/dkim.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/message/message.h"
#include "engine/campaign/pipeline.h"
#include "engine/campaign/purge.h"
#include "engine/delivery/pool.h"
#include "engine/delivery/relay.h"
#include "engine/delivery/resolve.h"
#include "engine/delivery/transport.h"
#include "engine/campaign/sched.h"
#include "engine/base/timeutil.h"
#include "engine/net/tls.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct edm_engine {
    uv_loop_t *loop;
    const edm_config *cfg;
    edm_store *st;
    edm_store *record_st; /* PostgreSQL: the pipeline's connections for writes */
    edm_store *claim_st;  /* and for claims (engine/campaign/pipeline.h) */
    SSL_CTX *tls;
    edm_dkim_key **keys;
    size_t nkeys;
    edm_pools pools;
    edm_resolver *resolver;
    edm_relay *relay;
    edm_pipeline *pipeline;
    edm_sched *sched;
    void (*stop_cb)(void *);
    void *stop_arg;
    int stopping;
    int lock_fd;      /* flock on <db>.lock: one engine per SQLite database */
    uv_timer_t *beat; /* the node's heartbeat (its own allocation: closed async) */
    edm_purge *purge; /* deleted campaigns' rows (SQLite), kicked by the heartbeat */
    int joined;
};

/* This engine's node id: node.id, or "<host name>:<API port>". */
static void node_id(const edm_config *cfg, char *out, size_t len)
{
    if (cfg->node.id) {
        snprintf(out, len, "%s", cfg->node.id);
        return;
    }
    char host[256] = "edm";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "edm");
    host[sizeof host - 1] = '\0';
    const char *port = cfg->api.listen ? strrchr(cfg->api.listen, ':') : NULL;
    snprintf(out, len, "%s:%s", host, port ? port + 1 : "0");
}

static int node_join(edm_engine *e, char *err, size_t errlen)
{
    const edm_config *cfg = e->cfg;
    char id[128];
    node_id(cfg, id, sizeof id);
    json_t *ips = json_array();
    for (size_t i = 0; i < cfg->npools; i++)
        for (size_t j = 0; j < cfg->pools[i].nips; j++)
            json_array_append_new(ips, json_string(cfg->pools[i].ips[j].addr));
    char *ips_json = json_dumps(ips, JSON_COMPACT);
    json_decref(ips);
    edm_node_info n = {.id = id,
                       .api = cfg->api.listen,
                       .ips_json = ips_json,
                       .now = edm_time_now(),
                       .lease = cfg->node.lease};
    int rc = e->st->ops->node_join(e->st, &n);
    free(ips_json);
    if (rc != 0) {
        snprintf(err, errlen, "%s", edm_store_errmsg(e->st));
        return rc;
    }
    e->joined = 1;
    edm_log(EDM_LOG_INFO, "engine", "event=node_joined node=%s lease=%lld", id,
            (long long)cfg->node.lease);
    return 0;
}

/* The claim connection acts for this engine's node (node_join). */
static int claim_node(edm_engine *e, char *err, size_t errlen)
{
    char id[128];
    node_id(e->cfg, id, sizeof id);
    int rc = e->claim_st->ops->node_attach(e->claim_st, id);
    if (rc != 0)
        snprintf(err, errlen, "%s", edm_store_errmsg(e->claim_st));
    return rc;
}

static void on_beat(uv_timer_t *t)
{
    edm_engine *e = t->data;
    if (e == NULL)
        return;
    int nodes = e->st->ops->node_beat(e->st, edm_time_now());
    if (nodes < 0)
        edm_log(EDM_LOG_WARN, "engine", "event=heartbeat_failed err=\"%s\"",
                edm_store_errmsg(e->st));
    else if (e->pipeline)
        edm_pipeline_set_nodes(e->pipeline, nodes);
    /* Source addresses' counters not saved since their last sends (a
     * burst that ended within a second of the previous save): a crash
     * then loses at most this second, not everything since. */
    if (e->pools.pools)
        edm_pools_save(&e->pools, edm_time_now());
    /* A campaign deleted since (or before a restart): its rows go now. */
    edm_purge_kick(e->purge);
}

static void beat_closed(uv_handle_t *h)
{
    edm_free(h);
}

static void beat_stop(edm_engine *e)
{
    if (e->beat) {
        e->beat->data = NULL;
        uv_close((uv_handle_t *)e->beat, beat_closed);
        e->beat = NULL;
    }
    edm_purge_free(e->purge);
    e->purge = NULL;
}

/* Takes the database's engine lock: two engines on one SQLite store would
 * both claim the same recipients. Returns the fd, -2 when there is nothing
 * to lock (in-memory database), or -1 with err set. */
static int take_lock(const char *db, char *err, size_t errlen)
{
    if (db == NULL || strcmp(db, ":memory:") == 0)
        return -2;
    char path[4200];
    snprintf(path, sizeof path, "%s.lock", db);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fchmod(fd, 0600) != 0) /* ours alone, whatever the umask or an older mode */
        edm_log(EDM_LOG_WARN, "engine", "event=lock_chmod_failed path=%s", path);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, errlen,
                 "%s is in use by another edm engine (pid %s); use its API, or stop it first", db,
                 pid[0] ? pid : "?");
        close(fd);
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        edm_log(EDM_LOG_WARN, "engine", "event=lock_pid_not_written path=%s", path);
    return fd;
}

static void engine_free(edm_engine *e)
{
    beat_stop(e);
    if (e->joined && e->st->ops->node_leave(e->st) != 0)
        edm_log(EDM_LOG_WARN, "engine", "event=node_leave_failed err=\"%s\"",
                edm_store_errmsg(e->st));
    edm_pools_free(&e->pools); /* saves the counters: before the lock goes */
    if (e->record_st)
        edm_store_close(e->record_st);
    if (e->claim_st)
        edm_store_close(e->claim_st);
    if (e->lock_fd >= 0)
        close(e->lock_fd); /* releases the flock */
    for (size_t i = 0; i < e->nkeys; i++)
        edm_dkim_key_free(e->keys[i]);
    edm_free(e->keys);
    if (e->tls)
        tls_ctx_free(e->tls);
    edm_free(e);
}

int edm_engine_start(uv_loop_t *loop, const edm_config *cfg, edm_store *st, edm_engine **out,
                     char *err, size_t errlen)
{
    edm_engine *e = edm_calloc(1, sizeof *e);
    if (e == NULL)
        return EDM_ENOMEM;
    e->loop = loop;
    e->cfg = cfg;
    e->st = st;
    int rc;
    /* SQLite: one engine per database file. PostgreSQL: one engine per
     * node id; several nodes share the database (docs/postgresql.md). */
    e->lock_fd = -2;
    if (!edm_store_is_pg(cfg->db) && (e->lock_fd = take_lock(cfg->db, err, errlen)) == -1) {
        engine_free(e);
        return EDM_ESTATE;
    }
    if ((rc = node_join(e, err, errlen)) != 0) {
        engine_free(e);
        return EDM_ESTATE;
    }
    e->beat = edm_xcalloc(1, sizeof *e->beat);
    uv_timer_init(loop, e->beat);
    e->beat->data = e;
    uv_timer_start(e->beat, on_beat, 1000, 1000);
    e->purge = edm_purge_new(loop, st);
    edm_purge_kick(e->purge); /* what a restart left to purge */
    if ((e->tls = tls_client_ctx_new(err, errlen)) == NULL) {
        engine_free(e);
        return EDM_ETLS;
    }
    e->keys = edm_calloc(cfg->ndkim ? cfg->ndkim : 1, sizeof *e->keys);
    for (size_t i = 0; e->keys && i < cfg->ndkim; i++) {
        const struct edm_config_dkim *d = &cfg->dkim[i];
        char kerr[256];
        if ((rc = edm_dkim_key_load(&e->keys[e->nkeys], d->key, d->domain, d->selector,
                                    d->algorithm, kerr, sizeof kerr)) != 0) {
            snprintf(err, errlen, "dkim[%zu].key: %s", i, kerr);
            engine_free(e);
            return rc;
        }
        e->nkeys++;
    }
    if ((rc = edm_pools_init(&e->pools, cfg, st)) != 0 ||
        (rc = edm_resolver_new(loop, cfg, &e->resolver, err, errlen)) != 0) {
        if (rc == EDM_ENOMEM)
            snprintf(err, errlen, "out of memory");
        engine_free(e);
        return rc;
    }
    edm_relay_opts ro = {.loop = loop,
                         .cfg = cfg,
                         .pools = &e->pools,
                         .resolve = edm_resolver_resolve,
                         .resolve_ctx = e->resolver,
                         .transport = &edm_transport_smtp,
                         .tls_ctx = e->tls,
                         .done = edm_pipeline_on_outcome};
    if ((rc = edm_relay_new(&ro, &e->relay)) != 0) {
        edm_resolver_free(e->resolver);
        engine_free(e);
        return rc;
    }
    /* PostgreSQL: outcomes are written and campaigns' recipients claimed
     * through two more connections on the thread pool, so the loop does
     * not wait for their round trips (engine/campaign/pipeline_record.c,
     * pipeline_claim.c). The claim connection leases to this node. */
    if (edm_store_is_pg(cfg->db) &&
        ((rc = edm_store_open(cfg->db, &e->record_st, err, errlen)) != 0 ||
         (rc = edm_store_open(cfg->db, &e->claim_st, err, errlen)) != 0 ||
         (rc = claim_node(e, err, errlen)) != 0)) {
        edm_relay_free(e->relay);
        edm_resolver_free(e->resolver);
        engine_free(e);
        return rc;
    }
    edm_pipeline_opts po = {.loop = loop,
                            .record_st = e->record_st,
                            .claim_st = e->claim_st,
                            .st = st,
                            .cfg = cfg,
                            .relay = e->relay,
                            .keys = e->keys,
                            .nkeys = e->nkeys,
                            .max_pending = (size_t)cfg->pipeline.window};
    if ((rc = edm_pipeline_new(&po, &e->pipeline)) != 0) {
        snprintf(err, errlen, "pipeline: %s", edm_strerror(rc));
        edm_relay_free(e->relay);
        edm_resolver_free(e->resolver);
        engine_free(e);
        return rc;
    }
    edm_relay_set_ctx(e->relay, e->pipeline);
    edm_sched_hooks hooks = edm_pipeline_sched_hooks(e->pipeline);
    if ((rc = edm_sched_start(loop, st, &hooks, &e->sched)) != 0) {
        edm_pipeline_free(e->pipeline);
        edm_relay_free(e->relay);
        edm_resolver_free(e->resolver);
        engine_free(e);
        return rc;
    }
    edm_log(EDM_LOG_INFO, "engine", "event=started pools=%zu dkim_keys=%zu", cfg->npools, e->nkeys);
    *out = e;
    return 0;
}

static void on_pipeline_stopped(void *arg)
{
    edm_engine *e = arg;
    edm_pipeline_free(e->pipeline);
    edm_relay_free(e->relay);
    edm_resolver_free(e->resolver);
    void (*cb)(void *) = e->stop_cb;
    void *cb_arg = e->stop_arg;
    engine_free(e);
    if (cb)
        cb(cb_arg);
}

static void on_relay_stopped(void *arg)
{
    edm_engine *e = arg;
    edm_pipeline_stop(e->pipeline, on_pipeline_stopped, e);
}

void edm_engine_stop(edm_engine *e, void (*cb)(void *arg), void *arg)
{
    if (e->stopping)
        return;
    e->stopping = 1;
    beat_stop(e);
    e->stop_cb = cb;
    e->stop_arg = arg;
    edm_sched_stop(e->sched);
    e->sched = NULL;
    /* No more claims (and no render work that has not started) before the
     * relay gives its messages back: they stay queued in the store. */
    edm_pipeline_quiesce(e->pipeline);
    edm_relay_stop(e->relay, on_relay_stopped, e);
}

/* Does a relay state entry (ip_states, paused_domains) belong to this
 * pool's address (NULL: the OS-chosen one)? */
static int state_of(json_t *st, const char *pool, const char *addr)
{
    json_t *ip = json_object_get(st, "ip");
    if (strcmp(json_string_value(json_object_get(st, "pool")), pool) != 0)
        return 0;
    return addr ? json_is_string(ip) && strcmp(json_string_value(ip), addr) == 0 : json_is_null(ip);
}

json_t *edm_engine_pools_json(edm_engine *e)
{
    json_t *pools = edm_pools_json(&e->pools, edm_time_mono_ms(), edm_time_now());
    json_t *relay = edm_relay_json(e->relay);
    json_t *paused = json_object_get(relay, "paused_domains");
    json_t *states = json_object_get(relay, "ip_states");
    json_t *out = json_array();
    size_t i, k;
    json_t *pool, *ip;
    json_array_foreach(pools, i, pool)
    {
        const char *name = json_string_value(json_object_get(pool, "name"));
        json_array_foreach(json_object_get(pool, "ips"), k, ip)
        {
            const char *addr = json_string_value(json_object_get(ip, "addr"));
            json_t *o = json_deep_copy(ip);
            json_object_set_new(o, "pool", json_string(name));
            json_object_set(o, "sent_this_hour", json_object_get(ip, "sent_last_hour"));
            json_object_set(o, "rate", json_object_get(ip, "rate_per_minute"));
            json_t *pd = json_array(), *ds = json_array();
            size_t m;
            json_t *d;
            json_array_foreach(paused, m, d)
            {
                if (state_of(d, name, addr))
                    json_array_append_new(
                        pd, json_pack("{s:O, s:O, s:O}", "domain", json_object_get(d, "domain"),
                                      "seconds_left", json_object_get(d, "seconds_left"), "until",
                                      json_object_get(d, "until")));
            }
            json_array_foreach(states, m, d)
            {
                if (state_of(d, name, addr))
                    json_array_append_new(
                        ds, json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "destination",
                                      json_object_get(d, "destination"), "paused_until",
                                      json_object_get(d, "paused_until"), "seconds_left",
                                      json_object_get(d, "seconds_left"), "blocked",
                                      json_object_get(d, "blocked"), "rate_per_minute",
                                      json_object_get(d, "rate_per_minute"), "connections",
                                      json_object_get(d, "connections")));
            }
            json_object_set_new(o, "paused_domains", pd);
            json_object_set_new(o, "destinations", ds);
            json_array_append_new(out, o);
        }
    }
    json_decref(pools);
    json_decref(relay);
    return out;
}

void edm_engine_kick(edm_engine *e)
{
    if (!e->stopping)
        edm_pipeline_kick(e->pipeline);
}

void edm_engine_wake(edm_engine *e)
{
    if (e->sched)
        edm_sched_tick(e->sched);
}

int edm_engine_render_raw(edm_engine *e, json_t *tpl, json_t *vars, const char *from,
                          const char *to, char **msg, size_t *len, char *err, size_t errlen)
{
    edm_buf out = EDM_BUF_INIT;
    const edm_config *cfg = e->cfg;
    /* from or to NULL: the preview's own (edm_message_preview) */
    int rc = edm_message_preview(tpl, vars, from, to, e->keys, e->nkeys, cfg->unsubscribe.url,
                                 cfg->bounce_domain, cfg->message_id_domain,
                                 edm_pipeline_secret(e->pipeline),
                                 edm_pipeline_secret_len(e->pipeline), &out, err, errlen);
    if (rc != 0) {
        edm_buf_free(&out);
        return rc;
    }
    *msg = edm_buf_detach(&out, len);
    return *msg ? 0 : EDM_ENOMEM;
}

double edm_engine_rate_per_minute(edm_engine *e, int64_t campaign_id)
{
    return edm_pipeline_rate_per_minute(e->pipeline, campaign_id);
}

const unsigned char *edm_engine_secret(const edm_engine *e, size_t *len)
{
    *len = edm_pipeline_secret_len(e->pipeline);
    return edm_pipeline_secret(e->pipeline);
}
