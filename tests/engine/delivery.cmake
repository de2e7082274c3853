# tests/engine/delivery.cmake: the end-to-end engine tests deliver to the
# project's fake SMTP server (tests/support/smtp_fake.c).
foreach(t engine_test_delivery engine_test_8bitmime)
  target_sources(${t} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support/smtp_fake.c)
endforeach()
