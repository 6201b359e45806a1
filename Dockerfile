FROM python:3.11-slim

WORKDIR /srv/tickerfeed
RUN pip install --no-cache-dir uv==0.13.9

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY alembic.ini ./
COPY alembic ./alembic
COPY app ./app
RUN uv sync --frozen --no-dev

# Said, not assumed: production refuses to start without its own SECRET_KEY.
ENV PATH="/srv/tickerfeed/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    ENVIRONMENT=production
EXPOSE 8000
# `tickerfeed serve`: migrations, then uvicorn with what the CLI sets up around it (a
# draining shutdown on SIGTERM, metrics counted across workers, the bounded request target,
# no proxy headers: the app reads X-Forwarded-For itself, from TRUSTED_PROXIES only,
# app/clients.py). Give the container a stop grace above SHUTDOWN_DRAIN_SECONDS plus
# SHUTDOWN_GRACE_SECONDS (30 s for the defaults).
CMD ["tickerfeed", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
