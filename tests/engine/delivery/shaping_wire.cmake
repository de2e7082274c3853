# tests/engine/delivery/shaping_wire.cmake: shaping measured at the receiving
# end: the relay on the real SMTP client, the table resolver and the fake
# SMTP server (which records each client address).
target_sources(delivery_test_shaping_wire PRIVATE ${PROJECT_SOURCE_DIR}/tests/support/resolve_fake.c
  ${PROJECT_SOURCE_DIR}/tests/support/outmsg_fake.c
                                                  ${PROJECT_SOURCE_DIR}/tests/support/smtp_fake.c)
set_tests_properties(delivery_test_shaping_wire PROPERTIES TIMEOUT 240)
