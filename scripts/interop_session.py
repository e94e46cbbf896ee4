"""Interop check: pyarrow and Python's wave module read a tacit session folder
exactly as the manifest describes it. Usage: interop_session.py SESSION_DIR..."""
import json
import sys
import wave
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}", file=sys.stderr)


def read_stream(path):
    with pa.OSFile(str(path), "rb") as f:
        return ipc.open_stream(f).read_all()


for arg in sys.argv[1:]:
    d = Path(arg)
    m = json.loads((d / "session.json").read_text())
    check(m["format_version"] == 1, f"{d}: format_version")
    for s in m["streams"]:
        if s["kind"] == "audio":
            wav = next(f for f in s["files"] if f.endswith(".wav"))
            with wave.open(str(d / wav)) as w:
                check(w.getnframes() == s["count"], f"{wav}: {w.getnframes()} frames, manifest {s['count']}")
                check(w.getframerate() == int(s["rate_hz"]), f"{wav}: rate")
                check(w.getsampwidth() == 2, f"{wav}: 16-bit")
            timing = read_stream(d / f"mic-{s['name']}.timing.arrows")
            check(timing.schema.names == ["sample_index", "frames", "t_ns", "device_ts_ns", "xrun"], f"{s['name']}: timing schema")
            continue
        rows = 0
        for name in s["files"]:
            if ".rejects." in name:
                continue
            t = read_stream(d / name)
            rows += t.num_rows
            check(t.schema.field("t_ns").type == pa.int64(), f"{name}: t_ns is int64")
            ts = t.column("t_ns").to_pylist()
            check(all(a <= b for a, b in zip(ts, ts[1:])), f"{name}: t_ns sorted")
            if s["kind"] == "camera" and t.num_rows:
                data = t.column("data")[0].as_py()
                check(data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9", f"{name}: JPEG bytes")
            if s["kind"] == "sensor":
                names = [c["name"] for c in s["details"]["channels"]]
                check(t.schema.names == ["t_ns", "device_ts_ns", *names], f"{name}: channel columns {t.schema.names}")
        check(rows == s["count"], f"{s['name']}: {rows} rows, manifest {s['count']}")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
