"""Sentences and clauses of a summary: the scope a cue, a negation or a correction reaches.

A transcript may have no punctuation at all, or spaces where a writer puts commas; a space counts as a clause
break, and callers cap every reach in characters as well, so one long unpunctuated transcript does not become
one clause in which everything governs everything.
"""

from __future__ import annotations

SENTENCE_BREAKS = "。！？；!?;\n"
CLAUSE_BREAKS = SENTENCE_BREAKS + ", "


def clause_of(text: str, i: int, *, breaks: str = CLAUSE_BREAKS) -> tuple[int, int]:
    """[start, end) of the clause holding text[i]."""
    start = i
    while start > 0 and text[start - 1] not in breaks:
        start -= 1
    end = i
    while end < len(text) and text[end] not in breaks:
        end += 1
    return start, end


def sentence_of(text: str, i: int) -> tuple[int, int]:
    return clause_of(text, i, breaks=SENTENCE_BREAKS)


def crosses(text: str, start: int, end: int, breaks: str = CLAUSE_BREAKS) -> bool:
    return any(ch in breaks for ch in text[start:end])


def crosses_sentence(text: str, start: int, end: int) -> bool:
    return crosses(text, start, end, SENTENCE_BREAKS)
