# duplexsim: two commands on a fresh machine.
#   make demo   set everything up and run the main job on embedded defaults
#   make test   set everything up and run the test suite
# torch runs one thread per process (DUPLEXSIM_THREADS=N or --threads N to change it)
VENV ?= .venv
PY := $(VENV)/bin/python
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1

.PHONY: setup demo test lint bench clean
setup:
	@VENV=$(VENV) bash tools/setup.sh

demo:
	@VENV=$(VENV) EXTRAS= bash tools/setup.sh
	$(VENV)/bin/duplexsim demo --out runs/demo

test: setup
	$(VENV)/bin/ruff check duplexsim tests experiments docs/results
	$(PY) -m pytest -n auto --dist loadscope

lint: setup
	$(VENV)/bin/ruff check duplexsim tests experiments docs/results

bench: setup
	$(PY) -m duplexsim.bench

clean:
	rm -rf runs .pytest_cache
