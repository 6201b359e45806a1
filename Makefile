# Two commands do all set-up: `make run` serves the API with demo content on SQLite,
# `make test` runs the whole suite on SQLite and on PostgreSQL.
UV_VERSION := 0.13.9
UV := .tools/bin/uv
# The suite creates a database named after this one plus a random suffix, and drops it.
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/tickerfeed_test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run mail test test-sqlite test-postgresql

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(UV)
	$(UV) sync --frozen --quiet

# The local start, with the built-in development secret: settings refuse it unless
# ENVIRONMENT=development is said, and an unset ENVIRONMENT means production. A local
# `.env` says it once for `make run` and every `tickerfeed` command run here.
.env:
	echo "ENVIRONMENT=development" > .env

run: install .env
	$(UV) run --frozen tickerfeed serve --host $(HOST) --port $(PORT)

# The local mail catcher (prints every mail) on SMTP_HOST:SMTP_PORT, 127.0.0.1:1025 by default.
mail: install .env
	$(UV) run --frozen tickerfeed mail-catcher

# Both databases at once: each suite is one process, and there are two cores (about 11
# minutes instead of 18). Each suite's output is printed whole when it ends.
test: install
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgresql

test-sqlite: install
	TEST_DATABASE_URL=sqlite $(UV) run --frozen pytest

test-postgresql: install
	TEST_DATABASE_URL=$(PG_TEST_URL) $(UV) run --frozen pytest

# Fault tests (issue 13, tests/faults/): each starts its own PostgreSQL (initdb on a free
# port; FAULTS_PG_BIN, default /usr/lib/postgresql/15/bin) and redis-server, never the
# shared ones, then kills a worker, restarts PostgreSQL or stops Redis under load and
# prints what clients saw (lines starting FAULT). About 3 minutes; CI runs them all.
.PHONY: faults
faults: install
	$(UV) run --frozen pytest -m faults tests/faults -s -q

# The soak (issue 13, tests/faults/test_soak.py): one API worker offered twice the capacity it
# measures first, for SOAK_SECONDS (600); prints RSS and p50/p99 per minute. About 11 minutes,
# on a quiet machine; not in CI.
.PHONY: soak
soak: install
	$(UV) run --frozen pytest -m soak tests/faults -s -q

# Benchmarks (issue 5): `make bench` (10k on PostgreSQL), `make bench SIZE=1m`. See bench/README.md.
SIZE ?= 10k
.PHONY: bench
bench: install
	$(UV) sync --frozen --quiet --group bench
	$(UV) run --frozen --group bench python -m bench run --size $(SIZE)

# The committed OpenAPI document (issue 11): `make openapi` rewrites docs/openapi.json from
# the app; `make lint-openapi` checks it is current and lints it with openapi-spec-validator,
# Redocly (`recommended`, warnings as errors) and Spectral (`spectral:oas`, warnings fail).
# The Node tools are pinned in tools/package-lock.json.
OPENAPI_DOCUMENT := docs/openapi.json
NODE_TOOLS := tools/node_modules/.bin
.PHONY: openapi lint-openapi

openapi: install
	$(UV) run --frozen python -m app.openapi_document

tools/node_modules/.installed: tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint-openapi: install tools/node_modules/.installed
	$(UV) run --frozen python -m app.openapi_document --check
	$(UV) run --frozen openapi-spec-validator $(OPENAPI_DOCUMENT)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
		$(NODE_TOOLS)/redocly lint --config tools/redocly.yaml $(OPENAPI_DOCUMENT)
	$(NODE_TOOLS)/spectral lint --fail-severity=warn --ruleset tools/.spectral.yaml $(OPENAPI_DOCUMENT)

# The compatibility guard (issue 11): `make check-compatibility` fails on a breaking change
# of docs/openapi.json against docs/openapi-release.json, the spec of the last release,
# unless info.version's major number was bumped (tools/check_compatibility.py says which
# changes break). `make release-spec` makes the current spec the release baseline: run it
# on a release and commit the file.
RELEASE_DOCUMENT := docs/openapi-release.json
.PHONY: check-compatibility release-spec
check-compatibility: install
	$(UV) run --frozen python tools/check_compatibility.py $(RELEASE_DOCUMENT) $(OPENAPI_DOCUMENT)

release-spec: openapi
	cp $(OPENAPI_DOCUMENT) $(RELEASE_DOCUMENT)

# TypeScript types generated from docs/openapi.json (openapi-typescript, with typescript
# pinned in tools/package-lock.json) into a temporary folder, and a reader's code,
# tools/typescript/usage.ts, type-checked against them with `tsc --noEmit --strict`.
.PHONY: check-types
check-types: tools/node_modules/.installed
	dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	$(NODE_TOOLS)/openapi-typescript $(OPENAPI_DOCUMENT) --output "$$dir/api.d.ts" && \
	cp tools/typescript/usage.ts "$$dir/" && \
	$(NODE_TOOLS)/tsc --noEmit --strict --target es2022 --module esnext \
		--moduleResolution bundler --lib es2022,dom "$$dir/usage.ts"

# A Python client generated from docs/openapi.json (openapi-python-client, pinned in the
# `clients` group), called with its anonymous `Client` against a live server on a free port
# with the demo content on SQLite (feed, cursor, ticker filter, detail, a 404 problem), then
# with its `AuthenticatedClient` and an admin key (create an article, subscribe).
.PHONY: check-client
check-client: install
	$(UV) sync --frozen --quiet --group clients
	$(UV) run --frozen --group clients python tools/check_python_client.py

# schemathesis (pinned in the `fuzz` group) over docs/openapi.json: every check, every
# operation, with an admin key, against a live server on a PostgreSQL database of its own
# (the server and name prefix in FUZZ_DATABASE_URL), dropped afterwards. A wall-clock budget
# of FUZZ_MAX_SECONDS (210) and FUZZ_MAX_EXAMPLES (25) cases per operation and phase: about
# 4 minutes. Settings and the reason for each narrowed check: tools/schemathesis.toml.
.PHONY: fuzz
fuzz: install
	$(UV) sync --frozen --quiet --group fuzz
	$(UV) run --frozen --group fuzz python tools/fuzz.py
