// The debugger's graph: a fixed-height viewport over the laid-out SVG, with pan (drag), zoom
// (ctrl+wheel, buttons, + / -), fit, follow-the-current-node and a minimap for large graphs.
// Subgraphs get a +/− button that opens or closes them (Python lays out the new shape).
// Which classes mark which element is decided in Python (`marks`); this file only applies them.
// It also carries the widget's keyboard shortcuts and "insert a cell below" for copy-as-code.

const READABLE = 0.9; // the smallest default zoom: 13px labels stay >= 11.7px
const VIEWS = new Map(); // model id -> {scale, x, y, follow}: kept when a view is re-created

function render({ model, el }) {
  el.classList.add("af_graph_host");
  el.innerHTML = `
    <div class="af_graph" tabindex="0" role="group" aria-label="graph">
      <div class="af_canvas"></div>
      <div class="af_tools">
        <button type="button" data-act="fit" title="Fit the whole graph (f)">fit</button>
        <button type="button" data-act="out" title="Zoom out (-)">−</button>
        <button type="button" data-act="in" title="Zoom in (+)">+</button>
        <button type="button" data-act="follow" title="Follow the current node: centre it on each pause (c)"
          aria-pressed="true">follow</button>
      </div>
      <div class="af_minimap" hidden><div class="af_mini_svg"></div><div class="af_mini_view"></div></div>
      <div class="af_menu" role="menu" hidden></div>
    </div>
    <div class="af_hint" title="click a node: toggle a breakpoint before it · shift+click: after it ·
right-click: run to here · +/− on a subgraph: open or close it · drag: pan · ctrl+wheel or + / -: zoom ·
f: fit · c: centre the current node · keys in the debugger: r or F8 resume, s or F10 step over, i or F11 step
into, o or shift+F11 step out, x stop, Esc back to live">click: break before · shift+click: after ·
      right-click: run to here · drag: pan · ctrl+wheel: zoom</div>`;
  const box = el.querySelector(".af_graph");
  const canvas = el.querySelector(".af_canvas");
  const mini = el.querySelector(".af_minimap");
  const menu = el.querySelector(".af_menu");
  const key = model.model_id || "view";
  const view = VIEWS.get(key) || { scale: 0, x: 0, y: 0, follow: true };
  VIEWS.set(key, view);
  let svg = null, size = { w: 1, h: 1 }, painted = {}, dragged = false, folded = null;

  const find = (id) => (id && svg ? svg.querySelector("#" + CSS.escape(id)) : null);
  const port = () => ({ w: box.clientWidth || 480, h: box.clientHeight || 340 });
  const apply = (smooth) => {
    canvas.classList.toggle("af_smooth", !!smooth);
    canvas.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
    box.dataset.scale = view.scale.toFixed(3);
    showMinimap();
  };
  const fitScale = () => { const p = port(); return Math.min(p.w / size.w, p.h / size.h) * 0.94; };
  const fits = () => size.w * view.scale <= port().w + 1 && size.h * view.scale <= port().h + 1;
  const fit = (smooth) => {
    const p = port();
    view.scale = Math.max(0.1, Math.min(fitScale(), 1.4));
    view.x = (p.w - size.w * view.scale) / 2;
    view.y = (p.h - size.h * view.scale) / 2;
    apply(smooth);
  };
  const zoom = (factor, cx, cy) => {
    const p = port();
    cx = cx ?? p.w / 2; cy = cy ?? p.h / 2;
    const scale = Math.max(0.1, Math.min(view.scale * factor, 3));
    view.x = cx - (cx - view.x) * (scale / view.scale);
    view.y = cy - (cy - view.y) * (scale / view.scale);
    view.scale = scale;
    apply(true);
  };
  // Where a node's centre is in the drawing (its px at scale 1), or null while it is not laid out.
  // Taken from the SVG, not from the screen: during a smooth move the screen still lags `view`,
  // and a second move measured there would add what is left of the first (pauses that come
  // quickly, one after another, then pushed the graph out of sight).
  const spot = (node) => {
    const b = node.getBBox(), m = node.getCTM();
    if (!m || (!b.width && !b.height)) return null;
    const x = b.x + b.width / 2, y = b.y + b.height / 2;
    return { x: m.a * x + m.c * y + m.e, y: m.b * x + m.d * y + m.f };
  };
  const centre = (id, smooth) => {
    const node = find(id);
    const at = node && spot(node);
    if (!at) return;
    const p = port();
    view.x = p.w / 2 - at.x * view.scale;
    view.y = p.h / 2 - at.y * view.scale;
    apply(smooth);
  };
  const follow = (smooth) => {
    if (view.follow && !fits()) centre(model.get("focus"), smooth);
  };
  const home = () => {
    if (fitScale() >= READABLE) { fit(false); return; }
    view.scale = 1;
    const p = port();
    view.x = (p.w - size.w) / 2;
    view.y = 8;
    apply(false);
    centre(model.get("focus") || model.get("node_ids").__start__, false);
  };

  const paint = () => {
    for (const [id, classes] of Object.entries(painted)) find(id)?.classList.remove(...classes.split(" "));
    painted = model.get("marks");
    for (const [id, classes] of Object.entries(painted)) find(id)?.classList.add(...classes.split(" "));
    box.dataset.current = model.get("current");
    box.dataset.phase = model.get("phase");
    paintMinimap();
  };

  const draw = () => {
    canvas.innerHTML = model.get("svg");
    svg = canvas.querySelector("svg");
    if (!svg) return;
    svg.classList.add("af_svg");
    const vb = (svg.getAttribute("viewBox") || "0 0 100 100").split(/[ ,]+/).map(Number);
    size = { w: vb[2] || 100, h: vb[3] || 100 };
    svg.setAttribute("width", size.w);
    svg.setAttribute("height", size.h);
    mini.querySelector(".af_mini_svg").innerHTML = model.get("svg").replace(/ id="[^"]*"/g, "");
    painted = {};
    paint();
    if (!view.scale) home();
    else if (folded === null) apply(false);
    else { // a subgraph was opened or closed: show it
      const id = model.get("subgraphs")[folded]?.id;
      folded = null;
      if (fitScale() >= READABLE) fit(false); else { apply(false); centre(id || model.get("focus"), false); }
    }
    placeFolds();
  };

  // A +/− button at the top-right corner of each drawn subgraph (in graph units, so it pans and
  // zooms with the graph).
  function placeFolds() {
    canvas.querySelector(".af_folds")?.remove();
    const layer = document.createElement("div");
    layer.className = "af_folds";
    const c = canvas.getBoundingClientRect();
    const k = c.width / (canvas.offsetWidth || 1) || 1;
    for (const [path, info] of Object.entries(model.get("subgraphs"))) {
      const target = find(info.id);
      if (!target) continue;
      const r = target.getBoundingClientRect();
      const button = document.createElement("button");
      button.type = "button";
      button.className = "af_fold";
      button.dataset.path = path;
      button.dataset.open = String(info.open);
      button.textContent = info.open ? "−" : "+";
      button.title = info.open ? `Close ${path}: show it as one node` : `Open ${path}: show its nodes`;
      button.setAttribute("aria-label", button.title);
      button.style.left = `${(r.right - c.left) / k - (info.open ? 20 : 12)}px`;
      button.style.top = `${(r.top - c.top) / k + (info.open ? 3 : -6)}px`;
      layer.appendChild(button);
    }
    canvas.appendChild(layer);
  }
  const fold = (path, open) => { folded = path; model.send({ event: "fold", path, open }); };
  canvas.addEventListener("click", (event) => {
    const button = event.target.closest(".af_fold");
    if (!button) return;
    event.stopPropagation();
    fold(button.dataset.path, button.dataset.open !== "true");
  });

  // The minimap has the graph's proportions (at most 150 x 110 px), so a point maps simply.
  const miniScale = () => Math.min(150 / size.w, 110 / size.h);
  function showMinimap() {
    const whole = fits();
    mini.hidden = whole;
    if (whole) return;
    const k = miniScale(), p = port();
    mini.style.width = `${Math.max(24, size.w * k)}px`;
    mini.style.height = `${Math.max(24, size.h * k)}px`;
    const rect = mini.querySelector(".af_mini_view").style;
    rect.left = `${(-view.x / view.scale) * k}px`;
    rect.top = `${(-view.y / view.scale) * k}px`;
    rect.width = `${(p.w / view.scale) * k}px`;
    rect.height = `${(p.h / view.scale) * k}px`;
  }
  function paintMinimap() {
    const copy = mini.querySelector(".af_mini_svg svg");
    if (!copy || !svg) return;
    copy.classList.add("af_svg");
    copy.setAttribute("width", "100%");
    copy.setAttribute("height", "100%");
    copy.querySelectorAll(".af_mini_here").forEach((n) => n.classList.remove("af_mini_here"));
    const ids = [...svg.querySelectorAll("g.node, g.edge")].map((n) => n.id);
    const focus = ids.indexOf(model.get("focus"));
    if (focus >= 0) copy.querySelectorAll("g.node, g.edge")[focus]?.classList.add("af_mini_here");
  }

  // -- pointer: pan by dragging, zoom with ctrl+wheel, click a node for a breakpoint ----------
  let start = null;
  box.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || event.target.closest(".af_tools, .af_menu, .af_minimap, .af_fold")) return;
    start = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y };
    dragged = false;
  });
  window.addEventListener("pointermove", (event) => {
    if (!start) return;
    const dx = event.clientX - start.x, dy = event.clientY - start.y;
    if (!dragged && Math.hypot(dx, dy) < 4) return;
    dragged = true;
    box.classList.add("af_panning");
    view.x = start.vx + dx; view.y = start.vy + dy;
    apply(false);
  });
  window.addEventListener("pointerup", () => { start = null; box.classList.remove("af_panning"); });
  box.addEventListener("wheel", (event) => {
    if (!(event.ctrlKey || event.metaKey)) return; // plain wheel scrolls the notebook
    event.preventDefault();
    const b = box.getBoundingClientRect();
    zoom(Math.exp(-event.deltaY * 0.002), event.clientX - b.left, event.clientY - b.top);
  }, { passive: false });
  // The node (a path) under the pointer: a node, or an open subgraph by its label (`box`: or
  // anywhere in its box). START, END and subgraphs' own START and END are not nodes to click.
  const nodeAt = (target, box = false) => {
    const g = target.closest("g.node") || ((box || target.closest("text")) && target.closest("g.cluster"));
    if (!g || !svg?.contains(g)) return null;
    const name = Object.entries(model.get("node_ids")).find(([, id]) => id === g.id)?.[0];
    return name && !name.split("/").pop().startsWith("__") ? name : null;
  };
  box.addEventListener("click", (event) => {
    if (dragged) { dragged = false; return; }
    const name = nodeAt(event.target);
    if (name) model.send({ event: "toggle", node: name, where: event.shiftKey ? "after" : "before" });
  });
  box.addEventListener("contextmenu", (event) => {
    const name = nodeAt(event.target, true);
    if (!name || event.shiftKey) return; // shift+right-click: the browser's own menu
    event.preventDefault();
    event.stopPropagation();
    openMenu(name, event);
  });
  function openMenu(name, event) {
    const b = box.getBoundingClientRect();
    const on = (list) => (model.get(list).includes(name) ? "✓ " : "");
    const sub = model.get("subgraphs")[name];
    const folding = sub ? `<button type="button" role="menuitem" data-menu="fold">${sub.open ? "− Close" :
      "+ Open"} subgraph</button>` : "";
    menu.innerHTML = `<div class="af_menu_title">${name.replace(/[<>&]/g, "")}</div>
      <button type="button" role="menuitem" data-menu="run_to">▶ Run to here</button>
      <button type="button" role="menuitem" data-menu="before">${on("before")}Break before</button>
      <button type="button" role="menuitem" data-menu="after">${on("after")}Break after</button>${folding}`;
    menu.style.left = `${Math.min(event.clientX - b.left, b.width - 170)}px`;
    menu.style.top = `${Math.min(event.clientY - b.top, b.height - 110)}px`;
    menu.hidden = false;
    menu.dataset.node = name;
    menu.querySelector("button").focus();
  }
  menu.addEventListener("click", (event) => {
    const act = event.target.closest("button")?.dataset.menu;
    const node = menu.dataset.node;
    menu.hidden = true;
    if (act === "run_to") model.send({ event: "run_to", node });
    else if (act === "fold") fold(node, !model.get("subgraphs")[node]?.open);
    else if (act) model.send({ event: "toggle", node, where: act });
    event.stopPropagation();
  });
  document.addEventListener("pointerdown", (event) => {
    if (!menu.hidden && !menu.contains(event.target)) menu.hidden = true;
  });

  // -- the minimap: click or drag to move the view --------------------------------------------
  const moveTo = (event) => {
    const m = mini.getBoundingClientRect(), p = port();
    const k = miniScale();
    view.x = p.w / 2 - ((event.clientX - m.left) / k) * view.scale;
    view.y = p.h / 2 - ((event.clientY - m.top) / k) * view.scale;
    apply(false);
  };
  mini.addEventListener("pointerdown", (event) => {
    event.stopPropagation();
    moveTo(event);
    const drag = (e) => moveTo(e);
    window.addEventListener("pointermove", drag);
    window.addEventListener("pointerup", () => window.removeEventListener("pointermove", drag), { once: true });
  });

  // -- the buttons and keys of the viewport ---------------------------------------------------
  const followButton = el.querySelector('[data-act="follow"]');
  const setFollow = (on) => { view.follow = on; followButton.setAttribute("aria-pressed", String(on)); };
  setFollow(view.follow);
  el.querySelector(".af_tools").addEventListener("click", (event) => {
    const act = event.target.closest("button")?.dataset.act;
    if (act === "fit") fit(true);
    else if (act === "in") zoom(1.25);
    else if (act === "out") zoom(0.8);
    else if (act === "follow") { setFollow(!view.follow); if (view.follow) centre(model.get("focus"), true); }
  });
  box.addEventListener("keydown", (event) => {
    const acts = { "+": () => zoom(1.25), "=": () => zoom(1.25), "-": () => zoom(0.8), f: () => fit(true),
      c: () => centre(model.get("focus"), true), Escape: () => { menu.hidden = true; },
      ArrowLeft: () => { view.x += 40; apply(true); }, ArrowRight: () => { view.x -= 40; apply(true); },
      ArrowUp: () => { view.y += 40; apply(true); }, ArrowDown: () => { view.y -= 40; apply(true); } };
    if (acts[event.key] && !event.ctrlKey && !event.metaKey && !event.altKey) {
      acts[event.key]();
      event.preventDefault();
      event.stopPropagation();
    }
  });

  model.on("change:svg", draw);
  model.on("change:marks", paint);
  model.on("change:focus", () => follow(true));
  model.on("msg:custom", (msg) => { if (msg?.event === "insert_cell") insertCell(el, msg.code, model); });
  model.on("change:subgraphs", placeFolds);
  const resized = new ResizeObserver(() => { if (svg && !start) { showMinimap(); placeFolds(); } });
  resized.observe(box);
  requestAnimationFrame(() => { draw(); follow(false); });
  until(() => el.closest(".af_debugger")).then((root) => root && shortcuts(model, root)); // once on the page
  return () => resized.disconnect();
}

// Resume / Step / Stop from the keyboard while the debugger has focus (not while typing).
function shortcuts(model, root) {
  if (root.dataset.afKeys) return;
  root.dataset.afKeys = "1";
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // Jupyter's own keys stay out of it
  root.setAttribute("tabindex", "-1");
  const keys = { r: "resume", F8: "resume", s: "step", F10: "step", i: "into", F11: "into", o: "out",
    x: "stop", Escape: "live" };
  root.addEventListener("keydown", (event) => {
    const t = event.target;
    if (t.closest("input, textarea, select, [contenteditable=true]")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const action = event.key === "F11" && event.shiftKey ? "out" : keys[event.key];
    if (!action) return;
    event.preventDefault();
    event.stopPropagation();
    model.send({ event: "key", action });
  });
}

// Copy as code: a new cell below the debugger's cell holding `code`, through the notebook's own
// keys (select this cell, "b", Enter); where that is not possible, the code goes to the clipboard.
async function insertCell(el, code, model) {
  const cell = el.closest(".jp-Cell");
  const done = (how) => model.send({ event: "inserted", how });
  if (!cell) {
    try { await navigator.clipboard.writeText(code); done("clipboard"); } catch { done("failed"); }
    return;
  }
  // A keydown the notebook's shortcut handler reads (it looks at keyCode, newer ones at code),
  // made the way that handler makes its own replayed keys.
  const press = (key, code, keyCode) => {
    const event = document.createEvent("Event");
    event.initEvent("keydown", true, true);
    Object.assign(event, { key, code, keyCode, which: keyCode, ctrlKey: false, altKey: false, shiftKey: false,
      metaKey: false });
    (document.activeElement || document.body).dispatchEvent(event);
  };
  const prompt = cell.querySelector(".jp-InputPrompt") || cell;
  for (const type of ["mousedown", "mouseup", "click"]) {
    prompt.dispatchEvent(new MouseEvent(type, { bubbles: true, cancelable: true, button: 0 }));
  }
  press("Escape", "Escape", 27);
  const next = cell.nextElementSibling;
  press("b", "KeyB", 66);
  const added = await until(() => cell.nextElementSibling !== next && cell.nextElementSibling);
  if (added) {
    press("Enter", "Enter", 13);
  }
  const editor = added && await until(() => document.activeElement?.isContentEditable && added.contains(
    document.activeElement) && document.activeElement);
  if (editor) {
    document.execCommand("insertText", false, code);
    done("cell");
  } else {
    try { await navigator.clipboard.writeText(code); done("clipboard"); } catch { done("failed"); }
  }
}

// Resolves to cond()'s first truthy value, checked once per frame for about two seconds (or null).
function until(cond, frames = 120) {
  return new Promise((resolve) => {
    const look = (left) => {
      const value = cond();
      if (value || left <= 0) resolve(value || null);
      else requestAnimationFrame(() => look(left - 1));
    };
    look(frames);
  });
}

export default { render };
