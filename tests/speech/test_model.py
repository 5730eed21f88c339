from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from pathlib import Path

import pytest

from speech.errors import ModelDirInvalid, ModelError, SpeechConfigError
from speech.model import BUNDLED_SHA256, MARKER, ModelParts, check_model_dir, ensure_joined, resolve_model


def _parts(tmp_path: Path, payload: bytes = b"\x01weights" * 5000) -> ModelParts:
    src = tmp_path / "src"
    src.mkdir()
    half = len(payload) // 2
    (src / "model.bin.part1").write_bytes(payload[:half])
    (src / "model.bin.part2").write_bytes(payload[half:])
    (src / "config.json").write_text("{}")
    return ModelParts(
        parts=(src / "model.bin.part1", src / "model.bin.part2"),
        extras=(src / "config.json",),
        sha256=hashlib.sha256(payload).hexdigest(),
    )


def test_join_writes_the_model_and_a_marker(tmp_path: Path) -> None:
    source = _parts(tmp_path)
    target = ensure_joined(tmp_path / "models" / "m", source)
    joined = (target / "model.bin").read_bytes()
    assert hashlib.sha256(joined).hexdigest() == source.sha256
    assert (target / "config.json").read_text() == "{}"
    assert json.loads((target / MARKER).read_text())["size"] == len(joined)
    assert [p.name for p in target.parent.iterdir() if p.name.endswith((".tmp", ".old"))] == []


def test_a_verified_copy_is_not_joined_again(tmp_path: Path) -> None:
    source = _parts(tmp_path)
    target = ensure_joined(tmp_path / "m", source)
    before = (target / "model.bin").stat().st_ino
    ensure_joined(target, source)
    assert (target / "model.bin").stat().st_ino == before


@pytest.mark.parametrize("damage", ["truncate", "flip_a_byte", "delete_marker", "delete_config"])
def test_a_damaged_join_is_detected_and_redone(tmp_path: Path, damage: str) -> None:
    source = _parts(tmp_path)
    target = ensure_joined(tmp_path / "m", source)
    model = target / "model.bin"
    if damage == "truncate":
        with model.open("r+b") as f:
            f.truncate(100)
    elif damage == "flip_a_byte":
        data = bytearray(model.read_bytes())
        data[10] ^= 0xFF
        model.write_bytes(bytes(data))
    elif damage == "delete_marker":
        (target / MARKER).unlink()
        model.write_bytes(b"junk")
    else:
        (target / "config.json").unlink()
    ensure_joined(target, source)
    assert hashlib.sha256(model.read_bytes()).hexdigest() == source.sha256
    assert (target / "config.json").exists()


def test_a_corrupted_part_is_refused_and_nothing_is_left_behind(tmp_path: Path) -> None:
    source = _parts(tmp_path)
    data = bytearray(source.parts[1].read_bytes())
    data[-1] ^= 0xFF
    source.parts[1].write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        ensure_joined(tmp_path / "models" / "m", source)
    assert list((tmp_path / "models").iterdir()) == [tmp_path / "models" / ".m.lock"]


def _join_in_child(args: tuple[str, str]) -> str:
    target, src = args
    src_path = Path(src)
    source = ModelParts(
        parts=(src_path / "model.bin.part1", src_path / "model.bin.part2"),
        extras=(src_path / "config.json",),
        sha256=hashlib.sha256((src_path / "model.bin.part1").read_bytes() + (src_path / "model.bin.part2").read_bytes()).hexdigest(),
    )
    return hashlib.sha256((ensure_joined(Path(target), source) / "model.bin").read_bytes()).hexdigest()


def test_two_processes_starting_together_both_get_a_good_model(tmp_path: Path) -> None:
    source = _parts(tmp_path, os.urandom(3_000_000))
    args = (str(tmp_path / "models" / "m"), str(tmp_path / "src"))
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        digests = pool.map(_join_in_child, [args, args])
    assert digests == [source.sha256, source.sha256]


@pytest.mark.parametrize("layout", ["missing", "empty", "no_config"])
def test_an_override_that_is_not_a_model_is_a_config_error(tmp_path: Path, layout: str) -> None:
    path = tmp_path / "custom"
    if layout != "missing":
        path.mkdir()
    if layout == "no_config":
        (path / "model.bin").write_bytes(b"x")
    with pytest.raises(ModelDirInvalid, match="LEADBOT_WHISPER_MODEL") as refused:
        resolve_model(tmp_path / "data", str(path))
    assert isinstance(refused.value, SpeechConfigError)


def test_an_override_with_a_model_is_used_as_is(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"x")
    (tmp_path / "config.json").write_text("{}")
    assert check_model_dir(tmp_path) == tmp_path
    assert resolve_model(tmp_path / "data", str(tmp_path)) == tmp_path


@pytest.mark.slow
def test_the_bundled_model_joins_to_the_published_hash(bundled_model_dir: Path) -> None:
    assert bundled_model_dir.name == "whisper-base"
    marker = json.loads((bundled_model_dir / MARKER).read_text())
    assert marker["sha256"] == BUNDLED_SHA256
    assert marker["size"] == (bundled_model_dir / "model.bin").stat().st_size
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        assert (bundled_model_dir / name).is_file()
