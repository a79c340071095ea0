"""What the wizard has learned so far, shared by its screens, and saved into the plan file (never a password)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.data_copy.model import MigrationResult
from wizard.plan_model import MigrationPlan, default_plan_path, save_plan
from wizard.target.connection import ConnectionSpec
from wizard.verify.results import VerifyReport

STEPS: list[tuple[str, str]] = [
    ("source", "Source"), ("connection", "Connection"), ("databases", "Databases"), ("schema", "Schema"),
    ("envfile", ".env"), ("copy", "Copy"), ("verify", "Verify"),
]
STEP_NAMES = [name for name, _ in STEPS]

# What each step's result is built on: when a step's result changes, what was done after it on the old one is
# stale (shown as such, and done again before it counts). The .env depends on where the data goes, not on the data.
DEPENDENTS: dict[str, tuple[str, ...]] = {
    "source": ("schema", "copy", "verify"),
    "connection": ("databases", "envfile", "copy", "verify"),
    "databases": ("envfile", "copy", "verify"),
    "schema": ("copy", "verify"),
    "envfile": (),
    "copy": ("verify",),
    "verify": (),
}


@dataclass
class WizardState:
    sqlite_path: Path | None = None
    plan_path: Path | None = None
    plan: MigrationPlan | None = None
    server: ConnectionSpec | None = None  # the tested connection; its password lives only in memory
    local: bool = False
    base_name: str = ""
    envs: list[str] = field(default_factory=lambda: ["dev", "test", "prod"])
    app_role: str = ""
    app_password: str | None = field(default=None, repr=False)
    databases: dict[str, str] = field(default_factory=dict)  # env -> database, once created or chosen
    target_env: str = "dev"
    env_path: str = ".env"
    env_style: str = "url"
    status: dict[str, str] = field(default_factory=dict)  # step -> "done" / "skipped" / "failed" / "stale"
    step: str = "source"
    copy_result: MigrationResult | None = None
    report: VerifyReport | None = None
    written: dict[str, str] = field(default_factory=dict)  # what the wizard wrote where, for the summary

    def changed(self, step: str) -> None:
        """`step` has a new result: what was built on the old one is stale, and a copy or report of it is gone."""
        for later in DEPENDENTS[step]:
            if self.status.get(later) in ("done", "skipped", "failed"):
                self.status[later] = "stale"
        if "copy" in DEPENDENTS[step]:
            self.copy_result = None
        if "verify" in DEPENDENTS[step]:
            self.report = None

    def target_spec(self) -> ConnectionSpec | None:
        """Where the data goes: the chosen environment's database, else the connection's own database."""
        if self.server is None:
            return None
        return self.server.with_dbname(self.databases.get(self.target_env) or self.server.dbname)

    def app_spec(self) -> ConnectionSpec | None:
        """How the application connects: the app role when one was created, else the wizard's account."""
        target = self.target_spec()
        if target is None:
            return None
        if self.app_role and self.databases:
            return ConnectionSpec(target.host, target.port, self.app_role, target.dbname, target.sslmode,
                                  self.app_password)
        return target

    # -- persistence -------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        server = None
        if self.server is not None:
            s = self.server
            server = {"host": s.host, "port": s.port, "user": s.user, "dbname": s.dbname, "sslmode": s.sslmode}
        return {"step": self.step, "status": dict(self.status), "server": server, "local": self.local,
                "base_name": self.base_name, "envs": list(self.envs), "app_role": self.app_role,
                "databases": dict(self.databases), "target_env": self.target_env, "env_path": self.env_path,
                "env_style": self.env_style}

    def restore(self, data: dict[str, Any]) -> None:
        server = data.get("server")
        if isinstance(server, dict):
            self.server = ConnectionSpec(str(server["host"]), int(server["port"]), str(server["user"]),
                                         str(server["dbname"]), str(server.get("sslmode", "prefer")))
        self.local = bool(data.get("local", False))
        self.base_name = str(data.get("base_name", ""))
        self.envs = [str(e) for e in data.get("envs", self.envs)]
        self.app_role = str(data.get("app_role", ""))
        self.databases = {str(k): str(v) for k, v in dict(data.get("databases", {})).items()}
        self.target_env = str(data.get("target_env", "dev"))
        self.env_path = str(data.get("env_path", ".env"))
        self.env_style = str(data.get("env_style", "url"))
        self.status = {str(k): str(v) for k, v in dict(data.get("status", {})).items() if k in STEP_NAMES}
        step = str(data.get("step", "source"))
        self.step = step if step in STEP_NAMES else "source"

    def save(self) -> None:
        """Write the plan with the wizard's choices, so quitting and starting again continues here."""
        if self.plan is None or self.sqlite_path is None:
            return
        self.plan.wizard_state = self.to_dict()
        save_plan(self.plan, self.plan_path or default_plan_path(self.sqlite_path))
