# Store benchmark program (scripts/bench-store), built but not a ctest test.
add_executable(bench_store ${CMAKE_CURRENT_LIST_DIR}/../bench/bench_store.c)
target_link_libraries(bench_store PRIVATE edm_engine edm_base)
