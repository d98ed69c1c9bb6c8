# crmbot quickstart on a fresh Debian machine with only python3 and make:
#   make run    set up .venv (runtime only) and run the main job once on the bundled Maildir
#   make test   set up .venv with the dev extra and run the tests
# Everything goes into ./.venv: nothing is installed into the system Python
# (Debian's Python refuses that: "externally-managed-environment").
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check
SETTINGS ?= examples/crmbot.yaml

.PHONY: run test venv clean

# Debian ships venv's pip bootstrap in a separate package (python3-venv).
$(BIN)/python:
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv; \
	  else echo "python3 cannot make a virtual environment: run 'sudo apt-get install python3-venv', then make again" >&2; exit 1; fi; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

# Runtime only: the heavy test/benchmark libraries of the dev extra stay out.
$(VENV)/.runtime: $(BIN)/python pyproject.toml
	$(PIP) -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP) -e '.[dev]'
	@touch $@

venv: $(VENV)/.runtime

run: $(VENV)/.runtime
	$(BIN)/crmbot run --once --settings $(SETTINGS)
	$(BIN)/crmbot cases --settings $(SETTINGS)

test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var
