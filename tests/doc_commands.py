"""Reading commands out of documentation, and checking ``splp`` command lines against the CLI.

Used by ``tests/test_docs.py`` (README.md and docs/*.md) and ``tests/test_compose.py``
(docker-compose.yml and the Dockerfile).

* :func:`code_blocks` - fenced and indented code blocks of a Markdown file;
* :func:`inline_commands` - inline code spans of the prose that are whole ``splp`` commands;
* :func:`splp_commands` - the ``splp`` invocations in a piece of shell (or YAML, text...);
* :func:`cli_problem` - why an argument list is not a valid ``splp`` command, or ``None``;
* :func:`index_rows` and :func:`english_pages` - the Pasal 32(2) pages of docs/README.md.
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer.main

from splp.cli import app

SHELL_LANGUAGES = frozenset({"sh", "bash", "console", "shell"})
DOCS = Path(__file__).resolve().parent.parent / "docs"
_ROW = re.compile(r"^\|\s*([a-j])\s*\|(.*)$", re.MULTILINE)
_LINK = re.compile(r"\]\(((?:id/)?[\w.-]+\.md)(?:#[\w-]*)?\)")


def index_rows(index: Path = DOCS / "README.md") -> dict[str, list[str]]:
    """The Pasal 32(2) items (a-j) of the index, each with the pages its row links."""
    return {item: _LINK.findall(cells) for item, cells in _ROW.findall(index.read_text("utf-8"))}


def english_pages() -> list[str]:
    """The English pages the index lists; each has a Bahasa Indonesia twin in docs/id/."""
    return sorted({page for pages in index_rows().values() for page in pages if "/" not in page})

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
# `splp` in command position: at the start, after a separator, assignments, a wrapper
# (exec, sudo, docker compose exec SERVICE) or a YAML `command:`/`- `; not as an argument.
_SPLP = re.compile(
    r"""(?:^|[;&|(`]|\$\(|command:|^\s*-)\s*["']?"""
    r"(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*"
    r"(?:(?:exec|sudo|nohup|time)\s+|docker\s+compose\s+(?:exec|run)\s+(?:-\S+\s+)*[\w.-]+\s+)*"
    r"(?:[\w./-]*/)?splp(?=\s+[a-z])"
)
_PLACEHOLDER = re.compile(
    r"^[A-Z][A-Z0-9_]*(?::[A-Z][A-Z0-9_]*)?$|^<[^>]+>$|^\$[A-Za-z_][A-Za-z0-9_]*$|^\$\{[^}]+\}$"
)
_ALTERNATIVES = re.compile(r"^[a-z0-9-]+(?:\|[a-z0-9-]+)+$")
_SUBCOMMANDS = re.compile(r"^[a-z][a-z-]*(?:/[a-z][a-z-]*)+$")
_SEPARATORS = {"|", "||", "&&", ";", "&", ";;", "(", ")", "|&"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the first line of code
    language: str  # "" for indented blocks and bare fences
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


def code_blocks(path: Path) -> list[Block]:
    """Fenced blocks (with their info string's first word) and indented blocks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    previous_blank = True
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match:
            fence, language = match["fence"], (match["info"].split() or [""])[0]
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(fence):
                body.append(lines[j][len(match["indent"]) :])
                j += 1
            blocks.append(Block(path, i + 2, language.lower(), "\n".join(body) + "\n"))
            i, previous_blank = j + 1, False
            continue
        if previous_blank and lines[i].startswith("    ") and lines[i].strip():
            start = i
            body = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                body.append(lines[i][4:])
                i += 1
            if not _inside_list(lines, start):
                blocks.append(Block(path, start + 1, "", "\n".join(body).rstrip() + "\n"))
            previous_blank = False
            continue
        previous_blank = not lines[i].strip()
        i += 1
    return blocks


def _inside_list(lines: list[str], start: int) -> bool:
    """An indented paragraph after a list item continues the item; it is no code block."""
    for line in reversed(lines[:start]):
        if line.strip():
            return bool(re.match(r"\s*(?:[-*+]|\d+\.)\s", line)) or line.startswith("  ")
    return False


def prose(path: Path) -> str:
    """The Markdown outside code blocks."""
    text = path.read_text(encoding="utf-8")
    return re.sub(r"(?ms)^ {0,3}(`{3,}|~{3,}).*?^ {0,3}\1\s*$", "", text)


def inline_commands(path: Path) -> list[str]:
    """Inline code spans of the prose that are whole ``splp`` commands."""
    return [span for span in _INLINE.findall(prose(path)) if re.match(r"splp [a-z]", span)]


def inline_arguments(span: str) -> list[str]:
    """The arguments of an inline ``splp ...`` span."""
    commands = splp_commands(span)
    return commands[0] if commands else []


def splp_commands(code: str) -> list[list[str]]:
    """The argument lists (after ``splp``) of every ``splp`` invocation in ``code``."""
    found: list[list[str]] = []
    for line in code.replace("\\\n", " ").splitlines():
        line = re.sub(r"^\s*(?:\$|#|>)\s+(?=\S)", "", line) if line.lstrip()[:2] == "$ " else line
        for match in _SPLP.finditer(line):
            rest = line[match.end() :]
            words = _words(rest)
            if words is None:
                continue
            command: list[str] = []
            for word in words:
                if word in _SEPARATORS or word.startswith(("#", ">", "2>", "<")):
                    break
                command.append(word)
            found.append(command)
    return found


def _words(text: str) -> list[str] | None:
    while re.search(r"\$\([^()]*\)", text):
        text = re.sub(r"\$\([^()]*\)", "SUBST", text)
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote: the end of "$(splp ...)", or prose
        if text.rstrip().endswith(('"', "'")):
            return _words(text.rstrip()[:-1])
        return None


def normalise(args: list[str]) -> list[str]:
    """Documentation conventions out: ``[--opt x]`` brackets, ``...``, ``a|b`` choices."""
    out: list[str] = []
    for word in args:
        if word in {"...", "…", "[...]"}:
            if out and out[-1].startswith("--"):
                out.append("VALUE")  # --reason "..."
            continue
        word = word.strip("[]") if word.startswith("[") or word.endswith("]") else word
        if _ALTERNATIVES.match(word):
            word = word.split("|")[0]
        if word:
            out.append(word)
    return out


def _command_tree() -> Any:
    return typer.main.get_command(app)


def cli_problem(args: list[str], *, reference: bool = False) -> str | None:
    """Why ``splp ARGS`` is not a command the CLI accepts, or ``None`` when it is.

    The command path must exist and every option must parse (click's own parser, with
    resilient parsing off). Documentation placeholders (``ID``, ``FILE``, ``SEQ:HASH``,
    ``<name>``) and shell variables (``$id``) stand for any value of the right type. A
    ``reference`` (a command named in the prose) may leave out required arguments.
    """
    for i, word in enumerate(args):
        if _SUBCOMMANDS.match(word):  # `splp broker sync/status` names two commands
            for name in word.split("/"):
                problem = cli_problem([*args[:i], name, *args[i + 1 :]], reference=reference)
                if problem:
                    return problem
            return None
    placeholders = [i for i, word in enumerate(args) if _PLACEHOLDER.match(word)][:4]
    first: str | None = None
    for values in itertools.product(_STAND_INS, repeat=len(placeholders)):
        attempt = list(args)
        for i, value in zip(placeholders, values, strict=True):
            attempt[i] = value or args[i]
        problem = _parse(attempt, reference)
        if problem is None:
            return None
        first = first or problem
    return f"`splp {' '.join(args)}`: {first}"


_STAND_INS = ("", "1", "200", "2025-01-01")  # "" keeps the placeholder itself


def _parse(args: list[str], reference: bool) -> str | None:
    command = _command_tree()
    context: Any = None
    path = ["splp"]
    remaining = list(args)
    while True:
        try:
            context = command.make_context(
                path[-1], list(remaining), parent=context, resilient_parsing=False
            )
        except Exception as exc:  # click's exceptions live in typer's vendored click
            name = type(exc).__name__
            if name == "Exit" or (reference and name in {"MissingParameter", "NoArgsIsHelpError"}):
                return None  # --help; a reference to a command or a group
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            return f"{' '.join(path)}: {name}: {message}"
        if not hasattr(command, "commands"):
            return None
        sub_args = list(context._protected_args) + list(context.args)
        if not sub_args:
            return None  # a group alone prints its help
        name, remaining = sub_args[0], sub_args[1:]
        sub = command.get_command(context, name)
        if sub is None:
            return f"no command {' '.join([*path, name])!r}"
        command = sub
        path.append(name)
