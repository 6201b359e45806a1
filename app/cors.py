"""CORS with refusals in the API's one error shape."""

import json

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from app.problems import PROBLEM_MEDIA_TYPE, problem_body


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette refuses a preflight with a `text/plain` 400; say the same as a problem document."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        detail = bytes(response.body).decode() + " (see the API's CORS_ORIGINS setting)."
        # Built from the preflight's headers alone; the request id is on the response header.
        body = problem_body(400, detail, kind="cors-refused", request_id=None)
        headers = {k: v for k, v in response.headers.items() if k not in {"content-length", "content-type"}}
        headers["Cache-Control"] = "no-store"
        return Response(json.dumps(body), status_code=400, headers=headers, media_type=PROBLEM_MEDIA_TYPE)
