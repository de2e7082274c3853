# tests/engine/mime.cmake: the message cases shared by test_mime and
# test_dkim, and the bench-compose program (a benchmark, not a test:
# scripts/bench-compose builds and runs it).
target_sources(engine_test_mime PRIVATE ${CMAKE_CURRENT_LIST_DIR}/mime_cases.c)
target_sources(engine_test_dkim PRIVATE ${CMAKE_CURRENT_LIST_DIR}/mime_cases.c)
target_include_directories(engine_test_mime PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_include_directories(engine_test_dkim PRIVATE ${CMAKE_CURRENT_LIST_DIR})

add_executable(bench_compose ${CMAKE_CURRENT_LIST_DIR}/bench_compose.c)
target_link_libraries(bench_compose PRIVATE edm_engine edm_base)
target_sources(engine_test_render_raw PRIVATE ${CMAKE_CURRENT_LIST_DIR}/mime_cases.c)
target_include_directories(engine_test_render_raw PRIVATE ${CMAKE_CURRENT_LIST_DIR})
