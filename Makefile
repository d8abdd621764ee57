# Every target depends on the virtual environment, so `make grade` and `make test` set everything up by themselves.
PY      := .venv/bin/python
STAMP   := .venv/.installed
SUBMISSIONS ?= examples/submissions
OUT     ?= grades
J       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: setup data assignments grade test test-fast clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml scripts/system-packages.sh
	sh scripts/system-packages.sh
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

data: $(STAMP)
	$(PY) -m nnkit.data

assignments: $(STAMP)
	$(PY) -m nnkit.stubgen solutions assignments

grade: $(STAMP)
	$(PY) -m grader.cli --submissions $(SUBMISSIONS) --out $(OUT) -j $(J)

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

clean:
	rm -rf .venv $(OUT) dist build .pytest_cache
