// landseg review page. Every piece of data (image names, notes, class names) is put into the page
// with textContent or DOM properties, never as HTML, so a file named like markup stays text.
"use strict";

const $ = (id) => document.getElementById(id);

const PANELS = [
  { key: "image", title: "Image", sub: "RGB tile" },
  { key: "GT", title: "GT", sub: "ground truth", shortcut: "1", action: "Keep GT" },
  { key: "A", title: "A", sub: "prediction", shortcut: "2", action: "Choose A" },
  { key: "B", title: "B", sub: "prediction", shortcut: "3", action: "Choose B" },
];
const CHOICE_LABEL = { GT: "GT", A: "A", B: "B", skip: "skip" };

const state = { meta: null, queue: [], index: -1, cls: "", item: null, busy: false };

// Loading, navigating and saving run one after another, so a key pressed while the queue reloads
// can never act on a half-updated page or be overtaken by an older response.
let chain = Promise.resolve();
function serial(task) {
  const run = chain.then(task);
  chain = run.catch((err) => toast(err.message, "error"));
  return chain;
}
const panels = {};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function fmt(value, digits = 3) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

async function api(path, options) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      message = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response.json();
}

let toastTimer = null;
function toast(text, kind = "ok") {
  const box = $("toast");
  box.textContent = text;
  box.className = `toast show ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.className = `toast ${kind}`; }, 2600);
}

// ------------------------------------------------------------------ building the page once

function scoreRow(list, label, valueNode) {
  const row = el("div", "score");
  row.append(el("span", "score-label", label), valueNode);
  list.append(row);
  return valueNode;
}

function meter() {
  const wrap = el("span", "meter");
  const bar = el("span", "meter-bar");
  const fill = el("span", "meter-fill");
  bar.append(fill);
  const num = el("span", "meter-num", "—");
  wrap.append(bar, num);
  return { node: wrap, set(v) {
    num.textContent = fmt(v);
    const x = v === null || v === undefined ? 0 : Math.max(0, Math.min(1, v));
    fill.style.width = `${(x * 100).toFixed(1)}%`;
    fill.style.background = `hsl(${Math.round(120 * x)}, 65%, 45%)`;
  } };
}

function buildPanels() {
  const root = $("panels");
  for (const spec of PANELS) {
    const fig = el("figure", `panel panel-${spec.key}`);
    fig.dataset.key = spec.key;
    const head = el("header", "panel-head");
    if (spec.shortcut) head.append(el("kbd", "badge", spec.shortcut));
    head.append(el("span", "panel-title", spec.title));
    const sub = el("span", "panel-sub", spec.sub);
    head.append(sub);
    const stack = el("div", "stack");
    const base = el("img", "base");
    base.alt = "RGB tile";
    base.draggable = false;
    stack.append(base);
    let mask = null;
    if (spec.key !== "image") {
      stack.classList.add("mask-stack");
      mask = el("img", "mask");
      mask.alt = `${spec.title} mask`;
      mask.draggable = false;
      stack.append(mask);
    }
    const missing = el("div", "missing", "file missing");
    stack.append(missing);
    for (const img of [base, mask]) {
      if (!img) continue;
      img.addEventListener("error", () => stack.classList.add("broken"));
      img.addEventListener("load", () => stack.classList.remove("broken"));
    }
    const scores = el("div", "scores");
    const p = { fig, sub, base, mask, scores, values: {} };
    if (spec.key === "image") {
      p.values.split = scoreRow(scores, "split", el("span", "text"));
      p.values.classes = scoreRow(scores, "classes in GT", el("span", "text classes"));
      const agree = meter();
      scoreRow(scores, "A/B agreement", agree.node);
      p.values.agreement = agree;
    } else if (spec.key === "GT") {
      const q = meter();
      scoreRow(scores, "label quality", q.node);
      p.values.quality = q;
      scores.append(el("div", "hint", "low = GT likely wrong"));
    } else {
      const iou = meter();
      const acc = meter();
      scoreRow(scores, "IoU vs GT", iou.node);
      scoreRow(scores, "accuracy vs GT", acc.node);
      p.values.iou = iou;
      p.values.acc = acc;
    }
    fig.append(head, stack, scores);
    if (spec.shortcut) {
      const button = el("button", "choose");
      button.type = "button";
      button.append(el("span", null, `${spec.action} `), el("kbd", null, spec.shortcut));
      button.addEventListener("click", () => decide(spec.key));
      fig.append(button);
    }
    panels[spec.key] = p;
    root.append(fig);
  }
}

function buildLegend(meta) {
  const legend = $("legend");
  legend.replaceChildren();
  for (const c of meta.classes) {
    const item = el("span", "legend-item");
    const swatch = el("span", "swatch");
    swatch.style.background = `rgb(${c.color[0]}, ${c.color[1]}, ${c.color[2]})`;
    item.append(swatch, el("span", null, c.name));
    legend.append(item);
  }
  const ignore = el("span", "legend-item");
  ignore.append(el("span", "swatch ignore"), el("span", null, `ignore (${meta.ignore_index})`));
  legend.append(ignore);
}

function buildFilter(meta) {
  const select = $("class-filter");
  for (const c of meta.classes) {
    const option = el("option", null, c.name);
    option.value = c.name;
    select.append(option);
  }
}

// ------------------------------------------------------------------ showing state

function updateProgress(progress, overall) {
  $("progress").textContent = progress.text;
  const pct = progress.total ? (100 * progress.reviewed) / progress.total : 0;
  $("progress-fill").style.width = `${pct.toFixed(1)}%`;
  const c = progress.counts;
  let sub = `GT ${c.GT} · A ${c.A} · B ${c.B} · skip ${c.skip}`;
  if (overall) sub += ` · all images: ${overall.text}`;
  $("progress-sub").textContent = sub;
}

async function refreshProgress() {
  const query = state.cls ? `?class=${encodeURIComponent(state.cls)}` : "";
  const progress = await api(`/api/progress${query}`);
  const overall = state.cls ? await api("/api/progress") : null;
  updateProgress(progress, overall);
  return progress;
}

function showDecision(item) {
  const box = $("decision");
  box.replaceChildren();
  for (const key of ["GT", "A", "B"]) panels[key].fig.classList.remove("chosen");
  const d = item.decision;
  if (!d) {
    box.append(el("span", "undecided", "not reviewed yet"));
    box.className = "decision";
    return;
  }
  if (panels[d.choice]) panels[d.choice].fig.classList.add("chosen");
  box.className = `decision decided choice-${d.choice}`;
  box.append(el("span", "decision-choice", `✓ ${CHOICE_LABEL[d.choice]}`),
    el("span", "decision-who", ` by ${d.reviewer} · ${d.time}`));
  if (d.note) box.append(el("span", "decision-note", ` · “${d.note}”`));
  if (item.history.length > 1) box.append(el("span", "decision-who", ` · ${item.history.length} decisions`));
}

function render(item) {
  $("image-name").textContent = item.name;
  const q = item.scores.label_quality;
  $("image-sub").textContent =
    `#${state.index + 1} of ${state.queue.length} in queue · label quality ${fmt(q)} (worst first)`;
  document.title = `${item.name} · landseg review`;
  for (const spec of PANELS) {
    const p = panels[spec.key];
    p.base.src = item.urls.image;
    if (p.mask) {
      p.mask.src = item.urls[spec.key];
      p.mask.alt = `${spec.title} mask of ${item.name}`;
    }
  }
  const s = item.scores;
  panels.image.values.split.textContent = item.split || "—";
  panels.image.values.classes.textContent = item.gt_classes.map((c) => c.name).join(", ") || "—";
  panels.image.values.agreement.set(s.agreement);
  panels.GT.values.quality.set(s.label_quality);
  for (const label of ["A", "B"]) {
    panels[label].values.iou.set(s[`iou_${label}`]);
    panels[label].values.acc.set(s[`acc_${label}`]);
  }
  $("note").value = "";
  showDecision(item);
}

async function show(index) {
  if (index < 0 || index >= state.queue.length) return;
  const item = await api(`/api/item/${encodeURIComponent(state.queue[index].name)}`);
  state.index = index;
  state.item = item;
  render(item);
}

function browse(step) {
  serial(() => show(state.index + step));
}

function nextIndex() {
  const n = state.queue.length;
  for (let step = 1; step <= n; step += 1) {
    const i = (state.index + step) % n;
    if (!state.queue[i].choice) return i;
  }
  return Math.min(state.index + 1, n - 1); // everything decided: just step forward
}

async function loadQueue() {
  const query = state.cls ? `?class=${encodeURIComponent(state.cls)}` : "";
  const queue = await api(`/api/queue${query}`);
  state.queue = queue.items;
  await refreshProgress();
  const empty = $("empty");
  if (!state.queue.length) {
    empty.hidden = false;
    empty.textContent = state.cls ? `No image has ${state.cls} in its ground truth.` : "predictions.csv lists no images.";
    document.body.classList.add("is-empty");
    return;
  }
  empty.hidden = true;
  document.body.classList.remove("is-empty");
  const first = state.queue.findIndex((q) => q.name === queue.first_undecided);
  if (first < 0) toast(`All ${state.queue.length} images reviewed — browse with ← → to revise.`, "done");
  await show(first < 0 ? 0 : first);
}

// ------------------------------------------------------------------ actions

function decide(choice) {
  // The image is the one on screen when the key was pressed; one decision at a time.
  if (!state.item || state.busy) return;
  state.busy = true;
  const name = state.item.name;
  const note = $("note").value;
  serial(() => save(name, choice, note)).finally(() => { state.busy = false; });
}

async function save(name, choice, note) {
  try {
    const body = JSON.stringify({ image: name, choice, note });
    await api("/api/decision", { method: "POST", headers: { "Content-Type": "application/json" }, body });
  } catch (err) {
    toast(`Not saved: ${err.message}`, "error");
    return;
  }
  const index = state.queue.findIndex((q) => q.name === name);
  if (index >= 0) {
    state.queue[index].choice = choice;
    state.index = index; // move on from the decided image
  }
  const progress = await refreshProgress();
  const done = progress.reviewed === progress.total;
  toast(`Saved ${CHOICE_LABEL[choice]} for ${name}` + (done ? " — all images reviewed" : ""), "ok");
  // Show the choice on the decided image for a moment, then move on.
  if (state.item && state.item.name === name) {
    state.item.decision = { choice, reviewer: state.meta.reviewer, time: "just now", note: note.trim() };
    showDecision(state.item);
    if (panels[choice]) panels[choice].fig.classList.add("flash");
    await new Promise((resolve) => setTimeout(resolve, 250));
    if (panels[choice]) panels[choice].fig.classList.remove("flash");
  }
  await show(nextIndex());
}

function setMode(mode) {
  document.body.classList.toggle("overlay", mode === "overlay");
  $("mode-side").classList.toggle("active", mode !== "overlay");
  $("mode-overlay").classList.toggle("active", mode === "overlay");
}

function setOpacity(value) {
  document.documentElement.style.setProperty("--mask-opacity", String(value / 100));
  $("opacity-value").textContent = `${value}%`;
}

function isTyping(target) {
  if (!target) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && target.type !== "range";
}

function onKey(event) {
  if (isTyping(event.target)) {
    if (event.key === "Escape") event.target.blur();
    return; // typing in the note (or choosing a filter) never triggers a shortcut
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target && event.target.type === "range" && event.key.startsWith("Arrow")) return;
  const actions = {
    1: () => decide("GT"), 2: () => decide("A"), 3: () => decide("B"),
    s: () => decide("skip"), S: () => decide("skip"),
    ArrowLeft: () => browse(-1), ArrowRight: () => browse(1),
    o: () => setMode(document.body.classList.contains("overlay") ? "side" : "overlay"),
    n: () => $("note").focus(),
  };
  const action = actions[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
}

async function init() {
  buildPanels();
  try {
    state.meta = await api("/api/meta");
  } catch (err) {
    toast(`Cannot reach the review server: ${err.message}`, "error");
    return;
  }
  $("folder").textContent = state.meta.folder;
  $("reviewer").textContent = state.meta.reviewer;
  for (const label of ["A", "B"]) {
    const model = state.meta.models[label];
    if (model) panels[label].sub.textContent = model.file;
  }
  buildLegend(state.meta);
  buildFilter(state.meta);
  state.cls = new URLSearchParams(location.search).get("class") || "";
  $("class-filter").value = state.cls;
  if ($("class-filter").value !== state.cls) state.cls = "";

  $("class-filter").addEventListener("change", (e) => {
    state.cls = e.target.value;
    const url = state.cls ? `?class=${encodeURIComponent(state.cls)}` : location.pathname;
    history.replaceState(null, "", url);
    e.target.blur();
    serial(loadQueue);
  });
  $("prev").addEventListener("click", () => browse(-1));
  $("next").addEventListener("click", () => browse(1));
  $("skip").addEventListener("click", () => decide("skip"));
  $("mode-side").addEventListener("click", () => setMode("side"));
  $("mode-overlay").addEventListener("click", () => setMode("overlay"));
  $("opacity").addEventListener("input", (e) => setOpacity(Number(e.target.value)));
  setOpacity(Number($("opacity").value));
  document.addEventListener("keydown", onKey);
  serial(loadQueue);
}

document.addEventListener("DOMContentLoaded", init);
