// pycr dashboard: polls the JSON endpoints, posts actions, follows logs over a websocket.
"use strict";
const $ = (sel) => document.querySelector(sel);
let logSocket = null;
const lastCpu = {};

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function size(n) {
  if (n === undefined || n === null) return "";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + units[i];
}

async function call(method, url, body) {
  const opts = { method, headers: { "X-Pycr-UI": "1" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(url, opts);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.message || r.statusText);
  return data;
}

function button(td, label, fn) {
  const b = document.createElement("button");
  b.textContent = label;
  b.dataset.action = label;
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { await fn(); $("#error").textContent = ""; } catch (e) { $("#error").textContent = e.message; }
    b.disabled = false;
    refresh();
  });
  td.appendChild(b);
}

async function refresh() {
  try {
    const rows = await call("GET", "/ui/containers");
    const body = $("#containers tbody");
    body.textContent = "";
    const now = performance.now();
    for (const c of rows) {
      const tr = document.createElement("tr");
      tr.dataset.name = c.name;
      cell(tr, c.name);
      cell(tr, c.image);
      cell(tr, c.state, "state-" + c.state).dataset.role = "state";
      cell(tr, c.status);
      cell(tr, (c.ports || []).map((p) => `${p.PublicPort}->${p.PrivatePort}`).join(", "));
      let cpu = "";
      if (c.cpu_ns !== undefined && lastCpu[c.id]) {
        const [t0, ns0] = lastCpu[c.id];
        cpu = (100 * (c.cpu_ns - ns0) / ((now - t0) * 1e6)).toFixed(1) + "%";
      }
      if (c.cpu_ns !== undefined) lastCpu[c.id] = [now, c.cpu_ns];
      cell(tr, cpu);
      cell(tr, size(c.memory));
      cell(tr, c.pids === undefined ? "" : String(c.pids));
      const td = cell(tr, "");
      const id = encodeURIComponent(c.id);
      if (c.state === "running" || c.state === "paused") {
        button(td, "stop", () => call("POST", `/ui/containers/${id}/stop`));
        button(td, "restart", () => call("POST", `/ui/containers/${id}/restart`));
      } else {
        button(td, "start", () => call("POST", `/ui/containers/${id}/start`));
      }
      button(td, "remove", () => call("POST", `/ui/containers/${id}/remove`));
      button(td, "logs", async () => followLogs(c));
      if (c.state === "running") button(td, "shell", async () => openShell(c));
      body.appendChild(tr);
    }
    const images = await call("GET", "/ui/images");
    const ib = $("#images tbody");
    ib.textContent = "";
    for (const im of images) {
      for (const name of im.RepoTags.length ? im.RepoTags : [im.Id]) {
        const tr = document.createElement("tr");
        cell(tr, name);
        cell(tr, im.Id.slice(7, 19));
        cell(tr, size(im.Size));
        button(cell(tr, ""), "remove", () => call("POST", `/ui/images/${encodeURIComponent(name)}/remove`));
        ib.appendChild(tr);
      }
    }
  } catch (e) {
    $("#error").textContent = e.message;
  }
}

function followLogs(c) {
  if (logSocket) logSocket.close();
  const box = $("#logs");
  box.textContent = "";
  $("#logs-of").textContent = c.name;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  logSocket = new WebSocket(`${scheme}//${location.host}/ui/containers/${encodeURIComponent(c.id)}/logs`);
  logSocket.onmessage = (ev) => {
    const e = JSON.parse(ev.data);
    const span = document.createElement("span");
    span.className = e.stream;
    span.textContent = e.log;
    box.appendChild(span);
    box.scrollTop = box.scrollHeight;
  };
}

let termSocket = null;
// A plain terminal: output with escape sequences removed, one input line sent with Enter.
function openShell(c) {
  if (termSocket) termSocket.close();
  const box = $("#term");
  box.textContent = "";
  $("#term-of").textContent = c.name;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  termSocket = new WebSocket(`${scheme}//${location.host}/ui/containers/${encodeURIComponent(c.id)}/terminal`);
  termSocket.binaryType = "arraybuffer";
  const decoder = new TextDecoder();
  termSocket.onopen = () => termSocket.send(JSON.stringify({ resize: [24, 100] }));
  termSocket.onmessage = (ev) => {
    const text = decoder.decode(new Uint8Array(ev.data), { stream: true });
    box.textContent += text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");
    box.scrollTop = box.scrollHeight;
  };
  termSocket.onclose = () => { box.textContent += "\n[session ended]\n"; };
}

$("#term-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!termSocket || termSocket.readyState !== WebSocket.OPEN) return;
  termSocket.send(new TextEncoder().encode($("#term-input").value + "\r"));
  $("#term-input").value = "";
});

$("#pull").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const image = $("#pull-image").value.trim();
  if (!image) return;
  try { await call("POST", "/ui/images/pull", { image }); $("#error").textContent = ""; }
  catch (e) { $("#error").textContent = e.message; }
  refresh();
});

// pycr bench results under --bench-dir: each result's summary and plots (loaded once; reload to update).
async function loadBench() {
  const box = $("#bench");
  let data;
  try { data = await call("GET", "/ui/bench"); } catch (e) { box.textContent = e.message; return; }
  $("#bench-dir").textContent = data.dir ? `(${data.dir})` : "";
  box.textContent = data.dir ? (data.results.length ? "" : "no results yet") : "start pycr serve with --bench-dir DIR";
  for (const r of data.results) {
    const sec = document.createElement("section");
    sec.className = "bench-result";
    sec.dataset.name = r.name;
    const h = document.createElement("h3");
    h.textContent = r.name;
    const pre = document.createElement("pre");
    pre.textContent = r.summary || "(no summary.txt)";
    sec.append(h, pre);
    for (const p of r.plots) {
      const img = document.createElement("img");
      img.alt = `${r.name} ${p}`;
      img.src = `/ui/bench/${encodeURIComponent(r.name)}/${encodeURIComponent(p)}`;
      sec.appendChild(img);
    }
    box.appendChild(sec);
  }
}

refresh();
loadBench();
setInterval(refresh, 2000);
