// painterly studio: the page.  Controls are built from /api/schema, so an option is
// defined once, in painterly/config.py (and painterly/nets/options.py for training), with
// its plain words for the page (page_label, page_help, page_slider, page_choices) beside
// the command line's help.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { schema: null, content: null, styles: [], job: null, events: null,
                preset: "", previewVersion: 0, models: [], trainStyle: null,
                trainPhotos: [], info: { fast: false }, look: null, lookTimer: 0,
                estimateTimer: 0, trainTimer: 0, trainAsked: 0, mask: null,
                tab: Math.random().toString(36).slice(2) };
const FINAL = ["done", "failed", "cancelled"];
const CLIP_EXT = ["mp4", "mov", "webm", "mkv"];
const TRAIN_SHOWN = ["preset", "steps", "batch", "crop", "photo_size", "width", "style_weight",
                     "holdout", "preview_every"];
const LOOK_DELAY = 250;  // ms after the last change before a quick look is asked for
const MAX_REFINES = 8;  // rounds of going on painting a quick look while nothing changes

// ---------------------------------------------------------------- helpers

async function api(path, init) {
  const resp = await fetch(path, init);
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  if (!resp.ok) throw new Error((body && body.error) || `request failed (${resp.status})`);
  return body;
}

function post(path, body, init) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" },
                     body: JSON.stringify(body), ...(init || {}) });
}

// A message beside what the user is doing: under "Paint it" (the default), the training
// form or the batch of photos.
function say(text, bad, where = "message") {
  const m = $(where);
  m.textContent = bad ? friendly(text || "") : text || "";
  m.classList.toggle("bad", !!bad);
}

// A server message that starts with an option's field name ("content_weight: -1.0 is
// below ...") starts with the name the page shows for it instead.
function friendly(text) {
  const m = /^([a-z][a-z0-9_]*)(?=[:= ])/.exec(text);
  if (!m || !state.schema) return text;
  const forms = ["options", "clip_options", "train_options", "apply_options"];
  const opt = forms.flatMap((f) => state.schema[f] || []).find((o) => o.name === m[1]);
  if (!opt) return text;
  return `${opt.page_label || opt.label || label(opt.name)}${text.slice(m[1].length)}`;
}

// The fields of a form (by id prefix) whose text is not a number although they take one:
// a browser sends nothing for "ten" and null for 1e400, and the job ran on the default.
function badNumbers(prefix) {
  for (const input of document.querySelectorAll(`[id^="${prefix}"]`)) {
    if (input.type !== "number") continue;
    const v = input.value.trim();
    if (input.validity.badInput || (v !== "" && !Number.isFinite(Number(v)))) {
      const name = document.querySelector(`label[for="${input.id}"]`);
      return `${name ? name.textContent : input.name}: type a number`;
    }
  }
  return "";
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
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${String(sec % 60).padStart(2, "0")} s`;
  return `${Math.floor(sec / 3600)} h ${String(Math.floor(sec / 60) % 60).padStart(2, "0")} min`;
}

function num(x) {
  return x === undefined || x === null ? "" : Number(x).toPrecision(3).replace(/\.?0+$/, "");
}

const kindOf = (id) => (CLIP_EXT.includes(id.split(".").pop()) ? "clip" : "image");
const isClip = () => !!state.content && kindOf(state.content.id) === "clip";
const uploadUrl = (id) => `/api/uploads/${id}`;

// ---------------------------------------------------------------- option forms

// A slider's position (0..1000) <-> the option's value, on a linear or a log scale.
function sliderScale(opt) {
  let [lo, hi, kind] = opt.page_slider;
  if (opt.max !== null && opt.max !== undefined) hi = Math.min(hi, opt.max);
  const log = kind === "log";
  const toValue = (pos) => {
    const t = pos / 1000;
    const v = log ? lo * Math.pow(hi / lo, t) : lo + (hi - lo) * t;
    return opt.type === "int" ? Math.round(v / 16) * 16 || lo : Number(v.toPrecision(3));
  };
  const toPos = (v) => {
    const x = Math.min(hi, Math.max(lo, Number(v)));
    return Math.round(1000 * (log ? Math.log(x / lo) / Math.log(hi / lo) : (x - lo) / (hi - lo)));
  };
  return { lo, hi, toValue, toPos, int: opt.type === "int" };
}

function sliderField(opt, id) {
  const scale = sliderScale(opt);
  let input;
  if (scale.int) {  // a size: the slider is the value itself, in steps of 16 px
    input = el("input", { id, name: opt.name, type: "range", min: scale.lo, max: scale.hi,
                          step: 16 });
  } else {
    input = el("input", { id, name: opt.name, type: "range", min: 0, max: 1000, step: 1 });
    input.dataset.scale = "1";
    input.toValue = scale.toValue;
    input.toPos = scale.toPos;
  }
  const shown = el("output", { for: id, class: "value" });
  const parts = (opt.page_label || "").split("\u2194").map((t) => t.trim());
  const head = parts.length === 2
    ? el("div", { class: "head ends" }, el("label", { for: id }, parts[0]), el("span", {}, parts[1]))
    : el("div", { class: "head" }, el("label", { for: id }, opt.page_label), shown);
  return { input, head, shown };
}

// One field per option of a schema; ids are `${prefix}${name}`.  `where(opt)` names the
// box it goes in (or null: left out); `plain`: use the page's words and sliders.
function buildFields(options, prefix, where, onInput, plain) {
  for (const opt of options) {
    const box = where(opt);
    if (!box) continue;
    const id = `${prefix}${opt.name}`;
    const words = plain && opt.page_label;
    let input, nodes;
    if (words && opt.page_slider) {
      const f = sliderField(opt, id);
      input = f.input;
      nodes = [f.head, input, opt.page_help ? el("small", {}, opt.page_help) : null];
      input.shown = f.shown;
    } else {
      if (opt.choices) {
        const names = (words && opt.page_choices) || {};
        input = el("select", { id, name: opt.name },
                   ...opt.choices.map((c) => el("option", { value: c }, names[c] || c)));
      } else if (opt.type === "int" || opt.type === "float") {
        input = el("input", { id, name: opt.name, type: "number", min: opt.min, max: opt.max,
                              step: opt.type === "int" ? 1 : "any" });
      } else {
        input = el("input", { id, name: opt.name, type: "text",
                              placeholder: opt.type.startsWith("list") ? "comma-separated" : "" });
      }
      nodes = [el("label", { for: id }, (words && opt.page_label) || opt.label || label(opt.name)),
               input, el("small", {}, (words && opt.page_help) || opt.help)];
    }
    input.dataset.type = opt.type;
    input.addEventListener("input", () => {
      input.exact = undefined;
      showValue(input);
      if (onInput) onInput();
    });
    box.append(el("div", { class: `field${input.type === "range" ? " slider" : ""}`,
                           "data-option": opt.name }, ...nodes));
  }
  setFields(prefix, Object.fromEntries(options.map((o) => [o.name, o.default])));
}

function showValue(input) {
  if (!input.shown) return;
  const v = fieldValue(input);
  input.shown.textContent = input.name.includes("size") && input.dataset.type === "int"
    ? `${v} px` : num(v);
}

// A scaled slider gives back the exact value it was set to until a hand moves it.
function fieldValue(input) {
  if (!input.dataset.scale) return input.value;
  return input.exact !== undefined ? input.exact : input.toValue(Number(input.value));
}

function setFields(prefix, values) {
  for (const [name, value] of Object.entries(values)) {
    const input = $(`${prefix}${name}`);
    if (!input) continue;
    if (input.dataset.scale) {
      input.value = String(input.toPos(value));
      input.exact = Number(value);
    }
    else input.value = Array.isArray(value) ? value.join(", ") : String(value);
    showValue(input);
  }
}

function readFields(options, prefix) {
  const out = {};
  for (const opt of options) {
    const input = $(`${prefix}${opt.name}`);
    if (!input) continue;
    const v = String(fieldValue(input)).trim();
    if (opt.type === "int" || opt.type === "float") {
      if (v !== "") out[opt.name] = Number(v);
    } else {
      out[opt.name] = v;
    }
  }
  return out;
}

function buildForms(schema) {
  const side = (opt) => $(opt.page_label ? "basic-fields" : "advanced-fields");
  buildFields(schema.options, "opt-", side, () => { markPreset(""); settingsChanged(); }, true);
  buildFields(schema.clip_options, "opt-", () => $("advanced-fields"));
  const box = $("presets");
  for (const name of Object.keys(schema.presets)) {
    box.append(el("button", { type: "button", "data-preset": name,
                              onclick: () => { applyPreset(name); settingsChanged(); } }, name));
  }
  buildFields(schema.apply_options, "apply-", () => $("apply-fields"), null, true);
  buildFields(schema.train_options, "train-",
              (opt) => $(TRAIN_SHOWN.includes(opt.name) ? "train-fields" : "train-advanced-fields"),
              trainSettingsChanged, true);  // the shown fields in plain words
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
    throw new Error(`${file.name || "picture"}: ${e.message}`);
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
  if (state.mask) maskChanged(); else settingsChanged();
}

// A video where a picture is needed is refused when it is chosen, naming the file (it was
// taken as a painting, and only the quick look said, without a name, that it was a clip).
function picture(item, what) {
  if (kindOf(item.id) === "clip") {
    throw new Error(`${item.name || "that file"}: a video cannot be ${what}; choose a picture`);
  }
  return item;
}

const DROPS = {
  content: { take: (item) => { state.content = item; resetMask(); }, single: true },
  styles: { take: (item) => {
    picture(item, "a painting");
    if (!state.styles.some((s) => s.id === item.id)) state.styles.push(item);
  } },
  trainStyle: { take: (item) => {
    state.trainStyle = picture(item, "the painting a network learns");
    if (!$("train-name").value) $("train-name").value = item.name || "";
  }, single: true },
  trainPhotos: { take: (item) => {
    picture(item, "a photo to train on");
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
                   onclick: (ev) => { ev.preventDefault(); remove(); drawThumbs(); settingsChanged(); } }, "×"));
}

function drawThumbs() {
  $("content-thumbs").replaceChildren(
    ...(state.content ? [thumb(state.content, () => { state.content = null; resetMask(); })] : []));
  $("style-thumbs").replaceChildren(...state.styles.map((s) => thumb(s, () => {
    state.styles = state.styles.filter((x) => x !== s);
    if (state.mask) maskChanged();
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
  $("start").textContent = isClip() ? "Paint the video" : "Paint it";
  if (state.schema) showClipFields();
  drawBrushes();
  cameraModels();
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

// ---------------------------------------------------------------- the stage and compare

// What the stage shows: an image (with the photo under it to compare), a clip, or nothing.
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
  const before = kind === "image" ? stageBefore() : null;
  if (before) $("before").src = before; else $("before").removeAttribute("src");
  for (const id of ["compare", "tag-before", "tag-after", "divider"]) $(id).hidden = !before;
  $("stage").classList.toggle("has-image", !!kind);
  $("stage").classList.toggle("comparing", !!before);
  split($("compare"));
}

// The photo under the stage's picture: the job's content, else the chosen photo.
function stageBefore() {
  const job = state.job;
  const id = job ? job.content : state.content && state.content.id;
  return id && kindOf(id) === "image" ? uploadUrl(id) : null;
}

// A split slider: the painting right of the line, the photo left of it.
// The line at the slider's place over the box, kept within the picture itself: a picture
// shown whole ("contain") in a box of another shape leaves margins the line must not enter.
function split(range) {
  const box = range.parentElement;
  const after = box.querySelector(".after");
  const line = box.querySelector(".divider");
  const x = Number(range.value);
  const width = box.clientWidth;
  let left = 0, shown = width;  // where the picture is drawn across the box, in pixels
  if (after && after.naturalWidth && getComputedStyle(after).objectFit === "contain") {
    const scale = Math.min(width / after.naturalWidth, box.clientHeight / after.naturalHeight);
    shown = after.naturalWidth * scale;
    left = (width - shown) / 2;
  }
  const at = Math.min(Math.max(x / 100 * width, left), left + shown);
  if (after) after.style.clipPath = range.hidden ? "none" : `inset(0 0 0 ${at}px)`;
  if (line) line.style.left = `${at}px`;
}

function compareBox(before, after, alt) {
  const range = el("input", { type: "range", class: "split", min: 0, max: 100, value: 50,
                              "aria-label": "Compare the photo and the painting" });
  const box = el("div", { class: "compare" },
                 el("img", { class: "before", src: before, alt: "The photo", loading: "lazy" }),
                 el("img", { class: "after", src: after, alt, loading: "lazy" }),
                 el("div", { class: "divider" }), range);
  range.addEventListener("input", () => split(range));
  // drawn once the box has its width (in the page) and the picture its shape: the line
  // was drawn at 0 while the card was built, showing the painting alone
  box.querySelector(".after").addEventListener("load", () => split(range));
  requestAnimationFrame(() => split(range));
  return box;
}

// ---------------------------------------------------------------- quick looks and estimates

function lookRequest() {  // a clip: a look at its first frame
  if (!state.content || !state.styles.length) return null;
  const body = { content: state.content.id, styles: state.styles.map((s) => s.id),
                 options: readFields(state.schema.options, "opt-"), tab: state.tab };
  if (state.mask && state.mask.id && !isClip()) {
    Object.assign(body, { mask: state.mask.id, styles: state.mask.styles });
  }
  return body;
}

function settingsChanged() {
  saveDraft();
  clearTimeout(state.lookTimer);
  clearTimeout(state.estimateTimer);
  state.lookTimer = setTimeout(quickLook, LOOK_DELAY);
  state.estimateTimer = setTimeout(estimate, LOOK_DELAY * 2);
}

function busy() {
  return state.job && !FINAL.includes(state.job.status) && state.job.kind !== "apply";
}

// A quick look, then (while nothing changes) a few more requests that go on painting it.
async function quickLook(refine) {
  const body = lookRequest();
  if (!body && !busy() && !$("look-badge").hidden) clearStage();  // a look at what was removed
  if (!body || busy()) return;
  const bad = badNumbers("opt-");
  if (bad) { state.lookSaid = bad; return say(bad, true); }
  body.refine = !!refine;
  state.refines = refine ? state.refines + 1 : 0;
  if (state.look) state.look.abort();  // the server also drops the older request
  const ctl = new AbortController();
  state.look = ctl;
  if (!$("preview").getAttribute("src")) setStatus("Taking a quick look…");
  try {
    const resp = await fetch("/api/preview", { method: "POST", signal: ctl.signal,
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (resp.status === 204 || ctl.signal.aborted) return;
    if (!resp.ok) {
      let msg = `quick look failed (${resp.status})`;
      try { msg = (await resp.json()).error || msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    const blob = await resp.blob();
    if (state.look !== ctl || busy()) return;
    const old = $("preview").dataset.blob;
    const url = URL.createObjectURL(blob);
    if (state.job && FINAL.includes(state.job.status)) { state.job = null; $("download").hidden = true; }
    stage("image", url);
    $("preview").dataset.blob = url;
    if (old) URL.revokeObjectURL(old);
    $("look-badge").hidden = false;
    if (state.lookSaid && $("message").textContent === state.lookSaid) say("");  // mended
    state.lookSaid = "";
    setStatus(isClip() ? "Quick look at the first frame: press “Paint the video” for the clip"
                       : "Quick look: press “Paint it” for the full picture", 0);
    const more = resp.headers.get("X-Look") === "more" && state.refines < MAX_REFINES;
    if (more && state.look === ctl) quickLook(true);
  } catch (e) {
    if (e.name === "AbortError") return;
    state.lookSaid = e.message;
    say(e.message, true);
    if (!$("preview").getAttribute("src")) setStatus("Ready");  // not "taking a look" on
  }
}

async function estimate() {
  const box = $("estimate");
  if (!state.content || isClip() || !state.styles.length) { box.textContent = ""; return null; }
  try {
    const r = await post("/api/estimate", { content: state.content.id, options: readForm() });
    box.textContent = `About ${duration(Math.max(1, r.seconds))} on this computer, ` +
                      `going by ${r.measured_on}.`;
    return r.seconds;
  } catch (e) {
    box.textContent = "";
    return null;
  }
}

// ---------------------------------------------------------------- painted regions (mask)

const REGION_COLOURS = ["#e4572e", "#2e86de", "#3fae49"];
const mask = { w: 256, h: 192, regions: null, brush: 1, targets: ["s0", "photo", "s1", "s0"],
               painting: false, uploadTimer: 0, at: null };

function resetMask() {
  state.mask = null;
  const box = $("painter");
  box.hidden = !state.content || isClip();
  $("regions-hint").hidden = !box.hidden;
  if (box.hidden) return;
  const [w, h] = [state.content.width || 4, state.content.height || 3];
  const s = 256 / Math.max(w, h);
  mask.w = Math.max(8, Math.round(w * s));
  mask.h = Math.max(8, Math.round(h * s));
  mask.regions = new Uint8Array(mask.w * mask.h);
  const c = $("mask-canvas");
  c.width = mask.w;
  c.height = mask.h;
  $("canvas-box").style.aspectRatio = `${mask.w} / ${mask.h}`;
  $("mask-photo").src = state.content.url;
  drawMask();
}

function targetChoices() {
  return [...state.styles.map((s, i) => [`s${i}`, `painting ${i + 1}${s.name ? ` (${s.name})` : ""}`]),
          ["photo", "stays the photo"]];
}

function drawBrushes() {
  const box = $("brushes");
  const rows = [];
  for (let r = 0; r < REGION_COLOURS.length + 1; r++) {
    const sel = el("select", { "data-region": r, "aria-label": r ? `Region ${r}` : "Everything else" },
                   ...targetChoices().map(([v, t]) => el("option", { value: v }, t)));
    sel.value = targetChoices().some(([v]) => v === mask.targets[r]) ? mask.targets[r] : "s0";
    sel.addEventListener("change", () => { mask.targets[r] = sel.value; maskChanged(); });
    const swatch = r ? el("button", { type: "button", class: `swatch${mask.brush === r ? " active" : ""}`,
                                      "data-brush": r, title: `Brush ${r}`,
                                      onclick: () => { mask.brush = r; drawBrushes(); } })
                     : el("button", { type: "button", class: `swatch eraser${mask.brush === 0 ? " active" : ""}`,
                                      "data-brush": 0, title: "Eraser: back to everything else",
                                      onclick: () => { mask.brush = 0; drawBrushes(); } });
    if (r) swatch.style.background = REGION_COLOURS[r - 1];
    rows.push(el("div", { class: "brush" }, swatch,
                 el("span", {}, r ? `Colour ${r}` : "Everything else"), sel));
  }
  box.replaceChildren(...rows);
}

// A stroke from the last point to this one (a dab when it starts).
function paintAt(ev) {
  const c = $("mask-canvas");
  const rect = c.getBoundingClientRect();
  const x = ((ev.clientX - rect.left) / rect.width) * mask.w;
  const y = ((ev.clientY - rect.top) / rect.height) * mask.h;
  const rad = Number($("brush-size").value) * (mask.w / 256) / 2;
  const [x0, y0] = mask.at || [x, y];
  const n = Math.max(1, Math.ceil(Math.hypot(x - x0, y - y0) / Math.max(1, rad / 2)));
  for (let k = 1; k <= n; k++) dab(x0 + ((x - x0) * k) / n, y0 + ((y - y0) * k) / n, rad);
  mask.at = [x, y];
  drawMask();
}

function dab(x, y, rad) {
  for (let j = Math.max(0, Math.floor(y - rad)); j < Math.min(mask.h, Math.ceil(y + rad)); j++) {
    for (let i = Math.max(0, Math.floor(x - rad)); i < Math.min(mask.w, Math.ceil(x + rad)); i++) {
      if ((i + 0.5 - x) ** 2 + (j + 0.5 - y) ** 2 <= rad * rad) mask.regions[j * mask.w + i] = mask.brush;
    }
  }
}

function drawMask() {
  const c = $("mask-canvas");
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(mask.w, mask.h);
  const rgb = REGION_COLOURS.map((h) => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16)));
  for (let p = 0; p < mask.regions.length; p++) {
    const r = mask.regions[p];
    if (!r) continue;
    img.data.set([...rgb[r - 1], 150], p * 4);
  }
  ctx.putImageData(img, 0, 0);
}

// The label image --mask takes: its grey levels, ascending, are the styles sent in order;
// with one level more, the darkest stays the photo.  A choice covering under 1 % of the
// picture joins the largest one (the server would merge it, and count one colour less).
function labelImage() {
  const n = mask.regions.length;
  const counts = new Array(REGION_COLOURS.length + 1).fill(0);
  for (const r of mask.regions) counts[r]++;
  if (counts[0] === n) return null;  // nothing painted
  const known = new Set(targetChoices().map(([v]) => v));
  const chosen = counts.map((c, r) => (known.has(mask.targets[r]) ? mask.targets[r] : "s0"));
  const share = {};
  counts.forEach((c, r) => { share[chosen[r]] = (share[chosen[r]] || 0) + c; });
  const biggest = Object.keys(share).sort((a, b) => share[b] - share[a])[0];
  const target = chosen.map((t) => (share[t] < n * 0.01 ? biggest : t));
  const used = new Set(counts.map((c, r) => (c ? target[r] : null)).filter((t) => t));
  const styleIdx = [...used].filter((t) => t !== "photo").map((t) => Number(t.slice(1))).sort((a, b) => a - b);
  if (!styleIdx.length) throw new Error("Give at least one region a painting.");
  const level = (t) => (t === "photo" ? 0 : 60 + 40 * styleIdx.indexOf(Number(t.slice(1))));
  const out = document.createElement("canvas");
  out.width = mask.w;
  out.height = mask.h;
  const ctx = out.getContext("2d");
  const img = ctx.createImageData(mask.w, mask.h);
  for (let p = 0; p < n; p++) {
    const g = level(target[mask.regions[p]]);
    img.data.set([g, g, g, 255], p * 4);
  }
  ctx.putImageData(img, 0, 0);
  return { canvas: out, styles: styleIdx.map((i) => state.styles[i].id) };
}

function maskChanged() {
  clearTimeout(mask.uploadTimer);
  mask.uploadTimer = setTimeout(sendMask, 200);
}

async function sendMask() {
  let made;
  try {
    made = labelImage();
  } catch (e) {
    $("mask-state").textContent = e.message;
    return;
  }
  if (!made) {
    state.mask = null;
    $("mask-state").textContent = "Nothing painted: the whole photo takes the paintings.";
    settingsChanged();
    return;
  }
  const blob = await new Promise((ok) => made.canvas.toBlob(ok, "image/png"));
  try {
    const item = await upload(new File([blob], "regions.png", { type: "image/png" }));
    state.mask = { id: item.id, styles: made.styles };
    $("mask-state").textContent = "Painted regions are used for the quick look and the picture.";
    settingsChanged();
  } catch (e) {
    say(e.message, true);
  }
}

function wireMask() {
  const c = $("mask-canvas");
  c.addEventListener("pointerdown", (ev) => {
    if (!mask.regions) return;
    mask.painting = true;
    mask.at = null;
    c.setPointerCapture(ev.pointerId);
    paintAt(ev);
  });
  c.addEventListener("pointermove", (ev) => { if (mask.painting) paintAt(ev); });
  const end = () => { if (mask.painting) { mask.painting = false; maskChanged(); } };
  c.addEventListener("pointerup", end);
  c.addEventListener("pointercancel", end);
  $("mask-clear").addEventListener("click", () => {
    if (mask.regions) mask.regions.fill(0);
    drawMask();
    maskChanged();
  });
}

// A job's label image back on the canvas: each grey level one colour, with its painting.
async function restoreMask(job) {
  resetMask();
  if (!job.mask || !mask.regions) return;
  const img = new Image();
  img.src = uploadUrl(job.mask);
  await img.decode();
  const tmp = document.createElement("canvas");
  tmp.width = mask.w;
  tmp.height = mask.h;
  const ctx = tmp.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(img, 0, 0, mask.w, mask.h);
  const data = ctx.getImageData(0, 0, mask.w, mask.h).data;
  const count = new Map();
  for (let p = 0; p < mask.w * mask.h; p++) count.set(data[p * 4], (count.get(data[p * 4]) || 0) + 1);
  const levels = [...count.keys()].sort((a, b) => a - b);
  const photo = levels.length === job.styles.length + 1;
  const target = (k) => (photo && k === 0 ? "photo" : `s${k - (photo ? 1 : 0)}`);
  // the largest part is "everything else", as it was painted; the others take the colours
  const rest = levels.reduce((a, g) => (count.get(g) > count.get(a) ? g : a), levels[0]);
  const colour = new Map([[rest, 0]]);
  levels.forEach((g, k) => {
    if (g === rest) { mask.targets[0] = target(k); return; }
    const r = Math.min(REGION_COLOURS.length, colour.size);
    colour.set(g, r);
    mask.targets[r] = target(k);
  });
  for (let p = 0; p < mask.regions.length; p++) mask.regions[p] = colour.get(data[p * 4]);
  drawBrushes();
  drawMask();
  $("regions").open = true;
  state.mask = { id: job.mask, styles: job.styles.slice() };
  $("mask-state").textContent = "The regions of that picture are back.";
}

// ---------------------------------------------------------------- jobs

async function start() {
  if (!state.content) return say("Choose a photo (or a video) first.", true);
  if (!state.styles.length) return say("Choose at least one painting.", true);
  const bad = badNumbers("opt-");
  if (bad) return say(bad, true);
  say("");
  const styles = state.mask && !isClip() ? state.mask.styles : state.styles.map((s) => s.id);
  const body = { content: state.content.id, styles, options: readForm(), preset: state.preset };
  if (state.mask && !isClip()) body.mask = state.mask.id;
  const button = $("start");
  if (button.disabled) return;  // a second click while the first is sent: one job
  button.disabled = true;
  try {
    // a quick look still waiting on the last edit would cover the job's status: drop it
    clearTimeout(state.lookTimer);
    const seconds = isClip() ? null : await estimate();
    clearTimeout(state.lookTimer);
    if (state.look) state.look.abort();
    const job = await post("/api/jobs", body);
    state.expected = seconds;
    follow(job);
    loadGallery();
  } catch (e) {
    say(e.message, true);
  } finally {
    button.disabled = false;
  }
}

// The stage back to its placeholder: what it showed is gone (a deleted result, a quick
// look of a painting no longer chosen).
function clearStage() {
  if (state.events) state.events.close();
  state.events = null;
  state.job = null;
  $("download").hidden = true;
  $("look-badge").hidden = true;
  stage(null);
  setStatus("Ready", 0);
}

function follow(job) {
  if (state.events) state.events.close();
  state.job = job;
  state.previewVersion = 0;
  $("download").hidden = true;
  $("look-badge").hidden = true;
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
      if (j.kind === "stylize" && j.status === "done") estimate();  // now measured on it
    }
    if (FINAL.includes(j.status)) es.close();
  };
  es.onerror = () => { if (es.readyState === EventSource.CONNECTING) setStatus("Reconnecting…"); };
}

function setStatus(text, fraction) {
  $("status").textContent = text;
  if (fraction !== undefined) $("bar").style.width = `${Math.round(fraction * 100)}%`;
}

function running(job) {
  const p = job.progress || {};
  const eta = p.eta !== undefined && p.eta > 0 ? ` · ${duration(p.eta)} left` : "";
  if (job.kind === "train") {
    return [p.total ? `Training: step ${p.step} of ${p.total}${eta}` : "Preparing the training…",
            p.total ? p.step / p.total : 0];
  }
  if (job.kind === "clip") {
    const rate = p.fps ? ` · ${p.fps >= 1 ? `${num(p.fps)} frames/s` : `${num(1 / p.fps)} s/frame`}` : "";
    const painting = Math.min((p.frame || 0) + 1, p.frames || 0);  // the frame in hand
    return [p.frames ? `Frame ${painting} of ${p.frames}${rate}${eta}` : "Starting…",
            p.frames ? p.frame / p.frames : 0];
  }
  const pass = p.scales > 1 ? ` · pass ${p.scale} of ${p.scales}` : "";
  return [p.total ? `Painting: step ${p.step} of ${p.total}${pass}${eta}` : "Starting…",
          p.total ? p.step / p.total : 0];
}

function show(job) {
  state.job = job;
  $("cancel").disabled = FINAL.includes(job.status);
  if (job.status === "queued") {
    const about = state.expected ? ` · about ${duration(state.expected)} once started` : "";
    setStatus((job.position ? `Waiting: number ${job.position} in line` : "Waiting") + about, 0);
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
    const keep = $("batch-model").value;
    $("batch-model").replaceChildren(...models.map((m) => el("option", { value: m.id }, m.name)));
    if (keep) $("batch-model").value = keep;
    $("batch").hidden = models.length === 0;
    cameraModels();
  } catch (e) {
    say(e.message, true);
  }
}

function networkCard(m) {
  const pic = m.thumb ? el("img", { src: m.thumb, alt: "", loading: "lazy" })
                      : el("span", {}, m.name.charAt(0).toUpperCase());
  return el("button", { type: "button", class: "network", "data-model": m.id,
                        title: `Paint your photo with “${m.name}”`,
                        onclick: () => useNetwork(m) },
    el("div", { class: "pic" }, pic),
    el("b", {}, m.name),
    el("small", {}, m.trained_here ? "trained here" : "ready"),
    ...qualityNotes(m.quality));
}

// A network's quality figure (measured when it was trained), and the warning of one far
// from converged; nothing for networks trained before painterly measured it.
function qualityNotes(q) {
  if (!q) return [];
  const notes = [el("small", { class: "quality", title: q.summary },
                    q.texture === null ? "quality not measured" : `texture ${num(q.texture)}`)];
  if (q.warning) {
    notes.push(el("small", { class: "quality-warning", title: q.warning },
                  "Far from converged: expect weak pictures"));
  }
  return notes;
}

async function useNetwork(m) {
  if (!state.content) return say("Choose a photo (or a video) first.", true);
  for (const b of $("networks").children) b.classList.toggle("active", b.dataset.model === m.id);
  $("batch-model").value = m.id;
  say("");
  $("stage").scrollIntoView({ behavior: "smooth", block: "nearest" });  // where it shows
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

// Many photos through one network: each becomes a finished picture in the gallery, and all
// of them one zip.
async function batch(files) {
  const where = "batch-message";
  const model = $("batch-model").value;
  if (!model) return say("There is no network yet.", true, where);
  const options = readFields(state.schema.apply_options, "apply-");
  const done = [];
  const failed = [];
  say("", false, where);
  $("batch-zip").hidden = true;
  let n = 0;
  for (const file of files) {
    n++;
    $("batch-status").textContent = `Painting ${n} of ${files.length}…`;
    try {
      const item = await upload(file);
      const job = await post("/api/apply", { model, content: item.id, options });
      done.push(job.id);
    } catch (e) {
      failed.push(e.message.startsWith(file.name) ? e.message : `${file.name}: ${e.message}`);
    }
  }
  $("batch-status").textContent = `${done.length} of ${files.length} painted.`;
  if (failed.length) say(failed.join(" · "), true, where);
  if (done.length) {
    $("batch-zip").href = `/api/results.zip?jobs=${done.join(",")}`;
    $("batch-zip").hidden = false;
  }
  loadGallery();
}

function trainSettingsChanged() {
  clearTimeout(state.trainTimer);
  state.trainTimer = setTimeout(trainEstimate, LOOK_DELAY * 2);
}

// How long training with the form's options takes here (measured once per shape of run).
async function trainEstimate() {
  const box = $("train-estimate");
  if (!$("train").open) return;
  const asked = state.trainAsked + 1;
  state.trainAsked = asked;
  if (!box.textContent) box.textContent = "Measuring how long training takes here…";
  try {
    const r = await post("/api/train/estimate",
                         { options: readFields(state.schema.train_options, "train-") });
    if (state.trainAsked !== asked) return;
    box.textContent = `About ${duration(Math.max(1, r.seconds))} for ${r.steps} steps on ` +
                      `this computer (${num(r.seconds_per_step)} s a step), going by a short test run.` +
                      (r.note ? ` Note: ${r.note}.` : "");
  } catch (e) {
    if (state.trainAsked === asked) box.textContent = "";
  }
}

async function train() {
  const where = "train-message";
  if (!state.trainStyle) return say("Choose the painting the network learns first.", true, where);
  const folder = $("train-folder").checked;
  if (!folder && !state.trainPhotos.length) return say("Add photos to train on.", true, where);
  const bad = badNumbers("train-");
  if (bad) return say(bad, true, where);
  say("", false, where);
  try {
    const job = await post("/api/train", {
      style: state.trainStyle.id, photos: folder ? [] : state.trainPhotos.map((p) => p.id),
      photo_folder: folder, name: $("train-name").value,
      options: readFields(state.schema.train_options, "train-") });
    follow(job);
    loadGallery();
    window.scrollTo({ top: 0, behavior: "smooth" });
  } catch (e) {
    say(e.message, true, where);
  }
}

// ---------------------------------------------------------------- camera

const camera = { stream: null, on: false, times: [], last: null };

function cameraModels() {
  const sel = $("camera-model");
  if (!sel) return;
  const keep = sel.value;
  const opts = state.models.map((m) => el("option", { value: m.id }, `network: ${m.name}`));
  if (state.info.fast && state.styles.length) {
    opts.unshift(el("option", { value: "fast" }, "your painting (quick model)"));
  }
  sel.replaceChildren(...opts);
  if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

async function startCamera() {
  if (!$("camera-model").value) return say("The camera is painted by a network: choose a painting (its quick model), or add or train a network first.", true);
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return say("This browser gives no camera here (open the studio at http://127.0.0.1).", true);
  }
  try {
    camera.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640 }, audio: false });
  } catch (e) {
    return say(`The camera cannot be opened: ${e.message}`, true);
  }
  const v = $("camera-video");
  v.srcObject = camera.stream;
  await v.play();
  camera.on = true;
  camera.times = [];
  $("camera-view").hidden = false;
  $("camera-start").hidden = true;
  $("camera-stop").hidden = false;
  $("camera-snap").hidden = false;
  cameraLoop();
}

function stopCamera() {
  camera.on = false;
  if (camera.stream) camera.stream.getTracks().forEach((t) => t.stop());
  camera.stream = null;
  $("camera-view").hidden = true;
  $("camera-start").hidden = false;
  $("camera-stop").hidden = true;
  $("camera-snap").hidden = true;
  $("camera-fps").textContent = "";
}

function grabFrame(side) {
  const v = $("camera-video");
  const s = side / Math.max(v.videoWidth || 1, v.videoHeight || 1);
  const c = document.createElement("canvas");
  c.width = Math.max(1, Math.round((v.videoWidth || 1) * s));
  c.height = Math.max(1, Math.round((v.videoHeight || 1) * s));
  c.getContext("2d").drawImage(v, 0, 0, c.width, c.height);
  return new Promise((ok) => c.toBlob(ok, "image/jpeg", 0.85));
}

// One frame at a time, the next as soon as the last is back: never a queue.
async function cameraLoop() {
  while (camera.on) {
    const model = $("camera-model").value;
    const frame = await grabFrame(320);
    const q = new URLSearchParams({ model, size: "320" });
    if (model === "fast" && state.styles.length) q.set("style", state.styles[0].id);
    try {
      const resp = await fetch(`/api/frame?${q}`, { method: "POST", body: frame,
                                                  headers: { "Content-Type": "image/jpeg" } });
      if (!resp.ok) throw new Error((await resp.json()).error);
      const bmp = await createImageBitmap(await resp.blob());
      if (!camera.on) break;
      const out = $("camera-out");
      out.width = bmp.width;
      out.height = bmp.height;
      out.getContext("2d").drawImage(bmp, 0, 0);
      const now = performance.now();
      camera.times = [...camera.times.filter((t) => now - t < 2000), now];
      const span = (now - camera.times[0]) / 1000;
      const fps = camera.times.length > 1 && span > 0 ? (camera.times.length - 1) / span : 0;
      $("camera-fps").textContent = `${fps ? fps.toFixed(1) : "…"} frames/s`;
    } catch (e) {
      say(e.message, true);
      stopCamera();
    }
  }
}

async function snapshot() {
  const model = $("camera-model").value;
  const blob = await grabFrame(768);
  try {
    const item = await upload(new File([blob], "camera.jpg", { type: "image/jpeg" }));
    if (model === "fast") {
      state.content = item;
      resetMask();
      drawThumbs();
      settingsChanged();
      return say("The snapshot is your photo now: press “Paint it”.");
    }
    const options = { ...readFields(state.schema.apply_options, "apply-") };
    await post("/api/apply", { model, content: item.id, options });
    say("Snapshot painted: it is in the gallery.");
    loadGallery();
  } catch (e) {
    say(e.message, true);
  }
}

// ---------------------------------------------------------------- gallery

function summary(job) {
  const o = job.options;
  const when = new Date(job.created * 1000).toLocaleString();
  if (job.kind === "train") {
    return `${o.steps} steps · ${job.photo_folder ? "server's photos"
            : `${job.photos.length} photos`} · ${when}`;
  }
  if (job.model) return `${o.size} px · ${when}`;
  return `${o.size} px · ${job.styles.length} painting${job.styles.length === 1 ? "" : "s"}` +
         `${job.mask ? " · painted regions" : ""}` +
         `${o.preserve_color !== "none" ? " · photo's colours" : ""} · ${when}`;
}

function title(job) {
  if (job.kind === "train") return `training: ${job.model_name}`;
  if (job.kind === "apply") return `network: ${job.model_name}`;
  const what = job.preset || "custom";
  return job.kind === "clip" ? `video · ${job.model ? "network" : what}` : what;
}

async function useSettings(job, quiet) {
  state.content = job.content ? { id: job.content, url: uploadUrl(job.content) } : null;
  if (state.content) {
    try {  // its size, for the regions' canvas
      const img = new Image();
      img.src = state.content.url;
      await img.decode();
      Object.assign(state.content, { width: img.naturalWidth, height: img.naturalHeight });
    } catch (e) { /* a clip: no canvas */ }
  }
  state.styles = job.styles.map((id) => ({ id, url: uploadUrl(id) }));
  drawThumbs();
  setFields("opt-", job.options);
  markPreset(job.preset || "");
  await restoreMask(job);
  if (!quiet) {
    say("Settings and pictures loaded from the gallery.");
    window.scrollTo({ top: 0, behavior: "smooth" });
  }
  settingsChanged();
}

// The chosen pictures and settings are kept in this browser as they change, so that a
// reload (or a closed tab) gives them back; pictures the server no longer has are left out.
const DRAFT = "painterly-draft";

function saveDraft() {
  if (!state.schema) return;
  const options = { ...readFields(state.schema.options, "opt-"),
                    ...readFields(state.schema.clip_options, "opt-") };
  try {
    localStorage.setItem(DRAFT, JSON.stringify({
      content: state.content ? state.content.id : "", styles: state.styles.map((s) => s.id),
      options, preset: state.preset || "" }));
  } catch (e) { /* storage off or full: nothing kept */ }
}

async function restoreDraft() {
  let draft = null;
  try { draft = JSON.parse(localStorage.getItem(DRAFT) || "null"); } catch (e) { return; }
  if (!draft || typeof draft !== "object" || typeof draft.options !== "object") return;
  const there = async (id) => {
    if (typeof id !== "string" || !id) return false;
    try { return (await fetch(uploadUrl(id), { method: "HEAD" })).ok; } catch (e) { return false; }
  };
  const styles = Array.isArray(draft.styles) ? draft.styles : [];
  const kept = [];
  for (const id of styles) if (await there(id)) kept.push(id);
  const content = (await there(draft.content)) ? draft.content : "";
  await useSettings({ content, styles: kept, options: draft.options || {},
                      preset: typeof draft.preset === "string" ? draft.preset : "", mask: "" },
                    true);
}

function cardPicture(job) {
  if (job.thumb) {
    const after = `${job.thumb}?v=${job.finished}`;
    if (job.status === "done" && job.content && kindOf(job.content) === "image") {
      return compareBox(uploadUrl(job.content), after, "Result");
    }
    return el("img", { src: after, alt: "Result", loading: "lazy" });
  }
  if (job.status === "running" && job.preview_version) {
    return el("img", { src: `/api/jobs/${job.id}/preview.jpg?v=${job.preview_version}`,
                       alt: "Current image" });
  }
  return el("span", {}, job.status === "queued" && job.position ? `waiting: number ${job.position}`
                                                                 : job.status);
}

function card(job) {
  const tools = el("div", { class: "tools" });
  if (!job.model && job.kind !== "train") {  // by optimisation: the form can run it again
    tools.append(
      el("button", { type: "button", title: "Load these settings and pictures",
                     onclick: () => useSettings(job) }, "Use settings"),
      el("button", { type: "button", onclick: async () => { await useSettings(job); start(); } },
         "Run again"));
  }
  if (job.status === "done" && job.result) {
    const ext = job.result.split(".").pop();
    tools.append(el("a", { class: "button", href: `${job.result}?download=true`,
                           download: `painterly-${job.id}.${ext}` },
                    ext === "mp4" ? "Download video" : "Download"));
    tools.append(el("button", { type: "button", onclick: () => {
      follow(job);
      $("stage").scrollIntoView({ behavior: "smooth", block: "center" });  // it is up there
    } }, "Show"));
  }
  if (FINAL.includes(job.status)) {
    tools.append(el("button", { type: "button", title: "Delete", onclick: async () => {
      try {
        await api(`/api/jobs/${job.id}`, { method: "DELETE" });
        if (state.job && state.job.id === job.id) clearStage();  // its picture is gone
        loadGallery();
      } catch (e) {
        say(e.message, true);
      }
    } }, "Delete"));
  }
  return el("div", { class: "card", "data-job": job.id, "data-status": job.status,
                     "data-kind": job.kind },
    el("div", { class: "pic" }, cardPicture(job)),
    el("div", { class: "info" },
       el("b", {}, title(job)), " ",
       el("span", { class: `badge ${job.status}` }, job.status), el("br"), summary(job),
       job.error ? el("div", { class: "err" }, job.error) : null,
       job.note ? el("div", { class: "note" }, job.note) : null),
    tools);
}

let galleryTurn = 0;  // calls overlap when a job changes fast: only the newest one draws

async function loadGallery() {
  const turn = ++galleryTurn;
  try {
    const { jobs } = await api("/api/jobs");
    if (turn !== galleryTurn) return jobs;  // an older answer (a job still running, say)
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
    state.info = await api("/api/preview/info");
  } catch (e) {
    return say(`Cannot reach the server: ${e.message}`, true);
  }
  buildForms(state.schema);
  applyPreset(state.schema.default_preset);
  wireDrop($("drop-content"), $("content-input"), "content");
  wireDrop($("drop-styles"), $("style-input"), "styles");
  wireDrop($("drop-train-style"), $("train-style-input"), "trainStyle");
  wireDrop($("drop-train-photos"), $("train-photos-input"), "trainPhotos");
  wireMask();
  drawBrushes();
  $("compare").addEventListener("input", () => split($("compare")));
  $("preview").addEventListener("load", () => split($("compare")));  // its shape known now
  window.addEventListener("resize", () => {
    for (const r of document.querySelectorAll("input.split")) split(r);
  });
  $("start").addEventListener("click", start);
  $("cancel").addEventListener("click", cancel);
  $("train-start").addEventListener("click", train);
  $("train").addEventListener("toggle", trainEstimate);
  $("camera-start").addEventListener("click", startCamera);
  $("camera-stop").addEventListener("click", stopCamera);
  $("camera-snap").addEventListener("click", snapshot);
  $("batch-input").addEventListener("change", () => {
    const files = [...$("batch-input").files];
    $("batch-input").value = "";
    if (files.length) batch(files);
  });
  loadModels();
  await restoreDraft();
  const jobs = await loadGallery();
  const active = jobs.find((j) => !FINAL.includes(j.status));
  if (active) follow(active);
}

main();
