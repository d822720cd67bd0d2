#!/usr/bin/env bash
# The README's "Agreeing a form" shows the example form file as it is in
# docs/examples/forms (which the integration tests load into a real hub), and
# refexd --check-forms takes that file.
# usage: readme_form.sh SOURCE_DIR REFEXD
set -euo pipefail
src=$1 refexd=$2
example=$src/docs/examples/forms/tenancy_sustainment.proto
shown=$(awk '/^## Agreeing a form/ { in_section = 1 }
	in_section && /^```proto$/ { in_block = 1; next }
	in_block && /^```$/ { exit }
	in_block { print }' "$src/README.md")
if [ "$shown" != "$(cat "$example")" ]; then
	echo "README.md's \"Agreeing a form\" does not show $example as it is:" >&2
	diff <(printf '%s\n' "$shown") "$example" >&2 || true
	exit 1
fi
out=$("$refexd" --check-forms "$(dirname "$example")")
grep -q '^form tenancy_sustainment version 1 "Tenancy sustainment"' <<<"$out" || {
	echo "refexd --check-forms did not take the example: $out" >&2
	exit 1
}
echo "README's example form matches $example and checks"
