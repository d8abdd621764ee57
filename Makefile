# Every target depends on the virtual environment, so `make grade` and `make test` set everything up by themselves.
# Each target runs one `nnkit` subcommand (grader/shipping/cli.py); `make help` lists them.
PY      := .venv/bin/python
NNKIT   := $(PY) -m grader.shipping.cli
STAMP   := .venv/.installed
SUBMISSIONS ?= examples/submissions
OUT     ?= grades
J       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: help setup data assignments grade export release-feedback merge test test-fast lint clean bench gradescope check release lock lock-check

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 24

setup: $(STAMP) ## create .venv, install requirements.lock, the kit (editable) and, as root, the Debian packages

$(STAMP): requirements.lock pyproject.toml scripts/system-packages.sh
	sh scripts/system-packages.sh --test
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

data: $(STAMP) ## find, verify and cache MNIST and Fashion-MNIST
	$(NNKIT) data

assignments: $(STAMP) ## regenerate the stubs and notebooks in assignments/ and the Classroom workflow
	$(NNKIT) assignments solutions assignments
	$(NNKIT) classroom --write

GRADE_FLAGS := $(if $(SHARD),--shard $(SHARD)) $(if $(FAIL_UNDER),--fail-under $(FAIL_UNDER)) \
               $(if $(MANUAL_SCORES),--manual-scores $(MANUAL_SCORES)) $(if $(REGRADE),--regrade $(REGRADE)) \
               $(if $(filter 1 yes true,$(SKIP_TRAINING)),--skip-training)

grade: $(STAMP) ## grade SUBMISSIONS into OUT, J at a time [SHARD=i/n] [FAIL_UNDER=x] [MANUAL_SCORES=csv] [REGRADE=q1] [SKIP_TRAINING=1]
	$(NNKIT) grade --submissions $(SUBMISSIONS) --out $(OUT) -j $(J) $(GRADE_FLAGS)

FORMAT ?= generic
FEEDBACK ?= dist/feedback
export: $(STAMP) ## the class's grades for a course site: OUT/canvas.csv, OUT/gradescope.csv [FORMAT=canvas|gradescope|generic]
	$(NNKIT) export $(OUT) --format $(FORMAT)

release-feedback: $(STAMP) ## one zip per student in FEEDBACK (default dist/feedback): feedback page, plots, written scores
	$(NNKIT) export $(OUT) --release-feedback $(FEEDBACK)

merge: $(STAMP) ## combine shard outputs: make merge SHARDS="grades-1 grades-2" OUT=grades
	$(NNKIT) merge --out $(OUT) $(SHARDS)

# not an nnkit subcommand: it only calls sbatch, on a login node (README, "Grading on a cluster")
.PHONY: grade-slurm
TASKS ?= 4
grade-slurm: $(STAMP) ## submit a Slurm array job of TASKS shards and a merge into OUT [SBATCH=opts] [GRADE_ARGS=opts] [SKIP_TRAINING=1]
	platforms/slurm/submit.sh -n $(TASKS) -s $(SUBMISSIONS) -o $(OUT) $(if $(SBATCH),-a '$(SBATCH)') -- $(if $(filter 1 yes true,$(SKIP_TRAINING)),--skip-training) $(GRADE_ARGS)

# The suite waits more than it computes (sandboxes timing out, browsers, Slurm, subprocesses): TEST_JOBS processes
# (pytest-xdist), each running whole test files (so a file's module fixtures, a graded class or a Slurm cluster,
# are built once), keep two cores busy. (pytest-xdist's loadgroup does not group under pytest 9: loadfile does.)
TEST_JOBS ?= 3
test: $(STAMP) ## lint, then the kit's whole test suite, real training included (what CI runs) [TEST_JOBS=3]
	$(PY) -m ruff check .
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile

test-fast: $(STAMP) ## lint, then the suite without the training tests
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not slow"

lint: $(STAMP) ## ruff on the whole tree
	$(PY) -m ruff check .

clean: ## remove .venv, the grading output and the built bundles
	rm -rf .venv $(OUT) dist build .pytest_cache

RUNS ?= 3
bench: $(STAMP) ## medians over RUNS runs: grader, batch, cache, Q3, Q4, class of CLASS_SIZE, outputs into bench/results.{json,md}
	$(PY) bench/run.py --runs $(RUNS) $(if $(CLASS_SIZE),--class-size $(CLASS_SIZE))

gradescope: $(STAMP) ## dist/gradescope-autograder.zip: the grader with its hidden checks, no solutions
	$(NNKIT) gradescope build --out dist/gradescope-autograder.zip

DIR ?= assignments
CHECK_FLAGS := $(if $(Q),--question $(Q)) $(if $(filter 1 yes true,$(FULL)),--full)
check: $(STAMP) ## the visible checks on a student's work [DIR=assignments] [Q=q2] [FULL=1]; fails if one fails
	$(NNKIT) check $(DIR) $(CHECK_FLAGS)

release: $(STAMP) ## dist/student-bundle.zip: stubs, notebooks, loader, visible checks; no solution, no hidden check
	$(NNKIT) release --out dist/student-bundle.zip

lock: $(STAMP) ## rewrite requirements.lock from pyproject.toml with uv: one lock for every platform, marked per platform
	$(PY) -m uv pip compile pyproject.toml --universal --python-version 3.11 --no-annotate -o requirements.lock

lock-check: $(STAMP) ## prove requirements.lock resolves from wheels on Linux, macOS and Windows (needs the package index)
	$(PY) -m pytest -q -p no:cacheprovider -m lock tests/test_lock.py
