/*
 * engine/feedback/engagement.c: clicks and opens (see engagement.h):
 * token check, re-render of the link's URL, the machine heuristics, the
 * store write. Compiled template sets are kept in a small cache keyed by
 * campaign and source version, so a click costs a store look-up, one
 * render and one write.
 */
#include "engine/feedback/engagement.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/message/track.h"
#include "engine/message/verp.h"
#include "templates/template.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define CACHE_SLOTS 32

typedef struct network {
    int family;
    unsigned char addr[16];
    int bits;
} network;

typedef struct cached_set {
    int64_t campaign_id, version;
    edm_tpl_set *set;
} cached_set;

struct edm_engagement {
    edm_store *store;
    unsigned char secret[256];
    size_t secret_len;
    char *base_url, *unsub_url;
    network *nets;
    size_t nnets;
    int64_t machine_open_seconds;
    cached_set cache[CACHE_SLOTS];
    unsigned next_slot;
    edm_tpl_msg parts;
};

static int parse_network(const char *s, network *n)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    size_t len = slash ? (size_t)(slash - s) : strlen(s);
    if (len >= sizeof ip)
        return -1;
    memcpy(ip, s, len);
    ip[len] = '\0';
    n->family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(n->family, ip, n->addr) != 1)
        return -1;
    n->bits = slash ? atoi(slash + 1) : (n->family == AF_INET ? 32 : 128);
    return 0;
}

static int in_network(const network *n, const char *ip)
{
    unsigned char a[16];
    int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (family != n->family || inet_pton(family, ip, a) != 1)
        return 0;
    int full = n->bits / 8, rest = n->bits % 8;
    if (memcmp(a, n->addr, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (n->addr[full] & mask);
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
        if (parse_network(o->machine_ips[i], &e->nets[e->nnets]) == 0)
            e->nnets++;
    e->machine_open_seconds = o->machine_open_seconds;
    edm_tpl_msg_init(&e->parts);
    return e;
}

void edm_engagement_free(edm_engagement *e)
{
    if (e == NULL)
        return;
    for (int i = 0; i < CACHE_SLOTS; i++)
        edm_tpl_set_free(e->cache[i].set);
    edm_tpl_msg_free(&e->parts);
    edm_free(e->nets);
    edm_free(e->base_url);
    edm_free(e->unsub_url);
    edm_free(e);
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
        if (in_network(&e->nets[i], ip))
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

/* The URL of link `link` of delivery t as it was rendered. */
static int link_url(edm_engagement *e, const edm_track_target *t, uint32_t link, edm_buf *url)
{
    int rc = 0;
    edm_tpl_set *set = source_of(e, t, &rc);
    if (set == NULL)
        return rc;
    json_error_t jerr;
    json_t *vars = t->vars_json ? json_loads(t->vars_json, 0, &jerr) : json_object();
    if (vars == NULL)
        return EDM_ENOTFOUND;
    if (json_is_object(vars) && !json_object_get(vars, "email"))
        json_object_set_new(vars, "email", json_string(t->email));
    edm_tpl_error terr;
    rc = edm_tpl_set_render(set, vars, NULL, &e->parts, &terr);
    json_decref(vars);
    if (rc != 0)
        return EDM_ENOTFOUND;
    /* The same unsubscribe prefix the message was built with
     * (engine/campaign/pipeline_campaign.c): the campaign's, else the
     * config's; none for transactional messages. */
    const char *unsub = t->is_message ? NULL : t->unsubscribe ? t->unsubscribe : e->unsub_url;
    return edm_track_link(e->base_url, unsub, e->parts.html.data, e->parts.html.len, link, url);
}

static int engage(edm_engagement *e, enum edm_event_type type, const char *tok, size_t n,
                  const char *ua, const char *ip, int64_t now, edm_buf *url)
{
    uint64_t id;
    uint32_t link = 0;
    enum edm_verp_kind kind = type == EDM_EVENT_CLICK ? EDM_VERP_CLICK : EDM_VERP_OPEN;
    if (e->base_url == NULL ||
        edm_verp_track_check(tok, n, kind, e->secret, e->secret_len, &id, &link) != 0 || id == 0 ||
        id > INT64_MAX)
        return EDM_ENOTFOUND;
    edm_track_target t;
    int rc = e->store->ops->track_lookup(e->store, (int64_t)id, &t);
    if (rc != 0)
        return rc;
    unsigned want = type == EDM_EVENT_CLICK ? EDM_TRACK_CLICKS : EDM_TRACK_OPENS;
    size_t start = url ? url->len : 0;
    if ((t.track & want) == 0)
        rc = EDM_ENOTFOUND;
    else if (url)
        rc = link_url(e, &t, link, url);
    if (rc == 0 && url) {
        if (edm_buf_append_char(url, '\0') != 0)
            rc = EDM_ENOMEM;
        else
            url->len--;
    }
    if (rc == 0) {
        edm_engagement_rec r = {
            .delivery_id = (int64_t)id,
            .type = type,
            .at = now,
            .link = type == EDM_EVENT_CLICK ? (int)link : -1,
            .url = url ? url->data + start : NULL,
            .machine = edm_engagement_is_machine(e, ua, ip, t.delivered_at, now),
            .user_agent = ua,
            .ip = ip,
        };
        rc = e->store->ops->engagement_record(e->store, &r, NULL);
        if (rc == 0)
            edm_log(EDM_LOG_DEBUG, "public", "event=%s delivery=%lld link=%d machine=%d",
                    type == EDM_EVENT_CLICK ? "click" : "open", (long long)id, r.link, r.machine);
    }
    edm_free(t.vars_json);
    edm_free(t.unsubscribe);
    return rc;
}

int edm_engagement_click(edm_engagement *e, const char *tok, size_t n, const char *ua,
                         const char *ip, int64_t now, edm_buf *url)
{
    return engage(e, EDM_EVENT_CLICK, tok, n, ua, ip, now, url);
}

int edm_engagement_open(edm_engagement *e, const char *tok, size_t n, const char *ua,
                        const char *ip, int64_t now)
{
    return engage(e, EDM_EVENT_OPEN, tok, n, ua, ip, now, NULL);
}
