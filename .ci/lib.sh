# Shared by .ci/start, .ci/test and .ci/run: find Python 3.12+, make and fill .venv.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

find_python() {
  local c
  for c in "${PYTHON:-}" python3.14 python3.13 python3.12 python3 \
      "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9] \
      /usr/bin/python3.1[2-9]; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

ensure_venv() {
  local py stamp want
  if [ ! -x "$VENV/bin/python" ]; then
    py="$(find_python)" || {
      echo "Zhima Console needs Python 3.12 or newer (Django 6). Install one, or set PYTHON=/path/to/python3.12." >&2
      exit 1
    }
    echo "Creating .venv with $py ($("$py" --version))"
    "$py" -m venv "$VENV"
  fi
  stamp="$VENV/.installed"
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]"
    echo "$want" > "$stamp"
  fi
}

# -- development settings (.ci/start) ----------------------------------------------------------
# .env.local: git-ignored KEY=VALUE lines that manage.py reads (a variable already in the
# environment wins), so that every README example works in a fresh shell after .ci/start.
LOCAL_ENV="$ROOT/.env.local"

write_local_settings() {  # $1: the simulator's upstream URL, or empty when not running it
  local key=""
  [ -f "$LOCAL_ENV" ] && key="$(sed -n 's/^DJANGO_SECRET_KEY=//p' "$LOCAL_ENV" | head -n1)"
  [ -n "$key" ] || key="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(50))')"
  (
    umask 077
    {
      echo "# Written by 'bash .ci/start' for development: manage.py reads it, a variable set in"
      echo "# the environment wins. Never used in production (see README, Running for a team)."
      echo "DJANGO_DEBUG=true"
      echo "DJANGO_SECRET_KEY=$key"
      echo "# webhooks may post to receivers on this machine (production: public addresses only)"
      echo "ZHIMA_WEBHOOK_PRIVATE_NETWORKS=127.0.0.0/8,::1"
      if [ -n "$1" ]; then
        echo "ZHIMA_BASE_URL=$1"
        echo "ZHIMA_SANDBOX_URL=$1"
      fi
    } > "$LOCAL_ENV.tmp"
    mv "$LOCAL_ENV.tmp" "$LOCAL_ENV"
  )
}

export_local_settings() {  # the same rule as manage.py: the environment wins
  local name value
  while IFS='=' read -r name value; do
    case "$name" in '' | '#'*) continue ;; esac
    [ -n "${!name+x}" ] || export "$name=$value"
  done < "$LOCAL_ENV"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {  # PORT SECONDS PID: true once PORT accepts, false on timeout or PID's exit
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    port_open "$1" && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# One Django process for the whole setup (each start costs a second or more): migrate, wait
# for the simulator (SIM_PORT, when .ci/start runs it), bootstrap, and name the admin user.
SETUP_PY='
import os, socket, time
from django.contrib.auth import get_user_model
from django.core.management import call_command

call_command("migrate", interactive=False, verbosity=0)
port, deadline = os.environ.get("SIM_PORT"), time.monotonic() + 20
while port and time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
call_command("bootstrap")
admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
print("admin:", admin.get_username())
'

# axe-core for the browser tests' accessibility checks: `npm ci` from tests/browser's lock, once
# per lock (node_modules keeps a stamp), so a run with the same lock needs no network.
ensure_axe() {
  local dir="$ROOT/tests/browser" want
  want="$(sha256sum "$dir/package-lock.json" | cut -c1-16)"
  if [ "$(cat "$dir/node_modules/.installed" 2>/dev/null)" != "$want" ]; then
    echo "Installing axe-core for the browser tests (npm ci in tests/browser)"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
    echo "$want" >"$dir/node_modules/.installed"
  fi
}
