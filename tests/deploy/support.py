"""Readers for the deployment files: compose interpolation, the Dockerfile, `orderclock --help`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / "deploy" / "orderclock.env.example"
ORDERCLOCK_SCRIPT = Path(sys.executable).parent / "orderclock"

# Compose's substitutions: $$ (a literal $), ${VAR}, ${VAR:-default}, ${VAR-default},
# ${VAR:?message}, ${VAR?message}. A bare $VAR is allowed by compose but not used here.
_SUBSTITUTION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


class MissingVariable(Exception):
    """A ${VAR:?message} whose variable is not set; compose refuses to start."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Substitute as `docker compose` does; raise MissingVariable for an unset required one."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op is not None and op.endswith("?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op is not None and op.endswith("-") and unset:
            return arg
        return value or ""

    return _SUBSTITUTION.sub(substitute, text)


def substitutions(text: str) -> list[re.Match[str]]:
    """Every ${...} substitution in text (not the $$ escapes)."""
    return [match for match in _SUBSTITUTION.finditer(text) if match["name"]]


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file parsed; interpolated with env when one is given."""
    text = COMPOSE_FILE.read_text()
    if env is not None:
        text = interpolate(text, env)
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def service_environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping, whichever of compose's two forms it uses."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (item.split("=", 1) for item in environment)
        return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}
    return {str(key): str(value) for key, value in environment.items()}


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD/ENTRYPOINT/RUN; a shell form is an error here."""
        parsed = json.loads(self.arguments)
        assert isinstance(parsed, list)
        return [str(part) for part in parsed]


def dockerfile_instructions(text: str | None = None) -> list[Instruction]:
    """The Dockerfile's instructions in order, without comments."""
    text = DOCKERFILE.read_text() if text is None else text
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(arguments.split())))
    return instructions


def _help(*args: str) -> str:
    result = subprocess.run(
        [str(ORDERCLOCK_SCRIPT), *args, "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={
            "COLUMNS": "200",
            "NO_COLOR": "1",
            "TERM": "dumb",
            "PATH": str(ORDERCLOCK_SCRIPT.parent),
        },
    )
    return result.stdout


def _panel_entries(text: str, panel: str) -> set[str]:
    """First words of the rows of one rich help panel ("Commands" or "Options")."""
    entries: set[str] = set()
    inside = False
    for line in text.splitlines():
        if line.startswith("╭") and f" {panel} " in line:
            inside = True
        elif line.startswith("╰"):
            inside = False
        elif inside and line.startswith("│"):
            words = line.strip("│ ").split()
            if words:
                entries.add(words[0])
    return entries


def orderclock_commands() -> set[str]:
    """The subcommands `orderclock --help` lists."""
    return _panel_entries(_help(), "Commands")


def orderclock_options(command: str) -> set[str]:
    """The options `orderclock COMMAND --help` lists."""
    return _panel_entries(_help(command), "Options")
