# shellcheck shell=bash disable=SC2034,SC2154 # sets variables for, and reads bench_name from, the sourcing script
# Shared by tests/bench/compare-postgres and tests/bench/compare-nginx (sourced, not run):
# progress messages, free ports, pinning servers and load generators to cores, the CPU time
# of a server's process tree, and a throwaway refexd. The sourcing script sets bench_name
# first and calls bench_need_binaries.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# The scripts run python3 dozens of times per run: call Debian's directly where it is, not
# through a version manager's shim (pyenv's costs ~0.3-1 s per call on a loaded machine).
if [ -x /usr/bin/python3 ]; then
	python3() {
		/usr/bin/python3 "$@"
	}
fi
build=${REFEX_BUILD_DIR:-$repo/build}

# Progress goes to stderr so that --json leaves stdout to the report; fd 3 keeps the real
# stderr for messages from cleanup while a command's output is redirected.
exec 3>&2
say() {
	echo "$bench_name: $*" >&3
}

die() {
	say "$*"
	exit 1
}

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

want_number() {
	[[ "$2" =~ ^[1-9][0-9]*$ ]] || {
		echo "$bench_name: $1 wants a positive whole number, not \"$2\"" >&2
		exit 2
	}
}

# Build refex if its binaries are missing, and set refexd, refex_ca, refex and bench.
bench_need_binaries() {
	local b missing=0
	for b in daemon/refexd certs/refex-ca client/refex tests/bench/refex-bench; do
		[ -x "$build/$b" ] || missing=1
	done
	if [ "$missing" = 1 ]; then
		say "building refex into $build ..."
		cmake -S "$repo" -B "$build" >&2
		cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" >&2
	fi
	for b in daemon/refexd certs/refex-ca client/refex tests/bench/refex-bench; do
		[ -x "$build/$b" ] || die "the build did not produce $b"
	done
	local bin
	bin=$(cd "$build" && pwd)
	refexd=$bin/daemon/refexd
	refex_ca=$bin/certs/refex-ca
	refex=$bin/client/refex
	bench=$bin/tests/bench/refex-bench
}

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# With $1 = 1, set server_pin and load_pin to taskset prefixes that put servers on the last
# CPU this script may use and load generators on the others; with fewer than two CPUs (or
# $1 = 0) both stay empty and pinned says so.
bench_pin_setup() {
	server_pin=()
	load_pin=()
	server_cpus=""
	load_cpus=""
	pinned=0
	[ "$1" = 1 ] || return 0
	command -v taskset >/dev/null || die "--pin needs taskset (util-linux)"
	local cpus
	cpus=$(python3 -c 'import os; print(" ".join(map(str, sorted(os.sched_getaffinity(0)))))')
	read -r -a cpus <<<"$cpus"
	if [ "${#cpus[@]}" -lt 2 ]; then
		say "--pin: only ${#cpus[@]} CPU available, running unpinned"
		return 0
	fi
	server_cpus=${cpus[-1]}
	unset 'cpus[-1]'
	load_cpus=$(
		IFS=,
		echo "${cpus[*]}"
	)
	server_pin=(taskset -c "$server_cpus")
	load_pin=(taskset -c "$load_cpus")
	pinned=1
}

# Print the CPU seconds (user + system) used so far by process $1, its threads and all its
# descendants, living or already reaped (a reaped child's time is in its parent's cutime).
tree_cpu() {
	python3 - "$1" <<'EOF'
import os, sys
root = int(sys.argv[1])
kids, times = {}, {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open("/proc/%s/stat" % d) as f:
            s = f.read()
    except OSError:
        continue
    rest = s[s.rindex(")") + 2:].split()
    pid = int(d)
    kids.setdefault(int(rest[1]), []).append(pid)
    # utime, stime, cutime, cstime
    times[pid] = sum(int(x) for x in rest[11:15])
if root not in times:
    sys.exit("process %d is gone" % root)
total, todo = 0, [root]
while todo:
    pid = todo.pop()
    total += times.get(pid, 0)
    todo.extend(kids.get(pid, []))
print("%.3f" % (total / os.sysconf("SC_CLK_TCK")))
EOF
}

# Print the number of children of process $1.
child_count() {
	pgrep -c -P "$1" || true
}

# Print the 1-minute load average.
load_1min() {
	cut -d' ' -f1 /proc/loadavg
}

# Show the end of a server log after a failure.
show_log() {
	if [ -f "$1" ]; then
		echo "--- $1 ---" >&2
		tail -n 30 "$1" >&2
	fi
}

# Make a throwaway CA in ./ca, a hub certificate hub.{crt,key} for 127.0.0.1 and a partner
# certificate bench-a.{crt,key}.
bench_make_certs() {
	{
		"$refex_ca" init --dir ca --name "refex $bench_name"
		"$refex_ca" server --dir ca --host 127.0.0.1 --out hub
		"$refex_ca" issue --dir ca --agency bench-a --holder "refex-bench" --out bench-a
	} >/dev/null || die "refex-ca could not make the certificates"
}

# Write a refexd config for agencies bench-a and bench-b to $1, with its database $2, for
# up to $3 connections.
bench_refexd_conf() {
	cat >"$1" <<EOF
[server]
listen = 127.0.0.1:0
certificate = hub.crt
key = hub.key
ca = ca/ca.crt
database = $2
log_level = warn

[limits]
max_connections = $(($3 + 10))

[forms]
dir = $repo/proto/forms

[agency bench-a]
name = Bench A
accepts = housing_support

[agency bench-b]
name = Bench B
accepts = housing_support
EOF
}

# Start refexd (pinned like a server) with config $1, logging to $2; set refexd_pid and
# refexd_port once it listens.
bench_refexd_start() {
	"${server_pin[@]}" "$refexd" --config "$1" </dev/null >"$2" 2>&1 &
	refexd_pid=$!
	refexd_port=""
	local deadline=$((SECONDS + 30))
	while :; do
		# Read the port only once the later msg=started line is there: the listening line is whole.
		refexd_port=$(grep -q 'msg=started' "$2" &&
			sed -n 's/.*msg=listening.* port=\([0-9][0-9]*\).*/\1/p' "$2" | head -n 1 || true)
		[ -n "$refexd_port" ] && break
		if ! kill -0 "$refexd_pid" 2>/dev/null; then
			show_log "$2"
			die "refexd exited before it was ready"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			show_log "$2"
			die "refexd did not report its port within 30 s"
		fi
		sleep 0.05
	done
}

# Stop refexd with SIGTERM; fail if it does not exit cleanly. $1 is its log.
bench_refexd_stop() {
	local rc=0
	kill -TERM "$refexd_pid"
	wait "$refexd_pid" || rc=$?
	refexd_pid=""
	if [ "$rc" != 0 ]; then
		show_log "$1"
		die "refexd exited with status $rc on SIGTERM"
	fi
}

# Kill refexd if it is still running (for cleanup).
bench_refexd_kill() {
	if [ -n "${refexd_pid:-}" ] && kill -0 "$refexd_pid" 2>/dev/null; then
		kill -KILL "$refexd_pid" 2>/dev/null || true
		wait "$refexd_pid" 2>/dev/null || true
	fi
}

# Run a command in the background and wait for it: a signal to the script interrupts the
# wait, and cleanup stops the command (child_pid).
run_child() {
	local rc=0
	"$@" &
	child_pid=$!
	wait "$child_pid" || rc=$?
	child_pid=""
	return "$rc"
}

# Stop the command run_child is waiting for (for cleanup).
bench_child_kill() {
	if [ -n "${child_pid:-}" ]; then
		kill -TERM "$child_pid" 2>/dev/null || true
		wait "$child_pid" 2>/dev/null || true
	fi
}

# Run refex-bench (pinned like a load generator) with the hub's port and bench-a's
# certificate and the given options, its JSON report to $1; measure the CPU refexd used
# meanwhile and add it to the report as server_cpu_s. $2 is refexd's log.
bench_refex_measured() {
	local out=$1 log=$2 rc=0 cpu0 cpu1
	shift 2
	cpu0=$(tree_cpu "$refexd_pid")
	run_child timeout 300 "${load_pin[@]}" "$bench" --server "127.0.0.1:$refexd_port" \
		--cert bench-a.crt --key bench-a.key --ca ca/ca.crt --json "$@" >"$out.raw" \
		2>"$out.err" || rc=$?
	cpu1=$(tree_cpu "$refexd_pid")
	if [ "$rc" != 0 ]; then
		cat "$out.err" "$out.raw" >&2
		show_log "$log"
		die "refex-bench failed (exit $rc)"
	fi
	python3 - "$out.raw" "$cpu0" "$cpu1" >"$out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r["server_cpu_s"] = round(float(sys.argv[3]) - float(sys.argv[2]), 3)
print(json.dumps(r))
EOF
}

# --smoke: check the JSON report $1 shows work done by every server, without errors, and
# say so; exit 1 if not.
bench_smoke_verdict() {
	python3 - "$1" <<'EOF' || exit 1
import json, sys
problems = []
def walk(d, path):
    if isinstance(d, list):
        for i, x in enumerate(d):
            walk(x, "%s[%d]" % (path, i))
        return
    if not isinstance(d, dict):
        return
    if d.get("errors"):
        problems.append("%s: errors %s" % (path, json.dumps(d["errors"])))
    if d.get("failed"):
        problems.append("%s: %s failed" % (path, d["failed"]))
    for k in ("server_cpu_s", "throughput", "connections_per_s"):
        if k in d and not d[k] > 0:
            problems.append("%s: %s is %s" % (path, k, d[k]))
    for k, v in d.items():
        walk(v, path + "." + k)
walk(json.load(open(sys.argv[1])), "report")
for p in problems:
    print("FAILED: %s" % p)
print("smoke: %s" % ("failed" if problems else "every server answered, and its CPU was measured"))
sys.exit(1 if problems else 0)
EOF
}
