# tests/api/api.cmake: the API test server (the API alone on a loop with a
# SQLite store, used by the tests and scripts/bench-api) and the shared
# test driver (apitest.c) for the tests that talk to it.
add_executable(api_server ${CMAKE_CURRENT_LIST_DIR}/api_server.c)
target_link_libraries(api_server PRIVATE edm_api edm_engine)
foreach(t api_test_http api_test_routes api_test_openapi api_test_serve api_test_unsendable
          api_test_faults api_test_under_load api_test_messages smtp_test_submission api_test_public
          api_test_tracking api_test_webhooks api_test_stream_rate api_test_contract)
  if(TARGET ${t})
    target_sources(${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/apitest.c)
    add_dependencies(${t} api_server)
  endif()
endforeach()
# The acceptance test of health under abuse (minutes of load on a busy
# machine: a longer timeout) and the faults test (a SIGTERM's delay under an
# upload) measure latencies, the stream-rate test a sending rate: they run
# alone, not beside ctest -j's other tests.
set_tests_properties(api_test_under_load PROPERTIES TIMEOUT 300 RUN_SERIAL TRUE)
set_tests_properties(api_test_faults PROPERTIES RUN_SERIAL TRUE)
set_tests_properties(api_test_stream_rate PROPERTIES RUN_SERIAL TRUE)
