"""The production image has no dev group (``uv sync --no-dev``): nothing it runs may need it.

The stand-ins' packages (localstripe, aiosmtpd, trustme: ``devstack.command.DEV_PACKAGES``)
are made unimportable in a fresh interpreter by a finder at the front of ``sys.meta_path``,
as if they were not installed; the API app, the worker and the command line must still
load and build, ``orderclock --help`` must still answer, and ``orderclock dev`` must say
in one line how to get them, without a traceback.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib

from devstack.command import DEV_PACKAGES, EXIT_NO_DEV_PACKAGES
from tests.deploy.support import ROOT
from tests.test_import_graph import imports_of, project_modules

# aiohttp comes with localstripe only; the wrapper around localstripe imports it, and so
# does the latency benchmark (its lean HTTP client).
DEV_ONLY = (*DEV_PACKAGES, "aiohttp")
# The packages that may import them: the stand-ins, and the benchmarks (a developer's
# tool, run from a checkout with the dev group: bench/README.md).
DEV_TOOLS = ("devstack.", "bench.")

BLOCKER = textwrap.dedent(
    f"""
    import sys

    class NotInstalled:
        blocked = {DEV_ONLY!r}

        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in self.blocked:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    """
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_blocker_blocks() -> None:
    """Else the tests below would prove nothing."""
    done = _run("import localstripe")
    assert done.returncode == 1 and "No module named 'localstripe'" in done.stderr


def test_api_worker_and_command_line_load_without_the_dev_group() -> None:
    done = _run(
        """
        import api.app, cli.main, worker.main

        api.app.create_app
        worker.main.build_worker
        sys.argv = ["orderclock", "--help"]
        cli.main.app()
        """
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: orderclock" in done.stdout
    assert " dev " in done.stdout  # listed everywhere, runs only with the dev group


def test_dev_without_the_dev_group_says_how_to_install_it() -> None:
    done = _run(
        """
        from cli.main import app

        sys.argv = ["orderclock", "dev"]
        app()
        """
    )
    assert done.returncode == EXIT_NO_DEV_PACKAGES, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "make dev" in lines[0] and all(name in lines[0] for name in DEV_PACKAGES)
    assert done.stdout == ""


def test_dev_packages_are_in_the_dev_group_only() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())

    def names(requirements: list[str]) -> set[str]:
        return {_requirement_name(requirement) for requirement in requirements}

    assert names(pyproject["dependency-groups"]["dev"]) >= set(DEV_PACKAGES)
    assert not names(pyproject["project"]["dependencies"]) & set(DEV_ONLY)


def _requirement_name(requirement: str) -> str:
    for end, char in enumerate(requirement):
        if not (char.isalnum() or char in "-_."):
            return requirement[:end].lower()
    return requirement.lower()


def test_only_devstack_imports_a_dev_package() -> None:
    """Lazy imports too: one inside a function would fail only on its code path."""
    importers = [
        f"{module}:{found.line} imports {found.name}"
        for module, path in project_modules().items()
        for found in imports_of(module, path)
        if found.name.partition(".")[0] in DEV_ONLY
    ]
    assert importers, "the stand-ins import localstripe, aiosmtpd and trustme"
    assert [found for found in importers if not found.startswith(DEV_TOOLS)] == []
