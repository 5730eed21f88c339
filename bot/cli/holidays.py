"""`leadbot holidays load|list`: China's official holiday schedules, from the shell (see `bot.calendar.holidays`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bot.calendar import holidays
from bot.cli import support as cli_support
from bot.cli.support import database, echo_json, run_command
from bot.errors import InvalidField
from bot.runtime.config import Settings


@click.group("holidays")
def holidays_group() -> None:
    """Official public holidays and make-up workdays (调休), a year at a time."""


@holidays_group.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def holidays_load(file: Path) -> None:
    """Load a year's schedule from FILE (JSON: year, source, holidays, workdays; days or ranges a..b)."""

    async def run(settings: Settings) -> None:
        try:
            raw = json.loads(file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidField(str(file), f"not JSON: {e}") from None
        schedule = holidays.parse_schedule(raw)
        async with database(settings):
            await holidays.store(schedule)
        click.echo(f"loaded {schedule.year}: {len(schedule.holidays)} holidays, {len(schedule.workdays)} make-up "
                   f"workdays ({schedule.source or 'no source given'})")

    run_command(run)


@holidays_group.command("list")
def holidays_list() -> None:
    """The years loaded, and the years still missing."""

    async def run(settings: Settings) -> None:
        async with database(settings):
            await holidays.refresh()
            loaded = [{"year": s.year, "source": s.source, "holidays": len(s.holidays), "workdays": len(s.workdays)}
                      for s in await holidays.stored()]
        echo_json({"schedules": loaded, "missing_years": holidays.missing_years(holidays.today(cli_support.CLOCK))})

    run_command(run)


COMMANDS = [holidays_group]
