"""The deployment files (Dockerfile, compose.yaml, deploy/nginx.conf) agree with the code.

``docker compose config`` checks the compose file's form where the compose plugin is
installed; these tests check what it cannot: that every setting the files pass is one the
server knows, and that the proxy the servers trust is the proxy compose starts.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from dataclasses import fields
from typing import Any

import yaml

from bot.core.config import ENV_PREFIX, Config
from tests.conftest import REPO


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_every_frontdesk_variable_in_compose_is_a_setting() -> None:
    known = {ENV_PREFIX + f.name.upper() for f in fields(Config)}
    environment = compose()["services"]["frontdesk"]["environment"]
    passed = {name for name in environment if name.startswith(ENV_PREFIX)}
    assert passed, "compose.yaml passes no FRONTDESK_* setting"
    assert passed <= known, f"not settings: {sorted(passed - known)}"


def test_the_servers_trust_exactly_the_proxy_that_compose_starts() -> None:
    services = compose()["services"]
    trusted = services["frontdesk"]["environment"]["FRONTDESK_TRUSTED_PROXIES"]
    proxy_address = services["proxy"]["networks"]["frontdesk"]["ipv4_address"]
    assert trusted == proxy_address
    subnet = compose()["networks"]["frontdesk"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(proxy_address) in ipaddress.ip_network(subnet)
    # The value must also pass the server's own check of the setting.
    assert Config.from_mapping({"trusted_proxies": trusted}).trusted_proxies == (trusted,)


def test_the_proxy_forwards_to_the_port_the_image_serves_on() -> None:
    nginx = (REPO / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    served = re.search(r"FRONTDESK_PORT=(\d+)", dockerfile)
    forwarded = re.search(r"http://frontdesk:(\d+)", nginx)
    assert served and forwarded
    assert served.group(1) == forwarded.group(1)
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in nginx
    assert "Upgrade $http_upgrade" in nginx  # websockets of the widget and the console


def test_the_image_trains_the_models_the_way_make_does() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    for command in re.findall(r"\$\(BIN\)/frontdesk ((?:train|index build) .*)", makefile):
        expected = command.replace("$(DATA)", "data").replace("$(MODELS)", "models")
        assert f"frontdesk {expected}" in dockerfile


def test_compose_config_is_valid_where_the_compose_plugin_is_installed() -> None:
    docker = shutil.which("docker")
    has_compose = docker is not None and (
        subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    )
    if not has_compose:
        # The form is still read: a YAML error or a missing section fails above and here.
        assert set(compose()["services"]) == {"postgres", "redis", "frontdesk", "proxy"}
        return
    assert docker is not None
    result = subprocess.run(
        [docker, "compose", "-f", str(REPO / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"POSTGRES_PASSWORD": "test", "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    assert result.returncode == 0, result.stderr
