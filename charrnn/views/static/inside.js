// charrnn's inside view: a text coloured by what the model thought of it. One renderer for the
// page that `charrnn inspect --html` writes (inlined there) and the web app's Inside tab (served).
//
//   Inside.mount(root, data, findings)   data: the JSON of `charrnn inspect --json` / POST /api/inspect
//                                        findings: [{unit, feature, r}] (the neuron finder), may be []
//
// Colours: surprisal and entropy white -> yellow -> red; a unit blue (negative) <- white -> red
// (positive), scaled by its largest |value| in the text. Hover or tap a character for its top guesses.
"use strict";

const Inside = (() => {
  const WHITE = [255, 255, 255], YELLOW = [255, 214, 102], RED = [215, 48, 39], BLUE = [49, 104, 196];
  const SURPRISAL_MAX = 8;

  const mix = (a, b, t) => a.map((x, i) => Math.round(x + (b[i] - x) * t));
  const rgb = (level, diverging) => diverging
    ? (level >= 0 ? mix(WHITE, RED, level) : mix(WHITE, BLUE, -level))
    : (level < 0.5 ? mix(WHITE, YELLOW, level * 2) : mix(YELLOW, RED, level * 2 - 1));

  // [values scaled to [0, 1] (or [-1, 1] when diverging; null where none), diverging, legend text]
  function levels(data, colorBy) {
    if (colorBy === "surprisal" || colorBy === "entropy") {
      const top = colorBy === "surprisal" ? SURPRISAL_MAX : Math.log(data.vocab_size);
      const values = data[colorBy].map(v => v === null ? null : Math.min(v / top, 1));
      return [values, false, `${colorBy}: white 0, red ${top.toFixed(2)}+ nats`];
    }
    const raw = data.activations[colorBy] || [];
    let top = 1e-9;  // a loop: spreading a long text's values into Math.max overflows the stack
    for (const v of raw) top = Math.max(top, Math.abs(v));
    return [raw.map(v => v / top), true, `unit ${colorBy}: blue ${(-top).toFixed(2)}, white 0, red ${top.toFixed(2)}`];
  }

  const unknowns = new WeakMap();  // data -> its unknown positions as a Set (looked up per character)
  const unknownSet = (data) => {
    if (!unknowns.has(data)) unknowns.set(data, new Set(data.unknown));
    return unknowns.get(data);
  };

  const fmt = v => v === null || v === undefined ? "–" : v.toFixed(3);
  const shown = ch => ch === "\n" ? "↵" : ch === " " ? "␣" : ch;

  function describe(data, i, colorBy) {
    const lines = [`“${shown(data.characters[i])}”  surprisal ${fmt(data.surprisal[i])} · entropy ${fmt(data.entropy[i])}`];
    if (unknownSet(data).has(i)) lines.push("not in the vocabulary: read as <unk>");
    if (data.activations[colorBy]) lines.push(`unit ${colorBy}: ${fmt(data.activations[colorBy][i])}`);
    if (data.top[i].length) {
      lines.push("the model's guesses for this character:");
      for (const [ch, p] of data.top[i]) lines.push(`  ${shown(ch)}  ${(100 * p).toFixed(1)}%`);
    } else {
      lines.push("not scored (nothing before it to predict it from)");
    }
    return lines.join("\n");
  }

  function paint(text, legend, data, colorBy) {
    const [values, diverging, meaning] = levels(data, colorBy);
    text.querySelectorAll("span.ch").forEach((span, i) => {
      const v = values[i];
      span.style.background = v === null || v === undefined ? "" : `rgb(${rgb(v, diverging).join(",")})`;
    });
    legend.textContent = meaning;
  }

  function mount(root, data, findings) {
    root.textContent = "";
    const controls = document.createElement("div");
    controls.className = "inside-controls";
    const label = document.createElement("label");
    label.textContent = "Colour by ";
    const pick = document.createElement("select");
    pick.className = "inside-color";
    const options = [["surprisal", "surprisal (how unexpected)"], ["entropy", "entropy (how unsure)"]];
    for (const f of findings || []) options.push([f.unit, `unit ${f.unit} · ${f.feature} r=${f.r.toFixed(2)}`]);
    for (const unit of Object.keys(data.activations)) {
      if (!options.some(([value]) => value === unit)) options.push([unit, `unit ${unit}`]);
    }
    for (const [value, text] of options) pick.add(new Option(text, value));
    label.append(pick);
    const legend = document.createElement("span");
    legend.className = "inside-legend";
    controls.append(label, legend);

    const text = document.createElement("div");
    text.className = "inside-text";
    data.characters.forEach((ch, i) => {
      const span = document.createElement("span");
      span.className = "ch" + (unknownSet(data).has(i) ? " unk" : "");
      span.dataset.i = String(i);
      span.textContent = ch === "\n" ? "↵" : ch;
      text.append(span);
      if (ch === "\n") text.append(document.createElement("br"));
    });
    const tip = document.createElement("pre");
    tip.className = "inside-tip";
    tip.hidden = true;
    const show = event => {
      const span = event.target.closest("span.ch");
      if (!span) return;
      tip.textContent = describe(data, Number(span.dataset.i), pick.value);
      tip.hidden = false;
      const box = span.getBoundingClientRect(), rootBox = root.getBoundingClientRect();
      tip.style.left = `${Math.max(0, box.left - rootBox.left)}px`;
      tip.style.top = `${box.bottom - rootBox.top + 4}px`;
    };
    text.addEventListener("mouseover", show);
    text.addEventListener("click", show);
    text.addEventListener("mouseleave", () => { tip.hidden = true; });
    pick.addEventListener("change", () => paint(text, legend, data, pick.value));
    root.append(controls, text, tip);
    paint(text, legend, data, pick.value);
  }

  return { mount, describe, levels };
})();
