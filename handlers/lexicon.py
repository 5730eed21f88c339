"""`/admin/tenants/{id}/lexicon`: a tenant's vocabulary for voice notes (competitors, products, titles, hot words).

The tenant edits the built-in lexicon rather than replacing it: `PUT` stores the edits (the `lexicon` section of
the tenant's settings), `GET` shows them with the lexicon they make. Routes are declared on the admin API's
registry, so they are served and documented with it (`bot.runtime.app` imports this module before `admin.setup`).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from bot.admin.tenant_settings import LexiconSection
from bot.runtime import tenant_cache
from bot.runtime.appkeys import SERVICES
from bot.voice import lexicons
from handlers.admin import _admin, _id, _tenant
from handlers.http import json_out, read_model
from handlers.openapi import ApiRoutes
from speech.lexicon import Lexicon

API = ApiRoutes()


class LexiconView(BaseModel):
    """A lexicon as extraction uses it: canonical competitor -> its spellings, and the word lists."""

    competitors: dict[str, list[str]]
    context_required: list[str]
    products: list[str]
    titles: list[str]
    title_roles: list[str]
    keywords: list[str]
    hotwords: list[str]


class LexiconOut(BaseModel):
    tenant_id: int
    edits: LexiconSection
    effective: LexiconView


def _out(tenant_id: int, section: LexiconSection, lexicon: Lexicon) -> LexiconOut:
    return LexiconOut(tenant_id=tenant_id, edits=section, effective=LexiconView.model_validate(lexicon.to_json()))


@API.route("GET", "/admin/tenants/{id}/lexicon", summary="Show a tenant's lexicon edits and the lexicon they make",
           tags=("lexicon",), response=LexiconOut)
async def show_lexicon(request: web.Request) -> web.Response:
    tenant = await _tenant(await _admin(request), _id(request))
    section = await lexicons.tenant_section(tenant.id)
    return json_out(_out(tenant.id, section, lexicons.lexicon_of(section)))


@API.route("PUT", "/admin/tenants/{id}/lexicon", summary="Replace a tenant's lexicon edits", tags=("lexicon",),
           body=LexiconSection, response=LexiconOut)
async def put_lexicon(request: web.Request) -> web.Response:
    tenant = await _tenant(await _admin(request), _id(request))
    section = await read_model(request, LexiconSection)
    lexicon = await lexicons.store(tenant.id, section)
    await tenant_cache.changed(request.app[SERVICES].redis, tenant.id)  # the tenant as API requests keep it
    return json_out(_out(tenant.id, section, lexicon))
