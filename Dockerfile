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
# No proxy headers: uvicorn would otherwise rewrite the client address from X-Forwarded-For
# (trusting any peer under FORWARDED_ALLOW_IPS=*, and taking a hop the client chose). The
# app reads X-Forwarded-For itself, from TRUSTED_PROXIES only (app/clients.py).
CMD ["uvicorn", "app.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", \
     "--workers", "4", "--loop", "uvloop", "--http", "app.serving:BoundedTargetHttpToolsProtocol", "--no-proxy-headers"]
