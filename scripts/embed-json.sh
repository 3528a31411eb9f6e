#!/bin/sh
# Turns a text file into a C string constant so the module serves it without
# reading files at run time: embed-json.sh FILE SYMBOL > out.c
set -eu
file=$1
sym=$2
printf '/* Generated from %s by scripts/embed-json.sh: do not edit. */\n' "$(basename "$file")"
printf '#include <stddef.h>\n'
printf 'const char %s[] =\n' "$sym"
LC_ALL=C awk '{ gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "    \"%s\\n\"\n", $0 }' "$file"
printf '    "";\n'
printf 'const size_t %s_len = sizeof(%s) - 1;\n' "$sym" "$sym"
