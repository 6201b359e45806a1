"""JSON bodies serialized once, by orjson, for the read routes that build plain values.

FastAPI validates a returned value against the route's response model and then serializes
it: two passes over every card, a fifth of the CPU of a feed page (issue 9 profile). The
read routes build their values from our own rows through one mapping (`app.articles.cards`),
whose output the tests compare with the documented schemas, so they skip both passes.
The response model still documents the route. orjson writes UTC datetimes as `…Z` and
drops zero microseconds, exactly as pydantic does.
"""

from typing import Any

import orjson
from fastapi import Response

MEDIA_TYPE = "application/json"
# What the route's own `Response` parameter holds that the returned response must carry.
OWN_HEADERS = frozenset({b"content-length", b"content-type"})


def json_response(headers_from: Response, content: Any) -> Response:
    """`content` as JSON with the headers dependencies set on `headers_from` (a returned
    response does not pick them up by itself)."""
    return json_bytes_response(headers_from, orjson.dumps(content, option=orjson.OPT_UTC_Z))


def json_bytes_response(headers_from: Response, body: bytes) -> Response:
    """A JSON body already written, with the headers dependencies set on `headers_from`."""
    response = Response(body, media_type=MEDIA_TYPE)
    response.raw_headers.extend(item for item in headers_from.raw_headers if item[0] not in OWN_HEADERS)
    return response
