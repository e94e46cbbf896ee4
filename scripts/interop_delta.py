#!/usr/bin/env python3
"""Reads tacit's Delta tables with five readers and checks they agree.

usage: interop_delta.py DELTA_ROOT FOLDER_EXPORT [--sensor arc] [--channel current]
                        [--storage-json '{"AWS_ENDPOINT_URL": ...}']

The query: mean of one sensor channel per labeled step (tier `step`) per
station — sensor rows joined to label intervals on the session clock
(`start_ns <= t_ns < end_ns`). It runs through Python `deltalake`
(pyarrow), Polars (`scan_delta`), Daft (`read_deltalake`), DuckDB over the
tables' current files (the list from the Delta log, never a folder glob),
and Hugging Face `datasets` over the same files; the reference answer is
computed with pyarrow from the folder export (`--format tacit`) of the same
sessions. Every answer must match it: the same (station, step) groups, row
counts exactly, means to 1e-9. Prints one line per reader; exits 1 on any
difference.
"""

import argparse
import json
import math
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("folder")
    p.add_argument("--sensor", default="arc")
    p.add_argument("--channel", default="current")
    p.add_argument("--storage-json", default=None)
    return p.parse_args()


def group(rows):
    """{(station, step): (count, mean)} from (station, step, value) triples."""
    acc = {}
    for station, step, v in rows:
        n, s = acc.get((station, step), (0, 0.0))
        acc[(station, step)] = (n + 1, s + v)
    return {k: (n, s / n) for k, (n, s) in acc.items()}


def joined(sensor, labels, station_of, channel):
    """(station, step, value) for every sensor row inside a step label of its session."""
    by_session = {}
    for sid, start, end, value in zip(
        labels["session_id"], labels["start_ns"], labels["end_ns"], labels["value"]
    ):
        by_session.setdefault(sid, []).append((start, end, value))
    out = []
    for sid, t, v in zip(sensor["session_id"], sensor["t_ns"], sensor[channel]):
        if v is None:
            continue
        for start, end, step in by_session.get(sid, []):
            if start <= t < end:
                out.append((station_of[sid], step, v))
    return out


def reference(folder, sensor, channel):
    """The answer from the folder export, with pyarrow."""
    import glob
    import os

    def table(name):
        return pq.read_table(sorted(glob.glob(os.path.join(folder, name, "*.parquet")))).to_pydict()

    eps = table("episodes")
    station_of = dict(zip(eps["session_id"], eps["station"]))
    labels = table("labels")
    keep = [i for i, t in enumerate(labels["tier"]) if t == "step"]
    labels = {k: [v[i] for i in keep] for k, v in labels.items()}
    return group(joined(table(f"sensors-{sensor}"), labels, station_of, channel))


def with_deltalake(root, sensor, channel, storage):
    from deltalake import DeltaTable

    def table(name):
        return DeltaTable(f"{root}/{name}", storage_options=storage).to_pyarrow_table()

    eps = table("episodes").to_pydict()
    station_of = dict(zip(eps["session_id"], eps["station"]))
    labels = table("labels")
    labels = labels.filter(pc.equal(labels["tier"], "step")).to_pydict()
    return group(joined(table(f"sensors-{sensor}").to_pydict(), labels, station_of, channel))


def with_polars(root, sensor, channel, storage):
    import polars as pl

    s = pl.scan_delta(f"{root}/sensors-{sensor}", storage_options=storage)
    lab = pl.scan_delta(f"{root}/labels", storage_options=storage).filter(pl.col("tier") == "step")
    q = (
        s.join(lab.select("session_id", "start_ns", "end_ns", pl.col("value").alias("step")), on="session_id")
        .filter((pl.col("t_ns") >= pl.col("start_ns")) & (pl.col("t_ns") < pl.col("end_ns")) & pl.col(channel).is_not_null())
        .group_by("station", "step")
        .agg(pl.len().alias("n"), pl.col(channel).mean().alias("mean"))
        .collect()
    )
    return {(r["station"], r["step"]): (r["n"], r["mean"]) for r in q.iter_rows(named=True)}


def with_daft(root, sensor, channel, storage):
    import daft
    from daft import col

    io = None
    if storage:
        from daft.io import IOConfig, S3Config

        io = IOConfig(
            s3=S3Config(
                endpoint_url=storage["AWS_ENDPOINT_URL"],
                key_id=storage["AWS_ACCESS_KEY_ID"],
                access_key=storage["AWS_SECRET_ACCESS_KEY"],
                region_name=storage.get("AWS_REGION", "us-east-1"),
                force_virtual_addressing=False,
                use_ssl=storage["AWS_ENDPOINT_URL"].startswith("https://"),
                anonymous=False,
            )
        )
    s = daft.read_deltalake(f"{root}/sensors-{sensor}", io_config=io)
    lab = daft.read_deltalake(f"{root}/labels", io_config=io)
    lab = lab.where(col("tier") == "step").select(
        col("session_id").alias("lab_session"), col("start_ns"), col("end_ns"), col("value").alias("step")
    )
    df = s.join(lab, left_on="session_id", right_on="lab_session")
    df = df.where((col("t_ns") >= col("start_ns")) & (col("t_ns") < col("end_ns")) & col(channel).not_null())
    df = df.groupby("station", "step").agg(col(channel).count().alias("n"), col(channel).mean().alias("mean"))
    out = df.to_pydict()
    return {(st, sp): (n, m) for st, sp, n, m in zip(out["station"], out["step"], out["n"], out["mean"])}


def current_files(root, name, storage):
    """(file URI, partition values) of a table's current files, from the Delta log."""
    from urllib.parse import unquote

    from deltalake import DeltaTable

    dt = DeltaTable(f"{root}/{name}", storage_options=storage)
    adds = dt.get_add_actions(flatten=True)
    adds = pa.table(adds) if not isinstance(adds, pa.Table) else adds
    paths = adds.column("path").to_pylist()
    stations = adds.column("partition.station").to_pylist()
    base = dt.table_uri.rstrip("/")
    # Add paths are URL-encoded (Delta's rule): `station=용접-2` is on disk as
    # `station=%EC%9A%A9…` and in the log as `station=%25EC%259A…`.
    return [(f"{base}/{unquote(p)}", st) for p, st in zip(paths, stations)]


def with_duckdb(root, sensor, channel, storage):
    import duckdb

    con = duckdb.connect()
    if storage:
        return None  # DuckDB's S3 support (httpfs) is an extension download; the folder run covers it.

    def files(name):
        return "[" + ",".join("'" + f.replace("file://", "").replace("'", "''") + "'" for f, _ in current_files(root, name, storage)) + "]"

    q = f"""
        SELECT s.station, l.value AS step, count(*) AS n, avg(s."{channel}") AS mean
        FROM read_parquet({files(f"sensors-{sensor}")}, hive_partitioning = true) s
        JOIN read_parquet({files("labels")}, hive_partitioning = true) l
          ON s.session_id = l.session_id AND s.t_ns >= l.start_ns AND s.t_ns < l.end_ns
        WHERE l.tier = 'step' AND s."{channel}" IS NOT NULL
        GROUP BY 1, 2
    """
    return {(st, sp): (n, m) for st, sp, n, m in con.sql(q).fetchall()}


def with_datasets(root, sensor, channel, storage):
    import datasets

    if storage:
        return None  # `datasets` reads s3:// through fsspec/s3fs, not installed here; the folder run covers it.
    datasets.disable_progress_bars()

    def load(name):
        rows = {}
        for uri, station in current_files(root, name, storage):
            d = datasets.Dataset.from_parquet(uri.replace("file://", ""))
            part = d.to_dict()
            part["station"] = [station] * d.num_rows
            for k, v in part.items():
                rows.setdefault(k, []).extend(v)
        return rows

    labels = load("labels")
    keep = [i for i, t in enumerate(labels.get("tier", [])) if t == "step"]
    labels = {k: [v[i] for i in keep] for k, v in labels.items()}
    sensors = load(f"sensors-{sensor}")
    station_of = dict(zip(sensors.get("session_id", []), sensors.get("station", [])))
    return group(joined(sensors, labels, station_of, channel))


def same(a, b):
    if set(a) != set(b):
        return f"groups differ: {sorted(set(a) ^ set(b))}"
    for k in a:
        (n1, m1), (n2, m2) = a[k], b[k]
        if n1 != n2 or not math.isclose(m1, m2, rel_tol=1e-9, abs_tol=1e-12):
            return f"{k}: {n1} rows mean {m1!r} vs {n2} rows mean {m2!r}"
    return None


def main():
    a = parse()
    storage = json.loads(a.storage_json) if a.storage_json else None
    ref = reference(a.folder, a.sensor, a.channel)
    if not ref:
        print("FAIL reference: no sensor row falls inside a step label", file=sys.stderr)
        return 1
    print(f"reference (pyarrow, folder export): {len(ref)} groups: " + ", ".join(f"{k[0]}/{k[1]} n={v[0]} mean={v[1]:.6f}" for k, v in sorted(ref.items())))
    failed = 0
    for name, fn in [
        ("deltalake", with_deltalake),
        ("polars", with_polars),
        ("daft", with_daft),
        ("duckdb", with_duckdb),
        ("datasets", with_datasets),
    ]:
        got = fn(a.root, a.sensor, a.channel, storage)
        if got is None:
            print(f"SKIP {name}: not on an object store here")
            continue
        diff = same(ref, got)
        if diff:
            failed += 1
            print(f"FAIL {name}: {diff}")
        else:
            print(f"PASS {name}: {len(got)} groups, same answer")
    return 1 if failed else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # deltalake's S3 client threads abort a normal interpreter exit
    # ("terminate called without an active exception"): leave without it.
    os._exit(code)
