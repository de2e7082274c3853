/*
 * engine/store/vars_cache.h: a store handle's cache of variable names
 * (engine/store/vars.h), shared by both backends; each fills it through
 * its own statements, given as callbacks.
 *
 * Writers: the id of a names text, inserted when new (a few entries: an
 * upload has one set of names). Ids learned inside a transaction that
 * rolls back must be forgotten (edm_vars_cache_forget_ids), since the
 * row went with it. Readers: the names of an id (direct-mapped on the
 * id, 64 slots), so a claim batch costs one query per names row it has
 * not seen, never one per recipient. var_names rows are never deleted or
 * changed, so a cached row stays right for every connection.
 *
 * One cache per store handle, used from the handle's thread; the names
 * objects it hands out are reference-counted and may go to any thread.
 */
#ifndef EDM_STORE_VARS_CACHE_H
#define EDM_STORE_VARS_CACHE_H

#include "engine/base/buf.h"
#include "engine/store/vars.h"

#define EDM_VARS_CACHE_IDS   8
#define EDM_VARS_CACHE_NAMES 64

typedef struct edm_vars_cache {
    struct {
        char *text;
        int64_t id;
    } ids[EDM_VARS_CACHE_IDS];
    unsigned next_id;
    edm_var_names *names[EDM_VARS_CACHE_NAMES];
} edm_vars_cache;

/* The backend's statements. id_of: the id of text in var_names, inserted
 * if new (inside the writer's transaction). text_of: the text of row id,
 * allocated (edm_free); EDM_ENOTFOUND when there is no such row. Both
 * return 0 or a negative EDM_E* code. */
typedef int (*edm_vars_id_of_fn)(void *ctx, const char *text, int64_t *id);
typedef int (*edm_vars_text_of_fn)(void *ctx, int64_t id, char **text);

/* The compact bytes of a recipient's variables into out (reset first):
 * the id of names (from the cache or id_of), then vals. */
int edm_vars_cache_encode(edm_vars_cache *c, edm_buf *out, const char *names,
                          const unsigned char *vals, size_t vals_len, edm_vars_id_of_fn id_of,
                          void *ctx);

/* Fills v with a copy of stored compact bytes and a reference to their
 * names (from the cache or text_of). Bytes whose header is not the
 * compact form, or whose names row is missing or unreadable, are kept
 * without names: edm_vars_to_json then says what is wrong, and the
 * message fails alone. Returns 0, EDM_ENOMEM, or text_of's failure
 * other than EDM_ENOTFOUND. */
int edm_vars_cache_read(edm_vars_cache *c, edm_vars *v, const unsigned char *bin, size_t n,
                        edm_vars_text_of_fn text_of, void *ctx);

void edm_vars_cache_forget_ids(edm_vars_cache *c);
void edm_vars_cache_free(edm_vars_cache *c);

#endif
