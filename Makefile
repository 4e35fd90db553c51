# Adempauze — `make setup` then `make test` on a fresh clone; `make run` to chat.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
MODEL := models/adempauze.tar.gz
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONWARNINGS ?= ignore
export SQLALCHEMY_SILENCE_UBER_WARNING ?= 1
export RASA_TELEMETRY_ENABLED ?= false

.PHONY: setup venv spacy browser train validate test test-unit test-nlu test-stories eval bench bench-triage bench-gateway run shell clean

setup: venv spacy browser train  ## everything a fresh clone needs

browser:  ## Debian's chromium for the staff-console browser tests
	scripts/install_browser.sh

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml constraints.txt
	@PY=$$(scripts/find_python.sh); echo "Using $$PY"; [ -x $(PY) ] || $$PY -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<25" wheel "setuptools<71"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

spacy: models/spacy_nl/meta.json
models/spacy_nl/meta.json: scripts/build_spacy.py $(VENV)/.installed
	$(PY) scripts/build_spacy.py models/spacy_nl

train: $(VENV)/.installed models/spacy_nl/meta.json
	@start=$$(date +%s); \
	$(RASA) train --domain domain --fixed-model-name adempauze --quiet; \
	echo "Training took $$(( $$(date +%s) - start )) s"

validate:
	$(RASA) data validate --domain domain --fail-on-warnings --quiet

test: validate test-unit test-stories test-nlu eval  ## all checks; fails on any error

test-unit:
	$(PY) -m pytest -q

test-stories:
	$(RASA) test core --stories tests/test_stories.yml --model $(MODEL) --fail-on-prediction-errors --out results/stories --quiet

test-nlu:
	$(PY) scripts/eval_nlu.py

eval:
	$(PY) scripts/eval_triage.py

bench: bench-triage bench-gateway  ## benchmarks; each writes a report under reports/

bench-triage:
	$(PY) scripts/bench_triage.py

bench-gateway: $(MODEL)  ## Agent.handle_text vs the whole Telegram path, 1 and 20 users -> reports/bench.md
	$(PY) scripts/bench_gateway.py

run: $(MODEL)  ## the whole bot: Telegram (TELEGRAM_TOKEN) or the web chat at /chat, and the staff console
	$(PY) -m bot

shell: $(MODEL)  ## chat with the assistant in the terminal
	$(PY) -m bot.shell

clean:
	rm -rf results models/*.tar.gz var
