# shellcheck shell=bash disable=SC2034,SC2154 # sets variables for, and reads work/repo from, the sourcing script
# Shared by tests/pg/two-hubs and tests/pg/bench-backends (sourced after tests/bench/lib.sh,
# not run): refexd hubs that share one database behind HAProxy running
# dist/haproxy-refex.cfg, its addresses replaced by loopback ports. The sourcing script sets
# work (its temporary directory, the current directory) and kills haproxy_pid in cleanup.

haproxy_pid=""

# Write a refexd config for a hub behind HAProxy to $1, with database $2, for up to $3
# connections: every connection comes from HAProxy's address (docs/SCALING.md), and the
# hub serves metrics on a free loopback port.
hubs_conf() {
	bench_refexd_conf "$1" "$2" "$3"
	sed -i 's/^\[limits\]$/&\nmax_handshakes_per_address = 1000/' "$1"
	printf '\n[metrics]\nlisten = 127.0.0.1:0\n' >>"$1"
}

# Print the metrics port hub log $1 names.
hubs_metrics_port() {
	sed -n 's/.*msg=metrics-listening .*port=\([0-9][0-9]*\).*/\1/p' "$1"
}

# Give the hub whose config is $1 the HTTPS door on a free loopback port ([web] listen).
hubs_conf_web() {
	printf '\n[web]\nlisten = 127.0.0.1:0\n' >>"$1"
}

# Print the HTTPS door's port hub log $1 names.
hubs_web_port() {
	sed -n 's/.*msg=web-listening .*port=\([0-9][0-9]*\).*/\1/p' "$1"
}

# Write HAProxy's config to $1: dist/haproxy-refex.cfg listening on 127.0.0.1:$2 in front
# of hub1 on 127.0.0.1:$3 and, with $4, hub2 on 127.0.0.1:$4 (without, hub2's lines are
# dropped); with $5, its HTTPS door (refex_web) on 127.0.0.1:$5 in front of the hubs' [web]
# ports $6 and $7 (without, that frontend and backend are dropped); its stats socket is
# $work/haproxy.sock, its log its stderr.
hubs_haproxy_conf() {
	local out=$1 lb=$2 p1=$3 p2=${4:-} web=${5:-} w1=${6:-0} w2=${7:-0} want
	# Not root's setup (chroot, user, a daemon), nor room for 20,000 connections.
	sed -e '/^\s*\(chroot\|user\|group\|daemon\)\b/d' -e 's/^\(\s*maxconn\) 20000$/\1 1000/' \
		-e 's|^\(\s*log\) /dev/log |\1 stderr format raw |' \
		-e "s|^\(\s*stats socket\) /run/haproxy/admin.sock|\1 $work/haproxy.sock|" \
		-e "s|^\(\s*bind\) :7443$|\1 127.0.0.1:$lb|" \
		-e "s|^\(\s*server hub1\) 192.0.2.11:7443 |\1 127.0.0.1:$p1 |" \
		-e "s|^\(\s*server hub2\) 192.0.2.12:7443 |\1 127.0.0.1:${p2:-0} |" \
		-e "s|^\(\s*bind\) :8443$|\1 127.0.0.1:${web:-0}|" \
		-e "s|^\(\s*server hub1\) 192.0.2.11:8443 |\1 127.0.0.1:$w1 |" \
		-e "s|^\(\s*server hub2\) 192.0.2.12:8443 |\1 127.0.0.1:$w2 |" \
		"$repo/dist/haproxy-refex.cfg" >"$out"
	for want in "maxconn 1000" "bind 127.0.0.1:$lb" "server hub1 127.0.0.1:$p1 check" \
		"server hub2 127.0.0.1:${p2:-0} check" "stats socket $work/haproxy.sock" \
		"frontend refex_web" "backend refex_web_hubs" "bind 127.0.0.1:${web:-0}" \
		"server hub1 127.0.0.1:$w1 check" "server hub2 127.0.0.1:$w2 check"; do
		grep -qF "$want" "$out" || die "dist/haproxy-refex.cfg changed shape: no \"$want\""
	done
	[ -n "$p2" ] || sed -i '/^\s*server hub2 /d' "$out"
	# The HTTPS door's frontend and backend are the file's last sections.
	[ -n "$web" ] || sed -i '/^frontend refex_web$/,$d' "$out"
	haproxy -c -q -f "$out" || die "haproxy refuses dist/haproxy-refex.cfg"
}

# Print HAProxy's status of server $1 (UP, DOWN, ...) and its current sessions; $1 is a
# server of the wire door's backend (hub1) or BACKEND/SERVER (refex_web_hubs/hub1).
hubs_lb_server() {
	python3 - "$work/haproxy.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError:
    sys.exit(1)
s.sendall(b"show stat\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
head, *rows = data.decode().splitlines()
names = head.lstrip("# ").split(",")
for row in rows:
    f = dict(zip(names, row.split(",")))
    backend, _, server = sys.argv[2].rpartition("/")
    if f.get("pxname") == (backend or "refex_hubs") and f.get("svname") == server:
        print(f["status"].split()[0], f["scur"])
        sys.exit(0)
sys.exit(1)
PY
}

# Succeed if HAProxy reports server $1 with status $2.
hubs_lb_is() {
	local st
	st=$(hubs_lb_server "$1") || return 1
	[ "${st%% *}" = "$2" ]
}

# Start HAProxy with config $1, logging to $2 (pinned like a server); return once it reports
# each of the servers named after $2 (as hubs_lb_server takes them) up (within 30 s).
hubs_haproxy_start() {
	local conf=$1 log=$2 deadline=$((SECONDS + 30)) s up
	shift 2
	"${server_pin[@]}" haproxy -db -f "$conf" </dev/null >"$log" 2>&1 &
	haproxy_pid=$!
	while :; do
		up=1
		for s in "$@"; do
			hubs_lb_is "$s" UP || up=0
		done
		[ "$up" = 0 ] || return 0
		kill -0 "$haproxy_pid" 2>/dev/null || {
			show_log "$log"
			die "haproxy exited"
		}
		[ "$SECONDS" -lt "$deadline" ] || {
			show_log "$log"
			die "haproxy did not report the hubs up within 30 s"
		}
		sleep 0.1
	done
}

# Stop HAProxy (if running).
hubs_haproxy_stop() {
	if [ -n "$haproxy_pid" ]; then
		kill -TERM "$haproxy_pid" 2>/dev/null || true
		wait "$haproxy_pid" 2>/dev/null || true
		haproxy_pid=""
	fi
}
