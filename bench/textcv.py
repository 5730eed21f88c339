"""Field F1 of the extractor on the text fixtures, the way tuning is meant to use them.

Run: python bench/textcv.py [--validate K] [--misses]   development part, per fold (split.json's `folds`);
                                                        misses listed for every fold but K (the one held back)
     python bench/textcv.py --part held_out             the held-out part: scores only, no misses
     python bench/textcv.py --part paraphrases          paraphrases.jsonl: scores only, no misses
     python bench/textcv.py --part fresh                fresh.jsonl (issue #22, round two): scores only
     python bench/textcv.py --part fresh2               fresh2.jsonl (issue #22, round three): scores only
     python bench/textcv.py --part fresh3               fresh3.jsonl (issue #22, round four): scores only
     python bench/textcv.py --part fresh4               fresh4.jsonl (issue #22, round five): scores only
     python bench/textcv.py --part fresh5               fresh5.jsonl (issue #22, round six): scores only
     python bench/textcv.py --part fresh6               fresh6.jsonl (issue #22, round seven): scores only
     python bench/textcv.py --part fresh7               fresh7.jsonl (issue #22, round eight): scores only
     python bench/textcv.py --part fresh8               fresh8.jsonl (round eight, before its rule changes): scores only
     python bench/textcv.py --part fresh9               fresh9.jsonl (round nine, before its rule changes): scores only
     python bench/textcv.py --part fresh10              fresh10.jsonl (round nine, after its rule changes): scores only
     python bench/textcv.py --part tuning --misses      tuning.jsonl: one-concern sentences to tune concern rules on
     python bench/textcv.py --homophones 0.1 [--seed 1]  the same with simulated ASR errors: each Han character
                                                        replaced at that rate by a common character of the same
                                                        toneless syllable (财务 -> 才务), the commonest error of
                                                        Mandarin ASR; a check of sound-alike matching
       [--confusable]                                   ... or of a syllable ASR confuses with it (zh/z, ch/c,
                                                        sh/s, n/l, h/f, -eng/-en, -ing/-in, -ian/-in: 信息 ->
                                                        现习, 采购 -> 才够)
       [--spaces 0.05]                                  and a space put between two Han characters at that rate
                                                        (Whisper's segment breaks: 经 蝶, 采购 总监)

Cross-validation for rules: change rules looking at the misses of the other folds, then see whether fold K
moved the same way; rotate K. The held-out part, the paraphrases and the fresh sets are scored without their
misses so that nothing is tuned to them.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speech.extract import get_extractor
from speech.numerals import NUMERAL_CHARS
from speech.phonetic import char_syllable, initial_of
from speech.scoring import Scores, read_rows, score
from speech.terms import tenant_tokenizer

TEXT = ROOT / "tests" / "fixtures" / "text"


def parts() -> dict[str, list[dict]]:
    rows = {row["id"]: row for row in read_rows(TEXT / "dev.jsonl")}
    split = json.loads((TEXT / "split.json").read_text("utf-8"))
    return {
        "development": [rows[i] for i in split["development"]],
        "held_out": [rows[i] for i in split["held_out"]],
        "paraphrases": read_rows(TEXT / "paraphrases.jsonl"),
        "fresh": read_rows(TEXT / "fresh.jsonl"),
        "fresh2": read_rows(TEXT / "fresh2.jsonl"),
        "fresh3": read_rows(TEXT / "fresh3.jsonl"),
        "fresh4": read_rows(TEXT / "fresh4.jsonl"),
        "fresh5": read_rows(TEXT / "fresh5.jsonl"),
        "fresh6": read_rows(TEXT / "fresh6.jsonl"),
        "fresh7": read_rows(TEXT / "fresh7.jsonl"),
        "fresh8": read_rows(TEXT / "fresh8.jsonl"),
        "fresh9": read_rows(TEXT / "fresh9.jsonl"),
        "fresh10": read_rows(TEXT / "fresh10.jsonl"),
        "tuning": read_rows(TEXT / "tuning.jsonl"),
        "folds": split["folds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="development",
                        choices=("development", "held_out", "paraphrases", "fresh", "fresh2", "fresh3", "fresh4",
                                 "fresh5", "fresh6", "fresh7", "fresh8", "fresh9", "fresh10", "tuning"))
    parser.add_argument("--validate", type=int, default=None, help="the fold whose misses are not shown")
    parser.add_argument("--misses", action="store_true", help="list misses (development part only)")
    parser.add_argument("--homophones", type=float, default=0.0, help="rate of simulated ASR homophone errors")
    parser.add_argument("--confusable", action="store_true", help="replace by confusable syllables, not equal ones")
    parser.add_argument("--spaces", type=float, default=0.0, help="rate of spaces put between Han characters")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    data = parts()
    extractor = get_extractor()
    noisy = args.homophones or args.spaces
    garble = Homophones(args.homophones, args.seed, args.confusable, args.spaces) if noisy else None

    def run(rows: list[dict]) -> Scores:
        texts = {row["id"]: garble(row["id"], row["text"]) for row in rows} if garble else None
        return score(lambda text, ref: extractor.extract(text, ref).to_json(), rows, texts)

    rows = data[args.part]
    print(f"{args.part} ({len(rows)}): {run(rows).line()}")
    if args.part == "tuning" and args.misses:
        for miss in run(rows).misses:
            print(f"     miss {miss}")
    if args.part != "development":
        return
    folds = data["folds"]
    for k in sorted(set(folds.values())):
        fold_rows = [row for row in rows if folds[row["id"]] == k]
        scores = run(fold_rows)
        print(f"  fold {k} ({len(fold_rows)}): {scores.line()}")
        if args.misses and k != args.validate:
            for miss in scores.misses:
                print(f"     miss {miss}")


class Homophones:
    """Replaces Han characters at `rate` by another common character read the same way (toneless). Numerals
    are left alone: ASR writes numbers as digits far more often than it mishears them as words."""

    def __init__(self, rate: float, seed: int, confusable: bool = False, spaces: float = 0.0) -> None:
        self.rate = rate
        self.seed = seed
        self.spaces = spaces
        self.key = _confusion_key if confusable else char_syllable
        common = {ch for word, freq in tenant_tokenizer([]).FREQ.items() if freq >= 2000 for ch in word}
        self.by_sound: dict[str, list[str]] = {}
        for ch in sorted(common):
            if _is_han(ch):
                self.by_sound.setdefault(self.key(ch), []).append(ch)

    def __call__(self, key: str, text: str) -> str:
        """The same `key` and text always come out the same (the rows of a fold and of the whole part agree)."""
        rng = random.Random(f"{self.seed}:{key}")
        out = []
        for i, ch in enumerate(text):
            if self.spaces and i and _is_han(ch) and _is_han(text[i - 1]) and rng.random() < self.spaces:
                out.append(" ")
            syllable = char_syllable(ch)
            others = [c for c in self.by_sound.get(self.key(ch), ()) if c != ch and ch not in NUMERAL_CHARS
                      and (self.key is char_syllable or char_syllable(c) != syllable)]
            out.append(rng.choice(others) if others and rng.random() < self.rate else ch)
        return "".join(out)


_CONFUSED_INITIALS = {"zh": "z", "ch": "c", "sh": "s", "n": "l", "f": "h"}
_CONFUSED_FINALS = {"eng": "en", "ing": "in", "ian": "in"}


def _confusion_key(ch: str) -> str:
    """A syllable with the pairs Mandarin ASR confuses merged (toneless): 信 xin and 现 xian share one."""
    syllable = char_syllable(ch)
    initial = initial_of(syllable)
    final = syllable[len(initial):]
    return _CONFUSED_INITIALS.get(initial, initial) + _CONFUSED_FINALS.get(final, final)


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


if __name__ == "__main__":
    main()
