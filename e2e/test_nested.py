"""Nested graphs in the debugger, as a person uses them in JupyterLab and Chromium: open a closed
subgraph, click a breakpoint inside it, step into, over and out, and edit a subgraph's frame."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from e2e import helpers
from e2e.helpers import debugger, field, field_input, has_class, node, open_notebook, shot, status, wait_status


def control(page: Page, label: str) -> Locator:
    """A toolbar button by its exact label ("Step" alone would match all three steps)."""
    return debugger(page).locator(".af_toolbar button", has_text=re.compile(rf"^\s*{label}$"))


def cluster(page: Page, path: str) -> Locator:
    """An open subgraph's box."""
    return debugger(page).locator(".af_canvas g.cluster", has=page.locator(f"title:text-is('cluster_{path}')"))


def stack(page: Page) -> Locator:
    return debugger(page).locator(".af_stack select")


def paused_at(page: Page, words: str) -> None:
    """Wait for a pause whose status line says `words` (e.g. "before RESEARCHER/SEARCH")."""
    expect(status(page)).to_contain_text(words, timeout=120_000)
    wait_status(page, "paused")


def test_open_a_subgraph_break_inside_it_then_step_into_over_and_out(page, jupyter):
    open_notebook(page, jupyter, "08_nested_agents.ipynb")
    paused_at(page, "before RESEARCHER")
    debugger(page).scroll_into_view_if_needed()
    expect(cluster(page, "RESEARCHER")).to_have_class(has_class("af_before"))  # the subgraph node, open
    writer = node(page, "WRITER")
    expect(writer).to_have_class(has_class("af_sub"))  # drawn closed: one node
    expect(node(page, "WRITER/DRAFT")).to_have_count(0)
    expect(control(page, "Step out")).to_be_disabled()  # not inside a subgraph yet
    expect(control(page, "Step out")).to_have_attribute("title", re.compile("not inside a subgraph"))
    shot(page, "lab-nested-1-writer-closed")

    # open the writer with its + button; its nodes show in a labelled box
    debugger(page).locator(".af_fold[data-path='WRITER']").click()
    expect(cluster(page, "WRITER")).to_have_count(1)
    expect(debugger(page).locator(".af_fold[data-path='WRITER']")).to_have_text("−")
    draft = node(page, "WRITER/DRAFT")
    expect(draft).to_be_visible()
    expect(node(page, "WRITER/REVIEW")).to_have_class(has_class("af_bp_before"))  # the writer's own approval

    # a breakpoint inside it, by a click
    draft.click()
    expect(draft).to_have_class(has_class("af_bp_before"))
    expect(debugger(page).locator(".af_notice")).to_contain_text("Breakpoint before WRITER/DRAFT on")
    shot(page, "lab-nested-2-writer-open-breakpoint-inside")

    # step into the researcher: paused before its first node, the call stack on the right
    control(page, "Step into").click()
    paused_at(page, "before RESEARCHER/SEARCH")
    expect(node(page, "RESEARCHER/SEARCH")).to_have_class(has_class("af_before"))
    expect(cluster(page, "RESEARCHER")).to_have_class(has_class("af_frame"))
    expect(stack(page).locator("option")).to_have_text([re.compile(r"^RESEARCHER\s·\sat\sSEARCH\s·\sResearch"),
                                                        re.compile(r"^app\s·\sat\sRESEARCHER\s·\sNewsroom")])
    expect(field(page, "queries")).to_be_visible()  # the researcher's own field
    expect(control(page, "Step out")).to_be_enabled()
    # one screen at 1280x800 with the file browser open, the three step buttons and the stack included
    search = node(page, "RESEARCHER/SEARCH")
    helpers.wait_inside(debugger(page).locator(".af_graph"), search)  # followed into the subgraph
    for part in (control(page, "Resume"), control(page, "Step over"), control(page, "Step into"),
                 control(page, "Step out"), control(page, "Stop"), status(page), search, stack(page),
                 field_input(page, "topic")):
        assert helpers.inside_viewport(page, part), (part, part.bounding_box(), page.viewport_size)
    assert debugger(page).bounding_box()["height"] <= 760

    # step over one node inside it
    control(page, "Step over").click()
    paused_at(page, "after RESEARCHER/SEARCH")
    expect(status(page)).to_have_attribute("title", re.compile(r"^paused after RESEARCHER/SEARCH · thread herons"))
    expect(field(page, "notes")).to_contain_text("changed by RESEARCHER/SEARCH")
    expect(field_input(page, "queries")).to_have_value("1")
    stack(page).select_option(label=stack(page).locator("option").nth(1).inner_text())  # one level up
    expect(field(page, "queries")).to_have_count(0)  # the supervisor's state: no researcher fields
    expect(field_input(page, "notes")).to_have_value("[]")  # nothing passed out yet
    shot(page, "lab-nested-3-stepped-over-search-parent-frame")

    # step out: the researcher finishes, back in the supervisor, the notes passed out
    control(page, "Step out").click()
    paused_at(page, "after RESEARCHER")
    expect(cluster(page, "RESEARCHER")).to_have_class(has_class("af_after"))
    expect(debugger(page).locator(".af_stack")).to_be_hidden()  # at the top level: no stack to show
    expect(field_input(page, "notes")).to_have_value(re.compile("Herons stand still"))
    expect(control(page, "Step out")).to_be_disabled()

    # resume: the breakpoint clicked inside the writer fires, then the writer's own approval
    control(page, "Resume").click()
    paused_at(page, "before WRITER/DRAFT")
    expect(draft).to_have_class(has_class("af_before"))
    control(page, "Resume").click()
    paused_at(page, "before WRITER/REVIEW")
    expect(stack(page).locator("option:checked")).to_have_text(re.compile(r"^WRITER\s·\sat\sREVIEW"))
    field(page, "approved").locator("input[type=checkbox]").check()  # edited in the writer's frame
    shot(page, "lab-nested-4-approval-inside-writer")
    debugger(page).locator(".af_graph").focus()  # out of the checkbox: o is the key for Step out
    page.keyboard.press("o")
    paused_at(page, "after WRITER")
    expect(field_input(page, "approved")).to_be_checked()  # passed out to the supervisor
    expect(debugger(page).locator(".af_log")).to_contain_text("editor: approved")

    # the history names each step by its path
    debugger(page).locator(".lm-TabBar-tab", has_text="History").click()
    rows = debugger(page).locator(".af_history select option")
    expect(rows.first).to_contain_text("WRITER ran")
    expect(debugger(page).locator(".af_history select")).to_contain_text("RESEARCHER/SEARCH ran")
    control(page, "Resume").click()
    wait_status(page, "completed")
    expect(node(page, "PUBLISH")).to_have_class(has_class("af_done"))
    shot(page, "lab-nested-5-completed")
