# Clinic assistant. The two commands a user needs: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV   := .venv
PY     := $(VENV)/bin/python
RASA   := $(VENV)/bin/rasa
MODEL  := models/clinic.tar.gz
# Everything that changes the trained model: retrain when any of it is newer than the model
# (the pipeline's own components included; Rasa's training cache keeps what did not change).
TRAINING_INPUTS := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null) \
                   $(wildcard components/*.py)

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
# Same data and config give the same model (TensorFlow otherwise varies by a point or two).
export TF_DETERMINISTIC_OPS := 1
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONDONTWRITEBYTECODE := 1
export ACTION_PORT ?= 5055
# endpoints.yml reads this; `make run` sets it to the action server it starts.
export ACTION_SERVER_URL ?= http://127.0.0.1:$(ACTION_PORT)/webhook
# Defaults for the other ${VARS} in endpoints.yml and credentials.yml (rasa test reads them too).
export TRACKER_DATABASE_URL ?= sqlite:///$(CURDIR)/var/conversations.db
# Empty: one Rasa server, locks in memory; redis://host:6379/0 for several (README).
export LOCK_STORE_URL ?=
export WEB_ALLOWED_ORIGINS ?= http://localhost:8080,http://127.0.0.1:8080
export MAX_MESSAGE_CHARS ?= 2000
export TWILIO_ACCOUNT_SID ?=
export TWILIO_AUTH_TOKEN ?=
export TWILIO_NUMBER ?=
export TWILIO_WEBHOOK_URL ?=

.PHONY: help install web-install browser run train test lint unit validate test-model \
        test-stories e2e e2e-packages evaluate language-design lock clean services

help: ## List the targets
	@grep -E '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

# uv (pinned in requirements.lock) installs the same pins as pip, downloading in parallel: about
# 40 s on a fresh machine instead of 2.5 minutes. Where uv cannot be installed or cannot reach the
# package index, pip does the same job.
$(VENV)/.installed: requirements.lock
	@PY310=$$(scripts/find-python310.sh) || exit 1; \
	  echo "Creating $(VENV) with $$PY310"; \
	  [ -x $(PY) ] || $$PY310 -m venv $(VENV)
	@UV=$$(grep -m1 '^uv==' requirements.lock); \
	  if $(PY) -m pip install --quiet --disable-pip-version-check "$$UV" && \
	     $(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements.lock; then :; else \
	    echo "uv unavailable: installing with pip"; \
	    $(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock; \
	  fi
	$(PY) -m pip check --disable-pip-version-check
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the pinned dependencies

# The chat widget (rasa-webchat) from npm, exactly as web/package-lock.json pins it.
WEBCHAT := web/node_modules/.installed
$(WEBCHAT): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the chat widget:" \
	  "sudo apt-get install npm (Debian/Ubuntu)"; exit 1; }
	cd web && npm ci --ignore-scripts --no-audit --no-fund --omit=dev --loglevel=error
	@touch $@

web-install: $(WEBCHAT) ## Install the chat widget from web/package-lock.json

# Headless browser for the browser tests: Debian's chromium (Playwright drives it; no download).
CHROMIUM ?= $(shell command -v chromium 2>/dev/null || echo /usr/bin/chromium)
export CHROMIUM
browser: ## Install Debian's chromium for the browser tests, when missing
	@scripts/install-services.sh chromium

# The model gets the time training *started*, so a file edited during training retrains next time.
# Rasa's training cache (.rasa/) keeps every trained component: when only responses changed
# (domain.yml), `rasa train` restores all of them and repackages the model in seconds.
# scripts/run_rasa.py is Rasa's CLI with the project's changes (components/rasa_changes.py).
$(MODEL): $(VENV)/.installed $(TRAINING_INPUTS)
	@mkdir -p models
	@started=$$(date +%s) && \
	  $(PY) -m scripts.run_rasa train --fixed-model-name clinic --out models && \
	  touch -d @$$started $@

train: $(MODEL) ## Train the model (only when data, domain or config changed)

run: install web-install train ## Start everything: action server, Rasa, web page (Ctrl-C stops all)
	$(PY) -m scripts.serve

# The checks that need no model run while it trains and the test packages install (a fresh
# machine: lint, unit tests, data validation, training, npm and apt-get at once; output kept in
# order per target), then the model's checks and the end-to-end tests.
test: ## Everything CI checks
	@$(MAKE) --no-print-directory -j4 --output-sync=target lint unit validate train \
	  e2e-packages
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-model e2e
	@echo "make test: all checks passed"

lint: install ## ruff on the Python code
	$(VENV)/bin/ruff check --output-format concise actions channels components scripts staff tests web

unit: install ## Action and helper unit tests (no servers)
	$(PY) -m pytest tests/unit -q

validate: install ## rasa data validate --fail-on-warnings
	$(RASA) data validate --fail-on-warnings

test-model: train ## Held-out sets and test stories (one model load); fails below the floors
	$(PY) -m scripts.evaluate --ci

evaluate: train ## Full model evaluation (CV vs Rasa's default pipeline) -> docs/evaluation.md
	$(PY) -m scripts.evaluate $(EVALUATE_ARGS)

# English and Spanish: one model for both vs a router in front of two (docs/language-design.md).
language-design: install ## One model vs a language router, measured -> docs/language-design.md (~5 min)
	$(PY) -m scripts.language_design --write-docs

test-stories: train ## Only the test stories, with Rasa's own command
	@rm -rf results/stories
	$(RASA) test core --stories tests/test_stories.yml --model $(MODEL) \
	  --fail-on-prediction-errors --out results/stories

# PostgreSQL and Redis binaries for the multi-server and fault tests (they start their own).
services: ## Install PostgreSQL and redis-server with apt-get, when missing
	@scripts/install-services.sh postgresql redis

# What the end-to-end tests need besides the model, with one apt-get for all system packages.
e2e-packages: web-install
	@scripts/install-services.sh chromium postgresql redis

e2e: train e2e-packages ## End-to-end tests: real servers over REST, SMS and a real browser
	$(PY) -m pytest tests/e2e -q --durations=25

# Latency, throughput, cold start and memory vs Rasa's `rasa init` model (docs/benchmarks.md).
.PHONY: bench
bench: install train ## Benchmark vs a default Rasa model (~15 min; BENCH_ARGS=--quick: ~2 min)
	$(PY) -m scripts.bench $(BENCH_ARGS)

# Training vs the starter bot, a fresh clone's `make run` to the first answer, retraining after
# edits, and (BENCH_SETUP_ARGS=--ci) a fresh clone's CI (docs/benchmarks.md, "Setup").
.PHONY: bench-setup
bench-setup: install ## Setup, training and CI times from scratch (~10 min; commit first)
	$(PY) -m scripts.bench_setup $(BENCH_SETUP_ARGS)

# 20 minutes of mixed traffic: errors, memory and p95 minute by minute (docs/benchmarks.md).
.PHONY: soak
soak: install train ## Soak test: 20 min of mixed traffic at concurrency 4 (SOAK_ARGS=--minutes 5)
	$(PY) -m scripts.soak $(SOAK_ARGS)

# ---- staff console (README: "Staff console"); databases from DATABASE_URL / TRACKER_DATABASE_URL
.PHONY: staff-user retention forget export-corrections

staff-user: install ## Add a staff account: NAME=jane [ADMIN=1]; password from STAFF_PASSWORD or stdin
	@test -n "$(NAME)" || { echo "usage: make staff-user NAME=<username> [ADMIN=1]"; exit 2; }
	$(PY) -m staff.manage add-user "$(NAME)" $(if $(ADMIN),--admin)

retention: install ## Delete conversations and closed requests older than RETENTION_DAYS (180)
	$(PY) -m staff.manage retention

forget: install ## Delete everything about one person: SENDER=<id> | PHONE=<number> | EMAIL=<address>
	@test -n "$(SENDER)$(PHONE)$(EMAIL)" || { \
	  echo "usage: make forget SENDER=<conversation id> | PHONE=<number> | EMAIL=<address>"; exit 2; }
	$(PY) -m staff.manage forget $(if $(SENDER),--sender "$(SENDER)") \
	  $(if $(PHONE),--phone "$(PHONE)") $(if $(EMAIL),--email "$(EMAIL)")

export-corrections: install ## Staff intent corrections as Rasa NLU YAML -> results/corrections.yml
	$(PY) -m staff.manage export-corrections $(OUT)

lock: ## Re-pin requirements.lock from requirements.in in a scratch venv
	@PY310=$$(scripts/find-python310.sh) || exit 1; rm -rf .venv-lock; \
	  $$PY310 -m venv .venv-lock && .venv-lock/bin/pip install --quiet -r requirements.in && \
	  { echo "# Full pinned dependency set (Python 3.10), from requirements.in by make lock."; \
	    .venv-lock/bin/pip freeze; } > requirements.lock; rm -rf .venv-lock

clean: ## Remove build output (venv, models, results); keeps var/ (stored data)
	rm -rf $(VENV) models results .rasa .pytest_cache .ruff_cache web/node_modules
