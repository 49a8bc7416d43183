// semrec demo shop: plain JavaScript over the public /v1 API.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { mode: "recommendations", query: "" };
// each list's answer id: clicks on its items send it back, with the item's position
const answers = { results: null, similar: null };

function shopper() { return $("shopper-input").value.trim() || "demo-shopper-1"; }

function headers(extra) {
  const key = $("api-key").value.trim() || localStorage.getItem("semrec-key") || "";
  const out = Object.assign({}, extra || {});
  if (key) out["X-API-Key"] = key;
  return out;
}

async function api(path, options) {
  const started = performance.now();
  const response = await fetch(path, Object.assign({}, options, { headers: headers(options && options.headers) }));
  const body = await response.json().catch(() => ({}));
  const roundTrip = performance.now() - started;
  if (!response.ok) {
    const message = body.error ? body.error.message : response.statusText;
    $("status").textContent = `error ${response.status}: ${message}`;
    throw new Error(message);
  }
  if (body.model_version) {
    const arm = body.arm ? `arm ${body.arm} · ` : "";
    $("status").textContent = `${arm}model ${body.model_version} · answered in ${body.took_ms} ms (server), ${roundTrip.toFixed(1)} ms round trip`;
  }
  return body;
}

function colour(text) {
  let hash = 0;
  for (const ch of text) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360} 55% 52%)`;
}

function thumb(item) {
  const span = document.createElement("span");
  span.className = "thumb";
  span.style.background = colour(item.category || item.brand || item.title);
  span.textContent = item.title.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0]).join("").toUpperCase();
  span.setAttribute("aria-hidden", "true");
  return span;
}

function card(item, position) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.className = "card";
  button.type = "button";
  button.dataset.itemId = item.item_id;
  button.setAttribute("aria-label", `${item.title}${item.reason ? ", " + item.reason : ""}`);
  const body = document.createElement("span");
  body.className = "body";
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = item.title;
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = [item.brand, item.category, item.price != null ? `$${Number(item.price).toFixed(2)}` : null]
    .filter(Boolean).join(" · ");
  body.append(title, meta);
  if (item.reason) {
    const reason = document.createElement("span");
    reason.className = "reason";
    reason.textContent = item.reason;
    body.append(reason);
  }
  button.append(thumb(item), body);
  button.addEventListener("click", () => openProduct(item, { request_id: answers.results, position }));
  li.append(button);
  return li;
}

function showAnswer(list, body) {
  answers[list] = body.request_id || null;
  $(`${list}-request`).textContent = body.request_id ? `arm ${body.arm} · request ${body.request_id}` : "";
}

async function showRecommendations() {
  state.mode = "recommendations";
  $("results-title").textContent = "Recommended for you";
  const body = await api(`/v1/users/${encodeURIComponent(shopper())}/recommendations?k=12`);
  $("results-note").textContent = body.personalized
    ? "Personal picks from your recent clicks."
    : "Popular in this shop. Click a product and watch this list adapt.";
  render(body);
}

async function search(query) {
  state.mode = "search";
  state.query = query;
  $("results-title").textContent = `Results for “${query}”`;
  const body = await api(`/v1/search?q=${encodeURIComponent(query)}&k=12&user_id=${encodeURIComponent(shopper())}`);
  $("results-note").textContent = `${body.items.length} products, ranked by meaning and your taste.`;
  render(body);
}

function render(body) {
  showAnswer("results", body);
  const list = $("results");
  list.replaceChildren(...body.items.map(card));
  list.dataset.version = String(Date.now());
}

async function openProduct(item, shown) {
  const click = { user_id: shopper(), item_id: item.item_id, type: "click" };
  if (shown && shown.request_id) Object.assign(click, shown);  // the answer (and place) it came from
  await api("/v1/events", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ events: [click] }),
  });
  $("product-view").hidden = false;
  const detail = $("product-detail");
  const text = document.createElement("div");
  text.innerHTML = "<strong></strong><div class='small'></div>";
  text.querySelector("strong").textContent = item.title;
  text.querySelector("div").textContent = [item.brand, item.category].filter(Boolean).join(" · ");
  detail.replaceChildren(thumb(item), text);
  const similar = await api(`/v1/items/${encodeURIComponent(item.item_id)}/similar?k=5&user_id=${encodeURIComponent(shopper())}`);
  showAnswer("similar", similar);
  $("similar").replaceChildren(...similar.items.map((s, position) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = s.title;
    button.addEventListener("click", () => openProduct(s, { request_id: answers.similar, position }));
    li.append(button);
    return li;
  }));
  await Promise.all([showRecommendations(), showProfile(), showExperiment()]);
}

// each arm's live click-through rate (the report needs an admin key)
async function showExperiment() {
  const box = $("experiment");
  const response = await fetch("/v1/admin/experiments", { headers: headers() });
  if (!response.ok) {
    box.textContent = "Enter an admin key to see each arm's live click-through rate.";
    return;
  }
  const report = await response.json();
  const rows = report.arms.map((arm) => {
    const row = document.createElement("li");
    const t = arm.total;
    const state = arm.running ? "" : " (stopped)";
    row.textContent = `${arm.name}${state}: CTR ${(100 * t.ctr).toFixed(2)}% · ${t.clicks} clicks / ${t.impressions} shown`;
    row.dataset.arm = arm.name;
    return row;
  });
  box.replaceChildren(...rows);
}

async function showProfile() {
  const profile = await api(`/v1/users/${encodeURIComponent(shopper())}/profile`);
  const box = $("profile");
  box.replaceChildren();
  const line = (label, values) => {
    const title = document.createElement("div");
    title.className = "small";
    title.textContent = label;
    const chips = document.createElement("div");
    chips.className = "chips";
    for (const value of values) {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = value;
      chips.append(chip);
    }
    if (!values.length) chips.textContent = "—";
    box.append(title, chips);
  };
  const count = document.createElement("p");
  count.className = "note";
  count.textContent = `${profile.events} event${profile.events === 1 ? "" : "s"}`;
  box.append(count);
  line("Top categories", profile.top_categories);
  line("Top brands", profile.top_brands);
  line("Keywords", profile.keywords);
  line("Recently", profile.recent_items.slice(0, 5).map((r) => r.title || r.item_id));
}

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = $("search-input").value.trim();
  if (query) search(query).catch(() => {}); else showRecommendations().catch(() => {});
});
$("shopper-input").addEventListener("change", () => { refresh(); });
$("api-key").addEventListener("change", () => { localStorage.setItem("semrec-key", $("api-key").value.trim()); refresh(); });
$("reset-shopper").addEventListener("click", async () => {
  await api(`/v1/users/${encodeURIComponent(shopper())}`, { method: "DELETE" }).catch(() => {});
  $("product-view").hidden = true;
  refresh();
});

function refresh() { return Promise.all([showRecommendations(), showProfile(), showExperiment()]).catch(() => {}); }
refresh();
