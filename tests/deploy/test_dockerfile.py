"""The Dockerfile: locked install, layer order, non-root, and a CMD orderclock understands."""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from pathlib import PurePosixPath

from tests.deploy.support import (
    DOCKERIGNORE,
    ROOT,
    Instruction,
    dockerfile_instructions,
    orderclock_commands,
    orderclock_options,
)


def _runs(instructions: list[Instruction]) -> list[tuple[int, list[str]]]:
    return [
        (index, shlex.split(instruction.arguments))
        for index, instruction in enumerate(instructions)
        if instruction.keyword == "RUN"
    ]


def _copies(instructions: list[Instruction]) -> list[tuple[int, list[str]]]:
    """(index, sources) of every COPY, flags such as --chown dropped."""
    copies = []
    for index, instruction in enumerate(instructions):
        if instruction.keyword == "COPY":
            *sources, _target = [part for part in instruction.arguments.split() if part[:2] != "--"]
            copies.append((index, sources))
    return copies


def test_base_image_is_python_311_slim() -> None:
    assert dockerfile_instructions()[0] == Instruction("FROM", "python:3.11-slim")


def test_uv_is_the_makefiles_version() -> None:
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^UV_VERSION\s*:?=\s*(\S+)", makefile, re.MULTILINE)
    assert match is not None
    installs = [
        argv for _, argv in _runs(dockerfile_instructions()) if argv[:2] == ["pip", "install"]
    ]
    assert any(f"uv=={match[1]}" in argv for argv in installs)


def test_dependencies_install_from_the_lock_file_before_the_source() -> None:
    instructions = dockerfile_instructions()
    syncs = [(index, argv) for index, argv in _runs(instructions) if argv[:2] == ["uv", "sync"]]
    assert syncs, "no uv sync"
    for _, argv in syncs:
        assert "--frozen" in argv and "--no-dev" in argv, argv
    copies = _copies(instructions)
    lock_copied = min(index for index, sources in copies if "uv.lock" in sources)
    first_sync, first_argv = syncs[0]
    assert lock_copied < first_sync
    assert "--no-install-project" in first_argv
    # The dependency layer sees only the project's metadata, so editing code keeps its cache.
    assert all(
        set(sources) <= {"pyproject.toml", "uv.lock"}
        for index, sources in copies
        if index < first_sync
    )
    last_copy = max(index for index, _ in copies)
    assert syncs[-1][0] > last_copy, "the project itself is installed after the source"
    assert "--no-install-project" not in syncs[-1][1]


def _ignored() -> set[str]:
    return {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }


def _in_build_context(path: str) -> bool:
    """Whether path survives .dockerignore (close enough to Docker's rules for these patterns).

    A pattern matches from the context root; ``**/`` matches any depth; an excluded folder
    excludes everything in it. The file uses no ``!`` exceptions.
    """
    parts = PurePosixPath(path).parts
    for pattern in _ignored():
        assert not pattern.startswith("!"), "exceptions are not modelled"
        anywhere = pattern.startswith("**/")
        bare = pattern.removeprefix("**/")
        for end in range(1, len(parts) + 1):
            starts = range(end) if anywhere else range(1)
            for begin in starts:
                if fnmatch.fnmatchcase("/".join(parts[begin:end]), bare):
                    return False
    return True


def test_the_whole_context_is_copied_after_the_dependencies() -> None:
    instructions = dockerfile_instructions()
    copies = _copies(instructions)
    assert copies[-1][1] == ["."]
    assert copies[-1][0] > _runs(instructions)[1][0]


def test_the_source_is_compiled_to_bytecode_in_the_image() -> None:
    # The worker's sandbox imports the workflow modules for every workflow it loads: with
    # no .pyc (PYTHONDONTWRITEBYTECODE, a read-only /app) it would compile them each time.
    instructions = dockerfile_instructions()
    compiles = [
        (index, argv)
        for index, argv in _runs(instructions)
        if argv[:3] == ["python", "-m", "compileall"]
    ]
    assert compiles, "no RUN python -m compileall"
    index, argv = compiles[-1]
    assert argv[-1] == "."
    assert index > _copies(instructions)[-1][0]
    users = [i for i, instruction in enumerate(instructions) if instruction.keyword == "USER"]
    assert index < users[-1]


def test_every_package_the_project_builds_reaches_the_image() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    needed = [*packages, pyproject["project"]["readme"], "deploy/register-search-attributes.sh"]
    for path in needed:
        assert (ROOT / path).exists(), path
        assert _in_build_context(path), f"{path} is excluded by .dockerignore"
    # Templates ship with the activities; a pattern such as *.txt must not drop them.
    for template in (ROOT / "activities").rglob("*"):
        if template.is_file() and "__pycache__" not in template.parts:
            assert _in_build_context(str(template.relative_to(ROOT))), template


def test_the_dockerignore_keeps_local_state_and_secrets_out() -> None:
    for path in (".venv/bin/python", ".tools/bin/uv", ".orderclock/orders.db", ".env", ".git/HEAD"):
        assert not _in_build_context(path), path
    assert not _in_build_context("models/__pycache__/orders.cpython-311.pyc")
    assert not _in_build_context("tests/conftest.py")
    # The image's /app/.venv must never be overwritten by a developer's .venv.
    assert ".venv" in _ignored()


def test_runs_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    users = [
        index for index, instruction in enumerate(instructions) if instruction.keyword == "USER"
    ]
    assert users
    assert instructions[users[-1]].arguments not in ("root", "0")
    assert users[-1] > max(index for index, _ in _runs(instructions))


def test_cmd_is_an_orderclock_command() -> None:
    instructions = dockerfile_instructions()
    assert not [i for i in instructions if i.keyword == "ENTRYPOINT"]
    (cmd,) = [instruction for instruction in instructions if instruction.keyword == "CMD"]
    program, subcommand, *arguments = cmd.exec_form()
    assert program == "orderclock"
    assert subcommand in orderclock_commands()
    assert {"worker", "migrate", "api"} <= orderclock_commands()
    assert {argument for argument in arguments if argument.startswith("--")} <= (
        orderclock_options(subcommand)
    )
    assert [subcommand, *arguments] == ["api", "--host", "0.0.0.0", "--port", "8000"]
    exposed = [i.arguments for i in instructions if i.keyword == "EXPOSE"]
    assert exposed == ["8000"]


def test_the_help_parser_sees_a_missing_command() -> None:
    # Guards the check above: a name orderclock lacks must not be reported as present.
    assert "no-such-command" not in orderclock_commands()
    assert "--no-such-option" not in orderclock_options("api")
