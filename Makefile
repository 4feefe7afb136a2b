# Two commands on a fresh machine: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install system-deps demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium + chromedriver, for the headless-browser test of `dsreg scores --html`. A no-op when both
# are installed; without apt-get (or root/sudo) it says so and that one test skips with the reason.
system-deps:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then \
		echo "system-deps: chromium and chromedriver are installed"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "system-deps: no apt-get on this machine; the browser test of the score page will be skipped"; \
	else \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
		{ $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
			chromium chromium-driver; } \
		|| echo "system-deps: could not install chromium (need root or sudo); the browser test will be skipped"; \
	fi

demo: install
	$(BIN)/dsreg demo --root demo-root

lint: install
	$(BIN)/ruff check dsreg tests benchmarks
	$(BIN)/ruff format --check dsreg tests benchmarks
	$(BIN)/mypy dsreg

test: lint system-deps
	$(BIN)/pytest -q

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) demo-root .pytest_cache .mypy_cache .ruff_cache
