# tests/engine/smtp/smtp.cmake: the SMTP client's tests (and the DNS test,
# which delivers through the resolver) link the project's fake SMTP server
# and session driver (tests/support/).
foreach(t smtp_test_smtp_session smtp_test_smtp_8bitmime smtp_test_smtp_tls smtp_test_smtp_real
          smtp_test_smtp_exim
          net_test_dns)
  target_sources(${t} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support/smtp_fake.c
                              ${PROJECT_SOURCE_DIR}/tests/support/smtp_run.c)
endforeach()
