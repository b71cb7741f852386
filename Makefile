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

.PHONY: setup demo test lint bench bench-mapper bench-nn study study-pgdl study-pgdl-quick clean

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

# topolens.nn (issue 6) against torch-topological; the TU study needs $TOPOLENS_DATA/tu
bench-nn: setup
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/bench_nn_persistence.py
	$(PY) benchmarks/bench_perslay.py

# Mapper vs KeplerMapper, giotto-tda and tda-mapper (issue 4): needs MNIST under $TOPOLENS_DATA.
# giotto-tda 0.6.2 pins scikit-learn 1.3.2, so it gets its own venv (if that fails, it is reported as skipped)
GTDA_VENV ?= .venv-gtda
bench-mapper: setup
	$(PY) -m pip install -q -e ".[bench]"
	test -f $(GTDA_VENV)/.gtda-installed || ( $(PYTHON) -m venv $(GTDA_VENV) && \
		$(GTDA_VENV)/bin/pip install -q giotto-tda==0.6.2 && touch $(GTDA_VENV)/.gtda-installed ) || \
		echo "giotto-tda venv could not be made; bench_mapper.py reports giotto-tda as skipped"
	$(PY) benchmarks/bench_mapper.py --gtda-python $(GTDA_VENV)/bin/python

# the generalization-gap study (issue 3): needs Fashion-MNIST under $TOPOLENS_DATA; ~10 min on 2 cores
study: setup
	$(PY) benchmarks/study_generalization.py --jobs 2

# the gap study in Ballester et al.'s setting (issue 15): a PGDL-style vgg zoo on Fashion-MNIST under
# $TOPOLENS_DATA, the paper's features and protocol; ~2 h on 2 cores. QUICK=1 (or study-pgdl-quick): the
# smoke version on the bundled MNIST sample, about a minute. STUDY_ARGS: e.g. --pgdl ROOT --task task8
JOBS ?= 2
study-pgdl: setup
	$(PY) benchmarks/study_pgdl.py --jobs $(JOBS) $(if $(QUICK),--quick) $(STUDY_ARGS)

study-pgdl-quick: setup
	$(PY) benchmarks/study_pgdl.py --jobs $(JOBS) --quick $(STUDY_ARGS)

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
