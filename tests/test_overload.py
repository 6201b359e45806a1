"""Load shedding (app/overload.py): past `max_requests_in_flight` a process refuses at once
with a 503 problem, never queues; probes still answer; room frees as requests finish."""

import asyncio

import pytest
from prometheus_client import REGISTRY

from app.main import create_app
from app.settings import Settings
from tests.conftest import like
from tests.helpers import assert_problem, problem

pytestmark = pytest.mark.asyncio(loop_scope="session")

IN_FLIGHT = 2


@pytest.fixture
def app(app, settings: Settings):
    return like(create_app(settings.model_copy(update={"max_requests_in_flight": IN_FLIGHT})), app)


def shed_so_far() -> float:
    return REGISTRY.get_sample_value("tickerfeed_http_requests_shed_total") or 0.0


@pytest.fixture
def held(app):
    """A route that stays in flight until released (at the latest when the test ends);
    `entered` counts the requests inside."""
    release = asyncio.Event()
    entered: list[int] = []

    async def hold() -> dict[str, str]:
        entered.append(1)
        await release.wait()
        return {"status": "done"}

    app.add_api_route("/test-only/held", hold)
    yield release, entered
    release.set()


async def fill(client, entered: list[int]) -> list[asyncio.Task]:
    holding = [asyncio.create_task(client.get("/test-only/held")) for _ in range(IN_FLIGHT)]

    async def all_inside() -> None:
        while len(entered) < IN_FLIGHT:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(all_inside(), 5)
    return holding


class TestLoadShedding:
    async def test_refuses_past_the_limit_with_a_503_problem_and_retry_after(self, client, held):
        release, entered = held
        holding = await fill(client, entered)
        shed_before = shed_so_far()

        refused = await client.get("/v1/articles")
        refused_write = await client.post("/v1/authors", json={"slug": "x", "name": "X", "kind": "human"})

        assert_problem(refused, problem(503, "overloaded", "The server is at capacity; try again shortly."))
        assert refused.headers["Retry-After"] == "1"
        assert "connection" not in refused.headers
        assert refused_write.status_code == 503
        # A body nobody read may follow: the connection is not reused.
        assert refused_write.headers["connection"] == "close"
        assert shed_so_far() == shed_before + 2
        release.set()
        assert [(await task).status_code for task in holding] == [200] * IN_FLIGHT

    async def test_a_browser_can_read_the_refusal(self, client, held, settings):
        release, entered = held
        holding = await fill(client, entered)
        origin = settings.cors_origins[0]

        refused = await client.get("/v1/articles", headers={"Origin": origin})

        assert refused.status_code == 503
        assert refused.headers["Access-Control-Allow-Origin"] == origin
        assert "Retry-After" in refused.headers["Access-Control-Expose-Headers"]
        release.set()
        await asyncio.gather(*holding)

    async def test_probes_are_answered_when_full(self, client, held):
        release, entered = held
        holding = await fill(client, entered)

        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        release.set()
        await asyncio.gather(*holding)

    async def test_room_frees_as_requests_finish(self, client, held):
        release, entered = held
        holding = await fill(client, entered)
        release.set()
        await asyncio.gather(*holding)

        assert (await client.get("/v1/articles")).status_code == 200

    async def test_failed_requests_free_their_room_too(self, app, client):
        async def fail() -> None:
            raise RuntimeError("boom")

        app.add_api_route("/test-only/fail", fail)
        for _ in range(IN_FLIGHT + 1):
            assert (await client.get("/test-only/fail")).status_code == 500

        assert (await client.get("/v1/articles")).status_code == 200
