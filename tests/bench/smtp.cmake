# tests/bench/bench.cmake: benchmark drivers (built, not ctest tests; run
# by scripts/bench-*).
add_executable(bench_smtp ${CMAKE_CURRENT_LIST_DIR}/bench_smtp.c)
target_link_libraries(bench_smtp PRIVATE edm_engine edm_base)
