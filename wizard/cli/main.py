"""The command line: `pgmigrate-wizard` opens the TUI; subcommands run each step headless.

Every handler is a thin caller of an engine function. Expected failures are WizardError and print one sentence and
a next step; only --debug shows a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from wizard import __version__
from wizard.errors import EXIT_INTERRUPTED, EXIT_USAGE, WizardError
from wizard.target.stall_time import DEFAULT_STALL_S, STALL_ENV, default_stall_seconds

Handler = Callable[[argparse.Namespace], int]

_EPILOG = """\
Passwords are never needed on the command line: they come from PGPASSWORD, then the OS keyring
(service "pgmigrate-wizard"), then (wizard only) a prompt.
DSN: postgresql://user@host:port/dbname (postgres:// and postgresql+psycopg2:// work too),
or "local" for the built-in PostgreSQL server managed by this tool.
Exit codes: 0 success, 1 a check or step failed, 2 bad usage or input, 130 interrupted."""


class _Parser(argparse.ArgumentParser):
    """argparse that exits with our usage code and a next step."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: {message}\n  next step: run '{self.prog} --help' for the options.\n")
        raise SystemExit(EXIT_USAGE)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' must be 1 or more")
    return value


def _envs(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one environment, e.g. dev,test,prod")
    for n in names:
        if not n.replace("_", "").isalnum():
            raise argparse.ArgumentTypeError(f"environment name '{n}' may hold only letters, digits and _")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pgmigrate-wizard", description="Move an application's SQLite database to PostgreSQL: "
                "schema, data, verification, the app's .env. Without a subcommand the interactive wizard opens.",
                usage="pgmigrate-wizard [--plan-file FILE] [SQLITE_FILE]   (interactive wizard)\n"
                      "       pgmigrate-wizard COMMAND [options]             (one step, headless)",
                epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    p.add_argument("--plan-file", type=Path, default=None,
                   help="project file keeping your choices (default: SQLITE_FILE.pgmigrate.json beside the source)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sp: argparse.ArgumentParser = sub.add_parser(
        "wizard", help="the interactive wizard (the default)", description="The interactive wizard.",
                        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("sqlite_file", nargs="?", type=Path, metavar="SQLITE_FILE",
                    help="the SQLite database to start with (optional)")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_text, description=help_text, epilog=_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
        return sp

    sp = add("inspect", "Show the tables, rows, size and data findings of an SQLite database, and the framework "
                        "that made it.")
    sp.add_argument("sqlite_file", type=Path, metavar="SQLITE_FILE")
    sp.add_argument("--json", action="store_true", help="print machine-readable JSON")
    _framework_option(sp)

    sp = add("plan", "Translate the schema and print the PostgreSQL DDL of every phase.")
    sp.add_argument("sqlite_file", type=Path, metavar="SQLITE_FILE")
    sp.add_argument("--type", dest="types", action="append", default=[], metavar="TABLE.COLUMN=PGTYPE",
                    help="override a column's target type (repeatable), e.g. --type users.created_at=timestamptz")
    sp.add_argument("--keep-case", action="store_true", help="keep identifiers' exact case (default: lower case)")
    sp.add_argument("--json", action="store_true", help="print the plan as JSON")
    sp.add_argument("--save", action="store_true", help="write the plan file for later steps")
    _framework_option(sp)

    sp = add("create-databases", "Create one database per environment (and optionally an app role).")
    sp.add_argument("--server", required=True, metavar="DSN", help="an account allowed to create databases")
    sp.add_argument("--base-name", required=True, metavar="NAME", help="databases are NAME_dev, NAME_test, ...")
    sp.add_argument("--envs", type=_envs, default=["dev", "test", "prod"], metavar="dev,test,prod",
                    help="comma-separated environments (default: dev,test,prod)")
    sp.add_argument("--app-role", metavar="NAME", help="create this LOGIN role owning the databases")
    sp.add_argument("--dry-run", action="store_true", help="print the SQL that would run, change nothing")
    sp.add_argument("--drop-existing", action="store_true",
                    help="drop non-empty existing databases (asks you to type the name)")

    sp = add("env-file", "Write the app's connection settings into a .env file (merging with what is there), "
                         "and check that an unchanged app connects with them.")
    sp.add_argument("--target", metavar="DSN", help="the app's account and database (needed unless only --check)")
    sp.add_argument("--style", choices=["url", "pg-vars", "both"], default="url")
    sp.add_argument("--path", type=Path, default=Path(".env"), help="the .env file (default: ./.env)")
    where = sp.add_mutually_exclusive_group()
    where.add_argument("--password-file", action="store_true",
                       help="put the password into the standard libpq password file (~/.pgpass; "
                            "%%APPDATA%%\\postgresql\\pgpass.conf on Windows; PGPASSFILE when set), where an "
                            "unchanged app's psycopg2/psycopg/psql finds it (default: the OS keyring, which an "
                            "unchanged app does not read)")
    where.add_argument("--inline-password", action="store_true",
                       help="write the password into the .env file itself (made readable by you only)")
    sp.add_argument("--check", action="store_true",
                    help="connect with exactly what the app will read from the file (python-dotenv + psycopg2; "
                         "no keyring, no PGPASSWORD) and say whether it works; exit 1 if not")
    sp.add_argument("--env", default=None, metavar="NAME",
                    help="with --check and pg-vars: the PG_DATABASE_<NAME> to connect to (default: ENVIRONMENT)")
    sp.add_argument("--envs", type=_envs, default=None, metavar="dev,test,prod",
                    help="environments for pg-vars (default: from the database name)")
    sp.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    sp.add_argument("--gitignore", action="store_true", help="add the file to the project's .gitignore if needed")

    sp = add("compose-file", "Write a docker-compose.postgres.yml for a PostgreSQL in Docker (no password inside).")
    sp.add_argument("--path", type=Path, default=Path("docker-compose.postgres.yml"))
    sp.add_argument("--dbname", default="app_dev", help="database created at first start (default: app_dev)")
    sp.add_argument("--user", default="app", help="its owner (default: app)")
    sp.add_argument("--port", type=_positive_int, default=5432, help="port on 127.0.0.1 (default: 5432)")
    sp.add_argument("--force", action="store_true", help="replace an existing file")

    sp = add("make-demo", "Write a small demo SQLite database (users, posts, a BLOB, a view, a trigger) to try "
                          "the tool on.")
    sp.add_argument("path", type=Path, nargs="?", default=Path("demo.db"), metavar="PATH",
                    help="the file to write (default: ./demo.db)")
    sp.add_argument("--force", action="store_true", help="replace an existing file")

    sp = add("migrate", "Copy the data: create tables, batched COPY, indexes, foreign keys, sequences.")
    sp.add_argument("sqlite_file", type=Path, metavar="SQLITE_FILE")
    sp.add_argument("--target", required=True, metavar="DSN")
    sp.add_argument("--jobs", type=_positive_int, default=os.cpu_count() or 2, metavar="N",
                    help="worker processes copying table ranges, and connections building indexes "
                         "(default: CPU count)")
    sp.add_argument("--batch-size", type=_positive_int, default=50_000, metavar="N",
                    help="rows per committed batch (default: 50000; a batch of big rows ends sooner, at about 64 MB)")
    sp.add_argument("--restart", action="store_true", help="empty the target tables and start over")
    sp.add_argument("--on-error", choices=["fail", "skip"], default="fail",
                    help="fail: stop at the first bad batch; skip: write bad rows to a rejects file")
    sp.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sp.add_argument("--backup-dir", type=Path, default=None,
                    help="where the source snapshot goes (default: beside the SQLite file)")
    sp.add_argument("--keep-snapshots", action="store_true",
                    help="keep the older snapshots of the source (by default a finished migration removes them, "
                         "keeping its own for verify and any an unfinished migration still needs)")
    sp.add_argument("--owner", metavar="ROLE", default=None,
                    help="afterwards make this role (e.g. the app role) the owner of the migrated tables")
    _framework_option(sp)
    _stall_option(sp)

    sp = add("verify", "Prove every row arrived: counts, checksums and the differing rows.")
    sp.add_argument("sqlite_file", type=Path, metavar="SQLITE_FILE")
    sp.add_argument("--target", required=True, metavar="DSN")
    sp.add_argument("--json", action="store_true", help="print the report as JSON")
    sp.add_argument("--report", type=Path, metavar="FILE", help="also write the report (.md or .json)")
    sp.add_argument("--jobs", type=_positive_int, default=os.cpu_count() or 2, metavar="N",
                    help="tables read at once, in worker processes (default: CPU count)")
    sp.add_argument("--examples", type=_positive_int, default=10, metavar="N",
                    help="differing rows listed per table (default: 10)")
    _stall_option(sp)
    return p


def _framework_option(sp: argparse.ArgumentParser) -> None:
    from wizard.source.frameworks import FRAMEWORKS

    sp.add_argument("--framework", default=None, metavar="NAME",
                    help="the framework that made the database, when not found from its migrations table: "
                         f"{', '.join(FRAMEWORKS)}, or none (default: found in the data)")


def _stall_option(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--stall-timeout", type=_positive_int, default=int(default_stall_seconds()), metavar="SECONDS",
                    help="give up on a connection that makes no progress and whose server does not answer for "
                         "this long (a stalled network): the run stops and the same command resumes it "
                         f"(default: {DEFAULT_STALL_S:.0f}, or {STALL_ENV})")


def _handlers() -> dict[str, Handler]:
    from wizard.cli import commands

    return {
        "wizard": commands.run_tui,
        "inspect": commands.cmd_inspect,
        "plan": commands.cmd_plan,
        "create-databases": commands.cmd_create_databases,
        "env-file": commands.cmd_env_file,
        "make-demo": commands.cmd_make_demo,
        "compose-file": commands.cmd_compose_file,
        "migrate": commands.cmd_migrate,
        "verify": commands.cmd_verify,
    }


COMMANDS = ("wizard", "inspect", "plan", "create-databases", "env-file", "compose-file", "make-demo", "migrate",
            "verify")


def _route(argv: list[str]) -> list[str]:
    """Insert the implicit `wizard` command when the first positional word is not a command (a file, or none)."""
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok in ("-h", "--help", "--version"):
            return argv
        if tok == "--plan-file":
            i += 2
            continue
        if tok.startswith("-"):
            i += 1
            continue
        return argv if tok in COMMANDS else [*argv[:i], "wizard", *argv[i:]]
    return [*argv, "wizard"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_route(list(sys.argv[1:] if argv is None else argv)))
    debug = bool(getattr(args, "debug", False))
    try:
        return _handlers()[args.command](args)
    except WizardError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(exc.render() + "\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: what was committed is kept; run the same command again to resume.\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # an unexpected failure still gets one readable line
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"error: unexpected {type(exc).__name__}: {exc}\n"
                         "  next step: rerun with --debug and report the traceback.\n")
        return EXIT_USAGE
