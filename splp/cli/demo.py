"""``splp demo``: the whole bus on the embedded defaults, walked end to end."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from splp.cli.guard import run
from splp.cli.options import settings_from

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


class ProgressNarrator:
    """Steps on a progress bar with a spinner (on a terminal), lines printed above it."""

    def __init__(self, console: Console, progress: Progress, task: TaskID) -> None:
        self.console, self.progress, self.task = console, progress, task
        self.done = 0

    def step(self, title: str) -> None:
        from splp.demo.run import STEPS

        self.done += 1
        self.progress.update(self.task, completed=self.done - 1, description=title)
        self.console.print(
            f"\n[{self.done}/{STEPS}] {title}", markup=False, style="bold", soft_wrap=True
        )

    def say(self, line: str) -> None:
        self.console.print(f"  {line}", markup=False, soft_wrap=True)


demo_app = typer.Typer()


class Language(StrEnum):
    """The languages of the narration (:data:`splp.demo.phrases.LANGUAGES`)."""

    en = "en"
    id = "id"


LanguageOption = Annotated[
    Language,
    typer.Option(
        "--lang",
        help="Language of the narration: en (English) or id (Bahasa Indonesia).",
        case_sensitive=False,
    ),
]


@demo_app.command(
    epilog=(
        "Example:\n\n  splp demo\n\n  splp demo --lang id --serve\n\n"
        "  SPLP_AMQP_URL=amqp://admin:secret@127.0.0.1:5672/ "
        "SPLP_MANAGEMENT_URL=http://admin:secret@127.0.0.1:15672 splp demo"
    )
)
def demo(
    lang: LanguageOption = Language.en,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="After the walk, keep the portal open with demo accounts (printed) until Ctrl-C.",
        ),
    ] = False,
) -> None:
    """Run the whole bus: directory, reconciler, audit sink, two agencies, Pasal 7, audit.

    Starts the directory service (SQLite store in a temporary folder), its broker
    reconciler and the audit sink; Dukcapil publishes its population register through the
    HTTP adapter; Dinsos is refused by the broker, applies, is approved and granted, makes
    real calls, is throttled beyond its quota, and is refused again once the grant is
    revoked. Then it prints the audit trail, its verification, the usage and abuse reports.

    Needs the local RabbitMQ and its management API as an administrator (the README's
    set-up provides both; `SPLP_AMQP_URL`, `SPLP_MANAGEMENT_URL`). Everything runs in a
    throw-away vhost `splp-demo-<tag>` with broker users `demo<tag>-*`, all deleted at the
    end: the demo exits 0 with nothing left running.

    `--serve` keeps everything running after the walk and opens the portal (Aplikasi SPLP)
    with one demo account per role, whose logins it prints; Ctrl-C ends it.

    `--lang id` narrates every step in Bahasa Indonesia, for the socialisation and
    training of regency staff (Bungo Pasal 8(2); exercises in docs/id/latihan.md).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    from splp.demo.phrases import Phrases
    from splp.demo.run import STEPS, run_demo

    say = Phrases(lang.value)
    console = Console(highlight=False)
    settings = settings_from()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(say("progress.starting"), total=STEPS)
        calls = run(run_demo(settings, ProgressNarrator(console, progress, task), say, serve))
        progress.update(task, completed=STEPS)
    console.print("\n" + say("finished", calls=calls), markup=False)
