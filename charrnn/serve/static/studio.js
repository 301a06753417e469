// The page's Train tab: a text (pasted, or a file read here and sent as text) or a dataset, a name
// and a time budget -> POST /api/train; then the job's events: the curve as it grows, each eval's
// sample, the time left; Stop and Resume; once it is done, its model is chosen for the other tabs.
"use strict";

const studio = { job: null, reader: null };

async function startTraining(form) {
  const name = field(form, "name").value.trim(), dataset = field(form, "dataset").value;
  const file = field(form, "file").files[0];
  const text = file ? await file.text() : field(form, "text").value;  // a file is read here, sent as text
  const body = { name, mode: field(form, "mode").value };
  if (dataset) body.dataset = dataset;
  else body.text = text;
  const budget = field(form, "budget").value;
  if (budget === "custom") body.max_time = number(form, "seconds");
  else body.preset = budget;
  const status = await (await post("/api/train", body)).json();
  watchJob(status.name).catch(showTrainError);
}

function showStatus(status) {
  const left = Math.max(0, status.max_time - status.elapsed);
  const val = status.best_val == null ? "" : ` · best val ${status.best_val.toFixed(3)} nats/char`;
  const error = status.error ? ` · ${status.error}` : "";
  $("#train-status").textContent = `${status.name}: ${status.state} · step ${status.step} · ` +
    `${Math.round(left)} s left${val}${error}`;
  $("#train-progress").value = status.max_time ? Math.min(1, status.elapsed / status.max_time) : 0;
  if (status.last_sample) $("#train-sample").textContent = status.last_sample;
  const going = status.state === "queued" || status.state === "running";
  $("#train-stop").hidden = !going;
  $("#train-resume").hidden = !(status.state === "stopped" || status.state === "failed");
  $("#train-out").dataset.state = status.state;
}

// Follow a job's events from the start: the curve is drawn again from its first line.
async function watchJob(name) {
  if (studio.reader) studio.reader.abort();
  const controller = studio.reader = new AbortController();
  studio.job = name;
  $("#train-out").hidden = false;
  $("#train-sample").textContent = "";
  const records = [];
  const response = await api(`/api/train/${encodeURIComponent(name)}/events`, { signal: controller.signal });
  if (!response.ok) throw new Error(await errorText(response));
  let last = null;
  await readEvents(response, (event, data) => {
    if (event === "metrics") {
      records.push(data);
      drawCurves(records, $("#train-chart"), $("#train-summary"));
      if (data.sample) $("#train-sample").textContent = data.sample;
      if (last) showStatus({ ...last, step: data.step, elapsed: data.elapsed });
    } else {
      last = data;
      showStatus(data);
    }
  });
  if (last && last.state === "done") await loadModels(name);  // it writes now: its tabs, chosen
}

async function jobAction(what) {
  if (!studio.job) return;
  const status = await (await post(`/api/train/${encodeURIComponent(studio.job)}/${what}`, {})).json();
  showStatus(status);
  if (what === "resume") watchJob(status.name).catch(showTrainError);
}

function showTrainError(error) {
  if (error.name !== "AbortError") showError(error.message || String(error));
}

// The datasets the server knows, and a job already under way (a page opened again) to follow.
async function loadStudio() {
  const datasets = await api("/api/datasets");
  if (datasets.ok) {
    for (const d of await datasets.json()) $("#train-form select[name=dataset]").append(new Option(`${d.name} (${d.mode})`, d.name));
  }
  const jobs = await api("/api/train");
  if (jobs.status === 403) {  // training is off on this server: say why, keep the form shut
    const off = $("#train-off");
    off.textContent = (await jobs.json()).error;
    off.hidden = false;
    for (const element of $("#train-form").elements) element.disabled = true;
    return;
  }
  if (!jobs.ok) return;
  const going = (await jobs.json()).find((j) => j.state === "running" || j.state === "queued");
  if (going) watchJob(going.name).catch(showTrainError);
}

function wireStudio() {
  onSubmit($("#train-form"), startTraining);
  $("#train-stop").addEventListener("click", () => jobAction("stop").catch(showTrainError));
  $("#train-resume").addEventListener("click", () => jobAction("resume").catch(showTrainError));
  loadStudio().catch(showTrainError);
}

document.addEventListener("DOMContentLoaded", wireStudio);
