/*
 * engine/base/version.c: edm's version string, for `edm version`, the API's
 * health route and logs.
 */
#include "engine/base/version.h"
#include "edm_version.h"

const char *edm_version(void)
{
    return EDM_VERSION;
}
