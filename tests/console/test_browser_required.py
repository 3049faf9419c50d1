"""Without Chromium the browser tests skip saying why, or fail where CI requires them."""

from __future__ import annotations

import pytest


def test_missing_chromium_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import console

    monkeypatch.setattr(console.shutil, "which", lambda name: None)
    monkeypatch.delenv(console.REQUIRE_BROWSER, raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        console.require_chromium()
    monkeypatch.setenv(console.REQUIRE_BROWSER, "1")
    with pytest.raises(pytest.fail.Exception, match="ORDERCLOCK_REQUIRE_BROWSER=1"):
        console.require_chromium()
