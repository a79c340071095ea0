"""Step 6: the data copy, with an overall bar and one per table, a log, Stop/Resume, and Retry / Skip / Abort."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from collections.abc import Iterable

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Label, Log, ProgressBar, Select, Static

from screens.base import StepScreen
from screens.copy_targets import RESTARTABLE, recorded_runs, stored_progress
from screens.widgets import ChoiceModal, ConfirmNameModal, StepList
from wizard.cli.progress_view import failed_statement_line, snapshot_lines
from wizard.data_copy.model import CopyError, CopyOptions, MigrationResult, Progress
from wizard.data_copy.run import migrate
from wizard.data_copy.state import reset_target
from wizard.errors import Cancelled, InputError, WizardError


class CopyScreen(StepScreen):
    STEP = "copy"
    AUTO_FOCUS = "#start"
    BINDINGS = [Binding("ctrl+t", "press('#start')", "Start/Resume"), Binding("ctrl+x", "press('#stop')", "Stop")]
    HEADING = "6. Copy: the data, batch by batch"
    HELP = ("Pick the environment whose database receives the data, then Start. Each batch is committed with a "
            "checkpoint, so Stop (or a crash) loses nothing: Resume continues after the last committed batch. If "
            "a row cannot be loaded you choose: Retry (after fixing the cause), Skip rows (bad rows go to a "
            "rejects file and are counted), or Abort.")

    def body(self) -> Iterable[Widget]:
        with Horizontal(classes="row"):
            yield Label("Into", classes="field-label")
            yield Select([("(no connection yet)", "none")], id="env", allow_blank=False, classes="wide",
                         compact=True)
        with Horizontal(classes="row"):
            yield Button("Start", id="start", variant="primary", compact=True)
            yield Button("Stop", id="stop", disabled=True, compact=True)
        yield Static("", id="target", markup=False)
        yield Label("Overall")
        yield ProgressBar(total=1, id="overall", show_eta=False)  # 0% until the first event
        yield Vertical(id="bars")
        yield Log(id="log", max_lines=500)

    def on_mount(self) -> None:
        self._cancel_event = threading.Event()
        self._latest_progress: dict[str, Progress] = {}
        self._progress_lock = threading.Lock()
        self._copying = False
        self._post_logged = False
        self._quit_after = False  # Ctrl+Q during the copy: leave once it has stopped and its last steps are done
        self._asked = False  # the password dialog was shown on arrival (not again each time a dialog closes)
        self._last_found = ""
        self._started = time.monotonic()
        self._overall = (0, 0)  # rows copied, rows in all
        self._stage = "copying"
        self._ticked = -1
        self._shown: dict[str, Progress] = {}  # what each bar's label says, to repaint it without a rate
        self.set_interval(0.1, self._paint)

    def refresh_step(self) -> None:
        envs = self.state.databases or {}
        select = self.query_one("#env", Select)
        server = self.state.server
        options = [(f"{env}: {db}", env) for env, db in envs.items()] or \
            [(f"{server.dbname} (the connection's)" if server else "(no connection yet)", "default")]
        select.set_options(options)
        select.value = self.state.target_env if self.state.target_env in envs else options[0][1]
        self._show_target()
        if self._copying:
            return
        if server is not None and server.password is None and not self._asked:
            # a restarted wizard without a keyring: whether a copy there can be resumed is only known by looking,
            # so the password is asked for now (once), not after Start has failed
            self._asked = True
            self.with_password(self._show_resumable, "look for a stopped copy in the target")
            return
        self._show_resumable()

    @on(Select.Changed, "#env")
    def _env_changed(self, event: Select.Changed) -> None:
        value = event.value
        if isinstance(value, str) and value in self.state.databases and value != self.state.target_env:
            self.state.target_env = value
            self.state.save()  # a restarted wizard comes back to this target (and its resumable copy)
            self._clear_view()
            if not self._copying:
                self._show_resumable()
        self._show_target()

    def _clear_view(self) -> None:
        """Forget the bars of another target (or an earlier run): they are not this target's state."""
        self.query_one("#bars", Vertical).remove_children()
        self._shown.clear()
        self.query_one("#overall", ProgressBar).update(total=1, progress=0)

    def _show_target(self) -> None:
        spec = self.state.target_spec()
        where = f"{spec.user}@{spec.host}:{spec.port}/{spec.dbname}" if spec else ""  # no URL to wrap mid-word
        self.query_one("#target", Static).update(f"target: {where}" if spec else "Test a connection first (step 2).")

    def _show_resumable(self) -> None:
        """Look at the chosen target and every other environment's database for a copy that was stopped or killed:
        the chosen one shows its bars as they stand; an interrupted one elsewhere becomes the chosen target, so
        Resume is one key away after a restart."""
        server = self.state.server
        if server is None:
            return
        chosen = self.state.target_env if self.state.target_env in self.state.databases else None
        targets = {env: server.with_dbname(db) for env, db in self.state.databases.items()} or \
            {"default": server}

        def job() -> None:
            self.app.call_from_thread(looked, recorded_runs(targets))

        def looked(found: dict[str, dict]) -> None:  # type: ignore[type-arg]
            if self._copying:
                return
            if chosen not in found:
                stopped = next((e for e, st in found.items() if st["phase"] != "done" and e in self.state.databases),
                               None)
                if stopped is not None and stopped != self.state.target_env:
                    self.query_one("#env", Select).value = stopped  # _env_changed saves it and looks again
                    return
            env = chosen if chosen in found else "default"
            button = self.query_one("#start", Button)
            state = found.get(env)
            if state is None:
                button.label = "Start"
                return
            done = sum(int(t["rows_done"]) for t in state["tables"].values())
            finished = state["phase"] == "done"
            button.label = "Start" if finished else "Resume"
            where = targets[env].dbname
            line = f"{where} holds a {'finished' if finished else 'stopped'} migration: {done:,} rows already copied"
            if line != self._last_found:  # looked again (a dialog closed): said once
                self._last_found = line
                self.log_line(line)
            if not finished:
                self.message.info(f"▶ The copy into {where} was stopped after {done:,} rows: Resume (Ctrl+T) "
                                  "continues after its last committed batch, without copying a row twice.")
            self._show_stored(state)

        self.run_worker(job, thread=True, group="copy-state", exit_on_error=False)

    def _show_stored(self, state: dict) -> None:  # type: ignore[type-arg]
        if self.state.plan is not None:
            with self._progress_lock:
                self._latest_progress.update((p.table, p) for p in stored_progress(self.state.plan, state))

    @property
    def copying(self) -> bool:
        return self._copying

    def log_line(self, text: str) -> None:
        """Add a line to the log, wrapped to its width: a Log does not wrap, and the end of a long line (the
        offending keys of a constraint) would otherwise need scrolling sideways to read."""
        log = self.query_one("#log", Log)
        width = log.scrollable_content_region.width - 1  # not laid out yet: 0, and the line goes as it is
        wrapped = textwrap.wrap(text, width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)
        log.write_lines((wrapped if width >= 20 else None) or [text])  # a path or URL stays whole, to copy

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.with_password(self.start, "copy the data")

    def start(self, on_error: str = "fail") -> None:
        spec, plan = self.state.target_spec(), self.state.plan
        if spec is None or plan is None:
            self.message.info("▶ A source (step 1) and a connection (step 2) are needed first.")
            return
        self._cancel_event = threading.Event()
        self._copying = True
        self._post_logged = False
        self._clear_view()
        self._started = time.monotonic()
        self._overall = (0, sum(t.row_count for t in plan.included_tables))
        self._stage = "copying"
        self._ticked = -1
        self.message.info(f"… copying into {spec.dbname}; Stop (Ctrl+X) keeps every committed batch.")
        self.query_one("#start", Button).disabled = True
        self.query_one("#stop", Button).disabled = False
        self.log_line(f"copying into {spec} (on error: {'skip rows' if on_error == 'skip' else 'stop'})")
        source = self.state.sqlite_path
        rejects = source.absolute().parent / "pgmigrate-rejects" if source else None
        options = CopyOptions(jobs=os.cpu_count() or 2, on_error=on_error, rejects_dir=rejects)

        def progress(p: Progress) -> None:  # called from the copy's threads: keep it cheap, the timer paints
            with self._progress_lock:
                self._latest_progress[p.table] = p

        def job() -> None:
            try:
                result = migrate(plan, spec, options, on_progress=progress, cancel=self._cancel_event)
            except BaseException as exc:
                self.app.call_from_thread(self._stopped, exc)
                return
            self.app.call_from_thread(self._finished, result)

        self.run_worker(job, thread=True, exclusive=True, group="copy", exit_on_error=False)

    @on(Button.Pressed, "#stop")
    def stop(self) -> None:
        self._cancel_event.set()
        self.log_line("stopping after the current batch…")

    def _paint(self) -> None:
        with self._progress_lock:
            latest = dict(self._latest_progress)
            self._latest_progress.clear()
        found_bars = self.query("#bars")
        if not found_bars:
            return  # the screen is being left (Next pressed): a last tick has nothing to paint
        bars = found_bars.first(Vertical)
        for p in latest.values():
            bar_id = "bar-" + str(abs(hash(p.table)))
            found = bars.query(f"#{bar_id}")
            if not found:
                # one line per table (its name and counts, then its bar): the log keeps room on a small terminal
                bars.mount(Horizontal(Label(p.table, id=f"label-{bar_id}", classes="bar-label"),
                                      ProgressBar(total=max(p.rows_total, 1), id=bar_id, show_eta=False),
                                      classes="bar-row"))
                with self._progress_lock:  # painted on the next tick, once the bar is mounted
                    self._latest_progress.setdefault(p.table, p)
                continue
            bar = found.first(ProgressBar)
            bar.update(total=max(p.rows_total, p.rows_done, 1), progress=p.rows_done)
            self._shown[p.table] = p
            rate = f", {p.rows_per_s:,.0f} rows/s" if p.rows_per_s else ""
            eta = f", ETA {p.eta_s:.0f} s" if p.eta_s else ""
            self.query_one(f"#label-{bar_id}", Label).update(f"{p.table}: {p.phase} {p.rows_done:,}/"
                                                              f"{p.rows_total:,}{rate}{eta}")
            if p.phase in ("done", "resumed"):
                self.log_line(f"{p.table}: {p.phase} at {p.rows_done:,} rows")
            elif p.phase == "post" and not self._post_logged:
                self._post_logged = True
                self.log_line("all rows copied; building keys, indexes and foreign keys…")
            self.query_one("#overall", ProgressBar).update(total=max(p.overall_total, 1), progress=p.overall_done)
            self._overall = (p.overall_done, p.overall_total)
            if p.phase == "post":
                self._stage = "building keys, indexes and foreign keys"
        self._tick()

    def _tick(self) -> None:
        """While copying: how long it has run, how far it got, and what it does now (the index stage has no
        rows to count), once a second."""
        if not self._copying or self._quit_after:
            return
        elapsed = int(time.monotonic() - self._started)
        if elapsed == self._ticked:
            return
        self._ticked = elapsed
        done, total = self._overall
        spec = self.state.target_spec()
        self.message.info(f"… {self._stage} into {spec.dbname if spec else 'the target'}: {elapsed} s, {done:,} of "
                          f"{total:,} rows; Stop (Ctrl+X) keeps every committed batch.")

    def _idle(self) -> None:
        self._copying = False
        for p in self._shown.values():  # no rows flow now: a rate or an ETA would be stale
            found = self.query(f"#label-bar-{abs(hash(p.table))}")
            if found:
                found.first(Label).update(f"{p.table}: {p.phase} {p.rows_done:,}/{p.rows_total:,}")
        self.query_one("#start", Button).disabled = False
        self.query_one("#stop", Button).disabled = True

    def _finished(self, result: MigrationResult) -> None:
        self._paint()
        self._idle()
        self.query_one("#start", Button).label = "Start"
        total = sum(t.rows for t in result.tables)
        overall = self.query_one("#overall", ProgressBar)
        overall.update(total=max(total + result.rejected, 1), progress=total + result.rejected)
        self.state.changed("copy")  # a report of an earlier copy no longer holds
        self.state.copy_result = result
        self.state.status["copy"] = "done"
        if result.plan is not None and result.plan is not self.state.plan:
            # a table re-planned by the copy (a value its sample did not show): verify must use its new types
            result.plan.wizard_state = self.state.plan.wizard_state if self.state.plan else {}
            self.state.plan = result.plan
        self.state.written["snapshot"] = result.snapshot.path
        for line in snapshot_lines(result):
            self.log_line(line)
        for note in result.notes:
            self.log_line(note)
        for t in result.tables:
            self.log_line(f"{t.table}: {t.rows:,} rows" + (f", {t.rejected:,} rejected → {t.rejects_file}"
                                                           if t.rejected else ""))
        for r in result.failed_statements:
            self.log_line(failed_statement_line(r))
        self.state.save()
        self._hand_over()
        if result.already_done:
            self.succeeded(f"✓ Already migrated: {total:,} rows are in the target. Press Next to verify.")
        else:
            rejected = f", {result.rejected:,} rejected (see the rejects file)" if result.rejected else ""
            took = time.monotonic() - self._started
            earlier = sum(t.resumed_from for t in result.tables)
            this_run = f"{total - earlier:,} of them in this run, " if earlier else ""
            self.succeeded(f"✓ Copied {total:,} rows{rejected} ({this_run}{took:.0f} s). Press Next to verify.")

    def _hand_over(self) -> None:
        """With an app role, the app must own its tables to use them: hand them over after the copy (a quit asked
        for during the copy waits for this too)."""
        role, spec, plan = self.state.app_role, self.state.target_spec(), self.state.plan
        if not role or not self.state.databases or spec is None or plan is None:
            self._leave_if_quitting()
            return
        from wizard.target.databases import hand_over

        def handed(count: int) -> None:
            self.log_line(f"{count} table(s)/view(s) now owned by {role}")
            self._leave_if_quitting()

        self.in_thread(lambda: hand_over(spec, plan, role), handed, busy=None, group="copy-owner")

    def quit_during_copy(self) -> None:
        """Ctrl+Q while rows flow: stop after the current batch, finish what must follow, then quit."""
        self._quit_after = True
        self.stop()
        self.message.info("… stopping after the current batch; the wizard closes once it is committed "
                          "(Resume continues from there next time).")

    def _leave_if_quitting(self) -> None:
        if self._quit_after:
            self.app.exit(0)

    def _stopped(self, exc: BaseException) -> None:
        self._idle()
        if isinstance(exc, Cancelled):
            self.query_one("#start", Button).label = "Resume"
            self.log_line("stopped: every committed batch is kept")
            self.message.info("Stopped. Resume continues after the last committed batch.")
            self._leave_if_quitting()
            return
        if self._quit_after:  # the copy failed while stopping: what it committed is kept, the error is in the log
            self.log_line(f"error while stopping: {exc}")
            self._leave_if_quitting()
            return
        if isinstance(exc, InputError) and exc.title in RESTARTABLE:
            self._offer_restart(exc)
            return
        self.failed(exc)
        self.query_one("#start", Button).label = "Resume"
        title = exc.title if isinstance(exc, WizardError) else "Copy failed"
        text = exc.message if isinstance(exc, WizardError) else f"{type(exc).__name__}: {exc}"
        hint = f"\n\n{exc.hint}" if isinstance(exc, WizardError) and exc.hint else ""
        self.log_line(f"error: {text}")
        choices = [("retry", "Retry"), ("abort", "Abort")]
        if isinstance(exc, CopyError):
            choices.insert(1, ("skip", "Skip rows (to rejects)"))

        def chosen(choice: str | None) -> None:
            if choice == "retry":
                self.start()
            elif choice == "skip":
                self.start(on_error="skip")
            else:
                self.log_line("aborted: run it again with Resume when ready")

        self.app.push_screen(ChoiceModal(title, text + hint, choices), chosen)

    def _offer_restart(self, exc: InputError) -> None:
        """The target holds what this copy cannot continue (another file's migration, another plan's, tables it
        did not make, a changed snapshot): explain, and offer to start over there after the name is typed."""
        spec, plan = self.state.target_spec(), self.state.plan
        assert spec is not None and plan is not None
        self.state.status[self.STEP] = "failed"
        self.query_one(StepList).show(self.STEP, self.state.status)
        self.message.error(InputError(exc.message, title=exc.title, hint=RESTARTABLE[exc.title]))
        self.query_one("#start", Button).label = "Start"
        self.log_line(f"error: {exc.message}")

        def confirmed(yes: bool | None) -> None:
            if not yes:
                self.log_line(f"not restarted: {spec.dbname} is unchanged")
                return
            self.in_thread(lambda: reset_target(plan, spec), lambda _: self._restarted(spec.dbname),
                           busy=f"dropping the earlier copy in {spec.dbname}…", group="copy-reset")

        def chosen(choice: str | None) -> None:
            if choice == "restart":
                self.app.push_screen(ConfirmNameModal(spec.dbname, 0, (
                    f"Start over in {spec.dbname}: its copied tables and the record of that migration are dropped, "
                    "then this source is copied. Type the database's name to confirm; anything else keeps it.")),
                    confirmed)
            else:
                self.log_line(f"not restarted: {spec.dbname} is unchanged")

        self.app.push_screen(ChoiceModal(exc.title, exc.message + "\n\n" + RESTARTABLE[exc.title],
                                         [("restart", "Start over there"), ("abort", "Cancel")]), chosen)

    def _restarted(self, dbname: str) -> None:
        self.log_line(f"{dbname}: the earlier copy is dropped; copying again")
        self.start()

    def can_leave(self) -> str | None:
        if self._copying:
            return "The copy is still running; wait for it or press Stop."
        if self.state.copy_result is None:
            return "Start the copy first."
        return None
