# tests/engine/campaign/pipeline.cmake: the pipeline's unit test runs over a
# real relay on the scripted transport and the table resolver
# (tests/support/), with a SQLite store in a temporary directory.
target_sources(campaign_test_pipeline PRIVATE ${PROJECT_SOURCE_DIR}/tests/support/transport_fake.c
                                              ${PROJECT_SOURCE_DIR}/tests/support/resolve_fake.c)
set_tests_properties(campaign_test_pipeline PROPERTIES TIMEOUT 60)
# Again with outcomes written and recipients claimed on the thread pool
# through two more store handles (engine/campaign/pipeline_record.c and
# pipeline_claim.c, as on PostgreSQL).
add_test(NAME campaign_test_pipeline_pool COMMAND campaign_test_pipeline)
set_tests_properties(campaign_test_pipeline_pool PROPERTIES TIMEOUT 60
                     ENVIRONMENT "${EDM_TEST_ENV};EDM_TEST_RECORD_POOL=1")
