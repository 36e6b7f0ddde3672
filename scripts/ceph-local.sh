#!/usr/bin/env bash
# A throwaway single-node Ceph cluster for tests and benchmarks, every file under one directory,
# listening on 127.0.0.1 only. Needs Debian's ceph-mon ceph-osd ceph-common.
#
#   scripts/ceph-local.sh start DIR [--osds N] [--replicas R] [--store memstore|bluestore] [--size MiB] [--pool NAME]
#       starts 1 mon + N OSDs (default 1, memstore, 1024 MiB per OSD, pool "mail" with R copies,
#       default 1; min_size R-1 when R > 2) and prints the environment a caller evals:
#       eval "$(scripts/ceph-local.sh start /tmp/c)"; with several OSDs one that stops answering is
#       marked down within about 4 s (heartbeat grace 4 s, one reporter), so its PGs move on quickly
#   scripts/ceph-local.sh stop DIR          stops the daemons this script started there, removes DIR
#   scripts/ceph-local.sh env DIR           prints the environment again
#   scripts/ceph-local.sh osd stop|kill|start DIR ID
#       stops (SIGTERM, waits; kill: SIGKILL) or restarts one OSD; with memstore a restarted OSD is empty
#   scripts/ceph-local.sh osd pause|resume DIR ID
#       freezes (SIGSTOP) or thaws (SIGCONT) one OSD: clients see it as unreachable, data survives
#
# Built from the workplace notes on starting a throwaway Ceph; everything it needs is in this script.
set -euo pipefail

die() { echo "ceph-local: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 not found (Debian: apt-get install ceph-mon ceph-osd ceph-common)"; }

print_env() {
  local dir=$1
  local pool; pool=$(cat "$dir/pool")
  echo "export CEPH_CONF='$dir/ceph.conf'"
  echo "export RMB_CEPH_CONF='$dir/ceph.conf'"
  echo "export RMB_CEPH_POOL='$pool'"
  echo "export RMB_CEPH_CLIENT='client.admin'"
}

# pid of daemon NAME (mon.a, osd.0) if it runs with this cluster's config
daemon_pid() {
  local dir=$1 name=$2 pidf="$1/run/$2.pid" pid
  [ -f "$pidf" ] || return 1
  pid=$(cat "$pidf")
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$dir/ceph.conf" || return 1
  echo "$pid"
}

stop_daemon() {
  local dir=$1 name=$2 pid i
  pid=$(daemon_pid "$dir" "$name") || return 0
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
  die "$name (pid $pid) did not stop"
}

start_osd() {
  local dir=$1 id=$2
  env MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=32768 \
    ceph-osd -c "$dir/ceph.conf" -i "$id" >>"$dir/log/osd.$id.out" 2>&1
}

wait_io() {
  local dir=$1 pool=$2 i
  for i in $(seq 1 300); do
    if timeout 10 rados -c "$dir/ceph.conf" -p "$pool" put ceph-local-probe /etc/hostname 2>/dev/null; then
      rados -c "$dir/ceph.conf" -p "$pool" rm ceph-local-probe 2>/dev/null || true
      return 0
    fi
    sleep 0.2
  done
  die "the cluster in $dir did not accept a write within 60 s (logs: $dir/log)"
}

cmd_start() {
  local dir="" osds=1 store=memstore size=1024 pool=mail replicas=1
  while [ $# -gt 0 ]; do
    case $1 in
      --osds) osds=$2; shift 2 ;;
      --replicas) replicas=$2; shift 2 ;;
      --store) store=$2; shift 2 ;;
      --size) size=$2; shift 2 ;;
      --pool) pool=$2; shift 2 ;;
      -*) die "unknown option $1" ;;
      *) dir=$1; shift ;;
    esac
  done
  [ -n "$dir" ] || die "usage: start DIR [--osds N] [--replicas R] [--store memstore|bluestore] [--size MiB] [--pool NAME]"
  [ "$replicas" -ge 1 ] && [ "$replicas" -le "$osds" ] || die "--replicas must be between 1 and the number of OSDs"
  case $store in memstore|bluestore) ;; *) die "--store must be memstore or bluestore" ;; esac
  need ceph-mon; need ceph-osd; need ceph; need rados; need monmaptool; need ceph-authtool
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -e "$dir/ceph.conf" ] && die "$dir already holds a cluster (stop it first)"
  mkdir -p "$dir/mon" "$dir/log" "$dir/run"
  echo "$pool" >"$dir/pool"
  local fsid port bytes
  fsid=$(cat /proc/sys/kernel/random/uuid)
  bytes=$((size * 1024 * 1024))
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 30000))
    ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  done
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$port]
mon initial members = a
public network = 127.0.0.0/8
ms bind msgr1 = false
ms bind retry count = 1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
osd pool default pg autoscale mode = off
mon allow pool delete = true
paxos propose interval = 0.1
mon mgr mkfs grace = 100000000
mon data avail warn = 2
mon data avail crit = 1
mon osd full ratio = .95
mon osd nearfull ratio = .90
osd objectstore = $store
$( [ "$osds" -gt 1 ] && printf '%s\n' 'osd heartbeat interval = 1' 'osd heartbeat grace = 4' \
  'mon osd min down reporters = 1' 'mon osd reporter subtree level = osd' )

[client]
# many short-lived clients (tests, rados CLI) would fight over one admin socket path
admin socket =

[mon]
mon data = $dir/mon/\$name

[osd]
osd data = $dir/osd/\$id
public addr = 127.0.0.1
cluster addr = 127.0.0.1
memstore device bytes = $bytes
bluestore block path = $dir/osd/\$id/bluestore.img
bluestore block create = true
bluestore block size = $bytes
bluestore cache autotune = false
bluestore cache size = 134217728
osd memory target = 536870912
EOF
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  local i
  for i in $(seq 0 $((osds - 1))); do
    ceph-authtool "$dir/keyring" --gen-key -n "osd.$i" --cap mon 'allow profile osd' --cap osd 'allow *' >/dev/null
  done
  monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" "$dir/monmap" >/dev/null
  ceph-mon -c "$dir/ceph.conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" >>"$dir/log/mkfs.out" 2>&1 \
    || die "ceph-mon --mkfs failed (see $dir/log/mkfs.out)"
  ceph-mon -c "$dir/ceph.conf" -i a >>"$dir/log/mon.a.out" 2>&1 || die "ceph-mon did not start (see $dir/log)"
  local uuids=() cmds=""
  for i in $(seq 0 $((osds - 1))); do
    uuids[$i]=$(cat /proc/sys/kernel/random/uuid)
    cmds+="osd new ${uuids[$i]} $i"$'\n'
  done
  cmds+="osd pool create $pool 8 8 replicated"$'\n'"osd pool application enable $pool rados"$'\n'
  if [ "$replicas" -gt 1 ]; then
    cmds+="osd pool set $pool size $replicas --yes-i-really-mean-it"$'\n'
    cmds+="osd pool set $pool min_size $(( replicas > 2 ? replicas - 1 : 1 ))"$'\n'
  fi
  printf '%s' "$cmds" | timeout 60 ceph -c "$dir/ceph.conf" >>"$dir/log/ceph-cli.out" 2>&1 \
    || die "ceph CLI set-up failed (see $dir/log/ceph-cli.out)"
  for i in $(seq 0 $((osds - 1))); do
    mkdir -p "$dir/osd/$i"
    ceph-osd -c "$dir/ceph.conf" -i "$i" --mkfs --osd-uuid "${uuids[$i]}" >>"$dir/log/mkfs.out" 2>&1 \
      || die "ceph-osd --mkfs failed for osd.$i (see $dir/log/mkfs.out)"
    start_osd "$dir" "$i" || die "ceph-osd $i did not start (see $dir/log)"
  done
  wait_io "$dir" "$pool"
  print_env "$dir"
}

cmd_stop() {
  local dir=${1:-}
  [ -n "$dir" ] || die "usage: stop DIR"
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/ceph.conf" ] || die "$dir is not a cluster made by this script"
  local f name
  for f in "$dir"/run/osd.*.pid "$dir"/run/mon.*.pid; do
    [ -f "$f" ] || continue
    name=$(basename "$f" .pid)
    stop_daemon "$dir" "$name"
  done
  rm -rf "$dir"
}

cmd_osd() {
  local action=${1:-} dir=${2:-} id=${3:-}
  [ -n "$action" ] && [ -n "$dir" ] && [ -n "$id" ] || die "usage: osd stop|kill|start|pause|resume DIR ID"
  dir=$(cd "$dir" && pwd)
  local pid
  case $action in
    stop) stop_daemon "$dir" "osd.$id" ;;
    kill)
      pid=$(daemon_pid "$dir" "osd.$id") || die "osd.$id does not run"
      kill -KILL "$pid"
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
      rm -f "$dir/run/osd.$id.pid" ;;
    start)
      daemon_pid "$dir" "osd.$id" >/dev/null && die "osd.$id already runs"
      start_osd "$dir" "$id" ;;
    pause) pid=$(daemon_pid "$dir" "osd.$id") || die "osd.$id does not run"; kill -STOP "$pid" ;;
    resume) pid=$(daemon_pid "$dir" "osd.$id") || die "osd.$id does not run"; kill -CONT "$pid" ;;
    *) die "osd: unknown action $action" ;;
  esac
}

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  env) shift; [ -f "${1:-}/ceph.conf" ] || die "no cluster in ${1:-}"; print_env "$(cd "$1" && pwd)" ;;
  osd) shift; cmd_osd "$@" ;;
  *) sed -n '2,21p' "$0" >&2; exit 2 ;;
esac
