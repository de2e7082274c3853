/*
 * tests/engine/config/config_fixture.c: the config tests' shared example
 * and temp dir (config_fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/engine/config/config_fixture.h"
#include "tests/support/testlib.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char config_fixture_example[] =
    "{\n"
    "  \"db\": \"edm.db\",\n"
    "  \"api\": {\"listen\": \"127.0.0.1:8025\", \"keys_env\": \"EDM_API_KEYS\"},\n"
    "  \"dns\": {\"servers\": [\"127.0.0.1:5353\"], \"cache_max_ttl\": 3600},\n"
    "  \"smtp\": {\"port\": 25, \"helo\": \"mta.example.com\", \"tls\": \"opportunistic\",\n"
    "           \"timeouts\": {\"connect\": 30, \"greeting\": 300, \"mail\": 300, \"rcpt\": 300,\n"
    "                        \"data\": 120, \"data_block\": 180, \"data_end\": 600}},\n"
    "  \"pools\": [{\"name\": \"default\", \"ips\": [\n"
    "      {\"addr\": \"127.0.0.2\", \"helo\": \"mta1.example.com\", \"max_per_hour\": 50000,\n"
    "       \"weight\": 1, \"warmup\": [[1, 1000], [2, 5000]]}]}],\n"
    "  \"domains\": [{\"match\": \"gmail.com\", \"max_connections\": 10,\n"
    "               \"max_messages_per_connection\": 100, \"max_per_minute\": 600,\n"
    "               \"backoff\": {\"on\": [\"421\", \"4.7.\"], \"pause\": 300}}],\n"
    "  \"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:2525\"}],\n"
    "  \"dkim\": [{\"domain\": \"example.com\", \"selector\": \"s1\", \"key\": \"keys/s1.pem\",\n"
    "            \"algorithm\": \"rsa-sha256\"}],\n"
    "  \"retry\": {\"schedule\": [60, 300, 900, 3600], \"max_age\": 86400},\n"
    "  \"unsubscribe\": {\"url\": \"https://mail.example.com/unsubscribe\"}\n"
    "}\n";

char *config_fixture_dir;

/* Writes a PEM private key of the given type ("RSA" with bits, "ED25519"). */
static void write_key(const char *path, const char *type, unsigned bits)
{
    EVP_PKEY *k = strcmp(type, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits)
                                           : EVP_PKEY_Q_keygen(NULL, NULL, type);
    assert_non_null(k);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(k);
}

const char *config_fixture_path(const char *rel)
{
    static char out[4][1024];
    static int n;
    char *p = out[n++ % 4];
    snprintf(p, sizeof out[0], "%s/%s", config_fixture_dir, rel);
    return p;
}

int config_fixture_setup(void **state)
{
    (void)state;
    config_fixture_dir = edm_test_tmpdir("config");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/keys %s/sub", config_fixture_dir, config_fixture_dir);
    assert_int_equal(edm_test_run(cmd, NULL), 0);
    write_key(config_fixture_path("keys/s1.pem"), "RSA", 2048);
    write_key(config_fixture_path("keys/ed.pem"), "ED25519", 0);
    write_key(config_fixture_path("keys/small.pem"), "RSA", 512);
    assert_int_equal(edm_test_write_file(config_fixture_path("keys/junk.pem"), "not a key\n", 10),
                     0);
    assert_int_equal(edm_test_write_file(config_fixture_path("edm.json"), config_fixture_example,
                                         strlen(config_fixture_example)),
                     0);
    return 0;
}

int config_fixture_teardown(void **state)
{
    (void)state;
    edm_test_rmtree(config_fixture_dir);
    free(config_fixture_dir);
    return 0;
}
