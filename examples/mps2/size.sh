#!/bin/sh
# size.sh FILE LABEL: text and bss of an image or object, and async.h's share
# of them (the symbols named async_*, the library's own and private ones).
set -eu
file=$1 label=$2
arm-none-eabi-size "$file" | awk -v l="$label" 'NR == 2 { printf "%-44s text %5d  bss %5d", l, $1, $3 }'
arm-none-eabi-nm -S -t d "$file" | awk '
    NF == 4 && $4 ~ /^async_/ { if ($3 ~ /[bBcC]/) bss += $2; else text += $2 }
    END { printf "   async.h: text %5d  bss %5d\n", text, bss }'
