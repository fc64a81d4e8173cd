# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# plotly.js's cartesian bundle for the web UI's chart pages, fetched from the npm registry
# (pinned, SHA-256 checked; webui/plotly_bundle.py). Without it the pages load the full bundle.
PLOTLY_CARTESIAN := webui/static/vendor/plotly-cartesian.min.js

.PHONY: run test bench install clean

$(STAMP): requirements.txt requirements-dev.txt setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: a bare `torch` requirement pulls a CUDA build
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q --no-deps -e .
	touch $(STAMP)

$(PLOTLY_CARTESIAN): webui/plotly_bundle.py | $(STAMP)
	$(PY) -m webui.plotly_bundle || true

install: $(STAMP) $(PLOTLY_CARTESIAN)

run: install
	$(VENV)/bin/hpsearch submit examples/quickstart.yaml --name quickstart-$$(date +%Y%m%d-%H%M%S)

test: install
	$(PY) -m pytest -q -n 2 --durations=25 tests

bench: install
	$(PY) -m benchmarks.run_all

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
