"""The documentation's shell examples, run as written against a fresh ``orderclock dev``.

The blocks fenced as ```` ```bash test ```` in the README, then in ``docs/*.md`` and then in
``flows/*/README.md`` (each in name order), are joined in order (they build on each other,
as in one terminal: the later pages continue the README's tour) and run by bash with
``set -euo pipefail`` in a folder laid out like the repository (``.orderclock/`` the
stack's state, ``.venv/`` this environment). Only the API's address differs from a
newcomer's: the test's stack listens on free ports, given as ``ORDERCLOCK_API_URL``, which
the examples and the CLI honour.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from flows.catalog import FLOW_NAMES
from tests.fixtures.devstack import DevStack, clean_environment

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TESTED_BLOCK = re.compile(r"^```bash test\n(.*?)^```$", re.S | re.M)


def marked_blocks(text: str) -> list[str]:
    """The shell blocks of ``text`` marked for testing, in order."""
    return TESTED_BLOCK.findall(text)


def documents() -> list[Path]:
    """Every page whose marked blocks run, in the order they run."""
    return [README, *sorted((ROOT / "docs").rglob("*.md")), *sorted(ROOT.glob("flows/*/README.md"))]


def script() -> str:
    """Every marked block of every page, in order, as one bash script."""
    blocks = [block for page in documents() for block in marked_blocks(page.read_text())]
    return "set -euo pipefail\n" + "\n".join(blocks)


def test_the_flow_pages_examples_run_too() -> None:
    # The README's examples alone are not the whole story: the pages that continue its tour
    # are part of the script (a page whose blocks were left out would rot unseen).
    for page in ("flows/account_order/README.md", "flows/dealer_order/README.md"):
        blocks = marked_blocks((ROOT / page).read_text())
        assert blocks, f"{page} has no tested example"
        assert all(block in script() for block in blocks)


def test_the_marked_blocks_cover_every_flow() -> None:
    script = "\n".join(marked_blocks(README.read_text()))
    for flow in FLOW_NAMES:
        assert f'"flow": "{flow}"' in script, f"no tested README example creates a {flow} order"
    assert ".venv/bin/orderclock" in script


def test_readme_examples_run_against_the_dev_stack(devstack: DevStack, tmp_path: Path) -> None:
    (tmp_path / ".orderclock").symlink_to(devstack.state_dir, target_is_directory=True)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1], target_is_directory=True)
    result = subprocess.run(
        ["bash", "-c", script()],
        cwd=tmp_path,
        env=clean_environment() | {"ORDERCLOCK_API_URL": devstack.api_base_url},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    # The CLI's last command showed the dealer order, confirmed and still active.
    assert "(dealer_order)" in result.stdout and "state     active" in result.stdout


def test_demo_makes_orders_of_every_flow(devstack: DevStack, tmp_path: Path) -> None:
    (tmp_path / ".orderclock").symlink_to(devstack.state_dir, target_is_directory=True)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "orderclock"), "demo", "--api", devstack.api_base_url],
        cwd=tmp_path,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    made = [line.split()[0] for line in result.stdout.splitlines()[:-1]]
    assert len(made) >= 10
    for order_id in made:
        view = httpx.get(
            f"{devstack.api_base_url}/orders/{order_id}", headers=devstack.auth_headers, timeout=30
        ).json()
        assert view["order_id"] == order_id
    flows = {
        httpx.get(f"{devstack.api_base_url}/orders/{o}", headers=devstack.auth_headers).json()[
            "flow"
        ]
        for o in made
    }
    assert flows == set(FLOW_NAMES)
