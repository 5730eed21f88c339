"""speech/ is a library the service uses: it imports nothing of bot/, handlers/, storage/ or cards/ (DESIGN.md), so it
can be run, benchmarked and tested on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SPEECH = Path(__file__).resolve().parents[2] / "speech"
SERVICE = ("bot", "handlers", "storage", "cards")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.append((node.lineno, node.module or ""))
    return found


def test_no_speech_module_imports_the_service() -> None:
    bad = [f"{path.name}:{line} imports {name}" for path in sorted(SPEECH.rglob("*.py"))
           for line, name in _imports(path) if name.split(".")[0] in SERVICE]
    assert not bad, bad


def test_the_scan_sees_an_import_of_the_service(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import json\nfrom bot.errors import LeadbotError\ndef f():\n    import storage.models\n")
    assert [name for _, name in _imports(probe)] == ["json", "bot.errors", "storage.models"]


def test_importing_the_pipeline_loads_no_service_module() -> None:
    code = ("import sys, speech.cli, speech.errors, speech.extract, speech.transcribe, speech.audio, speech.model\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {SERVICE!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=SPEECH.parent).stdout
    assert out.strip() == "[]"
