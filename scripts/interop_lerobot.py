"""Reads a LeRobot v3.0 dataset written by `tacit export --format lerobot`
with the tools data engineers use — pyarrow, pandas, Hugging Face `datasets`,
DuckDB — and checks the invariants of shared/specs/lerobot-v3.md.
Usage: interop_lerobot.py DATASET"""
import io
import json
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
from datasets import load_dataset
from PIL import Image

from interop_checks import check, finish, fresh_cache

root = Path(sys.argv[1])


info = json.loads((root / "meta/info.json").read_text())
check("codebase_version", info["codebase_version"] == "v3.0")
features = list(info["features"])
language = ["language_persistent", "language_events"]
check("language columns last", features[-2:] == language and all(info["features"][k]["dtype"] == "language" for k in language), features)
check("defaults last before them", features[-7:-2] == ["timestamp", "frame_index", "episode_index", "index", "task_index"], features)
check("no / in feature names", all("/" not in f for f in features))

files = sorted(root.rglob("*.parquet"))
for f in files:  # pyarrow reads every file
    pq.read_table(f)
check("parquet files", len(files) >= 3, files)

tables = [pq.read_table(f) for f in sorted((root / "data").rglob("*.parquet"))]
check("huggingface metadata", all(b"huggingface" in (t.schema.metadata or {}) for t in tables))
cols = [c for c in tables[0].column_names]
check("data columns in info order", cols == [f for f in features if info["features"][f]["dtype"] != "video"], cols)
frame = pd.concat([t.drop_columns([c for c in t.column_names if c.startswith("observation.images")]).to_pandas() for t in tables])
n = len(frame)
check("total_frames", n == info["total_frames"], (n, info["total_frames"]))
check("index contiguous", list(frame["index"]) == list(range(n)))
eps = sorted(frame["episode_index"].unique())
check("episode_index contiguous", eps == list(range(info["total_episodes"])), eps)
check("timestamp = frame_index / fps", ((frame["timestamp"] - (frame["frame_index"] / info["fps"]).astype("float32")).abs() < 1e-6).all())
for e, g in frame.groupby("episode_index"):
    check(f"frame_index of episode {e}", list(g["frame_index"]) == list(range(len(g))))

tasks = pd.read_parquet(root / "meta/tasks.parquet")
check("tasks text is the pandas index", all(isinstance(t, str) for t in tasks.index), list(tasks.index))
check("task_index column", list(tasks["task_index"]) == list(range(len(tasks))))
check("every task_index known", set(frame["task_index"]) <= set(tasks["task_index"]))

episodes = pq.read_table(sorted((root / "meta/episodes").rglob("*.parquet"))).to_pandas()
check("episodes order", list(episodes["episode_index"]) == list(range(len(episodes))))
check("episode ranges", list(episodes["dataset_to_index"] - episodes["dataset_from_index"]) == list(episodes["length"]))
check("episode tasks", all(len(t) >= 1 for t in episodes["tasks"]))

stats = json.loads((root / "meta/stats.json").read_text())
for key, feat in info["features"].items():
    if feat["dtype"] in ("string", "language"):
        continue
    s = stats.get(key)
    check(f"stats for {key}", s is not None)
    if s and feat["dtype"] == "image":
        check(f"image stats shape {key}", len(s["mean"]) == 3 and len(s["mean"][0]) == 1 and len(s["mean"][0][0]) == 1)
    elif s:
        check(f"stats shape {key}", len(s["mean"]) == feat["shape"][0] and "q99" in s)

# Hugging Face datasets decodes images, and they match the declared shape.
ds = load_dataset("parquet", data_files=[str(f) for f in sorted((root / "data").rglob("*.parquet"))], split="train", cache_dir=fresh_cache())
check("datasets rows", len(ds) == n)
images = [k for k, f in info["features"].items() if f["dtype"] == "image"]
for key in images:
    img = ds[n // 2][key]
    h, w, _ = info["features"][key]["shape"]
    check(f"datasets decodes {key}", isinstance(img, Image.Image) and img.size == (w, h), getattr(img, "size", None))
raw = tables[0].column(images[0])[0].as_py() if images else None
if raw:
    check("JPEG bytes as recorded", Image.open(io.BytesIO(raw["bytes"])).format == "JPEG")

# DuckDB: mean of the first state channel per labeled step.
con = duckdb.connect()
glob = str(root / "data/**/*.parquet")
if "observation.state" in info["features"] and "label.step" in info["features"]:
    rows = con.execute(
        f"""SELECT "label.step" AS step, count(*) AS frames, avg("observation.state"[1]) AS mean_first
            FROM read_parquet('{glob}') GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    check("duckdb groups by step", sum(r[1] for r in rows) == n, rows)
    print("duckdb:", info["features"]["observation.state"]["names"][0], "mean per step:", [(r[0] or "(none)", r[1], round(r[2], 2)) for r in rows])

# One row group per episode in every data file.
groups = sum(pq.ParquetFile(f).metadata.num_row_groups for f in sorted((root / "data").rglob("*.parquet")))
check("one row group per episode", groups == info["total_episodes"], (groups, info["total_episodes"]))

# The language columns: pyarrow reads the rows, DuckDB unnests them.
persistent = tables[0].column("language_persistent")[0].as_py()
check("persistent rows have LeRobot's fields", all(list(r) == ["role", "content", "style", "timestamp", "camera", "tool_calls"] for r in persistent), persistent)
steps = con.execute(
    f"""SELECT count(*) FROM (SELECT unnest(language_persistent) AS r FROM read_parquet('{glob}') WHERE frame_index = 0)
        WHERE r.style = 'subtask'"""
).fetchone()[0]
labeled_steps = con.execute(
    f"""SELECT count(DISTINCT (episode_index, "label.step")) FROM read_parquet('{glob}') WHERE "label.step" <> ''"""
).fetchone()[0] if "label.step" in info["features"] else 0
check("duckdb: a subtask row per labeled step", steps == labeled_steps, (steps, labeled_steps))
said = con.execute(
    f"""SELECT frame_index, json_extract_string(r.tool_calls[1], '$.function.arguments.text') AS text
        FROM (SELECT frame_index, unnest(language_events) AS r FROM read_parquet('{glob}'))
        WHERE json_extract_string(r.tool_calls[1], '$.function.name') = 'say' ORDER BY 1"""
).fetchall()
if any(frame["commentary"] != ""):
    check("duckdb: the commentary as say tool calls", len(said) > 0, said[:3])
    print("duckdb: said at frames", [(f, t[:40]) for f, t in said[:4]])

finish()
