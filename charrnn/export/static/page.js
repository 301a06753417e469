// The exported page: the forms call window.charrnn (charrnn.js) and show what it writes.
"use strict";

const $ = (selector) => document.querySelector(selector);
const value = (form, name) => form.elements.namedItem(name).value;

function show(text) { $("#out").textContent = text; }

function fail(error) {
  $("#error").textContent = error.message || String(error);
  $("#error").hidden = false;
}

function wire(id, task) {
  const form = $(id);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    $("#error").hidden = true;
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      show(await task(form));
    } catch (error) {
      fail(error);
    } finally {
      button.disabled = false;
    }
  });
}

window.charrnn.loaded.then((model) => {
  const { cell, layers, hidden, mode, vocab, poems } = model.info;
  $("#info").textContent = `${layers}×${hidden} ${cell} · ${vocab} tokens · ${mode} mode`;
  $("#poem-form").hidden = !poems;
  $("#names-form").hidden = mode !== "lines";
  wire("#text-form", async (form) => {
    const prime = value(form, "prime");
    return prime + await model.generate({ prime, length: Number(value(form, "length")),
      temperature: Number(value(form, "temperature")), seed: Number(value(form, "seed")) });
  });
  wire("#poem-form", async (form) => {
    const poem = await model.poem({ form: value(form, "form"), acrostic: value(form, "acrostic"),
      temperature: 0.8, seed: Number(value(form, "seed")) });
    return poem.replace(/([，。])/g, "$1\n").trim();  // one line of verse a row
  });
  wire("#names-form", async (form) => (await model.names({ num: Number(value(form, "num")),
    seed: Number(value(form, "seed")) })).join("\n"));
}).catch(fail);
