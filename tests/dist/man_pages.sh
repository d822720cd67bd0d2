#!/usr/bin/env bash
# The man pages render without a warning from man/groff (as lintian checks them), and
# every command and option that the programs' --help lists is in its page, and every key
# refexd's configuration parser knows is in refexd.ini(5), so the pages cannot drift from
# the programs.
#   man_pages.sh MANDIR REFEXD REFEX REFEX_CA SOURCE_DIR
set -uo pipefail
shopt -s lastpipe # the counters below are kept by the last command of a pipeline
mandir=$1 refexd=$2 refex=$3 refex_ca=$4 src=$5
failed=0 checked=0

# Fail with a message.
fail()
{
	echo "FAIL: $*" >&2
	failed=$((failed + 1))
}

# Fail when page $1 renders with a warning (the way lintian renders it).
check_warnings()
{
	local warnings
	checked=$((checked + 1))
	warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$1" 2>&1 >/dev/null)
	[ -z "$warnings" ] || fail "$(basename "$1") renders with warnings: $warnings"
}

# Render page $1 as plain text, without hyphenation or justification, on stdout.
render()
{
	LC_ALL=C.UTF-8 MANWIDTH=200 man --nh --nj -E ascii -l "$1" 2>/dev/null | col -b
}

for p in refexd.8 refexd.ini.5 refex.1 refex-ca.1; do
	check_warnings "$mandir/$p"
done

# Print every option (--long or -s) in the text on stdin, one a line.
options()
{
	grep -oE -- '(^|[][ ,(|])--?[a-zA-Z][a-zA-Z-]*' | sed -E 's/^[][ ,(|]//' | sort -u
}

# Check that page text $1 (named $2) holds every word on stdin as a whole word.
expect_in_page()
{
	local word
	while read -r word; do
		checked=$((checked + 1))
		grep -qE -- "(^|[^a-zA-Z-])${word}([^a-zA-Z-]|$)" <<<"$1" ||
			fail "$2 does not mention \"$word\""
	done
}

page=$(render "$mandir/refexd.8")
"$refexd" --help | options | expect_in_page "$page" "refexd(8)"

# The keys daemon/config.c matches: strcmp(name, "KEY") and {"KEY", &slot} tables.
page=$(render "$mandir/refexd.ini.5")
keys=$(grep -oE 'strcmp\(name, "[a-z_]+"\)|\{"[a-z_]+", &' "$src/daemon/config.c" |
	grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
[ -n "$keys" ] || fail "no configuration keys found in daemon/config.c"
expect_in_page "$page" "refexd.ini(5)" <<<"$keys"

page=$(render "$mandir/refex.1")
help=$("$refex" --help)
commands=$(sed -n '/^commands:/,/^$/p' <<<"$help" | awk 'NF && !/:$/ { print $1 }')
[ -n "$commands" ] || fail "refex --help lists no commands"
options <<<"$help" | expect_in_page "$page" "refex(1)"
expect_in_page "$page" "refex(1)" <<<"$commands"
for c in $commands; do
	"$refex" "$c" --help | options | expect_in_page "$page" "refex(1) ($c)"
done

page=$(render "$mandir/refex-ca.1")
help=$("$refex_ca" --help)
commands=$(awk '$1 == "refex-ca" && $2 ~ /^[a-z]+$/ { print $2 }' <<<"$help" | sort -u)
[ -n "$commands" ] || fail "refex-ca --help lists no commands"
options <<<"$help" | expect_in_page "$page" "refex-ca(1)"
expect_in_page "$page" "refex-ca(1)" <<<"$commands"
for c in $commands; do
	"$refex_ca" "$c" --help | options | expect_in_page "$page" "refex-ca(1) ($c)"
done

echo "man pages: $checked commands and options checked, $failed missing or warnings"
[ "$failed" -eq 0 ]
