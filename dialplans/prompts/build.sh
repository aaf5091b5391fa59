#!/usr/bin/env bash
# Build the Mandarin prompts as Asterisk sound files: 8 kHz, mono, 16-bit WAV.
#   dialplans/prompts/build.sh OUTDIR      (e.g. /usr/share/asterisk/sounds/zh/cti)
# Needs espeak-ng and sox (Debian packages); no network. Idempotent: a prompt is
# rebuilt only when its text changed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build.sh OUTDIR}"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
while IFS='|' read -r name text; do
    [[ -z $name || $name == \#* ]] && continue
    [[ $name =~ ^[a-z0-9-]+$ ]] || { echo "build.sh: bad prompt name '$name'" >&2; exit 1; }
    stamp="$out/.$name.txt"
    if [[ -f $out/$name.wav && -f $stamp && $(cat "$stamp") == "$text" ]]; then
        continue
    fi
    espeak-ng -v cmn -s 175 -w "$tmp/$name.wav" "$text"
    sox "$tmp/$name.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out/$name.wav"
    printf '%s' "$text" > "$stamp"
done < "$here/prompts.txt"
