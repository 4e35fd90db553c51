#!/usr/bin/env bash
# Print the path of a Python 3.10 interpreter (rasa 3.6 runs on 3.8-3.10 only), or explain what to install.
set -u
candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
for name in python3.10 python3.9 python3.8; do
  path=$(command -v "$name" 2>/dev/null) && candidates+=("$path")
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for dir in "$root"/versions/3.10* "$root"/versions/3.9* "$root"/versions/3.8*; do
    [ -x "$dir/bin/python" ] && candidates+=("$dir/bin/python")
  done
fi
for dir in "$HOME"/.pyenv/versions/3.10* /usr/local/bin /usr/bin; do
  [ -x "$dir/bin/python" ] && candidates+=("$dir/bin/python")
  [ -x "$dir/python3.10" ] && candidates+=("$dir/python3.10")
done
for py in "${candidates[@]}"; do
  if "$py" -c 'import sys, venv; sys.exit(0 if (3, 8) <= sys.version_info[:2] <= (3, 10) else 1)' >/dev/null 2>&1; then
    echo "$py"
    exit 0
  fi
done
cat >&2 <<'MSG'
Adempauze needs Python 3.10 (Rasa 3.6 runs on Python 3.8-3.10 only; 3.11 and newer do not work).
No such interpreter was found on PATH or under pyenv. Install one, for example:
  pyenv install 3.10.13            (then run `make setup` again), or
  sudo apt-get install python3.10 python3.10-venv
You can also point to one directly:  make setup PYTHON=/path/to/python3.10
MSG
exit 1
