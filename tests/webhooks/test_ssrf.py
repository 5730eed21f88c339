"""A tenant admin must not make the service call its neighbours: the address rule on subscribe, on send, on every
redirect, and on what DNS answers."""

from __future__ import annotations

import socket

import pytest

from bot.errors import InvalidField
from bot.runtime.urlguard import GuardedResolver, RefusedAddress
from bot.webhooks import dispatcher
from bot.webhooks import subscriptions as ops
from bot.webhooks.schemas import SubscriptionIn
from bot.webhooks.sender import Sender
from storage.models import WebhookAttempt, WebhookDelivery
from tests.webhooks.conftest import new_lead, subscribe
from tests.webhooks.receiver import Receiver

# The dispatchers here use the real retry schedule: the one attempt a test looks at is the only one it makes.
REFUSED = [
    "http://127.0.0.1:8080/hook",
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "file:///etc/passwd",
    "http://localhost:8080/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://192.168.1.20/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one number: no IP literal to the URL parser, but DNS knows better
    "http://0x7f000001/hook",
    "gopher://example.com/",
    "http://user:secret@example.com/hook",
]


def _off(settings):
    return settings.model_copy(update={"allow_private_urls": False})


@pytest.mark.parametrize("url", REFUSED)
async def test_subscribing_a_private_or_non_http_url_is_refused(services, team, url) -> None:
    with pytest.raises(InvalidField) as e:
        await ops.create(services.box, _off(services.settings), team.tenant.id,
                         SubscriptionIn(url=url, event_types=["*"]))
    assert e.value.field == "url"


async def test_loopback_is_allowed_when_the_operator_allows_private_urls(services, team, receiver) -> None:
    sub, _ = await ops.create(services.box, services.settings.model_copy(update={"allow_private_urls": True}),
                              team.tenant.id, SubscriptionIn(url=receiver.url, event_types=["*"]))
    assert sub.url == receiver.url
    with pytest.raises(InvalidField, match="scheme"):  # the scheme rule holds whatever the setting
        await ops.create(services.box, services.settings, team.tenant.id,
                         SubscriptionIn(url="file:///etc/passwd", event_types=["*"]))


async def test_sending_checks_the_address_again(services, team, receiver) -> None:
    # subscribed while private URLs were allowed; the operator has since turned that off
    await subscribe(services, team.tenant.id, receiver.url, ["lead.created"], receiver=receiver)
    await new_lead(services, team, "华东机械", "crm-1")
    async with Sender(allow_private=False) as sender, dispatcher.Dispatcher(services, sender=sender) as d:
        await d.run_until_idle()
    assert receiver.received == []
    attempt = await WebhookAttempt.get()
    assert attempt.outcome == "refused" and "127.0.0.1" in attempt.error


def _private_name() -> tuple[str, set[str]]:
    """This machine's name, when it resolves to loopback or private addresses (as it usually does)."""
    import ipaddress

    name = socket.gethostname()
    try:
        addresses = {i[4][0] for i in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except socket.gaierror:
        pytest.skip("this machine's name does not resolve")
    if not all(ipaddress.ip_address(a).is_private for a in addresses):
        pytest.skip(f"{name} resolves to public addresses {addresses}")
    return name, addresses


async def test_a_name_that_resolves_to_a_private_address_is_refused(services, team) -> None:
    name, _ = _private_name()
    with pytest.raises(InvalidField, match="resolves to"):
        await ops.create(services.box, _off(services.settings), team.tenant.id,
                         SubscriptionIn(url=f"http://{name}:8080/hook", event_types=["*"]))


async def test_sending_checks_what_dns_answers_when_connecting(services, team, receiver) -> None:
    # subscribed while allowed (or DNS answered differently then): the name is checked again as it is connected
    name, _ = _private_name()
    await subscribe(services, team.tenant.id, f"http://{name}:{receiver.port}/hook", ["lead.created"],
                    receiver=receiver)
    await new_lead(services, team, "华东机械", "crm-1")
    async with Sender(allow_private=False) as sender, dispatcher.Dispatcher(services, sender=sender) as d:
        await d.run_until_idle()
    assert receiver.received == []
    attempt = await WebhookAttempt.get()
    assert attempt.outcome == "refused" and f"{name} resolves to" in attempt.error


@pytest.mark.parametrize("target", [
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost:{port}/hook",
    "http://127.0.0.2:{port}/hook",
    "file:///etc/passwd",
])
async def test_a_redirect_to_a_private_address_is_refused(services, team, receiver, target) -> None:
    neighbour = await Receiver(host="127.0.0.2").start()  # a service next door, reachable on loopback
    try:
        url = receiver.redirect_url(target.format(port=neighbour.port))
        await subscribe(services, team.tenant.id, url, ["lead.created"], receiver=receiver)
        await new_lead(services, team, "华东机械", "crm-1")
        # the receiver's own address is allowed by name; nothing else private is
        async with Sender(allow_private=False, allowed_hosts={"127.0.0.1"}) as sender, \
                dispatcher.Dispatcher(services, sender=sender) as d:
            await d.run_until_idle()
        assert neighbour.received == []
        attempt = await WebhookAttempt.get()
        assert attempt.outcome == "refused", attempt.error
    finally:
        await neighbour.stop()


async def test_a_redirect_to_an_allowed_address_is_followed_with_the_same_signed_post(services, team,
                                                                                      receiver) -> None:
    url = receiver.redirect_url(receiver.url, status=301)  # e.g. http -> https, as nginx answers it
    await subscribe(services, team.tenant.id, url, ["lead.created"], receiver=receiver)
    await new_lead(services, team, "华东机械", "crm-1")
    async with Sender(allow_private=False, allowed_hosts={"127.0.0.1"}) as sender, \
            dispatcher.Dispatcher(services, sender=sender) as d:
        await d.run_until_idle()
    assert [(r.event_type, r.signed) for r in receiver.received] == [("lead.created", True)]
    assert (await WebhookDelivery.get()).state == "delivered"


async def test_endless_redirects_fail_the_attempt(services, team, receiver) -> None:
    receiver.redirects.append("")
    loop = f"http://127.0.0.1:{receiver.port}/redirect/0"
    receiver.redirects[0] = loop
    await subscribe(services, team.tenant.id, loop, ["lead.created"], receiver=receiver)
    await new_lead(services, team, "华东机械", "crm-1")
    async with dispatcher.Dispatcher(services) as d:
        await d.run_until_idle()
    attempt = await WebhookAttempt.get()
    assert (attempt.outcome, attempt.status_code) == ("http_error", 307) and "redirects" in attempt.error


async def test_the_resolver_refuses_names_of_private_addresses() -> None:
    with pytest.raises(RefusedAddress):
        await GuardedResolver().resolve("localhost", 80)
    assert await GuardedResolver(allowed={"localhost"}).resolve("localhost", 80)


class TestWithPrivateUrlsOff:
    @pytest.fixture
    def settings(self, settings):
        return _off(settings)

    async def test_the_admin_api_refuses_private_urls(self, client, admin_headers, team) -> None:
        for url in ("http://127.0.0.1:8080/hook", "http://10.0.0.1/", "http://169.254.169.254/",
                    "file:///etc/passwd"):
            r = await client.post("/admin/webhooks", headers=admin_headers,
                                  json={"tenant_id": team.tenant.id, "url": url, "event_types": ["*"]})
            assert r.status == 400, url
            assert (await r.json())["field"] == "url"
