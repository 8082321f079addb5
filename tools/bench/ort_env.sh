# SPDX-License-Identifier: MIT
# Sourced by the side-by-side scripts in tools/bench (not run on its own).
# ort_setup NAME: sets `ortdir` to the onnxruntime-node folder, outside the
# repository: $RSFIQA_ORT_DIR, else $RSFIQA_CACHE/ort, else
# ~/.cache/rsfiqa/ort; installs onnxruntime-node 1.30.0 there with
# `npm install --ignore-scripts` when missing (about 290 MB). Needs node.
ort_setup() {
  local name="$1"
  if [[ -n "${RSFIQA_ORT_DIR:-}" ]]; then
    ortdir="$RSFIQA_ORT_DIR"
  elif [[ -n "${RSFIQA_CACHE:-}" ]]; then
    ortdir="$RSFIQA_CACHE/ort"
  else
    ortdir="${XDG_CACHE_HOME:-$HOME/.cache}/rsfiqa/ort"
  fi
  command -v node >/dev/null || { echo "$name: node is required" >&2; exit 1; }
  if [[ ! -d "$ortdir/node_modules/onnxruntime-node" ]]; then
    echo "$name: installing onnxruntime-node@1.30.0 into $ortdir" >&2
    mkdir -p "$ortdir"
    npm install --ignore-scripts --no-save --prefix "$ortdir" onnxruntime-node@1.30.0 >&2
  fi
}
