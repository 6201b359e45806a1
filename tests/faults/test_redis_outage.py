"""Both Redis servers (the shared cache and the rate-limit counters) stopped under load
against a live API: reads and searches keep being answered from the database, content
writes are refused with 503 (the shared cache could not be told, so nothing is written),
sign-ups are refused with 503 (their rate limits fail closed), and everything works again
once Redis is back, without restarting the API."""

import uuid
from pathlib import Path

import pytest

from tests.faults.conftest import Api, OwnPostgres, OwnRedis, app_environment, report, stored_titles, tickerfeed, write_key
from tests.faults.load import TIMEOUT, Load, publish, summary, with_outage

pytestmark = [pytest.mark.faults, pytest.mark.asyncio]
OUTAGE_SECONDS = 6
RECOVERY_SECONDS = 8  # the shared cache waits 5 s after a failure before trying Redis again


async def test_redis_stopped_under_load(
    postgres: OwnPostgres, redis: OwnRedis, limits_redis: OwnRedis, workdir: Path
) -> None:
    environment = app_environment(
        postgres.url, workdir,
        REDIS_URL=redis.url, RATE_LIMIT_REDIS_URL=limits_redis.url, SEND_MAIL_ON_REQUEST="false",
        RATE_LIMIT_SUBSCRIBE_PER_CLIENT="100000/hour", RATE_LIMIT_SEARCH_PER_CLIENT="100000/minute",
    )
    tickerfeed(environment, workdir, "migrate")
    key = write_key(environment, workdir)
    api = Api(environment, workdir)

    def stop() -> None:
        redis.stop()
        limits_redis.stop()

    def start() -> None:
        redis.start()
        limits_redis.start()

    try:
        load = Load(
            api.url,
            {
                "read": lambda n: ("GET", f"/v1/articles?limit={n % 10 + 1}", None),
                "search": lambda n: ("GET", f"/v1/articles?q={['nvidia', 'bitcoin', 'earnings'][n % 3]}", None),
                "write": publish(api.author),
                "signup": lambda n: (
                    "POST", "/v1/subscriptions",
                    {"email": f"{uuid.uuid4().hex[:16]}@example.com", "newsletters": ["daily-headlines"]},
                ),
            },
            headers={"Authorization": f"Bearer {key}"},
        )
        down_at, restart_at, up_at = await with_outage(
            load, {"read": 2, "search": 1, "write": 1, "signup": 1}, stop, start,
            outage=OUTAGE_SECONDS, recovery=RECOVERY_SECONDS,
        )
    finally:
        api.stop()

    # Sent once the requests in flight before it were done, and answered before the restart
    # began: a request still waiting on Redis when it is back may well succeed, rightly.
    during = [a for a in load.between(down_at + 0.5, restart_at) if a.at + a.seconds < restart_at]
    after = load.between(up_at, load.now())
    late = load.between(up_at + RECOVERY_SECONDS, load.now())

    def back_in(kind: str, ok: int) -> float | None:
        first = next((a for a in after if a.kind == kind and a.status == ok), None)
        return None if first is None else round(first.at + first.seconds - up_at, 2)

    titles = await stored_titles(postgres.url)
    written = {a.title for a in load.answers if a.kind == "write" and a.status == 201}
    refused = {a.title for a in load.answers if a.kind == "write" and a.status != 201}
    report(
        "redis stopped",
        requests=len(load.answers), before=summary(load.between(0, down_at)), during=summary(during),
        after=summary(after), slowest_s=round(max(a.seconds for a in load.answers), 2),
        writes_back_in_s=back_in("write", 201), signups_back_in_s=back_in("signup", 202),
        acknowledged_missing=len(written - titles), refused_but_stored=len(refused & titles),
    )
    assert written <= titles and not refused & titles
    assert {a.status for a in load.answers} <= {200, 201, 202, 503}, summary(load.answers)
    assert all(a.problem for a in load.answers if a.status == 503)
    assert max(a.seconds for a in load.answers) < TIMEOUT / 2, "a request hung"
    assert {a.status for a in during if a.kind in ("read", "search")} == {200}, "reads fail open"
    assert {a.status for a in during if a.kind in ("write", "signup")} == {503}, "writes and sign-ups fail closed"
    assert {(a.kind, a.status) for a in late} == {("read", 200), ("search", 200), ("write", 201), ("signup", 202)}
