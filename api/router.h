/*
 * api/router.h: the router as http.c's application, and the path matcher
 * (exposed for the OpenAPI consistency test and the fuzz target).
 */
#ifndef EDM_API_ROUTER_H
#define EDM_API_ROUTER_H

#include "api/api_int.h"

http_app api_router_app(edm_api *api);
int api_route_match(const char *pattern, const char *path, int64_t *id);

#endif
