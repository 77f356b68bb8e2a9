#!/usr/bin/env bash
# Brings up a real sshd on 127.0.0.1 for the remote-site tests (test/remote/): a second local
# account `nexusremote` plays the remote host's user. Idempotent. Needs root and the Debian
# package openssh-server (.ci/run installs it). Writes /run/nexus-sshd/env for the tests:
# NEXUS_SSHD_PORT, NEXUS_SSHD_USER, NEXUS_SSHD_KEY (client key), NEXUS_SSHD_KNOWN_HOSTS,
# NEXUS_SSHD_ROOT (the remote account's served directory).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "sshd-up.sh needs root: sudo scripts/sshd-up.sh" >&2
  exit 1
fi
if [ ! -x /usr/sbin/sshd ]; then
  echo "missing sshd: apt-get install --no-install-recommends openssh-server" >&2
  exit 1
fi

DIR=/run/nexus-sshd
USER_NAME=nexusremote
mkdir -p "$DIR" /run/sshd
chmod 755 "$DIR"

if ! id "$USER_NAME" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$USER_NAME"
fi
# '!' (locked, useradd's default) makes sshd refuse the account without PAM; '*' only forbids
# password logins.
usermod -p '*' "$USER_NAME"
HOME_DIR=$(getent passwd "$USER_NAME" | cut -d: -f6)
install -d -o "$USER_NAME" -m 755 "$HOME_DIR/data"
install -d -o "$USER_NAME" -m 700 "$HOME_DIR/.ssh"

[ -f "$DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/host_ed25519"
[ -f "$DIR/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/client_ed25519"
install -o "$USER_NAME" -m 600 "$DIR/client_ed25519.pub" "$HOME_DIR/.ssh/authorized_keys"

alive() { [ -f "$DIR/sshd.pid" ] && kill -0 "$(cat "$DIR/sshd.pid")" 2>/dev/null; }
if ! alive; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$DIR/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $DIR/host_ed25519
PidFile $DIR/sshd.pid
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowUsers $USER_NAME
AllowTcpForwarding no
X11Forwarding no
CONF
  /usr/sbin/sshd -f "$DIR/sshd_config"
  for _ in $(seq 50); do alive && break; sleep 0.1; done
  PORT_LINE=$PORT
else
  PORT_LINE=$(awk '/^Port /{print $2}' "$DIR/sshd_config")
fi
printf '[127.0.0.1]:%s %s\n' "$PORT_LINE" "$(cut -d' ' -f1,2 "$DIR/host_ed25519.pub")" >"$DIR/known_hosts"
cat >"$DIR/env" <<ENV
NEXUS_SSHD_PORT=$PORT_LINE
NEXUS_SSHD_USER=$USER_NAME
NEXUS_SSHD_KEY=$DIR/client_ed25519
NEXUS_SSHD_KNOWN_HOSTS=$DIR/known_hosts
NEXUS_SSHD_ROOT=$HOME_DIR/data
ENV
echo "sshd on 127.0.0.1:$PORT_LINE for $USER_NAME"
