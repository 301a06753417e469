// charrnn's page: pick a model, write a poem, a story (streamed) or names. Plain JS, no build step.
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = { models: [], controller: null };

// --- talking to the server -----------------------------------------------------------------------------

// Every API request: with the server's key when it asks for one (401), asked once and kept for this
// tab (sessionStorage), never in the page's address or the server's logs.
async function api(path, init = {}) {
  for (let attempt = 0; ; attempt++) {
    const key = sessionStorage.getItem("charrnn-api-key");
    const headers = { ...(init.headers || {}), ...(key ? { Authorization: `Bearer ${key}` } : {}) };
    const response = await fetch(path, { ...init, headers });
    if (response.status !== 401 || attempt > 0) return response;
    const given = window.prompt("This server needs an API key:");
    if (!given) return response;
    sessionStorage.setItem("charrnn-api-key", given.trim());
  }
}

async function post(path, body, signal) {
  const response = await api(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal,
  });
  if (!response.ok) throw new Error(await errorText(response));
  return response;
}

async function errorText(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) message = `${response.status}: ${body.error}`;
  } catch (_) { /* not JSON: keep the status line */ }
  if (response.status === 429) message += " (the server is busy: try again in a moment)";
  return message;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() { $("#error").hidden = true; }

// Server-Sent Events from a fetch body: "event: NAME\ndata: JSON\n\n" blocks, handed to onEvent.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8");
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(event, JSON.parse(data));
    }
  }
}

// --- the form helpers --------------------------------------------------------------------------------

// namedItem, not form.elements[name]: form.elements.length is the number of fields, not the "length" input.
function field(form, name) { return form.elements.namedItem(name); }

function number(form, name) { return Number(field(form, name).value); }

function busy(form, on) {
  for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = on;
  form.closest(".panel").setAttribute("aria-busy", on ? "true" : "false");
}

async function run(form, task) {
  clearError();
  busy(form, true);
  try {
    await task();
  } catch (error) {
    if (error.name !== "AbortError") showError(error.message || String(error));
  } finally {
    busy(form, false);
  }
}

// A form that runs `task` when submitted, one request at a time.
function onSubmit(form, task) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (form.closest(".panel").getAttribute("aria-busy") === "true") return;
    run(form, () => task(form));
  });
}

// --- models and tabs -------------------------------------------------------------------------------

// The served models into the picker; `name` chosen when given. With none yet, the Train tab.
async function loadModels(name) {
  const response = await api("/api/models");
  if (!response.ok) throw new Error(await errorText(response));
  state.models = await response.json();
  const select = $("#model");
  select.replaceChildren(...state.models.map((m) => new Option(m.name, m.name)));
  if (name) select.value = name;
  if (!state.models.length) {
    $("#model-info").textContent = "No model yet: train one in the Train tab.";
    showTab("train");
    return;
  }
  chooseModel(true);
}

function currentModel() {
  return state.models.find((m) => m.name === $("#model").value) || state.models[0];
}

function chooseModel(pickTab) {
  const m = currentModel();
  if (!m) return;
  const val = m.best_val == null ? "" : ` · best val ${m.best_val.toFixed(3)} nats/char`;
  $("#model-info").textContent =
    `${m.layers}×${m.hidden} ${m.cell} · ${m.vocab_size} tokens · ${m.mode} mode · ${m.steps} steps${val}`;
  for (const [what, can] of Object.entries(m.writes)) {
    const tab = $(`#tab-${what}`);
    if (tab) tab.classList.toggle("unsupported", !can);
    const hint = document.querySelector(`[data-hint="${what}"]`);
    if (hint) hint.hidden = can;
  }
  if (pickTab) showTab(m.writes.poem ? "poem" : m.writes.names ? "names" : "story");
}

function showTab(name) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.panel === name;
    tab.setAttribute("aria-selected", String(selected));
    $(`#panel-${tab.dataset.panel}`).hidden = !selected;
  }
}

// --- poem ------------------------------------------------------------------------------------------

async function writePoem(form) {
  const acrostic = field(form, "acrostic").value.trim();
  const keywords = field(form, "keywords").value.split(/[,，\s]+/).filter(Boolean);
  const body = {
    model: currentModel().name, form: field(form, "form").value, rhyme: field(form, "rhyme").checked,
    temperature: number(form, "temperature"), meter: field(form, "meter").value,
    rhyme_book: field(form, "rhyme_book").value, keywords,
  };
  if (acrostic) body.acrostic = acrostic;
  const result = await (await post("/api/poem", body)).json();
  const out = $("#poem-out");
  out.replaceChildren(...result.poems.map((poem) => {
    const block = document.createElement("div");
    block.className = "poem";
    for (const line of poem.lines) {
      const p = document.createElement("p");
      p.className = "poem-line";
      if (acrostic) {
        const head = document.createElement("span");
        head.className = "head";
        head.textContent = line[0];
        p.append(head, line.slice(1));
      } else {
        p.textContent = line;
      }
      block.append(p);
    }
    return block;
  }));
}

// The check box reads the meter and the rhyme book of the poem form above it (strict when "off").
async function checkPoem(form) {
  const poemForm = $("#poem-form"), meter = field(poemForm, "meter").value;
  const result = await (await post("/api/poem/check", {
    text: field(form, "text").value, rhyme_book: field(poemForm, "rhyme_book").value,
    meter: meter === "off" ? "strict" : meter,
  })).json();
  $("#check-out").textContent = result.poems.map((p, k) => [`${k + 1}. ${p.ok ? "OK" : "not regular"}: ${p.poem}`,
    ...p.violations.map((v) => `   line ${v.line}, character ${v.position} “${v.char}”: wanted ${v.wanted}, found ${v.found}`),
  ].join("\n")).join("\n");
}

// --- story: the continuation appears as it streams ---------------------------------------------------

async function writeStory(form) {
  const prime = field(form, "prime").value;
  const out = $("#story-out"), cont = $("#story-cont");
  $("#story-prime").textContent = prime;
  cont.textContent = "";
  out.dataset.events = "0";
  state.controller = new AbortController();
  const stop = $("#story-stop");
  const body = {
    model: currentModel().name, prime, length: number(form, "length"), temperature: number(form, "temperature"),
    stream: true,
  };
  try {
    const response = await post("/api/generate", body, state.controller.signal);
    out.dataset.state = "streaming";
    stop.hidden = false;
    let events = 0;
    await readEvents(response, (event, data) => {
      if (event === "error") throw new Error(data.error);
      if (event === "done") {
        if (data.warnings.length) showError(data.warnings.join(" "));
        return;
      }
      cont.append(data.text);
      out.dataset.events = String(++events);
    });
  } finally {
    out.dataset.state = "done";
    stop.hidden = true;
    state.controller = null;
  }
}

// --- names -----------------------------------------------------------------------------------------

async function makeNames(form) {
  const body = {
    model: currentModel().name, num: number(form, "num"), new_only: field(form, "new_only").checked,
    starts_with: field(form, "starts_with").value.trim(), temperature: number(form, "temperature"),
  };
  const result = await (await post("/api/names", body)).json();
  $("#names-out").replaceChildren(...result.names.map((name) => {
    const li = document.createElement("li");
    li.textContent = name;
    return li;
  }));
  $("#names-summary").textContent = result.summary;
  if (result.warnings.length) showError(result.warnings.join(" "));
}

// --- copy ------------------------------------------------------------------------------------------

async function copyText(id, button) {
  const element = document.getElementById(id);
  const text = element.tagName === "OL"
    ? [...element.children].map((li) => li.textContent).join("\n")
    : element.classList.contains("poems")
      ? [...element.children].map((poem) => [...poem.children].map((p) => p.textContent).join("\n")).join("\n\n")
      : element.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {  // no clipboard API (an insecure origin): select the text for Ctrl-C instead
    const range = document.createRange();
    range.selectNodeContents(element);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1200);
}

// --- wiring ----------------------------------------------------------------------------------------

function wire() {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => showTab(tab.dataset.panel));
  }
  const writers = { "poem-form": writePoem, "story-form": writeStory, "names-form": makeNames,
    "check-form": checkPoem };
  for (const [id, write] of Object.entries(writers)) {
    onSubmit(document.getElementById(id), write);
  }
  for (const button of document.querySelectorAll("[data-again]")) {
    button.addEventListener("click", () => document.getElementById(button.dataset.again).requestSubmit());
  }
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", () => copyText(button.dataset.copy, button));
  }
  $("#story-stop").addEventListener("click", () => state.controller && state.controller.abort());
  $("#model").addEventListener("change", () => chooseModel(true));
  loadModels().catch((error) => showError(error.message || String(error)));
}

document.addEventListener("DOMContentLoaded", wire);
