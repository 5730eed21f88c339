"""Rebuilds the shipped concern model (`speech.learned`) from the annotated summaries: `python -m speech.learned_build`.

Apart from the model so that the extractor, which reads the model, is not imported by the model's own module (the
training windows are located by the rules alone, so building needs the extractor).
"""

from __future__ import annotations

import json
from pathlib import Path

from speech.learned import MODEL_FILE, train, training_windows


def build(root: Path) -> Path:
    from datetime import datetime

    from speech.extract import Extractor
    from speech.lexicon import Lexicon
    from speech.scoring import read_rows

    text_dir = root / "tests" / "fixtures" / "text"
    split = json.loads((text_dir / "split.json").read_text("utf-8"))
    by_id = {row["id"]: row for row in read_rows(text_dir / "dev.jsonl")}
    rows = read_rows(text_dir / "tuning.jsonl") + [by_id[i] for i in split["development"]]
    extractor = Extractor(Lexicon.default(), learned=None)  # the rules alone locate the labels
    ref = datetime(2027, 7, 6)
    model = train(training_windows(rows, lambda s: set(extractor.extract(s, ref).concerns)))
    out = root / "speech" / "data" / MODEL_FILE
    out.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n", "utf-8")
    return out


if __name__ == "__main__":
    print(build(Path(__file__).resolve().parent.parent))
