"""Acceptance check with the real `lerobot` package (0.4.4), kept out of CI
because lerobot pulls in torch (several GB). Run by hand in a throwaway venv:
    python3 -m venv /tmp/lr && /tmp/lr/bin/pip install lerobot==0.4.4
    HF_HUB_OFFLINE=1 /tmp/lr/bin/python scripts/lerobot_acceptance.py DATASET
DATASET is a `tacit export --format lerobot` folder (its repo_id is taken as
"tacit/demo"). Loads it as a new user would, reads every frame, and checks an
image against the recorded JPEG."""
import sys, io
from lerobot.datasets.lerobot_dataset import LeRobotDataset
root = sys.argv[1]
ds = LeRobotDataset("tacit/demo", root=root)
print("lerobot", __import__("lerobot").__version__ if hasattr(__import__("lerobot"), "__version__") else "?")
print("episodes", ds.num_episodes, "frames", ds.num_frames, "fps", ds.fps)
print("features", list(ds.features))
n = 0
for i in range(len(ds)):
    item = ds[i]
    n += 1
print("read every frame:", n)
item = ds[100]
img = item["observation.images.front"]
print("image tensor", tuple(img.shape), img.dtype, float(img.min()), float(img.max()))
print("state", item["observation.state"].tolist(), "action", item["action"].tolist())
print("task", repr(item["task"]))
print("commentary", repr(item["commentary"]), "label.step", repr(item["label.step"]), "label.note", repr(ds[80]["label.note"]))
print("timestamp", float(item["timestamp"]), "frame_index", int(item["frame_index"]))
print("meta.tasks", ds.meta.tasks)
print("commentary at 2.0 s:", repr(ds[30]["commentary"]))
import pyarrow.parquet as pq, numpy as np
from PIL import Image
t = pq.read_table(root + "/data/chunk-000/file-000.parquet")
raw = t.column("observation.images.front")[100].as_py()["bytes"]
ref = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"), dtype=np.float32) / 255.0
got = item["observation.images.front"].permute(1, 2, 0).numpy()
print("image equals the recorded JPEG decoded:", np.abs(ref - got).max())
