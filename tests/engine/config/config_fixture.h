/*
 * tests/engine/config/config_fixture.h: what the config tests share
 * (test_config.c, test_config_cli.c): docs/config.md's example and a
 * temp dir holding it as edm.json, with keys/ (s1.pem RSA 2048, ed.pem
 * Ed25519, small.pem RSA 512, junk.pem not a key) and an empty sub/.
 */
#ifndef EDM_TEST_CONFIG_FIXTURE_H
#define EDM_TEST_CONFIG_FIXTURE_H

/* docs/config.md's example (the product's reference configuration), as it is there. */
extern const char config_fixture_example[];

/* The temp dir (set by config_fixture_setup). */
extern char *config_fixture_dir;

/* cmocka group setup and teardown: make and fill the temp dir, remove it. */
int config_fixture_setup(void **state);
int config_fixture_teardown(void **state);

/* rel inside the temp dir (one of four rotating static buffers). */
const char *config_fixture_path(const char *rel);

#endif
