/*
 * engine/delivery/dest.h: a destination's limits, counted per source IP
 * (docs/config.md, "domains"). A destination is what a domains[] rule
 * describes: one recipient domain under a domain rule, or every domain whose
 * MX hosts match an "mx:" rule. For each address of the pool it keeps the
 * open connections, a token bucket per minute and per hour that holds at
 * most `burst` (messages leave evenly spaced), the smooth weighted round
 * robin credit, and the adaptive backoff state (paused until, the reduced
 * rate climbing back, a run of 5xx blocks naming the address). The
 * optional `total` caps count across the addresses.
 *
 * The relay (relay.c) owns destinations; it picks an address for each new
 * connection (edm_dest_pick), asks before each message (edm_dest_take)
 * and reports each result (edm_dest_result). Times are the caller's
 * monotonic milliseconds: the logic is deterministic and sleeps nowhere.
 */
#ifndef EDM_DEST_H
#define EDM_DEST_H

#include "engine/config/config.h"
#include "engine/delivery/pool.h"
#include "engine/delivery/shaper.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct edm_dest_ip {
    unsigned connections;
    edm_bucket minute, hour;
    int64_t credit;        /* smooth weighted round robin */
    uint64_t paused_until; /* monotonic ms; 0: not paused */
    int blocked;           /* the pause is a block (5xx naming the address) */
    double level;          /* share of the rule's rate allowed: 1 = full */
    unsigned block_run;    /* 5xx in a row whose text names the address */
    uint64_t sent;
    int64_t share;      /* messages owed by weight (edm_dest_turn): + behind, - ahead */
    uint64_t last_take; /* monotonic ms of its last message (edm_dest_take); 0: none */
    int competing;      /* scratch for edm_dest_turn: also has work for the destination */
} edm_dest_ip;

typedef struct edm_dest {
    char *key;  /* the recipient domain, or the rule's "mx:..." match */
    char *pool; /* pool name */
    const struct edm_config_domain *rule;
    edm_pool *p; /* the pool's addresses (ips[] parallel to p->ips) */
    edm_dest_ip *ips;
    size_t nips;
    unsigned connections; /* from every address */
    int held;             /* an address waited for its turn by weight */
    edm_bucket total_minute;
    void *wait_head, *wait_tail; /* the owner's list of what waits for a connection */
    void *sessions;              /* the owner's list of sessions holding one */
    struct edm_dest *hnext;      /* the owner's hash chain */
} edm_dest;

enum edm_dest_pick {
    EDM_DEST_PICK_OK,     /* *ip is the address for a new connection */
    EDM_DEST_PICK_BUSY,   /* the eligible addresses are at their connection caps */
    EDM_DEST_PICK_PAUSED, /* every address with weight is paused: *until */
    EDM_DEST_PICK_CAPPED, /* every address is at its hourly or warm-up cap */
    EDM_DEST_PICK_NONE    /* no address has a weight above 0 */
};

/* How a message ended, for the backoff state. */
enum edm_dest_result {
    EDM_DEST_DELIVERED,
    EDM_DEST_BACKOFF,   /* a reply matching backoff.on: pause the address */
    EDM_DEST_BLOCK_5XX, /* a 5xx whose text names the source address */
    EDM_DEST_OTHER
};

/* The longest one address waits for its turn by weight on another that
 * is slow at the receiver: replies that come late without a 4xx (a
 * tarpit), so that backoff never pauses it. An address busy with a
 * message it took this long ago no longer holds the others
 * (edm_dest_holds_until): they send anyway, and the split deviates
 * until it sends again. An address that waits for its own rate's next
 * token still holds them: that is pacing, and weights hold under it. */
#define EDM_DEST_HOLD_MS 1000

/* Consecutive 5xx naming the address that block it; the block lasts this
 * many pauses (at least an hour). */
#define EDM_DEST_BLOCK_RUN    3
#define EDM_DEST_BLOCK_PAUSES 10

edm_dest *edm_dest_new(const char *key, const char *pool, const struct edm_config_domain *rule,
                       edm_pool *p, uint64_t now);
void edm_dest_free(edm_dest *d);

/* Chooses an address for one more connection (does not count it: the
 * caller adds to connections when the session opens). */
enum edm_dest_pick edm_dest_pick(edm_dest *d, uint64_t now, int64_t now_unix, size_t *ip,
                                 uint64_t *until);
/* May address ip send one more message now? 0: yes, a token is taken from
 * each of its buckets; UINT64_MAX: the address is paused for the
 * destination (end the session); else milliseconds until it may. */
uint64_t edm_dest_take(edm_dest *d, size_t ip, uint64_t now);
/* Messages split by weight too, not only connections (a deep queue fills
 * every address's max_connections, and per-address rates are equal):
 * before taking a message, address ip asks whether it is its turn among
 * the addresses whose `competing` flag the caller has set (those that
 * have work for the destination on an open connection now). 1: it may
 * send; 0: it is a message ahead of its weight's share, wait until
 * another address has sent (d->held is set so that the caller wakes it)
 * or, at the latest, until a busy one stops holding it
 * (edm_dest_holds_until).
 * Alone, an address always may, and owes nothing for it. */
int edm_dest_turn(edm_dest *d, size_t ip, uint64_t now);
/* Until when (monotonic ms) a session of address ip busy with a message
 * for d holds the others to their turn: EDM_DEST_HOLD_MS after its last
 * message was taken. The caller counts such a session as competing only
 * before then, and wakes a held address then. */
uint64_t edm_dest_holds_until(const edm_dest *d, size_t ip);
/* Records a result. Returns 1 when it paused the address (backoff or
 * block), 0 otherwise. */
int edm_dest_result(edm_dest *d, size_t ip, enum edm_dest_result res, uint64_t now);
/* Is the address paused for the destination now? */
int edm_dest_paused(const edm_dest *d, size_t ip, uint64_t now);
/* Could address ip hold one more connection to the destination now (it
 * has a weight, is not paused, and neither its cap nor the total is
 * reached)? For a connection that moves in from another destination. */
int edm_dest_admits(const edm_dest *d, size_t ip, uint64_t now);
/* Messages per minute the address may send now (0: no cap). */
double edm_dest_rate(const edm_dest *d, size_t ip);
/* The state of address ip for GET /v1/pools, or NULL when it has nothing
 * to show (not paused, full rate): {destination, pool, paused_until
 * (RFC 3339, null), blocked, rate_per_minute, level, connections}. */
json_t *edm_dest_ip_json(const edm_dest *d, size_t ip, uint64_t now, int64_t now_unix);

#endif
