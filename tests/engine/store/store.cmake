# tests/engine/store/store.cmake: the store's suites run a second time on
# PostgreSQL (tests/support/store_backend.h): a throwaway cluster each.
foreach(t store_test_store store_test_counts store_test_outbox store_test_vars store_test_ids
          store_test_attachments store_test_purge store_test_feed)
  add_test(NAME ${t}_pg COMMAND ${t})
  set_tests_properties(${t}_pg PROPERTIES TIMEOUT 300
                       ENVIRONMENT "${EDM_TEST_ENV};EDM_TEST_STORE=pg")
endforeach()

# The engine end to end (campaigns sent to the fake SMTP server), every API
# route, `edm serve`, transactional messages, feedback, opens, clicks and
# webhooks, the API contract checks, on PostgreSQL.
foreach(t engine_test_delivery api_test_routes api_test_serve api_test_messages
          feedback_test_feedback api_test_tracking api_test_webhooks webhook_test_hooks
          api_test_contract)
  add_test(NAME ${t}_pg COMMAND ${t})
  set_tests_properties(${t}_pg PROPERTIES TIMEOUT 300
                       ENVIRONMENT "${EDM_TEST_ENV};EDM_TEST_STORE=pg")
endforeach()
