#!/usr/bin/env bash
# Packaging check: the wheel builds and, in a clean venv with no torch, `evotui watch` runs on a sample run.
#   bash scripts/check_viewer_install.sh      (needs PyPI for the viewer's dependencies, and tmux)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'tmux kill-session -t evotui-check 2>/dev/null || true; rm -rf "$work"' EXIT
python3 -m pip wheel --no-deps --quiet -w "$work/dist" "$repo"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$work"/dist/evotui-*.whl
if "$work/venv/bin/python" -c "import torch" 2>/dev/null; then echo "FAIL: torch came with the viewer"; exit 1; fi
"$work/venv/bin/evotui" --version
"$work/venv/bin/python" -c "from tracker.synthetic import write_synthetic_run; write_synthetic_run('$work/sample', 50, 12)"
"$work/venv/bin/evotui" report "$work/sample" | head -5
tmux new-session -d -s evotui-check -x 100 -y 30 "$work/venv/bin/evotui watch $work/sample"
sleep 5
screen="$(tmux capture-pane -p -t evotui-check)"
echo "$screen" | head -8
echo "$screen" | grep -q "12 snapshots" && echo "OK: evotui watch runs from the wheel without torch" || { echo "FAIL: no run on screen"; exit 1; }
"$work/venv/bin/evotui" demo --no-watch 2>&1 | tail -1 || true   # says which pip command adds training
"$work/venv/bin/evotui" serve "$work/sample" 2>&1 | tail -1 || true   # without the serve extra: names its pip command
