# tests/engine/feedback/feedback.cmake: the feedback tests that drive the
# real `edm serve` use the API test driver (tests/api/apitest.c).
foreach(t feedback_test_inbound feedback_test_feedback_postfix)
  if(TARGET ${t})
    target_sources(${t} PRIVATE ${PROJECT_SOURCE_DIR}/tests/api/apitest.c)
    add_dependencies(${t} api_server)
  endif()
endforeach()
