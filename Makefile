# The two commands a newcomer needs: `make run` and `make test`.
PY := .venv/bin/python
TEST_WORKERS ?= 4

.PHONY: run test install up down status

run: install  ## install everything, then replay the 2020 edition end to end (`outgoing demo`); leaves nothing running
	$(PY) -m outgoing_cli.main demo $(DEMO_ARGS)

test: install  ## install everything and run the whole test suite against the real servers
	$(PY) -m pytest -n $(TEST_WORKERS) --ignore=tests/faults $(PYTEST_ARGS) || [ $$? -eq 5 ]
	@# The short fault and fuzz runs go after the rest, since they load the whole machine.
	$(PY) -m pytest -n 2 tests/faults $(PYTEST_ARGS) || [ $$? -eq 5 ]

install:
	@deploy/local/bootstrap.sh

up: install
	$(PY) deploy/local/infra.py up

down:
	$(PY) deploy/local/infra.py down

status:
	$(PY) deploy/local/infra.py status
