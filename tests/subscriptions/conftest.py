from tests.mail_fixtures import app, limiter_prefix, smtp  # noqa: F401  (fixtures)
