"""faster-whisper on the files `tacit bench transcribe` wrote, then the ratio
table. Usage: bench_faster_whisper.py OUT_DIR CT2_MODEL_DIR"""
import json
import re
import sys
import time
from pathlib import Path

from faster_whisper import WhisperModel

out, model_dir = Path(sys.argv[1]), sys.argv[2]
tacit = json.loads((out / "tacit.json").read_text())


def normalize(text):
    words = (re.sub(r"[^\w']", "", w).lower() for w in text.split())
    return [w for w in words if w]


def wer(ref, hyp):
    prev = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        cur = [i] + [0] * len(hyp)
        for j in range(1, len(hyp) + 1):
            cur[j] = min(prev[j - 1] + (ref[i - 1] != hyp[j - 1]), prev[j] + 1, cur[j - 1] + 1)
        prev = cur
    return prev[-1] / max(1, len(ref))


reference = normalize((out / "reference.txt").read_text())
model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=tacit["threads"])
# Where the time goes: one 30 s window through the encoder alone.
from faster_whisper.audio import decode_audio

window = decode_audio(str(out / "commentary.wav"))[: 30 * 16000]
features = model.feature_extractor(window)[:, :3000]
encoder = []
for _ in range(3):
    start = time.perf_counter()
    model.encode(features)
    encoder.append(time.perf_counter() - start)
encoder_s = sorted(encoder)[1]
print(f"encoder, one 30 s window: tacit {tacit.get('encoder_window_s', float('nan')):.3f} s, faster-whisper {encoder_s:.3f} s")

rows = []
for t in tacit["results"]:
    wav = str(out / f"{t['clip']}.wav")
    walls = []
    for _ in range(tacit.get("repeat", 1)):
        start = time.perf_counter()
        segments, _ = model.transcribe(wav, language="en", beam_size=1, best_of=1, temperature=0.0, vad_filter=True, initial_prompt=tacit["prompt"])
        text = " ".join(s.text for s in segments)  # the generator decodes lazily
        walls.append(time.perf_counter() - start)
    wall = sorted(walls)[len(walls) // 2]
    w = wer(reference, normalize(text))
    rows.append({"clip": t["clip"], "audio_s": t["audio_s"], "tacit_s": t["wall_s"], "fw_s": wall, "ratio": t["wall_s"] / wall, "tacit_wer": t["wer"], "fw_wer": w})

(out / "comparison.json").write_text(json.dumps(rows, indent=2))
print(f"{'clip':<12} {'audio s':>8} {'tacit s':>8} {'fw s':>8} {'tacit/fw':>9} {'tacit WER':>10} {'fw WER':>8}")
for r in rows:
    print(f"{r['clip']:<12} {r['audio_s']:>8.1f} {r['tacit_s']:>8.2f} {r['fw_s']:>8.2f} {r['ratio']:>9.2f} {r['tacit_wer']*100:>9.1f}% {r['fw_wer']*100:>7.1f}%")
