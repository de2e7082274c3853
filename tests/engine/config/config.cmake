# tests/engine/config/config.cmake: the config tests share docs/config.md's
# example and their temp dir of keys (config_fixture.c).
foreach(t config_test_config config_test_config_cli)
  target_sources(${t} PRIVATE ${PROJECT_SOURCE_DIR}/tests/engine/config/config_fixture.c)
endforeach()
