/*
 * engine/config/config_node.c: the "node" object of the config
 * (docs/config.md, docs/postgresql.md): the id this engine has among the
 * sending nodes sharing one database (default "<host name>:<API port>",
 * filled in by the engine) and how long it stays alive without a
 * heartbeat before its claimed recipients pass to the other nodes.
 * Errors name the key path (node.lease: ...).
 */
#include "engine/base/alloc.h"
#include "engine/config/config_int.h"

#include <string.h>

static bool check_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 100)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._:-", *p)))
            return false;
    return true;
}

void config_parse_node(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    json_t *o = json_object_get(root, "node");
    if (o == NULL || json_is_null(o))
        return;
    size_t old = config_enter_key(c, "node");
    if (!json_is_object(o)) {
        config_error(c, "expected an object");
        config_leave(c, old);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        size_t o2 = config_enter_key(c, k);
        if (strcmp(k, "id") == 0) {
            if (json_is_null(v)) {
                edm_free(cfg->node.id);
                cfg->node.id = NULL;
            } else if (!json_is_string(v) || !check_id(json_string_value(v)))
                config_error(c, "expected 1 to 100 letters, digits or . _ : -");
            else {
                edm_free(cfg->node.id);
                cfg->node.id = edm_xstrdup(json_string_value(v));
            }
        } else if (strcmp(k, "lease") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 3 || json_integer_value(v) > 3600)
                config_error(c, "expected an integer from 3 to 3600 (seconds)");
            else
                cfg->node.lease = json_integer_value(v);
        } else {
            config_error(c, "unknown key");
        }
        config_leave(c, o2);
    }
    config_leave(c, old);
}
