"""What our `scrapy` subcommands share (kept out of crawler/commands/: Scrapy takes every command class
defined in that package for a command of its own)."""

from __future__ import annotations

import argparse

from scrapy.commands import ScrapyCommand
from scrapy.settings import SETTINGS_PRIORITIES


class QuietCommand(ScrapyCommand):
    """A command whose output is the point: Scrapy's INFO chatter is off unless `-L` / `-s LOG_LEVEL` asks."""

    requires_project = True

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        if (self.settings.getpriority("LOG_LEVEL") or 0) < SETTINGS_PRIORITIES["cmdline"]:
            self.settings.set("LOG_LEVEL", "WARNING", priority="cmdline")
