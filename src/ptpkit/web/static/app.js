// ptpkit web: the page. Everything the camera says is shown with textContent (never as HTML):
// object names and property texts come from the camera and are not trusted.
"use strict";

const CSRF = document.querySelector('meta[name="ptpkit-csrf"]').content;
const PAGE_SIZE = 60;
const ROOT = 0xFFFFFFFF;
const $ = (id) => document.getElementById(id);

const state = {
  cameras: new Map(),      // id -> summary
  current: null,           // the chosen camera's id
  view: "camera",
  live: true,
  props: new Map(),        // code -> property of the current camera
  folder: null,            // {storage, parent, key, name}
  crumbs: [],
  offset: 0,
  total: 0,
  selected: new Set(),
};

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (method !== "GET") { options.headers["X-Ptpkit-Csrf"] = CSRF; }
  if (body instanceof FormData) { options.body = body; }
  else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const text = (data && data.error) || data || response.statusText;
    logLine({ level: "error", text: `${method} ${path}: ${text}` });
    throw new Error(text);
  }
  return data;
}

function cam(path) { return `/api/c/${state.current}${path}`; }

// -- the event log and status bar ------------------------------------------------------------------

function logLine(message) {
  const li = document.createElement("li");
  const when = message.time ? new Date(message.time * 1000) : new Date();
  const who = message.camera ? `[${message.camera}] ` : "";
  li.textContent = `${when.toLocaleTimeString()} ${who}${message.text}`;
  if (message.level === "error") { li.className = "error"; }
  const log = $("log");
  log.insertBefore(li, log.firstChild);
  while (log.children.length > 300) { log.removeChild(log.lastChild); }
}

function showStatus(status) {
  $("status-conn").textContent = status.state ? `camera: ${status.state}` : "";
  $("status-battery").textContent = status.battery ? `battery: ${status.battery}` : "";
  $("status-storage").textContent = (status.storages || []).map((s) => {
    const free = (s.free_bytes / 1e9).toFixed(1);
    const shots = s.free_images === null ? "" : `, ${s.free_images} shots`;
    return `${s.name}: ${free} GB free${shots}`;
  }).join("; ");
}

async function refreshStatus() {
  if (!state.current) { return; }
  try { showStatus(await api("GET", cam("/status"))); } catch (e) { /* logged */ }
}

// -- cameras --------------------------------------------------------------------------------------

async function loadCameras() {
  const list = await api("GET", "/api/cameras");
  state.cameras = new Map(list.map((c) => [c.id, c]));
  const select = $("camera-select");
  select.replaceChildren();
  for (const c of list) {
    const option = document.createElement("option");
    option.value = c.id;
    option.textContent = `${c.id}: ${c.model || c.url} (${c.state})`;
    select.appendChild(option);
  }
  if (!state.current || !state.cameras.has(state.current)) {
    const first = list.find((c) => c.state === "connected") || list[0];
    await choose(first ? first.id : null);
  } else {
    select.value = state.current;
  }
  if (state.view === "grid") { showGrid(); }
}

async function choose(id) {
  state.current = id;
  $("camera-select").value = id || "";
  state.props = new Map();
  state.folder = null;
  state.crumbs = [];
  state.selected.clear();
  $("props").replaceChildren();
  $("overlay").replaceChildren();
  $("gallery").replaceChildren();
  setLive();
  $("focus").classList.add("hidden");
  if (!id) { showStatus({ state: "no camera" }); return; }
  const c = state.cameras.get(id);
  $("focus").classList.toggle("hidden", !c.half_press);
  if (c.state !== "connected") { showStatus({ state: `${c.state} ${c.error || ""}` }); return; }
  await Promise.all([loadProperties(), refreshStatus()]);
  if (state.view === "gallery") { await openTop(); }
}

// -- live view and the overlay ----------------------------------------------------------------------

function setLive() {
  const img = $("live");
  const on = state.live && state.view === "camera" && state.current &&
    state.cameras.get(state.current).state === "connected";
  $("live-message").textContent = "";
  const url = on ? cam("/live.mjpg") : "";
  if (url) {
    if (img.dataset.src !== url) { img.dataset.src = url; img.src = url; }
  } else if (img.dataset.src) {
    img.dataset.src = "";
    img.removeAttribute("src");
  }
  $("live-toggle").textContent = state.live ? "Stop live view" : "Start live view";
}

$("live").addEventListener("error", () => {
  if (!$("live").dataset.src) { return; }
  $("live-message").textContent = "no live view (see the events)";
  $("live").dataset.src = "";
});

function drawOverlay() {
  const overlay = $("overlay");
  overlay.replaceChildren();
  const c = state.cameras.get(state.current);
  if (!c) { return; }
  for (const item of c.overlay) {
    const prop = state.props.get(item.code);
    if (!prop) { continue; }
    const span = document.createElement("span");
    span.dataset.code = item.code;
    const label = document.createElement("b");
    label.textContent = item.label;
    span.append(label, prop.current);
    overlay.appendChild(span);
  }
}

// -- properties -----------------------------------------------------------------------------------

async function loadProperties() {
  const props = await api("GET", cam("/properties"));
  state.props = new Map(props.map((p) => [p.code, p]));
  const box = $("props");
  box.replaceChildren();
  for (const p of props) { box.appendChild(propertyRow(p)); }
  drawOverlay();
}

function propertyRow(p) {
  const row = document.createElement("label");
  row.className = "prop";
  row.id = `prop-${p.code}`;
  const name = document.createElement("span");
  name.textContent = p.label;
  name.title = `${p.name} (0x${p.code.toString(16).toUpperCase()})`;
  row.appendChild(name);
  let control;
  if (p.writable && p.allowed) {
    control = document.createElement("select");
    p.allowed.forEach((text, i) => {
      const option = document.createElement("option");
      option.value = String(i);
      option.textContent = text;
      control.appendChild(option);
    });
    if (p.index !== null) { control.value = String(p.index); }
    control.addEventListener("change", () => setProperty(p.code, { index: Number(control.value) }));
  } else if (p.writable) {
    control = document.createElement("input");
    control.value = p.current;
    if (p.range) { control.title = `${p.range[0]} .. ${p.range[1]} step ${p.range[2]}`; }
    control.addEventListener("change", () => setProperty(p.code, { text: control.value }));
  } else {
    control = document.createElement("output");
    control.textContent = p.current;
  }
  control.dataset.code = p.code;
  row.appendChild(control);
  return row;
}

async function setProperty(code, value) {
  try { await api("POST", cam("/property"), { code, ...value }); }
  catch (e) { if (state.props.has(code)) { updateProperty(state.props.get(code)); } }
}

function updateProperty(p) {
  state.props.set(p.code, p);
  const old = $(`prop-${p.code}`);
  const row = propertyRow(p);
  if (old) {
    old.replaceWith(row);
    row.classList.add("flash");
    setTimeout(() => row.classList.remove("flash"), 800);
  } else { $("props").appendChild(row); }
  drawOverlay();
}

// -- capture --------------------------------------------------------------------------------------

$("capture").addEventListener("click", async () => {
  $("capture").disabled = true;
  try { await api("POST", cam("/capture")); } catch (e) { /* logged */ }
  finally { $("capture").disabled = false; }
});

$("focus").addEventListener("click", async () => {
  try { await api("POST", cam("/focus")); } catch (e) { /* logged */ }
});

$("live-toggle").addEventListener("click", () => { state.live = !state.live; setLive(); });

// -- the gallery ----------------------------------------------------------------------------------

async function openTop() {
  const storages = await api("GET", cam("/storages"));
  state.crumbs = [];
  if (storages.length === 1) {
    await openFolder({ storage: storages[0].storage, parent: ROOT, name: storages[0].name });
    return;
  }
  state.folder = null;
  drawCrumbs();
  const gallery = $("gallery");
  gallery.replaceChildren();
  for (const s of storages) {
    gallery.appendChild(itemTile({ folder: true, name: s.name, storage: s.storage, handle: ROOT }));
  }
  $("page-info").textContent = `${storages.length} storages`;
}

async function openFolder(folder, offset = 0) {
  if (!state.folder || state.folder.key !== folder.key) {
    const at = state.crumbs.findIndex((c) => c.storage === folder.storage && c.parent === folder.parent);
    if (at >= 0) { state.crumbs = state.crumbs.slice(0, at + 1); } else { state.crumbs.push(folder); }
  }
  const page = await api("GET", cam(`/folder?storage=${folder.storage}&parent=${folder.parent}&offset=${offset}&limit=${PAGE_SIZE}`));
  state.folder = { ...folder, key: page.key };
  state.offset = offset;
  state.total = page.total;
  drawCrumbs();
  const gallery = $("gallery");
  gallery.replaceChildren();
  for (const item of page.items) { gallery.appendChild(itemTile(item)); }
  drawPager();
}

function drawPager() {
  const first = state.total ? state.offset + 1 : 0;
  const last = Math.min(state.offset + PAGE_SIZE, state.total);
  $("page-info").textContent = `${first}–${last} of ${state.total}`;
  $("prev").disabled = state.offset === 0;
  $("next").disabled = last >= state.total;
}

function drawCrumbs() {
  const crumbs = $("crumbs");
  crumbs.replaceChildren();
  const top = document.createElement("a");
  top.textContent = "Card";
  top.addEventListener("click", () => openTop());
  crumbs.appendChild(top);
  for (const c of state.crumbs) {
    const a = document.createElement("a");
    a.textContent = `/ ${c.name}`;
    a.addEventListener("click", () => openFolder(c));
    crumbs.appendChild(a);
  }
}

function itemTile(item) {
  const tile = document.createElement("div");
  tile.className = "item";
  tile.dataset.handle = item.handle;
  tile.dataset.name = item.name;
  if (item.folder) {
    const icon = document.createElement("div");
    icon.className = "icon";
    icon.textContent = "\u{1F4C1}";
    tile.appendChild(icon);
    tile.addEventListener("click", () => openFolder({
      storage: item.storage, parent: item.handle === ROOT ? ROOT : item.handle, name: item.name,
    }));
  } else {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = state.selected.has(item.handle);
    if (box.checked) { tile.classList.add("selected"); }
    box.addEventListener("click", (event) => {
      event.stopPropagation();
      select(item.handle, box.checked);
    });
    tile.appendChild(box);
    if (item.thumb) {
      const img = document.createElement("img");
      img.loading = "lazy";          // fetched only when scrolled into view
      img.alt = item.name;
      img.src = cam(`/thumb/${item.handle}`);
      img.addEventListener("error", () => {
        const icon = document.createElement("div");
        icon.className = "icon";
        icon.textContent = (item.name.split(".").pop() || "?").slice(0, 4);
        img.replaceWith(icon);
      });
      tile.appendChild(img);
    } else {
      const icon = document.createElement("div");
      icon.className = "icon";
      icon.textContent = (item.name.split(".").pop() || "?").slice(0, 4);
      tile.appendChild(icon);
    }
    tile.addEventListener("click", () => showObject(item));
  }
  const name = document.createElement("div");
  name.className = "name";
  name.textContent = item.name;
  tile.appendChild(name);
  return tile;
}

function select(handle, on) {
  if (on) { state.selected.add(handle); } else { state.selected.delete(handle); }
  const tile = document.querySelector(`.item[data-handle="${handle}"]`);
  if (tile) { tile.classList.toggle("selected", on); tile.querySelector("input").checked = on; }
  drawSelection();
}

function drawSelection() {
  const handles = [...state.selected];
  const zip = $("zip");
  zip.classList.toggle("disabled", handles.length === 0);
  zip.href = handles.length ? "#zip" : "#";
  zip.textContent = `Download zip (${handles.length})`;
}

function showObject(item) {
  $("viewer-name").textContent = item.name;
  $("viewer-download").href = cam(`/object/${item.handle}?download=1`);
  $("viewer-img").src = item.image ? cam(`/object/${item.handle}`) : "";
  $("viewer").classList.remove("hidden");
}

// The selection goes to the server first (a long one does not fit in a URL), then the
// browser follows a link to its zip, which it saves as a download.
$("zip").addEventListener("click", async (event) => {
  event.preventDefault();
  const handles = [...state.selected];
  if (!handles.length) { return; }
  const kept = await api("POST", cam("/selection"), { handles });
  const link = document.createElement("a");
  link.href = cam(`/zip?selection=${encodeURIComponent(kept.selection)}`);
  link.download = "";
  document.body.appendChild(link);
  link.click();
  link.remove();
});

$("viewer-close").addEventListener("click", () => {
  $("viewer").classList.add("hidden");
  $("viewer-img").removeAttribute("src");
});
$("prev").addEventListener("click", () => openFolder(state.folder, Math.max(0, state.offset - PAGE_SIZE)));
$("next").addEventListener("click", () => openFolder(state.folder, state.offset + PAGE_SIZE));
$("select-page").addEventListener("click", () => {
  for (const tile of document.querySelectorAll(".item input")) {
    select(Number(tile.parentElement.dataset.handle), true);
  }
});
$("select-none").addEventListener("click", () => {
  for (const handle of [...state.selected]) { select(handle, false); }
});
$("delete").addEventListener("click", async () => {
  const handles = [...state.selected];
  if (!handles.length) { return; }
  if (!window.confirm(`Delete ${handles.length} file(s) from the camera? This cannot be undone.`)) { return; }
  await api("POST", cam("/delete"), { handles });
});
$("save").addEventListener("click", async () => {
  const handles = [...state.selected];
  if (handles.length) { await api("POST", cam("/save"), { handles }); }
});

const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", async (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (!state.folder) { logLine({ level: "error", text: "open a folder to upload into" }); return; }
  const form = new FormData();
  for (const file of event.dataTransfer.files) { form.append("file", file, file.name); }
  await api("POST", cam(`/upload?storage=${state.folder.storage}&parent=${state.folder.parent}`), form);
});

function objectAdded(entry) {
  if (!state.folder || entry.key !== state.folder.key) { return; }
  state.total += 1;
  if (state.offset === 0 && !document.querySelector(`.item[data-handle="${entry.handle}"]`)) {
    const gallery = $("gallery");
    const firstFile = [...gallery.children].find((t) => t.querySelector("input"));
    gallery.insertBefore(itemTile(entry), entry.folder ? gallery.firstChild : firstFile || null);
  }
  drawPager();
}

function objectRemoved(handle) {
  const tile = document.querySelector(`.item[data-handle="${handle}"]`);
  if (tile) { tile.remove(); state.total = Math.max(0, state.total - 1); drawPager(); }
  if (state.selected.delete(handle)) { drawSelection(); }
}

// -- all cameras: every live view over one WebSocket (a browser opens at most six HTTP/1.1
// connections to a server: one MJPEG stream per camera would starve the page) ----------------------------------------------------------------------------------

let gridSocket = null;

function gridCameras() {
  return [...state.cameras.values()].filter((c) => c.state === "connected").map((c) => c.id);
}

function openGridSocket() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/live.ws?csrf=${encodeURIComponent(CSRF)}`);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => socket.send(JSON.stringify(gridCameras()));
  socket.onmessage = (event) => {
    const bytes = new Uint8Array(event.data);
    const id = new TextDecoder().decode(bytes.subarray(1, 1 + bytes[0]));
    const img = document.querySelector(`.tile[data-camera="${id}"] img`);
    if (!img) { return; }
    const old = img.src;
    img.src = URL.createObjectURL(new Blob([bytes.subarray(1 + bytes[0])], { type: "image/jpeg" }));
    if (old.startsWith("blob:")) { URL.revokeObjectURL(old); }
  };
  socket.onclose = () => { if (gridSocket === socket) { gridSocket = null; } };
  return socket;
}

function closeGridSocket() {
  if (gridSocket) { gridSocket.close(); gridSocket = null; }
}

function showGrid() {
  if (!gridSocket) { gridSocket = openGridSocket(); }
  else if (gridSocket.readyState === WebSocket.OPEN) { gridSocket.send(JSON.stringify(gridCameras())); }
  const grid = $("grid");
  const tiles = new Map([...grid.children].map((t) => [t.dataset.camera, t]));
  for (const [id, c] of state.cameras) {
    if (tiles.has(id)) { tiles.delete(id); continue; }
    const tile = document.createElement("div");
    tile.className = "tile";
    tile.dataset.camera = id;
    const img = document.createElement("img");
    img.alt = `live view of ${id}`;
    const label = document.createElement("div");
    label.className = "label";
    label.textContent = `${id}: ${c.model || c.url}`;
    tile.append(img, label);
    tile.addEventListener("click", () => { choose(id); switchView("camera"); });
    grid.appendChild(tile);
  }
  for (const stale of tiles.values()) { stale.remove(); }
}

// -- adding cameras -------------------------------------------------------------------------------

$("discover").addEventListener("click", async () => {
  $("discover").disabled = true;
  try {
    const found = await api("GET", "/api/discover");
    const list = $("found");
    list.replaceChildren();
    if (!found.length) { const li = document.createElement("li"); li.textContent = "no camera found"; list.appendChild(li); }
    for (const f of found) {
      const li = document.createElement("li");
      const open = document.createElement("button");
      open.textContent = "Open";
      open.addEventListener("click", () => addCamera(f.url));
      li.append(`${f.name} (${f.url}, ${f.source}) `, open);
      list.appendChild(li);
    }
  } finally { $("discover").disabled = false; }
});

$("add-form").addEventListener("submit", (event) => {
  event.preventDefault();
  addCamera($("add-url").value.trim());
});

async function addCamera(url) {
  const added = await api("POST", "/api/cameras", { url });
  await loadCameras();
  await choose(added.id);
  switchView("camera");
}

// -- views and the event stream --------------------------------------------------------------------

function switchView(view) {
  state.view = view;
  for (const tab of document.querySelectorAll(".tab")) { tab.classList.toggle("active", tab.dataset.view === view); }
  for (const section of document.querySelectorAll(".view")) { section.classList.toggle("hidden", section.id !== `view-${view}`); }
  setLive();
  if (view === "gallery" && state.current && !state.folder) { openTop(); }
  if (view === "grid") { showGrid(); } else { closeGridSocket(); $("grid").replaceChildren(); }
}

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => switchView(tab.dataset.view));
}
$("camera-select").addEventListener("change", (event) => choose(event.target.value));

function onMessage(message) {
  if (message.type === "log") { logLine(message); return; }
  if (message.type === "camera" || message.type === "removed") { loadCameras(); return; }
  if (message.camera !== state.current) { return; }
  if (message.type === "property") { updateProperty(message.property); }
  else if (message.type === "status") { showStatus(message.status); }
  else if (message.type === "object") { objectAdded(message.entry); }
  else if (message.type === "removed-object") { objectRemoved(message.handle); }
}

async function start() {
  for (const line of await api("GET", "/api/log")) { logLine(line); }
  const events = new EventSource("/api/events");
  events.onmessage = (event) => onMessage(JSON.parse(event.data));
  events.onopen = () => { document.body.dataset.events = "open"; };
  await loadCameras();
  document.body.dataset.ready = "yes";
}

start();
