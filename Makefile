# make run: set everything up and start portal + worker + beat with a demo.
# make test: set everything up and run the whole suite.
# make test-rabbitmq: the tests of workers, beat and the broker again, with RabbitMQ as Celery's broker.
# Services: DATABASE_URL / REDIS_URL when set, else the local ones, else embedded ones under .run/.

VENV := .venv
PY := $(VENV)/bin/python
# The assignment carries services.py's exit status (a bare eval "$(…)" would carry on after it failed).
SERVICES := services="$$($(PY) scripts/services.py)" && eval "$$services"

.PHONY: setup run test test-rabbitmq lint bench bench-tenants bench-events bench-pos bench-polling bench-journal bench-portals bench-card-scan bench-pharmacy bench-soak bench-reconcile browser-deps screenshots stop-embedded clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

# Debian's chromium for the browser tests, and GNU gettext for the tests that re-extract the catalog.
browser-deps:
	@command -v chromium >/dev/null 2>&1 && command -v msgmerge >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium gettext >/dev/null)

run: setup
	@$(SERVICES) && $(PY) scripts/run.py

test: setup browser-deps
	@$(VENV)/bin/lint-imports --no-logo
	@$(SERVICES) && $(PY) -m pytest

# The tests that run a real Celery worker or beat, or speak to the broker (ADR 0047); RABBITMQ_URL picks the RabbitMQ.
RABBITMQ_URL ?= amqp://guest:guest@127.0.0.1:5672//
BROKER_TESTS := tests/qiiub/test_broker.py tests/qiiub/test_health.py tests/qiiub/test_celery_configuration.py \
	tests/integrations/test_events_worker.py tests/integrations/test_sync_worker.py tests/partners/test_bulk_worker.py \
	tests/payments/test_payments_worker.py tests/browser/test_partner_bulk_enable.py tests/browser/test_failed_deliveries.py \
	tests/observability tests/metrics/test_metrics_values.py

test-rabbitmq: setup browser-deps
	@$(SERVICES) && CELERY_BROKER_URL='$(RABBITMQ_URL)' $(PY) -m pytest $(BROKER_TESTS)

screenshots: setup browser-deps
	@$(SERVICES) && QIIUB_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest tests/browser -q

# Style, and the import layers of .importlinter (each layer imports only the layers below it).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo

bench: bench-tenants bench-events bench-pos bench-polling bench-journal bench-portals bench-card-scan bench-pharmacy bench-soak bench-reconcile

# 10,000 merchant schemas by default (BENCH_TENANTS=1000 for a shorter run), built once and reused
# between runs on their own database; BENCH_REBUILD=1 builds them again.
bench-tenants: setup
	@$(SERVICES) && $(PY) bench/tenants.py

# Its merchants are copied from a template database built on the first run and again when the migrations change;
# BENCH_REBUILD=1 builds it anyway. A smaller run: make bench-events ARGS="--merchants 20 --events 2000".
bench-events: setup
	@$(SERVICES) && $(PY) bench/events.py $(ARGS)

bench-pos: setup
	@$(SERVICES) && $(PY) bench/pos.py

bench-journal: setup
	@$(SERVICES) && $(PY) bench/journal.py

bench-portals: setup
	@$(SERVICES) && $(PY) bench/portals.py

bench-card-scan: setup
	@$(SERVICES) && $(PY) bench/card_scan.py

bench-polling: setup
	@$(SERVICES) && $(PY) bench/polling.py

bench-pharmacy: setup
	@$(SERVICES) && $(PY) bench/pharmacy.py

# Retention: a week of traffic, an hour at a time, with the hourly run; table sizes stay flat.
bench-soak: setup
	@$(SERVICES) && $(PY) bench/soak.py

# Settlement reconciliation of a month (500 stores × 30 days × 100 card tenders) with planted discrepancies; the month
# is built once into a template database (BENCH_REBUILD=1 builds it again). A smaller run:
# make bench-reconcile ARGS="--stores 20 --days 3 --per-day 50" (--explain adds the matching statement's plan).
bench-reconcile: setup
	@$(SERVICES) && $(PY) bench/reconcile.py $(ARGS)

stop-embedded: setup
	$(PY) scripts/services.py --stop-embedded

clean:
	rm -rf .run staticfiles .pytest_cache
