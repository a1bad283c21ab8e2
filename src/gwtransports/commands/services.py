"""``gw services list|get|apply -f FILE|delete NAME``: manage services through the admin API."""

from __future__ import annotations

import argparse

from gwtransports.commands._entries import add_group_arguments, run_group

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_group_arguments(parser, "services")


def run(args: argparse.Namespace) -> int:
    return run_group(args, "services")
