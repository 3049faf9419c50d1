"""Suite-wide fixtures live in tests/fixtures/, one module per area."""

import os
import sys
from collections import Counter
from pathlib import Path

import pytest

# The suite runs from the project's environment; make its bin (temporal, temporal-test-server,
# localstripe) findable even when pytest is started by full path.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

pytest_plugins = [
    "tests.fixtures.temporal",
    "tests.fixtures.database",
    "tests.fixtures.stripe",
    "tests.fixtures.smtp",
    "tests.fixtures.devstack",
    "tests.fixtures.salesforce",
    "tests.fixtures.stack",
]


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # once, in the controller (not each xdist worker)
        from bench.common import compile_project

        # The project's bytecode, as the Docker image has it: the processes tests start
        # would otherwise compile every project module from source when
        # PYTHONDONTWRITEBYTECODE is set (half a second and more per process).
        compile_project()


# Tests run in parallel (pytest-xdist, ``--dist loadgroup``: see docs/testing.md). Tests that
# use one of these session-scoped stacks all go to one worker, so the stack starts once per
# run rather than once per worker; the rest are spread test by test.
SHARED_STACKS = ("devstack",)


# Before xdist's own hook, which reads the group marks to schedule the tests.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _unique_ids(items)
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        stack = next((name for name in SHARED_STACKS if name in fixtures), None)
        if stack is not None:
            group = stack
        elif _module_scoped(item):
            # A module-scoped fixture (a server for the module's tests) is set up once per
            # worker that runs one of them: keep the module's tests together.
            group = item.nodeid.split("::")[0]
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(group))
        if hasattr(config, "workerinput") and config.getvalue("loadgroup"):
            _name_group(item, group)


def _unique_ids(items: list[pytest.Item]) -> None:
    """Give tests that share an id one of their own (``path::name``).

    Under pytest 9.2 schemathesis's tests of one module all have the id ``...::test_api``
    (their names differ: ``test_api[POST /orders]``); xdist schedules by id, so it ran one
    of the fourteen.
    """
    counts = Counter(item.nodeid for item in items)
    for item in items:
        if counts[item.nodeid] > 1:
            _set_id(item, f"{item.nodeid.split('::')[0]}::{item.name}")


def _set_id(item: pytest.Item, nodeid: str) -> None:
    node_id = getattr(item, "_id", None)
    parse = getattr(type(node_id), "parse", None)
    if parse is not None:
        item._id = parse(nodeid)  # type: ignore[attr-defined]


def _name_group(item: pytest.Item, group: str) -> None:
    """Put ``@group`` at the end of the test's id, where xdist's scheduler looks for it.

    xdist (3.8) does that itself by assigning ``item._nodeid``, which pytest 9.2 no longer
    reads (a test's id is the structured ``item._id``), so every group would be scattered.
    """
    if not item.nodeid.endswith(f"@{group}"):
        _set_id(item, f"{item.nodeid}@{group}")


def _module_scoped(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        definition.scope == "module"
        for definitions in info.name2fixturedefs.values()
        for definition in definitions
    )
