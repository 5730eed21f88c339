"""A tenant's vocabulary: competitors with their aliases, products, client titles, hot words.

The default ships as `speech/data/lexicon_default.json`; a tenant's edits (from the admin API, stored as JSON
in the database) are applied with `merge`. Everything round-trips through `to_json`/`from_json`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

_LIST_FIELDS = ("context_required", "products", "titles", "title_roles", "keywords", "hotwords")


@dataclass(frozen=True)
class Lexicon:
    # canonical name -> the ways people (and ASR) write it; the canonical name is what extraction reports
    competitors: dict[str, tuple[str, ...]]
    # aliases that are also ordinary words (浪潮 "tide", 联想 "to associate", a chat tool's own name):
    # reported only next to competitor talk (竞争, 在用, 报价, 参与投标, another competitor…)
    context_required: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    # full client titles as reported (采购总监, 信息中心主任, 总经理)
    titles: tuple[str, ...] = ()
    # role suffixes (总监, 经理, 主任…): a title is department + role, and ASR mishears the role more than the
    # department, so the role is matched by sound after a department heard right
    title_roles: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    # words the recogniser is primed with, most important first
    hotwords: tuple[str, ...] = ()
    _fingerprint: str = field(default="", compare=False, repr=False)

    @classmethod
    def default(cls) -> Lexicon:
        return _default()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Lexicon:
        competitors = {
            str(name): _unique([str(name), *map(str, aliases)]) for name, aliases in data.get("competitors", {}).items()
        }
        lists = {key: _unique(map(str, data.get(key, ()))) for key in _LIST_FIELDS}
        return cls(
            competitors=competitors,
            context_required=lists["context_required"],
            products=lists["products"],
            titles=lists["titles"],
            title_roles=lists["title_roles"],
            keywords=lists["keywords"],
            hotwords=lists["hotwords"],
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"competitors": {name: list(aliases) for name, aliases in self.competitors.items()}}
        out.update({key: list(getattr(self, key)) for key in _LIST_FIELDS})
        return out

    def merge(self, overrides: dict[str, Any]) -> Lexicon:
        """A tenant's edits on top of this lexicon.

        `competitors` entries add a competitor or extend its aliases; list fields are appended to; `remove`
        (``{"competitors": [...], "titles": [...], ...}``) drops canonical competitors or list items.
        """
        data = self.to_json()
        for name, aliases in overrides.get("competitors", {}).items():
            data["competitors"][name] = _unique([*data["competitors"].get(name, [name]), *aliases])
        for key in _LIST_FIELDS:
            data[key] = _unique([*data[key], *overrides.get(key, ())])
        removed = overrides.get("remove", {})
        for name in removed.get("competitors", ()):
            data["competitors"].pop(name, None)
        for key in _LIST_FIELDS:
            drop = set(removed.get(key, ()))
            data[key] = [item for item in data[key] if item not in drop]
        return Lexicon.from_json(data)

    @property
    def fingerprint(self) -> str:
        """Stable hash of the content: extractors are cached by it."""
        if not self._fingerprint:
            blob = json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True).encode()
            object.__setattr__(self, "_fingerprint", hashlib.sha256(blob).hexdigest())
        return self._fingerprint

    def transcription_hotwords(self) -> list[str]:
        """Hot words for the recogniser: the tenant's own first, then Chinese competitor names."""
        names = [name for name in self.competitors if any("\u4e00" <= ch <= "\u9fff" for ch in name)]
        return [*self.hotwords, *names]


def _unique(items: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item.strip() for item in items if item and item.strip()))


@cache
def _default() -> Lexicon:
    raw = json.loads(resources.files("speech.data").joinpath("lexicon_default.json").read_text("utf-8"))
    titles = [dept + role for dept in raw.pop("title_departments") for role in raw["title_roles"]]
    raw["titles"] = [*titles, *raw.pop("titles_standalone")]
    return Lexicon.from_json(raw)
