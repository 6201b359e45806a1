"""schemathesis hooks for `make fuzz` (tools/fuzz.py loads them through SCHEMATHESIS_HOOKS).

Every request carries an admin key. The fuzzer calls `DELETE /v1/api-keys/{key_id}` too,
and once it revokes the key it is using, every later request would be a 401 and test
nothing: so the key is a fresh one every few seconds, minted in the run's database as
`tickerfeed keys create` does (the database and secret come from the environment).
"""

from typing import Any

import schemathesis

from app.api_keys import service
from app.api_keys.scopes import Scope
from app.cli import in_transaction

REFRESH_SECONDS = 5


@schemathesis.auth(refresh_interval=REFRESH_SECONDS, retry_on=[])
class FreshAdminKey:
    def get(self, case: Any, context: Any) -> str:
        async def mint(session: Any) -> str:
            _, plaintext = await service.create_key(session, name="fuzz", scopes=[Scope.ADMIN])
            return plaintext

        return in_transaction(mint)

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
