"""The console's vendored front-end files are the released ones (npm pack), with licences,
and no page loads anything from another origin."""

from __future__ import annotations

import hashlib
import re

import pytest

from api.console import STATIC

VENDOR = STATIC / "vendor"
TEMPLATES = STATIC.parent / "templates"
# `npm pack htmx.org@2.0.11` (dist/htmx.min.js, 0BSD) and `npm pack @picocss/pico@2.1.1`
# (css/pico.min.css, MIT); docs/console.md says how to update them.
RELEASES = {
    "htmx.min.js": "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
    "pico.min.css": "fbc9a63fc9fc9f72d12fd7fc9806e11fa9f77ae4f9cad146b27003a1119ba3db",
}
LICENCES = {"htmx.LICENSE": "Zero-Clause BSD", "pico.LICENSE.md": "MIT License"}


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_vendored_file_is_the_release(name: str) -> None:
    digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
    assert digest == RELEASES[name]


def test_htmx_is_2_0() -> None:
    # htmx 4 changed how hx-headers are inherited (the CSRF header on <body>).
    assert 'version:"2.0.11"' in (VENDOR / "htmx.min.js").read_text()


@pytest.mark.parametrize("name", sorted(LICENCES))
def test_licences_are_shipped(name: str) -> None:
    assert LICENCES[name] in (VENDOR / name).read_text()


def test_nothing_from_another_origin() -> None:
    for path in [*TEMPLATES.glob("*.html"), *STATIC.glob("*.js"), *STATIC.glob("*.css")]:
        text = path.read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path
