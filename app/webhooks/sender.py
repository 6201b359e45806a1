"""One HTTP attempt at an event: resolve and check the target, POST the signed body to the
checked address, read at most `webhook_max_response_bytes` of the answer.

No redirect is followed (a 3xx is a failure: following it would reach an unchecked
address), proxies from the environment are ignored (`trust_env=False`), and the whole
attempt is bounded by `webhook_timeout_seconds` besides httpx's connect timeout. Clients
are kept per host name: a pooled connection was verified for one name, and must not carry
another name's request that happens to resolve to the same address.
"""

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

import httpx

from app.settings import Settings
from app.webhooks import signing
from app.webhooks.targets import RefusedTarget, Resolver, parse_target, resolve_checked, system_resolver

USER_AGENT = "tickerfeed-webhooks/1"


@dataclass(frozen=True)
class Result:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


class Sender:
    def __init__(self, settings: Settings, *, resolver: Resolver = system_resolver) -> None:
        self.settings = settings
        self.resolver = resolver
        self.clients: dict[str, httpx.AsyncClient] = {}

    async def __aenter__(self) -> "Sender":
        return self

    async def __aexit__(self, *_exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        clients, self.clients = self.clients, {}
        await asyncio.gather(*(client.aclose() for client in clients.values()))

    def _client(self, host: str) -> httpx.AsyncClient:
        if host not in self.clients:
            timeout = httpx.Timeout(self.settings.webhook_timeout_seconds, connect=self.settings.webhook_connect_timeout_seconds)
            self.clients[host] = httpx.AsyncClient(
                follow_redirects=False, trust_env=False, timeout=timeout,
                limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            )
        return self.clients[host]

    async def send(self, url: str, *, secret: str, message_id: str, body: bytes, now: datetime) -> Result:
        started = time.perf_counter()
        status_code, error = None, None
        try:
            async with asyncio.timeout(self.settings.webhook_timeout_seconds):
                status_code = await self._post(url, secret=secret, message_id=message_id, body=body, now=now)
        except RefusedTarget as refusal:
            error = f"refused: the URL {refusal}"
        except TimeoutError:
            error = f"timed out after {self.settings.webhook_timeout_seconds:g} s"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        except OSError as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        if status_code is not None and 300 <= status_code < 400:
            error = f"redirect ({status_code}) not followed"
        return Result(status_code, error, round((time.perf_counter() - started) * 1000))

    async def _post(self, url: str, *, secret: str, message_id: str, body: bytes, now: datetime) -> int:
        allow_private = self.settings.webhooks_allow_private_targets
        target = parse_target(url, allow_private=allow_private)
        address = await resolve_checked(target, self.resolver, allow_private=allow_private)
        host = f"[{address}]" if address.version == 6 else str(address)
        named = target.host if ":" not in target.host else f"[{target.host}]"
        default_port = {"https": 443, "http": 80}[target.scheme]
        headers = {
            "Host": named if target.port == default_port else f"{named}:{target.port}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signing.headers(secret, message_id=message_id, timestamp=int(now.timestamp()), body=body),
        }
        # The certificate is verified for the name: httpcore sends it as the TLS server name.
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request_url = f"{target.scheme}://{host}:{target.port}{target.path}"
        client = self._client(target.host)
        async with client.stream("POST", request_url, content=body, headers=headers, extensions=extensions) as response:
            await read_capped(response, self.settings.webhook_max_response_bytes)
            return response.status_code


async def read_capped(response: httpx.Response, cap: int) -> int:
    """Reads the body up to `cap` bytes and stops there (closing the connection): a
    receiver cannot make the deliverer read, or wait for, an endless answer. How many."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read >= cap:
            break
    return read
