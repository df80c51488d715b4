"""The debugger in a real JupyterLab and Notebook 7, in Chromium, as a person would use it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.conftest import SHOTS


def open_and_run_all(page: Page, server: dict, notebook: str, ui: str = "lab") -> None:
    path = f"lab/tree/{notebook}" if ui == "lab" else f"notebooks/{notebook}"
    page.goto(f"{server['url']}/{path}?token={server['token']}")
    page.locator(".jp-Notebook").first.wait_for()
    expect(page.locator(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus").first).to_be_visible()
    page.wait_for_timeout(1500)  # let the kernel connect before running
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def node(page: Page, name: str):
    return page.locator(".af_graph g.node", has=page.locator(f"title:text-is('{name}')")).last


def field(page: Page, name: str):
    return page.locator(".af_field", has=page.locator(f"b:text-is('{name}')")).last


def status(page: Page):
    return page.locator(".af_status").last


def shot(page: Page, name: str) -> None:
    page.locator(".af_debugger").last.screenshot(path=str(SHOTS / f"{name}.png"))


def debug_step_through(page: Page, server: dict, ui: str) -> None:
    open_and_run_all(page, server, "02_step_through_debugging.ipynb", ui)
    expect(status(page)).to_have_attribute("data-status", "paused", timeout=90_000)
    page.locator(".af_debugger").last.scroll_into_view_if_needed()
    expect(node(page, "ASSESS_RISK")).to_have_class(re.compile(r"\baf_after\b"))
    expect(node(page, "VALIDATE")).to_have_class(re.compile(r"\baf_visited\b"))
    expect(node(page, "PAY")).to_have_class(re.compile(r"\baf_bp_before\b"))
    shot(page, f"{ui}-1-paused-after-assess")

    amount = field(page, "amount").locator("input").first
    amount.fill("120")
    amount.press("Enter")
    field(page, "approved").locator("input[type=checkbox]").check()
    page.locator(".af_controls button", has_text="Resume").last.click()
    expect(node(page, "PAY")).to_have_class(re.compile(r"\baf_before\b"), timeout=30_000)
    expect(status(page)).to_have_attribute("data-status", "paused")
    expect(status(page)).to_contain_text("PAY")
    expect(field(page, "amount").locator("input").first).to_have_value("120")
    expect(field(page, "approved").locator("input[type=checkbox]")).to_be_checked()
    shot(page, f"{ui}-2-edit-applied-paused-before-pay")
    box = page.locator(".af_debugger").last.bounding_box()
    page.screenshot(path=str(SHOTS / f"{ui}-readme.png"),
                    clip={"x": box["x"], "y": box["y"], "width": min(box["width"], 1000), "height": 430})

    amount = field(page, "amount").locator("input").first
    amount.fill("-5")
    amount.press("Enter")
    page.locator(".af_controls button", has_text="Resume").last.click()
    expect(field(page, "amount").locator(".af_error_text")).to_contain_text("greater than or equal to 0")
    expect(status(page)).to_have_attribute("data-status", "paused")
    shot(page, f"{ui}-3-invalid-edit-refused")


def test_step_through_debugging_in_jupyterlab(page, server):
    debug_step_through(page, server, "lab")


def test_step_through_debugging_in_notebook_7(page, server):
    debug_step_through(page, server, "notebook7")


def test_stop_button_during_a_slow_node_in_jupyterlab(page, server):
    open_and_run_all(page, server, "03_stop_and_streaming.ipynb")
    expect(status(page)).to_have_attribute("data-status", "running", timeout=90_000)
    expect(node(page, "SLOW_WORK")).to_have_class(re.compile(r"\baf_running\b"))
    page.locator(".af_debugger").last.scroll_into_view_if_needed()
    shot(page, "lab-4-running")
    stop = page.locator(".af_controls button", has_text="Stop").last
    expect(stop).to_be_enabled()
    stop.click()
    expect(status(page)).to_have_attribute("data-status", "stopped", timeout=30_000)
    expect(node(page, "SLOW_WORK")).to_have_class(re.compile(r"\baf_stopped\b"))
    expect(page.locator(".af_controls button", has_text="Resume").last).to_be_enabled()
    shot(page, "lab-5-stopped")
