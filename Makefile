# Every target depends on the virtual environment, so `make grade` and `make test` set everything up by themselves.
PY      := .venv/bin/python
STAMP   := .venv/.installed
SUBMISSIONS ?= examples/submissions
OUT     ?= grades
J       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: setup data assignments grade merge test test-fast clean

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

GRADE_FLAGS := $(if $(SHARD),--shard $(SHARD)) $(if $(FAIL_UNDER),--fail-under $(FAIL_UNDER)) \
               $(if $(MANUAL_SCORES),--manual-scores $(MANUAL_SCORES))

grade: $(STAMP)
	$(PY) -m grader.cli --submissions $(SUBMISSIONS) --out $(OUT) -j $(J) $(GRADE_FLAGS)

# merge shard outputs: make merge SHARDS="grades-1 grades-2 grades-3" OUT=grades
merge: $(STAMP)
	$(PY) -m grader.merge --out $(OUT) $(SHARDS)

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

clean:
	rm -rf .venv $(OUT) dist build .pytest_cache

# medians over RUNS runs of the grader, batch, cached re-grade, Q3 and Q4 timings: bench/results.json and .md
RUNS ?= 3
.PHONY: bench
bench: $(STAMP)
	$(PY) bench/run.py --runs $(RUNS)

# the Gradescope autograder zip: setup.sh, run_autograder and the grader with its hidden checks, no solutions
.PHONY: gradescope
gradescope: $(STAMP)
	$(PY) -m grader.gradescope build --out dist/gradescope-autograder.zip

# the visible checks on a student's work, as the grader runs them: make check [DIR=assignments] [Q=q2] [FULL=1];
# fails when a check that ran failed
DIR ?= assignments
CHECK_FLAGS := $(if $(Q),--question $(Q)) $(if $(filter 1 yes true,$(FULL)),--full)
.PHONY: check
check: $(STAMP)
	$(PY) -m grader.local $(DIR) $(CHECK_FLAGS)

# the student bundle: stubs, dataset loader, visible checks and their expected values; no solution, no hidden check
.PHONY: release
release: $(STAMP)
	$(PY) -m grader.release --out dist/student-bundle.zip
