#!/bin/sh
# Turns a file into a C byte array so the module serves it without reading
# files at run time: embed-json.sh FILE SYMBOL > out.c. Bytes, not a string
# literal, so no character of the file needs escaping.
set -eu
file=$1
sym=$2
printf '/* Generated from %s by scripts/embed-json.sh: do not edit. */\n' "$(basename "$file")"
printf '#include <stddef.h>\n'
printf 'const char %s[] = {\n' "$sym"
od -An -v -tx1 "$file" | sed -e "s/ *\([0-9a-f][0-9a-f]\)/'\\\\x\1',/g" -e 's/^/    /'
printf "    '\\\\0'\\n};\\n"
printf 'const size_t %s_len = sizeof(%s) - 1;\n' "$sym" "$sym"
