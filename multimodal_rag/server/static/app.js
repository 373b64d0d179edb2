// The shop assistant page: search by text or photo, refine with chips, chat with streamed, cited answers.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { text: "", filters: {}, history: [], apiKey: localStorage.getItem("mmrag-api-key") || "" };

function headers(extra = {}) {
  return state.apiKey ? { ...extra, Authorization: `Bearer ${state.apiKey}` } : extra;
}

function say(message, kind = "error") {
  const status = $("status");
  status.textContent = message;
  status.className = kind === "info" ? "info" : "";
  status.hidden = !message;
}

// One place for failures: the server's own message, or what it means when it cannot be reached.
async function call(url, options = {}) {
  let response;
  try {
    response = await fetch(url, { ...options, headers: headers(options.headers) });
  } catch (err) {
    throw new Error("The server cannot be reached; is `mmrag serve` running?");
  }
  if (response.status === 401 || response.status === 403) {
    const key = prompt("This shop needs an API key:");
    if (key) { state.apiKey = key; localStorage.setItem("mmrag-api-key", key); return call(url, options); }
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    if (response.status === 429) message = `The assistant is busy: ${message}`;
    if (response.status === 503) message = `The catalog is unavailable: ${message}`;
    throw new Error(message);
  }
  return response;
}

function money(price, currency) {
  if (price === null || price === undefined) return "";
  return `${Number(price).toLocaleString(undefined, { maximumFractionDigits: 2 })} ${currency || ""}`.trim();
}

function why(scores) {
  return Object.entries(scores || {}).map(([field, s]) => `${field} ${Number(s).toFixed(2)}`).join(" · ");
}

function renderCards(products, { cited = [] } = {}) {
  const list = $("results");
  list.replaceChildren();
  for (const p of products) {
    const card = $("card").content.firstElementChild.cloneNode(true);
    card.id = `product-${p.id}`;
    card.dataset.id = p.id;
    const img = card.querySelector("img");
    img.src = `/api/products/${encodeURIComponent(p.id)}/image`;
    img.alt = p.title || "";
    if (state.apiKey) loadWithKey(img);
    card.querySelector(".title").textContent = p.title || p.id;
    card.querySelector(".price").textContent = money(p.price, p.currency);
    card.querySelector(".brand").textContent = p.brand || "";
    card.querySelector(".why").textContent = p.scores ? `why: ${why(p.scores)}` : "";
    card.querySelector(".similar").addEventListener("click", () => similar(p));
    card.querySelector(".similar").setAttribute("aria-label", `Products like ${p.title}`);
    if (cited.includes(p.id)) card.classList.add("cited");
    list.append(card);
  }
  renderChips(products);
}

// Images need the key too when one is set: fetch them and show a blob.
async function loadWithKey(img) {
  try {
    const response = await call(img.src);
    img.src = URL.createObjectURL(await response.blob());
  } catch (_) { /* the card keeps its alt text */ }
}

function renderChips(products) {
  const chips = $("chips");
  chips.replaceChildren();
  const facets = [["category", (p) => (p.category || "").split(">").map((s) => s.trim()).filter(Boolean)[1]],
                  ["brand", (p) => p.brand]];
  for (const [field, value] of facets) {
    const values = [...new Set(products.map(value).filter(Boolean))].slice(0, 6);
    for (const v of values) {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip";
      const active = field === "category" ? state.filters.category?.level === v : state.filters.brand === v;
      chip.setAttribute("aria-pressed", String(Boolean(active)));
      chip.textContent = v;
      chip.addEventListener("click", () => {
        if (active) delete state.filters[field];
        else state.filters[field] = field === "category" ? { level: v } : v;
        search();
      });
      chips.append(chip);
    }
  }
  $("price-range").hidden = products.length === 0 && !state.filters.price;
}

async function search(event) {
  if (event) event.preventDefault();
  state.text = $("query").value.trim() || state.text;
  if (!state.text) return;
  say("");
  try {
    const body = { text: state.text, k: 12, filters: Object.keys(state.filters).length ? state.filters : null };
    const response = await call("/api/search", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const products = await response.json();
    const understood = products[0]?.understood?.text;
    $("understood").hidden = !understood;
    $("understood").textContent = understood ? `understood: ${understood}` : "";
    renderCards(products);
    if (!products.length) say("Nothing matches; try other words or fewer filters.", "info");
  } catch (err) { say(err.message); }
}

async function searchPhoto(blob, name = "photo") {
  say("");
  const form = new FormData();
  form.append("image", blob, name);
  form.append("k", "12");
  try {
    const response = await call("/api/search", { method: "POST", body: form });
    $("understood").hidden = true;
    renderCards(await response.json());
  } catch (err) { say(err.message); }
}

async function similar(product) {
  try {
    const response = await call(`/api/products/${encodeURIComponent(product.id)}/image`);
    await searchPhoto(await response.blob(), `${product.id}.jpg`);
  } catch (err) { say(err.message); }
}

function addMessage(role, text) {
  const item = document.createElement("li");
  item.className = role;
  item.textContent = text;
  $("messages").append(item);
  item.scrollIntoView({ block: "nearest" });
  return item;
}

// "[1]" and "[1, 2]" in an answer become links to the cited product cards.
function linkCitations(item, answer, products) {
  item.replaceChildren();
  const parts = answer.split(/(\[\d+(?:\s*,\s*\d+)*\])/);
  for (const part of parts) {
    const match = part.match(/^\[(.*)\]$/);
    if (!match) { item.append(part); continue; }
    item.append("[");
    match[1].split(",").map((n) => parseInt(n, 10)).forEach((n, i) => {
      const product = products[n - 1];
      if (i) item.append(", ");
      if (!product) { item.append(String(n)); return; }
      const link = document.createElement("a");
      link.href = `#product-${product.id}`;
      link.className = "cite";
      link.textContent = String(n);
      link.title = product.title || product.id;
      link.addEventListener("click", (e) => {
        e.preventDefault();
        const card = document.getElementById(`product-${product.id}`);
        if (card) { card.scrollIntoView({ behavior: "smooth", block: "center" }); card.querySelector("button")?.focus(); }
      });
      item.append(link);
    });
    item.append("]");
  }
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  $("question").value = "";
  addMessage("you", question);
  const reply = addMessage("shop", "…");
  const button = $("ask-form").querySelector("button[type=submit]");
  button.disabled = true;
  say("");
  let products = [];
  let answer = "";
  try {
    const response = await call("/api/ask", {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ question, history: state.history }) });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = (block.match(/^event: (.*)$/m) || [])[1];
        const data = JSON.parse((block.match(/^data: (.*)$/m) || [])[1] || "null");
        if (name === "queue") reply.textContent = `Waiting for the assistant (${data.ahead} ahead)…`;
        if (name === "products") { products = data; renderCards(products); reply.textContent = ""; }
        if (name === "answer") { answer += data.text; reply.textContent = answer; }
        if (name === "error") throw new Error(data.error);
        if (name === "result") {
          answer = data.answer;
          linkCitations(reply, answer, products);
          const cited = data.cited.map((p) => p.id);
          renderCards(products, { cited });
          state.history.push({ question, answer, products: [...data.cited, ...data.products.filter((p) => !cited.includes(p.id))] });
        }
      }
    }
  } catch (err) {
    reply.textContent = "No answer.";
    say(err.message);
  } finally {
    button.disabled = false;
  }
}

function reset() {
  state.history = [];
  $("messages").replaceChildren();
  addMessage("note", "New conversation.");
  $("question").focus();
}

function wireDrop() {
  const drop = $("drop");
  const input = $("photo");
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  input.addEventListener("change", () => { if (input.files[0]) searchPhoto(input.files[0], input.files[0].name); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) searchPhoto(file, file.name);
  });
}

async function health() {
  try {
    const response = await fetch("/healthz");
    if (!response.ok) say(`The catalog is unavailable: ${(await response.json()).reason}`);
    else if ($("status").textContent.startsWith("The catalog is unavailable")) say("");
  } catch (_) { say("The server cannot be reached; is `mmrag serve` running?"); }
}

document.addEventListener("DOMContentLoaded", () => {
  $("search-form").addEventListener("submit", search);
  $("ask-form").addEventListener("submit", ask);
  $("question").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) ask(e); });
  $("reset").addEventListener("click", reset);
  $("price-apply").addEventListener("click", () => {
    const min = parseFloat($("price-min").value), max = parseFloat($("price-max").value);
    const price = {};
    if (!Number.isNaN(min)) price.gte = min;
    if (!Number.isNaN(max)) price.lte = max;
    if (Object.keys(price).length) state.filters.price = price; else delete state.filters.price;
    search();
  });
  wireDrop();
  health();
  setInterval(health, 15000);
});
