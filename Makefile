# Two commands on a fresh machine:  make demo   |   make test
PYTHON ?= python3
VENV ?= .venv
# the CPU wheel on these machines; override e.g. TORCH_SPEC="torch>=2.1" elsewhere
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= viz,dev
OUT ?= topolens-report
PYTEST_ARGS ?= -n 2 --timeout 600

PY := $(VENV)/bin/python
STAMP := $(VENV)/.topolens-installed

.PHONY: setup demo test lint bench study clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/topolens demo --out $(OUT)

test: setup
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks

bench: setup
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/bench_homology.py

# the generalization-gap study (issue 3): needs Fashion-MNIST under $TOPOLENS_DATA; ~10 min on 2 cores
study: setup
	$(PY) benchmarks/study_generalization.py --jobs 2

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
