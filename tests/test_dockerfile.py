"""The container image, checked without a Docker engine.

The Dockerfile is parsed and its promises checked (non-root, health check, port,
command, environment-only configuration). Then the build stage is replayed for real:
the files its COPY lines take from the build context (after .dockerignore) go into a
temporary directory, and its RUN lines run there as written, with only the absolute
paths moved under the temporary directory. The installed console script must work.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEALTH_URL = "http://127.0.0.1:3978/healthz"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int

    def exec_form(self) -> list[str] | None:
        """The JSON array form (`CMD ["a", "b"]`), or None for the shell form."""
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) else None


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuations joined and comments dropped, as Docker reads them."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        if not full:
            continue
        keyword, _, args = full.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, " ".join(args.split()), stage))
    return instructions


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax: `*` within a path segment, `**` across segments."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def is_ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Last matching rule wins; a rule matching a parent directory matches its contents."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for negated, regex in rules:
        if any(regex.match(c) for c in candidates):
            ignored = not negated
    return ignored


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!")).lstrip("/")
        rules.append((negated, _dockerignore_regex(pattern)))
    return rules


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


def _final(instructions: list[Instruction], keyword: str) -> list[Instruction]:
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last and i.keyword == keyword]


def test_small_python_base(instructions: list[Instruction]) -> None:
    froms = [i.args.split()[0] for i in instructions if i.keyword == "FROM"]
    assert froms and all(f == "python:3.11-slim" for f in froms)


def test_runs_as_a_non_root_user(instructions: list[Instruction]) -> None:
    users = _final(instructions, "USER")
    assert users, "the final stage sets USER"
    user = users[-1].args.split(":")[0]
    assert user not in {"root", "0"}
    created = " ".join(i.args for i in _final(instructions, "RUN"))
    assert re.search(rf"useradd\b.*\b{re.escape(user)}\b", created), "the user is created"
    final = [i for i in instructions if i.stage == users[-1].stage]
    assert final.index(users[-1]) < final.index(_final(instructions, "CMD")[-1])


def test_exposes_the_bot_port_and_serves_on_all_interfaces(
    instructions: list[Instruction],
) -> None:
    assert "3978" in " ".join(i.args for i in _final(instructions, "EXPOSE")).split()
    (cmd,) = _final(instructions, "CMD")
    assert cmd.exec_form() == ["whoknows", "serve", "--host", "0.0.0.0"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "whoknows" in scripts


def test_configuration_comes_from_the_environment_only(instructions: list[Instruction]) -> None:
    """No setting or secret is baked into the image: they come from `docker run -e`."""
    for inst in instructions:
        if inst.keyword in {"ENV", "ARG"}:
            assert not re.search(r"WHOKNOWS_|MicrosoftApp", inst.args), inst
    rules = dockerignore_rules()
    for secret in (".env", "bot/.env", "whoknows.db", "demo.db"):
        assert is_ignored(secret, rules), f"{secret} would be sent to the Docker daemon"


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _run_healthcheck(instructions: list[Instruction], url: str) -> int:
    (check,) = _final(instructions, "HEALTHCHECK")
    argv = json.loads(check.args.split("CMD ", 1)[1])
    assert argv[0] == "python", "the probe needs nothing but the image's Python"
    assert HEALTH_URL in " ".join(argv)
    argv = [sys.executable, *[a.replace(HEALTH_URL, url) for a in argv[1:]]]
    return subprocess.run(argv, capture_output=True, timeout=30).returncode


def test_healthcheck_probes_healthz(
    instructions: list[Instruction], health_server: http.server.HTTPServer
) -> None:
    port = health_server.server_address[1]
    url = f"http://127.0.0.1:{port}/healthz"
    _Health.status = 200
    assert _run_healthcheck(instructions, url) == 0
    _Health.status = 503
    assert _run_healthcheck(instructions, url) != 0
    _Health.status = 200
    assert _run_healthcheck(instructions, url.replace("/healthz", "/missing")) != 0


def test_healthcheck_fails_when_nothing_listens(instructions: list[Instruction]) -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert _run_healthcheck(instructions, f"http://127.0.0.1:{port}/healthz") != 0


def test_dockerignore_keeps_the_context_small(instructions: list[Instruction]) -> None:
    rules = dockerignore_rules()
    for heavy in (".venv/bin/python", "node_modules/ajv/package.json", ".git/HEAD", "tests/x.py"):
        assert is_ignored(heavy, rules), heavy
    for inst in instructions:
        if inst.keyword == "COPY" and not inst.args.startswith("--from"):
            for source in inst.args.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: missing from the repository"
                assert not is_ignored(source.rstrip("/"), rules), f"{source} is .dockerignored"
    assert is_ignored("bot/__pycache__/cli.cpython-311.pyc", rules)
    assert not is_ignored("cli/main.py", rules)


# --- the build stage, replayed -------------------------------------------------------


@dataclass
class Replay:
    root: Path
    venv: Path
    copied: list[str]


def _replay_build_stage(instructions: list[Instruction], root: Path) -> Replay:
    """Run the first stage's COPY, WORKDIR, ENV and RUN lines under ``root``."""
    stage = [i for i in instructions if i.stage == 0]
    runs = [i.args for i in stage if i.keyword == "RUN"]
    venv_paths = {m for r in runs for m in re.findall(r"python -m venv (\S+)", r)}
    assert len(venv_paths) == 1, "the build stage creates one virtual environment"
    venv_in_image = venv_paths.pop()
    final_copy = [i.args.split() for i in instructions if i.keyword == "COPY" and i.stage > 0]
    assert ["--from=build", venv_in_image, venv_in_image] in final_copy, (
        "the virtual environment is copied to the same path (its scripts hold absolute paths)"
    )

    def move(text: str) -> str:
        return text.replace(venv_in_image, str(root / venv_in_image.lstrip("/")))

    rules = dockerignore_rules()
    bin_dir = root / "host-bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHOKNOWS_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    workdir = root
    copied: list[str] = []
    for inst in stage:
        if inst.keyword == "WORKDIR":
            workdir = root / inst.args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif inst.keyword == "ENV":
            for item in shlex.split(inst.args):
                key, _, value = item.partition("=")
                env[key] = value
        elif inst.keyword == "COPY":
            *sources, dest = inst.args.split()
            for source in sources:
                copied += _copy_context(source, workdir / dest, rules)
        elif inst.keyword == "RUN":
            run = subprocess.run(
                ["/bin/sh", "-c", move(inst.args)],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert run.returncode == 0, f"RUN {inst.args} failed:\n{run.stdout}\n{run.stderr}"
    return Replay(root, root / venv_in_image.lstrip("/"), copied)


def _copy_context(source: str, dest: Path, rules: list[tuple[bool, re.Pattern[str]]]) -> list[str]:
    """Copy what Docker would send: files under ``source`` that .dockerignore keeps."""
    origin = ROOT / source
    files = [origin] if origin.is_file() else sorted(p for p in origin.rglob("*") if p.is_file())
    copied = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if is_ignored(rel, rules):
            continue
        target = dest / path.name if origin.is_file() else dest / path.relative_to(origin)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copied.append(rel)
    return copied


@pytest.fixture(scope="module")
def replay(instructions: list[Instruction], tmp_path_factory: pytest.TempPathFactory) -> Replay:
    return _replay_build_stage(instructions, tmp_path_factory.mktemp("image"))


def _clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WHOKNOWS_", "PYTHON", "Microsoft")) and k != "VIRTUAL_ENV"
    }


def test_install_steps_install_the_whoknows_command(replay: Replay) -> None:
    script = replay.venv / "bin" / "whoknows"
    assert script.is_file()
    assert "from cli.main import main" in script.read_text()
    assert {"README.md", "pyproject.toml", "cli/main.py", "manifest/color.png"} <= set(
        replay.copied
    )
    assert not [f for f in replay.copied if "__pycache__" in f or f.startswith("tests/")]
    installed = list(replay.venv.glob("lib/python*/site-packages/manifest"))
    assert len(installed) == 1, installed
    for asset in ("manifest.template.json", "color.png", "outline.png"):
        assert (installed[0] / asset).is_file()


def test_the_installed_command_runs_outside_the_source_tree(replay: Replay, tmp_path: Path) -> None:
    """The image has no source tree: the installed package alone must work."""
    whoknows = str(replay.venv / "bin" / "whoknows")
    where = subprocess.run(
        [str(replay.venv / "bin" / "python"), "-c", "import bot; print(bot.__file__)"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(replay.venv)), where.stdout
    helped = subprocess.run(
        [whoknows, "--help"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert helped.returncode == 0, helped.stderr
    assert "manifest" in helped.stdout

    # The app package builds from the installed package data, not from a checkout.
    ids = ["--app-id", "2f0c6f1e-8f5b-4c1d-9a57-6b1c3a1d2e4f"]
    ids += ["--bot-id", "7d1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b"]
    ids += ["--domain", "whoknows.contoso.com", "--out", str(tmp_path / "app.zip")]
    built = subprocess.run(
        [whoknows, "manifest", *ids],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "app.zip").stat().st_size > 1000


def test_serve_command_is_available(replay: Replay, tmp_path: Path) -> None:
    """The image's CMD exists in the installed command line."""
    helped = subprocess.run(
        [str(replay.venv / "bin" / "whoknows"), "serve", "--help"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert helped.returncode == 0, helped.stderr
    assert "--host" in helped.stdout
