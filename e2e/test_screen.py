"""One screen at 1280x800, the theme, and graphs of any size — in a real JupyterLab and Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e.conftest import DARK, HIGH_CONTRAST
from e2e.helpers import (
    button,
    contrast,
    debugger,
    field,
    field_input,
    has_class,
    inside_viewport,
    node,
    open_notebook,
    shot,
    status,
    wait_inside,
    wait_status,
)


@pytest.mark.parametrize("ui", ["lab", "notebook7"])
def test_at_1280x800_controls_current_node_and_first_fields_are_on_screen(page, jupyter, ui):
    open_notebook(page, jupyter, "triage.ipynb", ui)
    wait_status(page, "paused")
    if ui == "lab":  # JupyterLab with its file browser open
        expect(page.locator(".jp-SideBar .lm-TabBar-tab.lm-mod-current").first).to_be_visible()
    debugger(page).scroll_into_view_if_needed()
    send = node(page, "SEND")
    expect(send).to_have_class(has_class("af_before"))
    graph = debugger(page).locator(".af_graph")
    for part in (button(page, "Resume"), button(page, "Stop"), status(page), send,
                 field_input(page, "ticket"), field_input(page, "category"), field_input(page, "priority")):
        assert inside_viewport(page, part), part
    wait_inside(graph, send)  # the follow view put the paused node in the graph's viewport
    box = debugger(page).bounding_box()
    assert box["height"] <= 760, box  # the whole debugger fits a laptop screen
    shot(page, f"{ui}-triage-paused-before-send")
    shot(page, f"{ui}-triage-page", whole_page=True)

    # the path taken stays tinted, the loop included; finished nodes are not "running"
    for name in ("CLASSIFY", "LOOKUP_CUSTOMER_ACCOUNT_HISTORY", "DRAFT_REPLY", "REVIEW"):
        expect(node(page, name)).to_have_class(has_class("af_path"))
    expect(debugger(page).locator(".af_canvas .af_running")).to_have_count(0)
    title = node(page, "LOOKUP_CUSTOMER_ACCOUNT_HISTORY").locator("title")
    expect(title).to_have_text("LOOKUP_CUSTOMER_ACCOUNT_HISTORY")  # the full name on hover

    # the controls stay on screen while the notebook scrolls on past them
    debugger(page).evaluate("""(el) => { let s = el.parentElement;
        const scrolls = (n) => n.scrollHeight > n.clientHeight && getComputedStyle(n).overflowY !== "visible";
        while (s && !scrolls(s)) s = s.parentElement;
        (s || document.scrollingElement).scrollBy(0, 400); }""")
    expect(button(page, "Resume")).to_be_in_viewport()
    assert inside_viewport(page, button(page, "Resume"))


@pytest.mark.parametrize("theme", [DARK, HIGH_CONTRAST])
def test_dark_themes_read_well(page, jupyter, theme):
    jupyter.set_theme(theme)
    open_notebook(page, jupyter, "02_step_through_debugging.ipynb")
    wait_status(page, "paused")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    debugger(page).scroll_into_view_if_needed()
    shot(page, "lab-dark-paused" if theme == DARK else "lab-high-contrast-paused")
    background = page.evaluate("getComputedStyle(document.querySelector('.af_graph')).backgroundColor")
    colours = debugger(page).evaluate(
        """(root) => {
             const css = (el, p) => getComputedStyle(el)[p];
             const out = {};
             for (const name of ["VALIDATE", "ASSESS_RISK", "PAY", "REJECT"]) {
               const g = [...root.querySelectorAll(".af_canvas g.node")].find(
                 (n) => n.querySelector("title").textContent === name);
               out[name] = [css(g.querySelector("text"), "fill"), css(g.querySelector("path"), "fill")];
             }
             const start = root.querySelector(".af_canvas g.af_start ellipse");
             out.start = [css(start, "fill"), null];
             out.legend = [...root.querySelectorAll(".af_legend_item")].map((i) => css(i, "color"));
             out.status = css(root.querySelector(".af_status"), "color");
             out.hint = css(root.querySelector(".af_hint"), "color");
             out.label = css(root.querySelector(".af_field_label .af_dim"), "color");
             return out;
           }"""
    )
    for name in ("VALIDATE", "ASSESS_RISK", "PAY", "REJECT"):
        text, fill = colours[name]
        assert contrast(text, fill, background) >= 4.5, (name, text, fill)
    assert contrast(colours["start"][0], background) >= 3  # the START dot stands out from the page
    for item in colours["legend"]:
        assert contrast(item, background) >= 4.5, item
    for part in ("status", "hint", "label"):
        assert contrast(colours[part], background) >= 4.5, (part, colours[part])
    expect(node(page, "ASSESS_RISK")).to_have_class(has_class("af_after"))


def paused_in_view(page, jupyter, notebook: str, name: str):
    """Open and run `notebook`; it pauses before `name`, which the graph view follows."""
    open_notebook(page, jupyter, notebook)
    wait_status(page, "paused")
    debugger(page).scroll_into_view_if_needed()
    graph = debugger(page).locator(".af_graph")
    current = node(page, name)
    expect(current).to_have_class(has_class("af_before"))
    wait_inside(graph, current)  # followed: the paused node is in view
    return graph, current


def test_a_50_node_pipeline_is_readable_at_the_default_zoom_with_a_minimap(page, jupyter):
    graph, current = paused_in_view(page, jupyter, "pipeline.ipynb", "STEP_37")
    text_height = current.locator("text").first.bounding_box()["height"]
    assert text_height >= 11, text_height  # readable labels, not a squeezed overview
    expect(debugger(page).locator(".af_minimap")).to_be_visible()
    shot(page, "lab-pipeline-50-nodes")
    long = node(page, "NORMALISE_CUSTOMER_ADDRESSES_AND_PHONE_NUMBERS")
    expect(long.locator("text")).to_have_count(2)  # wrapped on two lines, full name kept as its title
    graph.locator("[data-act=fit]").click()
    expect(debugger(page).locator(".af_minimap")).to_be_hidden()  # the whole graph is in view
    wait_inside(graph, node(page, "STEP_00"))
    wait_inside(graph, node(page, "STEP_49"))
    scale = float(graph.get_attribute("data-scale"))
    graph.locator("[data-act=in]").click()
    expect(graph).not_to_have_attribute("data-scale", f"{scale:.3f}")
    assert float(graph.get_attribute("data-scale")) > scale


def test_centring_during_a_smooth_move_lands_on_the_current_node(page, jupyter):
    """A move asked for while the last one is still under way (pauses in quick succession, or
    keys) is measured from where the view is going, not from where it is on screen: once it
    settles, the current node is in the middle of the graph view, not pushed aside."""
    graph, current = paused_in_view(page, jupyter, "pipeline.ipynb", "STEP_37")
    graph.focus()
    for _ in range(5):
        page.keyboard.press("ArrowLeft")  # five smooth pans of 40 px, each starting a move
    page.keyboard.press("c")  # ... and centre the current node while they are still moving
    page.wait_for_function(
        """([o, i]) => { if (o.querySelector(".af_canvas").getAnimations().length) return false;  // settled
             const a = o.getBoundingClientRect(), b = i.getBoundingClientRect();
             return Math.abs((a.left + a.right) / 2 - (b.left + b.right) / 2) < 3
               && Math.abs((a.top + a.bottom) / 2 - (b.top + b.bottom) / 2) < 3; }""",
        arg=[graph.element_handle(), current.element_handle()], polling="raf", timeout=30_000,
    )


def test_a_30_way_fan_out_is_laid_out_across_and_stays_readable_and_clickable(page, jupyter):
    graph, worker = paused_in_view(page, jupyter, "fanout.ipynb", "WORKER_17")
    split, join = node(page, "SPLIT").bounding_box(), node(page, "JOIN").bounding_box()
    assert join["x"] > split["x"] + 100  # left to right: the 30 workers stack in a column
    assert worker.locator("text").first.bounding_box()["height"] >= 11
    shot(page, "lab-fanout-30")
    worker.click()  # a click on a node toggles a breakpoint before it, at this zoom too
    expect(worker).not_to_have_class(has_class("af_bp_before"))
    expect(debugger(page).locator(".af_notice")).to_contain_text("Breakpoint before WORKER_17 off")
    assert field(page, "pick").is_visible()
