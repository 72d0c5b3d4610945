"""The Bahasa Indonesia pages (docs/id/) mirror the English Pasal 32(2) pages.

Musi Banyuasin reg. 48/2024 Pasal 32(2) asks for the system's documentation, and the
people who read it are regency staff. Every page that docs/README.md lists under an item
a-j has its counterpart ``docs/id/<same name>``, linked from the same row of the index,
with the same headings (level by level) and the same commands: the same shell lines,
block by block (comments may be translated), and the same ``splp`` commands (path and
option names) in code blocks and in the prose. A page's own path (``docs/database.md``)
stands for the counterpart's (``docs/id/database.md``). ``tests/test_docs.py`` runs and
checks the Indonesian pages' commands as it does the English ones; it runs the shell
blocks of the English page only, since this test holds the twin's to the same lines.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from splp.cli import app
from tests.doc_commands import (
    DOCS,
    SHELL_LANGUAGES,
    code_blocks,
    english_pages,
    index_rows,
    inline_arguments,
    inline_commands,
    normalise,
    prose,
    splp_commands,
)


def headings(path: Path) -> list[int]:
    """The level of every heading outside code blocks, in order."""
    return [len(m) for m in re.findall(r"^(#{1,6}) \S", prose(path), flags=re.MULTILINE)]


def shell_lines(path: Path) -> list[list[str]]:
    """Each shell block's command lines, less comments and blank lines."""
    blocks = []
    for block in code_blocks(path):
        if block.language in SHELL_LANGUAGES:
            lines = (re.sub(r"\s+#.*$", "", line).rstrip() for line in block.code.splitlines())
            blocks.append([ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")])
    return blocks


def command_key(args: list[str]) -> str:
    """A command as its path and option names (``splp access grant --quota``): a diagram's
    label or a sentence around the command may be translated, the command may not."""
    command, path = typer.main.get_command(app), ["splp"]
    for word in args:
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        command = sub
        path.append(word)
    options = {m[0] for word in args if (m := re.match(r"--?[a-z][a-z0-9-]*", word))}
    return " ".join([*path, *sorted(options)])


def splp_command_set(path: Path) -> set[str]:
    """Every ``splp`` command of the page's code blocks and prose, as :func:`command_key`."""
    found = [args for block in code_blocks(path) for args in splp_commands(block.code)]
    found += [inline_arguments(span) for span in inline_commands(path)]
    return {command_key(normalise(args)) for args in found}


def commands(path: Path) -> tuple[list[list[str]], set[str]]:
    """What a page runs and names; ``docs/id/`` read as ``docs/``."""
    here = path.relative_to(DOCS.parent).parent.as_posix() + "/"

    def same(text: str) -> str:
        return text.replace(here, "docs/")

    shell = [[same(line) for line in block] for block in shell_lines(path)]
    return shell, {same(command) for command in splp_command_set(path)}


def test_the_index_lists_the_ten_items_in_both_languages() -> None:
    rows = index_rows()
    assert sorted(rows) == list("abcdefghij")
    for item, pages in rows.items():
        english = [p for p in pages if "/" not in p]
        assert english, f"item {item} links no English page"
        for page in english:
            assert f"id/{page}" in pages, f"item {item}: {page} without id/{page} in its row"


@pytest.mark.parametrize("page", english_pages())
def test_the_indonesian_page_mirrors_the_english(page: str) -> None:
    english, indonesian = DOCS / page, DOCS / "id" / page
    assert indonesian.is_file(), f"docs/{page} has no Indonesian counterpart docs/id/{page}"
    assert headings(indonesian) == headings(english), f"id/{page}: the headings differ"
    (shell_en, splp_en), (shell_id, splp_id) = commands(english), commands(indonesian)
    assert shell_id == shell_en, f"id/{page}: the shell blocks differ"
    assert splp_id == splp_en, (
        f"id/{page}: splp commands only in the English page: {sorted(splp_en - splp_id)}; "
        f"only in the Indonesian: {sorted(splp_id - splp_en)}"
    )


def test_the_check_catches_a_missing_or_different_command(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "id").mkdir(parents=True)
    english = docs / "page.md"
    english.write_text(
        "# Title\n\nRun `splp party list`.\n\n```sh\n# the themes\nsplp theme list\n```\n",
        encoding="utf-8",
    )
    translated = docs / "id" / "page.md"
    translated.write_text(
        "# Judul\n\nJalankan `splp party list`.\n\n```sh\n# daftar tema\nsplp theme list\n```\n",
        encoding="utf-8",
    )
    assert shell_lines(english) == shell_lines(translated) == [["splp theme list"]]
    assert splp_command_set(english) == splp_command_set(translated)
    translated.write_text(
        "# Judul\n\nJalankan `splp party list --json`.\n\n```sh\nsplp theme list --json\n```\n",
        encoding="utf-8",
    )
    assert shell_lines(english) != shell_lines(translated)
    assert splp_command_set(english) != splp_command_set(translated)
    index = docs / "README.md"
    index.write_text("| a | diagram | [page.md](page.md) |\n", encoding="utf-8")
    assert index_rows(index) == {"a": ["page.md"]}  # the Indonesian link is missing
