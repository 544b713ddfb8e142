# Two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export LIFECYCLE_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: run test ui bench sample clean

$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/python -c 'import site, sys; open(site.getsitepackages()[0] + "/retail_lifecycle.pth", "w").write(sys.argv[1])' $(CURDIR)
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

run: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m pipelines.run

test: $(BIN)/.installed
	$(BIN)/python -m pytest

ui: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml

bench: $(BIN)/.installed
	$(BIN)/python -m bench

sample: $(BIN)/.installed
	$(BIN)/python -m generator --out data/sample

clean:
	rm -rf $(VENV) $(DAGSTER_HOME) data/warehouse data/exports
