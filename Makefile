# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv on first use, so each works on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

$(VENV)/installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

# PyTorch (the `bench` extra) is only for the benchmark tests: pip takes the
# CPU build where one is available locally, otherwise it downloads one.
$(VENV)/installed-bench: $(VENV)/installed
	$(PY) -m pip install --quiet -e ".[test,bench]"
	touch $@

demo: $(VENV)/installed
	$(PY) -m trainers.train_vae --model_dir=runs/demo_vae --epochs=5

test: $(VENV)/installed-bench
	$(PY) -m pytest -n 2 --durations=15 tests

.PHONY: demo test
