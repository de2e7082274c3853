# tests/templates/templates.cmake: the spec test reports "skipped" (exit 77)
# when the Mustache spec files are absent; bench_templates is the C side of
# scripts/bench-templates (built, never run by ctest).
set_tests_properties(templates_test_spec PROPERTIES SKIP_RETURN_CODE 77)

add_executable(bench_templates ${CMAKE_CURRENT_LIST_DIR}/bench_templates.c)
target_link_libraries(bench_templates PRIVATE edm_templates edm_base PkgConfig::JANSSON)

# libFuzzer build: the binary at the top of the build tree
# (./build-fuzz/fuzz_template), as docs/templates.md shows.
if(EDM_FUZZ)
  set_target_properties(fuzz_template PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
endif()
