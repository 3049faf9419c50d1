# syntax=docker/dockerfile:1
# The orderclock image: one image for the API (default), the worker and the migration.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH="/app/.venv/bin:${PATH}"

# The same uv as the Makefile, so the image resolves uv.lock exactly as `make sync` does.
RUN pip install --no-cache-dir --disable-pip-version-check "uv==0.13.9"

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock file changes, not on every edit.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# Then the source: everything .dockerignore lets through (the packages, README.md that
# hatchling reads as the project's readme, deploy/), so a new package needs no edit here.
COPY . ./
RUN uv sync --frozen --no-dev
# The project's own bytecode (uv compiles only the dependencies). A worker imports the
# workflow modules afresh for every workflow it loads into its sandbox; without .pyc files
# (PYTHONDONTWRITEBYTECODE, and /app is not writable by the user below) each load compiled
# them from source, about 20 ms of CPU per workflow (see README, Performance).
RUN python -m compileall -q -x '/\.venv/' .

# A home directory, because the temporal CLI (used by the search-attribute set-up) looks for
# its configuration there.
RUN useradd --create-home --uid 10001 orderclock
USER orderclock

EXPOSE 8000
CMD ["orderclock", "api", "--host", "0.0.0.0", "--port", "8000"]
