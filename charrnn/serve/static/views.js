// The page's Inside and Training tabs (app.js has the rest). Inside: the text coloured by the model's
// surprisal through the shared renderer (/inside/inside.js); Training: the run's curves as SVG.
"use strict";

const REFRESH_MS = 10000;  // the Training tab polls the metrics while it is shown

// --- Inside: /api/neurons picks the units, /api/inspect brings the predictions and their activations ---

async function lookInside(form) {
  const text = field(form, "text").value;
  if (!text.trim()) throw new Error("type or paste a text first");
  const model = currentModel().name, asked = field(form, "unit").value.trim().replace(/:h$/, "");
  const neurons = await (await post("/api/neurons", { model, text, top: 8 })).json();
  const units = neurons.units.map((f) => f.unit);
  if (asked && !units.includes(asked)) units.push(asked);  // any unit, besides the finder's
  const data = await (await post("/api/inspect", { model, text, top_k: 5, units })).json();
  Inside.mount($("#inside-out"), data, neurons.units);
  if (asked) {
    const pick = $("#inside-out select");
    if (data.activations[asked]) pick.value = asked;
    pick.dispatchEvent(new Event("change"));
  }
}

// --- Training: loss against step, drawn as SVG from /api/models/{name}/metrics -------------------------

function svg(tag, attributes) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

// records: metrics.jsonl's; chart: an <svg>; summary: the line of text under it
function drawCurves(records, chart = $("#training-chart"), summary = $("#training-summary")) {
  const train = records.filter((r) => typeof r.loss === "number");
  const val = records.filter((r) => typeof r.val_loss === "number");
  chart.replaceChildren();
  if (!train.length && !val.length) {
    summary.textContent = "No metrics yet: the run has not logged a step.";
    return;
  }
  const W = 640, H = 300, left = 44, bottom = 24, top = 10, right = 10;
  const steps = [...train, ...val].map((r) => r.step), losses = [...train.map((r) => r.loss), ...val.map((r) => r.val_loss)];
  const x0 = Math.min(...steps), x1 = Math.max(...steps, x0 + 1);
  const y0 = Math.min(...losses), y1 = Math.max(...losses, y0 + 0.01);
  const x = (s) => left + (W - left - right) * (s - x0) / (x1 - x0);
  const y = (l) => top + (H - top - bottom) * (1 - (l - y0) / (y1 - y0));
  const path = (points) => points.map(([s, l], i) => `${i ? "L" : "M"}${x(s).toFixed(1)},${y(l).toFixed(1)}`).join("");
  chart.append(svg("line", { class: "axis", x1: left, y1: H - bottom, x2: W - right, y2: H - bottom }));
  chart.append(svg("line", { class: "axis", x1: left, y1: top, x2: left, y2: H - bottom }));
  for (const [value, where] of [[y1, top + 10], [y0, H - bottom - 2]]) {
    const label = svg("text", { x: 2, y: where });
    label.textContent = value.toFixed(2);
    chart.append(label);
  }
  const axis = svg("text", { x: W - right - 90, y: H - 6 });
  axis.textContent = `step ${x0}–${x1}`;
  chart.append(axis);
  if (train.length) chart.append(svg("path", { class: "train", d: path(train.map((r) => [r.step, r.loss])) }));
  if (val.length) {
    chart.append(svg("path", { class: "val", d: path(val.map((r) => [r.step, r.val_loss])) }));
    for (const r of val) chart.append(svg("circle", { class: "dot", cx: x(r.step), cy: y(r.val_loss), r: 3 }));
    const best = val.reduce((a, b) => (b.val_loss < a.val_loss ? b : a));
    chart.append(svg("circle", { class: "best", cx: x(best.step), cy: y(best.val_loss), r: 6 }));
    summary.textContent =
      `${train.length ? train[train.length - 1].step : best.step} steps; best val ${best.val_loss.toFixed(4)} nats/char at step ${best.step}`;
  } else {
    summary.textContent = `${train[train.length - 1].step} steps; no validation loss yet`;
  }
}

async function refreshCurves() {
  if ($("#panel-training").hidden || !currentModel()) return;
  const response = await api(`/api/models/${encodeURIComponent(currentModel().name)}/metrics`);
  if (!response.ok) throw new Error(await errorText(response));
  drawCurves((await response.json()).records);
}

function wireViews() {
  onSubmit($("#inside-form"), lookInside);
  const show = () => refreshCurves().catch((error) => showError(error.message || String(error)));
  $("#tab-training").addEventListener("click", show);
  $("#model").addEventListener("change", show);
  setInterval(show, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", wireViews);
