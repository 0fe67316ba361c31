#!/usr/bin/env bash
# Creates a Mosquitto password file (hashed, PBKDF2-SHA512) from `username:password` lines on stdin.
#
#   printf 'kiosk-001:%s\noperator:%s\n' "$pw1" "$pw2" | docker/mosquitto/make-passwd.sh /etc/kiosk-agent/broker/passwd
#
# Uses the host's mosquitto_passwd when there is one, else the one in the eclipse-mosquitto:2 image
# (MOSQUITTO_IMAGE), run without network. The file replaces OUT atomically. The broker container runs as
# uid 1883 and must read it: when run as root the file is owned by 1883 with mode 0600, otherwise it gets
# mode 0644 (copy it into place as root, e.g. `install -o 1883 -g 1883 -m 0600`).
# The plaintext exists only in a private temp dir for the duration of the call.
set -euo pipefail

usage() { echo "usage: $0 OUT_FILE < lines of username:password" >&2; exit 2; }
[ $# -eq 1 ] || usage
out=$1
image=${MOSQUITTO_IMAGE:-eclipse-mosquitto:2}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0700 "$work"
umask 077

n=0
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in '' | '#'*) continue ;; esac
  user=${line%%:*}
  pass=${line#*:}
  if [ "$user" = "$line" ] || [ -z "$user" ] || [ -z "$pass" ]; then
    echo "$0: line $((n + 1)): expected username:password" >&2; exit 2
  fi
  case "$user" in *[!A-Za-z0-9_.@-]*) echo "$0: username \"$user\": use letters, digits, _ . @ - only" >&2; exit 2 ;; esac
  printf '%s:%s\n' "$user" "$pass" >> "$work/passwd"
  n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "$0: no credentials on stdin" >&2; exit 2; }

if command -v mosquitto_passwd >/dev/null 2>&1; then
  mosquitto_passwd -U "$work/passwd"
else
  docker run --rm --network none --user "$(id -u):$(id -g)" -v "$work:/work" "$image" mosquitto_passwd -U /work/passwd
fi
grep -q '^[^:]*:\$[0-9]' "$work/passwd" || { echo "$0: mosquitto_passwd did not hash the file" >&2; exit 1; }

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
cp "$work/passwd" "$tmp"
if [ "$(id -u)" = 0 ]; then
  chown 1883:1883 "$tmp" && chmod 0600 "$tmp"
else
  chmod 0644 "$tmp"
fi
mv -f "$tmp" "$out"
echo "$0: wrote $n account(s) to $out" >&2
