"""Acceptance check with the real `lerobot` package (0.4.4), kept out of CI
because lerobot pulls in torch (several GB). Run by hand in a throwaway venv:
    python3 -m venv /tmp/lr && /tmp/lr/bin/pip install lerobot==0.4.4
    HF_HUB_OFFLINE=1 /tmp/lr/bin/python scripts/lerobot_compare.py DATASET [IMAGES]
DATASET is a `tacit export --format lerobot` folder (loaded as repo_id
"tacit/check"). Loads it as a new user would, reads every frame, prints each
episode's task and length, and checks that frames are JPEG-faithful: with
IMAGES (the same sessions exported without --video / --image-size), every
camera frame of DATASET is compared with the one IMAGES stores for that row."""
import sys

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset

ds = LeRobotDataset("tacit/check", root=sys.argv[1])
ref = LeRobotDataset("tacit/ref", root=sys.argv[2]) if len(sys.argv) > 2 else None
print("episodes", ds.num_episodes, "frames", ds.num_frames, "fps", ds.fps)
cams = [k for k, f in ds.features.items() if f["dtype"] in ("image", "video")]
print("cameras", [(k, ds.features[k]["dtype"]) for k in cams])
n = 0
worst = 0.0
by_episode = {}
for i in range(len(ds)):
    item = ds[i]
    n += 1
    e = int(item["episode_index"])
    by_episode.setdefault(e, [item["task"], 0])[1] += 1
    assert abs(float(item["timestamp"]) - int(item["frame_index"]) / ds.fps) < 1e-4
    if ref is not None:
        r = ref[int(item["index"])]
        for k in cams:
            a, b = item[k].numpy(), r[k].numpy()
            worst = max(worst, float(np.abs(a - b).mean()))
print("read every frame:", n)
for e, (task, length) in sorted(by_episode.items()):
    print(f"  episode {e}: {length} frames, task {task!r}")
if ref is not None:
    print(f"worst mean |frame - reference frame| over all frames: {worst * 255:.2f} / 255")
mid = ds[len(ds) // 2]
for k in cams:
    print(k, tuple(mid[k].shape), mid[k].dtype)
print("commentary", repr(mid.get("commentary")), "label.step", repr(mid.get("label.step")))
