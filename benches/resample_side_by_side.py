#!/usr/bin/env python3
"""Our resampler beside soxr (python-soxr, libsoxr) on the same machine in one run.

Speed: 120 s of the same noise at 44.1 kHz and 48 kHz to 16 kHz, 1 thread, best of --repeat
(ours: the `resample_raw` example timing its own call, outside decoding and file I/O; soxr:
`soxr.resample` on the numpy array). Quality, with the tone protocol of
crates/audio-dsp/tests/resample_quality.rs for both tools: amplitude-0.5 tones of 0.5 s,
0.2 s of output discarded at each end; aliasing = output power of a tone above 8 kHz relative
to the tone's power (worst over 8.0–8.8 kHz and over 8.8 kHz up to the input's Nyquist);
pass-band ripple over 100–6000 Hz; THD+N of a 1 kHz tone by a least-squares sine fit.

Setup (never in CI):
    python3 -m venv .cache/venv-dsp
    .cache/venv-dsp/bin/pip install soxr==1.1.0 numpy
    cargo build --release -p audio-dsp --example resample_raw
    OMP_NUM_THREADS=1 .cache/venv-dsp/bin/python benches/resample_side_by_side.py
"""

import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np
import soxr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("RESAMPLE_RAW", os.path.join(ROOT, "target", "release", "examples", "resample_raw"))
OUT_RATE = 16_000


def noise(n):
    """Uniform noise in ±0.25 (the criterion bench's level), seeded."""
    return np.random.default_rng(7).uniform(-0.25, 0.25, n).astype(np.float32)


def ours(x, rate, mode, repeat, tmp):
    src = os.path.join(tmp, "in.f32")
    dst = os.path.join(tmp, "out.f32")
    x.astype("<f4").tofile(src)
    res = subprocess.run(
        [BIN, src, dst, "--in-rate", str(rate), "--out-rate", str(OUT_RATE), "--mode", mode, "--repeat", str(repeat)],
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(res.stdout)
    return np.fromfile(dst, dtype="<f4").astype(np.float64), info["seconds"]


def theirs(x, rate, quality, repeat):
    best = float("inf")
    y = None
    for _ in range(repeat):
        t = time.perf_counter()
        y = soxr.resample(x, rate, OUT_RATE, quality=quality)
        best = min(best, time.perf_counter() - t)
    return np.asarray(y, dtype=np.float64), best


def tone(rate, freq, secs=0.5):
    n = int(rate * secs)
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


def trim(y):
    t = int(0.2 * OUT_RATE)
    return y[t : len(y) - t]


def fit(y, freq):
    n = np.arange(len(y)) + int(0.2 * OUT_RATE)
    w = 2 * np.pi * freq / OUT_RATE
    basis = np.stack([np.sin(w * n), np.cos(w * n)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    resid = y - basis @ coef
    amp = float(np.hypot(*coef))
    return amp, float(np.sum(resid**2) / (amp * amp / 2 * len(y)))


def quality(run, rate):
    gains = []
    for k in range(1, 61):
        f = 100.0 * k
        amp, _ = fit(trim(run(tone(rate, f), rate)), f)
        gains.append(20 * np.log10(amp / 0.5))
    ripple = max(gains) - min(gains)
    _, thdn = fit(trim(run(tone(rate, 1000.0, 1.0), rate)), 1000.0)
    near, far = -np.inf, -np.inf
    top = min(22_000.0, rate / 2 - 25)
    for f in list(np.arange(8000.0, 8800.0 + 1, 50.0)) + list(np.arange(9000.0, top, 250.0)) + [top]:
        y = trim(run(tone(rate, f), rate))
        db = 10 * np.log10(max(np.mean(y**2) / 0.125, 1e-30))
        if f <= 8800:
            near = max(near, db)
        else:
            far = max(far, db)
    return {"ripple_db": ripple, "thdn_db": 10 * np.log10(thdn), "alias_8k_8k8_db": near, "alias_above_8k8_db": far}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(BIN):
        raise SystemExit(f"build it first: cargo build --release -p audio-dsp --example resample_raw ({BIN})")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rate in (44_100, 48_000):
            x = noise(rate * 120)
            tools = {
                "whispers fast": lambda v, r: ours(v, r, "fast", 1, tmp)[0],
                "whispers reference": lambda v, r: ours(v, r, "reference", 1, tmp)[0],
                "soxr HQ": lambda v, r: theirs(v, r, "HQ", 1)[0],
                "soxr VHQ": lambda v, r: theirs(v, r, "VHQ", 1)[0],
            }
            times = {
                "whispers fast": ours(x, rate, "fast", args.repeat, tmp)[1],
                "whispers reference": ours(x, rate, "reference", args.repeat, tmp)[1],
                "soxr HQ": theirs(x, rate, "HQ", args.repeat)[1],
                "soxr VHQ": theirs(x, rate, "VHQ", args.repeat)[1],
            }
            for name, run in tools.items():
                row = {"rate": rate, "tool": name, "seconds": times[name], "x_realtime": 120.0 / times[name]}
                if not args.skip_quality:
                    row.update(quality(run, rate))
                rows.append(row)
    print("| in rate | tool | ms (120 s) | × realtime | vs soxr HQ | ripple dB | THD+N dB | alias 8–8.8k dB | alias > 8.8k dB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        hq = next(r for r in rows if r["rate"] == row["rate"] and r["tool"] == "soxr HQ")["seconds"]
        q = lambda k: f"{row[k]:.4f}" if k == "ripple_db" else (f"{row[k]:.1f}" if k in row else "–")
        print(
            f"| {row['rate']} | {row['tool']} | {row['seconds'] * 1e3:.2f} | {row['x_realtime']:.0f} | "
            f"{hq / row['seconds']:.2f}× | {q('ripple_db')} | {q('thdn_db')} | {q('alias_8k_8k8_db')} | {q('alias_above_8k8_db')} |"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
