# api/embed.cmake: writes OUT, a C file holding the bytes of IN as
# edm_openapi_json[] (NUL-terminated) and edm_openapi_json_len.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT}.tmp
  "/* generated from api/openapi.json by api/embed.cmake */\n"
  "const unsigned char edm_openapi_json[] = {${bytes}0};\n"
  "const unsigned long edm_openapi_json_len = ${len};\n")
file(RENAME ${OUT}.tmp ${OUT})
