"""Suite-wide fixtures live in tests/fixtures/, one module per area."""

import os
import sys
from pathlib import Path

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
