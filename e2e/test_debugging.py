"""Debugging as a person does it: edits and their errors, time travel, Stop, keys, run to here,
copy as code — in a real JupyterLab and Notebook 7, in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e.conftest import SHOTS
from e2e.helpers import (
    button,
    debugger,
    field,
    field_input,
    has_class,
    node,
    open_notebook,
    shot,
    status,
    wait_status,
)


def edit(page, name: str, value: str) -> None:
    box = field_input(page, name)
    box.fill(value)
    box.press("Tab")  # leave the box, as a person does: the value is sent on change


def error_of(page, name: str):
    return field(page, name).locator(".af_error_text")


def step_through(page, jupyter, ui: str) -> None:
    open_notebook(page, jupyter, "02_step_through_debugging.ipynb", ui)
    wait_status(page, "paused")
    debugger(page).scroll_into_view_if_needed()
    expect(node(page, "ASSESS_RISK")).to_have_class(has_class("af_after"))
    expect(node(page, "VALIDATE")).to_have_class(has_class("af_path"))
    expect(node(page, "PAY")).to_have_class(has_class("af_bp_before"))
    expect(field(page, "risk")).to_contain_text("changed by ASSESS_RISK")
    shot(page, f"{ui}-1-paused-after-assess")

    # every kind of mistake at once: text in a number box, bad JSON, a list of the wrong type
    edit(page, "amount", "lots")
    edit(page, "tags", "[oops")
    expect(field(page, "amount")).to_contain_text("edited")
    button(page, "Resume").click()
    expect(error_of(page, "amount")).to_contain_text("valid number")
    expect(error_of(page, "tags")).to_contain_text("not valid JSON")
    expect(debugger(page).locator(".af_notice")).to_contain_text("nothing was saved")
    expect(status(page)).to_have_attribute("data-status", "paused")
    edit(page, "amount", "-5")
    edit(page, "tags", "[1, 2]")
    button(page, "Resume").click()
    expect(error_of(page, "amount")).to_contain_text("greater than or equal to 0")
    expect(error_of(page, "tags")).to_contain_text("valid string")
    shot(page, f"{ui}-2-invalid-edits-refused")
    field(page, "tags").locator("button", has_text="revert").click()
    expect(field_input(page, "tags")).to_have_value('[\n "validated"\n]')

    edit(page, "amount", "120")
    field(page, "approved").locator("input[type=checkbox]").check()
    button(page, "Resume").click()
    expect(node(page, "PAY")).to_have_class(has_class("af_before"), timeout=60_000)
    wait_status(page, "paused")
    expect(status(page)).to_contain_text("PAY")
    expect(field_input(page, "amount")).to_have_value("120.0")
    expect(field(page, "approved").locator("input[type=checkbox]")).to_be_checked()
    expect(debugger(page).locator(".af_error_text")).to_have_count(0)
    shot(page, f"{ui}-3-edit-applied-paused-before-pay")

    # copy as code: the pending edit as an update_state call, in a new cell below the debugger's
    cells = page.locator(".jp-Notebook .jp-Cell")
    count = cells.count()
    edit(page, "amount", "130")
    button(page, "Copy as code").click()
    expect(cells).to_have_count(count + 1)
    added = cells.nth(count)  # the debugger's cell is the last one: the new cell follows it
    expect(added).to_contain_text("app.update_state({'thread_id': 'refund-ui'}")
    expect(added).to_contain_text("'amount': 130.0")


def test_edits_and_every_edit_error_in_jupyterlab(page, jupyter):
    step_through(page, jupyter, "lab")


def test_edits_and_every_edit_error_in_notebook_7(page, jupyter):
    step_through(page, jupyter, "notebook7")


@pytest.mark.parametrize("ui", ["lab", "notebook7"])
def test_time_travel_moves_the_whole_ui_and_resume_returns_it_to_live(page, jupyter, ui):
    open_notebook(page, jupyter, "02_step_through_debugging.ipynb", ui)
    wait_status(page, "paused")
    debugger(page).scroll_into_view_if_needed()
    debugger(page).locator(".lm-TabBar-tab", has_text="History").click()
    rows = debugger(page).locator(".af_history select option")
    expect(rows.first).to_contain_text("ASSESS_RISK ran")
    debugger(page).locator(".af_history select").select_option(label=rows.nth(1).inner_text())  # VALIDATE ran
    banner = debugger(page).locator(".af_banner.af_viewing")
    expect(banner).to_contain_text("Viewing step 1")
    expect(banner).to_contain_text("set tags")
    expect(node(page, "VALIDATE")).to_have_class(has_class("af_after"))
    expect(node(page, "ASSESS_RISK")).not_to_have_class(has_class("af_after"))
    expect(field_input(page, "risk")).to_have_value("unknown")  # the state then, read-only
    expect(field_input(page, "risk")).to_be_disabled()
    expect(field(page, "tags")).to_contain_text("changed by VALIDATE")
    expect(button(page, "Resume")).to_be_disabled()
    expect(button(page, "Resume")).to_have_attribute("title", "viewing step 1: go back to live (Esc), or Fork from "
                                                               "here to go on from it")
    shot(page, f"{ui}-4-viewing-step-1")
    debugger(page).locator(".af_inspector button", has_text="Back to live").click()
    expect(banner).to_have_count(0)
    expect(node(page, "ASSESS_RISK")).to_have_class(has_class("af_after"))
    expect(field_input(page, "risk")).to_have_value("low")
    button(page, "Resume").click()
    expect(node(page, "REJECT")).to_have_class(has_class("af_done"), timeout=60_000)  # live again, to the end
    wait_status(page, "completed")
    expect(node(page, "VALIDATE")).to_have_class(has_class("af_path"))
    expect(button(page, "Resume")).to_be_disabled()


@pytest.mark.parametrize("ui", ["lab", "notebook7"])
def test_stop_says_stopping_while_the_node_finishes_then_stopped(page, jupyter, ui):
    open_notebook(page, jupyter, "slow.ipynb", ui)
    wait_status(page, "paused")
    debugger(page).scroll_into_view_if_needed()
    button(page, "Resume").click()
    wait_status(page, "running")
    expect(node(page, "SLOW_WORK")).to_have_class(has_class("af_running"))
    expect(field_input(page, "done")).to_be_disabled()  # the known state, read-only while it runs
    shot(page, f"{ui}-5-running")
    button(page, "Stop").click()
    wait_status(page, "stopping")
    expect(status(page)).to_contain_text("waiting for SLOW_WORK to finish")
    expect(node(page, "SLOW_WORK")).to_have_class(has_class("af_stopping"))
    expect(button(page, "Stop")).to_be_disabled()
    shot(page, f"{ui}-6-stopping")
    (jupyter.root / jupyter.folder / "release").touch()  # let the slow node finish
    wait_status(page, "stopped")
    expect(node(page, "FINISH")).to_have_class(has_class("af_stopped"))
    expect(field_input(page, "done")).to_have_value("1")
    expect(button(page, "Resume")).to_be_enabled()
    events = debugger(page).locator(".af_log")
    expect(events).to_contain_text("stopped after `SLOW_WORK`")
    shot(page, f"{ui}-7-stopped")


def test_edit_errors_of_every_kind_of_field_in_jupyterlab(page, jupyter):
    open_notebook(page, jupyter, "triage.ipynb")
    wait_status(page, "paused")
    debugger(page).scroll_into_view_if_needed()
    edit(page, "ticket", '{"subject": "Order 1042"}')  # a nested model missing a field
    edit(page, "priority", "6")  # out of its range
    field(page, "escalation").locator("input[type=checkbox]").uncheck()  # no longer None, but empty
    edit(page, "scores", '{"billing": "high"}')  # a dict of the wrong value type
    button(page, "Resume").click()
    expect(error_of(page, "ticket")).to_contain_text("Field required (at body)")
    expect(error_of(page, "priority")).to_contain_text("less than or equal to 5")
    expect(error_of(page, "escalation")).to_contain_text("empty: enter a number (or tick None)")
    expect(error_of(page, "scores")).to_contain_text("unable to parse string as a number (at billing)")
    shot(page, "lab-2b-every-kind-of-field-error")
    for name in ("ticket", "scores", "escalation"):
        field(page, name).locator("button", has_text="revert").click()
    edit(page, "priority", "5")  # fine alone; the state's own validator needs an assignee for it
    button(page, "Resume").click()
    expect(debugger(page).locator(".af_inspector .af_error_text").last).to_contain_text(
        "priority 5 needs an assignee")
    expect(debugger(page).locator(".af_notice")).to_contain_text(
        "does not fit the state's schema (Value error, priority 5 needs an assignee); nothing was saved")
    field(page, "assignee").locator("input[type=checkbox]").uncheck()
    edit(page, "assignee", "ana")
    button(page, "Resume").click()
    wait_status(page, "completed")
    expect(field_input(page, "assignee")).to_have_value("ana")
    expect(field_input(page, "priority")).to_have_value("5")


def test_keys_run_to_here_and_copy_as_code(page, jupyter):
    open_notebook(page, jupyter, "triage.ipynb")
    wait_status(page, "paused")
    debugger(page).scroll_into_view_if_needed()
    # run to here, from a node's menu
    debugger(page).locator(".af_graph [data-act=fit]").click()
    node(page, "SEND").click(button="right")
    menu = debugger(page).locator(".af_menu")
    expect(menu).to_be_visible()
    expect(menu.locator("button", has_text="Break before")).to_contain_text("✓")
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    # keys: focus the graph, press s (step): SEND runs, then the run pauses after it; r resumes
    debugger(page).locator(".af_graph").focus()
    page.keyboard.press("s")
    expect(status(page)).to_contain_text("after SEND", timeout=60_000)
    expect(node(page, "SEND")).to_have_class(has_class("af_after"))
    page.keyboard.press("r")
    wait_status(page, "completed")
    expect(node(page, "SEND")).to_have_class(has_class("af_done"))
    expect(page.locator(".jp-Cell")).to_have_count(2)  # the notebook's own keys stayed out of it
    # copy as code: the shown state as an update_state call, in a new cell below
    button(page, "Copy as code").click()
    expect(debugger(page).locator(".af_notice")).to_contain_text("Code put in a new cell below.")
    cells = page.locator(".jp-Cell")
    expect(cells).to_have_count(3)
    expect(cells.nth(2)).to_contain_text("app.update_state({'thread_id': 'ticket-1042'}")
    expect(cells.nth(2)).to_contain_text("'category': 'billing'")


def test_the_saved_picture_hides_while_live_and_shows_once_the_kernel_is_gone(page, jupyter):
    open_notebook(page, jupyter, "01_approval_workflow.ipynb")
    expect(page.locator(".af_static_fallback")).to_have_count(1, timeout=120_000)
    wait_status(page, "completed")
    expect(page.locator(".af_static_fallback")).to_be_hidden()
    expect(debugger(page)).to_be_visible()
    path = f"{jupyter.folder}/01_approval_workflow.ipynb"
    file = jupyter.root / path
    # Saved, with the picture as it was when the run ended. The save is waited for by its own
    # answer and the file read from the disk: asking the server for the notebook while it writes
    # it makes jupyter-server put its backup of the old file back (`_read_notebook` restores the
    # `.~` intermediate of an atomic write when it finds the file half written), which undid the
    # save in 2 of 5 loaded runs.
    with page.expect_response(lambda r: r.request.method == "PUT" and f"/api/contents/{path}" in r.url,
                              timeout=120_000) as answer:
        page.keyboard.press("Control+s")
    assert answer.value.ok, answer.value.status
    assert "thread ui-demo: completed at FINALIZE" in file.read_text(encoding="utf-8")
    # The person closes the tab, the kernel goes, and later the saved notebook is opened again.
    page.goto("about:blank")
    jupyter.shut_down_everything()
    assert "thread ui-demo: completed at FINALIZE" in file.read_text(encoding="utf-8"), (
        f"the saved picture left the notebook file: {sorted(p.name for p in file.parent.iterdir())}")
    page.goto(f"{jupyter.url}/lab/workspaces/{jupyter.folder}/tree/{path}?token={jupyter.token}")
    fallback = page.locator(".af_static_fallback")
    expect(fallback).to_be_visible(timeout=120_000)
    expect(fallback).to_contain_text("thread ui-demo: completed at FINALIZE")
    expect(fallback.locator("svg.af_svg").first).to_be_visible()
    expect(page.locator(".af_debugger")).to_have_count(0)
    fallback.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "lab-8-saved-picture-without-kernel.png"))
