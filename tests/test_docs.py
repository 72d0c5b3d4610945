"""Every command in README.md, docs/*.md and docs/id/*.md is run or checked, so the
documentation cannot rot.

* Every ``splp ...`` command line in any code block of any language, and every inline
  code span of the prose that starts with ``splp <word>``, must name an existing command
  whose options parse (``tests/doc_commands.py``).
* Every ``sh``/``bash``/``console``/``shell`` block runs, in document order, in bash with
  a prepared environment per file: a throw-away RabbitMQ vhost, a real directory service
  on a free port with a temporary SQLite store (its broker reconciler on, with a user
  prefix of its own), ``SPLP_VHOST``, ``SPLP_DIRECTORY_URL``, ``SPLP_TOKEN`` (an
  administrator), ``SPLP_DATABASE_URL``, ``AGENCY_PORT`` (a free port for the sample
  agency API), a temporary working directory that links the checkout's ``splp/``,
  ``schemas/`` and ``examples/`` and holds a copy of ``docs/``, and ``.venv/bin`` first
  on ``PATH``. Each block must exit 0. Processes a block leaves in the background are
  stopped after the file.
  Blocks for other machines (a production cluster, Docker) are fenced ``text``/``ini``/
  ``yaml``: validated, not run.
* Every Pasal 32(2) page of the index (docs/README.md) has its Bahasa Indonesia
  counterpart in docs/id/ under the same name, linked from the same row, with the same
  headings (by level) and the same commands: the same shell lines block by block (their
  comments may be translated) and the same ``splp`` commands in code and prose. Those
  twins' shell blocks are therefore not run a second time here.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from splp.http_server import free_port
from tests.cluster_nodes import Cluster
from tests.conftest import BASE, management_endpoint
from tests.doc_commands import (
    SHELL_LANGUAGES,
    Block,
    cli_problem,
    code_blocks,
    english_pages,
    inline_arguments,
    inline_commands,
    normalise,
    splp_commands,
)
from tests.logcapture import SECRETS

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_SECRET = SECRETS.add("docs-gateway-secret-of-the-regency-0123456789", "gateway secret")
VENV_BIN = Path(sys.executable).parent
DOCS = ROOT / "docs"
DOCUMENTS = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), *sorted((DOCS / "id").glob("*.md"))]


def doc_id(path: Path) -> str:
    """``cli.md`` for an English page, ``id/cli.md`` for its Indonesian counterpart."""
    return path.relative_to(DOCS).as_posix() if path.is_relative_to(DOCS) else path.name


# Lines of executed blocks that are not run here, each with the reason and what covers it.
EXEMPT = {
    # README's quick start runs the suite's own set-up and the demo: it would recurse into
    # this suite (test.sh) or take minutes. `splp demo` is run by tests/test_cli.py;
    # scripts/setup.sh by every CI run (.ci/run calls scripts/test.sh).
    "bash scripts/demo.sh": "runs splp demo (tests/test_cli.py runs `splp demo`)",
    "bash scripts/test.sh": "runs this whole suite (CI runs it through .ci/run)",
    # The suite already runs inside the clone; `<this repository>` is a placeholder.
    "git clone <this repository> splp && cd splp": "placeholder URL; the suite runs in the clone",
}

# The sample service (the directory knows it, an adapter serves it) for documents whose
# examples assume a running bus, as the README's `splp call` does after `scripts/demo.sh`.
NEEDS_SAMPLE_SERVICE = {"README.md", "requester-guide.md"}
# Documents whose examples run on the 3-node cluster of scripts/cluster.sh (started once per
# session by the `cluster` fixture; their blocks' `up` finds it running).
NEEDS_CLUSTER = {"installation.md"}


def bare(line: str) -> str:
    """A shell line without its trailing comment and surrounding blanks."""
    return re.sub(r"\s+#.*$", "", line).strip()


def shell_blocks(path: Path) -> list[Block]:
    return [b for b in code_blocks(path) if b.language in SHELL_LANGUAGES]


def runnable(block: Block) -> str:
    """The block's code less its exempt lines; a ``console`` block less prompts and output."""
    lines = []
    for line in block.code.splitlines():
        if block.language == "console":
            if not line.startswith("$ "):
                continue
            line = line[2:]
        lines.append("# exempt: " + line if bare(line) in EXEMPT else line)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- validation


def command_problems(path: Path) -> list[str]:
    problems = []
    for block in code_blocks(path):
        for args in splp_commands(block.code):
            # a diagram names commands, as the prose does
            problem = cli_problem(normalise(args), reference=block.language == "mermaid")
            if problem:
                problems.append(f"{block.where} ({block.language or 'indented'}): {problem}")
    for span in inline_commands(path):
        problem = cli_problem(normalise(inline_arguments(span)), reference=True)
        if problem:
            problems.append(f"{path.name} (prose): {problem}")
    return problems


@pytest.mark.parametrize("path", DOCUMENTS, ids=doc_id)
def test_every_documented_splp_command_exists(path: Path) -> None:
    problems = command_problems(path)
    assert not problems, "documented commands the CLI does not accept:\n" + "\n".join(problems)


def test_exemptions_are_still_in_the_documents() -> None:
    """An exemption whose line left the docs must leave this list too."""
    lines = {
        bare(line)
        for path in DOCUMENTS
        for block in shell_blocks(path)
        for line in block.code.splitlines()
    }
    assert not set(EXEMPT) - lines, f"stale exemptions: {sorted(set(EXEMPT) - lines)}"


def test_validation_catches_a_command_that_does_not_exist(tmp_path: Path) -> None:
    doc = tmp_path / "broken.md"
    doc.write_text(
        "Run `splp directory vacuum` first.\n\n```text\nsplp party add x --role publisher"
        " --colour red\n```\n\n```sh\nsplp audit verify --anchor 1:ab\n```\n",
        encoding="utf-8",
    )
    problems = command_problems(doc)
    assert len(problems) == 2, problems
    assert "no command 'splp directory vacuum'" in "\n".join(problems)
    assert "No such option: --colour" in "\n".join(problems)


# --------------------------------------------------------------------------- execution


# One block after the other, as in one terminal: the variables a block sets (exported or
# not) are there in the next. $1 is the block, $2 the file that carries the variables.
SESSION = r"""
__before="$(compgen -v | sort)"
if [ -f "$2" ]; then source "$2"; fi
trap '__rc=$?; comm -13 <(echo "$__before") <(compgen -v | sort) | grep -v "^__" |
      while read -r name; do declare -p "$name"; done > "$2"; exit $__rc' EXIT
set -euo pipefail
source "$1"
"""


@dataclass
class DocEnvironment:
    env: dict[str, str]
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        with (self.workdir / log).open("wb") as out:
            process = subprocess.Popen(
                args, cwd=self.workdir, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def splp(self, *args: str, token: str | None = None) -> str:
        env = dict(self.env, SPLP_TOKEN=token) if token else self.env
        done = subprocess.run(
            [str(VENV_BIN / "splp"), *args], cwd=self.workdir, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, f"splp {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def run_block(self, block: Block) -> subprocess.CompletedProcess[str]:
        script = self.workdir.parent / "block.sh"
        script.write_text(runnable(block), encoding="utf-8")
        process = subprocess.Popen(
            ["bash", "-c", SESSION, "block", str(script), str(self.workdir.parent / "state.sh")],
            cwd=self.workdir,
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        self.processes.append(process)  # its background jobs share its process group
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            output += "\n(timed out after 60 s)"
        return subprocess.CompletedProcess(process.args, process.returncode, output, None)

    def stop(self) -> None:
        for process in reversed(self.processes):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=10)
                    if sig == signal.SIGTERM:
                        time.sleep(0.2)  # background children of a finished bash
                except subprocess.TimeoutExpired:
                    continue


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} did not start: {log.read_text(errors='replace')}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within 30 s: {log.read_text(errors='replace')}")


def management() -> httpx.Client:
    return httpx.Client(**management_endpoint())


@pytest.fixture
def doc_environment(tmp_path: Path) -> Iterator[DocEnvironment]:
    tag = uuid.uuid4().hex[:8]
    vhost, prefix = f"splp-docs-{tag}", f"docs{tag}-"
    admin_user = httpx.URL(BASE.management_url).username or "guest"
    with management() as api:
        api.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
        api.put(
            f"/api/permissions/{quote(vhost, safe='')}/{quote(admin_user, safe='')}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()
    workdir = tmp_path / "work"
    workdir.mkdir()
    for name in ("splp", "schemas", "examples", "scripts"):
        if (ROOT / name).exists():
            (workdir / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "docs", workdir / "docs")  # a block may rewrite a page
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPLP_")}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(tmp_path),
        SPLP_VHOST=vhost,
        SPLP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'directory.db'}",
        SPLP_DIRECTORY_URL=f"http://127.0.0.1:{port}",
        SPLP_BROKER_USER_PREFIX=prefix,
        SPLP_CACHE_DIR=str(tmp_path / "cache"),
        AGENCY_PORT=str(free_port()),
        GATEWAY_PORT=str(free_port()),
        SPLP_GATEWAY_SECRET=GATEWAY_SECRET,
        SPLP_GRANTS_REFRESH="1",
        PYTHONUNBUFFERED="1",
    )
    environment = DocEnvironment(env, workdir)
    try:
        token = environment.splp("directory", "init", "--admin", "kominfo").split()[-1]
        env["SPLP_TOKEN"] = token
        server = environment.start(
            [str(VENV_BIN / "splp"), "directory", "serve", "--port", str(port)], "directory.log"
        )
        wait_for(f"{env['SPLP_DIRECTORY_URL']}/openapi.json", server, workdir / "directory.log")
        yield environment
    finally:
        environment.stop()
        with management() as api:
            api.delete(f"/api/vhosts/{quote(vhost, safe='')}")
            for user in api.get("/api/users").json():
                if user["name"].startswith(prefix):
                    api.delete(f"/api/users/{quote(user['name'], safe='')}")


def start_sample_service(environment: DocEnvironment) -> None:
    """The sample population register, published in the directory and served by an adapter."""
    env = environment.env
    environment.splp("theme", "add", "kependudukan", "--title", "Population")
    created = environment.splp("party", "add", "dukcapil", "--role", "publisher", "--json")
    token = re.search(r'"token": "([^"]+)"', created)
    assert token, created
    environment.splp("service", "publish", "splp/demo/penduduk.yaml", token=token.group(1))
    env["DUKCAPIL_TOKEN"] = token.group(1)  # the publisher's, for the grants in the walks
    agency = environment.start(
        [sys.executable, "-m", "uvicorn", "--factory", "splp.demo.agency:create_app",
         "--port", env["AGENCY_PORT"], "--log-level", "warning"],
        "agency.log",
    )  # fmt: skip
    agency_url = f"http://127.0.0.1:{env['AGENCY_PORT']}/docs"
    wait_for(agency_url, agency, environment.workdir / "agency.log")
    config = environment.workdir / "sample-adapter.yaml"
    config.write_text(
        f"descriptor: {ROOT / 'splp/demo/penduduk.yaml'}\n"
        f"base_url: http://127.0.0.1:{env['AGENCY_PORT']}\n"
        "operations:\n  get-by-nik: {method: POST, path: /residents/search, idempotent: true}\n",
        encoding="utf-8",
    )
    adapter = environment.start(
        [str(VENV_BIN / "splp"), "adapter", "run", str(config)], "adapter.log"
    )
    wait_for_consumer(
        env["SPLP_VHOST"],
        "splp.svc.dukcapil.penduduk.v1",
        adapter,
        environment.workdir / "adapter.log",
    )


def wait_for_consumer(vhost: str, queue: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until ``queue`` has a consumer: the README's call must not race the adapter."""
    path = f"/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}"
    deadline = time.monotonic() + 30
    with management() as api:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the adapter stopped: {log.read_text(errors='replace')}")
            response = api.get(path)
            if response.status_code == 200 and response.json().get("consumers"):
                return
            time.sleep(0.2)
    pytest.fail(f"{queue} had no consumer within 30 s: {log.read_text(errors='replace')}")


# An Indonesian twin of an index page runs the same shell lines as its English page
# (tests/test_docs_id.py holds it to that, line by line): running them twice only costs time.
MIRRORED = {DOCS / "id" / page for page in english_pages()}
DOCUMENTS_WITH_SHELL = [p for p in DOCUMENTS if shell_blocks(p) and p not in MIRRORED]


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCUMENTS_WITH_SHELL, ids=doc_id)
def test_shell_blocks_run(
    path: Path, doc_environment: DocEnvironment, request: pytest.FixtureRequest
) -> None:
    if path.name in NEEDS_SAMPLE_SERVICE:
        start_sample_service(doc_environment)
    cluster = request.getfixturevalue("cluster") if path.name in NEEDS_CLUSTER else None
    try:
        for block in shell_blocks(path):
            done = doc_environment.run_block(block)
            assert done.returncode == 0, (
                f"{block.where}: the {block.language} block exits {done.returncode}:\n"
                f"{runnable(block)}--- output ---\n{done.stdout}"
            )
    finally:
        if cluster is not None:
            remove_from_cluster(cluster, doc_environment.env)


def remove_from_cluster(cluster: Cluster, env: dict[str, str]) -> None:
    """The vhost and the broker users a page's directory made on the cluster."""
    vhost, prefix = env["SPLP_VHOST"], env["SPLP_BROKER_USER_PREFIX"]
    base_url = f"http://127.0.0.1:{cluster.management_port(1)}"
    with httpx.Client(base_url=base_url, auth=("guest", "guest"), timeout=30) as api:
        api.delete(f"/api/vhosts/{quote(vhost, safe='')}")
        for user in api.get("/api/users").json():
            if user["name"].startswith(prefix):
                api.delete(f"/api/users/{quote(user['name'], safe='')}")
