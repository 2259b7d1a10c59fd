#!/usr/bin/env python3
"""Labelled clauses for the feeling check: does a participant's clause say a feeling, and which?

Written from the same template families as `make-extraction-sets.py` (imported, not copied):

  train.tsv    family A: every emotion clause, every lexicon feeling word in three frames, and
               the clauses that say no feeling — topic facts, small talk, answers to
               interviewer lines that name feelings — labelled `none`,
  heldout.tsv  family B: its emotion clauses and its no-feeling clauses. Family A shares no
               feeling word stem with it (checked by the generator), so the held-out accuracy
               measures words the check was never trained on.

Each line is `label<TAB>clause`.

    python3 scripts/make-feeling-sets.py        # writes examples/data/extraction/feelings/

Fixed seed: the same command writes the same files.
"""

import argparse
import importlib.util
import random
import re
from pathlib import Path

spec = importlib.util.spec_from_file_location("sets", Path(__file__).with_name("make-extraction-sets.py"))
sets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sets)


# What a participant says without a feeling, on its own or as the first piece of an answer
# ("yes, …"): the extractor asks about every clause, so the check must know these are none.
# (Family B's own pieces, "thanks" among them, stay out: the held-out set tests them.)
ACKNOWLEDGEMENTS = ["yes", "no", "yeah", "okay", "sure", "hi", "hello", "alright", "not really", "i guess",
                    "i don't know", "maybe", "right", "i think so", "of course", "probably"]


def pieces(text):
    """An answer's pieces at commas and full stops, as the extractor splits it."""
    return [p.strip() for p in re.split(r"[.,;:!?]", text) if p.strip()]


def no_feeling(fam):
    f = sets.FAMILIES[fam]
    clauses = [sets.key_phrase(c)[0] for pool in f["topics"].values() for c, _ in pool]
    for _, answer in f["smalltalk"] + f["bait"] + f["openers"]:
        clauses.append(answer.rstrip("."))
        clauses += pieces(answer)
    if fam == "A":
        clauses += ACKNOWLEDGEMENTS
    return clauses


def family_a(rng):
    rows = [(label, c) for label, pool in sets.EMOTIONS_A.items() for c in pool]
    for label, words in sets.FEELING_WORDS_A.items():
        for w in words:
            frames = sets.FEEL_FRAMES_A if " " in w else sets.FEEL_FRAMES_A + sets.ADJECTIVE_FRAMES_A
            rows += [(label, frame.format(w=w)) for frame in rng.sample(frames, 3)]
    rows += [("none", c) for c in no_feeling("A")]
    return rows


def family_b():
    rows = [(label, c) for label, pool in sets.EMOTIONS_B.items() for c in pool]
    return rows + [("none", c) for c in no_feeling("B")]


def write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    seen, lines = set(), []
    for label, clause in rows:
        if clause not in seen:
            seen.add(clause)
            lines.append(f"{label}\t{clause}")
    path.write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="examples/data/extraction/feelings")
    a = ap.parse_args()
    sets.check_families_disjoint()
    out = Path(a.out)
    train = family_a(random.Random(4))
    write(out / "train.tsv", train)
    # A clause both families say ("yes", "no") is no test of generalisation.
    trained = {clause for _, clause in train}
    write(out / "heldout.tsv", [(label, c) for label, c in family_b() if c not in trained])


if __name__ == "__main__":
    main()
