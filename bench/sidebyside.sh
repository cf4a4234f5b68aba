#!/usr/bin/env bash
# sidebyside.sh — Parley, Prosody and ejabberd under the same load, one run.
#
# Installs Prosody and ejabberd from Debian's packages if missing, starts each
# server in turn on a loopback port pinned to core 0 (taskset), provisions the
# same users through in-band registration, and runs the same parley-bench
# `conns` and `msgs` loads against it from core 1, --runs times (servers
# interleaved within each run). Writes every report as a JSON line to
# WORK/results.jsonl and prints a markdown table of medians and ratios to
# Parley on stdout. See bench/README.md.
#
# Needs root (apt-get, and starting the servers as their own users).
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/sidebyside.sh [options]
  --runs N          repetitions of conns+msgs per server; medians are reported (default 3)
  --users N         users provisioned and logged in (default 500)
  --ramp N          logins per second in conns and msgs (default 250)
  --hold D          conns hold time (default 10s)
  --rates LIST      msgs steps, messages per second (default 500,1000,2000,4000)
  --step D          msgs step length (default 10s)
  --size S          minimal or modern stanza (default minimal)
  --mech M          SASL mechanism for all three (default SCRAM-SHA-1)
  --servers LIST    subset of parley,prosody,ejabberd (default all three)
  --work DIR        work directory, wiped at start (default /tmp/parley-sidebyside)
  --prosody-nagle X on (Prosody's shipped default) or off (TCP_NODELAY) (default on)
EOF
}

RUNS=3 USERS=500 RAMP=250 HOLD=10s RATES=500,1000,2000,4000 STEP=10s SIZE=minimal
MECH=SCRAM-SHA-1 SERVERS=parley,prosody,ejabberd WORK=/tmp/parley-sidebyside PROSODY_NAGLE=on
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2 ;; --users) USERS=$2 ;; --ramp) RAMP=$2 ;; --hold) HOLD=$2 ;;
	--rates) RATES=$2 ;; --step) STEP=$2 ;; --size) SIZE=$2 ;; --mech) MECH=$2 ;;
	--servers) SERVERS=$2 ;; --work) WORK=$2 ;; --prosody-nagle) PROSODY_NAGLE=$2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift 2
done

# Loopback ports, well away from the defaults of anything else on the machine.
PARLEY_PORT=15222 PARLEY_ADMIN=15380 PROSODY_PORT=25222 EJABBERD_PORT=35222

REPO=$(cd "$(dirname "$0")/.." && pwd)
TPL=$REPO/bench/templates
RESULTS=$WORK/results.jsonl
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: apt-get and setpriv to the servers' users need it"
[ "$(nproc)" -ge 2 ] || die "needs 2 cores: the server on core 0, the load tool on core 1"
for t in taskset setpriv openssl jq go python3; do
	command -v $t >/dev/null || die "$t not found"
done

# --- install -----------------------------------------------------------------
want_pkgs=()
[[ ,$SERVERS, == *,prosody,* ]] && ! command -v prosody >/dev/null && want_pkgs+=(prosody)
[[ ,$SERVERS, == *,ejabberd,* ]] && ! command -v ejabberdctl >/dev/null && want_pkgs+=(ejabberd)
if [ ${#want_pkgs[@]} -gt 0 ]; then
	log "installing ${want_pkgs[*]} from Debian"
	# The packages' postinst may start a system instance on the default ports
	# (where systemd runs); this script never uses those ports.
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${want_pkgs[@]}" >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${want_pkgs[@]}" >&2; }
fi

# --- work dir, builds, certificate ---------------------------------------------
rm -rf "$WORK"
mkdir -p "$WORK/bin" "$WORK/parley/data" "$WORK/prosody/data" "$WORK/ejabberd/spool" "$WORK/ejabberd/logs"
chmod 755 "$WORK"
log "building parley and parley-bench"
(cd "$REPO" && go build -o "$WORK/bin/parley" ./cmd/parley && go build -o "$WORK/bin/parley-bench" ./cmd/parley-bench)

# One self-signed P-256 certificate for all three, so the TLS handshakes cost the same.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
cp "$WORK/cert.pem" "$WORK/key.pem" "$WORK/prosody/"
cat "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/ejabberd/bench.pem"

case $PROSODY_NAGLE in on) NAGLE=true ;; off) NAGLE=false ;; *) die "--prosody-nagle is on or off" ;; esac
fill() { sed -e "s|@WORK@|$WORK|g" -e "s|@PORT@|$2|g" -e "s|@ADMIN@|${3:-}|g" -e "s|@NAGLE@|$NAGLE|g" "$1"; }
fill "$TPL/parley.yaml" $PARLEY_PORT $PARLEY_ADMIN >"$WORK/parley/parley.yaml"
fill "$TPL/prosody.cfg.lua" $PROSODY_PORT >"$WORK/prosody/prosody.cfg.lua"
fill "$TPL/ejabberd.yml" $EJABBERD_PORT >"$WORK/ejabberd/ejabberd.yml"
fill "$TPL/ejabberdctl.cfg" 0 >"$WORK/ejabberd/ejabberdctl.cfg"
id prosody >/dev/null 2>&1 && chown -R prosody: "$WORK/prosody"
id ejabberd >/dev/null 2>&1 && chown -R ejabberd: "$WORK/ejabberd"

# --- machine and versions ------------------------------------------------------------
{
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(free -g | awk '/Mem:/{print $2}') GiB, Linux $(uname -r)"
	echo "parley: $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown) ($(go version | awk '{print $3}'))"
	echo "prosody: $(dpkg-query -W -f='${Version}' prosody 2>/dev/null || echo none)"
	echo "ejabberd: $(dpkg-query -W -f='${Version}' ejabberd 2>/dev/null || echo none)"
	echo "load: runs=$RUNS users=$USERS ramp=$RAMP hold=$HOLD rates=$RATES step=$STEP size=$SIZE mech=$MECH prosody-nagle=$PROSODY_NAGLE"
} >"$WORK/machine.txt"

# --- server control ------------------------------------------------------------
SERVER_PID=  # the process whose CPU and RSS are measured
LAUNCH_PID=  # the process started here (its parent, for ejabberd)

wait_port() { # port seconds pid: until the port accepts, the time is up or pid has exited
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# descendant NAME PID: the first descendant process of PID named NAME.
descendant() {
	local kids k found
	kids=$(ps -o pid= --ppid "$2" 2>/dev/null) || true
	for k in $kids; do
		[ "$(ps -o comm= -p "$k")" = "$1" ] && { echo "$k"; return 0; }
		found=$(descendant "$1" "$k") && { echo "$found"; return 0; }
	done
	return 1
}

start_server() {
	local s=$1 port
	case $s in
	parley)
		port=$PARLEY_PORT
		port_free $port || die "port $port is in use"
		(cd "$WORK/parley" && exec taskset -c 0 "$WORK/bin/parley" serve --config "$WORK/parley/parley.yaml") \
			>>"$WORK/parley/parley.log" 2>&1 &
		LAUNCH_PID=$! SERVER_PID=$!
		;;
	prosody)
		port=$PROSODY_PORT
		port_free $port || die "port $port is in use"
		# Prosody refuses to run as root; setpriv execs, so $! is Prosody itself.
		(cd "$WORK/prosody" && exec taskset -c 0 setpriv --reuid=prosody --regid=prosody --init-groups \
			env HOME="$WORK/prosody" prosody --config "$WORK/prosody/prosody.cfg.lua" -F) \
			>>"$WORK/prosody/stdout.log" 2>&1 &
		LAUNCH_PID=$! SERVER_PID=$!
		;;
	ejabberd)
		port=$EJABBERD_PORT
		port_free $port || die "port $port is in use"
		# ejabberdctl (a shell script) starts erl, which runs beam.smp: measure beam.smp.
		(cd "$WORK/ejabberd" && exec taskset -c 0 setpriv --reuid=ejabberd --regid=ejabberd --init-groups \
			env HOME="$WORK/ejabberd" ejabberdctl --config "$WORK/ejabberd/ejabberd.yml" \
			--ctl-config "$WORK/ejabberd/ejabberdctl.cfg" --spool "$WORK/ejabberd/spool" \
			--logs "$WORK/ejabberd/logs" foreground) >>"$WORK/ejabberd/stdout.log" 2>&1 &
		LAUNCH_PID=$!
		SERVER_PID=
		;;
	esac
	if ! wait_port $port 60 "$LAUNCH_PID"; then
		stop_server "$s"
		return 1
	fi
	if [ "$s" = ejabberd ]; then
		SERVER_PID=$(descendant beam.smp "$LAUNCH_PID") || { stop_server "$s"; return 1; }
	fi
	log "$s up on 127.0.0.1:$port, pid $SERVER_PID, affinity $(taskset -cp "$SERVER_PID" | sed 's/.*: //')"
}

stop_server() {
	local pid=${SERVER_PID:-$LAUNCH_PID} i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && { log "$1 ignored TERM for 30 s; killing pid $pid"; kill -KILL "$pid" 2>/dev/null || true; }
	wait "$LAUNCH_PID" 2>/dev/null || true
	SERVER_PID= LAUNCH_PID=
}
trap 'log "stopping"; [ -n "${CURRENT:-}" ] && stop_server "$CURRENT"' EXIT

# --- load ------------------------------------------------------------------------
server_port() { case $1 in parley) echo $PARLEY_PORT ;; prosody) echo $PROSODY_PORT ;; ejabberd) echo $EJABBERD_PORT ;; esac; }

tool() { # server run command args...: runs parley-bench on core 1, appends a JSON line
	local s=$1 run=$2 cmd=$3; shift 3
	local common=(--server "127.0.0.1:$(server_port "$s")" --insecure --mech "$MECH"
		--users "$USERS" --server-pid "$SERVER_PID" --progress 0 --json "$WORK/last.json")
	[ "$s" = parley ] && common+=(--metrics "http://127.0.0.1:$PARLEY_ADMIN/metrics")
	local line="taskset -c 1 parley-bench $cmd ${common[*]} $*"
	log "$s run $run: $line"
	taskset -c 1 "$WORK/bin/parley-bench" "$cmd" "${common[@]}" "$@" 2>>"$WORK/tool.log" ||
		log "WARNING: parley-bench $cmd against $s exited $?"
	[ -s "$WORK/last.json" ] || { log "WARNING: no report from $cmd against $s"; return 0; }
	jq -c --arg s "$s" --argjson r "$run" --arg c "$line" \
		'{server: $s, run: $r, command: $c, report: .}' "$WORK/last.json" >>"$RESULTS"
	rm -f "$WORK/last.json"
}

IFS=, read -r -a SERVER_LIST <<<"$SERVERS"
declare -A SKIPPED=()
: >"$RESULTS"
log "results: $RESULTS"
for ((run = 1; run <= RUNS; run++)); do
	for s in "${SERVER_LIST[@]}"; do
		[ -n "${SKIPPED[$s]:-}" ] && continue
		CURRENT=$s
		if ! start_server "$s"; then
			SKIPPED[$s]=1
			log "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
			log "!!! $s did not start: SKIPPED for the rest of this run; no figures for it."
			log "!!! see $WORK/$s/ (logs) — last lines:"
			tail -n 15 "$WORK/$s"/*.log "$WORK/$s"/logs/*.log >&2 2>/dev/null || true
			log "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
			printf '{"server":"%s","run":%d,"skipped":"did not start"}\n' "$s" "$run" >>"$RESULTS"
			CURRENT=
			continue
		fi
		[ "$run" = 1 ] && tool "$s" "$run" provision
		sleep 2 # let provisioning's work settle before measuring
		tool "$s" "$run" conns --ramp "$RAMP" --hold "$HOLD"
		tool "$s" "$run" msgs --ramp "$RAMP" --rates "$RATES" --step "$STEP" --size "$SIZE"
		stop_server "$s"
		CURRENT=
	done
done

trap - EXIT
python3 "$REPO/bench/table.py" "$RESULTS" "$WORK/machine.txt" "$SERVERS"
