"""Every owner screen is usable 360 px wide: nothing scrolls sideways, and nothing the
shell draws is hidden under something else. (The officer tests check their screens.)"""
from __future__ import annotations

import pytest

OWNER_SCREENS = ["/#/inbox", "/#/cameras", "/#/cameras/new", "/#/history", "/#/settings", "/#/two-step",
                 "/#/scan", "/#/signin", "/#/signup", "/#/forgot", "/#/reset/1.not-a-live-link", "/#/nowhere"]


@pytest.fixture
def context_options(context_options):
    return {**context_options, "viewport": {"width": 360, "height": 740}}


@pytest.mark.parametrize("signed_in", [True, False], ids=["owner", "visitor"])
def test_owner_screens_fit_360_px(context, page, live_server, signed_in):
    if signed_in:
        live_server.sign_in_context(context, "owner")
    for path in OWNER_SCREENS:
        page.goto(path)
        page.wait_for_selector("main h1")
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width} px wide"
        # The heading the shell focuses is the screen's own, so screen readers announce it.
        assert page.evaluate("document.activeElement && document.activeElement.tagName") in ("H1", "MAIN"), path
