"""`transcribe` and `extract` commands; the lead's `leadbot` group attaches them (`group.add_command`)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from speech.errors import SpeechError

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class SpeechEnv:
    data_dir: Path
    whisper_model: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SpeechEnv:
        return cls(
            data_dir=Path(environ.get("LEADBOT_DATA_DIR") or "./data"),
            whisper_model=environ.get("LEADBOT_WHISPER_MODEL") or None,
        )


@click.command("transcribe")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print {text, duration_s, elapsed_s, rtf, model}.")
@click.option("--threads", default=2, show_default=True, help="CPU threads for the model.")
def transcribe(file: Path, as_json: bool, threads: int) -> None:
    """Transcribe an audio FILE (AMR, WAV, MP3, OGG/Opus, M4A…) to Simplified Chinese."""
    from speech.lexicon import Lexicon
    from speech.model import resolve_model
    from speech.transcribe import Transcriber

    env = SpeechEnv.from_env(os.environ)
    try:
        transcriber = Transcriber(resolve_model(env.data_dir, env.whisper_model), cpu_threads=threads)
        result = transcriber.transcribe_sync(file, hotwords=Lexicon.default().transcription_hotwords())
    except SpeechError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        keys = ("text", "duration_s", "elapsed_s", "rtf", "model")
        click.echo(json.dumps({key: getattr(result, key) for key in keys}, ensure_ascii=False))
    else:
        click.echo(result.text)


@click.command("extract")
@click.option("--ref", "ref_text", default=None,
              help="When the message was sent (ISO 8601); default now, Asia/Shanghai.")
@click.option("--json", "as_json", is_flag=True, help="Print the fields as the contract's JSON.")
def extract(ref_text: str | None, as_json: bool) -> None:
    """Read a visit summary on stdin and print the sales fields found in it."""
    from speech.extract import get_extractor

    ref = parse_ref(ref_text)
    fields = get_extractor().extract(sys.stdin.read(), ref).to_json()
    if as_json:
        click.echo(json.dumps(fields, ensure_ascii=False))
        return
    for key, value in fields.items():
        click.echo(f"{key}: {json.dumps(value, ensure_ascii=False)}")


def parse_ref(text: str | None) -> datetime:
    if not text:
        # A developer command's default (speech/ imports nothing of bot, so no services' clock): the wall clock.
        return datetime.now(SHANGHAI)
    try:
        ref = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 time: {text!r}", param_hint="--ref") from exc
    # a time without an offset is a rep's wall clock: China has one time zone
    return ref if ref.tzinfo else ref.replace(tzinfo=SHANGHAI)


cli = click.Group("speech", commands=[transcribe, extract])

if __name__ == "__main__":
    cli()
