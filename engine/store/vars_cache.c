/*
 * engine/store/vars_cache.c: the names cache of a store handle (see
 * vars_cache.h): a small round-robin table of names texts and their ids
 * for writers, a direct-mapped table of names objects for readers.
 */
#include "engine/store/vars_cache.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <string.h>

static int id_for(edm_vars_cache *c, const char *names, edm_vars_id_of_fn id_of, void *ctx,
                  int64_t *id)
{
    for (unsigned i = 0; i < EDM_VARS_CACHE_IDS; i++)
        if (c->ids[i].text && strcmp(c->ids[i].text, names) == 0) {
            *id = c->ids[i].id;
            return 0;
        }
    int rc = id_of(ctx, names, id);
    if (rc != 0)
        return rc;
    char *t = edm_strdup(names);
    if (t == NULL)
        return 0; /* not cached: the next row asks again */
    unsigned k = c->next_id++ % EDM_VARS_CACHE_IDS;
    edm_free(c->ids[k].text);
    c->ids[k].text = t;
    c->ids[k].id = *id;
    return 0;
}

int edm_vars_cache_encode(edm_vars_cache *c, edm_buf *out, const char *names,
                          const unsigned char *vals, size_t vals_len, edm_vars_id_of_fn id_of,
                          void *ctx)
{
    int64_t id;
    int rc = id_for(c, names, id_of, ctx, &id);
    if (rc != 0)
        return rc;
    edm_buf_reset(out);
    return edm_vars_encode(out, id, vals, vals_len);
}

int edm_vars_cache_read(edm_vars_cache *c, edm_vars *v, const unsigned char *bin, size_t n,
                        edm_vars_text_of_fn text_of, void *ctx)
{
    if ((v->bin = edm_malloc(n ? n : 1)) == NULL)
        return EDM_ENOMEM;
    memcpy(v->bin, bin, n);
    v->binlen = n;
    int64_t id;
    if (edm_vars_names_id(bin, n, &id) != 0)
        return 0; /* edm_vars_to_json reports it */
    edm_var_names **slot = &c->names[(uint64_t)id % EDM_VARS_CACHE_NAMES];
    if (*slot == NULL || edm_var_names_id(*slot) != id) {
        char *text = NULL;
        int rc = text_of(ctx, id, &text);
        if (rc == EDM_ENOTFOUND)
            return 0;
        if (rc != 0)
            return rc;
        edm_var_names *nm;
        rc = edm_var_names_parse(id, text, strlen(text), &nm, NULL, 0);
        edm_free(text);
        if (rc == EDM_EINVAL)
            return 0;
        if (rc != 0)
            return rc;
        edm_var_names_unref(*slot);
        *slot = nm;
    }
    v->names = edm_var_names_ref(*slot);
    return 0;
}

void edm_vars_cache_forget_ids(edm_vars_cache *c)
{
    for (unsigned i = 0; i < EDM_VARS_CACHE_IDS; i++) {
        edm_free(c->ids[i].text);
        c->ids[i].text = NULL;
    }
}

void edm_vars_cache_free(edm_vars_cache *c)
{
    edm_vars_cache_forget_ids(c);
    for (unsigned i = 0; i < EDM_VARS_CACHE_NAMES; i++) {
        edm_var_names_unref(c->names[i]);
        c->names[i] = NULL;
    }
}
