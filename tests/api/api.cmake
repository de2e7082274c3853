# tests/api/api.cmake: the API test server (the API alone on a loop with a
# SQLite store) used by tests/api/test_*.c and scripts/bench-api.
add_executable(api_server ${CMAKE_CURRENT_LIST_DIR}/api_server.c)
target_link_libraries(api_server PRIVATE edm_api edm_engine edm_templates edm_base)
foreach(t api_test_http api_test_routes api_test_openapi)
  if(TARGET ${t})
    add_dependencies(${t} api_server)
  endif()
endforeach()
