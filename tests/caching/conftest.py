from tests.mail_fixtures import smtp  # noqa: F401  (fixtures)
from tests.test_shared_cache import article, cache_settings, cached, cached_app  # noqa: F401  (fixtures)
