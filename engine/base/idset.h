/*
 * engine/base/idset.h: a set of positive int64 ids. Zero-initialise an
 * edm_idset to start; edm_idset_free releases it.
 */
#ifndef EDM_IDSET_H
#define EDM_IDSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct edm_idset {
    int64_t *slots; /* 0 empty, -1 deleted */
    size_t cap, used, live;
} edm_idset;

int edm_idset_has(const edm_idset *s, int64_t id);
/* 0 or EDM_ENOMEM. */
int edm_idset_add(edm_idset *s, int64_t id);
void edm_idset_del(edm_idset *s, int64_t id);
void edm_idset_free(edm_idset *s);

#endif
