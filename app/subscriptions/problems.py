"""Token problems: each says plainly what went wrong and what to do next."""

from http import HTTPStatus

from app.problems import Problem


class InvalidToken(Problem):
    kind = "invalid-token"


class ExpiredToken(Problem):
    status = HTTPStatus.GONE
    kind = "expired-token"


class UsedToken(Problem):
    status = HTTPStatus.CONFLICT
    kind = "used-token"
