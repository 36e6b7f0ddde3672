#!/usr/bin/env bash
# The README's test command as a new user runs it: in a copy of the repository placed where there
# is no workplace directory beside it, with the outside parts hidden (Ceph's daemons and tools, Dovecot, mbsync,
# neomutt, smtp-source: whited out by an overlay over /usr/bin and /usr/sbin in a private mount
# namespace) and no RMB_CEPH_CONF or RMB_*_REQUIRED. It must pass, and its banner must name every
# part that was missing. Used by .ci/run before the full run. Needs root (mount namespaces).
#   scripts/fresh-clone-test.sh            copies the tracked (and new, unignored) files of this checkout
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "fresh-clone-test: needs root for a private mount namespace" >&2; exit 1; }
work=$(mktemp -d /tmp/rmb-fresh.XXXXXX)
trap 'rm -rf "$work"' EXIT
# the copy: what a clone would hold (tracked files as they are in the work tree, plus new unignored ones)
mkdir "$work/rmb"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) \
  | tar -xf - -C "$work/rmb"
[ ! -e "$work/shared" ] || { echo "fresh-clone-test: $work/shared exists" >&2; exit 1; }
HIDE=(ceph ceph-mon ceph-osd ceph-mgr ceph-authtool monmaptool rados dovecot doveadm mbsync neomutt smtp-source)
log="$work/test.log"
cat > "$work/inner.sh" <<'INNER'
set -euo pipefail
work=$1; shift
mkdir -p "$work/ov" && mount -t tmpfs tmpfs "$work/ov"
for d in /usr/bin /usr/sbin; do
  n=$(basename "$d"); mkdir -p "$work/ov/up-$n" "$work/ov/work-$n"
  for t in "$@"; do [ -e "$d/$t" ] && mknod "$work/ov/up-$n/$t" c 0 0; done
  mount -t overlay overlay -o "lowerdir=$d,upperdir=$work/ov/up-$n,workdir=$work/ov/work-$n" "$d"
done
for t in "$@"; do if command -v "$t" >/dev/null; then echo "fresh-clone-test: $t is still visible" >&2; exit 1; fi; done
for v in $(env | grep -o '^RMB_[A-Z_]*' || true); do unset "$v"; done
cd "$work/rmb"
echo "fresh-clone-test: $(pwd), hidden: $*"
npm ci --no-audit --no-fund && npm test
INNER
set +e
unshare --mount --propagation private bash "$work/inner.sh" "$work" "${HIDE[@]}" </dev/null 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { echo "fresh-clone-test: npm ci && npm test FAILED in the fresh copy (exit $status)" >&2; exit 1; }
for want in 'SUITE(S) DID NOT RUN' 'a Ceph cluster' 'Dovecot' '/usr/bin/mbsync' '/usr/bin/neomutt'; do
  grep -qF "$want" "$log" || { echo "fresh-clone-test: the banner does not name: $want" >&2; exit 1; }
done
echo "fresh-clone-test: passed in a fresh copy with nothing beside it and without the outside parts; banner printed"
