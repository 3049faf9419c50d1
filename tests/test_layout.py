"""The tests' own layout (docs/testing.md, "Where things live"): fixtures in conftest files,
importable helpers in tests/support/, one support module per flow.

Every module under tests/ is parsed (``ast``, nothing is imported). The rules:

- no module imports from a ``conftest`` module (``from tests.api.conftest import ...``,
  ``from tests.console import conftest``, ``import tests.x.conftest``): what a test needs
  besides fixtures lives in tests/support/;
- fixtures are defined in conftest files, in the plugin modules of tests/fixtures/
  (``pytest_plugins``), or in the one test module that uses them; never in a helper module
  (tests/support/ and the like), where a test would have to import them to use them;
- a fixture name is defined in at most one test module: a second module that needs the same
  fixture gets it from a conftest. (A test module may still override a conftest's or a
  plugin's fixture of the same name; those are not counted.)
- every flow of the catalog has its support module, tests/support/<flow>.py, and a sample
  in ``FLOW_SAMPLES`` (the one sample request its helpers build on).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from flows.catalog import FLOWS
from tests.support.samples import FLOW_SAMPLES

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def modules() -> list[Path]:
    return sorted(TESTS.rglob("*.py"))


def name_of(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def conftest_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """The imports of a conftest module in ``tree``: (line, what is imported)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if "conftest" in parts or any(alias.name == "conftest" for alias in node.names):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if "conftest" in alias.name.split("."):
                    found.append((node.lineno, alias.name))
    return found


def fixture_names(tree: ast.Module) -> list[tuple[int, str]]:
    """The fixtures ``tree`` defines: (line, name), the ``name=`` given to the decorator if any."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call is not None else decorator
            if ast.unparse(target) not in ("pytest.fixture", "fixture"):
                continue
            name = node.name
            for keyword in call.keywords if call is not None else []:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    name = str(keyword.value.value)
            found.append((node.lineno, name))
    return found


def is_conftest_like(path: Path) -> bool:
    """A conftest file or one of tests/fixtures/' plugin modules."""
    return path.name == "conftest.py" or path.parent == TESTS / "fixtures"


def is_test_module(path: Path) -> bool:
    return path.name.startswith("test_")


def test_no_module_imports_from_a_conftest() -> None:
    offenders = [
        f"{name_of(path)}:{line} imports {what}"
        for path in modules()
        for line, what in conftest_imports(ast.parse(path.read_text(), str(path)))
    ]
    assert offenders == [], "import it from tests/support/ instead:\n" + "\n".join(offenders)


def test_fixtures_live_in_conftests_or_the_test_module_using_them() -> None:
    offenders = [
        f"{name_of(path)}:{line} defines the fixture {name}"
        for path in modules()
        if not is_conftest_like(path) and not is_test_module(path)
        for line, name in fixture_names(ast.parse(path.read_text(), str(path)))
    ]
    assert offenders == [], "move it to a conftest.py:\n" + "\n".join(offenders)


def test_no_fixture_is_defined_in_two_test_modules() -> None:
    shared: set[str] = set()  # a conftest's or plugin's: a test module may override them
    places: dict[str, list[str]] = defaultdict(list)
    for path in modules():
        for line, name in fixture_names(ast.parse(path.read_text(), str(path))):
            if is_conftest_like(path):
                shared.add(name)
            else:
                places[name].append(f"{name_of(path)}:{line}")
    for name in shared:
        places.pop(name, None)
    twice = {name: where for name, where in sorted(places.items()) if len(where) > 1}
    assert twice == {}, "define each once, in the conftest of the folder that shares it"


def test_every_flow_has_its_support_module_and_sample() -> None:
    support = TESTS / "support"
    missing = [flow for flow in FLOWS if not (support / f"{flow}.py").is_file()]
    assert missing == [], "add tests/support/<flow>.py (its harness and helpers)"
    assert set(FLOW_SAMPLES) == set(FLOWS)


def test_the_rules_see_what_they_look_for() -> None:
    """The checks above find what they forbid (so an empty result means something)."""
    source = (
        "from tests.api.conftest import make_settings\n"
        "from tests.console import conftest\n"
        "import tests.workflows.conftest\n"
        "import pytest\n"
        "@pytest.fixture\n"
        "def one(): ...\n"
        "@pytest.fixture(scope='module', name='two')\n"
        "async def _two(): ...\n"
    )
    tree = ast.parse(source)
    assert [line for line, _ in conftest_imports(tree)] == [1, 2, 3]
    assert fixture_names(tree) == [(6, "one"), (8, "two")]
