"""Voice notes in the lead workflow: a rep's voice message becomes a transcript, fields and evidence on a lead.

A package rather than one `bot/voice.py`: the pipeline has pure parts (which lead a note belongs to, typed
corrections) that are tested by tables, and I/O parts (the model, the note rows, the cards, the buttons).

- `engine`: the process's one Transcriber, loaded at worker start, with bounded concurrency.
- `hearing`: download, decode, transcribe; the platform's own recognition as cross-check and fallback.
- `choice` (pure): which of the rep's leads a note attaches to, or whether to ask.
- `revise` (pure): filling gaps from the platform's text, and applying a typed correction.
- `notes`: note rows, attaching a note as evidence, the summary and chooser cards.
- `buttons`: 确认 / 更正 / 添加联系人 / lead pick, registered with `bot.chat.clicks`.
- `lexicons`: a tenant's lexicon (the `lexicon` section of its settings) over the built-in default.

The jobs are in `bot.jobs.voice`; text commands (corrections among them) in `bot.chat.commands`.
"""
