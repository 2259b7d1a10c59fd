#!/usr/bin/env bash
# Regenerates the demo session in examples/data/demo/: a short fictional interview written for
# this project (no real patient), spoken with espeak-ng — the interviewer in one voice with
# neutral prosody, the participant in another with the speech corpus's "sad" prosody (lower,
# flatter, slower, softer, pauses) — as 16 kHz mono WAV, with a
# DAIC-WOZ transcript whose times match the audio. Needs espeak-ng and sox (apt-get install).
set -euo pipefail
cd "$(dirname "$0")/.."
out=examples/data/demo
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
lines=(
  "Ellie|hi, thanks for coming in today. how have you been doing?"
  "Participant|um, it's okay. it's cool, i guess."
  "Ellie|how have you been sleeping lately?"
  "Participant|not great. i wake up at four and i can't get back to sleep."
  "Ellie|that sounds hard. how are things at work?"
  "Participant|work is stressful. my boss keeps piling on deadlines and i feel like i'm failing."
  "Ellie|who do you talk to when you feel that way?"
  "Participant|nobody really. i stopped seeing my friends. <sigh> i just feel tired all the time."
  "Ellie|is there anything that has helped recently?"
  "Participant|walking the dog helps a bit. my sister calls me on sundays."
)
printf 'start_time\tstop_time\tspeaker\tvalue\n' > "$work/transcript.tsv"
t=0.5
parts=("$work/lead.wav")
sox -n -r 16000 -c 1 -b 16 "$work/lead.wav" trim 0 0.5
i=0
for entry in "${lines[@]}"; do
  speaker="${entry%%|*}"; text="${entry#*|}"
  spoken="${text//<sigh>/}"
  # The prosody of scripts/make-ser-speech-corpus.sh's classes: the interviewer neutral, the
  # participant sad (lower, flatter, slower, softer, with pauses between words).
  if [ "$speaker" = Ellie ]; then
    espeak-ng -m -v en-us+f3 -w "$work/raw$i.wav" \
      "<speak><prosody pitch=\"0%\" range=\"medium\" rate=\"100%\" volume=\"medium\">$spoken</prosody></speak>"
  else
    espeak-ng -m -v en-us+m3 -g 12 -w "$work/raw$i.wav" \
      "<speak><prosody pitch=\"-28%\" range=\"x-low\" rate=\"68%\" volume=\"x-soft\">$spoken</prosody></speak>"
  fi
  sox "$work/raw$i.wav" -r 16000 -c 1 -b 16 "$work/u$i.wav" silence 1 0.05 0.5% reverse silence 1 0.05 0.5% reverse
  d=$(soxi -D "$work/u$i.wav")
  end=$(awk -v a="$t" -v b="$d" 'BEGIN { printf "%.2f", a + b }')
  printf '%.2f\t%s\t%s\t%s\n' "$t" "$end" "$speaker" "$text" >> "$work/transcript.tsv"
  sox -n -r 16000 -c 1 -b 16 "$work/gap$i.wav" trim 0 0.7
  parts+=("$work/u$i.wav" "$work/gap$i.wav")
  t=$(awk -v a="$end" 'BEGIN { printf "%.2f", a + 0.7 }')
  i=$((i + 1))
done
sox "${parts[@]}" "$out/demo_AUDIO.wav"
cp "$work/transcript.tsv" "$out/demo_TRANSCRIPT.csv"
echo "wrote $out/demo_AUDIO.wav ($(soxi -D "$out/demo_AUDIO.wav") s) and $out/demo_TRANSCRIPT.csv"
