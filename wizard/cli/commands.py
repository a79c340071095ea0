"""Handlers of the CLI subcommands: parse nothing, print results, delegate all work to engine functions."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator

from wizard.errors import EXIT_OK


def run_tui(args: argparse.Namespace) -> int:
    """Open the interactive wizard (imports Textual only now, so headless commands start fast)."""
    from screens.app import run_wizard

    return run_wizard(args.sqlite_file, plan_file=args.plan_file)


def cmd_inspect(args: argparse.Namespace) -> int:
    from wizard.plan.inspection import inspect_database, render_inspection

    report = inspect_database(args.sqlite_file, framework=args.framework)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_inspection(report))
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from wizard.plan.ddl import render_script
    from wizard.plan.planner import build_plan, parse_overrides
    from wizard.plan_model import default_plan_path, save_plan

    overrides = parse_overrides(args.types)
    plan = build_plan(args.sqlite_file, overrides=overrides, keep_case=args.keep_case, framework=args.framework)
    if args.json:
        sys.stdout.write(plan.to_json() + "\n")
    else:
        sys.stdout.write(render_script(plan))
    if args.save:
        path = args.plan_file or default_plan_path(args.sqlite_file)
        save_plan(plan, path)
        sys.stderr.write(f"plan saved to {path}\n")
    return EXIT_OK


@contextlib.contextmanager
def _missing_database(hint: str) -> Iterator[None]:
    """A target database that does not exist, told with this command's next step."""
    from wizard.target.connection import ConnectFailed

    try:
        yield
    except ConnectFailed as exc:
        if exc.kind != "no_database":
            raise
        raise ConnectFailed(exc.kind, exc.message, hint) from None


def _known_plan(args: argparse.Namespace, target=None):  # type: ignore[no-untyped-def]
    """The saved plan; else the plan recorded in `target` by a migration of this file (a resume and verify use
    the very plan the copy used, without profiling again); else None."""
    from wizard.plan_model import default_plan_path, load_plan

    path = args.plan_file or default_plan_path(args.sqlite_file)
    if path.exists():
        plan = load_plan(path)
        from pathlib import Path

        if Path(plan.source_path).resolve() != Path(args.sqlite_file).resolve():
            from wizard.errors import InputError

            raise InputError(f"The plan file {path} belongs to {plan.source_path}, not {args.sqlite_file}.",
                             title="Plan mismatch", hint="Pass --plan-file for this database, or delete that file.")
        return plan
    if target is not None and not getattr(args, "restart", False):
        from wizard.data_copy.state import recorded_plan

        recorded = recorded_plan(target, args.sqlite_file)
        if recorded is not None:
            sys.stderr.write(f"using the plan recorded in {target.dbname} by the migration of {args.sqlite_file} "
                             "(no new profile of the data)\n")
            return recorded
    return None


def _plan_for(args: argparse.Namespace, target=None):  # type: ignore[no-untyped-def]
    """The known plan (saved or recorded), else a new profile of all the data."""
    from wizard.plan.planner import build_plan

    plan = _known_plan(args, target)
    if plan is not None:
        return plan
    # profiling reads every value: say so, or a big file would sit silent for a while
    sys.stderr.write(f"no saved plan: profiling the data of {args.sqlite_file} first "
                     "('pgmigrate-wizard plan FILE --save' keeps one)\n")
    return build_plan(args.sqlite_file, jobs=getattr(args, "jobs", None))


def _sampled_plan(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """A plan whose types come from a sample: the copy reads and checks every value anyway (data_copy.replan)."""
    from wizard.data_copy.replan import SAMPLE_ROWS
    from wizard.plan.planner import build_plan
    from wizard.source.profile_jobs import Sample

    sys.stderr.write(f"no saved plan: choosing types from a sample of {args.sqlite_file}'s data; the copy "
                     "checks every value ('pgmigrate-wizard plan FILE --save' keeps a plan to review)\n")
    return build_plan(args.sqlite_file, jobs=args.jobs, sample=Sample(SAMPLE_ROWS),
                      framework=getattr(args, "framework", None))


def cmd_migrate(args: argparse.Namespace) -> int:
    from wizard.data_copy.head_start import HeadStart
    from wizard.target import stall_time
    from wizard.target.resolve import database_name_for, resolve_target

    stall_time.configure(args.stall_timeout)
    # the worker processes need neither the target nor the plan: they start (and import) meanwhile
    head_start = HeadStart(args.sqlite_file, args.backup_dir, args.jobs)
    try:
        spec = resolve_target(args.target, default_db=database_name_for(args.sqlite_file))
        with _missing_database(f"Create it first: 'pgmigrate-wizard create-databases --server DSN --base-name "
                               f"NAME' makes NAME_dev, NAME_test and NAME_prod (or run CREATE DATABASE "
                               f"{spec.dbname}); or copy into the built-in server with --target local."):
            plan = _known_plan(args, spec)  # (a missing database is found here, before the data is read)
            if plan is None:
                head_start.begin_snapshot()  # a new migration: its snapshot needs no plan either
                plan = _sampled_plan(args)
            return _migrate_with(args, spec, plan, head_start)
    finally:
        head_start.close()


def _migrate_with(args: argparse.Namespace, spec, plan, head_start) -> int:  # type: ignore[no-untyped-def]
    from wizard.cli.progress_view import ProgressView, render_summary
    from wizard.data_copy.model import CopyOptions
    from wizard.data_copy.run import migrate
    from wizard.data_copy.state import read_state, reset_target
    from wizard.errors import EXIT_FAILED, InputError

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
                          backup_dir=args.backup_dir, stall_timeout_s=args.stall_timeout,
                          keep_snapshots=args.keep_snapshots)
    sys.stderr.write(f"migrating {args.sqlite_file} -> {spec}\n")
    with ProgressView(sys.stderr) as view:
        result = migrate(plan, spec, options, on_progress=view.update, head_start=head_start)
    sys.stdout.write(render_summary(result))
    plan = result.plan or plan  # re-planned tables (a value the sample did not show) have their new types
    if args.owner:
        from wizard.target.databases import hand_over

        count = hand_over(spec, plan, args.owner)
        sys.stdout.write(f"{count} table(s)/view(s) now owned by {args.owner}\n")
    if result.rejected or any(r.statement.kind != "view" for r in result.failed_statements):
        return EXIT_FAILED
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from wizard.errors import EXIT_FAILED
    from wizard.target import stall_time
    from wizard.target.resolve import database_name_for, resolve_target
    from wizard.verify.report import render_text, write_report
    from wizard.verify.run import verify

    stall_time.configure(args.stall_timeout)
    spec = resolve_target(args.target, default_db=database_name_for(args.sqlite_file), create=False)
    with _missing_database("Check --target: it names the database that migrate copied into."):
        plan = _plan_for(args, spec)
    report = verify(plan, spec, jobs=args.jobs, examples=args.examples, stall_timeout_s=args.stall_timeout)
    if args.report:
        write_report(report, args.report)
        sys.stderr.write(f"report written to {args.report}\n")
    sys.stdout.write(report.to_json() + "\n" if args.json else render_text(report))
    return EXIT_OK if report.ok else EXIT_FAILED


def _confirm_drop(name: str, tables: int) -> str:
    if not sys.stdin.isatty():
        from wizard.errors import InputError

        raise InputError(f"Database {name} already holds {tables} table(s); dropping it needs you to type its name.",
                         title="Confirmation needed", hint="Run this in a terminal, or pick another --base-name.")
    return input(f"{name} holds {tables} table(s). Type its name to DROP it and create it empty: ").strip()


def cmd_create_databases(args: argparse.Namespace) -> int:
    from wizard.target.databases import DatabaseRequest, create_databases, plan_databases
    from wizard.target.resolve import resolve_target

    admin = resolve_target(args.server)
    plan = plan_databases(admin, DatabaseRequest(args.base_name, args.envs, app_role=args.app_role))
    for st in plan.databases:
        state = "to create" if not st.exists else (f"exists, {st.tables} table(s)" if st.non_empty else "exists, empty")
        sys.stdout.write(f"{st.env:>6}: {st.name} ({state})\n")
    if args.app_role:
        sys.stdout.write(f"  role: {args.app_role} ({'exists' if plan.role_exists else 'to create'})\n")
    sys.stdout.write("-- SQL to run:\n" + plan.preview_sql())
    if args.dry_run:
        return EXIT_OK
    confirmed = {}
    if args.drop_existing:
        for st in plan.databases:
            if st.non_empty:
                confirmed[st.name] = _confirm_drop(st.name, st.tables)
    result = create_databases(admin, plan, drop_confirmed=confirmed)
    sys.stdout.write(f"created: {', '.join(result.created) or 'none'}; reused: {', '.join(result.reused) or 'none'}"
                     + (f"; dropped and recreated: {', '.join(result.dropped)}" if result.dropped else "") + "\n")
    if result.role_created and result.password_storage is not None:
        sys.stdout.write(f"role {result.role} created; its password: {result.password_storage.explanation}\n")
    for st in plan.databases:
        if st.non_empty and st.name not in result.dropped:
            sys.stderr.write(f"note: {st.name} is not empty ({st.tables} tables); --drop-existing replaces it\n")
    return EXIT_OK


def cmd_env_file(args: argparse.Namespace) -> int:
    from wizard.errors import InputError
    from wizard.target.envfile import EnvRequest, plan_env, write_env
    from wizard.target.resolve import resolve_target

    if args.target is None:
        if not args.check:
            raise InputError("env-file needs --target DSN (the app's account and database) to write the file.",
                             title="No target", hint="Or pass --check alone to test the .env file that is there.")
        return _check_env(args)
    target = resolve_target(args.target)
    place = "file" if args.password_file else "inline" if args.inline_password else "keyring"
    plan = plan_env(EnvRequest(args.path, target, args.style, place, args.envs))
    sys.stdout.write(plan.diff or f"{args.path} already holds these settings.\n")
    sys.stderr.write(f"note: {plan.app_note}\n")
    if not plan.gitignored:
        sys.stderr.write(f"warning: {args.path} is not ignored by {plan.gitignore}; it could be committed. "
                         f"Add it with --gitignore.\n")
    if args.dry_run:
        return EXIT_OK
    result = write_env(plan)
    if args.gitignore and not plan.gitignored:
        from wizard.target.envfile import add_to_gitignore

        sys.stderr.write(f"added {args.path} to {add_to_gitignore(args.path)}\n")
    sys.stderr.write(f"wrote {result.path}" + (f" (previous file kept as {result.backup})" if result.backup else "")
                     + "\n")
    if result.password_file is not None:
        sys.stderr.write(f"password file {result.password_file.path}: entry {result.password_file.action}\n")
    if args.check:
        return _check_env(args)
    return EXIT_OK


def _check_env(args: argparse.Namespace) -> int:
    from wizard.errors import EXIT_FAILED
    from wizard.target.env_check import check_env

    check = check_env(args.path, args.env)
    sys.stdout.write(check.render())
    return EXIT_OK if check.ok else EXIT_FAILED


def cmd_make_demo(args: argparse.Namespace) -> int:
    from wizard.demo import make
    from wizard.errors import InputError

    if args.path.exists() and not args.force:
        raise InputError(f"{args.path} already exists.", title="File exists",
                         hint="Pick another path, or add --force to replace it.")
    if not args.path.absolute().parent.is_dir():
        raise InputError(f"The folder {args.path.absolute().parent} does not exist.", title="No such folder",
                         hint="Create it or pick another path.")
    make(args.path)
    sys.stdout.write(f"wrote {args.path}; next: pgmigrate-wizard migrate {args.path} --target local\n")
    return EXIT_OK


def cmd_compose_file(args: argparse.Namespace) -> int:
    from wizard.target.compose import compose_text, write_compose

    command = write_compose(args.path, compose_text(dbname=args.dbname, user=args.user, port=args.port),
                            overwrite=args.force)
    sys.stdout.write(f"wrote {args.path}\nstart it with:\n  {command}\n")
    return EXIT_OK
