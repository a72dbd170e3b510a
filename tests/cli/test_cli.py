"""The ``fastcorn`` command: user errors, option precedence, app import and ASGI 2/3 detection.

No server is started here: the error cases all stop before ``fastcorn.server.run``, and the
in-process tests replace ``fastcorn.server`` with a stub that records the Config.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

import fastcorn
from fastcorn import cli
from fastcorn.config import OPTIONS, ConfigError
from fastcorn.importer import AppImportError, asgi3, import_from_string, is_asgi2, load_app
from tests.logging_state import saved_logging

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------
# The real command, as a subprocess


def _commands() -> list[Any]:
    commands: list[Any] = [pytest.param([sys.executable, "-m", "fastcorn"], id="python-m")]
    script = shutil.which("fastcorn")
    if script is not None:
        commands.append(pytest.param([script], id="console-script"))
    return commands


@pytest.fixture(params=_commands())
def fastcorn_cmd(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A directory holding small app modules, some of them broken on purpose."""
    (tmp_path / "myapp.py").write_text(
        textwrap.dedent(
            """
            async def app(scope, receive, send):
                pass

            def factory():
                return app

            not_callable = 3
            """
        )
    )
    (tmp_path / "needs_dep.py").write_text("import fastcorn_no_such_dependency\napp = None\n")
    (tmp_path / "raises.py").write_text("raise RuntimeError('boom at import')\n")
    return tmp_path


def _run(
    cmd: list[str], args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FASTCORN_")}
    environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p
    )
    environ.update(env or {})
    return subprocess.run(
        cmd + args, cwd=cwd, env=environ, capture_output=True, text=True, timeout=30
    )


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fastcorn: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["fastcorn_no_such_module:app"], ["cannot import module 'fastcorn_no_such_module'"]),
        (["fastcorn_no_such_pkg.sub:app"], ["cannot import module 'fastcorn_no_such_pkg.sub'"]),
        (["myapp:nope"], ["module 'myapp' has no attribute 'nope'"]),
        (["myapp:app.nope"], ["module 'myapp' has no attribute 'app.nope'"]),
        (["myapp"], ["app path must be 'module:attribute', got 'myapp'"]),
        (["myapp:"], ["app path must be 'module:attribute'"]),
        ([":app"], ["app path must be 'module:attribute'"]),
        (["myapp:not_callable"], ["'myapp:not_callable' is not callable"]),
        (["myapp:factory"], ["takes no arguments", "--factory"]),
        (["myapp:not_callable", "--factory"], ["--factory", "not callable"]),
        ([], ["no app given"]),
        (["myapp:app", "--port", "70000"], ["--port: port must be between 0 and 65535, got 70000"]),
        (["myapp:app", "--port", "abc"], ["--port: expected an integer, got 'abc'"]),
        (["myapp:app", "--port=-1"], ["--port", "-1"]),
        (["myapp:app", "--port"], ["--port: expected one argument"]),
        (["myapp:app", "--backlog", "0"], ["--backlog", "positive"]),
        (["myapp:app", "--timeout-keep-alive", "nan"], ["--timeout-keep-alive", "'nan'"]),
        (["myapp:app", "--bogus"], ["--bogus: unknown option"]),
        (["myapp:app", "--prot", "80"], ["--prot: unknown option", "did you mean --port?"]),
        (["myapp:app", "--po", "80"], ["--po: unknown option"]),  # no abbreviations
        (["myapp:app", "extra"], ["unexpected argument 'extra'"]),
        (["myapp:app", "--loop", "foo"], ["--loop: invalid choice 'foo'", "trio"]),
        (["myapp:app", "--log-level", "loud"], ["--log-level: invalid choice 'loud'"]),
        (["myapp:app", "--access-log=3"], ["--access-log"]),
        (["myapp:app", "--bind", "nowhere"], ["--bind: expected HOST:PORT", "'nowhere'"]),
        (["myapp:app", "--bind", "h:99999"], ["--bind: expected HOST:PORT"]),
        (["myapp:app", "--bind", "unix:"], ["--bind: expected unix:PATH"]),
        # Logging is configured before the app is imported: its import never runs here.
        (["raises:app", "--log-config", "absent.json"],
         ["--log-config: cannot read absent.json"]),
    ],
)
def test_command_line_errors(
    fastcorn_cmd: list[str], app_dir: Path, args: list[str], needles: list[str]
) -> None:
    _assert_one_line_error(_run(fastcorn_cmd, args, cwd=app_dir), *needles)


@pytest.mark.parametrize(
    ("toml", "needles"),
    [
        ("bogus = 1\n", ["--config: unknown option 'bogus'", "fastcorn.toml"]),
        ("config = 'other.toml'\n", ["--config: unknown option 'config'"]),
        ("port = 70000\n", ["fastcorn.toml: port: port must be between 0 and 65535"]),
        ("port = 'abc'\n", ["fastcorn.toml: port: expected an integer, got 'abc'"]),
        ("host = 1\n", ["fastcorn.toml: host: expected a string"]),
        ("loop = 'foo'\n", ["fastcorn.toml: loop: invalid choice 'foo'"]),
        ("access_log = 'maybe'\n", ["fastcorn.toml: access_log: expected a boolean"]),
        ("port = \n", ["--config:", "is not valid TOML"]),
        ("[tool.black]\nline-length = 1\n", ["no [tool.fastcorn] table"]),
        ("app = 'fastcorn_no_such_module:app'\n", ["cannot import module"]),
    ],
)
def test_bad_config_file(
    fastcorn_cmd: list[str], app_dir: Path, toml: str, needles: list[str]
) -> None:
    (app_dir / "fastcorn.toml").write_text(toml)
    args = ["--config", "fastcorn.toml"]
    if "app =" not in toml:
        args.insert(0, "myapp:app")
    _assert_one_line_error(_run(fastcorn_cmd, args, cwd=app_dir), *needles)


def test_missing_config_file(fastcorn_cmd: list[str], app_dir: Path) -> None:
    result = _run(fastcorn_cmd, ["myapp:app", "--config", "absent.toml"], cwd=app_dir)
    _assert_one_line_error(result, "--config: cannot read absent.toml")


@pytest.mark.parametrize(
    ("env", "needles"),
    [
        ({"FASTCORN_PORT": "abc"}, ["FASTCORN_PORT: expected an integer, got 'abc'"]),
        ({"FASTCORN_PORT": "70000"}, ["FASTCORN_PORT: port must be between 0 and 65535"]),
        ({"FASTCORN_ACCESS_LOG": "maybe"}, ["FASTCORN_ACCESS_LOG: expected a boolean"]),
        ({"FASTCORN_LOOP": "foo"}, ["FASTCORN_LOOP: invalid choice 'foo'"]),
        ({"FASTCORN_LOG_CONFIG": "absent.ini"}, ["--log-config: cannot read absent.ini"]),
        ({"FASTCORN_BIND": "a:1,nowhere"}, ["FASTCORN_BIND: expected HOST:PORT"]),
        ({"FASTCORN_APP": "myapp:nope"}, ["module 'myapp' has no attribute 'nope'"]),
    ],
)
def test_bad_environment(
    fastcorn_cmd: list[str], app_dir: Path, env: dict[str, str], needles: list[str]
) -> None:
    args = [] if "FASTCORN_APP" in env else ["myapp:app"]
    _assert_one_line_error(_run(fastcorn_cmd, args, cwd=app_dir, env=env), *needles)


@pytest.mark.parametrize(
    ("module", "error"),
    [("needs_dep", "ModuleNotFoundError"), ("raises", "RuntimeError")],
)
def test_error_inside_app_module_shows_traceback(
    fastcorn_cmd: list[str], app_dir: Path, module: str, error: str
) -> None:
    # The user's own code failed: they need the traceback, then our one-line summary.
    result = _run(fastcorn_cmd, [f"{module}:app"], cwd=app_dir)
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"fastcorn: error: importing app '{module}:app' raised {error}")


def test_app_dir_option(fastcorn_cmd: list[str], app_dir: Path, tmp_path_factory: Any) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = _run(fastcorn_cmd, ["myapp:nope", "--app-dir", str(app_dir)], cwd=elsewhere)
    _assert_one_line_error(result, "module 'myapp' has no attribute 'nope'")


def test_help_and_version(fastcorn_cmd: list[str], tmp_path: Path) -> None:
    result = _run(fastcorn_cmd, ["--help"], cwd=tmp_path)
    assert result.returncode == 0
    assert "FASTCORN_PORT" in result.stdout and "--no-access-log" in result.stdout
    result = _run(fastcorn_cmd, ["--version"], cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("fastcorn ")


# --------------------------------------------------------------------------------------------
# main() in-process, with fastcorn.server replaced by a stub


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("FASTCORN_"):
            monkeypatch.delenv(key)


@pytest.fixture
def restore_logging() -> Any:
    # main() configures logging before it imports the app.
    with saved_logging():
        yield


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> list[Any]:
    calls: list[Any] = []

    def run(config: Any) -> int:
        calls.append(config)
        return 3

    module = types.ModuleType("fastcorn.server")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fastcorn.server", module)
    monkeypatch.setattr(fastcorn, "server", module, raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    return calls


def _write_module(directory: Path, body: str) -> str:
    name = f"fastcorn_test_app_{directory.name.replace('-', '_')}"
    (directory / f"{name}.py").write_text(textwrap.dedent(body))
    return name


def test_main_passes_asgi3_app_and_options_to_server(
    tmp_path: Path, fake_server: list[Any], clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _write_module(
        tmp_path,
        """
        class App:  # ASGI 2
            def __init__(self, scope):
                self.scope = scope

            async def __call__(self, receive, send):
                await send({"type": "seen", "path": self.scope["path"]})
        """,
    )
    monkeypatch.setenv("FASTCORN_PORT", "9")
    code = cli.main([f"{name}:App", "--app-dir", str(tmp_path), "--no-access-log"])
    assert code == 3
    (config,) = fake_server
    assert config.server.port == 9 and config.logging.access_log is False
    assert config.server.factory is False
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {}

    asyncio.run(config.app({"path": "/x"}, receive, send))
    assert sent == [{"type": "seen", "path": "/x"}]
    sys.modules.pop(name, None)


def test_main_factory_is_called_once(
    tmp_path: Path, fake_server: list[Any], clean_env: None
) -> None:
    name = _write_module(
        tmp_path,
        """
        calls = []

        async def app(scope, receive, send):
            pass

        def make():
            calls.append(1)
            return app
        """,
    )
    assert cli.main([f"{name}:make", "--factory", "--app-dir", str(tmp_path)]) == 3
    (config,) = fake_server
    module = sys.modules.pop(name)
    assert config.app is module.app
    assert module.calls == [1]
    assert config.server.factory is False  # already applied: the server must not call it again


@pytest.mark.parametrize("backend", ["trio", "uvloop"])
def test_missing_backend_extra(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
    fake_server: list[Any],
    backend: str,
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == backend else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert cli.main(["myapp:app", "--loop", backend]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"fastcorn: error: --loop {backend} needs the '{backend}' extra: "
        f"pip install 'fastcorn[{backend}]'\n"
    )
    assert fake_server == []


def test_main_import_error_is_exit_2_without_starting(
    capsys: pytest.CaptureFixture[str], clean_env: None, fake_server: list[Any]
) -> None:
    assert cli.main(["fastcorn_no_such_module:app"]) == 2
    assert capsys.readouterr().err == (
        "fastcorn: error: cannot import module 'fastcorn_no_such_module'\n"
    )
    assert fake_server == []


# --------------------------------------------------------------------------------------------
# Option machinery and precedence


def test_every_option_is_declared_completely() -> None:
    help_text = " ".join(cli.build_parser().format_help().split())
    for option in OPTIONS:
        assert option.flag == "--" + option.name.replace("_", "-")
        assert option.env == "FASTCORN_" + option.name.upper()
        assert option.help.strip()
        if option.name != "app":
            assert option.flag in help_text
        if option.name != "config":
            assert option.env in help_text
        if option.choices:
            assert "{" + ",".join(option.choices) + "}" in help_text
        if option.default is not None:
            assert option.convert(option.default) == option.default


def test_defaults() -> None:
    values = cli.resolve_options([], {})
    expected = {o.name: o.default for o in OPTIONS if o.name != "config"}
    assert values == expected
    assert values["app"] is None and "config" not in values


def test_precedence_defaults_toml_env_cli(tmp_path: Path) -> None:
    toml = tmp_path / "fastcorn.toml"
    toml.write_text(
        "app = 'from_toml:app'\nport = 1\nhost = '10.0.0.1'\naccess-log = false\n"
        "timeout_keep_alive = 5\nbind = ['toml:1']\n"
    )
    conf = ["--config", str(toml)]
    env = {"FASTCORN_PORT": "2", "FASTCORN_APP": "from_env:app", "FASTCORN_BIND": "e:1,e:2"}

    values = cli.resolve_options(conf, {})
    assert values["app"] == "from_toml:app"
    assert (values["port"], values["host"], values["access_log"]) == (1, "10.0.0.1", False)
    assert values["timeout_keep_alive"] == 5.0 and isinstance(values["timeout_keep_alive"], float)
    assert values["bind"] == ["toml:1"]
    assert values["backlog"] == 2048  # untouched default

    values = cli.resolve_options(conf, env)
    assert (values["app"], values["port"], values["host"]) == ("from_env:app", 2, "10.0.0.1")
    assert values["bind"] == ["e:1", "e:2"]

    values = cli.resolve_options(
        [*conf, "from_cli:app", "--port", "3", "--access-log", "--bind", "c:1", "--bind", "c:2"],
        env,
    )
    assert (values["app"], values["port"], values["access_log"]) == ("from_cli:app", 3, True)
    assert values["bind"] == ["c:1", "c:2"]


def test_bool_flags_both_ways() -> None:
    assert cli.resolve_options(["--no-server-header"], {})["server_header"] is False
    env = {"FASTCORN_SERVER_HEADER": "off"}
    assert cli.resolve_options([], env)["server_header"] is False
    assert cli.resolve_options(["--server-header"], env)["server_header"] is True


def test_config_is_not_read_from_env(tmp_path: Path) -> None:
    values = cli.resolve_options([], {"FASTCORN_CONFIG": str(tmp_path / "absent.toml")})
    assert values["port"] == 8000


def test_pyproject_tool_table(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[project]\nname = 'x'\n[tool.fastcorn]\nport = 4\napp-dir = 'src'\n")
    values = cli.resolve_options(["--config", str(pyproject)], {})
    assert values["port"] == 4 and values["app_dir"] == "src"


def test_cli_errors_are_config_or_usage_errors() -> None:
    with pytest.raises(ConfigError, match=r"^--port: port must be"):
        cli.resolve_options(["--port", "70000"], {})
    with pytest.raises(cli.UsageError, match=r"^--nope: unknown option$"):
        cli.resolve_options(["--nope"], {})


# --------------------------------------------------------------------------------------------
# importer


class Asgi2App:
    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        await send({"type": "asgi2", "scope": self.scope})


async def asgi3_function(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "asgi3"})


class Asgi3Instance:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "asgi3-instance"})


class AwaitableAsgi3Class:
    def __init__(self, scope: Any, receive: Any, send: Any) -> None:
        self.send = send

    def __await__(self) -> Any:
        return self.send({"type": "awaitable-class"}).__await__()


def asgi2_function(scope: Any) -> Any:
    async def instance(receive: Any, send: Any) -> None:
        await send({"type": "asgi2-function"})

    return instance


def _call(app: Any) -> list[Any]:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {}

    async def main() -> None:
        await app({"type": "http"}, receive, send)

    asyncio.run(main())
    return sent


def test_asgi2_class_is_wrapped() -> None:
    assert is_asgi2(Asgi2App)
    app = asgi3(Asgi2App)
    assert app is not Asgi2App
    assert _call(app) == [{"type": "asgi2", "scope": {"type": "http"}}]
    assert asgi3(app) is app  # wrapping is idempotent


def test_asgi2_function_is_wrapped() -> None:
    assert is_asgi2(asgi2_function)
    assert _call(asgi3(asgi2_function)) == [{"type": "asgi2-function"}]


@pytest.mark.parametrize(
    "app",
    [
        asgi3_function,
        Asgi3Instance(),
        AwaitableAsgi3Class,
        functools.partial(asgi3_function),
        Asgi3Instance().__call__,
    ],
    ids=["function", "instance", "awaitable-class", "partial", "bound-method"],
)
def test_asgi3_apps_are_returned_unchanged(app: Any) -> None:
    assert not is_asgi2(app)
    assert asgi3(app) is app
    assert len(_call(app)) == 1


def test_import_from_string(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    pkg = tmp_path / "fastcorn_test_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text("class obj:\n    app = 'found'\n")
    (pkg / "broken.py").write_text("import fastcorn_no_such_dependency\n")
    try:
        assert import_from_string("fastcorn_test_pkg.mod:obj.app", str(tmp_path)) == "found"
        assert sys.path[0] == str(tmp_path)
        with pytest.raises(AppImportError, match=r"^cannot import module 'fastcorn_test_pkg.x'$"):
            import_from_string("fastcorn_test_pkg.x:app", str(tmp_path))
        with pytest.raises(ModuleNotFoundError, match="fastcorn_no_such_dependency"):
            import_from_string("fastcorn_test_pkg.broken:app", str(tmp_path))
        with pytest.raises(AppImportError, match=r"has no attribute 'obj.nope'$"):
            import_from_string("fastcorn_test_pkg.mod:obj.nope", str(tmp_path))
        for bad in ("mod", "mod:", ":app", ".mod:app", ""):
            with pytest.raises(AppImportError, match="must be 'module:attribute'"):
                import_from_string(bad)
    finally:
        for name in list(sys.modules):
            if name.startswith("fastcorn_test_pkg"):
                del sys.modules[name]


def test_load_app_object_and_factory() -> None:
    assert load_app(asgi3_function) is asgi3_function
    assert load_app(lambda: Asgi2App, factory=True) is not Asgi2App
    assert _call(load_app(lambda: Asgi2App, factory=True))[0]["type"] == "asgi2"
    with pytest.raises(AppImportError, match="not callable"):
        load_app(42)
    with pytest.raises(AppImportError, match="--factory"):
        load_app(42, factory=True)
    with pytest.raises(AppImportError, match="pass --factory"):
        load_app(lambda: asgi3_function)
