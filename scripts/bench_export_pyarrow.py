"""Baseline for `tacit bench export`: pyarrow writes the same final data
tables tacit wrote (same columns, same row groups, Snappy, dictionary on,
JPEG bytes neither compressed nor dictionary-encoded), timed from tables
already in memory to data fsynced on disk. Prints JSON {seconds, bytes}.
Usage: bench_export_pyarrow.py LEROBOT_DATASET OUT_DIR"""
import json
import os
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

src, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
jobs = []
for f in sorted((src / "data").rglob("*.parquet")):
    pf = pq.ParquetFile(f)
    groups = [pf.read_row_group(i) for i in range(pf.num_row_groups)]
    leaves = [pf.schema.column(i).path for i in range(len(pf.schema))]
    images = [p for p in leaves if p.startswith("observation.images.") and p.endswith(".bytes")]
    compression = {p: ("NONE" if p in images else "SNAPPY") for p in leaves}
    dictionary = [p for p in leaves if p not in images]
    jobs.append((out / f.name, pf.schema_arrow, groups, compression, dictionary))

start = time.perf_counter()
total = 0
for path, schema, groups, compression, dictionary in jobs:
    with pq.ParquetWriter(path, schema, compression=compression, use_dictionary=dictionary) as w:
        for g in groups:
            w.write_table(g, row_group_size=g.num_rows)
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    total += path.stat().st_size
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "bytes": total}))
