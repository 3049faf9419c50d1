"""``/docs`` and ``/redoc`` work offline: every file they load is served by the API itself."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from api.app import create_app
from api.routes.docs import STATIC_DIR
from config.settings import Settings

# The npm release files, unchanged (api/static/README.md says where each comes from). A
# changed sum means a file was edited or replaced: upgrade deliberately, then update here.
SHA256 = {
    "redoc/LICENSE": "d3026d549cf68ab7355bcfa85877bf8f845b3334a7efbfdc63936432fb34ff0e",
    "redoc/redoc.standalone.js": "dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b",
    "redoc/redoc.standalone.js.LICENSE.txt": (
        "eed602ec32e00b2b9df1984fbcc26a687b1b3193ec01961389c4b8439e6edf73"
    ),
    "swagger-ui/LICENSE": "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
    "swagger-ui/NOTICE": "0d20d1adef18aee3f40dd258172155521ce702ac445cb5f7b7d60ed32dad2fb2",
    "swagger-ui/favicon-32x32.png": (
        "3ed612f41e050ca5e7000cad6f1cbe7e7da39f65fca99c02e99e6591056e5837"
    ),
    "swagger-ui/swagger-ui-bundle.js": (
        "e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2"
    ),
    "swagger-ui/swagger-ui-bundle.js.LICENSE.txt": (
        "37eb6e7e59aed57b2c1acf076574b818ea07b74265717e0bd67b59e0baf9abbb"
    ),
    "swagger-ui/swagger-ui.css": "5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d",
}


def test_vendored_files_are_the_released_ones_with_their_licences() -> None:
    found = {
        str(path.relative_to(STATIC_DIR))
        for path in STATIC_DIR.rglob("*")
        if path.is_file() and path.name != "README.md"
    }
    assert found == set(SHA256), "a vendored file was added or removed without its sum"
    for name, digest in SHA256.items():
        assert hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest() == digest, name
    for vendor in ("swagger-ui", "redoc"):
        assert (STATIC_DIR / vendor / "LICENSE").stat().st_size > 0


@pytest.fixture
def docs_client() -> httpx.AsyncClient:
    app = create_app(Settings(stripe_api_key="x", stripe_webhook_secret="y"))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


def _loaded_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(
        r"""url:\s*['"]([^'"]+)['"]""", html
    )


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_nothing_from_another_host(
    docs_client: httpx.AsyncClient, page: str
) -> None:
    async with docs_client:
        response = await docs_client.get(page)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        urls = _loaded_urls(response.text)
        assert any(url.endswith(".js") for url in urls), urls
        for url in urls:
            assert url.startswith("/"), f"{page} loads {url} from elsewhere"
            served = await docs_client.get(url)
            assert served.status_code == 200, url
            if url.endswith(".js"):
                assert served.content == (STATIC_DIR / url.split("/docs-assets/")[1]).read_bytes()
        assert "fonts.googleapis" not in response.text
        assert "cdn." not in response.text


async def test_docs_pages_follow_a_root_path() -> None:
    # Behind a proxy mounting the API at /api, the page must ask for /api/docs-assets/...
    app = create_app(Settings(stripe_api_key="x", stripe_webhook_secret="y"))
    transport = httpx.ASGITransport(app=app, root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as docs_client:
        html = (await docs_client.get("/docs")).text
    urls = _loaded_urls(html)
    assert "/api/docs-assets/swagger-ui/swagger-ui-bundle.js" in urls, urls
    assert "/api/openapi.json" in urls, urls
