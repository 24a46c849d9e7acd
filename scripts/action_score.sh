#!/usr/bin/env bash
# Step "Score" of action.yml: build the `cosloss score` command from the INPUT_* variables and run it.
# cosloss itself writes the step outputs ($GITHUB_OUTPUT: loss, rows, passed, gate_N) and, with
# --markdown $GITHUB_STEP_SUMMARY, the job summary; its exit code (1: a gate failed, 3: bad input)
# is the step's.
set -euo pipefail
: "${INPUT_PRED:?the action needs the input pred}"
cmd=(cosloss score "$INPUT_PRED")
if [[ -n "${INPUT_LABEL:-}" ]]; then
  cmd+=("$INPUT_LABEL")
fi
while IFS= read -r gate || [[ -n "$gate" ]]; do
  gate="${gate#"${gate%%[![:space:]]*}"}"   # trim leading blanks
  gate="${gate%"${gate##*[![:space:]]}"}"   # and trailing ones (a CR too)
  if [[ -n "$gate" ]]; then
    cmd+=(--gate "$gate")
  fi
done <<< "${INPUT_GATES:-}"
if [[ -n "${INPUT_BASELINE:-}" ]]; then
  cmd+=(--baseline "$INPUT_BASELINE")
fi
if [[ -n "${INPUT_HTML:-}" ]]; then
  cmd+=(--html "$INPUT_HTML")
fi
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
  cmd+=(--markdown "$GITHUB_STEP_SUMMARY")
fi
if [[ -n "${INPUT_ARGS:-}" ]]; then
  # Split like a shell (quotes), but never expand or run anything: shlex, one NUL-ended word each.
  # Checked first: a failure inside the process substitution below would go unnoticed.
  if ! python -c 'import os, shlex; shlex.split(os.environ["INPUT_ARGS"])' 2>/dev/null; then
    echo "::error title=cosloss action::input args is not valid shell quoting: ${INPUT_ARGS//$'\n'/ }" >&2
    exit 2
  fi
  mapfile -d '' extra < <(python -c 'import os, shlex, sys
for word in shlex.split(os.environ["INPUT_ARGS"]):
    sys.stdout.write(word + "\0")')
  cmd+=("${extra[@]}")
fi
printf 'cosloss:'; printf ' %q' "${cmd[@]}"; printf '\n'
exec "${cmd[@]}"
