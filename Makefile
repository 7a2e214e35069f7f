# Every target creates .venv by itself when it is missing or pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help demo test check fmt clean venv dynalite chromium

help:
	@echo "make demo   - set up and migrate a table between two local AWS accounts"
	@echo "make test   - set up and run the whole test suite"
	@echo "make check  - ruff, ruff format --check, mypy --strict"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,dev,spark]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/ddbmigrate demo

# dynalite (a second DynamoDB implementation, from npm) into .cache/dynalite, once: the
# endpoint tests run against it as well as moto. Needs node and npm (tests/dynalite.py).
dynalite: $(STAMP)
	$(BIN)/python tests/dynalite.py

# Chromium (Debian's package) loads the HTML report in tests/cli/test_report_page.py. Installed
# with apt-get only when missing, as root or through sudo without a password; otherwise this
# says how, and the test fails with the same advice (it is never skipped).
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ echo "chromium is missing: installing Debian's package (apt-get install -y chromium)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y chromium; \
	  else sudo -n apt-get update -qq && sudo -n apt-get install -y chromium; fi || \
	  echo "could not install chromium: run 'apt-get install -y chromium' as root"; }

# Two test processes, a test file each at a time (its fixtures stay together): the suite is
# mostly waiting on moto and subprocesses, so this halves its time on two cores.
test: $(STAMP) dynalite chromium
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

check: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .cache/dynalite
