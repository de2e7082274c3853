# tests/engine/message/mime.cmake: the message cases shared by test_mime,
# test_dkim and the CLI's test_render_raw (tests/engine/cmd/).
foreach(t message_test_mime message_test_dkim cmd_test_render_raw)
  target_sources(${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/mime_cases.c)
endforeach()
