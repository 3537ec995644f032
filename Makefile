# Clinic assistant. The two commands a user needs: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV   := .venv
PY     := $(VENV)/bin/python
RASA   := $(VENV)/bin/rasa
MODEL  := models/clinic.tar.gz
# Everything that changes the trained model: retrain when any of it is newer than the model.
TRAINING_INPUTS := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null)

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
# Same data and config give the same model (TensorFlow otherwise varies by a point or two).
export TF_DETERMINISTIC_OPS := 1
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONDONTWRITEBYTECODE := 1
export ACTION_PORT ?= 5055
# endpoints.yml reads this; `make run` sets it to the action server it starts.
export ACTION_SERVER_URL ?= http://127.0.0.1:$(ACTION_PORT)/webhook

.PHONY: help install run train test lint unit validate test-nlu test-stories e2e cross-validate \
        lock clean

help: ## List the targets
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock
	@PY310=$$(scripts/find-python310.sh) || exit 1; \
	  echo "Creating $(VENV) with $$PY310"; \
	  [ -x $(PY) ] || $$PY310 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip check --disable-pip-version-check
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the pinned dependencies

# The model gets the time training *started*, so a file edited during training retrains next time.
$(MODEL): $(VENV)/.installed $(TRAINING_INPUTS)
	@mkdir -p models
	@started=$$(date +%s) && \
	  $(RASA) train --fixed-model-name clinic --out models && \
	  touch -d @$$started $@

train: $(MODEL) ## Train the model (only when data, domain or config changed)

run: install train ## Start the action server and the Rasa server (Ctrl-C stops both)
	$(PY) -m scripts.serve

test: lint unit validate test-nlu test-stories e2e ## Everything CI checks
	@echo "make test: all checks passed"

lint: install ## ruff on the Python code
	$(VENV)/bin/ruff check --output-format concise actions components scripts tests

unit: install ## Action and helper unit tests (no servers)
	$(PY) -m pytest tests/unit -q

validate: install ## rasa data validate --fail-on-warnings
	$(RASA) data validate --fail-on-warnings

test-nlu: train ## Held-out paraphrases: fails below 90% intent / FAQ answer accuracy
	@rm -rf results/heldout
	$(RASA) test nlu --nlu tests/nlu_heldout.yml --model $(MODEL) --out results/heldout
	$(PY) -m scripts.check_accuracy results/heldout --min 0.90

test-stories: train ## Test stories in tests/: fails on any wrong prediction
	@rm -rf results/stories
	$(RASA) test core --stories tests/test_stories.yml --model $(MODEL) \
	  --fail-on-prediction-errors --out results/stories

e2e: train ## End-to-end tests against real servers over REST
	$(PY) -m pytest tests/e2e -q

cross-validate: install ## 5-fold NLU cross-validation of config.yml (about 20 minutes)
	@rm -rf results/cv
	$(RASA) test nlu --cross-validation --folds 5 --nlu data/nlu --config config.yml --out results/cv
	$(PY) -m scripts.check_accuracy results/cv --min 0

lock: ## Re-pin requirements.lock from requirements.in in a scratch venv
	@PY310=$$(scripts/find-python310.sh) || exit 1; rm -rf .venv-lock; \
	  $$PY310 -m venv .venv-lock && .venv-lock/bin/pip install --quiet -r requirements.in && \
	  { echo "# Full pinned dependency set (Python 3.10), from requirements.in by make lock."; \
	    .venv-lock/bin/pip freeze; } > requirements.lock; rm -rf .venv-lock

clean: ## Remove build output (venv, models, results); keeps var/ (stored data)
	rm -rf $(VENV) models results .rasa .pytest_cache .ruff_cache
