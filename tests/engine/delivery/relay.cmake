# tests/engine/delivery/relay.cmake: the relay's unit tests run on the
# scripted transport and the table resolver (tests/support/), no sockets,
# through one fixture (tests/support/relay_fixture.c).
foreach(t delivery_test_relay delivery_test_relay_carry)
  target_sources(${t} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support/transport_fake.c
                              ${PROJECT_SOURCE_DIR}/tests/support/resolve_fake.c
                              ${PROJECT_SOURCE_DIR}/tests/support/outmsg_fake.c
                              ${PROJECT_SOURCE_DIR}/tests/support/relay_fixture.c)
  set_tests_properties(${t} PROPERTIES TIMEOUT 60)
endforeach()
