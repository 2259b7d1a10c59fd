"""Prefill and decode speed of llama.cpp (llama-cpp-python) beside whispers' `speed` example, on
the same GGUF file, in one run, with ratios. Not part of CI.

Set-up (builds llama.cpp for this CPU, about 15 minutes on 2 cores):
    python3 -m venv .venv-llamacpp
    CMAKE_ARGS="-DGGML_NATIVE=ON" .venv-llamacpp/bin/pip install llama-cpp-python==0.3.36
    cargo build --release -p llama-extract --example speed
On a CPU that reports AMX but whose kernel or hypervisor does not grant the AMX tile state (the
2-core Sapphire Rapids VM the numbers in docs/quantization.md come from), a native build
segfaults in ggml_backend_amx_mul_mat at the first prompt. Build every other native extension
instead (AVX-512, VNNI, VBMI, BF16; the CPU repack and llamafile kernels stay on):
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
      -DGGML_BMI2=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON \
      -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
      -DGGML_AMX_BF16=OFF" .venv-llamacpp/bin/pip install llama-cpp-python==0.3.36
Run:
    .venv-llamacpp/bin/python benches/llama_cpp_side_by_side.py .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf [--kv-f16]
Both sides keep the KV cache in f32 (llama.cpp's type_k/type_v 0), or with --kv-f16 both in f16
(type 1, llama.cpp's default; our `speed --kv-f16`).
"""
import json
import resource
import subprocess
import sys
import time

from llama_cpp import Llama

PARA = ("The interviewer asked how the week had been, and the participant said that sleep had been "
        "difficult, that work felt heavy, and that talking to friends helped a little. ")


def llama_cpp(model, threads, prefill, decode, repeat=3, kv_f16=False):
    kv_type = 1 if kv_f16 else 0  # GGML_TYPE_F16 / GGML_TYPE_F32
    llm = Llama(model_path=model, n_ctx=2048, n_threads=threads, n_threads_batch=threads, n_batch=512,
                type_k=kv_type, type_v=kv_type, verbose=False)
    ids = []
    while len(ids) < prefill:
        ids += llm.tokenize(PARA.encode(), add_bos=False, special=True)
    ids = ids[:prefill]
    best_p, best_d = float("inf"), float("inf")
    for _ in range(repeat):
        llm.reset()
        t = time.perf_counter()
        llm.eval(ids)
        best_p = min(best_p, time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(decode):
            llm.eval([504])
        best_d = min(best_d, time.perf_counter() - t)
    return {"impl": "llama.cpp", "threads": threads, "prefill_tokens": prefill, "decode_tokens": decode,
            "prefill_tok_s": prefill / best_p, "decode_tok_s": decode / best_d,
            "kv_cache": "f16" if kv_f16 else "f32",
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def ours(model, threads, prefill, decode, f32=False, kv_f16=False):
    cmd = ["target/release/examples/speed", "--model", model, "--threads", str(threads),
           "--prefill", str(prefill), "--decode", str(decode)] + (["--f32"] if f32 else []) \
        + (["--kv-f16"] if kv_f16 else [])
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def main():
    model = sys.argv[1]
    kv_f16 = "--kv-f16" in sys.argv[2:]
    for prefill in (128, 1024):
        for threads in (1, 2):
            a = ours(model, threads, prefill, 64, kv_f16=kv_f16)
            b = llama_cpp(model, threads, prefill, 64, kv_f16=kv_f16)
            print(json.dumps(a))
            print(json.dumps(b))
            print(f"prefill {prefill}, {threads} thread(s): prefill ratio ours/llama.cpp "
                  f"{a['prefill_tok_s'] / b['prefill_tok_s']:.2f}x, decode ratio {a['decode_tok_s'] / b['decode_tok_s']:.2f}x")
    print(json.dumps(ours(model, 2, 128, 64, f32=True)))


if __name__ == "__main__":
    main()
