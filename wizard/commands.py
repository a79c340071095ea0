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


def _plan_for(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from wizard.plan_model import default_plan_path, load_plan
    from wizard.planner import build_plan

    path = args.plan_file or default_plan_path(args.sqlite_file)
    if path.exists():
        plan = load_plan(path)
        from pathlib import Path

        if Path(plan.source_path).resolve() != Path(args.sqlite_file).resolve():
            from wizard.errors import InputError

            raise InputError(f"The plan file {path} belongs to {plan.source_path}, not {args.sqlite_file}.",
                             title="Plan mismatch", hint="Pass --plan-file for this database, or delete that file.")
        return plan
    return build_plan(args.sqlite_file)


def cmd_migrate(args: argparse.Namespace) -> int:
    from wizard.data_copy import CopyOptions, migrate, read_state, reset_target
    from wizard.errors import EXIT_FAILED, InputError
    from wizard.progress_view import ProgressView, render_summary
    from wizard.targets import database_name_for, resolve_target

    plan = _plan_for(args)
    spec = resolve_target(args.target, default_db=database_name_for(args.sqlite_file))
    if args.restart:
        if not args.yes:
            if not sys.stdin.isatty():
                raise InputError("--restart empties the target tables and needs confirmation.",
                                 title="Confirmation needed", hint="Add --yes to confirm without a prompt.")
            state = "a started migration" if read_state(spec) is not None else "any tables of this plan"
            answer = input(f"Drop {state} in {spec} and start over? Type 'yes': ")
            if answer.strip().lower() != "yes":
                sys.stderr.write("not restarted.\n")
                return 2
        reset_target(plan, spec)
    options = CopyOptions(jobs=args.jobs, batch_size=args.batch_size, on_error=args.on_error,
                          backup_dir=args.backup_dir)
    sys.stderr.write(f"migrating {args.sqlite_file} -> {spec}\n")
    with ProgressView(sys.stderr) as view:
        result = migrate(plan, spec, options, on_progress=view.update)
    sys.stdout.write(render_summary(result))
    if result.rejected or any(r.statement.kind != "view" for r in result.failed_statements):
        return EXIT_FAILED
    return EXIT_OK
