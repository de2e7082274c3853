/*
 * api/preview.c: template compilation checks and
 * POST /v1/templates/{id}/preview {"vars": {...}, "raw": false, "from",
 * "to"}: renders the stored template with vars; raw=true asks the engine
 * for the whole signed message (edm_api_engine.render_raw).
 */
#include "api/api_int.h"
#include "engine/err.h"

#include <stdlib.h>
#include <string.h>

int api_template_compile_check(api_call *c, json_t *tpl)
{
    (void)c;
    (void)tpl;
    return 0; /* PENDING: compile with templates/ once it is merged */
}

void api_templates_preview(api_call *c)
{
    api_error(c, 501, "not_implemented", NULL, "PENDING templates module");
}
