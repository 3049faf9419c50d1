"""docker-compose.yml checked against the code: no Docker engine runs here, so it is parsed."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from graphlib import TopologicalSorter
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from sqlalchemy.engine import make_url

from config.settings import Settings
from db.engine import normalize_url
from models import search
from tests.deploy.support import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    ROOT,
    MissingVariable,
    interpolate,
    load_compose,
    orderclock_commands,
    orderclock_options,
    service_environment,
    substitutions,
)

SECRETS = (
    "POSTGRES_PASSWORD",
    "ORDERCLOCK_STRIPE_API_KEY",
    "ORDERCLOCK_STRIPE_WEBHOOK_SECRET",
    "ORDERCLOCK_PAYLOAD_KEYS",
    "ORDERCLOCK_CODEC_TOKEN",
)
HOST_ENV = {
    "POSTGRES_PASSWORD": "pg-secret",
    "ORDERCLOCK_STRIPE_API_KEY": "sk_test_compose",
    "ORDERCLOCK_STRIPE_WEBHOOK_SECRET": "whsec_compose",
    "ORDERCLOCK_PAYLOAD_KEYS": "k1:" + "A" * 43 + "=",
    "ORDERCLOCK_CODEC_TOKEN": "compose-codec-token-0123",
}
APP_SERVICES = ("migrate", "search-attributes", "schedules", "worker", "api")
EXPECTED_SERVICES = {
    "postgresql",
    "temporal",
    "temporal-ui",
    "mailcatcher",
    *APP_SERVICES,
}
# Container ports someone outside the compose network must reach.
PUBLISHED = {"api": 8000, "temporal-ui": 8080, "mailcatcher": 8025, "temporal": 7233}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    """The services of the compose file, interpolated with every secret set."""
    result = load_compose(HOST_ENV)["services"]
    assert isinstance(result, dict)
    return result


def _command(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command", [])
    assert isinstance(command, list), "commands are in exec (list) form"
    return [str(part) for part in command]


def _container_ports(service: Mapping[str, Any]) -> set[int]:
    ports: set[int] = set()
    for entry in service.get("ports", []):
        # "container", "host:container" or "ip:host:container", maybe with "/tcp".
        ports.add(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def _env_to_field_path(variable: str) -> list[str]:
    assert variable.startswith("ORDERCLOCK_")
    return variable.removeprefix("ORDERCLOCK_").lower().split("__")


def _is_settings_field(path: list[str]) -> bool:
    model: type[BaseModel] = Settings
    for depth, part in enumerate(path):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if depth == len(path) - 1:
            return True
        annotation = field.annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        model = annotation
    return False


def test_every_expected_service_is_present(services: dict[str, Any]) -> None:
    assert set(services) == EXPECTED_SERVICES


def test_every_image_is_pinned_to_a_tag(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} has no image"
        repository, _, tag = str(image).rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image} is not pinned"


def test_app_services_run_the_built_image(services: dict[str, Any]) -> None:
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        assert services[name]["build"] == ".", name
    assert (ROOT / "Dockerfile").is_file()


def test_every_needed_port_is_published(services: dict[str, Any]) -> None:
    for name, port in PUBLISHED.items():
        assert port in _container_ports(services[name]), f"{name} does not publish {port}"
    # Replicas cannot share a host port.
    assert "ports" not in services["worker"]
    assert "container_name" not in services["worker"]


def test_the_worker_runs_two_replicas(services: dict[str, Any]) -> None:
    assert services["worker"]["deploy"]["replicas"] == 2
    assert _command(services["worker"]) == ["orderclock", "worker"]


def test_worker_metrics_are_reachable_in_the_compose_network(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = services["worker"]
    for variable in list(os.environ):
        if variable.startswith("ORDERCLOCK_"):
            monkeypatch.delenv(variable)
    for variable, value in service_environment(worker).items():
        monkeypatch.setenv(variable, value)
    settings = Settings()
    # Every interface of the container, not the default loopback Prometheus cannot reach.
    assert settings.worker_metrics_host == "0.0.0.0"
    ports = {settings.worker_metrics_port, settings.worker_sdk_metrics_port}
    assert len(ports) == 2
    assert {int(str(port)) for port in worker["expose"]} == ports
    # The replicas share the service's name; no host port, so they cannot clash.
    assert "ports" not in worker
    # Everything else the worker reads is the shared environment the API has too.
    shared = service_environment(services["api"])
    assert {k: v for k, v in service_environment(worker).items() if "METRICS" not in k} == shared


def test_migrate_runs_once(services: dict[str, Any]) -> None:
    assert _command(services["migrate"]) == ["orderclock", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["search-attributes"]["restart"] == "no"


def test_app_commands_are_orderclock_commands(services: dict[str, Any]) -> None:
    commands = orderclock_commands()
    for name in ("migrate", "schedules", "worker", "api"):
        program, subcommand, *arguments = _command(services[name])
        assert program == "orderclock"
        assert subcommand in commands, f"{name}: orderclock has no command {subcommand}"
        options = {argument for argument in arguments if argument.startswith("--")}
        assert options <= orderclock_options(subcommand), name
    assert _command(services["api"])[-4:] == ["--host", "0.0.0.0", "--port", "8000"]


def test_the_bill_cycle_schedule_is_set_up_once_the_namespace_is_ready(
    services: dict[str, Any],
) -> None:
    schedules = services["schedules"]
    assert _command(schedules)[:2] == ["orderclock", "setup"]
    assert schedules["depends_on"]["search-attributes"]["condition"] == (
        "service_completed_successfully"
    )
    # It talks to Temporal as the worker does (TLS, payload keys, the cron setting).
    assert service_environment(schedules) == service_environment(services["api"])


def test_the_search_attribute_script_is_in_the_repository(services: dict[str, Any]) -> None:
    entrypoint = services["search-attributes"]["entrypoint"]
    assert entrypoint[0] == "sh"
    assert (ROOT / entrypoint[1]).is_file()


def test_every_secret_must_be_set() -> None:
    text = COMPOSE_FILE.read_text()
    for secret in SECRETS:
        uses = [match for match in substitutions(text) if match["name"] == secret]
        assert uses, f"{secret} is not used"
        for match in uses:
            assert match["op"] == ":?" and match["arg"].strip(), (
                f"{match.group(0)} must be ${{{secret}:?message}}"
            )
        env = {name: value for name, value in HOST_ENV.items() if name != secret}
        with pytest.raises(MissingVariable, match=secret):
            interpolate(text, env)
        # Compose's ":?" also refuses an empty value.
        with pytest.raises(MissingVariable, match=secret):
            interpolate(text, {**env, secret: ""})


def test_only_secrets_and_optional_values_come_from_the_host() -> None:
    for match in substitutions(COMPOSE_FILE.read_text()):
        if match["name"] in SECRETS:
            continue
        # Anything else read from the host has a default, so `up` works with only secrets set.
        assert match["op"] in (":-", "-"), f"{match.group(0)} has no default"


def test_required_settings_reach_worker_and_api(services: dict[str, Any]) -> None:
    required = {name for name, field in Settings.model_fields.items() if field.is_required()}
    assert required, "Settings has required fields (the secrets)"
    for name in ("worker", "api"):
        provided = set(service_environment(services[name]))
        missing = {f"ORDERCLOCK_{field.upper()}" for field in required} - provided
        assert not missing, f"{name} lacks {sorted(missing)}"


def test_orderclock_variables_are_settings_fields(services: dict[str, Any]) -> None:
    seen: set[str] = set()
    for service in services.values():
        seen |= {name for name in service_environment(service) if name.startswith("ORDERCLOCK_")}
    host_variables = {match["name"] for match in substitutions(COMPOSE_FILE.read_text())}
    seen |= {name for name in host_variables if name.startswith("ORDERCLOCK_")}
    assert seen
    unknown = sorted(name for name in seen if not _is_settings_field(_env_to_field_path(name)))
    assert not unknown, f"not fields of config.settings.Settings: {unknown}"


def test_the_field_check_knows_nested_and_unknown_names() -> None:
    assert _is_settings_field(["prepaid", "payment_window"])
    assert not _is_settings_field(["prepaid", "no_such_window"])
    assert not _is_settings_field(["smtp_hostname"])
    assert not _is_settings_field(["smtp_host", "extra"])


@pytest.mark.parametrize("name", ["worker", "api"])
def test_the_environment_makes_valid_settings(
    services: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in list(os.environ):
        if variable.startswith("ORDERCLOCK_"):
            monkeypatch.delenv(variable)
    for variable, value in service_environment(services[name]).items():
        monkeypatch.setenv(variable, value)
    settings = Settings()
    assert settings.temporal_address == "temporal:7233"
    assert settings.smtp_host == "mailcatcher"
    assert settings.smtp_port == 1025
    assert settings.stripe_api_key.get_secret_value() == HOST_ENV["ORDERCLOCK_STRIPE_API_KEY"]
    assert (
        settings.stripe_webhook_secret.get_secret_value()
        == HOST_ENV["ORDERCLOCK_STRIPE_WEBHOOK_SECRET"]
    )
    url = normalize_url(settings.database_url)
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database) == ("postgresql", 5432, "orderclock")
    assert url.password == HOST_ENV["POSTGRES_PASSWORD"]


def test_migrate_uses_the_database_of_the_workers(services: dict[str, Any]) -> None:
    migrate = service_environment(services["migrate"])["ORDERCLOCK_DATABASE_URL"]
    for name in ("worker", "api"):
        assert service_environment(services[name])["ORDERCLOCK_DATABASE_URL"] == migrate


def test_database_credentials_agree(services: dict[str, Any]) -> None:
    database = services["postgresql"]["environment"]
    temporal = services["temporal"]["environment"]
    url = make_url(service_environment(services["api"])["ORDERCLOCK_DATABASE_URL"])
    assert url.username == database["POSTGRES_USER"] == temporal["POSTGRES_USER"]
    assert url.password == database["POSTGRES_PASSWORD"] == temporal["POSTGRES_PWD"]
    assert url.database == database["POSTGRES_DB"]
    assert temporal["POSTGRES_SEEDS"] == url.host == "postgresql"
    assert temporal["DB"] == "postgres12"


def _depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on", {})
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def test_start_order(services: dict[str, Any]) -> None:
    graph = {name: set(_depends_on(service)) for name, service in services.items()}
    for targets in graph.values():
        assert targets <= set(services)
    order = list(TopologicalSorter(graph).static_order())  # raises on a cycle

    assert _depends_on(services["temporal"])["postgresql"] == "service_healthy"
    assert _depends_on(services["migrate"])["postgresql"] == "service_healthy"
    assert "temporal" in _depends_on(services["search-attributes"])
    for name in ("worker", "api"):
        depends = _depends_on(services[name])
        assert depends["migrate"] == "service_completed_successfully", name
        assert "temporal" in depends, name
        assert order.index(name) > order.index("migrate") > order.index("postgresql")
    # A worker must never run an order before its search attributes exist.
    assert _depends_on(services["worker"])["search-attributes"] == "service_completed_successfully"
    assert "pg_isready" in services["postgresql"]["healthcheck"]["test"][-1]


def test_search_attributes_match_the_models(services: dict[str, Any]) -> None:
    registered = set(_command(services["search-attributes"]))
    flags = search.cli_flags()
    expected = set(flags[1::2])
    assert len(expected) == len(search.ALL)
    assert registered == expected


def test_temporal_ui_points_at_temporal_and_the_codec(services: dict[str, Any]) -> None:
    environment = services["temporal-ui"]["environment"]
    assert environment["TEMPORAL_ADDRESS"] == "temporal:7233"
    # The UI sends no header: the codec's token is the endpoint's last segment.
    assert environment["TEMPORAL_CODEC_ENDPOINT"] == (
        "http://localhost:8000/codec/" + HOST_ENV["ORDERCLOCK_CODEC_TOKEN"]
    )
    assert services["temporal"]["ports"]


def test_the_temporal_dynamic_config_is_mounted(services: dict[str, Any]) -> None:
    temporal = services["temporal"]
    (volume,) = temporal["volumes"]
    source, target, *_ = str(volume).split(":")
    folder = ROOT / source
    config_path = temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    assert target == "/etc/temporal/config/dynamicconfig"
    assert config_path.startswith("config/dynamicconfig/")
    config = yaml.safe_load(
        (folder / config_path.removeprefix("config/dynamicconfig/")).read_text()
    )
    assert config["system.forceSearchAttributesCacheRefreshOnRead"] == [{"value": True}]


def test_the_mail_catcher_is_mailpit(services: dict[str, Any]) -> None:
    # ORDERCLOCK_SMTP_PORT=1025 and the published 8025 are mailpit's SMTP and UI ports.
    assert re.fullmatch(r"axllent/mailpit:v[\d.]+", services["mailcatcher"]["image"])


def test_the_env_example_names_every_secret() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    named = {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}
    assert set(SECRETS) <= named
    # The example holds no values for secrets.
    assert all(line.endswith("=") for line in lines if line.split("=", 1)[0] in SECRETS)
