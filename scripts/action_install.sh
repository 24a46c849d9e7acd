#!/usr/bin/env bash
# Step "Install cosloss" of action.yml: install this checkout (the action's own path) into the
# Python that actions/setup-python put first on PATH.
set -euo pipefail
: "${ACTION_PATH:?ACTION_PATH: the checkout of this action (github.action_path)}"
python -m pip install --disable-pip-version-check --quiet "$ACTION_PATH"
cosloss --version
