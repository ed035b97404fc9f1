// painterly studio: the page.  Controls are built from /api/schema, so an option is
// defined once, in painterly/config.py.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { schema: null, content: null, styles: [], job: null, events: null,
                preset: "", previewVersion: 0 };
const FINAL = ["done", "failed", "cancelled"];

// ---------------------------------------------------------------- helpers

async function api(path, init) {
  const resp = await fetch(path, init);
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  if (!resp.ok) throw new Error((body && body.error) || `request failed (${resp.status})`);
  return body;
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

// ---------------------------------------------------------------- options form

function buildForm(schema) {
  for (const opt of schema.options) {
    const id = `opt-${opt.name}`;
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
    input.addEventListener("input", () => markPreset(""));
    const field = el("div", { class: "field" }, el("label", { for: id }, opt.label || label(opt.name)),
                     input, el("small", {}, opt.help));
    $(opt.group === "basic" ? "basic-fields" : "advanced-fields").append(field);
  }
  setForm(Object.fromEntries(schema.options.map((o) => [o.name, o.default])));
  const box = $("presets");
  for (const name of Object.keys(schema.presets)) {
    box.append(el("button", { type: "button", "data-preset": name,
                              onclick: () => applyPreset(name) }, name));
  }
}

function setForm(values) {
  for (const [name, value] of Object.entries(values)) {
    const input = $(`opt-${name}`);
    if (!input) continue;
    input.value = Array.isArray(value) ? value.join(", ") : String(value);
  }
}

function readForm() {
  const out = {};
  for (const opt of state.schema.options) {
    const input = $(`opt-${opt.name}`);
    const v = input.value.trim();
    if (opt.type === "int" || opt.type === "float") {
      if (v !== "") out[opt.name] = Number(v);
    } else {
      out[opt.name] = v;
    }
  }
  return out;
}

function applyPreset(name) {
  setForm(state.schema.presets[name]);
  markPreset(name);
}

function markPreset(name) {
  state.preset = name;
  for (const b of $("presets").children) b.classList.toggle("active", b.dataset.preset === name);
}

// ---------------------------------------------------------------- images

async function upload(file) {
  const form = new FormData();
  form.append("file", file, file.name || "image");
  try {
    return await api("/api/uploads", { method: "POST", body: form });
  } catch (e) {
    throw new Error(`${file.name}: ${e.message}`);
  }
}

async function addFiles(files, which) {
  say("");
  for (const file of files) {
    try {
      const item = await upload(file);
      if (which === "content") state.content = item;
      else if (!state.styles.some((s) => s.id === item.id)) state.styles.push(item);
    } catch (e) {
      say(e.message, true);
    }
    if (which === "content") break;
  }
  drawThumbs();
}

function drawThumbs() {
  const thumb = (item, remove) => el("div", { class: "thumb" },
    el("img", { src: item.url, alt: "", title: item.width ? `${item.width}×${item.height}` : "" }),
    el("button", { type: "button", title: "Remove", "aria-label": "Remove",
                   onclick: (ev) => { ev.preventDefault(); remove(); drawThumbs(); } }, "×"));
  $("content-thumbs").replaceChildren(
    ...(state.content ? [thumb(state.content, () => { state.content = null; })] : []));
  $("style-thumbs").replaceChildren(...state.styles.map((s) => thumb(s, () => {
    state.styles = state.styles.filter((x) => x !== s);
  })));
}

function wireDrop(zone, input, which) {
  input.addEventListener("change", () => { addFiles([...input.files], which); input.value = ""; });
  zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    zone.classList.remove("over");
    addFiles([...ev.dataTransfer.files], which);
  });
}

// ---------------------------------------------------------------- jobs

async function start() {
  if (!state.content) return say("Pick a content image first.", true);
  if (!state.styles.length) return say("Pick at least one style image.", true);
  say("");
  try {
    const job = await api("/api/jobs", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ content: state.content.id, styles: state.styles.map((s) => s.id),
                             options: readForm(), preset: state.preset }),
    });
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
  $("preview").removeAttribute("src");
  $("stage").classList.remove("has-image");
  show(job);
  const es = new EventSource(`/api/jobs/${job.id}/events`);
  state.events = es;
  let status = job.status;
  es.onmessage = (ev) => {
    const j = JSON.parse(ev.data);
    show(j);
    if (j.status !== status) { status = j.status; loadGallery(); }
    if (FINAL.includes(j.status)) es.close();
  };
  es.onerror = () => { if (es.readyState === EventSource.CONNECTING) setStatus("Reconnecting…"); };
}

function setStatus(text, fraction) {
  $("status").textContent = text;
  if (fraction !== undefined) $("bar").style.width = `${Math.round(fraction * 100)}%`;
}

function show(job) {
  state.job = job;
  $("cancel").disabled = FINAL.includes(job.status);
  const p = job.progress || {};
  const img = $("preview");
  if (job.status === "queued") {
    setStatus(job.position ? `Queued: position ${job.position}` : "Queued", 0);
  } else if (job.status === "running") {
    const eta = p.eta !== undefined ? ` · ${duration(p.eta)} left` : "";
    const scale = p.scales > 1 ? ` · scale ${p.scale}/${p.scales}` : "";
    setStatus(p.total ? `Step ${p.step} of ${p.total}${scale}${eta}` : "Starting…",
              p.total ? p.step / p.total : 0);
    if (job.preview_version && job.preview_version !== state.previewVersion) {
      state.previewVersion = job.preview_version;
      img.src = `/api/jobs/${job.id}/preview.jpg?v=${job.preview_version}`;
      $("stage").classList.add("has-image");
    }
  } else if (job.status === "done") {
    setStatus(`Done in ${duration(job.finished - job.started)}`, 1);
    img.src = `${job.result}?v=${job.finished}`;
    $("stage").classList.add("has-image");
    const a = $("download");
    a.href = `${job.result}?download=true`;
    a.setAttribute("download", `painterly-${job.id}.png`);
    a.hidden = false;
  } else if (job.status === "failed") {
    setStatus("Failed", 0);
    say(job.error, true);
  } else if (job.status === "cancelled") {
    setStatus("Cancelled", 0);
  }
}

async function cancel() {
  if (!state.job) return;
  try { show(await api(`/api/jobs/${state.job.id}/cancel`, { method: "POST" })); } catch (e) {
    say(e.message, true);
  }
}

// ---------------------------------------------------------------- gallery

function summary(job) {
  const o = job.options;
  const when = new Date(job.created * 1000).toLocaleString();
  return `${o.size} px · style ${o.style_weight} · ${o.steps || "auto"} steps · ` +
         `${o.preserve_color !== "none" ? `colour: ${o.preserve_color} · ` : ""}${when}`;
}

function useSettings(job) {
  state.content = { id: job.content, url: `/api/uploads/${job.content}` };
  state.styles = job.styles.map((id) => ({ id, url: `/api/uploads/${id}` }));
  drawThumbs();
  setForm(job.options);
  markPreset(job.preset || "");
  say("Settings and images loaded from the gallery.");
  window.scrollTo({ top: 0, behavior: "smooth" });
}

function card(job) {
  let pic;
  if (job.status === "done") {
    pic = el("img", { src: `/api/jobs/${job.id}/thumb.jpg?v=${job.finished}`, alt: "Result",
                      loading: "lazy" });
  } else if (job.status === "running" && job.preview_version) {
    pic = el("img", { src: `/api/jobs/${job.id}/preview.jpg?v=${job.preview_version}`,
                      alt: "Current image" });
  } else {
    pic = el("span", {}, job.status === "queued" && job.position ? `queued: position ${job.position}`
                                                                  : job.status);
  }
  const tools = el("div", { class: "tools" },
    el("button", { type: "button", title: "Load these settings and images",
                   onclick: () => useSettings(job) }, "Use settings"),
    el("button", { type: "button", onclick: () => { useSettings(job); start(); } }, "Run again"));
  if (job.status === "done") {
    tools.append(el("a", { class: "button", href: `${job.result}?download=true`,
                           download: `painterly-${job.id}.png` }, "Download"));
  }
  if (FINAL.includes(job.status)) {
    tools.append(el("button", { type: "button", title: "Delete", onclick: async () => {
      try { await api(`/api/jobs/${job.id}`, { method: "DELETE" }); loadGallery(); } catch (e) {
        say(e.message, true);
      }
    } }, "Delete"));
  }
  return el("div", { class: "card", "data-job": job.id, "data-status": job.status },
    el("div", { class: "pic" }, pic),
    el("div", { class: "info" },
       el("b", {}, job.preset || "custom"), " ",
       el("span", { class: `badge ${job.status}` }, job.status), el("br"), summary(job),
       job.error ? el("div", { class: "err" }, job.error) : null),
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
  buildForm(state.schema);
  applyPreset(state.schema.default_preset);
  wireDrop($("drop-content"), $("content-input"), "content");
  wireDrop($("drop-styles"), $("style-input"), "styles");
  $("start").addEventListener("click", start);
  $("cancel").addEventListener("click", cancel);
  const jobs = await loadGallery();
  const active = jobs.find((j) => !FINAL.includes(j.status));
  if (active) follow(active);
}

main();
