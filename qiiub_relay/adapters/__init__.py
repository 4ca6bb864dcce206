"""The pharmacy systems the relay can reach, each behind the PharmacySystem port (base.py), and `adapter_for`, which
builds one from the location's pharmacy settings (the hub's `relay/config`: system, configuration, and the opened
credentials). A setting that cannot work is a ValueError naming the key, never quoting a credential."""

from __future__ import annotations

from qiiub_relay.adapters.base import PharmacySystem
from qiiub_relay.adapters.pioneerrx import PioneerRx
from qiiub_relay.adapters.rx30_file import Rx30File
from qiiub_relay.adapters.rx30_service import DEFAULT_PATH, Rx30Service

SYSTEMS = ("rx30", "pioneerrx")


def adapter_for(system: str, configuration: dict, credentials: dict) -> PharmacySystem:
    """rx30: `mode` "service" (`server_host`, `server_port`, optional `use_tls` (true unless false), `ca_file`, `path`,
    and the credential `password` when the interface encrypts its messages) or "file" (`drop_folder`); pioneerrx:
    `base_url` (optional `ca_file`) and the credentials `api_key`, `shared_secret`. Plain HTTP is refused to any host
    but this machine."""
    if not isinstance(configuration, dict) or not isinstance(credentials, dict):
        raise ValueError("the pharmacy configuration and credentials must be objects")
    if system == "rx30":
        mode = configuration.get("mode")
        if mode == "service":
            return Rx30Service(
                _text(configuration, "server_host", system), _port(configuration),
                use_tls=_flag(configuration, "use_tls", default=True),
                ca_file=_optional_text(configuration, "ca_file", system),
                path=_optional_text(configuration, "path", system) or DEFAULT_PATH,
                password=_optional_text(credentials, "password", system, "credentials"),
            )
        if mode == "file":
            return Rx30File(_text(configuration, "drop_folder", system))
        raise ValueError('rx30 configuration: mode must be "service" or "file"')
    if system == "pioneerrx":
        return PioneerRx(
            _text(configuration, "base_url", system), _text(credentials, "api_key", system, "credentials"),
            _text(credentials, "shared_secret", system, "credentials"),
            ca_file=_optional_text(configuration, "ca_file", system),
        )
    raise ValueError(f"unknown pharmacy system {system!r}: the relay knows {', '.join(SYSTEMS)}")


def _text(settings: dict, key: str, system: str, where: str = "configuration") -> str:
    value = settings.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{system} {where}: {key} is required")
    return value


def _optional_text(settings: dict, key: str, system: str, where: str = "configuration") -> str | None:
    return _text(settings, key, system, where) if settings.get(key) is not None else None


def _port(configuration: dict) -> int:
    port = configuration.get("server_port")
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError("rx30 configuration: server_port must be a port number (1-65535)")
    return port


def _flag(configuration: dict, key: str, *, default: bool) -> bool:
    value = configuration.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"rx30 configuration: {key} must be true or false")
    return value
