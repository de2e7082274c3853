# tests/engine/delivery/relay.cmake: the relay's unit test runs on the
# scripted transport and the table resolver (tests/support/), no sockets.
target_sources(delivery_test_relay PRIVATE ${PROJECT_SOURCE_DIR}/tests/support/transport_fake.c
                                           ${PROJECT_SOURCE_DIR}/tests/support/resolve_fake.c
  ${PROJECT_SOURCE_DIR}/tests/support/outmsg_fake.c)
set_tests_properties(delivery_test_relay PROPERTIES TIMEOUT 60)
