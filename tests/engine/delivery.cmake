# tests/engine/delivery.cmake: the end-to-end engine test delivers to the
# project's fake SMTP server (tests/support/smtp_fake.c).
target_sources(engine_test_delivery PRIVATE ${PROJECT_SOURCE_DIR}/tests/support/smtp_fake.c)
