/*
 * tests/fuzz/fuzz_config.c: the configuration loader on arbitrary bytes.
 * Whatever the input, loading must not crash or leak, must report at least
 * one error when it fails, and when it succeeds the effective config must
 * load back to the very same JSON (edm_config_to_json round trip).
 * Relative paths resolve under a directory that does not exist, so DKIM
 * keys only load from absolute paths.
 */
#include "engine/base/alloc.h"
#include "engine/config/config.h"
#include "engine/base/err.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    edm_config cfg;
    edm_config_errors errs;
    int rc = edm_config_load_string((const char *)data, size, "fuzz", "/nonexistent-edm-fuzz", &cfg,
                                    &errs);
    if (rc != 0) {
        EDM_ASSERT(rc == EDM_EINVAL && errs.count > 0);
        for (size_t i = 0; i < errs.count; i++)
            EDM_ASSERT(strchr(errs.msg[i], '\n') == NULL);
        edm_config_errors_free(&errs);
        return 0;
    }
    EDM_ASSERT(errs.count == 0 && cfg.npools > 0 && cfg.ndomains > 0);
    EDM_ASSERT(edm_config_domain_for(&cfg, "example.com") != NULL);
    char *first = edm_config_to_json(&cfg);
    edm_config_free(&cfg);
    rc = edm_config_load_string(first, strlen(first), "again", NULL, &cfg, &errs);
    EDM_ASSERT(rc == 0);
    char *second = edm_config_to_json(&cfg);
    EDM_ASSERT(strcmp(first, second) == 0);
    edm_config_free(&cfg);
    edm_free(first);
    edm_free(second);
    return 0;
}
