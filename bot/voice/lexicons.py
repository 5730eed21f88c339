"""A tenant's lexicon: the built-in default with the tenant's edits (its settings' `lexicon` section) applied.

Used for the recogniser's hot words and for extraction. Edits are checked by building the lexicon before they
are stored, so a stored section always loads. The admin API imports this module in the web process: the
extractor (jieba, pypinyin: ~70 MB) is imported only where notes are extracted, in workers.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING

from tortoise.transactions import in_transaction

from bot.admin.tenant_settings import LexiconSection, TenantSettings
from bot.errors import InvalidField, NotFound
from speech.lexicon import Lexicon
from storage.models import Tenant

if TYPE_CHECKING:
    from speech.extract import Extractor

_CACHE_SIZE = 32
_cache: OrderedDict[str, Lexicon] = OrderedDict()
_cache_lock = threading.Lock()


def lexicon_of(section: LexiconSection) -> Lexicon:
    """The default lexicon with `section` applied (cached by the section's content: notes of a tenant reuse it)."""
    edits = section.model_dump(mode="json")
    key = json.dumps(edits, ensure_ascii=False, sort_keys=True)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    lexicon = _tenant_words_first(Lexicon.default().merge(edits), section.hotwords)
    with _cache_lock:
        _cache[key] = lexicon
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return lexicon


def _tenant_words_first(lexicon: Lexicon, own: list[str]) -> Lexicon:
    """`merge` appends a tenant's hot words after the built-in ones, but the recogniser keeps only the first few
    dozen characters: the tenant's own words, which the built-in list cannot know, go first."""
    own_words = [w.strip() for w in own if w.strip() in lexicon.hotwords]
    if not own_words:
        return lexicon
    rest = [w for w in lexicon.hotwords if w not in own_words]
    return replace(lexicon, hotwords=tuple(dict.fromkeys([*own_words, *rest])), _fingerprint="")


async def tenant_section(tenant_id: int) -> LexiconSection:
    tenant = await Tenant.get_or_none(id=tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} not found")
    return TenantSettings.of(tenant.settings).lexicon


async def tenant_lexicon(tenant_id: int) -> Lexicon:
    return lexicon_of(await tenant_section(tenant_id))


async def tenant_extractor(tenant_id: int) -> Extractor:
    from speech.extract import get_extractor

    return get_extractor(await tenant_lexicon(tenant_id))


def check(section: LexiconSection) -> Lexicon:
    """The lexicon `section` makes, refused when it would leave nothing to find competitors with."""
    lexicon = lexicon_of(section)
    if not lexicon.competitors:
        raise InvalidField("remove.competitors", "the lexicon would have no competitors left")
    return lexicon


async def store(tenant_id: int, section: LexiconSection) -> Lexicon:
    """Check and store the tenant's lexicon edits, replacing the previous ones (other sections are kept)."""
    lexicon = check(section)
    async with in_transaction():
        tenant = await Tenant.filter(id=tenant_id).select_for_update().first()
        if tenant is None:
            raise NotFound(f"tenant {tenant_id} not found")
        settings = dict(tenant.settings or {})
        settings["lexicon"] = section.model_dump(mode="json", exclude_defaults=True)
        TenantSettings.of(settings)  # the whole document must still validate
        tenant.settings = settings
        await tenant.save(update_fields=["settings", "updated_at"])
    return lexicon
