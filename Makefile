# One command runs the app (make run), one runs the tests (make test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Test processes for `make test` (pytest-xdist): one per core by default; TEST_JOBS=0 runs
# the suite in this process only.
TEST_JOBS ?= auto
export HOST PORT

.PHONY: run dev test test-fast lint lint-container lock-check lock upgrade migrations-check typecheck messages compilemessages translations-check fmt bench bench-prod serve-prod worker check-deploy clean

run: $(VENV)/.installed .env  ## Run the gallery with its workers (and, offline, the stand-in)
	$(BIN)/python manage.py up

dev: $(VENV)/.installed .env  ## The same with DEBUG on and auto-reload
	$(BIN)/python manage.py up --dev

test: $(VENV)/.installed-scan  ## Run the whole test suite (browser tests need Debian's chromium)
	$(BIN)/python -m pytest -n $(TEST_JOBS) $(PYTEST_ARGS)

test-fast: $(VENV)/.installed-dev  ## The unit and web tests only: no real processes, no browser
	$(BIN)/python -m pytest -m "not system and not browser" $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev migrations-check typecheck lock-check lint-container translations-check  ## ruff, migrations, mypy, lock, container, catalogs
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# The lock is in step with pyproject.toml (a dependency added without `make lock` fails here).
lock-check: $(VENV)/.installed-dev
	scripts/lock --check

# hadolint on the Dockerfile; compose.yaml against the Compose specification's JSON schema
# (the copy check-jsonschema ships: nothing is downloaded).
lint-container: $(VENV)/.installed-dev
	$(BIN)/hadolint Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml

# Relock after editing pyproject.toml (or merging a branch that did): only what changed moves.
lock: $(VENV)/.installed-dev
	scripts/lock

# The weekly refresh: every package to its newest release that pyproject.toml allows.
upgrade: $(VENV)/.installed-dev
	scripts/lock --upgrade

# No model change without its migration.
migrations-check: $(VENV)/.installed-dev
	GALLERY_ENV_FILE= SECRET_KEY=lint-only-$$($(BIN)/python -c 'print("x" * 40)') \
	$(BIN)/python manage.py makemigrations --check --dry-run

# Translations (GNU gettext's xgettext/msgmerge, Debian package `gettext`). After changing or
# merging user-facing strings: make messages, translate the new entries in locale/*/, then
# make compilemessages (the .mo files are committed: a fresh machine needs no gettext).
MESSAGES_IGNORE := --ignore=.venv --ignore=tests --ignore=bench --ignore=staticfiles \
	--ignore=data --ignore=docs --ignore=build
messages: $(VENV)/.installed
	GALLERY_ENV_FILE= SECRET_KEY=lint-only-$$($(BIN)/python -c 'print("x" * 40)') \
	$(BIN)/python manage.py makemessages --all --no-location --no-obsolete $(MESSAGES_IGNORE)
	GALLERY_ENV_FILE= SECRET_KEY=lint-only-$$($(BIN)/python -c 'print("x" * 40)') \
	$(BIN)/python manage.py makemessages --all --domain djangojs --no-location --no-obsolete \
	$(MESSAGES_IGNORE) --ignore=static/gallery/vendor
compilemessages: $(VENV)/.installed
	GALLERY_ENV_FILE= SECRET_KEY=lint-only-$$($(BIN)/python -c 'print("x" * 40)') \
	$(BIN)/python manage.py compilemessages --ignore=.venv

# Every string translated in French and German, nothing fuzzy, catalogs up to date.
translations-check: $(VENV)/.installed-dev
	GALLERY_ENV_FILE= $(BIN)/python scripts/check_translations.py

# Type checking of where the rules live (settings in pyproject.toml).
typecheck: $(VENV)/.installed-dev
	GALLERY_ENV_FILE= $(BIN)/mypy gallery/services accounts core

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/ingest.py

# Fault, load and memory evidence for production (minutes; see docs/PERFORMANCE.md).
bench-prod: $(VENV)/.installed-dev
	$(BIN)/python bench/faults.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/memory.py

# Production web server: migrate, collect static files, then uvicorn serving the ASGI app
# (config/server.py: one process per CPU, at most 8). Settings from the environment or .env;
# run the workers beside it (make worker, or systemd units as in docs/deploy.md).
serve-prod: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python -m config.server

# One generation worker for the configured queue (database or rq).
worker: $(VENV)/.installed
	@if [ "$${GALLERY_TASK_BACKEND:-database}" = rq ]; then \
		exec $(BIN)/python manage.py gallery_rqworker; \
	else exec $(BIN)/python manage.py gallery_worker --no-reload; fi

# Production settings must pass Django's deployment checklist.
check-deploy: $(VENV)/.installed
	GALLERY_ENV_FILE= DEBUG=false GALLERY_HTTPS=true ALLOWED_HOSTS=gallery.example.org \
	GALLERY_LOG_FORMAT=json \
	SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

# Installs come from the lock (scripts/lock): pip checks every file's hash. The project
# itself is not a package (pyproject.toml lists no packages), so there is nothing more to
# install. `make run` gets the app alone; the test tools come with make test / lint.
$(VENV)/.installed: requirements/run.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/run.txt
	@touch $@

# The test tools, the production extras (PostgreSQL, Redis, S3, ...) and the lock's own tools.
$(VENV)/.installed-dev: $(VENV)/.installed requirements/dev.txt
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/dev.txt
	@touch $@

# The optional image scan (NudeNet and onnxruntime, ~320 MB): the tests run the real model;
# `make run` does not install it (install it with
# `.venv/bin/pip install --require-hashes --no-deps -r requirements/scan.txt`).
$(VENV)/.installed-scan: $(VENV)/.installed-dev requirements/scan.txt
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/scan.txt
	@touch $@

# A random secret key for this installation, written once and never committed.
.env:
	@$(PYTHON) -c 'import secrets; print("SECRET_KEY=" + secrets.token_urlsafe(50))' > .env
	@echo "Wrote .env with a new SECRET_KEY"

clean:
	rm -rf $(VENV) staticfiles
