# Two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export LIFECYCLE_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: run test ui bench sample clean chromium java

$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/python -c 'import site, sys; open(site.getsitepackages()[0] + "/retail_lifecycle.pth", "w").write(sys.argv[1])' $(CURDIR)
	touch $@

$(DAGSTER_HOME)/dagster.yaml: pipelines/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp pipelines/dagster.yaml $@

run: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m pipelines.run

test: $(BIN)/.installed chromium java
	$(BIN)/python -m pytest

# The report's browser test opens it in headless Chromium (Debian's `chromium`; no browser download
# is needed). Installed here when missing and we are root; otherwise one line says what to install,
# and that test is skipped with the same reason.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the report's browser test"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "could not install chromium: the report's browser test will be skipped"; \
	else \
		echo "no Chromium at $(CHROMIUM): install it (Debian: sudo apt-get install chromium) or set CHROMIUM=/path/to/chrome, else the report's browser test is skipped"; \
	fi

# The Spark engine's tests need a Java runtime (Spark 4.3 runs on Java 17, Debian's default-jre-headless).
# Installed here when missing and we are root; otherwise one line says what to install, and the
# Spark tests are skipped with the same reason.
java:
	@if command -v java >/dev/null || [ -n "$$JAVA_HOME" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's default-jre-headless for the Spark engine's tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null) \
			|| echo "could not install Java: the Spark engine's tests will be skipped"; \
	else \
		echo "no Java runtime: install it (Debian: sudo apt-get install default-jre-headless) or set JAVA_HOME, else the Spark engine's tests are skipped"; \
	fi

ui: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml

bench: $(BIN)/.installed
	$(BIN)/python -m bench $(ARGS)

sample: $(BIN)/.installed
	$(BIN)/python -m generator --out data/sample

clean:
	rm -rf $(VENV) $(DAGSTER_HOME) data/warehouse data/exports
