#!/usr/bin/env python3
"""Labelled clauses for the clause checks (llama-extract `clause_check`): does a participant's
clause say a feeling, and which? Is it about a topic, and which?

Written from the same template families as `make-extraction-sets.py` (imported, not copied):

  feeling-train.tsv    family A: every emotion clause, every lexicon feeling word in three
                       frames, and the clauses that say no feeling — topic facts, small talk,
                       leisure, answers to interviewer lines that name feelings — labelled `none`,
  feeling-heldout.tsv  family B: its emotion clauses and its no-feeling clauses. Family A
                       shares no feeling word stem with it (checked by the generator), so the
                       held-out accuracy measures words the check was never trained on,
  topic-train.tsv      family A: every topic clause with its category; emotion clauses, six
                       lexicon feelings per label, small talk, leisure and acknowledgements as
                       `none`,
  topic-heldout.tsv    family B likewise (its topic clauses share none of family A's).

Each line is `label<TAB>clause`; a held-out clause that family A also says ("yes") is left out.

    python3 scripts/make-clause-sets.py        # writes examples/data/extraction/clauses/

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
                    "i don't know", "maybe", "right", "i think so", "of course", "probably", "it's okay",
                    "it's fine", "it's alright", "it's cool", "not bad", "i'm fine", "i'm alright",
                    "fair enough", "that's fine", "i suppose so"]

# Leisure, plainly told: what a participant does for fun or to get through the day. Interviews
# ask about it ("what do you do to relax?") and family A's small talk has little of it, so the
# topic check read such clauses as living situation or mood; they are neither a topic nor a
# feeling. (Family A only: the held-out set keeps its own small talk.)
LEISURE = ["i go hiking on weekends", "i listen to a lot of country music", "i take my dog to the park",
           "i walk around the lake most mornings", "i go fishing with my uncle", "i cook dinner most nights",
           "i watch cooking shows", "i play video games with my nephew", "i go to the gym in the mornings",
           "i paint a little", "i work in the garden in the summer", "i go for long drives", "i read mystery novels",
           "i listen to podcasts on the bus", "i do crossword puzzles", "i play basketball at the park",
           "i sing in a church choir", "i knit while the tv is on", "i feed the birds in the yard",
           "i like old movies and some cartoons"]


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
        clauses += ACKNOWLEDGEMENTS + LEISURE
    return clauses


def feelings_a(rng):
    rows = [(label, c) for label, pool in sets.EMOTIONS_A.items() for c in pool]
    for label, words in sets.FEELING_WORDS_A.items():
        for w in words:
            frames = sets.FEEL_FRAMES_A if " " in w else sets.FEEL_FRAMES_A + sets.ADJECTIVE_FRAMES_A
            rows += [(label, frame.format(w=w)) for frame in rng.sample(frames, 3)]
    return rows + [("none", c) for c in no_feeling("A")]


def feelings_b():
    rows = [(label, c) for label, pool in sets.EMOTIONS_B.items() for c in pool]
    return rows + [("none", c) for c in no_feeling("B")]


def topics(fam, rng):
    f = sets.FAMILIES[fam]
    rows = [(category, sets.key_phrase(c)[0]) for category, pool in f["topics"].items() for c, _ in pool]
    rows += [("none", c) for pool in f["emotions"].values() for c in pool]
    if fam == "A":
        for words in sets.FEELING_WORDS_A.values():
            for w in rng.sample(words, 6):
                frames = sets.FEEL_FRAMES_A if " " in w else sets.FEEL_FRAMES_A + sets.ADJECTIVE_FRAMES_A
                rows.append(("none", rng.choice(frames).format(w=w)))
    for _, answer in f["smalltalk"] + f["bait"] + f["openers"]:
        rows.append(("none", answer.rstrip(".")))
        rows += [("none", p) for p in pieces(answer)]
    if fam == "A":
        rows += [("none", a) for a in ACKNOWLEDGEMENTS + LEISURE]
    return rows


def write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    seen, lines = set(), []
    for label, clause in rows:
        if clause not in seen:
            seen.add(clause)
            lines.append(f"{label}\t{clause}")
    path.write_text("\n".join(lines) + "\n")


def write_pair(out, name, train, heldout):
    write(out / f"{name}-train.tsv", train)
    # A clause both families say ("yes", "no") is no test of generalisation.
    trained = {clause for _, clause in train}
    write(out / f"{name}-heldout.tsv", [(label, c) for label, c in heldout if c not in trained])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="examples/data/extraction/clauses")
    a = ap.parse_args()
    sets.check_families_disjoint()
    out = Path(a.out)
    write_pair(out, "feeling", feelings_a(random.Random(4)), feelings_b())
    write_pair(out, "topic", topics("A", random.Random(5)), topics("B", None))


if __name__ == "__main__":
    main()
