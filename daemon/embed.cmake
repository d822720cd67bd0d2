# Write the file IN as the C string NAME (default web_openapi_json) in OUT (cmake -P).
if(NOT NAME)
  set(NAME web_openapi_json)
endif()
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}" "/* Generated from ${IN}; do not edit. */\nconst char ${NAME}[] = {${bytes} 0};\n")
