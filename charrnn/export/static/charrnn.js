// charrnn in the browser: the exported weights (model.json + weights.bin), a forward pass one
// character at a time, sampling, and regular Chinese poems by construction. No library, no network
// beyond this folder.
//
//   await window.charrnn.loaded
//   window.charrnn.ready                                  true once the weights are in
//   window.charrnn.generate({prime, length, temperature, seed})  -> Promise of the continuation
//   window.charrnn.poem({form, acrostic, temperature, seed})     -> Promise of the poem (lines with ，。)
//   window.charrnn.names({num, temperature, seed})               -> Promise of names (lines-mode runs)
//
// The arithmetic is charrnn's (charrnn/model.py): PyTorch's gate orders, an LSTM's [i, f, g, o], a
// GRU's [r, z, n] with r applied to W_hn h + b_hn. Layer 0's input term of each character is
// computed once and kept, so a step is the recurrent products and the head.
"use strict";

(() => {
  const UNK = 0, BOS = 1, EOS = 2, SPECIALS = 3;
  const FORMS = { wujue: [5, 4], qijue: [7, 4], wulv: [5, 8], qilv: [7, 8] };
  const COMMA = "，", PERIOD = "。";
  const sigmoid = (x) => 1 / (1 + Math.exp(-x));

  // out[r] = bias[r] + W[r, :] . x  for W (rows x cols) row-major; four sums at a time
  function affine(W, rows, cols, x, out, bias) {
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let a = 0, b = 0, c = 0, d = 0, j = 0;
      for (; j + 3 < cols; j += 4) {
        a += W[base + j] * x[j]; b += W[base + j + 1] * x[j + 1];
        c += W[base + j + 2] * x[j + 2]; d += W[base + j + 3] * x[j + 3];
      }
      for (; j < cols; j++) a += W[base + j] * x[j];
      out[r] = a + b + c + d + (bias ? bias[r] : 0);
    }
    return out;
  }

  class Model {
    constructor(meta, buffer) {
      this.meta = meta;
      const all = new Float32Array(buffer);
      this.w = {};
      for (const [name, t] of Object.entries(meta.tensors)) {
        this.w[name] = all.subarray(t.offset, t.offset + t.shape.reduce((a, b) => a * b, 1));
      }
      this.H = meta.hidden;
      this.G = { lstm: 4, gru: 3, rnn: 1 }[meta.cell] * this.H;
      this.input = meta.embed > 0 ? meta.embed : meta.vocab_size;
      this.rows0 = new Map();  // id -> layer 0's input term W_ih x + b_ih
      this.ids = new Map(meta.chars.map((ch, i) => [ch, i + SPECIALS]));
      this.logits = new Float32Array(meta.vocab_size);
      this.prepare();
    }

    zeroState() {
      const layers = [];
      for (let k = 0; k < this.meta.layers; k++) layers.push({ h: new Float32Array(this.H), c: new Float32Array(this.H) });
      return layers;
    }

    inputTerm(id) {  // (G,) for layer 0
      let row = this.rows0.get(id);
      if (!row) {
        let x;
        if (this.meta.embed > 0) {
          x = this.w["embedding.weight"].subarray(id * this.input, (id + 1) * this.input);
        } else {
          x = new Float32Array(this.input);
          x[id] = 1;
        }
        row = affine(this.w["rnn.weight_ih_l0"], this.G, this.input, x, new Float32Array(this.G), this.w["rnn.bias_ih_l0"]);
        this.rows0.set(id, row);
      }
      return row;
    }

    // per layer, the weights one product needs: layer 0 W_hh (its input term is inputTerm's);
    // above it [W_ih | W_hh] side by side, read against [x, h] (RNN, LSTM); a GRU keeps them apart
    // since its reset gate multiplies the hidden term alone
    prepare() {
      const H = this.H, G = this.G, gru = this.meta.cell === "gru";
      this.layers = [];
      for (let k = 0; k < this.meta.layers; k++) {
        const wih = this.w[`rnn.weight_ih_l${k}`], whh = this.w[`rnn.weight_hh_l${k}`];
        const bih = this.w[`rnn.bias_ih_l${k}`], bhh = this.w[`rnn.bias_hh_l${k}`];
        const layer = { gi: new Float32Array(G), gh: new Float32Array(G), xh: new Float32Array(2 * H) };
        if (k === 0 || gru) {
          Object.assign(layer, { wih, whh, bih, bhh });
        } else {
          const both = new Float32Array(G * 2 * H), bias = new Float32Array(G);
          for (let r = 0; r < G; r++) {
            both.set(wih.subarray(r * H, (r + 1) * H), r * 2 * H);
            both.set(whh.subarray(r * H, (r + 1) * H), r * 2 * H + H);
            bias[r] = bih[r] + bhh[r];
          }
          Object.assign(layer, { both, bias });
        }
        this.layers.push(layer);
      }
    }

    // one id -> logits (V,); the state is updated in place
    step(id, state) {
      const H = this.H, G = this.G, cell = this.meta.cell;
      let x = null;
      for (let k = 0; k < state.length; k++) {
        const s = state[k], L = this.layers[k];
        let gi, gh;
        if (L.both) {  // one product over [x, h]; its "gh" part is already in
          L.xh.set(x, 0);
          L.xh.set(s.h, H);
          gi = affine(L.both, G, 2 * H, L.xh, L.gi, L.bias);
          gh = null;
        } else {
          gi = k === 0 ? this.inputTerm(id) : affine(L.wih, G, H, x, L.gi, L.bih);
          gh = affine(L.whh, G, H, s.h, L.gh, L.bhh);
        }
        const h = s.h;  // updated in place: nothing reads the old h after the products above
        if (cell === "lstm") {
          for (let j = 0; j < H; j++) {
            const a = gh ? gh[j] : 0, b = gh ? gh[H + j] : 0, c = gh ? gh[2 * H + j] : 0, d = gh ? gh[3 * H + j] : 0;
            const i = sigmoid(gi[j] + a), f = sigmoid(gi[H + j] + b);
            const g = Math.tanh(gi[2 * H + j] + c), o = sigmoid(gi[3 * H + j] + d);
            s.c[j] = f * s.c[j] + i * g;
            h[j] = o * Math.tanh(s.c[j]);
          }
        } else if (cell === "gru") {
          for (let j = 0; j < H; j++) {
            const r = sigmoid(gi[j] + gh[j]), z = sigmoid(gi[H + j] + gh[H + j]);
            const n = Math.tanh(gi[2 * H + j] + r * gh[2 * H + j]);
            h[j] = (1 - z) * n + z * h[j];
          }
        } else {
          for (let j = 0; j < H; j++) h[j] = Math.tanh(gi[j] + (gh ? gh[j] : 0));
        }
        x = h;
      }
      return this.readout(x);
    }

    readout(x) {
      const V = this.meta.vocab_size;
      if (this.meta.output === "tied") {
        const E = this.meta.embed, p = affine(this.w["project.weight"], E, this.H, x, new Float32Array(E), null);
        for (let j = 0; j < E; j++) p[j] *= this.meta.output_scale;
        return affine(this.w["embedding.weight"], V, E, p, this.logits, this.w["output_bias"]);
      }
      return affine(this.w["head.weight"], V, this.H, x, this.logits, this.w["head.bias"]);
    }

    encode(text) { return [...text].map((ch) => this.ids.get(ch) ?? UNK); }
    char(id) { return id >= SPECIALS ? this.meta.chars[id - SPECIALS] : ""; }

    // the ids read before writing: <bos> + prime (lines mode); the prime, or a newline (stream mode)
    start(prime) {
      const ids = this.encode(prime);
      if (this.meta.mode === "lines") return [BOS, ...ids];
      return ids.length ? ids : [this.ids.get("\n") ?? this.meta.vocab_size - 1];
    }
  }

  // a seeded generator (mulberry32), so a seed writes the same text each time
  function random(seed) {
    let a = (seed >>> 0) || 0x9e3779b9;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // one id from logits: only where `allowed(id)`; temperature 0 takes the likeliest
  function pick(logits, temperature, rand, allowed) {
    let best = -1, top = -Infinity;
    for (let i = 0; i < logits.length; i++) if (allowed(i) && logits[i] > top) { top = logits[i]; best = i; }
    if (temperature <= 0 || best < 0) return best;
    let total = 0;
    const p = new Float64Array(logits.length);
    for (let i = 0; i < logits.length; i++) if (allowed(i)) total += (p[i] = Math.exp((logits[i] - top) / temperature));
    let u = rand() * total;
    for (let i = 0; i < p.length; i++) if (p[i] > 0 && (u -= p[i]) <= 0) return i;
    return best;
  }

  // let the page breathe between characters: a message, which (unlike a nested setTimeout) waits no 4 ms
  const channel = new MessageChannel(), waiting = [];
  channel.port1.onmessage = () => waiting.shift()();
  const pause = () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(0); });

  async function generate(model, { prime = "", length = 200, temperature = 1.0, seed = 0 } = {}) {
    const rand = random(seed), state = model.zeroState(), lines = model.meta.mode === "lines";
    let logits = null;
    for (const id of model.start(prime)) logits = model.step(id, state);
    let out = "";
    for (let t = 0; t < length; t++) {
      const id = pick(logits, temperature, rand, (i) => i > BOS && (lines || i !== EOS));
      if (id === EOS) break;
      out += model.char(id);
      logits = model.step(id, state);
      if (t % 64 === 63) await pause();
    }
    return out;
  }

  const isLineChar = (ch) => /^[\p{L}\p{N}]$/u.test(ch);

  // charrnn/writers/poems.py in JavaScript: each position allows line characters, its mark, or its head
  async function poem(model, { form = "wujue", acrostic = "", temperature = 1.0, seed = 0 } = {}) {
    if (!model.meta.poems) throw new Error("this model was not exported for poems (no ， and 。)");
    const heads = [...acrostic].filter(isLineChar);
    if (!FORMS[form]) throw new Error(`unknown form ${form}: wujue, qijue, wulv or qilv`);
    const [n, m] = FORMS[form];
    if (heads.length && heads.length !== m) throw new Error(`the acrostic gives ${heads.length} heads; ${form} has ${m} lines`);
    const missing = heads.filter((h) => !model.ids.has(h));
    if (missing.length) throw new Error(`not in the vocabulary: ${missing.join("")}`);
    const lineIds = new Set(model.meta.chars.map((ch, i) => (isLineChar(ch) ? i + SPECIALS : -1)).filter((i) => i >= 0));
    const rand = random(seed), state = model.zeroState();
    let logits = null;
    for (const id of model.start("")) logits = model.step(id, state);
    let out = "";
    for (let line = 0; line < m; line++) {
      for (let col = 0; col <= n; col++) {
        let allowed;
        if (col === n) {
          const mark = model.ids.get(line % 2 === 1 || line === m - 1 ? PERIOD : COMMA);
          allowed = (i) => i === mark;
        } else if (col === 0 && heads.length) {
          const head = model.ids.get(heads[line]);
          allowed = (i) => i === head;
        } else {
          allowed = (i) => lineIds.has(i);
        }
        const id = pick(logits, temperature, rand, allowed);
        out += model.char(id);
        logits = model.step(id, state);
      }
      await pause();
    }
    return out;
  }

  async function names(model, { num = 10, temperature = 1.0, seed = 0 } = {}) {
    if (model.meta.mode !== "lines") throw new Error("names need a lines-mode run");
    const rand = random(seed), found = [];
    for (let k = 0; k < num; k++) {
      const state = model.zeroState();
      let logits = model.step(BOS, state), name = "";
      for (let t = 0; t < 40; t++) {
        const id = pick(logits, temperature, rand, (i) => i > BOS && (i !== EOS || name.length > 0));
        if (id === EOS) break;
        name += model.char(id);
        logits = model.step(id, state);
      }
      found.push(name);
      await pause();
    }
    return found;
  }

  // for the tests: the logits after each character of `text`, from a zero state
  function forward(model, text) {
    const state = model.zeroState();
    return model.encode(text).map((id) => Array.from(model.step(id, state)));  // a copy: logits are reused
  }

  const api = { ready: false };
  api.loaded = (async () => {
    const meta = await (await fetch("model.json")).json();
    const weights = await (await fetch("weights.bin")).arrayBuffer();
    const model = new Model(meta, weights);
    Object.assign(api, {
      info: { cell: meta.cell, layers: meta.layers, hidden: meta.hidden, mode: meta.mode, poems: meta.poems,
              vocab: meta.vocab_size },
      generate: (options) => generate(model, options),
      poem: (options) => poem(model, options),
      names: (options) => names(model, options),
      forward: (text) => forward(model, text),
      ready: true,
    });
    return api;
  })();
  window.charrnn = api;
})();
