"""uvicorn's httptools protocol with a bound on the request target.

uvicorn parses the target with http-parser's `http_parser_parse_url`, whose offsets are
16-bit: past 64 KiB it fails and uvicorn answers a plain-text 400 before the app sees the
request (issue 11). Here a target longer than `MAX_REQUEST_TARGET_BYTES` is kept no further
(so its size costs no memory), handed to the app as the stand-in path `/` and marked, and
`RequestLimitsMiddleware` answers the 414 problem document with the usual headers.

Run with `tickerfeed serve`, or `uvicorn --http app.serving:BoundedTargetHttpToolsProtocol`.
"""

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Below http-parser's 65,535, and far above any target the API answers (paths are at most
# MAX_PATH_BYTES, query strings MAX_QUERY_STRING_BYTES, both settings of a few KiB at most).
MAX_REQUEST_TARGET_BYTES = 60_000
# A key of the ASGI scope: set when the target was longer than the protocol keeps.
TARGET_TOO_LONG = "tickerfeed.target_too_long"
STAND_IN_TARGET = b"/"


class BoundedTargetHttpToolsProtocol(HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.target_too_long = False

    def on_url(self, url: bytes) -> None:
        # The parser may hand the target over in pieces, as the bytes arrive.
        if self.target_too_long:
            return
        if len(self.url) + len(url) > MAX_REQUEST_TARGET_BYTES:
            self.target_too_long = True
            self.url = b""
            return
        self.url += url

    def on_headers_complete(self) -> None:
        if self.target_too_long:
            self.url = STAND_IN_TARGET
            self.scope[TARGET_TOO_LONG] = True  # type: ignore[literal-required]
        super().on_headers_complete()
