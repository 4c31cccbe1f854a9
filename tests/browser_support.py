"""Starting `streamlit run dashboard.py` and Debian's Chromium for browser tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.browser import CHROMIUM, DashboardDidNotStart, chromium, free_port, running_streamlit

__all__ = ["free_port", "launch_chromium", "running_dashboard"]


@contextmanager
def running_dashboard(
    db_url: str,
    simulator_url: str,
    log_dir: Path,
    secrets: Callable[[int], str] | None = None,
    secrets_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    address: str = "127.0.0.1",
) -> Iterator[str]:
    """`streamlit run dashboard.py` on a free port, listening on ``address`` (loopback unless a test
    says otherwise); yields its base URL, always reached through 127.0.0.1."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (`make test` does, as root)")
    try:
        with running_streamlit(
            db_url,
            simulator_url,
            log_dir / "streamlit.log",
            extra_env=extra_env,
            address=address,
            secrets_text=secrets,
            secrets_dir=secrets_dir,
        ) as base:
            yield base
    except DashboardDidNotStart as error:
        pytest.fail(str(error))


@contextmanager
def launch_chromium(extra_args: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    with chromium(extra_args) as browser:
        yield browser


def wait_until_idle(page, timeout_ms: int = 60_000) -> None:  # type: ignore[no-untyped-def]
    """Until the script run has finished: a widget used while it runs is drawn again when it ends."""
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=timeout_ms)


def choose_option(page, combobox: str, typed: str, attempts: int = 3) -> None:  # type: ignore[no-untyped-def]
    """Type into a selectbox and pick the first matching option, again if a rerun redrew the list."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, attempts + 1):
        wait_until_idle(page)
        chooser = page.get_by_role("combobox", name=combobox)
        chooser.click()
        chooser.fill(typed)
        try:
            page.get_by_role("option").first.click(timeout=10_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts:
                raise
            page.keyboard.press("Escape")
