# tests/engine/delivery.cmake: the end-to-end engine test delivers to the
# project's fake SMTP server (tests/engine/smtp_fake.c).
if(TARGET engine_test_delivery)
  target_sources(engine_test_delivery PRIVATE ${CMAKE_CURRENT_LIST_DIR}/smtp_fake.c)
endif()
