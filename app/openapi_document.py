"""The committed OpenAPI document, `docs/openapi.json`, for generators, linters and the
compatibility check to read without running the server. `make openapi` rewrites it and
`tests/test_openapi_document.py` fails while it differs from what the app serves.

    python -m app.openapi_document          # rewrite docs/openapi.json
    python -m app.openapi_document --check  # exit 1 if it is out of date
"""

import json
import sys
from pathlib import Path

from app.main import create_app
from app.openapi import build_openapi
from app.settings import Settings

DOCUMENT_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
# Only the path of PUBLIC_API_URL reaches the document (its server); the default has none.
DEFAULT_PUBLIC_API_URL = "http://localhost:8000"


def current_document() -> str:
    """The document as the app serves it with the default settings, as committed text."""
    settings = Settings(environment="development", public_api_url=DEFAULT_PUBLIC_API_URL, _env_file=None)  # type: ignore[call-arg]
    document = build_openapi(create_app(settings), public_api_url=DEFAULT_PUBLIC_API_URL)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = current_document()
    if "--check" in argv:
        if not DOCUMENT_PATH.exists() or DOCUMENT_PATH.read_text(encoding="utf-8") != text:
            print(f"{DOCUMENT_PATH.name} is out of date: run `make openapi`.", file=sys.stderr)
            return 1
        return 0
    DOCUMENT_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {DOCUMENT_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
