/*
 * engine/store/vars.h: a recipient's variables in the ledger, stored
 * compactly (docs/architecture.md, "The ledger"; schema/0013_var_names.sql).
 *
 * The names of an upload's variables are stored once, in a `var_names` row
 * (its text: a JSON array of the names, UNIQUE, so every upload with the
 * same columns shares one row). A delivery then keeps only the bytes
 *
 *     0x01  varint(names id)  { varint(length) bytes }  one per name, in order
 *
 * (varints: unsigned LEB128). Only string values are stored so: a row
 * with a number, a boolean, null, an object or an array among its values
 * keeps the JSON object text, as every row did before; readers take both.
 *
 * Writers hand the store the names text and the values part
 * (edm_recipient.vars_names, .vars_vals); the store finds the names id
 * (inserting the row if new) and prepends the header. Readers get an
 * edm_vars (the stored form plus, for the compact form, a reference to
 * its names) and turn it into the JSON object the templates see with
 * edm_vars_to_json, without parsing JSON text.
 *
 * Names objects are immutable and reference-counted (atomically: a job
 * carries one to the render threads). Returns: 0, EDM_EINVAL for bytes
 * or text that are not what they must be (err says why), EDM_ENOMEM.
 */
#ifndef EDM_STORE_VARS_H
#define EDM_STORE_VARS_H

#include "engine/base/buf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The first byte of the compact form. */
#define EDM_VARS_TAG 0x01

typedef struct edm_var_names edm_var_names;

/* Parses the text of a var_names row (a JSON array of strings) into a
 * names object of id, with one reference for the caller. */
int edm_var_names_parse(int64_t id, const char *text, size_t len, edm_var_names **out, char *err,
                        size_t errlen);
edm_var_names *edm_var_names_ref(edm_var_names *n);
void edm_var_names_unref(edm_var_names *n); /* NULL is fine */
int64_t edm_var_names_id(const edm_var_names *n);
size_t edm_var_names_count(const edm_var_names *n);

/* A recipient's variables as stored: JSON text, the compact form, or
 * neither (no variables). The strings and the reference are the
 * holder's; edm_vars_clear releases them. */
typedef struct edm_vars {
    char *json;         /* JSON object text, or NULL */
    unsigned char *bin; /* the compact form (edm_malloc), or NULL */
    size_t binlen;
    edm_var_names *names; /* bin's names (a reference), set whenever bin is */
} edm_vars;

void edm_vars_clear(edm_vars *v);

/* The variables as the JSON object the templates see ({} for none), with
 * one reference for the caller. A JSON text that is not an object, or a
 * compact form that does not match its names (wrong tag or id, too few or
 * too many values, a length past the end, a value that is not UTF-8 or
 * holds a NUL), is EDM_EINVAL with the reason in err. */
int edm_vars_to_json(const edm_vars *v, json_t **out, char *err, size_t errlen);

/* The names id of compact bytes (their header). 0 or EDM_EINVAL. */
int edm_vars_names_id(const unsigned char *b, size_t n, int64_t *id);

/* Writers. Appends one value (varint length, bytes) to a values part. */
int edm_vars_put_value(edm_buf *vals, const char *s, size_t n);
/* Appends the whole compact form: the header for names_id, then vals. */
int edm_vars_encode(edm_buf *out, int64_t names_id, const unsigned char *vals, size_t vals_len);

/* The compact parts of a JSON object whose values are all strings without
 * NUL characters: names (JSON array text) and vals. Returns 1 when done,
 * 0 when the object must stay JSON text (empty, or a value that is not
 * such a string; names and vals are then left empty), EDM_ENOMEM. */
int edm_vars_from_object(const json_t *obj, edm_buf *names, edm_buf *vals);

/* The JSON object of a names text and a values part as a writer holds
 * them (for tests and tools; readers use edm_vars_to_json). */
int edm_vars_parts_to_json(const char *names, size_t names_len, const unsigned char *vals,
                           size_t vals_len, json_t **out, char *err, size_t errlen);

#endif
