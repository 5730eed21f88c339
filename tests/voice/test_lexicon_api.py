"""`/admin/tenants/{id}/lexicon`: a tenant's edits of the built-in lexicon, stored in its settings and used."""

from __future__ import annotations

import pytest

from bot.voice import lexicons
from speech.lexicon import Lexicon
from storage.models import Tenant, VoiceNote
from tests.voice.support import WeComWorld

EDITS = {
    "competitors": {"蓝凌": ["蓝凌软件", "Landray"], "华为": ["华为技术"]},
    "hotwords": ["蓝凌", "星海平台"],
    "products": ["星海平台"],
    "remove": {"competitors": ["销售易"]},
}


async def test_edits_are_stored_shown_and_used_for_extraction(client, admin_headers, world: WeComWorld) -> None:
    url = f"/admin/tenants/{world.tenant.id}/lexicon"
    r = await client.get(url, headers=admin_headers)
    body = await r.json()
    assert r.status == 200 and body["edits"]["competitors"] == {} and "销售易" in body["effective"]["competitors"]

    r = await client.put(url, json=EDITS, headers=admin_headers)
    assert r.status == 200, await r.text()
    effective = (await r.json())["effective"]
    assert effective["competitors"]["蓝凌"] == ["蓝凌", "蓝凌软件", "Landray"]
    assert "华为技术" in effective["competitors"]["华为"] and "华为云" in effective["competitors"]["华为"]
    assert "销售易" not in effective["competitors"]

    body = await (await client.get(url, headers=admin_headers)).json()
    assert body["edits"]["competitors"] == EDITS["competitors"] and body["edits"]["remove"]["competitors"] == ["销售易"]
    lexicon = await lexicons.tenant_lexicon(world.tenant.id)
    assert lexicon.transcription_hotwords()[:2] == ["蓝凌", "星海平台"]  # the tenant's own words prime the recogniser

    # A typed correction is read with the tenant's lexicon: an alias only this tenant knows is recognised.
    await VoiceNote.create(tenant_id=world.tenant.id, user_id=world.rep.id, audio_sha256="2" * 64, duration_s=5,
                           transcript="……", fields_json={"competitors": ["华为"]})
    await world.text("rep1", "竞品 蓝凌软件")
    note = await VoiceNote.get(audio_sha256="2" * 64)
    assert note.fields_json["competitors"] == ["蓝凌"]


async def test_other_settings_sections_are_kept(client, admin_headers, world: WeComWorld) -> None:
    await Tenant.filter(id=world.tenant.id).update(settings={"workflow": {"reps_may_claim_pool": False}})
    r = await client.put(f"/admin/tenants/{world.tenant.id}/lexicon", json={"titles": ["首席数字官"]},
                         headers=admin_headers)
    assert r.status == 200
    tenant = await Tenant.get(id=world.tenant.id)
    assert tenant.settings == {"workflow": {"reps_may_claim_pool": False}, "lexicon": {"titles": ["首席数字官"]}}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"colours": ["red"]}, "colours"),
        ({"competitors": {"蓝凌": "蓝凌软件"}}, "competitors.蓝凌"),
        ({"titles": ["x" * 33]}, "titles.0"),
        ({"titles": ["   "]}, "titles.0"),
        ({"hotwords": ["a\nb"]}, "hotwords.0"),
        ({"remove": {"competitors": sorted(Lexicon.default().competitors)}}, "remove.competitors"),
    ],
)
async def test_bad_edits_are_400_and_store_nothing(client, admin_headers, world: WeComWorld, payload, field) -> None:
    r = await client.put(f"/admin/tenants/{world.tenant.id}/lexicon", json=payload, headers=admin_headers)
    body = await r.json()
    assert r.status == 400, body
    assert body["field"] == field
    assert (await Tenant.get(id=world.tenant.id)).settings == {}


async def test_another_tenants_lexicon_is_not_found(client, admin_headers, world: WeComWorld) -> None:
    other = await Tenant.create(name="别家")
    r = await client.post(f"/admin/tenants/{other.id}/tokens", json={"name": "t", "scope": "admin"},
                          headers=admin_headers)
    theirs = {"Authorization": f"Bearer {(await r.json())['token']}"}
    url = f"/admin/tenants/{world.tenant.id}/lexicon"
    assert (await client.get(url, headers=theirs)).status == 404
    assert (await client.put(url, json={"titles": ["间谍"]}, headers=theirs)).status == 404
    assert (await client.get(f"/admin/tenants/{other.id}/lexicon", headers=theirs)).status == 200


async def test_the_routes_are_documented(client, admin_headers) -> None:
    doc = await (await client.get("/admin/openapi.json", headers=admin_headers)).json()
    operations = doc["paths"]["/admin/tenants/{id}/lexicon"]
    assert set(operations) == {"get", "put"}
    assert "LexiconSection" in doc["components"]["schemas"]
