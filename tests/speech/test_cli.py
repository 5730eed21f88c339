from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from speech.cli import SpeechEnv, extract, transcribe


def test_extract_json_reads_stdin_and_resolves_against_ref() -> None:
    result = CliRunner().invoke(
        extract, ["--ref", "2026-11-20T10:00:00+08:00", "--json"],
        input="今天拜访了客户,对方预算大概五十万元,下个月十五号招标,竞争对手是华为。",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "budget": {"min": 500_000, "max": 500_000}, "tender_date": "2026-12-15", "competitors": ["华为"],
        "concerns": [], "titles": [], "keywords": [],
    }


def test_extract_without_offset_is_shanghai_time_and_bad_ref_is_refused() -> None:
    runner = CliRunner()
    ok = runner.invoke(extract, ["--ref", "2026-11-20T23:30:00", "--json"], input="明天开标")
    assert json.loads(ok.output)["tender_date"] == "2026-11-21"
    bad = runner.invoke(extract, ["--ref", "next tuesday"], input="明天开标")
    assert bad.exit_code == 2 and "ISO 8601" in bad.output


def test_env_is_read_from_the_mapping_given() -> None:
    assert SpeechEnv.from_env({}) == SpeechEnv(Path("./data"), None)
    env = SpeechEnv.from_env({"LEADBOT_DATA_DIR": "/srv/leadbot", "LEADBOT_WHISPER_MODEL": "/models/small"})
    assert env == SpeechEnv(Path("/srv/leadbot"), "/models/small")


def test_transcribe_names_a_bad_model_override(tmp_path: Path, voice_dir: Path) -> None:
    result = CliRunner().invoke(
        transcribe, [str(voice_dir / "d01.amr")], env={"LEADBOT_WHISPER_MODEL": str(tmp_path / "nope")}
    )
    assert result.exit_code == 1 and "LEADBOT_WHISPER_MODEL" in result.output


@pytest.mark.slow
def test_transcribe_json(bundled_model_dir: Path, voice_dir: Path) -> None:
    data_dir = bundled_model_dir.parent.parent
    result = CliRunner().invoke(
        transcribe, [str(voice_dir / "d09.amr"), "--json"],
        env={"LEADBOT_DATA_DIR": str(data_dir), "LEADBOT_WHISPER_MODEL": ""},
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"text", "duration_s", "elapsed_s", "rtf", "model"}
    assert "华为" in out["text"] and out["model"] == "whisper-base"


@pytest.mark.slow
def test_transcribe_refuses_what_is_not_audio(bundled_model_dir: Path, tmp_path: Path) -> None:
    body = tmp_path / "voice.amr"
    body.write_text('{"errcode":40007,"errmsg":"invalid media_id"}')
    result = CliRunner().invoke(
        transcribe, [str(body)], env={"LEADBOT_DATA_DIR": str(bundled_model_dir.parent.parent)}
    )
    assert result.exit_code == 1 and "not decodable audio" in result.output
