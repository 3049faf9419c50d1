# The two set-up commands of the README live here: `make dev` and `make test`.
# Both bootstrap everything from a bare Python 3.11: a private copy of uv in .tools/,
# then the locked environment in .venv/ (uv.lock), so nothing is installed by hand.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: dev test lint check sync

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# --compile-bytecode: every process the tests start (workers, APIs, CLI commands) would
# otherwise compile its imports from source when PYTHONDONTWRITEBYTECODE is set; after the
# first time it only checks the files (about a second).
sync: $(UV)
	$(UV) sync --frozen --compile-bytecode --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')"

## Start everything: Temporal dev server + Web UI, worker, API, local Stripe and Salesforce, SMTP sink.
dev: sync
	.venv/bin/orderclock dev

## Lint, type-check and run the whole test suite.
test: sync lint
	.venv/bin/pytest

lint: sync
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
