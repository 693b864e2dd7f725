# The two commands a new user types: `make demo` and `make test`.
# Both set themselves up from nothing (a virtual environment in .venv).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.torchpit-installed

.PHONY: demo test test-python test-vscode vsix bench bench-latency bench-phases docs clean setup setup-nvim setup-node

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

# Headless Neovim (Debian's package) for the editor end-to-end test.
setup-nvim:
	@command -v nvim >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim >/dev/null) \
	      || echo "warning: could not install neovim; the Neovim test will be skipped"; \
	  else echo "warning: nvim not found and cannot apt-get install it; the Neovim test will be skipped"; fi; }

setup-node:
	@if [ -f vscode-client/package.json ] && command -v npm >/dev/null 2>&1; then \
	  cd vscode-client && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; }; fi

test: $(STAMP) setup-nvim setup-node
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
