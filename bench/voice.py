"""Voice benchmark: transcription speed, extraction latency, transcript CER and field F1.

Run: PYTHONPATH=. python bench/voice.py [--fixtures tests/fixtures/voice] [--runs 5] [--data-dir DIR]
(on an otherwise idle machine: other processes on the 2 cores show up in every figure but the ratio)

1. Speed, on long.amr (60 s): the full pipeline (`Transcriber.transcribe_sync`: PyAV decode, faster-whisper,
   no-speech gate, Traditional->Simplified) beside a bare faster-whisper call on the same file with the same
   decoding settings, prompt and hot words (`BatchedInferencePipeline.transcribe(path)`, segments joined),
   in the same process, alternating A/B so load on the machine hits both alike. RTF = wall time / audio
   duration; the figure is the median over --runs. The ratio is pipeline / bare. For context it also prints a
   sequential `WhisperModel.transcribe` (beam 1, VAD, language zh), the usual way to call faster-whisper.
2. Extraction latency: `Extractor.extract` on every summary of the voice dev set and of text/dev.jsonl, after
   200 warm-up calls; median and p99 (wall time), and the median CPU time of the calling thread, which other
   processes on the machine disturb less.
3. CER of the pipeline's transcripts of the dev clips (clean and degraded/, AMR): character edit distance /
   reference length, summed over clips. Both sides are normalised first: punctuation and spaces removed,
   Traditional folded to Simplified, Arabic numbers spelled as Chinese numerals (50 -> 五十), 两 -> 二.
4. Field F1 (`speech.scoring`): on the text summaries of tests/fixtures/text (the development part and the
   held-out part of split.json, separately; the held-out part's misses are not printed, so that nothing is tuned
   to them), on the voice dev set's reference text, and on its transcripts (clean, degraded). For each summary
   and field the prediction and the truth are sets: budget {(min, max)} or {}, tender_date {date} or {},
   competitors / concerns / titles the set of names. Summed over summaries: TP = |pred & truth|,
   FP = |pred - truth|, FN = |truth - pred|; F1 = 2TP / (2TP + FP + FN), and 1.0 when the field is empty in
   both everywhere. A wrong budget counts as one FP and one FN. `micro` pools TP/FP/FN over the five fields.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speech.cli import SpeechEnv
from speech.extract import get_extractor
from speech.lexicon import Lexicon
from speech.model import resolve_model
from speech.scoring import cer_counts, read_rows, score
from speech.transcribe import Transcriber, format_hotwords

TEXT = ROOT / "tests" / "fixtures" / "text"


def main() -> None:
    args = _parse_args()
    rows = read_rows(args.fixtures / "dev_set.jsonl")
    text_parts = _text_parts()
    transcriber = Transcriber(resolve_model(args.data_dir, None), cpu_threads=args.threads)
    transcriber.load()
    hotwords = Lexicon.default().transcription_hotwords()
    print(f"model {transcriber.model_dir}  cpu_threads={args.threads}  settings {transcriber.settings}")
    print(f"prompt {transcriber.default_prompt!r}  hotwords {format_hotwords(hotwords)!r}\n")
    speed(transcriber, hotwords, args.fixtures / "long.amr", args.runs)
    extraction_latency("voice dev set", rows)
    extraction_latency("text/dev.jsonl (longer)", [*text_parts["development"], *text_parts["held_out"]])
    print()
    for part, part_rows in text_parts.items():
        print_f1(f"text/dev.jsonl, {part} part", part_rows, None, misses=part == "development")
    print()
    transcripts = {
        sub: {row["id"]: transcriber.transcribe_sync(args.fixtures / sub / f"{row['id']}.amr", hotwords=hotwords).text
              for row in rows}
        for sub in ("", "degraded")
    }
    accuracy(rows, transcripts)


def _text_parts() -> dict[str, list[dict]]:
    by_id = {row["id"]: row for row in read_rows(TEXT / "dev.jsonl")}
    split = json.loads((TEXT / "split.json").read_text("utf-8"))
    return {part: [by_id[i] for i in split[part]] for part in ("development", "held_out")}
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


def extraction_latency(label: str, rows: list[dict], extractor=None) -> None:
    """200 warm-up calls, then 20 rounds over `rows`; wall and thread CPU time (`extractor`: the default one)."""
    extractor = extractor or get_extractor()
    cases = [(row["text"], datetime.fromisoformat(row["ref"])) for row in rows]
    for i in range(200):
        extractor.extract(*cases[i % len(cases)])
    wall, cpu = [], []
    for _ in range(20):
        for text, ref in cases:
            started, started_cpu = time.perf_counter(), time.thread_time()
            extractor.extract(text, ref)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - started_cpu) * 1000)
    wall.sort()
    print(f"== extraction, {label}: {len(wall)} calls on {len(cases)} summaries, median {statistics.median(wall):.3f}"
          f" ms, p99 {wall[int(len(wall) * 0.99)]:.3f} ms, median CPU time {statistics.median(cpu):.3f} ms")


def accuracy(rows: list[dict], transcripts: dict[str, dict[str, str]]) -> None:
    for sub, texts in transcripts.items():
        errors, total = map(sum, zip(*(cer_counts(row["text"], texts[row["id"]]) for row in rows)))
        print(f"== CER {sub or 'clean'}: {errors / total:.4f} ({errors}/{total} chars)")
    print()
    print_f1("voice dev set, reference text", rows, None)
    print_f1("voice dev set, transcripts of the clean AMR", rows, transcripts[""])
    print_f1("voice dev set, transcripts of the degraded AMR", rows, transcripts["degraded"])


def print_f1(label: str, rows: list[dict], texts: dict[str, str] | None, *, misses: bool = True) -> None:
    extractor = get_extractor()
    scores = score(lambda text, ref: extractor.extract(text, ref).to_json(), rows, texts)
    print(f"== F1 on {label} ({len(rows)}): {scores.line()}")
    for miss in scores.misses if misses else ():
        print(f"   miss {miss}")


if __name__ == "__main__":
    main()
