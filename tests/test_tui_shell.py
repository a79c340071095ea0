"""The TUI shell starts headless and shows its welcome (the full wizard screens build on it)."""

from __future__ import annotations

from textual.widgets import Static

from screens.app import WizardApp


async def test_app_starts_and_quits() -> None:
    app = WizardApp()
    async with app.run_test(size=(80, 24)) as pilot:
        welcome = app.query_one("#welcome", Static)
        assert "pgmigrate-wizard" in str(welcome.content)
        await pilot.press("ctrl+q")
    assert app.return_code in (0, None)
