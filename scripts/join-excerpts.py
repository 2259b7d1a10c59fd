#!/usr/bin/env python3
"""Joins the synthetic extraction excerpts into one long DAIC-WOZ-style interview.

The 30 held-out and 24 dev excerpts (examples/data/extraction/{heldout,dev}), in that order,
become one 524-utterance transcript of about 7,400 tokens, speakers Ellie / Participant, each
excerpt's times shifted to follow the last. It is the whole-interview case of docs/extraction.md
("Long transcripts"): many chunks, every emotion and topic category.

    python3 scripts/join-excerpts.py out/long_TRANSCRIPT.csv
    cargo run --release -p llama-extract --example extract -- \\
        --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --adapter examples/data/adapters/smollm2-135m-extraction --transcript out/long_TRANSCRIPT.csv
"""

import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEAKERS = {"Interviewer": "Ellie", "Patient": "Participant"}


def main(out_path):
    sets = os.path.join(ROOT, "examples", "data", "extraction")
    files = sorted(glob.glob(os.path.join(sets, "heldout", "*_TRANSCRIPT.csv")))
    files += sorted(glob.glob(os.path.join(sets, "dev", "*_TRANSCRIPT.csv")))
    rows, offset = [], 0.0
    for path in files:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()[1:]
        last = 0.0
        for line in lines:
            start, stop, speaker, text = line.split("\t", 3)
            rows.append((float(start) + offset, float(stop) + offset, SPEAKERS.get(speaker, speaker), text))
            last = float(stop)
        offset += last + 1.0
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as o:
        o.write("start_time\tstop_time\tspeaker\tvalue\n")
        for start, stop, speaker, text in rows:
            o.write(f"{start:.2f}\t{stop:.2f}\t{speaker}\t{text}\n")
    print(f"{out_path}: {len(rows)} utterances from {len(files)} excerpts")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "out", "long_TRANSCRIPT.csv"))
