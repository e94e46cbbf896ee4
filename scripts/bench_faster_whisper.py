"""faster-whisper on the files `tacit bench transcribe` wrote, then both
engines scored by one scorer (asr_score.py) and the table printed.

Usage: bench_faster_whisper.py OUT_DIR EN_CT2_MODEL_DIR [KO_CT2_MODEL_DIR]

tacit's results are OUT_DIR/tacit.json and any OUT_DIR/tacit-*.json (another
tacit engine on the same files, e.g. the CTranslate2 one); each gets a row.

Same weights (the CTranslate2 models tacit imported), int8, the same CPU
threads and the same prompt; faster-whisper's own Silero VAD on. Each clip
is decoded greedily (beam 1, as tacit does) and, for Korean, also with
faster-whisper's default beam of 5.
"""
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio

sys.path.insert(0, str(Path(__file__).parent))
import asr_score  # noqa: E402

out, en_model = Path(sys.argv[1]), sys.argv[2]
ko_model = sys.argv[3] if len(sys.argv) > 3 else None
tacit = json.loads((out / "tacit.json").read_text())
threads, repeat = tacit["threads"], tacit.get("repeat", 1)
# Every tacit engine measured on these files: (label, report).
tacits = [
    (f"tacit {r.get('runtime', '')}".strip() + (f" b{r['beam']}" if r.get("beam", 1) > 1 else ""), r)
    for r in [tacit] + [json.loads(p.read_text()) for p in sorted(out.glob("tacit-*.json"))]
]


def joined(model_dir):
    """A CTranslate2 folder whose model.bin is split into parts, joined in a temp folder."""
    d = Path(model_dir)
    if (d / "model.bin").is_file():
        return str(d), None
    tmp = tempfile.mkdtemp(prefix="ct2-")
    for f in d.iterdir():
        if f.is_file() and not f.name.startswith("model.bin.part"):
            shutil.copy(f, tmp)
    with open(os.path.join(tmp, "model.bin"), "wb") as dst:
        for part in sorted(d.glob("model.bin.part*"), key=lambda p: int(p.name.rsplit("part", 1)[1])):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, dst)
    return tmp, tmp


def run(model, wav, language, beam, prompt):
    """(median wall s, segments with words) of one faster-whisper transcription."""
    walls, segments = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        segs, _ = model.transcribe(
            wav, language=language, beam_size=beam, best_of=beam, vad_filter=True, word_timestamps=True, initial_prompt=prompt or None
        )
        segments = [
            {
                "start_s": s.start,
                "end_s": s.end,
                "text": s.text,
                "words": [{"start_s": w.start, "end_s": w.end, "text": w.word} for w in s.words],
            }
            for s in segs  # the generator decodes lazily: the time is spent here
        ]
        walls.append(time.perf_counter() - start)
    return sorted(walls)[len(walls) // 2], segments


report = {"threads": threads, "english": [], "korean": []}

model = WhisperModel(en_model, device="cpu", compute_type="int8", cpu_threads=threads)
# Where the time goes: one 30 s window through the encoder alone.
window = decode_audio(str(out / "commentary.wav"))[: 30 * 16000]
features = model.feature_extractor(window)[:, :3000]
encoder = []
for _ in range(3):
    start = time.perf_counter()
    model.encode(features)
    encoder.append(time.perf_counter() - start)
fw_encoder = sorted(encoder)[1]
for name, t in tacits:
    print(f"encoder, one 30 s window: {name} {t.get('encoder_window_s', float('nan')):.3f} s, faster-whisper {fw_encoder:.3f} s")
reference = (out / "reference.txt").read_text()
for i, t in enumerate(tacit["results"]):
    ref = t.get("reference", reference)
    wall, segs = run(model, str(out / f"{t['clip']}.wav"), "en", 1, tacit["prompt"])
    # faster-whisper's default decoding (beam 5) too.
    wall5, segs5 = run(model, str(out / f"{t['clip']}.wav"), "en", 5, tacit["prompt"])
    report["english"].append(
        {
            "clip": t["clip"],
            "audio_s": t["audio_s"],
            "fw_s": wall,
            "fw5_s": wall5,
            "fw_wer": asr_score.score_english(ref, " ".join(s["text"] for s in segs)),
            "fw5_wer": asr_score.score_english(ref, " ".join(s["text"] for s in segs5)),
            "tacit": [
                {
                    "engine": name,
                    "wall_s": r["results"][i]["wall_s"],
                    "wer": asr_score.score_english(ref, " ".join(s["text"] for s in r["results"][i]["segments"])),
                }
                for name, r in tacits
            ],
        }
    )

ko = tacit.get("korean")
if ko and ko_model:
    path, tmp = joined(ko_model)
    try:
        model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)
        clips = json.loads((out / "korean-clips.json").read_text())
        rows = [(name, r["korean"]["wall_s"], r["korean"]["segments"]) for name, r in tacits if r.get("korean")]
        for beam in (1, 5):
            wall, segs = run(model, str(out / "korean.wav"), "ko", beam, ko["prompt"])
            rows.append((f"faster-whisper (beam {beam})", wall, segs))
            (out / f"fw-korean-beam{beam}.json").write_text(json.dumps(segs, ensure_ascii=False, indent=1))
        for name, wall, segs in rows:
            summary, per_clip = asr_score.score_korean(clips, segs)
            report["korean"].append({"engine": name, "wall_s": wall, **summary, "per_clip": per_clip})
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

(out / "comparison.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
print(f"\nEnglish ({threads} threads, same prompt; tacit greedy, faster-whisper beam 1 and beam 5)")
print(
    f"{'clip':<12} {'audio s':>8} {'engine':<22} {'tacit s':>8} {'fw s':>8} {'tacit/fw':>9} {'tacit WER':>10} {'fw WER':>8}"
    f" {'fw5 s':>7} {'tacit/fw5':>10} {'fw5 WER':>8}"
)
for r in report["english"]:
    for t in r["tacit"]:
        print(
            f"{r['clip']:<12} {r['audio_s']:>8.1f} {t['engine']:<22} {t['wall_s']:>8.2f} {r['fw_s']:>8.2f} {t['wall_s'] / r['fw_s']:>9.2f}"
            f" {t['wer'] * 100:>9.1f}% {r['fw_wer'] * 100:>7.1f}%"
            f" {r['fw5_s']:>7.2f} {t['wall_s'] / r['fw5_s']:>10.2f} {r['fw5_wer'] * 100:>7.1f}%"
        )
if report["korean"]:
    base = next(r for r in report["korean"] if r["engine"] == "faster-whisper (beam 1)")
    print(f"\nKorean dev set ({ko['clips']} clips, {ko['audio_s']:.0f} s, {threads} threads, prompt {ko['prompt']!r})")
    print(
        f"{'engine':<34} {'CER spoken':>11} {'CER written':>12} {'empty':>6} {'wall s':>8} {'/fw beam 1':>11}"
        f" {'numbers: CER written':>21} {'found':>8}"
    )
    for r in report["korean"]:
        print(
            f"{r['engine']:<34} {r['cer_spoken']:>11.3f} {r['cer_written']:>12.3f} {r['empty']:>6} {r['wall_s']:>8.1f}"
            f" {r['wall_s'] / base['wall_s']:>11.2f} {r['number_clips_cer_written']:>21.3f}"
            f" {r['numbers_found']:>4}/{r['numbers_wanted']}"
        )
elif not ko:
    print("\nKorean: skipped (no dev set; see tacit bench transcribe --korean-dev)")
