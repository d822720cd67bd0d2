#!/usr/bin/env bash
# Every program reports the one version set in CMakeLists.txt.
#   version.sh VERSION PROGRAM...
set -uo pipefail
version=$1
shift
failed=0
for p in "$@"; do
	name=$(basename "$p")
	got=$("$p" --version 2>&1)
	if [ "$got" != "$name $version" ]; then
		echo "FAIL: $name --version printed \"$got\", expected \"$name $version\"" >&2
		failed=$((failed + 1))
	fi
done
echo "version: $(($# - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
