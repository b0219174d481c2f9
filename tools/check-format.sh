#!/usr/bin/env bash
# Fails when a C++ file of the project is not formatted as .clang-format says.
# `make format` fixes them.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 'tools/*.cc' 'tools/*.h')
if clang-format --dry-run --Werror "${files[@]}"; then
  echo "format: ${#files[@]} files formatted"
else
  echo "format: run 'make format' to fix the files above" >&2
  exit 1
fi
