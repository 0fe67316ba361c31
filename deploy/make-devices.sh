#!/usr/bin/env bash
# Generates per-device configuration and broker credentials for a site (deploy/README.md).
#
#   deploy/make-devices.sh [options] DEVICE_ID...
#
# Writes into OUT (default ./site; keep it private, it holds the plaintext passwords):
#   devices/<id>/agent.env       the agent's env file, from deploy/agent.env.example
#   devices/<id>/mqtt-password   the device's broker password (Docker secret)
#   devices/<id>/compose.env     settings for docker-compose.yml on the device (--env-file, systemd unit)
#   broker/passwd, broker/acl    the site broker's accounts (every device, the operator, Home Assistant) and ACL
#   operator.env                 MQTT_OPERATOR_USERNAME and MQTT_OPERATOR_PASSWORD
#   homeassistant.env            MQTT_HA_USERNAME and MQTT_HA_PASSWORD: Home Assistant's MQTT integration
# Copy devices/<id>/ to INSTALL_DIR on each device, and broker/ to INSTALL_DIR/broker on the broker's host.
#
# Run it again with more ids to add devices: existing passwords are kept, and broker/passwd always covers
# every device in OUT. --rotate gives the named devices (or, with no ids, every device and the operator)
# new passwords; --remove takes the named devices out, and with --broker first clears what they left retained
# there (availability, state, claims, Home Assistant discovery), so no ghost device stays behind.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

usage() {
  cat >&2 <<USAGE
usage: $0 [options] DEVICE_ID...
  -o, --out DIR          output directory (default ./site)
  --authority URL        KIOSK_AUTHORITY of every device (default: the template's placeholder)
  --client-id ID         KIOSK_CLIENT_ID of every device
  --mqtt-url URL         KIOSK_MQTT_URL: how devices reach the site broker (default mqtt://mosquitto:1883)
  --prefix P             MQTT topic prefix (default kiosk)
  --operator NAME        the operator's MQTT username (default operator)
  --ha-user NAME         Home Assistant's MQTT username (default homeassistant)
  --install-dir DIR      where device files live on the devices (default /etc/kiosk-agent)
  --rotate               new passwords for the given devices; with no ids, for every device and the operator
  --remove               remove the given devices
  --broker URL           with --remove: clear their retained topics on this broker first, with each device's
                         own account (mqtt://host:1883, or mqtts://host:8883 with --broker-ca FILE); uses
                         mosquitto_pub, or the eclipse-mosquitto:2 image when it is not installed
  --broker-ca FILE       the broker's CA certificate for mqtts://
USAGE
  exit 2
}

out=./site authority= client_id= mqtt_url= prefix=kiosk operator=operator ha_user=homeassistant install=/etc/kiosk-agent mode=add
broker= broker_ca=
ids=()
while [ $# -gt 0 ]; do
  case "$1" in
    -o | --out) out=${2:?}; shift 2 ;;
    --authority) authority=${2:?}; shift 2 ;;
    --client-id) client_id=${2:?}; shift 2 ;;
    --mqtt-url) mqtt_url=${2:?}; shift 2 ;;
    --prefix) prefix=${2:?}; shift 2 ;;
    --operator) operator=${2:?}; shift 2 ;;
    --ha-user) ha_user=${2:?}; shift 2 ;;
    --broker) broker=${2:?}; shift 2 ;;
    --broker-ca) broker_ca=${2:?}; shift 2 ;;
    --install-dir) install=${2:?}; shift 2 ;;
    --rotate) mode=rotate; shift ;;
    --remove) mode=remove; shift ;;
    -h | --help) usage ;;
    -*) echo "$0: unknown option $1" >&2; usage ;;
    *) ids+=("$1"); shift ;;
  esac
done

valid_id() { [[ "$1" =~ ^[A-Za-z0-9_-]{1,64}$ ]]; }
for id in "${ids[@]}"; do valid_id "$id" || { echo "$0: device id \"$id\": use 1-64 letters, digits, _ and - (CONTRACT §3)" >&2; exit 2; }; done
valid_id "$operator" || { echo "$0: operator name \"$operator\": use letters, digits, _ and -" >&2; exit 2; }
valid_id "$ha_user" || { echo "$0: Home Assistant user \"$ha_user\": use letters, digits, _ and -" >&2; exit 2; }
[ -z "$broker" ] || [ "$mode" = remove ] || { echo "$0: --broker goes with --remove" >&2; exit 2; }
[[ -z "$broker" || "$broker" =~ ^mqtts?://[^/:]+(:[0-9]+)?/?$ ]] || { echo "$0: --broker \"$broker\": mqtt://host[:port] or mqtts://host[:port]" >&2; exit 2; }
[[ "$prefix" =~ ^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$ ]] || { echo "$0: prefix \"$prefix\": topic levels of letters, digits, _ and -" >&2; exit 2; }
[ "$mode" = rotate ] || [ ${#ids[@]} -gt 0 ] || [ -d "$out/devices" ] || usage

umask 077
mkdir -p "$out/devices" "$out/broker"
chmod 0700 "$out"

secret() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32; }
as_root() { [ "$(id -u)" = 0 ]; }

# One env-file line: replace KEY=... (commented or not) in FILE, or append it.
set_line() {
  local file=$1 key=$2 value=$3
  if grep -qE "^#? ?$key=" "$file"; then
    local edited
    edited=$(awk -v k="$key" -v v="$value" 'BEGIN { done = 0 } $0 ~ "^#? ?" k "=" && !done { print k "=" v; done = 1; next } { print }' "$file")
    printf '%s\n' "$edited" > "$file"
  else
    printf '%s=%s\n' "$key" "$value" >> "$file"
  fi
}

write_device() {
  local id=$1 dir="$out/devices/$1"
  mkdir -p "$dir"
  if [ ! -s "$dir/mqtt-password" ] || [ "$mode" = rotate ]; then secret > "$dir/mqtt-password"; fi
  # The agent (uid 1000 in the image) reads the secret through a bind mount.
  if as_root; then chown 1000:1000 "$dir/mqtt-password"; fi
  chmod 0600 "$dir/mqtt-password"
  if [ ! -f "$dir/agent.env" ]; then
    cp "$here/agent.env.example" "$dir/agent.env"
    chmod 0644 "$dir/agent.env"
  fi
  set_line "$dir/agent.env" KIOSK_DEVICE_ID "$id"
  set_line "$dir/agent.env" KIOSK_MQTT_USERNAME "$id"
  set_line "$dir/agent.env" KIOSK_MQTT_PREFIX "$prefix"
  [ -z "$authority" ] || set_line "$dir/agent.env" KIOSK_AUTHORITY "$authority"
  [ -z "$client_id" ] || set_line "$dir/agent.env" KIOSK_CLIENT_ID "$client_id"
  [ -z "$mqtt_url" ] || set_line "$dir/agent.env" KIOSK_MQTT_URL "$mqtt_url"
  if [ ! -f "$dir/compose.env" ]; then
    cat > "$dir/compose.env" <<ENV
# docker-compose.yml settings for kiosk $id (deploy/README.md): --env-file, or the systemd unit's EnvironmentFile.
COMPOSE_PROJECT_NAME=kiosk
AGENT_ENV_FILE=$install/agent.env
AGENT_MQTT_PASSWORD_FILE=$install/mqtt-password
# On the site broker's host (INSTALL_DIR/broker from broker/):
MQTT_PASSWORD_FILE=$install/broker/passwd
MQTT_ACL_FILE=$install/broker/acl
# Other devices of the site reach the broker: MQTT_HOST_BIND=0.0.0.0 (and firewall the port to the site).
# MQTT_HOST_BIND=0.0.0.0
# A device without the broker runs the agent alone (KIOSK_MQTT_URL names the site broker):
# KIOSK_UP_ARGS=--no-deps agent
# A Raspberry Pi screen, a bridge to the central cluster:
# COMPOSE_FILE=docker-compose.yml:deploy/compose.pi.yml
# COMPOSE_FILE=docker-compose.yml:deploy/compose.bridge.yml
# MQTT_BRIDGE_DIR=$install/bridge
# An image from your registry instead of a local build (deploy/README.md, "Updating the image"):
# AGENT_IMAGE=registry.example.com/kiosk-agent:0.1.0
ENV
    chmod 0644 "$dir/compose.env"
  fi
}

# Empty retained messages on what a device leaves retained: its state topics and its Home Assistant discovery
# configs (device-based, and the per-entity ones of earlier versions), published with its own account.
clear_retained() {
  local id=$1 pass host port tls=() topics=()
  pass=$(cat "$out/devices/$id/mqtt-password")
  host=${broker#*://}; host=${host%/}; port=${host##*:}; host=${host%%:*}
  [ "$port" != "$host" ] || port=
  if [[ "$broker" == mqtts://* ]]; then port=${port:-8883}; tls=(--cafile "${broker_ca:?--broker-ca is needed for mqtts://}"); else port=${port:-1883}; fi
  topics=("$prefix/$id/availability" "$prefix/$id/state" "$prefix/$id/claims" "homeassistant/device/$id/config"
    "homeassistant/sensor/$id/sign_in_state/config" "homeassistant/sensor/$id/signed_in_user/config"
    "homeassistant/button/$id/refresh/config" "homeassistant/button/$id/sign_out/config")
  for topic in "${topics[@]}"; do
    if command -v mosquitto_pub >/dev/null 2>&1; then
      mosquitto_pub -h "$host" -p "$port" "${tls[@]}" -u "$id" -P "$pass" -q 1 -r -n -t "$topic"
    else
      local mount=()
      [ -z "$broker_ca" ] || { mount=(-v "$(cd "$(dirname "$broker_ca")" && pwd)/$(basename "$broker_ca"):/ca.pem:ro"); tls=(--cafile /ca.pem); }
      docker run --rm --network host "${mount[@]}" "${MOSQUITTO_IMAGE:-eclipse-mosquitto:2}" \
        mosquitto_pub -h "$host" -p "$port" "${tls[@]}" -u "$id" -P "$pass" -q 1 -r -n -t "$topic"
    fi || { echo "$0: could not clear $topic on $broker; $id is kept (fix the broker address or credentials, or drop --broker)" >&2; exit 1; }
  done
  echo "$0: cleared the retained topics of $id on $broker" >&2
}

case "$mode" in
  remove)
    [ ${#ids[@]} -gt 0 ] || usage
    for id in "${ids[@]}"; do
      if [ -n "$broker" ] && [ -s "$out/devices/$id/mqtt-password" ]; then clear_retained "$id"; fi
      rm -rf "${out:?}/devices/$id"
    done ;;
  rotate)
    if [ ${#ids[@]} -eq 0 ]; then
      for d in "$out"/devices/*/; do [ -d "$d" ] && ids+=("$(basename "$d")"); done
      rm -f "$out/operator.env" "$out/homeassistant.env"
    fi
    for id in "${ids[@]}"; do [ -d "$out/devices/$id" ] || { echo "$0: no device $id in $out" >&2; exit 2; }; write_device "$id"; done ;;
  add)
    for id in "${ids[@]}"; do write_device "$id"; done ;;
esac

# The operator: kept unless rotated (or renamed).
if [ -s "$out/operator.env" ] && grep -qx "MQTT_OPERATOR_USERNAME=$operator" "$out/operator.env"; then :; else
  printf 'MQTT_OPERATOR_USERNAME=%s\nMQTT_OPERATOR_PASSWORD=%s\n' "$operator" "$(secret)" > "$out/operator.env"
fi
chmod 0600 "$out/operator.env"
op_pass=$(sed -n 's/^MQTT_OPERATOR_PASSWORD=//p' "$out/operator.env")
# Home Assistant's account, kept likewise (rotated with everything else).
if [ -s "$out/homeassistant.env" ] && grep -qx "MQTT_HA_USERNAME=$ha_user" "$out/homeassistant.env"; then :; else
  printf 'MQTT_HA_USERNAME=%s\nMQTT_HA_PASSWORD=%s\n' "$ha_user" "$(secret)" > "$out/homeassistant.env"
fi
chmod 0600 "$out/homeassistant.env"
ha_pass=$(sed -n 's/^MQTT_HA_PASSWORD=//p' "$out/homeassistant.env")

# The broker's ACL for this prefix and operator (from docker/mosquitto/acl) and its password file.
sed -e "s#^\(pattern [a-z]* \)kiosk/#\1$prefix/#" -e "s#^\(topic [a-z]* \)kiosk/#\1$prefix/#" \
  -e "s#^user operator\$#user $operator#" -e "s#^user homeassistant\$#user $ha_user#" "$root/docker/mosquitto/acl" > "$out/broker/acl"
chmod 0644 "$out/broker/acl"
{
  printf '%s:%s\n' "$operator" "$op_pass"
  printf '%s:%s\n' "$ha_user" "$ha_pass"
  for d in "$out"/devices/*/; do
    [ -d "$d" ] || continue
    id=$(basename "$d")
    [ "$id" != "$operator" ] && [ "$id" != "$ha_user" ] || { echo "$0: device id $id is the operator's or Home Assistant's name" >&2; exit 2; }
    printf '%s:%s\n' "$id" "$(cat "$d/mqtt-password")"
  done
} | "$root/docker/mosquitto/make-passwd.sh" "$out/broker/passwd"

count=$(find "$out/devices" -mindepth 1 -maxdepth 1 -type d | wc -l)
echo "$0: $count device(s) in $out; broker accounts in $out/broker/passwd; restart the broker after copying them" >&2
