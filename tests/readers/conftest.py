from tests.mail_fixtures import limiter_prefix, smtp  # noqa: F401  (fixtures)
from tests.reader_fixtures import app  # noqa: F401  (fixture)
