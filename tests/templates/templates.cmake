# tests/templates/templates.cmake: bench_templates is the C side of
# scripts/bench-templates (built, never run by ctest).

add_executable(bench_templates ${CMAKE_CURRENT_LIST_DIR}/bench_templates.c)
target_link_libraries(bench_templates PRIVATE edm_templates)

# libFuzzer build: the binary at the top of the build tree
# (./build-fuzz/fuzz_template), as docs/templates.md shows.
if(EDM_FUZZ)
  set_target_properties(fuzz_template PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
endif()
