# SeqLab: `make run` starts the app, `make test` runs the whole suite (browser tests included).
PYTHON ?= python3.11
TORCH_SPEC ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test test-fast lint bench pretrain clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch is installed first with an explicit pin: on these machines 2.13.0 is a local CPU wheel,
# while an unpinned torch would pull several GB of CUDA packages.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

run: $(VENV)/.installed
	$(BIN)/streamlit run app.py --server.headless true --server.fileWatcherType none --server.port $(PORT)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not e2e and not slow"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

bench: $(VENV)/.installed
	$(BIN)/python -m bench

pretrain: $(VENV)/.installed
	$(BIN)/python -m models.core.pretrain

clean:
	rm -rf $(VENV) .pytest_cache tests/e2e/screenshots
