# The two commands a newcomer needs: `make run` and `make test` (see README).
# `make run PORT=8080` serves on another port.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_MEMBERS ?= 2000
PORT ?= 8000
DEV_ENV := DJANGO_DEBUG=1

.PHONY: install run test lint format clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(DEV_ENV) $(PY) manage.py migrate --noinput
	$(DEV_ENV) $(PY) manage.py seed_demo --members $(DEMO_MEMBERS)
	$(DEV_ENV) $(PY) manage.py run_nightly           # the worklist for today (once per date)
	$(DEV_ENV) $(PY) manage.py issue_certificates    # today's batch, PDFs included
	@echo
	@$(DEV_ENV) $(PY) manage.py create_demo_users --port $(PORT)   # the logins, last on screen
	$(DEV_ENV) $(PY) manage.py runserver 127.0.0.1:$(PORT)

test: install lint
	DJANGO_SETTINGS_MODULE=tests.settings $(PY) manage.py makemigrations --check --dry-run --skip-checks
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) db.sqlite3
