/*
 * engine/feedback/engagement.c: clicks and opens (see engagement.h):
 * token check, what the token resolves to (the token cache, else a store
 * look-up and a render of the recipient's HTML), the machine heuristics,
 * the queued write and its flush timer. Compiled template sets are kept in
 * a small cache keyed by campaign and source version. A repeated click
 * costs an HMAC and a table probe; a first one a look-up and one render.
 */
#include "engine/feedback/engagement.h"
#include "engine/base/alloc.h"
#include "engine/base/cidr.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/feedback/engagement_cache.h"
#include "engine/feedback/engagement_queue.h"
#include "engine/message/track.h"
#include "engine/message/verp.h"
#include "templates/template.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define CACHE_SLOTS 32

typedef struct cached_set {
    int64_t campaign_id, version;
    edm_tpl_set *set;
} cached_set;

struct edm_engagement {
    uv_loop_t *loop;
    uv_timer_t flush_timer;
    int flush_failing; /* the last flush failed (logged once) */
    engagement_cache *tokens;
    engagement_queue *queue;
    void (*done)(void *);
    void *done_arg;
    edm_store *store;
    unsigned char secret[256];
    size_t secret_len;
    char *base_url, *unsub_url;
    edm_cidr *nets;
    size_t nnets;
    int64_t machine_open_seconds;
    cached_set cache[CACHE_SLOTS];
    unsigned next_slot;
    edm_tpl_msg parts;
    edm_buf urls; /* scratch: a render's link URLs */
};

static void on_flush_timer(uv_timer_t *t);

/* The writer thread on a connection of its own, for a database a second
 * connection can reach (not an in-memory one). Without it, writes stay on
 * the loop. */
static void start_writer(edm_engagement *e, const char *db)
{
    if (db == NULL || *db == '\0' || strstr(db, ":memory:") || strstr(db, "mode=memory"))
        return;
    edm_store *wst = NULL;
    char err[256];
    if (edm_store_open(db, &wst, err, sizeof err) != 0) {
        edm_log(EDM_LOG_WARN, "public", "event=engagement_writer_off error=\"%s\"", err);
        return;
    }
    if (engagement_queue_start_writer(e->queue, wst) != 0)
        edm_log(EDM_LOG_WARN, "public", "event=engagement_writer_off error=\"no thread\"");
}

edm_engagement *edm_engagement_new(const edm_engagement_opts *o)
{
    EDM_ASSERT(o->secret_len <= sizeof((edm_engagement *)0)->secret);
    edm_engagement *e = edm_xcalloc(1, sizeof *e);
    e->store = o->store;
    memcpy(e->secret, o->secret, o->secret_len);
    e->secret_len = o->secret_len;
    e->base_url = o->base_url ? edm_xstrdup(o->base_url) : NULL;
    e->unsub_url = o->unsub_url ? edm_xstrdup(o->unsub_url) : NULL;
    e->nets = edm_xcalloc(o->nmachine_ips + 1, sizeof *e->nets);
    for (size_t i = 0; i < o->nmachine_ips; i++)
        if (edm_cidr_parse(o->machine_ips[i], &e->nets[e->nnets]) == 0)
            e->nnets++;
    e->machine_open_seconds = o->machine_open_seconds;
    edm_tpl_msg_init(&e->parts);
    edm_buf_init(&e->urls);
    e->tokens = engagement_cache_new(ENGAGEMENT_CACHE_SLOTS);
    e->queue = engagement_queue_new(o->store, ENGAGEMENT_QUEUE_MAX, ENGAGEMENT_QUEUE_BYTES);
    e->loop = o->loop;
    if (e->loop) {
        uv_timer_init(e->loop, &e->flush_timer);
        e->flush_timer.data = e;
    }
    start_writer(e, o->db);
    return e;
}

static void engagement_free(edm_engagement *e)
{
    void (*done)(void *) = e->done;
    void *done_arg = e->done_arg;
    size_t lost = 0, queued = engagement_queue_len(e->queue);
    engagement_queue_free(e->queue, &lost); /* writes what is queued */
    if (lost)
        edm_log(EDM_LOG_ERROR, "public", "event=engagement_lost count=%zu", lost);
    else if (queued)
        edm_log(EDM_LOG_INFO, "public", "event=engagement_written_at_stop count=%zu", queued);
    for (int i = 0; i < CACHE_SLOTS; i++)
        edm_tpl_set_free(e->cache[i].set);
    engagement_cache_free(e->tokens);
    edm_tpl_msg_free(&e->parts);
    edm_buf_free(&e->urls);
    edm_free(e->nets);
    edm_free(e->base_url);
    edm_free(e->unsub_url);
    edm_free(e);
    if (done)
        done(done_arg);
}

static void timer_closed(uv_handle_t *h)
{
    engagement_free(h->data);
}

static int flush(edm_engagement *e, int wait)
{
    int rc = engagement_queue_flush(e->queue, wait);
    if (rc != 0 && !e->flush_failing)
        edm_log(EDM_LOG_ERROR, "public", "event=engagement_flush_failed queued=%zu error=%s",
                engagement_queue_len(e->queue), edm_strerror(rc));
    else if (rc == 0 && e->flush_failing)
        edm_log(EDM_LOG_INFO, "public", "event=engagement_flush_recovered");
    e->flush_failing = rc != 0;
    return rc;
}

int edm_engagement_flush(edm_engagement *e)
{
    return flush(e, 1);
}

void edm_engagement_close(edm_engagement *e, void (*done)(void *arg), void *arg)
{
    if (e == NULL) {
        if (done)
            done(arg);
        return;
    }
    e->done = done;
    e->done_arg = arg;
    if (e->loop) {
        uv_timer_stop(&e->flush_timer);
        uv_close((uv_handle_t *)&e->flush_timer, timer_closed);
    } else {
        engagement_free(e);
    }
}

static void on_flush_timer(uv_timer_t *t)
{
    edm_engagement *e = t->data;
    flush(e, 0);
    if (engagement_queue_waiting(e->queue) > 0) /* not handed over yet, or failed */
        uv_timer_start(&e->flush_timer, on_flush_timer, ENGAGEMENT_FLUSH_MS, 0);
}

/* Queues r; hands the queue over (or writes it) when it is due or full. */
static int enqueue(edm_engagement *e, const edm_engagement_rec *r)
{
    int rc = engagement_queue_add(e->queue, r);
    if (rc == EDM_EBUSY) { /* full: make room now, then queue */
        if ((rc = flush(e, 1)) != 0)
            return rc;
        rc = engagement_queue_add(e->queue, r);
    }
    if (rc != 0)
        return rc;
    if (engagement_queue_waiting(e->queue) >= ENGAGEMENT_FLUSH_AT)
        flush(e, 0); /* on failure they stay queued */
    else if (e->loop && !uv_is_active((uv_handle_t *)&e->flush_timer))
        uv_timer_start(&e->flush_timer, on_flush_timer, ENGAGEMENT_FLUSH_MS, 0);
    return 0;
}

/* User agents of machines that fetch images or follow links for a
 * reader (docs/tracking.md, "Machine opens and clicks"). */
static const char *const machine_agents[] = {
    "GoogleImageProxy", "YahooMailProxy", "Barracuda",
    "Mimecast",         "Proofpoint",     "ms-office",
    "Microsoft Office", "SafeLinks",      "bot",
    "spider",           "crawler",        "preview",
    "python-requests",  "Go-http-client", "HeadlessChrome",
};

int edm_engagement_is_machine(const edm_engagement *e, const char *ua, const char *ip,
                              int64_t delivered_at, int64_t now)
{
    /* Apple Mail Privacy Protection fetches with a bare "Mozilla/5.0";
     * a request without a user agent is no reader's mail client either. */
    if (ua == NULL || *ua == '\0' || strcmp(ua, "Mozilla/5.0") == 0)
        return 1;
    size_t ul = strlen(ua);
    for (size_t i = 0; i < sizeof machine_agents / sizeof machine_agents[0]; i++) {
        size_t ml = strlen(machine_agents[i]);
        for (size_t j = 0; j + ml <= ul; j++)
            if (strncasecmp(ua + j, machine_agents[i], ml) == 0)
                return 1;
    }
    for (size_t i = 0; ip && i < e->nnets; i++)
        if (edm_cidr_contains(&e->nets[i], ip))
            return 1;
    return e->machine_open_seconds > 0 && delivered_at > 0 &&
           now - delivered_at < e->machine_open_seconds;
}

/* The compiled HTML source of a campaign (cached), or NULL. */
static edm_tpl_set *source_of(edm_engagement *e, const edm_track_target *t, int *rc)
{
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (e->cache[i].set && e->cache[i].campaign_id == t->campaign_id &&
            e->cache[i].version == t->source_version)
            return e->cache[i].set;
    edm_template_row tr;
    if ((*rc = e->store->ops->track_source(e->store, t->campaign_id, &tr)) != 0)
        return NULL;
    json_t *partials = json_object();
    for (size_t i = 0; i < tr.npartials; i++)
        json_object_set_new(partials, tr.partials[i].name, json_string(tr.partials[i].value));
    json_t *src =
        json_pack("{s:o, s:s}", "partials", partials, "subject", tr.subject ? tr.subject : "");
    if (tr.html)
        json_object_set_new(src, "html", json_string(tr.html));
    edm_template_row_clear(&tr);
    edm_tpl_set *set = NULL;
    edm_tpl_error terr;
    *rc = json_object_get(src, "html") ? edm_tpl_set_compile(&set, src, &terr) : EDM_ENOTFOUND;
    json_decref(src);
    if (*rc != 0)
        return NULL;
    cached_set *slot = &e->cache[e->next_slot++ % CACHE_SLOTS];
    edm_tpl_set_free(slot->set);
    *slot = (cached_set){t->campaign_id, t->source_version, set};
    return set;
}

/* Renders delivery t's HTML and keeps the URLs of its tracked links in ent. */
static int render_links(edm_engagement *e, int64_t id, const edm_track_target *t,
                        engagement_entry *ent)
{
    int rc = 0;
    edm_tpl_set *set = source_of(e, t, &rc);
    if (set == NULL)
        return rc;
    json_t *vars;
    char verr[160];
    if ((rc = edm_vars_to_json(&t->vars, &vars, verr, sizeof verr)) != 0) {
        if (rc == EDM_EINVAL)
            edm_log(EDM_LOG_WARN, "public", "event=vars_unreadable campaign=%lld error=\"%s\"",
                    (long long)t->campaign_id, verr);
        return rc == EDM_EINVAL ? EDM_ENOTFOUND : rc;
    }
    if (!json_object_get(vars, "email"))
        json_object_set_new(vars, "email", json_string(t->email));
    /* {{unsubscribe_url}} as the message had it (engine/message/message.c):
     * with a base_url there is always an https URL. */
    if (!t->is_message && !json_object_get(vars, "unsubscribe_url")) {
        char tok[EDM_VERP_TOKEN_MAX];
        const char *u = t->unsubscribe ? t->unsubscribe : e->unsub_url;
        edm_buf_reset(&e->urls);
        if (edm_verp_token(tok, EDM_VERP_UNSUB, e->secret, e->secret_len, (uint64_t)id) < 0 ||
            (u ? edm_verp_unsub_url(&e->urls, u, tok)
               : edm_buf_appendf(&e->urls, "%s/u/%s", e->base_url, tok)) != 0) {
            json_decref(vars);
            return EDM_ENOTFOUND;
        }
        json_object_set_new(vars, "unsubscribe_url", json_stringn(e->urls.data, e->urls.len));
    }
    edm_tpl_error terr;
    rc = edm_tpl_set_render(set, vars, NULL, &e->parts, &terr);
    json_decref(vars);
    if (rc != 0)
        return EDM_ENOTFOUND;
    /* The same unsubscribe prefix the message was built with
     * (engine/campaign/pipeline_campaign.c): the campaign's, else the
     * config's; none for transactional messages. */
    const char *unsub = t->is_message ? NULL : t->unsubscribe ? t->unsubscribe : e->unsub_url;
    uint32_t count = 0;
    edm_buf_reset(&e->urls);
    if ((rc = edm_track_links(e->base_url, unsub, e->parts.html.data, e->parts.html.len, &e->urls,
                              &count)) != 0)
        return rc;
    engagement_entry_set_urls(ent, e->urls.data, e->urls.len, count);
    return 0;
}

/* What delivery id resolves to: from the cache, else from the store (and
 * rendered when a click needs its links). NULL with *rc set on failure. */
static engagement_entry *resolve(edm_engagement *e, int64_t id, int need_links, int64_t now,
                                 int *rc)
{
    engagement_entry *ent = engagement_cache_get(e->tokens, id, now);
    if (ent && (ent->urls || !need_links))
        return ent;
    edm_track_target t;
    if ((*rc = e->store->ops->track_lookup(e->store, id, &t)) != 0)
        return NULL;
    ent = engagement_cache_put(e->tokens, id, t.delivered_at, now);
    ent->campaign_id = t.campaign_id;
    ent->track = t.track;
    if (need_links && (t.track & EDM_TRACK_CLICKS))
        *rc = render_links(e, id, &t, ent);
    edm_vars_clear(&t.vars);
    edm_free(t.unsubscribe);
    if (*rc != 0) {
        ent->delivery_id = 0; /* not kept */
        return NULL;
    }
    return ent;
}

static int engage(edm_engagement *e, enum edm_event_type type, const char *tok, size_t n,
                  const char *ua, const char *ip, int64_t now, edm_buf *url, int record)
{
    uint64_t id;
    uint32_t link = 0;
    int click = type == EDM_EVENT_CLICK;
    enum edm_verp_kind kind = click ? EDM_VERP_CLICK : EDM_VERP_OPEN;
    if (e->base_url == NULL ||
        edm_verp_track_check(tok, n, kind, e->secret, e->secret_len, &id, &link) != 0 || id == 0 ||
        id > INT64_MAX)
        return EDM_ENOTFOUND;
    int rc = 0;
    engagement_entry *ent = resolve(e, (int64_t)id, click, now, &rc);
    if (ent == NULL)
        return rc;
    if ((ent->track & (click ? EDM_TRACK_CLICKS : EDM_TRACK_OPENS)) == 0)
        return EDM_ENOTFOUND;
    const char *target = NULL;
    if (click) {
        if ((target = engagement_entry_url(ent, link)) == NULL)
            return EDM_ENOTFOUND;
        if (edm_buf_append_str(url, target) != 0 || edm_buf_append_char(url, '\0') != 0)
            return EDM_ENOMEM;
        url->len--;
    }
    if (!record)
        return 0;
    edm_engagement_rec r = {
        .delivery_id = (int64_t)id,
        .type = type,
        .at = now,
        .link = click ? (int)link : -1,
        .url = target,
        .machine = edm_engagement_is_machine(e, ua, ip, ent->delivered_at, now),
        .user_agent = ua,
        .ip = ip,
    };
    if ((rc = enqueue(e, &r)) == 0)
        edm_log(EDM_LOG_DEBUG, "public", "event=%s delivery=%lld link=%d machine=%d",
                click ? "click" : "open", (long long)id, r.link, r.machine);
    return rc;
}

int edm_engagement_click(edm_engagement *e, const char *tok, size_t n, const char *ua,
                         const char *ip, int64_t now, edm_buf *url, int record)
{
    return engage(e, EDM_EVENT_CLICK, tok, n, ua, ip, now, url, record);
}

int edm_engagement_open(edm_engagement *e, const char *tok, size_t n, const char *ua,
                        const char *ip, int64_t now, int record)
{
    return engage(e, EDM_EVENT_OPEN, tok, n, ua, ip, now, NULL, record);
}
