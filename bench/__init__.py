import os

# The harness runs locally: its in-process migrations read settings from the environment,
# which accept the built-in secret only in development. The servers it starts get their
# own secret and ENVIRONMENT=test (runner.app_env).
os.environ.setdefault("ENVIRONMENT", "development")
