"""The command lines the docs show exist: every ``planner ...`` line in README.md's and docs/*.md's
code blocks (fenced or indented, continued lines joined) and inline code that starts with ``planner``
names a real sub-command and only options that sub-command's ``--help`` lists, so the docs cannot
drift from the CLI silently."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from planner.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+(?:\n[^`\n]+)?)`")  # inline code may wrap onto a second line
# "planner" as a command word: line start, after a shell separator or `python -m`, not inside a path.
COMMAND = re.compile(r"(?:^|(?<=[\s;&(]))(?:python3? -m )?planner(?=\s|$)(.*)")
OPTION = re.compile(r"(?<![\w/.:=-])(--?[A-Za-z][\w-]*)")


def cli_options() -> dict[tuple[str, ...], set[str]]:
    """Each command path (``()``, ``("run",)``, ``("history", "list")``) -> the options its help lists."""
    root = typer.main.get_command(app)
    ctx_cls = type(root).context_class
    table: dict[tuple[str, ...], set[str]] = {}

    def walk(cmd, path):
        ctx = ctx_cls(cmd)
        names = {"--help"}
        for p in cmd.params:
            if p.param_type_name == "option":
                names.update(p.opts, p.secondary_opts)
        table[path] = names
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), (*path, name))

    walk(root, ())
    return table


def code_blocks(text: str) -> list[list[tuple[int, str]]]:
    """The (line number, line) of each fenced block and each indented (4-space) code block."""
    blocks = []
    for m in FENCE.finditer(text):
        first = text.count("\n", 0, m.start(1)) + 1
        blocks.append([(first + i, line) for i, line in enumerate(m.group(1).splitlines())])
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text).splitlines()
    block: list[tuple[int, str]] = []
    for i, line in enumerate(prose):
        if line.startswith("    ") and line.strip() and (block or i == 0 or not prose[i - 1].strip()):
            block.append((i + 1, line))
        elif block:
            blocks.append(block)
            block = []
    return blocks + ([block] if block else [])


def command_lines(text: str):
    """(line number, command text after ``planner``) for every command in code blocks and inline code."""
    spans = []
    for block in code_blocks(text):
        for lineno, line in block:
            line = re.sub(r"(^|\s)#.*", "", line)  # a shell comment
            # A continued line (`\` before it, or an indented `[--option ...]` line under a command).
            if spans and (spans[-1][1].endswith("\\") or re.match(r"\s+[\[-]", line)):
                spans[-1] = (spans[-1][0], spans[-1][1].rstrip("\\") + " " + line.strip())
            else:
                spans.append((lineno, line.rstrip()))
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for m in INLINE.finditer(prose):
        code = m.group(1).replace("\n", " ")
        if code.lstrip().startswith(("planner ", "python -m planner ")) or code.strip() == "planner":
            spans.append((prose.count("\n", 0, m.start()) + 1, re.sub(r"(^|\s)#.*", "", code)))
    for lineno, code in spans:
        for part in re.split(r"&&|;|\|\|", code):
            for m in COMMAND.finditer(part):
                rest = re.split(r"(?<=\s)(?:python3? -m )?planner\s", m.group(1))[0]  # two commands in one span
                yield lineno, rest


def problems(text: str, table: dict[tuple[str, ...], set[str]]) -> list[str]:
    """What a command line in ``text`` names that the CLI does not have."""
    found = []
    for lineno, rest in command_lines(text):
        words = rest.split()
        path: tuple[str, ...] = ()
        i = 0
        # Global options come before the sub-command (planner --debug run ...).
        while i < len(words) and words[i].startswith("-"):
            if words[i] not in table[()]:
                found.append(f"line {lineno}: planner has no option {words[i]}")
            i += 1
        while i < len(words) and re.fullmatch(r"[a-z][a-z-]*", words[i]) and (*path, words[i]) in table:
            path = (*path, words[i])
            i += 1
        group = any(len(k) == len(path) + 1 and k[:len(path)] == path for k in table)
        if i < len(words) and group and re.fullmatch(r"[a-z][a-z-]*", words[i]):
            found.append(f"line {lineno}: planner {' '.join(path)} has no command {words[i]!r}".replace("  ", " "))
            continue
        if not path or group:
            continue  # `planner` alone, a pattern (`planner COMMAND --help`, `history list|show RUN`)
        for opt in OPTION.findall(" ".join(words[i:])):
            if opt not in table[path]:
                found.append(f"line {lineno}: planner {' '.join(path)} has no option {opt}")
    return found


@pytest.fixture(scope="module")
def table():
    return cli_options()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_doc_commands_exist(doc, table):
    assert problems(doc.read_text(encoding="utf-8"), table) == []


def test_the_docs_show_commands(table):
    # The extraction finds the README's examples at all (a broken pattern would pass every doc).
    lines = list(command_lines((ROOT / "README.md").read_text(encoding="utf-8")))
    assert len(lines) >= 15
    assert any(rest.split()[:1] == ["history"] for doc in DOCS for _, rest in command_lines(doc.read_text()))


@pytest.mark.parametrize("text, expect", [
    ("```bash\nplanner run examples/quarterly.yaml --made-up-option 3 --out out/q1\n```", "no option --made-up-option"),
    ("```\nplanner forcast --demand d.parquet\n```", "no command 'forcast'"),
    ("See `planner backtest SCENARIO --origin 4`.", "no option --origin"),
    ("```\nplanner history list --bd f.sqlite\n```", "history list has no option --bd"),
    ("```\nplanner --verbose run\n```", "planner has no option --verbose"),
    ("```\nplanner history lst --db f.sqlite\n```", "planner history has no command 'lst'"),
])
def test_a_made_up_name_is_caught(text, expect, table):
    found = problems(text, table)
    assert len(found) == 1 and expect in found[0], found


def test_continued_and_indented_lines_are_checked(table):
    fenced = "```\nplanner forecast --demand d --out f.csv\n         [--n-windows 12] [--n-job 2]   # see --report\n```"
    assert [p.split()[-1] for p in problems(fenced, table)] == ["--n-job"]
    indented = "Text.\n\n    planner pack --demand d \\\n                 --solver cpsat --time-limits 60\n"
    assert [p.split()[-1] for p in problems(indented, table)] == ["--time-limits"]


def test_real_lines_pass(table):
    text = ("```bash\nnice -n 5 planner run x.yaml --out out/q1 -j 2  # comment --not-an-option\n"
            "pip install . && planner whatif a.yaml b.yaml --n-jobs 2\n"
            "python -m planner --debug pack --demand f --time-limit 10 --out out/p\n```\n"
            "`planner ingest PATH --format azure\\|huawei [--keep-alive none\\|fixed:MIN] --out DIR`")
    assert problems(text, table) == []
    assert len(list(command_lines(text))) == 4
