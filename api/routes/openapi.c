/*
 * api/routes/openapi.c: GET /v1/openapi.json: the OpenAPI 3.0 document of every
 * route (api/openapi.json, compiled into the binary by api/CMakeLists.txt).
 * tests/api/test_openapi.c keeps it and the route table in agreement.
 */
#include "api/api_int.h"

#include <string.h>

extern const unsigned char edm_openapi_json[];
extern const unsigned long edm_openapi_json_len;

void api_openapi_get(api_call *c)
{
    c->answered = 1;
    http_respond(c->req, 200, "application/json", NULL, (const char *)edm_openapi_json,
                 edm_openapi_json_len);
}
