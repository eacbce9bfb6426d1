"""Registration, claim codes, claiming, the device list, rename, unclaim, revocation and
command relay (through the in-memory relay). On PostgreSQL + Redis and on SQLite."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from lightbox.cloud.devices import MAX_CODE_MISSES, Devices
from lightbox.cloud.security import CLAIM_ALPHABET
from lightbox.protocol import Command, CommandResult, ErrorInfo
from tests.cloud.conftest import Api, Clock, assert_problem

REGISTER = "/api/v1/devices/register"
CLAIM = "/api/v1/devices/claim"
DEVICES = "/api/v1/devices"


def secret_header(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_first_registration(api: Api) -> None:
    r = await api.client.post(
        REGISTER, json={"device_id": "box-1", "name": "Hall", "version": "0.1.0"}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["device_id"] == "box-1"
    assert body["registration_secret"].startswith("lbs_")
    mqtt = body["mqtt"]
    assert mqtt["url"] == "mqtts://broker.test:8883"
    assert api.broker.check(mqtt["username"], mqtt["password"])
    code = body["claim_code"]
    assert len(code) == 7 and code[3] == "-"
    assert all(c in CLAIM_ALPHABET for c in code.replace("-", ""))
    assert body["claim_expires_at"]


async def test_registration_again_rotates_the_password(api: Api) -> None:
    first = await api.register("box-2")
    again = await api.register("box-2", registration_secret=first["registration_secret"])
    assert again["registration_secret"] is None
    assert again["mqtt"]["username"] == first["mqtt"]["username"]
    assert again["mqtt"]["password"] != first["mqtt"]["password"]
    assert not api.broker.check(first["mqtt"]["username"], first["mqtt"]["password"])
    assert api.broker.check(again["mqtt"]["username"], again["mqtt"]["password"])
    # unclaimed: a new code, and the previous one no longer works
    assert again["claim_code"] != first["claim_code"]
    user = await api.user()
    r = await api.client.post(CLAIM, json={"code": first["claim_code"]}, headers=user.headers)
    assert_problem(r, 404, "not_found", "code")


@pytest.mark.parametrize("secret", [None, "lbs_wrong", "x"])
async def test_registration_with_a_wrong_secret(api: Api, secret: str | None) -> None:
    first = await api.register("box-3")
    body = {"device_id": "box-3", "name": "Thief", "version": "6.6.6"}
    if secret is not None:
        body["registration_secret"] = secret
    r = await api.client.post(REGISTER, json=body)
    assert_problem(r, 403, "forbidden", "registration_secret")
    # nothing changed: the device's credentials still work
    assert api.broker.check(first["mqtt"]["username"], first["mqtt"]["password"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"device_id": "has/slash", "name": "x", "version": "1"}, "device_id"),
        ({"device_id": "a+b", "name": "x", "version": "1"}, "device_id"),
        ({"device_id": "", "name": "x", "version": "1"}, "device_id"),
        ({"device_id": "ok", "name": "", "version": "1"}, "name"),
        ({"device_id": "ok", "name": "x" * 65, "version": "1"}, "name"),
        ({"device_id": "ok", "name": "x"}, "version"),
    ],
)
async def test_registration_validation(api: Api, body: dict[str, str], field: str) -> None:
    r = await api.client.post(REGISTER, json=body)
    assert_problem(r, 422, "invalid_command", field)


async def test_concurrent_first_registrations(api: Api) -> None:
    body = {"device_id": "box-race", "name": "x", "version": "1"}
    results = await asyncio.gather(*(api.client.post(REGISTER, json=body) for _ in range(4)))
    assert sorted(r.status_code for r in results) == [201, 403, 403, 403]


async def test_claim_flow(api: Api) -> None:
    reg = await api.register("box-claim")
    user = await api.user()
    assert (await api.client.get(DEVICES, headers=user.headers)).json() == []
    r = await api.client.post(CLAIM, json={"code": reg["claim_code"]}, headers=user.headers)
    assert r.status_code == 200, r.text
    device = r.json()
    assert device["device_id"] == "box-claim"
    assert device["name"] == "Kitchen"
    assert device["online"] is False
    assert device["claimed_at"] is not None
    listed = (await api.client.get(DEVICES, headers=user.headers)).json()
    assert [d["device_id"] for d in listed] == ["box-claim"]
    # single use: the same code again is unknown
    r = await api.client.post(CLAIM, json={"code": reg["claim_code"]}, headers=user.headers)
    assert_problem(r, 404, "not_found", "code")
    # once owned, re-registration brings no claim code
    again = await api.register("box-claim", registration_secret=reg["registration_secret"])
    assert again["claim_code"] is None


@pytest.mark.parametrize("transform", [str.lower, lambda c: c.replace("-", ""), lambda c: f" {c} "])
async def test_claim_codes_forgive_typing(api: Api, transform: object) -> None:
    reg = await api.register()
    user = await api.user()
    assert callable(transform)
    r = await api.client.post(
        CLAIM, json={"code": transform(reg["claim_code"])}, headers=user.headers
    )
    assert r.status_code == 200, r.text


async def test_claim_code_expires(api: Api, clock: Clock) -> None:
    reg = await api.register()
    user = await api.user()
    clock.advance(api.services.config.claim_code_ttl_s)
    r = await api.client.post(CLAIM, json={"code": reg["claim_code"]}, headers=user.headers)
    assert_problem(r, 404, "not_found", "code")


@pytest.mark.parametrize("code", ["", "nope", "ABCDEFGH", "U00-000", "!!!-!!!"])
async def test_malformed_codes_are_unknown(api: Api, code: str) -> None:
    user = await api.user()
    r = await api.client.post(CLAIM, json={"code": code}, headers=user.headers)
    assert r.status_code in (404, 422), r.text


async def test_claim_needs_a_user(api: Api) -> None:
    reg = await api.register()
    r = await api.client.post(CLAIM, json={"code": reg["claim_code"]})
    assert_problem(r, 401, "unauthorized")


async def test_claim_rate_limit_per_user(api: Api) -> None:
    user = await api.user()
    reg = await api.register()
    rule = api.services.limits.claim_user
    for i in range(rule.limit):
        r = await api.client.post(CLAIM, json={"code": f"ZZZ-ZZ{i % 10}"}, headers=user.headers)
        assert r.status_code == 404
    r = await api.client.post(CLAIM, json={"code": reg["claim_code"]}, headers=user.headers)
    assert_problem(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    # the real owner, another user, is not blocked by the attacker's limit
    owner = await api.user()
    r = await api.client.post(CLAIM, json={"code": reg["claim_code"]}, headers=owner.headers)
    assert r.status_code == 200


async def test_claim_rate_limit_per_code_prefix_across_users(api: Api) -> None:
    reg = await api.register()
    prefix = reg["claim_code"][:3]
    rule = api.services.limits.claim_prefix
    users = [
        await api.user() for _ in range(rule.limit // api.services.limits.claim_user.limit + 1)
    ]
    statuses = []
    wrong = [f"{prefix}-{a}{b}{c}" for a in "0123" for b in "0123456789" for c in "AB"]
    wrong = [w for w in wrong if w != reg["claim_code"]]
    for i in range(rule.limit + 1):
        user = users[i // (api.services.limits.claim_user.limit - 1)]
        r = await api.client.post(CLAIM, json={"code": wrong[i]}, headers=user.headers)
        statuses.append(r.status_code)
    assert statuses[-1] == 429
    assert set(statuses[:-1]) <= {404}


async def test_code_burned_after_misses(api: Api) -> None:
    reg = await api.register()
    code = reg["claim_code"]
    prefix = code[:3]
    user = await api.user()
    wrong = [f"{prefix}-{c}{c}{c}" for c in "0123456789" if f"{prefix}-{c}{c}{c}" != code]
    for guess in wrong[:MAX_CODE_MISSES]:
        r = await api.client.post(CLAIM, json={"code": guess}, headers=user.headers)
        assert r.status_code == 404
    owner = await api.user()
    r = await api.client.post(CLAIM, json={"code": code}, headers=owner.headers)
    assert_problem(r, 404, "not_found", "code")
    # the device asks for a new code: that one works
    r = await api.client.post(
        f"{DEVICES}/{reg['device_id']}/claim-code",
        headers=secret_header(reg["registration_secret"]),
    )
    assert r.status_code == 200, r.text
    r = await api.client.post(CLAIM, json={"code": r.json()["claim_code"]}, headers=owner.headers)
    assert r.status_code == 200


async def test_claim_code_endpoint_needs_the_device_secret(api: Api) -> None:
    reg = await api.register()
    other = await api.register()
    user = await api.user()
    url = f"{DEVICES}/{reg['device_id']}/claim-code"
    for headers in (
        {},
        secret_header("lbs_nope"),
        secret_header(other["registration_secret"]),
        user.headers,
    ):
        assert_problem(await api.client.post(url, headers=headers), 403, "forbidden")
    r = await api.client.post(f"{DEVICES}/no-such-box/claim-code", headers=secret_header("lbs_x"))
    assert_problem(r, 403, "forbidden")
    r = await api.client.post(url, headers=secret_header(reg["registration_secret"]))
    assert r.status_code == 200
    new = r.json()["claim_code"]
    assert new != reg["claim_code"]
    # the new code replaces the old one
    r = await api.client.post(CLAIM, json={"code": reg["claim_code"]}, headers=user.headers)
    assert r.status_code == 404
    r = await api.client.post(CLAIM, json={"code": new}, headers=user.headers)
    assert r.status_code == 200


async def test_claim_moves_ownership(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    reg = await api.owned_device(alice)
    r = await api.client.post(
        f"{DEVICES}/{reg['device_id']}/claim-code",
        headers=secret_header(reg["registration_secret"]),
    )
    r = await api.client.post(CLAIM, json={"code": r.json()["claim_code"]}, headers=bob.headers)
    assert r.status_code == 200
    assert (await api.client.get(DEVICES, headers=alice.headers)).json() == []
    assert len((await api.client.get(DEVICES, headers=bob.headers)).json()) == 1


async def test_get_rename_unclaim(api: Api) -> None:
    user = await api.user()
    reg = await api.owned_device(user)
    url = f"{DEVICES}/{reg['device_id']}"
    r = await api.client.get(url, headers=user.headers)
    assert r.status_code == 200 and r.json()["name"] == "Kitchen"
    r = await api.client.patch(url, json={"name": "  Living room "}, headers=user.headers)
    assert r.status_code == 200 and r.json()["name"] == "Living room"
    assert_problem(
        await api.client.patch(url, json={"name": ""}, headers=user.headers),
        422,
        "invalid_command",
        "name",
    )
    # a re-registration keeps the owner's name
    await api.register(
        reg["device_id"], registration_secret=reg["registration_secret"], version="0.2"
    )
    body = (await api.client.get(url, headers=user.headers)).json()
    assert (body["name"], body["version"]) == ("Living room", "0.2")
    r = await api.client.delete(url, headers=user.headers)
    assert r.status_code == 204
    assert_problem(await api.client.get(url, headers=user.headers), 404, "not_found")
    # still registered: it gets a claim code again
    again = await api.register(reg["device_id"], registration_secret=reg["registration_secret"])
    assert again["claim_code"]


async def test_revoke_credentials(api: Api) -> None:
    user = await api.user()
    reg = await api.owned_device(user)
    mqtt = reg["mqtt"]
    r = await api.client.post(
        f"{DEVICES}/{reg['device_id']}/credentials/revoke", headers=user.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["credentials_revoked"] is True
    assert not api.broker.check(mqtt["username"], mqtt["password"])
    # the device registers again with its secret: new credentials, revocation cleared
    again = await api.register(reg["device_id"], registration_secret=reg["registration_secret"])
    assert api.broker.check(again["mqtt"]["username"], again["mqtt"]["password"])
    body = (await api.client.get(f"{DEVICES}/{reg['device_id']}", headers=user.headers)).json()
    assert body["credentials_revoked"] is False


async def test_presence_in_the_list(api: Api, clock: Clock) -> None:
    user = await api.user()
    reg = await api.owned_device(user)
    devices = Devices(api.services)
    t0 = clock.now
    assert await devices.record_presence(reg["device_id"], True, t0)
    body = (await api.client.get(DEVICES, headers=user.headers)).json()[0]
    assert body["online"] is True
    # a late, older report (a last will that arrived after the reconnect) changes nothing
    assert not await devices.record_presence(reg["device_id"], False, t0 - timedelta(seconds=5))
    assert (await api.client.get(DEVICES, headers=user.headers)).json()[0]["online"] is True
    assert await devices.record_presence(reg["device_id"], False, t0 + timedelta(seconds=5))
    body = (await api.client.get(DEVICES, headers=user.headers)).json()[0]
    assert body["online"] is False
    assert body["last_seen_at"].startswith(
        (t0 + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S")
    )


async def test_command_relay(api: Api) -> None:
    user = await api.user()
    reg = await api.owned_device(user)
    url = f"{DEVICES}/{reg['device_id']}/commands"
    command = {"type": "set", "brightness": 40, "id": "c-1"}
    # not connected: offline
    body = assert_problem(
        await api.client.post(url, json=command, headers=user.headers), 503, "offline"
    )
    assert reg["device_id"] in body["detail"]

    async def device(cmd: Command) -> CommandResult:
        return CommandResult(id=cmd.id, ok=True, version=7)

    api.relay.connect(reg["device_id"], device)
    r = await api.client.post(url, json=command, headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "c-1", "ok": True, "error": None, "version": 7}
    sent_id, sent = api.relay.sent[-1]
    assert sent_id == reg["device_id"] and sent.type == "set"


async def test_command_errors(api: Api) -> None:
    user = await api.user()
    reg = await api.owned_device(user)
    url = f"{DEVICES}/{reg['device_id']}/commands"

    async def refuses(cmd: Command) -> CommandResult:
        error = ErrorInfo(code="not_found", message="no preset 'x'", field="preset")
        return CommandResult(id=cmd.id, ok=False, error=error)

    async def hangs(cmd: Command) -> CommandResult:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    api.relay.connect(reg["device_id"], refuses)
    # invalid commands never reach the device: 422 naming the field
    r = await api.client.post(url, json={"type": "set", "brightness": 999}, headers=user.headers)
    assert_problem(r, 422, "invalid_command", "brightness")
    r = await api.client.post(url, json={"type": "explode"}, headers=user.headers)
    assert_problem(r, 422, "unknown_command", "type")
    assert api.relay.sent == []
    # the device's own refusal comes back as a problem with the command's id
    r = await api.client.post(
        url, json={"type": "preset.apply", "preset": "x", "id": "c-2"}, headers=user.headers
    )
    body = assert_problem(r, 404, "not_found", "preset")
    assert body["id"] == "c-2"
    api.relay.connect(reg["device_id"], hangs)
    api.services.command_timeout_s = 0.2
    r = await api.client.post(url, json={"type": "identify"}, headers=user.headers)
    assert_problem(r, 504, "timeout")


async def test_nul_characters_are_refused_not_a_server_error(api: Api) -> None:
    body = {"device_id": "box-nul", "name": "A\x00B", "version": "1.0"}
    r = await api.client.post(REGISTER, json=body)
    assert_problem(r, 422, "invalid_command", "name")
