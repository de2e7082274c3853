# tests/engine/smtp/smtp.cmake: the SMTP client's tests (and the DNS test,
# which delivers through the resolver) link the project's fake SMTP server
# and session driver (tests/support/).
foreach(t smtp_test_smtp_session smtp_test_smtp_8bitmime smtp_test_smtp_tls smtp_test_smtp_real
          smtp_test_smtp_exim
          net_test_dns)
  target_sources(${t} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support/smtp_fake.c
                              ${PROJECT_SOURCE_DIR}/tests/support/smtp_run.c)
endforeach()
# The submission server's tests that run `edm serve` use the API tests'
# driver (tests/api/apitest.c).
foreach(t smtp_test_submission_limits)
  target_sources(${t} PRIVATE ${PROJECT_SOURCE_DIR}/tests/api/apitest.c)
  add_dependencies(${t} api_server)
endforeach()
# Submission end to end: real clients in, a throwaway Postfix MX out.
target_sources(smtp_test_submission_postfix PRIVATE ${PROJECT_SOURCE_DIR}/tests/api/apitest.c)
add_dependencies(smtp_test_submission_postfix api_server)
