#!/usr/bin/env bash
# Build the Mandarin prompts as Asterisk sound files: 8 kHz, mono, 16-bit WAV.
#   dialplans/prompts/build.sh OUTDIR      (e.g. /usr/share/asterisk/sounds/zh/cti)
# Needs espeak-ng and sox (Debian packages); no network. Idempotent: a prompt is
# rebuilt only when its text (or this recipe) changed.
#
# Voice: espeak-ng 1.51 (Debian 12) reads Chinese characters with voice "cmn" as
# pinyin plus an English tone number ("好" -> "hao three"); "cmn-latn-pinyin"
# reads them in Mandarin (upstream issue 1236). A prompt that espeak-ng would
# still switch to English for is refused, so a bad voice fails the install
# instead of reaching callers.
#
# Silence at both ends is cut so that prompts played one after another (a
# confirmation call says an amount one character at a time) sound like one
# phrase; a prompt ending a sentence (。，？！) gets a short pause after it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build.sh OUTDIR}"
voice=cmn-latn-pinyin
if ! espeak-ng --voices=cmn | grep -q 'cmn-latn-pinyin'; then
    voice=cmn
fi
recipe="2 $voice trim gain"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
while IFS='|' read -r name text; do
    [[ -z $name || $name == \#* ]] && continue
    [[ $name =~ ^[a-z0-9-]+$ ]] || { echo "build.sh: bad prompt name '$name'" >&2; exit 1; }
    [[ -n $text ]] || { echo "build.sh: prompt '$name' has no text" >&2; exit 1; }
    stamp="$out/.$name.txt"
    if [[ -f $out/$name.wav && -f $stamp && $(cat "$stamp") == "$recipe|$text" ]]; then
        continue
    fi
    if espeak-ng -v "$voice" -q -x "$text" | grep -q '(en)'; then
        echo "build.sh: espeak-ng voice $voice reads prompt '$name' as English: $text" >&2
        exit 1
    fi
    espeak-ng -v "$voice" -s 175 -w "$tmp/$name.wav" "$text"
    pause=0
    [[ $text =~ [。，？！]$ ]] && pause=0.25
    sox "$tmp/$name.wav" -r 8000 -c 1 -b 16 -e signed-integer "$tmp/$name.8k.wav" \
        gain -n -3 silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0 "$pause"
    mv "$tmp/$name.8k.wav" "$out/$name.wav"
    printf '%s' "$recipe|$text" > "$stamp"
done < "$here/prompts.txt"
