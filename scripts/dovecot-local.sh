#!/usr/bin/env bash
# A throwaway Dovecot (Debian's dovecot-imapd + dovecot-lmtpd) as the reference server for
# benchmarks and differential tests: its own config, users, mail (sdbox) and sockets under DIR,
# listening on 127.0.0.1 only, IMAP without TLS and LMTP over TCP.
#
#   scripts/dovecot-local.sh start DIR [--full] [--maildir] [USER:PASSWORD ...]   (default user: bench:bench)
#       --full: also the extensions rmb is compared on (special-use mailboxes, COMPRESS,
#       QUOTA with a 1 GiB / 100000-message rule, METADATA, SCRAM-SHA-256); without it the
#       plain set-up the benchmarks use
#       --maildir: mail in Maildir++ under DIR/home/USER/Maildir (the migration's on-disk source)
#       instead of sdbox
#       --master NAME:PASSWORD: a master user who may log in as any user (LOGIN user*NAME, or
#       AUTHENTICATE PLAIN with the user as authorization identity)
#       --tls: a self-signed certificate (openssl), STARTTLS on the IMAP port and implicit TLS
#       on DOVECOT_IMAPS_PORT (the proxy's upstream leg in tests)
#       prints the environment a caller evals: DOVECOT_IMAP_PORT, DOVECOT_LMTP_PORT, DOVECOT_DIR
#       (and DOVECOT_IMAPS_PORT with --tls)
#   scripts/dovecot-local.sh stop DIR
# DIR and its parents must be traversable by the users dovecot and nobody (mode 755).
set -euo pipefail

die() { echo "dovecot-local: $*" >&2; exit 1; }

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && { echo "$p"; return; }
  done
  die "no free port"
}

cmd_start() {
  local dir=${1:-}; shift || true
  [ -n "$dir" ] || die "usage: start DIR [USER:PASSWORD ...]"
  command -v dovecot >/dev/null || die "dovecot not found (Debian: apt-get install dovecot-imapd dovecot-lmtpd)"
  local full=0 location='sdbox:~/mail' master='' tls=0
  while [ "${1:-}" = --full ] || [ "${1:-}" = --maildir ] || [ "${1:-}" = --master ] || [ "${1:-}" = --tls ]; do
    case $1 in
      --full) full=1 ;;
      --tls) tls=1 ;;
      --maildir) location='maildir:~/Maildir' ;;
      --master) shift; master=${1:-} ;;
    esac
    shift
  done
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -e "$dir/dovecot.conf" ] && die "$dir already holds a Dovecot (stop it first)"
  mkdir -p "$dir/run" "$dir/home" "$dir/log"
  # dovecot's auth and login processes run as other users: the tree must be traversable
  chmod 755 "$dir" "$dir/run" "$dir/log"
  local users=("$@")
  [ ${#users[@]} -gt 0 ] || users=("bench:bench")
  : >"$dir/passwd"
  for u in "${users[@]}"; do echo "${u%%:*}:{PLAIN}${u#*:}::::::" >>"$dir/passwd"; done
  chmod 644 "$dir/passwd"
  local imap lmtp uid gid
  imap=$(free_port); lmtp=$(free_port)
  # mail is stored as an unprivileged user (Dovecot refuses uid 0 for mail access)
  if [ "$(id -u)" = 0 ]; then uid=$(id -u nobody); gid=$(id -g nobody); chown "$uid:$gid" "$dir/home"
  else uid=$(id -u); gid=$(id -g); fi
  cat >"$dir/dovecot.conf" <<EOF
base_dir = $dir/run
state_dir = $dir/run
log_path = $dir/log/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = $location
# benchmarks open many sessions of one user (scripts/bench-large.mjs)
mail_max_userip_connections = 1000
mail_privileged_group =
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $dir/passwd
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$dir/home/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $lmtp
  }
  unix_listener lmtp {
    mode = 0600
  }
}
service auth {
  unix_listener auth-userdb {
    mode = 0666
  }
}
protocol lmtp {
  postmaster_address = postmaster@localhost
}
EOF
  if [ -n "$master" ]; then
    echo "${master%%:*}:{PLAIN}${master#*:}::::::" >"$dir/master-users"
    chmod 644 "$dir/master-users"
    cat >>"$dir/dovecot.conf" <<EOF
auth_master_user_separator = *
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $dir/master-users
  master = yes
}
EOF
  fi
  local imaps=0
  if [ "$tls" = 1 ]; then
    command -v openssl >/dev/null || die "--tls needs openssl"
    imaps=$(free_port)
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
      -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null || die "openssl could not make a certificate"
    chmod 644 "$dir/cert.pem" "$dir/key.pem"
    sed -i 's/^ssl = no$/ssl = yes/' "$dir/dovecot.conf"
    sed -i "s/^    port = 0$/    address = 127.0.0.1\n    port = $imaps/" "$dir/dovecot.conf"
    printf 'ssl_cert = <%s\nssl_key = <%s\n' "$dir/cert.pem" "$dir/key.pem" >>"$dir/dovecot.conf"
  fi
  if [ "$full" = 1 ]; then
    sed -i 's/^auth_mechanisms = plain login$/auth_mechanisms = plain login scram-sha-256/' "$dir/dovecot.conf"
    cat >>"$dir/dovecot.conf" <<'EOF'
mail_plugins = $mail_plugins quota
protocol imap {
  mail_plugins = $mail_plugins imap_quota imap_zlib
  imap_metadata = yes
}
mail_attribute_dict = file:%h/dovecot-attributes
plugin {
  quota = count:User quota
  quota_rule = *:storage=1G:messages=100000
  quota_vsizes = yes
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \Drafts
  }
  mailbox Sent {
    special_use = \Sent
  }
  mailbox Trash {
    special_use = \Trash
  }
  mailbox Junk {
    special_use = \Junk
  }
  mailbox Archive {
    special_use = \Archive
  }
}
EOF
  fi
  # its own output away from ours: a caller reading our stdout to the end must not wait for it
  dovecot -c "$dir/dovecot.conf" </dev/null >"$dir/log/start.log" 2>&1 || die "dovecot did not start (see $dir/log/start.log, $dir/log/dovecot.log)"
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$imap") 2>/dev/null && break
    sleep 0.1
  done
  echo "$imap" >"$dir/imap.port"
  echo "$lmtp" >"$dir/lmtp.port"
  echo "export DOVECOT_DIR='$dir'"
  echo "export DOVECOT_IMAP_PORT=$imap"
  echo "export DOVECOT_LMTP_PORT=$lmtp"
  [ "$tls" = 1 ] && echo "export DOVECOT_IMAPS_PORT=$imaps"
  return 0
}

cmd_stop() {
  local dir=${1:-}
  [ -n "$dir" ] || die "usage: stop DIR"
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/dovecot.conf" ] || die "$dir is not a Dovecot made by this script"
  dovecot -c "$dir/dovecot.conf" stop 2>/dev/null || true
  local pid
  pid=$(cat "$dir/run/master.pid" 2>/dev/null || true)
  for _ in $(seq 1 50); do
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  rm -rf "$dir"
}

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
