import os

# Migrations read their settings from the environment (alembic/env.py), and they need no
# secret; the app under test gets its own settings and secret (conftest.py). Without a
# SECRET_KEY, settings are valid only where ENVIRONMENT=development is explicit.
os.environ.setdefault("ENVIRONMENT", "development")
