"""Fuzzing in CI (issue 11, item 4): schemathesis (pinned in the `fuzz` group) runs every
check on every operation of docs/openapi.json, with an admin key, against a live server on
a PostgreSQL database of this run's own (`tickerfeed_fuzz_<random>`, dropped afterwards).
`make fuzz` runs it; any failure fails it.

    python tools/fuzz.py [extra `st run` options]

Requests carry an admin key, a fresh one every few seconds (tools/fuzz_hooks.py: the
fuzzer revokes keys too). FUZZ_DATABASE_URL names the PostgreSQL server;
FUZZ_MAX_EXAMPLES (cases per operation and phase) and FUZZ_MAX_SECONDS (the wall-clock
budget of the whole run) bound it. Settings in tools/schemathesis.toml.
"""

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from live_server import BIN, environment, postgresql_database, serving

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
CONFIG = ROOT / "tools" / "schemathesis.toml"
DATABASE = os.environ.get("FUZZ_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/tickerfeed_fuzz")
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "25")
MAX_SECONDS = os.environ.get("FUZZ_MAX_SECONDS", "210")
# High enough that the fuzzer is never throttled: a 429 would hide what it sent.
UNTHROTTLED = "1000000/minute"


def main(extra: list[str]) -> int:
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="tickerfeed-fuzz-"))
    try:
        with postgresql_database(DATABASE, "tickerfeed_fuzz") as database_url:
            settings = {
                "ENVIRONMENT": "test",
                "SECRET_KEY": secrets.token_urlsafe(32),
                "DATABASE_URL": database_url,
                "LOAD_DEMO_CONTENT": "true",
                # No mail leaves, and none waits on a catcher that is not there.
                "SEND_MAIL_ON_REQUEST": "false",
                "RATE_LIMIT_SUBSCRIBE_PER_CLIENT": UNTHROTTLED,
                "RATE_LIMIT_SUBSCRIBE_PER_EMAIL": UNTHROTTLED,
                "RATE_LIMIT_CONFIRM_PER_CLIENT": UNTHROTTLED,
                "RATE_LIMIT_SEARCH_PER_CLIENT": UNTHROTTLED,
            }
            with serving(workdir, settings) as url:
                command = [
                    str(BIN / "st"), "--config-file", str(CONFIG), "run", str(DOCUMENT), "--url", url,
                    "--checks", "all", "--max-examples", MAX_EXAMPLES, "--max-time", MAX_SECONDS,
                    *extra,
                ]
                # The hooks mint admin keys in the server's database, with its settings. From
                # the temporary folder: schemathesis writes its example database there.
                hooks = {"SCHEMATHESIS_HOOKS": "fuzz_hooks", "PYTHONPATH": str(ROOT / "tools")}
                returncode = subprocess.run(command, cwd=workdir, env=environment(settings | hooks)).returncode
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"make fuzz took {time.monotonic() - started:.0f} s")
    return returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
