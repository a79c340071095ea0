"""Handlers of the CLI subcommands: parse nothing, print results, delegate all work to engine functions."""

from __future__ import annotations

import argparse
import json
import sys

from wizard.errors import EXIT_OK


def run_tui(args: argparse.Namespace) -> int:
    """Open the interactive wizard (imports Textual only now, so headless commands start fast)."""
    from screens.app import run_wizard

    return run_wizard(args.sqlite_file, plan_file=args.plan_file)


def cmd_inspect(args: argparse.Namespace) -> int:
    from wizard.inspection import inspect_database, render_inspection

    report = inspect_database(args.sqlite_file)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_inspection(report))
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from wizard.ddl import render_script
    from wizard.plan_model import default_plan_path, save_plan
    from wizard.planner import build_plan, parse_overrides

    overrides = parse_overrides(args.types)
    plan = build_plan(args.sqlite_file, overrides=overrides, keep_case=args.keep_case)
    if args.json:
        sys.stdout.write(plan.to_json() + "\n")
    else:
        sys.stdout.write(render_script(plan))
    if args.save:
        path = args.plan_file or default_plan_path(args.sqlite_file)
        save_plan(plan, path)
        sys.stderr.write(f"plan saved to {path}\n")
    return EXIT_OK
