"""One scorer for every transcription comparison (tacit and faster-whisper
are scored by the same code, on the same references).

Korean: character error rate after NFC, lower-casing, and removing white
space, punctuation and symbols (Unicode categories P* and S*), against both
the spoken form (numbers in Hangul) and the written form (digits) of the
Korean dev set. The clips whose two forms differ (the ones with numbers)
are also scored apart: CER against the written form, and how many of the
written form's numbers (digit runs, commas dropped) the text holds. English: word error rate on lower-cased words stripped of
punctuation.

A long session holds many clips one after another. Segments (start, end,
text) are given to the clip their words fall in: by word times where the
engine gives them, else by the segment's midpoint. A clip that gets no text
is counted as empty.

Usage as a library: `score_korean(clips, segments)`; as a script:
`asr_score.py korean CLIPS.json HYP.json` prints the table row as JSON.
"""
import json
import re
import sys
import unicodedata


def normalize_chars(text):
    text = unicodedata.normalize("NFC", text).lower()
    return [c for c in text if not c.isspace() and unicodedata.category(c)[0] not in "PS"]


def normalize_words(text):
    out = []
    for w in text.lower().split():
        w = "".join(c for c in w if c.isalnum() or c == "'")
        if w:
            out.append(w)
    return out


def edits(ref, hyp):
    """Levenshtein distance between two sequences."""
    prev = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        cur = [i] + [0] * len(hyp)
        for j in range(1, len(hyp) + 1):
            cur[j] = min(prev[j - 1] + (ref[i - 1] != hyp[j - 1]), prev[j] + 1, cur[j - 1] + 1)
        prev = cur
    return prev[-1]


def assign(clips, segments):
    """Text per clip. clips: [{start_s, end_s}], segments: [{start_s, end_s, text, words?}]."""
    texts = [[] for _ in clips]

    def clip_of(t):
        # The clip whose span (widened to the middle of the pauses) holds t.
        best, dist = 0, float("inf")
        for i, c in enumerate(clips):
            if c["start_s"] <= t <= c["end_s"]:
                return i
            d = min(abs(t - c["start_s"]), abs(t - c["end_s"]))
            if d < dist:
                best, dist = i, d
        return best

    for s in segments:
        words = s.get("words") or []
        if words:
            for w in words:
                texts[clip_of((w["start_s"] + w["end_s"]) / 2)].append(w["text"])
        else:
            texts[clip_of((s["start_s"] + s["end_s"]) / 2)].append(s["text"])
    return [" ".join(t) for t in texts]


def score_korean(clips, segments):
    """clips: [{wav, spoken, written, start_s, end_s}]; returns the summary and per-clip rows."""
    hyps = assign(clips, segments)
    rows, tot = [], {"spoken": [0, 0], "written": [0, 0]}
    for c, h in zip(clips, hyps):
        hc = normalize_chars(h)
        row = {"wav": c["wav"], "hyp": h, "empty": not hc}
        for form in ("spoken", "written"):
            rc = normalize_chars(c[form])
            e = edits(rc, hc)
            tot[form][0] += e
            tot[form][1] += len(rc)
            row[f"cer_{form}"] = e / max(1, len(rc))
        rows.append(row)
    # The clips with numbers.
    num_edits = num_len = found = wanted = 0
    n_clips = 0
    for c, r in zip(clips, rows):
        if c["spoken"] == c["written"]:
            continue
        n_clips += 1
        rc = normalize_chars(c["written"])
        num_edits += edits(rc, normalize_chars(r["hyp"]))
        num_len += len(rc)
        have = numbers_in(r["hyp"])
        for n in numbers_in(c["written"]):
            wanted += 1
            if n in have:
                have.remove(n)
                found += 1
    summary = {
        "cer_spoken": tot["spoken"][0] / max(1, tot["spoken"][1]),
        "cer_written": tot["written"][0] / max(1, tot["written"][1]),
        "empty": sum(r["empty"] for r in rows),
        "clips": len(rows),
        "number_clips": n_clips,
        "number_clips_cer_written": num_edits / max(1, num_len),
        "numbers_found": found,
        "numbers_wanted": wanted,
    }
    return summary, rows


def numbers_in(text):
    """The digit runs of a text ("16,000" → "16000", "26.7" stays)."""
    return [n.replace(",", "") for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def score_english(reference, text):
    ref, hyp = normalize_words(reference), normalize_words(text)
    return edits(ref, hyp) / max(1, len(ref))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "korean":
        clips = json.load(open(sys.argv[2]))
        segments = json.load(open(sys.argv[3]))
        summary, rows = score_korean(clips, segments)
        print(json.dumps({"summary": summary, "rows": rows}, ensure_ascii=False, indent=1))
    else:
        sys.exit(__doc__)
