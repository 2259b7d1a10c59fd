#!/usr/bin/env python3
"""Speech-to-text side by side: faster-whisper (CTranslate2) and our `asr` `transcribe` example on
the same model files and the same 62.8 s clip, greedy (beam 1, temperature 0), f32 vs float32 and
our 8-bit (Q8_0) vs its int8, 1 and 2 threads, in one run. Each configuration runs in its own
process (model load excluded from the time, best of N transcriptions; peak RSS of the whole
process including the load) and the script prints a table with the ratios.

Setup (never in CI): a venv with faster-whisper, e.g.
    python3 -m venv .cache/venv && .cache/venv/bin/pip install faster-whisper==1.2.1 ctranslate2==4.8.5 numpy
    cargo build --release -p asr --example transcribe
    .cache/venv/bin/python benches/asr_side_by_side.py [--repeat 3] [--rounds 2] [--threads 1 2]
The clip is rebuilt from the committed fixtures (the 13 golden clips joined by 1 s of silence).
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time, wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "crates/asr/tests/fixtures/audio")
ORDER = ["librivox_0870", "librivox_0880", "librivox_0890", "librivox_0920", "librivox_0930", "cards_001",
         "cards_002", "cards_003", "cards_004", "cards_005", "espeak_01", "espeak_02", "espeak_03"]


def long_clip(path):
    frames = []
    for i, name in enumerate(ORDER):
        if i:
            frames.append(b"\0\0" * 16000)
        with wave.open(os.path.join(FIXTURES, name + ".wav")) as w:
            frames.append(w.readframes(w.getnframes()))
    with wave.open(path, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(b"".join(frames))
    return sum(len(f) for f in frames) / 2 / 16000


FW_CHILD = r"""
import json, resource, sys, time
from faster_whisper import WhisperModel
model_dir, audio, compute, threads, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
m = WhisperModel(model_dir, device="cpu", compute_type=compute, cpu_threads=threads)
best, text = 1e9, ""
for _ in range(repeat):
    t = time.perf_counter()
    segs, _ = m.transcribe(audio, language="en", beam_size=1, best_of=1, temperature=[0.0])
    text = "".join(s.text for s in segs).strip()
    best = min(best, time.perf_counter() - t)
print(json.dumps({"seconds": best, "text": text, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_child(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # max over children so far; use the child's own
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate the two tools this many times per configuration and keep each one's best "
                         "(a shared machine's slow spells then hit both)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--model", default=os.path.join(ROOT, ".cache/models/whisper-tiny.en"))
    ap.add_argument("--ours", default=os.path.join(ROOT, "target/release/examples/transcribe"))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    audio = os.path.join(tmp, "long_concat.wav")
    duration = long_clip(audio)
    rows = []
    for threads in a.threads:
        for ours_q, theirs_q in [("f32", "float32"), ("q8", "int8")]:
            cmd = [a.ours, audio, "--model", a.model, "--threads", str(threads), "--format", "text", "--greedy",
                   "--repeat", str(a.repeat), "--stats-json"]
            if ours_q == "q8":
                cmd.append("--q8")
            fw = ours = None
            for _ in range(a.rounds):
                f, _ = run_child([sys.executable, "-c", FW_CHILD, a.model, audio, theirs_q, str(threads), str(a.repeat)])
                o, _ = run_child(cmd)
                fw = f if fw is None or f["seconds"] < fw["seconds"] else fw
                ours = o if ours is None or o["seconds"] < ours["seconds"] else ours
            rows.append((threads, ours_q, theirs_q, ours, fw))
    print(f"clip {duration:.1f} s, greedy, best of {a.repeat} x {a.rounds} alternating rounds; x realtime = clip / time")
    print(f"{'threads':>7} {'ours':>5} {'theirs':>8} | {'ours s':>7} {'x rt':>6} {'RSS MiB':>8} | {'fw s':>7} {'x rt':>6} {'RSS MiB':>8} | {'speed':>6} {'RSS':>6} | same text")
    for threads, oq, tq, o, f in rows:
        print(f"{threads:>7} {oq:>5} {tq:>8} | {o['seconds']:7.2f} {duration / o['seconds']:6.1f} {o['rss_mib']:8.0f} | "
              f"{f['seconds']:7.2f} {duration / f['seconds']:6.1f} {f['rss_mib']:8.0f} | {f['seconds'] / o['seconds']:5.2f}x "
              f"{o['rss_mib'] / f['rss_mib']:5.2f}x | {o['text'] == f['text']}")
    print(json.dumps([{"threads": t, "ours": oq, "theirs": tq, "ours_s": o["seconds"], "fw_s": f["seconds"],
                       "ours_rss_mib": o["rss_mib"], "fw_rss_mib": f["rss_mib"]} for t, oq, tq, o, f in rows]))


if __name__ == "__main__":
    main()
