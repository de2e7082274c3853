# tests/engine/campaign/pipeline.cmake: the pipeline's unit test runs over a
# real relay on the scripted transport and the table resolver
# (tests/support/), with a SQLite store in a temporary directory.
target_sources(campaign_test_pipeline PRIVATE ${PROJECT_SOURCE_DIR}/tests/support/transport_fake.c
                                              ${PROJECT_SOURCE_DIR}/tests/support/resolve_fake.c)
set_tests_properties(campaign_test_pipeline PROPERTIES TIMEOUT 60)
