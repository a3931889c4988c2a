# The two commands a newcomer needs: `make run` and `make test`.
PY := .venv/bin/python
BIN ?= .venv/bin
TEST_WORKERS ?= 4

.PHONY: run test lint checks install up down status

run: install  ## install everything, then replay the 2020 edition end to end (`outgoing demo`); leaves nothing running
	$(PY) -m outgoing_cli.main demo $(DEMO_ARGS)

test: install  ## install everything, check lint and types, then run the whole test suite against the real servers
	@$(MAKE) --no-print-directory checks
	$(PY) -m pytest -n $(TEST_WORKERS) --ignore=tests/faults $(PYTEST_ARGS) || [ $$? -eq 5 ]
	@# The short fault and fuzz runs go after the rest, since they load the whole machine.
	$(PY) -m pytest -n 2 tests/faults $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: install checks  ## ruff, ruff format, strict mypy on the domain packages, the contract files, and the AsyncAPI parser

checks:  # all run; fails if any fails
	@status=0; \
	echo "ruff check ."; $(BIN)/ruff check . || status=1; \
	echo "ruff format --check ."; $(BIN)/ruff format --check --output-format concise . || status=1; \
	echo "mypy"; $(BIN)/mypy || status=1; \
	echo "outgoing contracts check"; $(PY) -m outgoing_cli.main contracts check || status=1; \
	echo "AsyncAPI parser: docs/asyncapi.yaml"; deploy/local/asyncapi/validate.sh docs/asyncapi.yaml || status=1; \
	exit $$status

install:
	@deploy/local/bootstrap.sh

up: install
	$(PY) deploy/local/infra.py up

down:
	$(PY) deploy/local/infra.py down

status:
	$(PY) deploy/local/infra.py status
