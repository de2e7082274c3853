# tests/engine/smtp.cmake: the SMTP client's tests link the project's fake
# SMTP server (tests/engine/smtp_fake.c).
foreach(t engine_test_smtp_session engine_test_smtp_tls engine_test_smtp_real engine_test_dns)
  if(TARGET ${t})
    target_sources(${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/smtp_fake.c ${CMAKE_CURRENT_LIST_DIR}/smtp_run.c)
  endif()
endforeach()
