# tests/engine/layers.cmake: the layer rule (engine/layers.cmake) holds for
# the tree, and refuses a tree where engine/base/ includes engine/smtp/.
add_test(NAME layers_rule
         COMMAND ${CMAKE_COMMAND} -DROOT=${PROJECT_SOURCE_DIR} -P ${PROJECT_SOURCE_DIR}/engine/layers.cmake)
add_test(NAME layers_rule_refuses_upward_include
         COMMAND ${CMAKE_COMMAND} -DROOT=${CMAKE_CURRENT_LIST_DIR}/layers_fixture
                 -P ${PROJECT_SOURCE_DIR}/engine/layers.cmake)
set_tests_properties(layers_rule_refuses_upward_include PROPERTIES
                     PASS_REGULAR_EXPRESSION "engine/base/up.c: includes engine/smtp/ok.h")
