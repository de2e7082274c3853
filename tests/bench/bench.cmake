# tests/bench/bench.cmake: benchmark drivers (built, not ctest tests; run
# by scripts/bench-*): bench_smtp (the SMTP client), bench_store (the
# SQLite store), bench_compose (composing and signing).
add_executable(bench_smtp ${CMAKE_CURRENT_LIST_DIR}/bench_smtp.c)
target_link_libraries(bench_smtp PRIVATE edm_engine)
add_executable(bench_store ${CMAKE_CURRENT_LIST_DIR}/bench_store.c)
target_link_libraries(bench_store PRIVATE edm_engine)
add_executable(bench_compose ${CMAKE_CURRENT_LIST_DIR}/bench_compose.c)
target_link_libraries(bench_compose PRIVATE edm_engine)
