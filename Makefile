# The two commands a newcomer needs: `make run` and `make test`.
PY := .venv/bin/python

.PHONY: run test install up down status

run: install  ## install everything, start Kafka, the database and the three services
	$(PY) deploy/local/infra.py up --services

test: install  ## install everything and run the whole test suite against the real servers
	$(PY) -m pytest $(PYTEST_ARGS)

install:
	@deploy/local/bootstrap.sh

up: install
	$(PY) deploy/local/infra.py up

down:
	$(PY) deploy/local/infra.py down

status:
	$(PY) deploy/local/infra.py status
