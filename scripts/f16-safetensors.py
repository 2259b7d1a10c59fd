#!/usr/bin/env python3
"""Rewrites a safetensors file with every F32 tensor stored as F16 (stdlib only).

Used for the committed demo speech-emotion weights, which ser-bilstm reads back as f32; halving
them keeps the repository's tracked files small.
"""
import json
import struct
import sys


def main(src: str, dst: str) -> None:
    raw = open(src, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out_header, chunks, offset = {}, [], 0
    for name in sorted(k for k in header if k != "__metadata__"):
        info = header[name]
        a, b = info["data_offsets"]
        data = body[a:b]
        if info["dtype"] == "F32":
            values = struct.unpack(f"<{len(data) // 4}f", data)
            data = struct.pack(f"<{len(values)}e", *values)
            info = dict(info, dtype="F16")
        out_header[name] = dict(info, data_offsets=[offset, offset + len(data)])
        chunks.append(data)
        offset += len(data)
    if "__metadata__" in header:
        out_header["__metadata__"] = header["__metadata__"]
    text = json.dumps(out_header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
