"""PostgreSQL restarted under read and write load against a running API: requests during
the outage get 503 problem documents (no hangs, no 500s), a refused write left nothing
behind, and the same API process serves again within seconds of the database's return."""

import json
from pathlib import Path

import pytest
from tests.faults.conftest import Api, OwnPostgres, app_environment, report, stored_titles, tickerfeed, write_key
from tests.faults.load import TIMEOUT, Load, publish, summary, with_outage

pytestmark = [pytest.mark.faults, pytest.mark.asyncio]
OUTAGE_SECONDS = 4
RECOVERY_SECONDS = 5


async def test_postgresql_restart_under_load(postgres: OwnPostgres, workdir: Path) -> None:
    environment = app_environment(postgres.url, workdir)
    tickerfeed(environment, workdir, "migrate")
    key = write_key(environment, workdir)
    api = Api(environment, workdir)
    try:
        load = Load(
            api.url,
            {
                "read": lambda n: ("GET", f"/v1/articles?limit={n % 20 + 1}", None),
                "detail": lambda n: ("GET", "/v1/authors", None),
                "write": publish(api.author),
            },
            headers={"Authorization": f"Bearer {key}"},
        )
        down_at, restart_at, up_at = await with_outage(
            load, {"read": 3, "detail": 1, "write": 2}, postgres.stop, postgres.start,
            outage=OUTAGE_SECONDS, recovery=RECOVERY_SECONDS,
        )
    finally:
        api.stop()
    log = (workdir / "api.log").read_text()

    before, during, after = (
        load.between(0, down_at), load.between(down_at, restart_at), load.between(up_at, load.now())
    )
    successes_after = [a for a in after if a.status in (200, 201)]
    recovered_in = successes_after[0].at + successes_after[0].seconds - up_at if successes_after else None
    late = load.between(up_at + RECOVERY_SECONDS, load.now())
    titles = await stored_titles(postgres.url)
    written = {a.title for a in load.answers if a.kind == "write" and a.status == 201}
    refused = {a.title for a in load.answers if a.kind == "write" and a.status != 201}
    report(
        "postgresql restart",
        requests=len(load.answers), before=summary(before), during=summary(during), after=summary(after),
        slowest_s=round(max(a.seconds for a in load.answers), 2),
        recovered_in_s=None if recovered_in is None else round(recovered_in, 2),
        writes_acknowledged=len(written), acknowledged_missing=len(written - titles),
        writes_refused=len(refused), refused_but_stored=len(refused & titles),
    )
    unhandled = log[log.find("unhandled error"):][:12000] if "unhandled error" in log else ""
    assert {a.status for a in load.answers} <= {200, 201, 503}, json.dumps(summary(load.answers)) + unhandled
    assert all(a.problem for a in load.answers if a.status == 503)
    assert max(a.seconds for a in load.answers) < TIMEOUT / 2, "a request hung"
    assert any(a.status == 503 for a in during), "the outage was not seen"
    assert recovered_in is not None and recovered_in < RECOVERY_SECONDS
    assert all(a.status in (200, 201) for a in late), summary(late)
    assert written <= titles, "an acknowledged write was lost"
    assert not refused & titles, "a refused write was stored"
    assert "Traceback" not in log or "unhandled error" not in log
