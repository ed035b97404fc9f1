// painterly studio: the page.  Controls are built from /api/schema, so an option is
// defined once, in painterly/config.py (and painterly/nets/options.py for training).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { schema: null, content: null, styles: [], job: null, events: null,
                preset: "", previewVersion: 0, models: [], trainStyle: null,
                trainPhotos: [] };
const FINAL = ["done", "failed", "cancelled"];
const CLIP_EXT = ["mp4", "mov", "webm", "mkv"];
const TRAIN_SHOWN = ["steps", "batch", "crop", "photo_size", "width", "style_weight",
                     "holdout", "preview_every"];

// ---------------------------------------------------------------- helpers

async function api(path, init) {
  const resp = await fetch(path, init);
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  if (!resp.ok) throw new Error((body && body.error) || `request failed (${resp.status})`);
  return body;
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" },
                     body: JSON.stringify(body) });
}

function say(text, bad) {
  const m = $("message");
  m.textContent = text || "";
  m.classList.toggle("bad", !!bad);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function label(name) {
  const s = name.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function duration(sec) {
  if (!isFinite(sec) || sec < 0) return "";
  sec = Math.round(sec);
  if (sec < 60) return `${sec} s`;
  return `${Math.floor(sec / 60)} min ${String(sec % 60).padStart(2, "0")} s`;
}

function num(x) {
  return x === undefined || x === null ? "" : Number(x).toPrecision(3).replace(/\.?0+$/, "");
}

const kindOf = (id) => (CLIP_EXT.includes(id.split(".").pop()) ? "clip" : "image");
const isClip = () => !!state.content && kindOf(state.content.id) === "clip";

// ---------------------------------------------------------------- option forms

// One field per option of a schema; ids are `${prefix}${name}`.  `where(opt)` names the
// box it goes in (or null: left out).
function buildFields(options, prefix, where, onInput) {
  for (const opt of options) {
    const box = where(opt);
    if (!box) continue;
    const id = `${prefix}${opt.name}`;
    let input;
    if (opt.choices) {
      input = el("select", { id, name: opt.name },
                 ...opt.choices.map((c) => el("option", { value: c }, c)));
    } else if (opt.type === "int" || opt.type === "float") {
      input = el("input", { id, name: opt.name, type: "number", min: opt.min, max: opt.max,
                            step: opt.type === "int" ? 1 : "any" });
    } else {
      input = el("input", { id, name: opt.name, type: "text",
                            placeholder: opt.type.startsWith("list") ? "comma-separated" : "" });
    }
    input.dataset.type = opt.type;
    if (onInput) input.addEventListener("input", onInput);
    box.append(el("div", { class: "field", "data-option": opt.name },
                  el("label", { for: id }, opt.label || label(opt.name)), input,
                  el("small", {}, opt.help)));
  }
  setFields(prefix, Object.fromEntries(options.map((o) => [o.name, o.default])));
}

function setFields(prefix, values) {
  for (const [name, value] of Object.entries(values)) {
    const input = $(`${prefix}${name}`);
    if (!input) continue;
    input.value = Array.isArray(value) ? value.join(", ") : String(value);
  }
}

function readFields(options, prefix) {
  const out = {};
  for (const opt of options) {
    const input = $(`${prefix}${opt.name}`);
    if (!input) continue;
    const v = input.value.trim();
    if (opt.type === "int" || opt.type === "float") {
      if (v !== "") out[opt.name] = Number(v);
    } else {
      out[opt.name] = v;
    }
  }
  return out;
}

function buildForms(schema) {
  const side = (opt) => $(opt.group === "basic" ? "basic-fields" : "advanced-fields");
  buildFields(schema.options, "opt-", side, () => markPreset(""));
  buildFields(schema.clip_options, "opt-", () => $("advanced-fields"));
  const box = $("presets");
  for (const name of Object.keys(schema.presets)) {
    box.append(el("button", { type: "button", "data-preset": name,
                              onclick: () => applyPreset(name) }, name));
  }
  buildFields(schema.apply_options, "apply-", () => $("apply-fields"));
  buildFields(schema.train_options, "train-",
              (opt) => $(TRAIN_SHOWN.includes(opt.name) ? "train-fields" : "train-advanced-fields"));
  $("train-folder-choice").hidden = !schema.photo_folder;
  showClipFields();
}

// The clip options belong to a clip by optimisation: shown (and sent) only for a clip.
function showClipFields() {
  for (const opt of state.schema.clip_options) {
    $(`opt-${opt.name}`).closest(".field").hidden = !isClip();
  }
}

function readForm() {
  const out = readFields(state.schema.options, "opt-");
  if (isClip()) Object.assign(out, readFields(state.schema.clip_options, "opt-"));
  return out;
}

function applyPreset(name) {
  setFields("opt-", state.schema.presets[name]);
  markPreset(name);
}

function markPreset(name) {
  state.preset = name;
  for (const b of $("presets").children) b.classList.toggle("active", b.dataset.preset === name);
}

// ---------------------------------------------------------------- images and clips

async function upload(file) {
  const form = new FormData();
  form.append("file", file, file.name || "image");
  try {
    const item = await api("/api/uploads", { method: "POST", body: form });
    item.name = (file.name || "").replace(/\.[^.]*$/, "");
    return item;
  } catch (e) {
    throw new Error(`${file.name}: ${e.message}`);
  }
}

// Upload `files` and hand each to `take(item)`; `single`: only the first.
async function addFiles(files, take, single) {
  say("");
  for (const file of files) {
    try {
      take(await upload(file));
    } catch (e) {
      say(e.message, true);
    }
    if (single) break;
  }
  drawThumbs();
}

const DROPS = {
  content: { take: (item) => { state.content = item; }, single: true },
  styles: { take: (item) => {
    if (!state.styles.some((s) => s.id === item.id)) state.styles.push(item);
  } },
  trainStyle: { take: (item) => {
    state.trainStyle = item;
    if (!$("train-name").value) $("train-name").value = item.name || "";
  }, single: true },
  trainPhotos: { take: (item) => {
    if (!state.trainPhotos.some((s) => s.id === item.id)) state.trainPhotos.push(item);
  } },
};

function thumb(item, remove) {
  const media = kindOf(item.id) === "clip"
    ? el("video", { src: `${item.url}#t=0.01`, muted: "", preload: "metadata",
                    title: item.frames ? `${item.frames} frames, ${num(item.duration)} s` : "" })
    : el("img", { src: item.url, alt: "", title: item.width ? `${item.width}×${item.height}` : "" });
  return el("div", { class: "thumb" }, media,
    el("button", { type: "button", title: "Remove", "aria-label": "Remove",
                   onclick: (ev) => { ev.preventDefault(); remove(); drawThumbs(); } }, "×"));
}

function drawThumbs() {
  $("content-thumbs").replaceChildren(
    ...(state.content ? [thumb(state.content, () => { state.content = null; })] : []));
  $("style-thumbs").replaceChildren(...state.styles.map((s) => thumb(s, () => {
    state.styles = state.styles.filter((x) => x !== s);
  })));
  $("train-style-thumbs").replaceChildren(
    ...(state.trainStyle ? [thumb(state.trainStyle, () => { state.trainStyle = null; })] : []));
  const photos = state.trainPhotos;
  $("train-photos-thumbs").replaceChildren(...photos.slice(0, 24).map((s) => thumb(s, () => {
    state.trainPhotos = state.trainPhotos.filter((x) => x !== s);
  })), ...(photos.length > 24 ? [el("span", { class: "more" }, `+${photos.length - 24}`)] : []));
  $("train-photos-hint").textContent = photos.length
    ? `${photos.length} photo${photos.length === 1 ? "" : "s"}`
    : "Drop the photos to train on (any photos; more is better)";
  $("start").textContent = isClip() ? "Start clip" : "Start";
  if (state.schema) showClipFields();
}

function wireDrop(zone, input, which) {
  const { take, single } = DROPS[which];
  input.addEventListener("change", () => { addFiles([...input.files], take, single); input.value = ""; });
  zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    zone.classList.remove("over");
    addFiles([...ev.dataTransfer.files], take, single);
  });
}

// ---------------------------------------------------------------- jobs

async function start() {
  if (!state.content) return say("Pick a content image or clip first.", true);
  if (!state.styles.length) return say("Pick at least one style image.", true);
  say("");
  try {
    const job = await post("/api/jobs", { content: state.content.id,
                                          styles: state.styles.map((s) => s.id),
                                          options: readForm(), preset: state.preset });
    follow(job);
    loadGallery();
  } catch (e) {
    say(e.message, true);
  }
}

function follow(job) {
  if (state.events) state.events.close();
  state.job = job;
  state.previewVersion = 0;
  $("download").hidden = true;
  stage(null);
  show(job);
  if (FINAL.includes(job.status)) return;
  const es = new EventSource(`/api/jobs/${job.id}/events`);
  state.events = es;
  let status = job.status;
  es.onmessage = (ev) => {
    const j = JSON.parse(ev.data);
    show(j);
    if (j.status !== status) {
      status = j.status;
      loadGallery();
      if (j.kind === "train" && FINAL.includes(j.status)) loadModels();
    }
    if (FINAL.includes(j.status)) es.close();
  };
  es.onerror = () => { if (es.readyState === EventSource.CONNECTING) setStatus("Reconnecting…"); };
}

function setStatus(text, fraction) {
  $("status").textContent = text;
  if (fraction !== undefined) $("bar").style.width = `${Math.round(fraction * 100)}%`;
}

// What the stage shows: an image, a clip (with a still of it), or nothing.
function stage(kind, src, still) {
  const img = $("preview");
  const video = $("video");
  if (kind === "video") {
    if (still) video.poster = still; else video.removeAttribute("poster");
    if (video.getAttribute("src") !== src) video.src = src;
    video.hidden = false;
    img.removeAttribute("src");
  } else {
    video.hidden = true;
    if (video.getAttribute("src")) { video.pause(); video.removeAttribute("src"); video.load(); }
    if (kind === "image") img.src = src; else img.removeAttribute("src");
  }
  $("stage").classList.toggle("has-image", !!kind);
}

function running(job) {
  const p = job.progress || {};
  const eta = p.eta !== undefined && p.eta > 0 ? ` · ${duration(p.eta)} left` : "";
  if (job.kind === "train") {
    const losses = p.losses || {};
    return [p.total ? `Step ${p.step} of ${p.total} · style ${num(losses.style)} · content ` +
                      `${num(losses.content)}${eta}` : "Preparing the training…",
            p.total ? p.step / p.total : 0];
  }
  if (job.kind === "clip") {
    const inFrame = p.total ? ` · step ${p.step}/${p.total}` : "";
    const rate = p.fps ? ` · ${p.fps >= 1 ? `${num(p.fps)} frames/s` : `${num(1 / p.fps)} s/frame`}` : "";
    return [p.frames ? `Frame ${p.frame} of ${p.frames}${inFrame}${rate}${eta}` : "Starting…",
            p.frames ? p.frame / p.frames : 0];
  }
  const scale = p.scales > 1 ? ` · scale ${p.scale}/${p.scales}` : "";
  return [p.total ? `Step ${p.step} of ${p.total}${scale}${eta}` : "Starting…",
          p.total ? p.step / p.total : 0];
}

function show(job) {
  state.job = job;
  $("cancel").disabled = FINAL.includes(job.status);
  if (job.status === "queued") {
    setStatus(job.position ? `Queued: position ${job.position}` : "Queued", 0);
  } else if (job.status === "running") {
    setStatus(...running(job));
    if (job.preview_version && job.preview_version !== state.previewVersion) {
      state.previewVersion = job.preview_version;
      stage("image", `/api/jobs/${job.id}/preview.jpg?v=${job.preview_version}`);
    }
  } else if (job.status === "done") {
    const secs = job.finished - job.started;
    const took = secs < 10 ? `${secs.toFixed(secs < 1 ? 2 : 1)} s` : duration(secs);
    if (job.kind === "train") {
      setStatus(`Trained in ${took}: “${job.model_name}” is in the networks`, 1);
      if (job.thumb) stage("image", `${job.thumb}?v=${job.finished}`);
    } else {
      setStatus(`Done in ${took}`, 1);
      const ext = job.kind === "clip" ? "mp4" : "png";
      stage(ext === "mp4" ? "video" : "image", `${job.result}?v=${job.finished}`, job.thumb);
      const a = $("download");
      a.href = `${job.result}?download=true`;
      a.setAttribute("download", `painterly-${job.id}.${ext}`);
      a.textContent = `Download ${ext.toUpperCase()}`;
      a.hidden = false;
    }
  } else if (job.status === "failed") {
    setStatus("Failed", 0);
    say(job.error, true);
  } else if (job.status === "cancelled") {
    setStatus("Cancelled", 0);
    if (job.note) say(job.note);
  }
}

async function cancel() {
  if (!state.job) return;
  try { show(await api(`/api/jobs/${state.job.id}/cancel`, { method: "POST" })); } catch (e) {
    say(e.message, true);
  }
}

// ---------------------------------------------------------------- networks

async function loadModels() {
  try {
    const { models } = await api("/api/models");
    state.models = models;
    $("networks").replaceChildren(...models.map(networkCard));
    $("networks-empty").hidden = models.length > 0;
  } catch (e) {
    say(e.message, true);
  }
}

function networkCard(m) {
  const pic = m.thumb ? el("img", { src: m.thumb, alt: "", loading: "lazy" })
                      : el("span", {}, m.name.charAt(0).toUpperCase());
  return el("button", { type: "button", class: "network", "data-model": m.id,
                        title: `Repaint the content with “${m.name}”`,
                        onclick: () => useNetwork(m) },
    el("div", { class: "pic" }, pic),
    el("b", {}, m.name),
    el("small", {}, `${m.width}-wide · ${m.steps} steps`));
}

async function useNetwork(m) {
  if (!state.content) return say("Pick a content image or clip first.", true);
  for (const b of $("networks").children) b.classList.toggle("active", b.dataset.model === m.id);
  say("");
  const body = { model: m.id, content: state.content.id,
                 options: readFields(state.schema.apply_options, "apply-") };
  try {
    if (isClip()) {
      follow(await post("/api/jobs", body));
    } else {
      setStatus(`Painting with “${m.name}”…`, 0);
      follow(await post("/api/apply", body));
    }
    loadGallery();
  } catch (e) {
    setStatus("Failed", 0);
    say(e.message, true);
  }
}

async function train() {
  if (!state.trainStyle) return say("Pick the style image of the network first.", true);
  const folder = $("train-folder").checked;
  if (!folder && !state.trainPhotos.length) return say("Add photos to train on.", true);
  say("");
  try {
    const job = await post("/api/train", {
      style: state.trainStyle.id, photos: folder ? [] : state.trainPhotos.map((p) => p.id),
      photo_folder: folder, name: $("train-name").value,
      options: readFields(state.schema.train_options, "train-") });
    follow(job);
    loadGallery();
    window.scrollTo({ top: 0, behavior: "smooth" });
  } catch (e) {
    say(e.message, true);
  }
}

// ---------------------------------------------------------------- gallery

function summary(job) {
  const o = job.options;
  const when = new Date(job.created * 1000).toLocaleString();
  if (job.kind === "train") {
    return `${o.steps} steps · ${o.width}-wide · ${job.photo_folder ? "server's photos"
            : `${job.photos.length} photos`} · ${when}`;
  }
  if (job.model) return `network: ${job.model_name} · ${o.size} px · ${when}`;
  return `${o.size} px · style ${o.style_weight} · ${o.steps || "auto"} steps · ` +
         `${o.preserve_color !== "none" ? `colour: ${o.preserve_color} · ` : ""}${when}`;
}

function title(job) {
  if (job.kind === "train") return `training: ${job.model_name}`;
  if (job.kind === "apply") return `network: ${job.model_name}`;
  const what = job.preset || "custom";
  return job.kind === "clip" ? `clip · ${job.model ? "network" : what}` : what;
}

function useSettings(job) {
  state.content = { id: job.content, url: `/api/uploads/${job.content}` };
  state.styles = job.styles.map((id) => ({ id, url: `/api/uploads/${id}` }));
  drawThumbs();
  setFields("opt-", job.options);
  markPreset(job.preset || "");
  say("Settings and images loaded from the gallery.");
  window.scrollTo({ top: 0, behavior: "smooth" });
}

function card(job) {
  let pic;
  if (job.thumb) {
    pic = el("img", { src: `${job.thumb}?v=${job.finished}`, alt: "Result", loading: "lazy" });
  } else if (job.status === "running" && job.preview_version) {
    pic = el("img", { src: `/api/jobs/${job.id}/preview.jpg?v=${job.preview_version}`,
                      alt: "Current image" });
  } else {
    pic = el("span", {}, job.status === "queued" && job.position ? `queued: position ${job.position}`
                                                                  : job.status);
  }
  const tools = el("div", { class: "tools" });
  if (!job.model && job.kind !== "train") {  // by optimisation: the form can run it again
    tools.append(
      el("button", { type: "button", title: "Load these settings and images",
                     onclick: () => useSettings(job) }, "Use settings"),
      el("button", { type: "button", onclick: () => { useSettings(job); start(); } }, "Run again"));
  }
  if (job.status === "done" && job.result) {
    const ext = job.result.split(".").pop();
    tools.append(el("a", { class: "button", href: `${job.result}?download=true`,
                           download: `painterly-${job.id}.${ext}` },
                    ext === "mp4" ? "Download clip" : "Download"));
    tools.append(el("button", { type: "button", onclick: () => follow(job) }, "Show"));
  }
  if (FINAL.includes(job.status)) {
    tools.append(el("button", { type: "button", title: "Delete", onclick: async () => {
      try { await api(`/api/jobs/${job.id}`, { method: "DELETE" }); loadGallery(); } catch (e) {
        say(e.message, true);
      }
    } }, "Delete"));
  }
  return el("div", { class: "card", "data-job": job.id, "data-status": job.status,
                     "data-kind": job.kind },
    el("div", { class: "pic" }, pic),
    el("div", { class: "info" },
       el("b", {}, title(job)), " ",
       el("span", { class: `badge ${job.status}` }, job.status), el("br"), summary(job),
       job.error ? el("div", { class: "err" }, job.error) : null,
       job.note ? el("div", { class: "note" }, job.note) : null),
    tools);
}

async function loadGallery() {
  try {
    const { jobs } = await api("/api/jobs");
    $("gallery").replaceChildren(...jobs.map(card));
    $("gallery-empty").hidden = jobs.length > 0;
    return jobs;
  } catch (e) {
    say(e.message, true);
    return [];
  }
}

// ---------------------------------------------------------------- start-up

async function main() {
  try {
    state.schema = await api("/api/schema");
  } catch (e) {
    return say(`Cannot reach the server: ${e.message}`, true);
  }
  buildForms(state.schema);
  applyPreset(state.schema.default_preset);
  wireDrop($("drop-content"), $("content-input"), "content");
  wireDrop($("drop-styles"), $("style-input"), "styles");
  wireDrop($("drop-train-style"), $("train-style-input"), "trainStyle");
  wireDrop($("drop-train-photos"), $("train-photos-input"), "trainPhotos");
  $("start").addEventListener("click", start);
  $("cancel").addEventListener("click", cancel);
  $("train-start").addEventListener("click", train);
  loadModels();
  const jobs = await loadGallery();
  const active = jobs.find((j) => !FINAL.includes(j.status));
  if (active) follow(active);
}

main();
