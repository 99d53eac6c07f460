# placehealth: `make demo` builds the demo place and starts the dashboard; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench serve clean assets

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

assets: $(STAMP)
	$(BIN)/python -m placehealth.outputs.web.assets

demo: $(STAMP) assets
	$(BIN)/placehealth demo --out demo-data
	$(BIN)/placehealth serve

test: $(STAMP) assets
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n 2 --dist loadscope

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

serve: $(STAMP)
	$(BIN)/placehealth serve

clean:
	rm -rf $(VENV) placehealth.duckdb demo-data
