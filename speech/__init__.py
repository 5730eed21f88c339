"""Voice notes: decoding, offline transcription and sales-field extraction.

Public API (import from the modules; this package imports nothing heavy so the web process stays small):

- `speech.audio.decode_audio(source, *, max_duration_s=60.0) -> Audio`; errors in `speech.errors`
  (`NotAudio`, `TooLong`, `ModelError`, `ModelDirInvalid`), all `speech.errors.SpeechError`.
- `speech.model.resolve_model(data_dir, override) -> Path`
- `speech.transcribe.Transcriber(model_dir, *, cpu_threads=2, max_concurrency=1)` with
  `await .transcribe(audio, *, prompt=None, hotwords=None) -> Transcript` and `.transcribe_sync(...)`.
- `speech.lexicon.Lexicon` (`default()`, `merge(overrides)`, `to_json()`/`from_json()`,
  `transcription_hotwords()`), `speech.extract.get_extractor(lexicon).extract(text, ref) -> Fields`,
  `speech.fields.Fields.to_json()`/`from_json()`. Each field has its module (`budget`, `tender`, `competitors`,
  `titles`, `concerns`), reading the cue families of `speech/data/rules.json`.
- `speech.scoring`: field F1 against annotated summaries, and CER (bench/ and tests/ score with it).
- `speech.cli.transcribe`, `speech.cli.extract`: click commands for the `leadbot` group.
"""
