"""Decoding settings side by side: CER and field F1 on the dev clips (clean and degraded), and speed on long.amr.

Run: PYTHONPATH=. python bench/decoding.py [--variants shipped,beam3,...] [--runs 3] [--out DIR]

Every variant is the shipped pipeline (`Transcriber.transcribe_sync`) with one thing changed: beam size, the
initial prompt, the hot words. Speed is the median RTF on long.amr, each variant's runs alternating with the
shipped settings' runs so load on the machine hits both alike; the ratio is variant / shipped. A setting is worth
shipping only if it lowers CER on the degraded clips and keeps the ratio near 1 (the RTF target is 0.08).
`--out` keeps each variant's transcripts as JSON, for scoring extraction changes without transcribing again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speech.cli import SpeechEnv
from speech.extract import get_extractor
from speech.lexicon import Lexicon
from speech.model import resolve_model
from speech.scoring import cer_counts, read_rows, score
from speech.transcribe import DEFAULT_PROMPT, DecodeSettings, Transcriber

DOMAIN_PROMPT = "销售拜访小结：预算、招标、开标、竞争对手、客户顾虑。"
CUE_HOTWORDS = ["预算", "招标", "开标", "投标截止", "控制价", "驻场", "等保", "售后", "并发", "对接", "账期"]


def variants(lexicon: Lexicon) -> dict[str, dict]:
    hot = lexicon.transcription_hotwords()
    return {
        "shipped": {},
        "beam2": {"settings": {"beam_size": 2}},
        "beam3": {"settings": {"beam_size": 3}},
        "beam5": {"settings": {"beam_size": 5}},
        "no_prompt": {"prompt": ""},
        "domain_prompt": {"prompt": DOMAIN_PROMPT},
        "no_hotwords": {"hotwords": []},
        "cue_hotwords": {"hotwords": [*CUE_HOTWORDS, *hot]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT / "tests" / "fixtures" / "voice")
    parser.add_argument("--data-dir", type=Path, default=SpeechEnv.from_env(os.environ).data_dir)
    parser.add_argument("--variants", default="")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    lexicon = Lexicon.default()
    table = variants(lexicon)
    names = [n for n in args.variants.split(",") if n] or list(table)
    model_dir = resolve_model(args.data_dir, None)
    rows = read_rows(args.fixtures / "dev_set.jsonl")
    shipped = _transcriber(model_dir, {})
    shipped.load()
    extractor = get_extractor(lexicon)
    hot = lexicon.transcription_hotwords()
    for name in names:
        spec = table[name]
        transcriber = _transcriber(model_dir, spec)
        hotwords = spec.get("hotwords", hot)
        texts = {sub: {row["id"]: transcriber.transcribe_sync(args.fixtures / sub / f"{row['id']}.amr",
                                                              hotwords=hotwords).text for row in rows}
                 for sub in ("", "degraded")}
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{name}.json").write_text(json.dumps(texts, ensure_ascii=False, indent=1), "utf-8")
        line = [f"{name:14}"]
        for sub, label in (("", "clean"), ("degraded", "degraded")):
            errors, total = map(sum, zip(*(cer_counts(row["text"], texts[sub][row["id"]]) for row in rows)))
            scores = score(lambda text, ref: extractor.extract(text, ref).to_json(), rows, texts[sub])
            line.append(f"CER {label} {errors / total:.4f}  F1 {scores.micro:.3f}")
        ratio, rtf = _speed(shipped, transcriber, hot, hotwords, args.fixtures / "long.amr", args.runs)
        line.append(f"RTF {rtf:.4f}  ratio to shipped {ratio:.3f}")
        print("   ".join(line), flush=True)


def _transcriber(model_dir: Path, spec: dict) -> Transcriber:
    settings = replace(DecodeSettings(), **spec.get("settings", {}))
    prompt = spec.get("prompt", DEFAULT_PROMPT)
    return Transcriber(model_dir, cpu_threads=2, settings=settings, default_prompt=prompt or None)


def _speed(shipped: Transcriber, variant: Transcriber, hot: list[str], hotwords: list[str], clip: Path,
           runs: int) -> tuple[float, float]:
    base, mine = [], []
    variant.transcribe_sync(clip, hotwords=hotwords)  # warm-up
    for _ in range(runs):
        started = time.perf_counter()
        result = shipped.transcribe_sync(clip, hotwords=hot)
        base.append((time.perf_counter() - started) / result.duration_s)
        started = time.perf_counter()
        result = variant.transcribe_sync(clip, hotwords=hotwords)
        mine.append((time.perf_counter() - started) / result.duration_s)
    return statistics.median(mine) / statistics.median(base), statistics.median(mine)


if __name__ == "__main__":
    main()
