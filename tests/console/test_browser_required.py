"""Without Chromium the browser tests skip saying why, or fail where CI requires them."""

from __future__ import annotations

import pytest


def test_missing_chromium_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.console import conftest

    monkeypatch.setattr(conftest.shutil, "which", lambda name: None)
    monkeypatch.delenv(conftest.REQUIRE_BROWSER, raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        conftest.require_chromium()
    monkeypatch.setenv(conftest.REQUIRE_BROWSER, "1")
    with pytest.raises(pytest.fail.Exception, match="ORDERCLOCK_REQUIRE_BROWSER=1"):
        conftest.require_chromium()
