"""The TUI shell starts headless and shows its welcome (the full wizard screens build on it)."""

from __future__ import annotations

from textual.widgets import Static

from screens.app import WizardApp


async def test_app_starts_and_quits() -> None:
    app = WizardApp()
    async with app.run_test(size=(80, 24)) as pilot:
        welcome = app.query_one("#welcome", Static)
        assert "pgmigrate-wizard" in str(welcome.content)
        assert "migrate SQLITE_FILE --target local" in str(welcome.content)
        await pilot.press("ctrl+q")
    assert app.return_code in (0, None)


async def test_the_file_argument_is_shown(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = WizardApp(sqlite_file=tmp_path / "shop.db")
    async with app.run_test(size=(100, 30)):
        assert f"inspect {tmp_path / 'shop.db'}" in str(app.query_one("#welcome", Static).content)
