#!/usr/bin/env bash
# Writes a synthetic *speech* corpus in RAVDESS's layout (Actor_XX/03-01-EE-II-SS-RR-AA.wav) for
# the demo speech-emotion weights: espeak-ng sentences rendered with per-class prosody (pitch,
# pitch range, rate, loudness, pauses, tremor), 24 synthetic speakers (espeak-ng voices and
# variants; odd actors male as in RAVDESS), 8 classes, 2 intensities × 2 sentences each.
# Synthetic, not emotional speech: it teaches prosody cues, nothing clinical. The demo session's
# two voices (en-us+f3, en-us+m3) are not among the speakers.
#   bash scripts/make-ser-speech-corpus.sh runs/ser-speech-corpus
# Needs espeak-ng and sox (apt-get install espeak-ng sox). Same command, same files.
set -euo pipefail
out="${1:?usage: make-ser-speech-corpus.sh OUT_DIR}"
voices=(en-us+m1 en-us+f1 en-gb+m2 en-gb+f2 en-us+m4 en-us+f4 en-gb-scotland+m5 en-029+f5 en-gb-x-rp+m6 en-us+f2
  en-gb+m7 en-us+f5 en-us+m2 en-gb+f1 en-gb-x-gbclan+m4 en-gb-x-rp+f4 en-029+m1 en-gb-scotland+f2 en-us+m5 en-gb+f5
  en-gb-x-gbcwmd+m6 en-us+f1 en-us+m7 en-gb-x-rp+f2)
sentences=(
  "i went to the store after work yesterday"
  "the meeting was moved to thursday morning"
  "we talked about it on the phone last night"
  "my neighbour has a small garden out back"
  "i usually take the bus into town"
  "the weather has been changing all week"
  "she told me the results came back today"
  "we had dinner at my parents place on sunday"
  "the kids are playing outside by the door"
  "i read the letter twice before answering"
  "there is a lot going on at home right now"
  "he called me again this afternoon"
)
# Per class: pitch shift %, pitch range, rate %, volume, word gap (10 ms units), sox effects.
#          neutral   calm      happy      sad        angry      fearful           disgust    surprised
pitch=(    0         -10       25         -28        5          35                -15        45)
range=(    medium    low       high       x-low      high       low               medium     x-high)
rate=(     100       85        115        68         120        125               80         105)
volume=(   medium    soft      loud       x-soft     x-loud     medium            medium     loud)
gap=(      0         2         0          12         0          0                 4          0)
effect=(   ""        ""        ""         ""         ""         "tremolo 7 40"    ""         "")
RANDOM=7
mkdir -p "$out"
n=0
for a in "${!voices[@]}"; do
  actor=$(printf '%02d' $((a + 1)))
  mkdir -p "$out/Actor_$actor"
  # Each speaker's own pitch and pace.
  own_pitch=$((RANDOM % 21 - 10))
  own_rate=$((RANDOM % 21 - 10))
  for e in 0 1 2 3 4 5 6 7; do
    for intensity in 1 2; do
      # Neutral has only normal intensity in RAVDESS; here both renderings are plain.
      scale=$([ "$intensity" = 2 ] && [ "$e" != 0 ] && echo 15 || echo 10)
      for statement in 1 2; do
        s=${sentences[$(((a * 5 + e * 3 + intensity * 2 + statement) % ${#sentences[@]}))]}
        p=$((pitch[e] * scale / 10 + own_pitch))
        r=$(((rate[e] - 100) * scale / 10 + 100 + own_rate))
        name=$(printf '03-01-%02d-%02d-%02d-01-%s' $((e + 1)) "$intensity" "$statement" "$actor")
        ssml="<speak><prosody pitch=\"${p}%\" range=\"${range[e]}\" rate=\"${r}%\" volume=\"${volume[e]}\">$s</prosody></speak>"
        espeak-ng -m -v "${voices[a]}" -g "${gap[e]}" -w "$out/raw.wav" "$ssml"
        # shellcheck disable=SC2086
        sox "$out/raw.wav" -r 16000 -c 1 -b 16 "$out/Actor_$actor/$name.wav" ${effect[e]} pad 0.2 0.2
        n=$((n + 1))
      done
    done
  done
done
rm -f "$out/raw.wav"
echo "wrote $n clips under $out"
