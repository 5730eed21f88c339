"""Voice benchmark: transcription speed, extraction latency, transcript CER and field F1.

Run: PYTHONPATH=. python bench/voice.py [--fixtures tests/fixtures/voice] [--runs 5] [--data-dir DIR]
(on an otherwise idle machine: other processes on the 2 cores show up in every figure but the ratio)

1. Speed, on long.amr (60 s): the full pipeline (`Transcriber.transcribe_sync`: PyAV decode, faster-whisper,
   no-speech gate, Traditional->Simplified) beside a bare faster-whisper call on the same file with the same
   decoding settings, prompt and hot words (`BatchedInferencePipeline.transcribe(path)`, segments joined),
   in the same process, alternating A/B so load on the machine hits both alike. RTF = wall time / audio
   duration; the figure is the median over --runs. The ratio is pipeline / bare. For context it also prints a
   sequential `WhisperModel.transcribe` (beam 1, VAD, language zh), the usual way to call faster-whisper.
2. Extraction latency: `Extractor.extract` on every dev-set text, after 200 warm-up calls; median and p99.
3. CER of the pipeline's transcripts of the dev clips (clean and degraded/, AMR): character edit distance /
   reference length, summed over clips. Both sides are normalised first: punctuation and spaces removed,
   Traditional folded to Simplified, Arabic numbers spelled as Chinese numerals (50 -> 五十), 两 -> 二.
4. Field F1, on the reference text and on the transcripts (clean, degraded). For each clip and field the
   prediction and the truth are sets: budget {(min, max)} or {}, tender_date {date} or {}, competitors /
   concerns / titles the set of names. Summed over clips: TP = |pred & truth|, FP = |pred - truth|,
   FN = |truth - pred|; F1 = 2TP / (2TP + FP + FN), and 1.0 when the field is empty in both everywhere. A wrong
   budget counts as one FP and one FN. `micro` pools TP/FP/FN over the five fields.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speech.chinese import to_simplified
from speech.cli import SpeechEnv
from speech.extract import get_extractor
from speech.lexicon import Lexicon
from speech.model import resolve_model
from speech.transcribe import Transcriber, format_hotwords

FIELDS = ("budget", "tender_date", "competitors", "concerns", "titles")
_DIGITS = "零一二三四五六七八九"


def main() -> None:
    args = _parse_args()
    rows = [json.loads(line) for line in (args.fixtures / "dev_set.jsonl").read_text("utf-8").splitlines() if line]
    transcriber = Transcriber(resolve_model(args.data_dir, None), cpu_threads=args.threads)
    transcriber.load()
    hotwords = Lexicon.default().transcription_hotwords()
    print(f"model {transcriber.model_dir}  cpu_threads={args.threads}  settings {transcriber.settings}")
    print(f"prompt {transcriber.default_prompt!r}  hotwords {format_hotwords(hotwords)!r}\n")
    speed(transcriber, hotwords, args.fixtures / "long.amr", args.runs)
    extraction_latency(rows)
    transcripts = {
        sub: {row["id"]: transcriber.transcribe_sync(args.fixtures / sub / f"{row['id']}.amr", hotwords=hotwords).text
              for row in rows}
        for sub in ("", "degraded")
    }
    accuracy(rows, transcripts)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT / "tests" / "fixtures" / "voice")
    parser.add_argument("--data-dir", type=Path, default=SpeechEnv.from_env(os.environ).data_dir,
                        help="where the bundled model is joined (default: LEADBOT_DATA_DIR or ./data)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args()


def speed(transcriber: Transcriber, hotwords: list[str], clip: Path, runs: int) -> None:
    from faster_whisper import BatchedInferencePipeline

    model = transcriber._batched().model
    bare = BatchedInferencePipeline(model)
    kwargs = dict(transcriber.settings.whisper_kwargs(), initial_prompt=transcriber.default_prompt,
                  hotwords=format_hotwords(hotwords))

    def run_bare() -> float:
        segments, info = bare.transcribe(str(clip), **kwargs)
        "".join(segment.text for segment in segments)
        return info.duration

    def run_sequential() -> float:
        segments, info = model.transcribe(str(clip), language="zh", beam_size=1, vad_filter=True)
        "".join(segment.text for segment in segments)
        return info.duration

    run_bare()  # warm-up: first call allocates the encoder's buffers
    pipeline_rtf, bare_rtf, sequential_rtf = [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        result = transcriber.transcribe_sync(clip, hotwords=hotwords)
        pipeline_rtf.append((time.perf_counter() - started) / result.duration_s)
        started = time.perf_counter()
        duration = run_bare()
        bare_rtf.append((time.perf_counter() - started) / duration)
    for _ in range(max(1, runs // 2)):
        started = time.perf_counter()
        duration = run_sequential()
        sequential_rtf.append((time.perf_counter() - started) / duration)
    p, b, s = (statistics.median(x) for x in (pipeline_rtf, bare_rtf, sequential_rtf))
    print(f"== speed: {clip.name}, {result.duration_s:.1f} s, median of {runs} runs")
    print(f"pipeline RTF {p:.4f}   bare faster-whisper (same settings) RTF {b:.4f}   ratio {p / b:.3f}")
    print(f"sequential WhisperModel.transcribe (beam 1, VAD, zh) RTF {s:.4f}   pipeline/sequential {p / s:.3f}")
    print(f"pipeline runs {[round(x, 4) for x in pipeline_rtf]}  bare runs {[round(x, 4) for x in bare_rtf]}\n")


def extraction_latency(rows: list[dict]) -> None:
    extractor = get_extractor()
    cases = [(row["text"], datetime.fromisoformat(row["ref"])) for row in rows]
    for i in range(200):
        extractor.extract(*cases[i % len(cases)])
    times = []
    for _ in range(100):
        for text, ref in cases:
            started = time.perf_counter()
            extractor.extract(text, ref)
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(f"== extraction: {len(times)} calls, median {statistics.median(times):.3f} ms, "
          f"p99 {times[int(len(times) * 0.99)]:.3f} ms\n")


def accuracy(rows: list[dict], transcripts: dict[str, dict[str, str]]) -> None:
    for sub, texts in transcripts.items():
        errors = sum(_edit_distance(_norm(row["text"]), _norm(texts[row["id"]])) for row in rows)
        total = sum(len(_norm(row["text"])) for row in rows)
        print(f"== CER {sub or 'clean'}: {errors / total:.4f} ({errors}/{total} chars)")
    print()
    print_f1("reference text", rows, {row["id"]: row["text"] for row in rows})
    print_f1("transcripts, clean AMR", rows, transcripts[""])
    print_f1("transcripts, degraded AMR", rows, transcripts["degraded"])


def print_f1(label: str, rows: list[dict], texts: dict[str, str]) -> None:
    extractor = get_extractor()
    counts = {field: [0, 0, 0] for field in FIELDS}
    misses = []
    for row in rows:
        got = extractor.extract(texts[row["id"]], datetime.fromisoformat(row["ref"])).to_json()
        for field in FIELDS:
            pred, truth = _items(field, got[field]), _items(field, row["expect"][field])
            tp_fp_fn = (len(pred & truth), len(pred - truth), len(truth - pred))
            counts[field] = [a + b for a, b in zip(counts[field], tp_fp_fn)]
            if pred != truth:
                misses.append(f"{row['id']}.{field}: got {sorted(pred)} want {sorted(truth)}")
    scores = {field: _f1(*counts[field]) for field in FIELDS}
    pooled = [sum(counts[field][i] for field in FIELDS) for i in range(3)]
    line = "  ".join(f"{field} {score:.3f}" for field, score in scores.items())
    print(f"== F1 on {label}: {line}  micro {_f1(*pooled):.3f}")
    for miss in misses:
        print(f"   miss {miss}")


def _items(field: str, value) -> set:
    if value is None:
        return set()
    if field == "budget":
        return {(value["min"], value["max"])}
    if field == "tender_date":
        return {value}
    return set(value)


def _f1(tp: int, fp: int, fn: int) -> float:
    return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def _spell(number: str) -> str:
    if "." in number:
        whole, frac = number.split(".", 1)
        return _spell(whole) + "点" + "".join(_DIGITS[int(d)] for d in frac)
    n = int(number)
    if n == 0:
        return "零"
    if n >= 10_000:
        high, low = divmod(n, 10_000)
        return _spell(str(high)) + "万" + (("零" if low < 1000 else "") + _spell(str(low)) if low else "")
    out, pending_zero = "", False
    for scale, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit, n = divmod(n, scale)
        if digit:
            if pending_zero:
                out += "零"
            out += ("" if (scale == 10 and digit == 1 and not out) else _DIGITS[digit]) + unit
            pending_zero = False
        elif out:
            pending_zero = True
    return out


def _norm(text: str) -> str:
    text = to_simplified(text)
    text = re.sub(r"\d+(?:\.\d+)?", lambda m: _spell(m.group()), text)
    return re.sub(r"[\W_]", "", text).replace("两", "二")


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


if __name__ == "__main__":
    main()
