// genjscc app: builds the controls from /api/choices, posts a request, follows its job, shows the results.
// Each tab keeps only the id of its own latest job, so two tabs never show each other's results.
"use strict";

const $ = (id) => document.getElementById(id);
let choices = null;
let currentJob = null;

function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text ?? value;
  return o;
}

function schemeControl(scheme, index) {
  const box = document.createElement("div");
  box.className = "scheme";
  const label = document.createElement("label");
  const check = document.createElement("input");
  check.type = "checkbox";
  check.className = "scheme-check";
  check.dataset.spec = scheme.spec;
  check.checked = index === 0;
  label.append(check, " ", scheme.spec);
  label.title = scheme.description;
  box.append(label);
  for (const opt of scheme.options) {
    const wrap = document.createElement("label");
    wrap.className = "scheme-option";
    let input;
    if (opt.values.length) {
      input = document.createElement("select");
      for (const v of opt.values) input.append(option(v));
    } else {
      input = document.createElement("input");
      input.type = "number";
      input.min = opt.low;
      input.max = opt.high;
    }
    input.value = opt.default;
    input.dataset.option = opt.name;
    wrap.append(opt.label + " ", input);
    box.append(wrap);
  }
  const about = document.createElement("small");
  about.textContent = scheme.description;
  box.append(about);
  return box;
}

async function loadChoices() {
  const response = await fetch("/api/choices");
  choices = await response.json();
  for (const p of choices.photos) $("photo").append(option(p));
  for (const s of choices.sizes) $("size").append(option(s, s === "native" ? "native (whole image)" : `${s}x${s}`));
  $("size").value = choices.default_size;
  for (const c of choices.channels) $("channel").append(option(c));
  for (const c of choices.csi) $("csi").append(option(c));
  choices.schemes.forEach((s, i) => $("schemes").append(schemeControl(s, i)));
  showCsi();
}

function showCsi() {
  $("csi-label").hidden = $("channel").value === "awgn";
}

function chosenSchemes() {
  const out = [];
  for (const box of document.querySelectorAll("#schemes .scheme")) {
    const check = box.querySelector(".scheme-check");
    if (!check.checked) continue;
    const options = {};
    for (const input of box.querySelectorAll("[data-option]")) options[input.dataset.option] = input.value;
    out.push({ spec: check.dataset.spec, options });
  }
  return out;
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(new Error(`cannot read ${file.name} in the browser`));
    reader.readAsDataURL(file);
  });
}

async function imageField() {
  if ($("source-upload").checked) {
    const file = $("upload").files[0];
    if (!file) throw new Error("choose an image file to upload, or pick a held-out photo");
    return { upload: { name: file.name, data: await readBase64(file) } };
  }
  return { photo: $("photo").value };
}

async function buildRequest(task) {
  const request = {
    task,
    image: await imageField(),
    size: $("size").value === "native" ? "native" : Number($("size").value),
    schemes: chosenSchemes(),
    channel: $("channel").value,
    csi: $("csi").value,
    snr: Number($("snr").value),
    seed: Number($("seed").value),
  };
  if (task === "curve") {
    request.curve = {
      from: Number($("curve-from").value), to: Number($("curve-to").value),
      step: Number($("curve-step").value), metric: $("curve-metric").value,
    };
  }
  return request;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

function setBusy(busy) {
  $("send").disabled = busy;
  $("curve-button").disabled = busy;
  $("cancel").disabled = !busy;
  $("progress").hidden = !busy;
}

function fmt(value, digits) {
  return value === null || value === undefined ? "n/a" : value.toFixed(digits);
}

function figure(title, src, lines, cls) {
  const fig = document.createElement("figure");
  fig.className = cls;
  const img = document.createElement("img");
  img.src = src;
  img.alt = title;
  const cap = document.createElement("figcaption");
  const name = document.createElement("strong");
  name.textContent = title;
  cap.append(name);
  for (const [className, text, value] of lines) {
    const span = document.createElement("span");
    span.className = className;
    span.textContent = text;
    if (value !== undefined && value !== null) span.dataset.value = value;
    cap.append(span);
  }
  fig.append(img, cap);
  return fig;
}

function scoreLines(t) {
  return [
    ["psnr", `PSNR ${fmt(t.psnr, 2)} dB`, t.psnr],
    ["ms-ssim", `MS-SSIM ${fmt(t.ms_ssim, 4)}`, t.ms_ssim],
    ["lpips", `LPIPS ${fmt(t.lpips, 4)}`, t.lpips],
  ];
}

function showOriginal(submitted) {
  // whole images keep their aspect, shown 512 px wide (the scores are those of the full-size image)
  $("results").classList.toggle("native", submitted.size === "native");
  $("results").replaceChildren(figure(`original (${submitted.source})`, submitted.original,
    [["size", `${submitted.width}x${submitted.height}`]], "tile original"));
  $("notes").replaceChildren(...submitted.notes.map((n) => Object.assign(document.createElement("li"), { textContent: n })));
  $("prepared").hidden = false;
}

function showTiles(result) {
  for (const t of result.tiles) {
    if (t.error) {
      const fig = figure(t.label, "", [["tile-error", t.error]], "tile failed");
      fig.querySelector("img").remove();
      $("results").append(fig);
      continue;
    }
    const uses = t.channel_uses === null ? "" : `${t.channel_uses} channel uses (BCR ${t.bcr})`;
    const lines = [
      ["where", `${result.channel}, ${result.snr} dB, seed ${result.seed}`],
      ...scoreLines(t),
      ["uses", uses],
      ["time", `${t.seconds.toFixed(2)} s`],
    ];
    const fig = figure(t.label, t.image, lines, "tile reconstruction");
    fig.dataset.spec = t.spec;
    $("results").append(fig);
    for (const stage of t.stages) {
      $("results").append(figure(`${stage.label} (inside ${t.label})`, stage.image, scoreLines(stage), "tile stage"));
    }
  }
}

async function follow(jobId, onDone) {
  let version = -1;
  while (currentJob === jobId) {
    let response, job;
    try {
      response = await fetch(`/api/jobs/${jobId}?after=${version}`);
      job = await response.json();
    } catch (err) {
      showError(`lost the server (${err.message}); is genjscc app still running?`);
      break;
    }
    if (currentJob !== jobId) return;  // a newer request from this tab took over
    if (!response.ok) { showError(job.error); break; }
    version = job.version;
    $("progress").max = Math.max(job.total, 1);
    $("progress").value = job.done;
    $("status").textContent = job.message;
    if (job.state === "done") { onDone(job.result); break; }
    if (job.state === "failed") { showError(job.error); break; }
    if (job.state === "cancelled") { $("status").textContent = "cancelled"; break; }
  }
  if (currentJob === jobId) { currentJob = null; setBusy(false); }
}

async function submit(task) {
  showError("");
  let request;
  try {
    request = await buildRequest(task);
  } catch (err) {
    showError(err.message);
    return;
  }
  setBusy(true);
  $("status").textContent = "sending the request";
  let response, submitted;
  try {
    response = await fetch("/api/jobs", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request),
    });
    submitted = await response.json();
  } catch (err) {
    showError(`cannot reach the server (${err.message}); is genjscc app still running?`);
    $("status").textContent = "";
    setBusy(false);
    return;
  }
  if (!response.ok) {
    showError(submitted.error);
    $("status").textContent = "";
    setBusy(false);
    return;
  }
  currentJob = submitted.job;
  if (task === "transmit") {
    showOriginal(submitted);
    await follow(submitted.job, showTiles);
  } else {
    await follow(submitted.job, (result) => {
      $("curve").src = result.image;
      $("curve-csv").href = "data:text/csv;charset=utf-8," + encodeURIComponent(result.csv);
      $("curve-section").hidden = false;
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  loadChoices().catch((err) => showError(`cannot load the choices from the server: ${err.message}`));
  $("snr").addEventListener("input", () => { $("snr-value").textContent = `${$("snr").value} dB`; });
  $("channel").addEventListener("change", showCsi);
  $("upload").addEventListener("change", () => { $("source-upload").checked = true; });
  $("photo").addEventListener("change", () => { $("source-photo").checked = true; });
  $("controls").addEventListener("submit", (event) => { event.preventDefault(); submit("transmit"); });
  $("curve-button").addEventListener("click", () => submit("curve"));
  $("cancel").addEventListener("click", () => {
    if (currentJob) fetch(`/api/jobs/${currentJob}/cancel`, { method: "POST" });
    $("status").textContent = "cancelling";
  });
});
