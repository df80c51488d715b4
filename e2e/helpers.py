"""What the browser tests do again and again: open a notebook, run it, find the debugger's parts."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from e2e.conftest import SHOTS, Jupyter

PAUSED, LONG = 120_000, 120_000  # generous deadlines for a loaded 2-core machine (ms)


def open_notebook(page: Page, jupyter: Jupyter, name: str, ui: str = "lab") -> None:
    """Open `name` from this test's folder, wait until its kernel is connected, then Run All."""
    path = f"{jupyter.folder}/{name}"
    if ui == "lab":  # a workspace of its own: no tab restored from another test
        url = f"{jupyter.url}/lab/workspaces/{jupyter.folder}/tree/{path}?reset&token={jupyter.token}"
    else:
        url = f"{jupyter.url}/notebooks/{path}?token={jupyter.token}"
    page.goto(url)
    page.locator(".jp-Notebook").first.wait_for()
    # The kernel is up and this page's websocket is connected to it (asked of the server itself).
    page.wait_for_function(
        """async ([path, token]) => {
             const r = await fetch(`/api/sessions?token=${token}`);
             const sessions = await r.json();
             const s = sessions.find((x) => x.path === path);
             if (!s || !s.kernel) return false;
             const k = await (await fetch(`/api/kernels/${s.kernel.id}?token=${token}`)).json();
             return k.connections > 0 && k.execution_state === "idle";
           }""",
        arg=[path, jupyter.token], polling=250, timeout=LONG,
    )
    # ... and the page's own session knows it (its toolbar names the kernel, which is idle)
    expect(page.locator(".jp-Toolbar-kernelName").first).to_contain_text("Python 3", timeout=LONG)
    expect(page.locator(".jp-Notebook-ExecutionIndicator").first).to_have_attribute("data-status", "idle",
                                                                                    timeout=LONG)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    choose = page.locator(".jp-Dialog button.jp-mod-accept", has_text="Select")
    if choose.count():  # the session was still settling: accept the kernel it proposes
        choose.click()
    # the run really started: the first cell got its execution count
    expect(page.locator(".jp-CodeCell .jp-InputPrompt").first).to_contain_text(re.compile(r"\[\d+\]"),
                                                                                timeout=LONG)


def debugger(page: Page) -> Locator:
    return page.locator(".af_debugger").last


def status(page: Page) -> Locator:
    return debugger(page).locator(".af_status")


def wait_status(page: Page, value: str, timeout: int = PAUSED) -> None:
    expect(status(page)).to_have_attribute("data-status", value, timeout=timeout)


def node(page: Page, name: str) -> Locator:
    return debugger(page).locator(".af_canvas g.node", has=page.locator(f"title:text-is('{name}')"))


def field(page: Page, name: str) -> Locator:
    return debugger(page).locator(".af_field", has=page.locator(f".af_field_label b:text-is('{name}')"))


def field_input(page: Page, name: str) -> Locator:
    return field(page, name).locator("input, textarea, select").first


def button(page: Page, label: str) -> Locator:
    return debugger(page).locator(".af_toolbar button", has_text=label)


def has_class(css: str) -> re.Pattern[str]:
    return re.compile(rf"(^|\s){css}(\s|$)")


def shot(page: Page, name: str, whole_page: bool = False) -> None:
    if whole_page:
        page.screenshot(path=str(SHOTS / f"{name}.png"))
    else:
        debugger(page).screenshot(path=str(SHOTS / f"{name}.png"))


def inside_viewport(page: Page, locator: Locator) -> bool:
    box = locator.bounding_box()
    view = page.viewport_size
    return (box is not None and box["width"] > 0 and box["x"] >= 0 and box["y"] >= 0
            and box["x"] + box["width"] <= view["width"] and box["y"] + box["height"] <= view["height"])


def inside(outer: Locator, inner: Locator) -> bool:
    a, b = outer.bounding_box(), inner.bounding_box()
    return (a is not None and b is not None and b["x"] >= a["x"] - 1 and b["y"] >= a["y"] - 1
            and b["x"] + b["width"] <= a["x"] + a["width"] + 1 and b["y"] + b["height"] <= a["y"] + a["height"] + 1)


def wait_inside(outer: Locator, inner: Locator, timeout: int = 30_000) -> None:
    """Wait until `inner` lies inside `outer` on screen (the graph view moves smoothly)."""
    outer.page.wait_for_function(
        """([o, i]) => { const a = o.getBoundingClientRect(), b = i.getBoundingClientRect();
             return b.left >= a.left - 1 && b.top >= a.top - 1
               && b.right <= a.right + 1 && b.bottom <= a.bottom + 1; }""",
        arg=[outer.element_handle(), inner.element_handle()], polling="raf", timeout=timeout,
    )


def _channel(value: float) -> float:
    value /= 255
    return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4


def _rgb(css: str) -> tuple[float, float, float, float]:
    numbers = [float(x) for x in re.findall(r"[\d.]+", css)]
    if css.startswith("color(srgb"):  # what color-mix() computes to
        r, g, b = (x * 255 for x in numbers[:3])
        return r, g, b, numbers[3] if len(numbers) > 3 else 1.0
    return numbers[0], numbers[1], numbers[2], numbers[3] if len(numbers) > 3 else 1.0


def contrast(foreground: str, background: str, base: str = "rgb(255, 255, 255)") -> float:
    """WCAG contrast ratio of two computed CSS colours (alpha composited over `base`)."""
    def solid(css: str, under: tuple[float, float, float]) -> tuple[float, float, float]:
        r, g, b, a = _rgb(css)
        return tuple(a * c + (1 - a) * u for c, u in zip((r, g, b), under, strict=True))  # type: ignore[return-value]

    back = solid(background, _rgb(base)[:3])
    front = solid(foreground, back)

    def luminance(c: tuple[float, float, float]) -> float:
        return 0.2126 * _channel(c[0]) + 0.7152 * _channel(c[1]) + 0.0722 * _channel(c[2])

    light, dark = sorted((luminance(front), luminance(back)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
