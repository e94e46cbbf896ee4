"""Acceptance check of tacit's LeRobot export with LeRobot's own code
(lerobot 0.6.1 in .venv-lerobot, made by scripts/setup-lerobot). Run by
scripts/lerobot-acceptance, which records the sessions and writes the exports:

    python scripts/lerobot_acceptance.py WORK TACIT

WORK holds the exports image/, video/, step/, appended/, a/ and b/ (a and b:
one session each, for merging); TACIT is the tacit binary (for
`tacit validate` on what lerobot-edit-dataset writes). Every check prints
PASS or FAIL with its numbers; the exit status is the number of failures.
"""
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

import lerobot
from lerobot.configs.recipe import TrainingRecipe
from lerobot.datasets.language import EVENT_ROW_FIELDS, PERSISTENT_ROW_FIELDS, column_for_style, validate_camera_field
from lerobot.datasets.language_render import active_at, emitted_at, render_sample
from lerobot.datasets.lerobot_dataset import LeRobotDataset

work, tacit = Path(sys.argv[1]), sys.argv[2]
bin_dir = Path(sys.executable).parent
failures = 0


def check(name, ok, detail=""):
    global failures
    failures += 0 if ok else 1
    print(("PASS " if ok else "FAIL ") + name + (f": {detail}" if detail else ""), flush=True)


def validate(root):
    r = subprocess.run([tacit, "validate", str(root)], capture_output=True, text=True)
    return r.returncode == 0, (r.stdout + r.stderr).strip().splitlines()[-1:] if (r.stdout + r.stderr).strip() else ""


def edit(*args):
    r = subprocess.run([str(bin_dir / "lerobot-edit-dataset"), *args], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout[-2000:], r.stderr[-4000:])
    return r.returncode == 0


print("lerobot", lerobot.__version__)

# 1. LeRobotDataset loads every frame of every kind of export.
for name in ["image", "video", "step", "appended"]:
    root = work / name
    ds = LeRobotDataset(f"tacit/{name}", root=root)
    n = 0
    for i in range(len(ds)):
        item = ds[i]
        n += 1
    check(f"{name}: LeRobotDataset reads every frame", n == ds.num_frames == ds.meta.total_frames and n > 0,
          f"{n} frames, {ds.num_episodes} episodes, fps {ds.fps}")
    item = ds[0]
    state, action = item["observation.state"], item["action"]
    check(f"{name}: state and action are vectors", tuple(state.shape) == (2,) and tuple(action.shape) == (2,),
          f"state {tuple(state.shape)}, action {tuple(action.shape)}")
    img = item["observation.images.front"]
    check(f"{name}: camera frame decodes as (3, H, W) float", img.ndim == 3 and img.shape[0] == 3, str(tuple(img.shape)))
    files = sorted((root / "data").glob("*/*.parquet"))
    groups = sum(pq.ParquetFile(f).metadata.num_row_groups for f in files)
    check(f"{name}: one row group per episode", groups == ds.meta.total_episodes, f"{groups} row groups, {ds.meta.total_episodes} episodes")

# The image export's frames are the recorded JPEGs, decoded.
ds = LeRobotDataset("tacit/image", root=work / "image")
t = pq.read_table(work / "image/data/chunk-000/file-000.parquet", columns=["observation.images.front"])
raw = t.column("observation.images.front")[5].as_py()["bytes"]
ref = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"), dtype=np.float32) / 255.0
got = ds[5]["observation.images.front"].permute(1, 2, 0).numpy()
check("image: frame equals the JPEG decoded", float(np.abs(ref - got).max()) < 1e-6, f"max diff {float(np.abs(ref - got).max())}")

# 2. The language columns, read and rendered by lerobot's own helpers.
subtasks = speech = vqa = marks = 0
mismatch = []
for i in range(len(ds)):
    item = ds[i]
    t = float(item["timestamp"])
    persistent, events = item["language_persistent"], item["language_events"]
    for row in persistent:
        assert list(row) == list(PERSISTENT_ROW_FIELDS), row
        assert column_for_style(row["style"]) == "language_persistent"
        validate_camera_field(row["style"], row["camera"])
    for row in events:
        assert list(row) == list(EVENT_ROW_FIELDS), row
        assert column_for_style(row["style"]) == "language_events"
        validate_camera_field(row["style"], row["camera"])
    sub = active_at(t, persistent=persistent, style="subtask")
    step = item["label.step"]
    if step:
        subtasks += 1
        if sub is None or sub["content"] != step:
            mismatch.append((i, step, sub))
    say = emitted_at(t, persistent=persistent, events=events, role="assistant", tool_name="say")
    if say is not None:
        speech += 1
    mark = emitted_at(t, persistent=persistent, events=events, role="assistant", tool_name="mark")
    if mark is not None:
        marks += 1
    answer = emitted_at(t, persistent=persistent, events=events, style="vqa", role="assistant", camera="observation.images.front")
    if answer is not None:
        vqa += 1
        json.loads(answer["content"])
check("language: active_at(subtask) is the frame's step label on every labeled frame", subtasks > 0 and not mismatch,
      f"{subtasks} frames, mismatches {mismatch[:3]}")
check("language: emitted_at finds the worker's speech (say)", speech > 0, f"{speech} frames with speech")
check("language: emitted_at finds the technician's markers (mark)", marks > 0, f"{marks} frames with a marker")
check("language: emitted_at finds the trainer's labels as vqa on the camera", vqa > 0, f"{vqa} frames with a vqa answer")
speech_frames = [i for i in range(len(ds)) if any(
    (c.get("function", {}) if isinstance(c, dict) else json.loads(c)["function"]).get("name") == "say"
    for r in ds[i]["language_events"] for c in (r["tool_calls"] or []))]
recipe = TrainingRecipe.from_dict({"blend": {
    "subtask": {"weight": 1.0, "messages": [
        {"role": "user", "content": "${task}", "stream": "high_level"},
        {"role": "assistant", "content": "${subtask}", "stream": "low_level", "target": True}]},
}})
speech_recipe = TrainingRecipe.from_dict({"messages": [
    {"role": "user", "content": "${task}", "stream": "high_level"},
    {"role": "assistant", "content": "${plan}", "stream": "high_level", "if_present": "plan"},
    {"role": "assistant", "tool_calls_from": "speech", "stream": "high_level", "target": True, "if_present": "speech"}]})
labeled = next(i for i in range(len(ds)) if ds[i]["label.step"])
item = ds[labeled]
out = render_sample(recipe=recipe, persistent=item["language_persistent"], events=item["language_events"],
                    t=float(item["timestamp"]), sample_idx=labeled, task=item["task"])
check("language: render_sample renders task and subtask as chat messages",
      out is not None and out["messages"][1]["content"] == item["label.step"], json.dumps(out, ensure_ascii=False)[:300])
item = ds[speech_frames[0]] if speech_frames else item
out = render_sample(recipe=speech_recipe, persistent=item["language_persistent"], events=item["language_events"],
                    t=float(item["timestamp"]), sample_idx=0, task=item["task"])
said = out and out["messages"][-1].get("tool_calls")
check("language: render_sample renders the worker's words as a say tool call", bool(said), json.dumps(out, ensure_ascii=False)[:400])

# 3. lerobot-edit-dataset on tacit exports; tacit validate accepts the results.
edited = work / "edited"
shutil.rmtree(edited, ignore_errors=True)
edited.mkdir()
n_eps = LeRobotDataset("tacit/appended", root=work / "appended").meta.total_episodes
ok = edit("--repo_id", "tacit/appended", "--root", str(work / "appended"), "--new_repo_id", "tacit/deleted",
          "--new_root", str(edited / "deleted"), "--operation.type", "delete_episodes", "--operation.episode_indices", "[0]")
if ok:
    d = LeRobotDataset("tacit/deleted", root=edited / "deleted")
    ok = d.meta.total_episodes == n_eps - 1 and len([d[i] for i in range(len(d))]) == d.num_frames
check("edit: delete_episodes [0]", ok, f"{n_eps} -> {n_eps - 1} episodes")
check("edit: tacit validate accepts the result", *validate(edited / "deleted"))
ok = edit("--repo_id", "tacit/appended", "--root", str(work / "appended"), "--new_root", str(edited / "split"),
          "--operation.type", "split", "--operation.splits", '{"train": [0], "val": [1]}')
parts = sorted(p.name for p in (edited / "split").iterdir()) if (edited / "split").exists() else []
check("edit: split into train [0] and val [1]", ok and len(parts) == 2, str(parts))
for p in parts:
    check(f"edit: tacit validate accepts split {p}", *validate(edited / "split" / p))
ok = edit("--new_repo_id", "tacit/merged", "--new_root", str(edited / "merged"), "--operation.type", "merge",
          "--operation.repo_ids", "['tacit/a', 'tacit/b']", "--operation.roots", f"['{work / 'a'}', '{work / 'b'}']")
if ok:
    m = LeRobotDataset("tacit/merged", root=edited / "merged")
    a = LeRobotDataset("tacit/a", root=work / "a")
    b = LeRobotDataset("tacit/b", root=work / "b")
    ok = m.meta.total_episodes == a.meta.total_episodes + b.meta.total_episodes and m.num_frames == a.num_frames + b.num_frames
    check("edit: merge keeps both exports' language rows",
          any(len(m[i]["language_events"]) for i in range(len(m))) and len(m[len(m) - 1]["language_persistent"]) > 0)
check("edit: merge two tacit exports", ok)
check("edit: tacit validate accepts the merge", *validate(edited / "merged"))

# 4. lerobot-train: a few steps of ACT (no pretrained backbone) on CPU.
out_dir = work / "train"
shutil.rmtree(out_dir, ignore_errors=True)
r = subprocess.run([str(bin_dir / "lerobot-train"), "--dataset.repo_id=tacit/image", f"--dataset.root={work / 'image'}",
                    "--policy.type=act", "--policy.pretrained_backbone_weights=null", "--policy.device=cpu",
                    "--policy.push_to_hub=false", "--policy.chunk_size=10", "--policy.n_action_steps=10",
                    "--steps=3", "--batch_size=2", "--num_workers=0", "--log_freq=1", "--save_checkpoint=false",
                    f"--output_dir={out_dir}", "--wandb.enable=false"], capture_output=True, text=True)
log = r.stdout + r.stderr
losses = [line for line in log.splitlines() if "loss:" in line]
check("train: lerobot-train ACT runs 3 steps on a tacit export", r.returncode == 0 and "End of training" in log,
      (losses[-1].strip() if losses else log[-1500:]))

print(f"\n{failures} failure(s)")
sys.exit(failures)
