"""The settings groups of ``fastcorn/config.py``: every field reaches the same typed attribute
from its flag, its environment variable, its TOML table key and its flat TOML key; the
precedence of the sources; one-line errors from a table; mypy sees the groups' types; the
--loop and --log-level choices come from their registries; backend dispatch by registry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fastcorn import backends, cli
from fastcorn.config import (
    GROUPS,
    OPTIONS,
    OPTIONS_BY_NAME,
    Config,
    ConfigError,
    HTTP1Settings,
    LimitSettings,
    LoggingSettings,
    Option,
    ServerSettings,
    TimeoutSettings,
)
from fastcorn.logging import LEVELS

REPO = Path(__file__).resolve().parents[2]

# The flat name of every field, spelt out: the flags and variables users already rely on.
EXPECTED_FLAT_NAMES = {
    ("server", "host"): "host",
    ("server", "port"): "port",
    ("server", "bind"): "bind",
    ("server", "insecure_bind"): "insecure_bind",
    ("server", "fd"): "fd",
    ("server", "backlog"): "backlog",
    ("server", "loop"): "loop",
    ("server", "lifespan"): "lifespan",
    ("server", "factory"): "factory",
    ("server", "app_dir"): "app_dir",
    ("server", "root_path"): "root_path",
    ("http1", "limit_request_head"): "limit_request_head",
    ("http1", "server_header"): "server_header",
    ("timeouts", "keep_alive"): "timeout_keep_alive",
    ("timeouts", "request_head"): "timeout_request_head",
    ("timeouts", "request_body"): "timeout_request_body",
    ("timeouts", "write"): "timeout_write",
    ("timeouts", "graceful_shutdown"): "timeout_graceful_shutdown",
    ("limits", "concurrency"): "limit_concurrency",
    ("logging", "log_level"): "log_level",
    ("logging", "log_config"): "log_config",
    ("logging", "access_log"): "access_log",
    ("tls", "certfile"): "ssl_certfile",
    ("tls", "keyfile"): "ssl_keyfile",
    ("tls", "keyfile_password"): "ssl_keyfile_password",
    ("tls", "ca_certs"): "ssl_ca_certs",
    ("tls", "cert_reqs"): "ssl_cert_reqs",
    ("tls", "ciphers"): "ssl_ciphers",
    ("tls", "min_version"): "ssl_min_version",
    ("tls", "handshake_timeout"): "ssl_handshake_timeout",
    ("processes", "workers"): "workers",
    ("processes", "reuse_port"): "reuse_port",
    ("processes", "max_requests"): "max_requests",
    ("processes", "max_requests_jitter"): "max_requests_jitter",
    ("processes", "max_worker_memory"): "max_worker_memory",
    ("processes", "timeout_worker_healthcheck"): "timeout_worker_healthcheck",
    ("processes", "max_startup_failures"): "max_startup_failures",
    ("processes", "reload"): "reload",
    ("processes", "reload_dir"): "reload_dir",
    ("processes", "reload_include"): "reload_include",
    ("processes", "reload_exclude"): "reload_exclude",
    ("processes", "pid"): "pid",
    ("http2", "enabled"): "http2",  # a group's switch named as the group (--http2)
    ("http2", "max_concurrent_streams"): "http2_max_concurrent_streams",
    ("http2", "stream_window"): "http2_stream_window",
    ("http2", "connection_window"): "http2_connection_window",
    ("http2", "max_frame_size"): "http2_max_frame_size",
    ("http2", "max_control_frames"): "http2_max_control_frames",
    ("http2", "max_reset_streams"): "http2_max_reset_streams",
    # issue 13
    ("server", "env_file"): "env_file",
    ("http1", "date_header"): "date_header",
    ("http1", "header"): "header",
    ("limits", "max_requests"): "limit_max_requests",
    ("logging", "access_log_format"): "access_log_format",
    ("proxy", "proxy_headers"): "proxy_headers",
    ("proxy", "forwarded_allow_ips"): "forwarded_allow_ips",
    ("proxy", "proxy_protocol"): "proxy_protocol",
    ("metrics", "metrics_bind"): "metrics_bind",
    ("metrics", "statsd_host"): "statsd_host",
    ("metrics", "statsd_prefix"): "statsd_prefix",
    ("metrics", "statsd_dogstatsd"): "statsd_dogstatsd",
    ("metrics", "statsd_tags"): "statsd_tags",
    ("ws", "protocol"): "ws",
    ("ws", "max_size"): "ws_max_size",
    ("ws", "ping_interval"): "ws_ping_interval",
    ("ws", "ping_timeout"): "ws_ping_timeout",
    ("ws", "per_message_deflate"): "ws_per_message_deflate",
}

# Options whose text must have a form of its own (an address, a network).
SAMPLES: dict[str, tuple[str, str, Any]] = {
    "forwarded_allow_ips": ("10.0.0.1", '"10.0.0.1"', "10.0.0.1"),
    "metrics_bind": ("127.0.0.1:9", '"127.0.0.1:9"', "127.0.0.1:9"),
    "statsd_host": ("127.0.0.1:9", '"127.0.0.1:9"', "127.0.0.1:9"),
}


def _group_fields() -> list[tuple[str, str]]:
    return [(table, each.name) for table, cls in GROUPS.items()
            for each in dataclasses.fields(cls)]


def _option(table: str, key: str) -> Option:
    (option,) = [o for o in OPTIONS if (o.group, o.key) == (table, key)]
    return option


def _sample(option: Option) -> tuple[str, str, Any]:
    """A value other than the default: (command line / env text, TOML literal, typed value)."""
    if option.name in SAMPLES:
        return SAMPLES[option.name]
    if option.is_bool:
        value = not option.default
        return ("true" if value else "false"), ("true" if value else "false"), value
    if option.choices:
        choice = next(c for c in reversed(option.choices) if c != option.default)
        return choice, f'"{choice}"', choice
    if option.repeat:
        return "h:1", '["h:1"]', ("h:1",)
    if option.parse is not str:
        try:
            option.parse("7")
        except ValueError:  # a lower bound above 7 (HTTP/2 windows and frame sizes)
            return "70000", "70000", 70000
    kind = type(option.parse("7")) if option.parse is not str else str
    if kind is int:
        return "7", "7", 7
    if kind is float:
        return "7.5", "7.5", 7.5
    return "x", '"x"', "x"


def _config(values: dict[str, Any]) -> Config:
    values = dict(values)
    values.pop("app")
    return Config(app=None, **values)


# --------------------------------------------------------------------------------------------
# Every field: the names it is known by, and each source reaching it


def test_every_field_has_its_expected_names() -> None:
    assert set(_group_fields()) == set(EXPECTED_FLAT_NAMES)
    for (table, key), flat in EXPECTED_FLAT_NAMES.items():
        option = _option(table, key)
        assert option.name == flat
        assert option.flag == "--" + flat.replace("_", "-")
        assert option.env == "FASTCORN_" + flat.upper()
        assert option.toml_key == f"{table}.{key}"
        assert OPTIONS_BY_NAME[flat] is option
    # Only the app path and the config file itself belong to no group.
    assert [o.name for o in OPTIONS if o.group is None] == ["app", "config"]


@pytest.mark.parametrize(("table", "key"), _group_fields(), ids="{0[0]}.{0[1]}".format)
def test_each_source_reaches_the_typed_attribute(table: str, key: str, tmp_path: Path) -> None:
    option = _option(table, key)
    text, literal, expected = _sample(option)
    default = getattr(getattr(Config(), table), key)
    assert default != expected

    if option.is_bool:
        argv = [option.flag if expected else f"--no-{option.flag[2:]}"]
    else:
        argv = [option.flag, text]
    from_cli = _config(cli.resolve_options(argv, {}))
    from_env = _config(cli.resolve_options([], {option.env: text}))
    in_table = tmp_path / "table.toml"
    in_table.write_text(f"[{table}]\n{key} = {literal}\n")
    from_table = _config(cli.resolve_options(["--config", str(in_table)], {}))
    flat = tmp_path / "flat.toml"
    flat.write_text(f"{option.name} = {literal}\n")
    from_flat = _config(cli.resolve_options(["--config", str(flat)], {}))
    from_python = Config(**{option.name: expected})

    for config in (from_cli, from_env, from_table, from_flat, from_python):
        value = getattr(getattr(config, table), key)
        assert value == expected and type(value) is type(expected), (config, value)
        # Nothing else changed.
        assert config.flat() == {**Config().flat(), option.name: expected}


def test_tables_in_pyproject_and_dashes(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[project]\nname = 'x'\n"
        "[tool.fastcorn]\nport = 4\n"
        "[tool.fastcorn.timeouts]\nkeep-alive = 5\n"
        "[tool.fastcorn.http1]\nserver-header = false\n"
    )
    config = _config(cli.resolve_options(["--config", str(pyproject)], {}))
    assert config.server.port == 4
    assert config.timeouts.keep_alive == 5.0 and isinstance(config.timeouts.keep_alive, float)
    assert config.http1.server_header is False


def test_table_and_flat_keys_mix(tmp_path: Path) -> None:
    toml = tmp_path / "fastcorn.toml"
    toml.write_text(
        "app = 'm:app'\nhost = '10.0.0.1'\ntimeout_write = 2\n"
        "[server]\nport = 9\nbind = ['a:1', 'unix:/tmp/s']\n"
        "[timeouts]\nkeep_alive = 5\n"
        "[limits]\nconcurrency = 10\n"
        "[logging]\nlog_level = 'debug'\naccess_log = false\n"
    )
    values = cli.resolve_options(["--config", str(toml)], {})
    assert values["app"] == "m:app"
    config = _config(values)
    assert config.server == ServerSettings(host="10.0.0.1", port=9, bind=("a:1", "unix:/tmp/s"))
    assert config.timeouts == TimeoutSettings(keep_alive=5, write=2)
    assert config.limits == LimitSettings(concurrency=10)
    assert config.logging == LoggingSettings(log_level="debug", access_log=False)
    assert config.http1 == HTTP1Settings()


def test_precedence_table_env_cli(tmp_path: Path) -> None:
    toml = tmp_path / "fastcorn.toml"
    toml.write_text("[timeouts]\nkeep_alive = 1\nwrite = 1\nrequest_head = 1\n")
    conf = ["--config", str(toml)]
    env = {"FASTCORN_TIMEOUT_KEEP_ALIVE": "2", "FASTCORN_TIMEOUT_WRITE": "2"}
    timeouts = _config(cli.resolve_options([*conf, "--timeout-keep-alive", "3"], env)).timeouts
    assert (timeouts.keep_alive, timeouts.write, timeouts.request_head) == (3.0, 2.0, 1.0)
    assert timeouts.request_body == 60.0  # untouched default
    timeouts = _config(cli.resolve_options(conf, {})).timeouts
    assert (timeouts.keep_alive, timeouts.write) == (1.0, 1.0)


# --------------------------------------------------------------------------------------------
# Errors from a table


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[timeouts]\nkeep_alive = -1\n",
         "fastcorn.toml: timeouts.keep_alive: must not be negative, got -1"),
        ("[server]\nport = 'abc'\n", "fastcorn.toml: server.port: expected an integer, got 'abc'"),
        ("[server]\nloop = 'foo'\n", "fastcorn.toml: server.loop: invalid choice 'foo'"),
        ("[logging]\naccess_log = 'maybe'\n",
         "fastcorn.toml: logging.access_log: expected a boolean"),
        ("[timeouts]\nkeep_alive_x = 1\n",
         "--config: unknown option 'timeouts.keep_alive_x' in fastcorn.toml"),
        ("[timeouts]\ntimeout_keep_alive = 1\n",  # the flat name is not a key of the table
         "--config: unknown option 'timeouts.timeout_keep_alive' in fastcorn.toml"),
        ("[http9]\nmax_streams = 1\n", "--config: unknown table [http9] in fastcorn.toml"),
        ("timeouts = 5\n", "--config: 'timeouts' in fastcorn.toml must be a table"),
        ("port = 1\n[server]\nport = 2\n", "'port' and 'server.port' both set port"),
    ],
)
def test_bad_table_is_one_line_and_exit_2(app_dir: Path, toml: str, needle: str) -> None:
    (app_dir / "fastcorn.toml").write_text(toml)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FASTCORN_")}
    environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-m", "fastcorn", "myapp:app", "--config", "fastcorn.toml"],
        cwd=app_dir, env=environ, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fastcorn: error: ") and needle in lines[0], lines[0]
    assert result.stdout == ""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "myapp.py").write_text("async def app(scope, receive, send):\n    pass\n")
    return tmp_path


# --------------------------------------------------------------------------------------------
# Config and the groups in Python


def test_config_from_flat_names_and_groups() -> None:
    config = Config(app="m:app", port=9, timeout_keep_alive=5, bind=["a:1"])
    assert config.app == "m:app"
    assert config.server.port == 9 and config.server.bind == ("a:1",)
    assert config.timeouts.keep_alive == 5.0 and isinstance(config.timeouts.keep_alive, float)
    # Options are read from their groups only: no flat attribute, no __getattr__ fallback.
    for option in OPTIONS:
        if option.group is not None and option.name not in GROUPS:  # http2, --ws: the group
            assert not hasattr(config, option.name), option.name

    # A whole group, with flat options of the same group on top of it.
    config = Config(timeouts=TimeoutSettings(keep_alive=1, write=2), timeout_write=3)
    assert config.timeouts == TimeoutSettings(keep_alive=1, write=3)

    with pytest.raises(ConfigError, match=r"^unknown option 'prot'$"):
        Config(prot=1)
    with pytest.raises(ConfigError, match=r"^unknown option 'config'$"):
        Config(config="x.toml")
    with pytest.raises(ConfigError, match=r"^timeouts: expected a TimeoutSettings"):
        Config(timeouts={"keep_alive": 1})
    with pytest.raises(ConfigError, match=r"^--timeout-keep-alive: must not be negative"):
        Config(timeout_keep_alive=-1)
    # None only where the field's type allows it.
    with pytest.raises(ConfigError, match=r"^--port: expected a value, got None$"):
        Config(port=None)
    assert Config(fd=None, limit_concurrency=None, log_config=None).server.fd is None


def test_groups_are_frozen_checked_dataclasses() -> None:
    settings = TimeoutSettings(keep_alive=5)
    assert settings.keep_alive == 5.0 and isinstance(settings.keep_alive, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.keep_alive = 1  # type: ignore[misc]
    # Built directly, a group checks its values as the command line does.
    with pytest.raises(ConfigError, match=r"^--timeout-keep-alive: must not be negative"):
        TimeoutSettings(keep_alive=-1)
    with pytest.raises(ConfigError, match=r"^--limit-request-head: must be a positive"):
        HTTP1Settings(limit_request_head=0)
    with pytest.raises(ConfigError, match=r"^--loop: invalid choice 'foo'"):
        ServerSettings(loop="foo")
    assert ServerSettings(bind=["a:1"]).bind == ("a:1",)  # type: ignore[arg-type]
    # Equal settings compare equal and hash alike (a core may key on them).
    assert hash(HTTP1Settings()) == hash(HTTP1Settings())


# --------------------------------------------------------------------------------------------
# mypy sees the groups' types


def _mypy(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports",
         "--cache-dir", str(tmp_path / "mypy_cache"), str(snippet)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )


def test_mypy_types_the_groups(tmp_path: Path) -> None:
    good = _mypy(tmp_path, """
        from typing import assert_type

        from fastcorn.config import Config

        config = Config(port=1)
        assert_type(config.http1.limit_request_head, int)
        assert_type(config.timeouts.keep_alive, float)
        assert_type(config.server.bind, tuple[str, ...])
        assert_type(config.limits.concurrency, int | None)
        assert_type(config.logging.access_log, bool)
        """)
    assert good.returncode == 0, good.stdout + good.stderr

    typo = _mypy(tmp_path, """
        from fastcorn.config import Config

        config = Config(port=1)
        print(config.http1.limit_request_hed)
        """)
    assert typo.returncode == 1, typo.stdout + typo.stderr
    assert '"HTTP1Settings" has no attribute "limit_request_hed"' in typo.stdout, typo.stdout

    flat = _mypy(tmp_path, """
        from fastcorn.config import Config

        print(Config(port=1).timeout_keep_alive)
        """)
    assert flat.returncode == 1, flat.stdout + flat.stderr
    assert '"Config" has no attribute "timeout_keep_alive"' in flat.stdout, flat.stdout


# --------------------------------------------------------------------------------------------
# Choices from their registries; backend dispatch


def test_loop_and_log_level_choices_come_from_their_registries() -> None:
    assert OPTIONS_BY_NAME["loop"].choices == ("auto", *backends.LOOPS)
    assert set(backends.LOOPS) == {"asyncio", "uvloop", "trio"}
    assert OPTIONS_BY_NAME["log_level"].choices == tuple(LEVELS)
    help_text = cli.build_parser().format_help()
    assert "{" + ",".join(("auto", *backends.LOOPS)) + "}" in help_text
    assert "{" + ",".join(LEVELS) + "}" in help_text


def test_registry_loads_each_backend_module() -> None:
    for name, entry in backends.LOOPS.items():
        module = backends.load_backend(name)
        assert module.__name__ == entry.module
        assert callable(module.run) and callable(module.serve)
    assert backends.load_backend("uvloop") is backends.load_backend("asyncio")
    assert backends.load_backend("trio").__name__ == "fastcorn.backends.trio"
    with pytest.raises(backends.BackendUnavailable, match=r"^--loop: unknown loop 'foo'"):
        backends.load_backend("foo")


def test_registry_tells_the_running_loop() -> None:
    import trio
    import uvloop

    async def which() -> str:
        return backends.running_loop()

    assert asyncio.run(which()) == "asyncio"
    assert uvloop.run(which()) == "uvloop"
    assert trio.run(which) == "trio"
    with pytest.raises(RuntimeError, match="no running event loop"):
        backends.running_loop()
