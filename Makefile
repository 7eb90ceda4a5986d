# WiFi License Manager — the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
PG_URL ?= postgres://postgres@127.0.0.1:5432/postgres
# `make run` serves a local HTTP site: no HTTPS-only cookies there.
RUN_ENV := SECURE_SSL=0
# The metrics' multiprocess folder (docs/operations.md): the server's workers and the
# notifier write their counters there and GET /metrics adds them up; emptied at each start.
METRICS_DIR := $(CURDIR)/data/metrics
# Debian's Chromium: the browser tests drive it with Playwright (a browser download fails
# on this network, so Playwright's own browsers are never installed).
CHROMIUM ?= /usr/bin/chromium
# Debian's wrk: the load generator of `make bench`.
WRK ?= /usr/bin/wrk
# Debian's FreeRADIUS 3.2 (the server, its rest module, radclient): `make radius` and the
# RADIUS tests run it with deploy/freeradius/ (docs/radius.md).
FREERADIUS ?= /usr/sbin/freeradius
RADIUS_PACKAGES := $(FREERADIUS) /usr/lib/freeradius/rlm_rest.so /usr/bin/radclient
RADIUS_AUTH_PORT ?= 1812
RADIUS_ACCT_PORT ?= 1813
RADIUS_LISTEN ?= 127.0.0.1
# The shared secret of `make radius` only: a development default, never a production one.
RADIUS_SECRET ?= wlm-dev-secret
API_URL ?= http://$(HOST):$(PORT)
# Debian's zbar-tools (a real QR decoder) and poppler-utils (a PDF rasteriser): the
# certificate's QR code is decoded from a rendered page in the tests, and
# `manage.py verify_license PDF` reads it the same way (docs/licenses-offline.md).
QR_TOOLS := /usr/bin/zbarimg /usr/bin/pdftoppm
# GNU gettext from Debian: msgfmt compiles the Spanish catalogue (locale/, docs/i18n.md)
# for `make run` and `make test`.
MSGFMT := /usr/bin/msgfmt
# Debian's rlm_sql driver for PostgreSQL: the rlm_sql reference of `make bench BENCH=radius`.
RLM_SQL_POSTGRESQL := /usr/lib/freeradius/rlm_sql_postgresql.so
# Debian's PgBouncer: the PostgreSQL tests start it in transaction mode in front of
# PostgreSQL (wlm/tests/test_pgbouncer.py, test_nodes.py; docs/operations.md, "PgBouncer").
PGBOUNCER := /usr/sbin/pgbouncer
# iproute2's ip: the several-nodes test puts each node in a network namespace of its own
# (wlm/tests/test_nodes.py; docs/operations.md, "Several nodes").
IPROUTE := /sbin/ip
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# waits for another apt-get's lock (two installs at once: make -j, a second make) instead
# of failing
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o DPkg::Lock::Timeout=600
# The production server and its options (`make run`; `make bench` measures the same).
SERVE := $(BIN)/granian --interface wsgi --host $(HOST) --workers $(WORKERS) \
	--blocking-threads 1 --no-ws

.PHONY: messages catalogue run serve install install-dev test lint test-sqlite test-postgres check-postgres bench \
	screenshots lock fmt clean radius

$(VENV)/.installed-run: requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	@touch $@

$(VENV)/.installed-dev: requirements-dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.lock
	@touch $@ $(VENV)/.installed-run

$(CHROMIUM):
	@echo "Installing Debian's chromium package for the browser tests"
	$(APT_INSTALL) chromium || { $(SUDO) apt-get update -q && $(APT_INSTALL) chromium; }

$(WRK):
	@echo "Installing Debian's wrk package for the benchmarks"
	$(APT_INSTALL) wrk || { $(SUDO) apt-get update -q && $(APT_INSTALL) wrk; }

$(RADIUS_PACKAGES) &:
	@echo "Installing Debian's FreeRADIUS packages for make radius and the RADIUS tests"
	$(APT_INSTALL) freeradius freeradius-rest freeradius-utils || \
		{ $(SUDO) apt-get update -q && $(APT_INSTALL) freeradius freeradius-rest freeradius-utils; }

$(QR_TOOLS) &:
	@echo "Installing Debian's zbar-tools and poppler-utils for the certificate's QR tests"
	$(APT_INSTALL) zbar-tools poppler-utils || \
		{ $(SUDO) apt-get update -q && $(APT_INSTALL) zbar-tools poppler-utils; }

$(PGBOUNCER):
	@echo "Installing Debian's pgbouncer for the PgBouncer tests"
	$(APT_INSTALL) pgbouncer || { $(SUDO) apt-get update -q && $(APT_INSTALL) pgbouncer; }
	@# the tests start their own on a free port: the packaged service is not needed
	@{ $(SUDO) systemctl disable --now pgbouncer || $(SUDO) service pgbouncer stop; } >/dev/null 2>&1 || true

$(IPROUTE):
	@echo "Installing Debian's iproute2 for the several-nodes test"
	$(APT_INSTALL) iproute2 || { $(SUDO) apt-get update -q && $(APT_INSTALL) iproute2; }

$(MSGFMT):
	@echo "Installing Debian's gettext for the translation catalogues"
	$(APT_INSTALL) gettext || { $(SUDO) apt-get update -q && $(APT_INSTALL) gettext; }

## messages: compile the translation catalogues (locale/*/LC_MESSAGES/django.po → .mo)
messages: install $(MSGFMT)
	$(PY) manage.py compilemessages --ignore=.venv --ignore=data --verbosity 0

## catalogue: extract the marked strings into locale/es/LC_MESSAGES/django.po (docs/i18n.md)
catalogue: install-dev $(MSGFMT)
	$(PY) manage.py makemessages -l es --no-location --ignore=.venv --ignore=data --ignore=bench \
		--ignore=scripts --ignore=deploy --ignore=docs --ignore=static

$(RLM_SQL_POSTGRESQL):
	@echo "Installing Debian's freeradius-postgresql for the RADIUS benchmark"
	$(APT_INSTALL) freeradius-postgresql || \
		{ $(SUDO) apt-get update -q && $(APT_INSTALL) freeradius-postgresql; }

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

## run: install, migrate, load the demo data the first time, serve on http://127.0.0.1:8000
## and run the notifier beside the server
run: install messages
	@mkdir -p data
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py collectstatic --noinput --verbosity 0
	@if [ ! -f data/.demo-seeded ]; then \
		$(RUN_ENV) $(PY) manage.py seed_demo && touch data/.demo-seeded; \
	else \
		$(RUN_ENV) $(PY) manage.py seed_demo --logins-only; \
	fi
	@echo "Serving http://$(HOST):$(PORT)/  (API docs: http://$(HOST):$(PORT)/api/v1/docs/)"
	@echo "The notifier (expiry notices, cut-offs, deliveries) runs beside it; Ctrl-C stops both."
	@echo "Probes: /healthz, /readyz; Prometheus: /metrics (from this machine)."
	@rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)
	@# Ctrl-C reaches both (one process group); the trap stops the notifier also when
	@# the server ends otherwise (e.g. the port is taken).
	$(RUN_ENV) PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR) $(PY) manage.py notifier & NOTIFIER=$$!; \
	trap 'kill $$NOTIFIER 2>/dev/null' EXIT; \
	$(RUN_ENV) PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR) $(SERVE) --port $(PORT) wlm.wsgi:application

## test: lint, migrations check, the whole suite (browser tests included) on SQLite and on
## PostgreSQL, the two passes side by side (one per core); each prints its output when it
## ends, and make fails if either does
test: install-dev $(CHROMIUM) $(RADIUS_PACKAGES) $(QR_TOOLS) $(MSGFMT) $(PGBOUNCER) $(IPROUTE) \
	lint check-postgres messages
	@echo "=== the suite on SQLite and on PostgreSQL, in parallel (output at the end of each) ==="
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

test-sqlite: install-dev messages $(CHROMIUM) $(RADIUS_PACKAGES) $(QR_TOOLS)
	@echo "=== test suite on SQLite ==="
	DATABASE_URL=sqlite:///$(CURDIR)/data/test.sqlite3 $(BIN)/pytest $(PYTEST_ARGS)

check-postgres: install-dev
	@DATABASE_URL="$${DATABASE_URL:-$(PG_URL)}" $(PY) scripts/check_postgres.py

test-postgres: check-postgres messages $(CHROMIUM) $(RADIUS_PACKAGES) $(QR_TOOLS) $(PGBOUNCER) \
	$(IPROUTE)
	@echo "=== test suite on PostgreSQL ==="
	DATABASE_URL="$${DATABASE_URL:-$(PG_URL)}" $(BIN)/pytest $(PYTEST_ARGS)

## radius: FreeRADIUS in the foreground beside `make run` (docs/radius.md): the configuration
## of deploy/freeradius/ copied to data/radius/raddb/, ports RADIUS_AUTH_PORT/RADIUS_ACCT_PORT
## (1812/1813) on RADIUS_LISTEN (127.0.0.1; `*` for every address), shared secret
## RADIUS_SECRET (development default wlm-dev-secret) and per-NAS clients from
## RADIUS_CLIENTS_FILE, calling API_URL with RADIUS_API_TOKEN (default: the demo gateway's
## token: a new one from `manage.py create_token gateway`)
radius: install $(RADIUS_PACKAGES)
	@# FreeRADIUS refuses a configuration that others may write: a private copy, rebuilt
	@# each time so that edits in deploy/freeradius/ are picked up.
	@rm -rf data/radius/raddb && mkdir -p data/radius && chmod 700 data/radius
	@cp -R deploy/freeradius data/radius/raddb
	@# Per-NAS clients (docs/radius.md): the file named by RADIUS_CLIENTS_FILE, if any.
	@if [ -n "$$RADIUS_CLIENTS_FILE" ]; then \
		cp "$$RADIUS_CLIENTS_FILE" data/radius/raddb/clients.d/nas.conf; fi
	@chmod -R u=rwX,go= data/radius/raddb
	@TOKEN="$${RADIUS_API_TOKEN:-$$($(RUN_ENV) $(PY) manage.py create_token gateway \
		--name 'make radius' 2>/dev/null)}"; \
	if [ -z "$$TOKEN" ]; then \
		echo "No RADIUS_API_TOKEN and no demo gateway user: run make run once first" >&2; \
		exit 1; \
	fi; \
	echo "FreeRADIUS: auth $(RADIUS_LISTEN):$(RADIUS_AUTH_PORT), acct" \
		"$(RADIUS_LISTEN):$(RADIUS_ACCT_PORT), calling $(API_URL); Ctrl-C stops it"; \
	exec env RADIUS_AUTH_PORT=$(RADIUS_AUTH_PORT) RADIUS_ACCT_PORT=$(RADIUS_ACCT_PORT) \
		RADIUS_LISTEN='$(RADIUS_LISTEN)' RADIUS_SECRET='$(RADIUS_SECRET)' \
		API_URL='$(API_URL)' RADIUS_API_TOKEN="$$TOKEN" \
		$(FREERADIUS) -f -l stdout -d data/radius/raddb

## bench: the benchmarks beside their ceilings (bench/run.py); BENCH=entitlement for one,
## BENCH_ARGS=--profile to see where the time goes. Writes bench/results/.
bench: install-dev check-postgres $(WRK) $(RADIUS_PACKAGES) $(RLM_SQL_POSTGRESQL)
	SERVE="$(SERVE)" PG_URL="$(PG_URL)" $(PY) bench/run.py $(BENCH) $(BENCH_ARGS)

## screenshots: the pages of docs/screenshots/ (README; in Spanish: es/), taken by the browser tests
screenshots: install-dev $(CHROMIUM)
	WLM_SCREENSHOTS=$(CURDIR)/docs/screenshots DATABASE_URL=sqlite:///$(CURDIR)/data/test.sqlite3 \
		$(BIN)/pytest -q wlm/tests/browser/test_screenshots.py \
		wlm/tests/browser/test_spanish.py::test_the_story_in_spanish

## lock: re-resolve the pinned dependency tree from pyproject.toml
lock:
	$(PYTHON) scripts/lock.py

fmt: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) data/static data/test.sqlite3
