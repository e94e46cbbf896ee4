"""Interop check: pyarrow and Python's wave module read a tacit session folder
exactly as the manifest describes it. Usage: interop_session.py SESSION_DIR..."""
import json
import sys
import wave
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from interop_checks import check, finish


def read_stream(path):
    with pa.OSFile(str(path), "rb") as f:
        return ipc.open_stream(f).read_all()


for arg in sys.argv[1:]:
    d = Path(arg)
    m = json.loads((d / "session.json").read_text())
    check(f"{d}: format_version", m["format_version"] == 1)
    for s in m["streams"]:
        if s["kind"] == "audio":
            wav = next(f for f in s["files"] if f.endswith(".wav"))
            with wave.open(str(d / wav)) as w:
                check(f"{wav}: {w.getnframes()} frames, manifest {s['count']}", w.getnframes() == s["count"])
                check(f"{wav}: rate", w.getframerate() == int(s["rate_hz"]))
                check(f"{wav}: 16-bit", w.getsampwidth() == 2)
            timing = read_stream(d / f"mic-{s['name']}.timing.arrows")
            check(f"{s['name']}: timing schema", timing.schema.names == ["sample_index", "frames", "t_ns", "device_ts_ns", "xrun"])
            continue
        rows = 0
        for name in s["files"]:
            if ".rejects." in name:
                continue
            t = read_stream(d / name)
            rows += t.num_rows
            check(f"{name}: t_ns is int64", t.schema.field("t_ns").type == pa.int64())
            ts = t.column("t_ns").to_pylist()
            check(f"{name}: t_ns sorted", all(a <= b for a, b in zip(ts, ts[1:])))
            if s["kind"] == "camera" and t.num_rows:
                data = t.column("data")[0].as_py()
                check(f"{name}: JPEG bytes", data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9")
            if s["kind"] == "sensor":
                names = [c["name"] for c in s["details"]["channels"]]
                check(f"{name}: channel columns {t.schema.names}", t.schema.names == ["t_ns", "device_ts_ns", *names])
        check(f"{s['name']}: {rows} rows, manifest {s['count']}", rows == s["count"])

finish()
