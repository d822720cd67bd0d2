# Write the file IN as the C string web_openapi_json in OUT (cmake -P).
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}" "/* Generated from ${IN}; do not edit. */\nconst char web_openapi_json[] = {${bytes} 0};\n")
