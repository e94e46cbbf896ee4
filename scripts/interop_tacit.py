"""Reads a tacit-format dataset written by `tacit export --format tacit` with
the tools data engineers use — pyarrow, pandas, Hugging Face `datasets`
(through the dataset card's configs), DuckDB — and checks what docs/formats.md
promises: every table readable, rows as tacit.json says, time order, images
and WAV audio decodable, and a join of sensors with labels by time.
Usage: interop_tacit.py DATASET"""
import io
import json
import sys
import wave
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from datasets import Audio, load_dataset
from PIL import Image

from interop_checks import check, finish, fresh_cache

root = Path(sys.argv[1]).resolve()
cache = fresh_cache()


m = json.loads((root / "tacit.json").read_text())
check("format", m["format"] == "tacit" and m["format_version"] == 1, m["format"])
tables = m["tables"]
check("tables", tables[0] == "episodes" and {"audio", "commentary", "words", "labels", "events"} <= set(tables), tables)

# pyarrow reads every file; rows as listed; the huggingface metadata is there.
listed = {f["path"] for f in m["files"]}
on_disk = {str(p.relative_to(root)) for p in root.rglob("*.parquet")}
check("files listed = files on disk", listed == on_disk, (listed ^ on_disk))
for f in m["files"]:
    t = pq.read_table(root / f["path"])
    check(f"rows of {f['path']}", t.num_rows == f["rows"], (t.num_rows, f["rows"]))
    check(f"huggingface metadata in {f['path']}", b"huggingface" in (t.schema.metadata or {}))
    meta = pq.ParquetFile(root / f["path"]).metadata
    codecs = {meta.row_group(g).column(c).compression for g in range(meta.num_row_groups) for c in range(meta.num_columns)}
    check(f"zstd in {f['path']}", "ZSTD" in codecs or f["rows"] == 0, codecs)

# Hugging Face datasets: every config of the card loads; images and audio decode.
episodes = load_dataset(str(root), "episodes", cache_dir=cache)
n_eps = sum(len(s) for s in episodes.values())
check("datasets: episodes", n_eps == len(m["episodes"]), (n_eps, len(m["episodes"])))
for table in tables:
    ds = load_dataset(str(root), table, cache_dir=cache)
    rows = sum(len(s) for s in ds.values())
    want = sum(f["rows"] for f in m["files"] if f["table"] == table)
    check(f"datasets: {table} rows", rows == want, (rows, want))
cam = m["layout"]["cameras"][0]
frames = load_dataset(str(root), f"frames-{cam}", split=m["episodes"][0]["split"], cache_dir=cache)
img = frames[0]["image"]
check("datasets decodes images", isinstance(img, Image.Image) and img.size == (frames[0]["width"], frames[0]["height"]), img)
audio = load_dataset(str(root), "audio", split=m["episodes"][0]["split"], cache_dir=cache)
check("audio feature", type(audio.features["audio"]).__name__ == "Audio", audio.features)
raw = audio.cast_column("audio", Audio(decode=False))[0]
w = wave.open(io.BytesIO(raw["audio"]["bytes"]))
check("WAV chunk", w.getframerate() == raw["sample_rate"] and w.getnframes() == raw["samples"], (w.getframerate(), w.getnframes()))

# DuckDB: time order, and mean sensor value per labeled step (a join on time).
con = duckdb.connect()
g = lambda t: str(root / t / "*.parquet")  # noqa: E731
for table in [t for t in tables if t.startswith(("frames-", "sensors-")) or t == "events"]:
    bad = con.execute(
        f"""SELECT count(*) FROM (SELECT t_ns < lag(t_ns) OVER (PARTITION BY episode_index, filename ORDER BY file_row_number) AS back
            FROM read_parquet('{g(table)}', filename=true, file_row_number=true)) WHERE back"""
    ).fetchone()[0]
    check(f"duckdb: {table} in time order", bad == 0, bad)
sensor, channels = m["layout"]["sensors"][0]
ch = channels[0]
rows = con.execute(
    f"""SELECT l.value AS step, count(*) AS readings, avg(s."{ch}") AS mean
        FROM read_parquet('{g('labels')}') l
        JOIN read_parquet('{g('sensors-' + sensor)}') s
          ON s.episode_index = l.episode_index AND s.t_ns >= l.start_ns AND s.t_ns < l.end_ns
        WHERE l.tier = 'step' AND l.status <> 'rejected'
        GROUP BY 1 ORDER BY 1"""
).fetchall()
steps = con.execute(f"SELECT count(DISTINCT value) FROM read_parquet('{g('labels')}') WHERE tier = 'step' AND status <> 'rejected' AND end_ns > start_ns").fetchone()[0]
check("duckdb: mean per labeled step", len(rows) == steps and all(r[1] > 0 for r in rows), rows)
print(f"duckdb: mean {sensor}.{ch} per labeled step:", [(r[0], r[1], round(r[2], 2)) for r in rows])
words = con.execute(f"SELECT count(*) FROM read_parquet('{g('words')}')").fetchone()[0]
segs = con.execute(f"SELECT count(*), min(end_ns - start_ns) FROM read_parquet('{g('commentary')}')").fetchone()
check("commentary segments have positive length", segs[0] == 0 or segs[1] > 0, segs)
print(f"commentary: {segs[0]} segments, {words} words")

finish()
