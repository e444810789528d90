// kb's web page: everything it shows comes from the JSON API of the same server.
// Safety: every string from a user, a log or the API goes into the page as text
// (textContent / text nodes), with control characters shown as visible escapes. The one
// exception is an entry's answer_html, which the server renders from content Markdown with
// raw HTML disabled; it passes through the Trusted Types policy "kb-html", the only one the
// page's Content-Security-Policy allows.
"use strict";

(() => {
  const CONFIDENT = 0.5; // the documented threshold: confidence >= 0.5 is a confident answer
  const $ = (id) => document.getElementById(id);
  const policy = window.trustedTypes
    ? window.trustedTypes.createPolicy("kb-html", { createHTML: (html) => html })
    : { createHTML: (html) => html };

  // The characters kb escapes on a terminal: C0 (but tab and newline), DEL, C1, bidi controls.
  const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  function visible(text) {
    return String(text).replace(CONTROL, (c) => {
      const code = c.charCodeAt(0);
      return code < 0x100 ? "\\x" + code.toString(16).padStart(2, "0")
        : "\\u" + code.toString(16).padStart(4, "0");
    });
  }

  // el("a", {href: "#/x", class: "y"}, "text", otherNode): strings become text nodes.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" ? document.createTextNode(visible(child)) : child);
    }
    return node;
  }

  function entryLink(id, label) {
    return el("a", { href: "#/entries/" + encodeURIComponent(id), class: "entry-link" }, label);
  }

  function percent(confidence) {
    return Math.round(Number(confidence) * 100) + "%";
  }

  function confidenceBadge(confidence) {
    const sure = Number(confidence) >= CONFIDENT;
    return el("span", { class: sure ? "badge sure" : "badge unsure",
                         title: "confidence " + Number(confidence).toFixed(3) },
      percent(confidence) + (sure ? " · confident" : " · low confidence"));
  }

  // -- talking to the API ------------------------------------------------------------------

  let token = sessionStorage.getItem("kb-token") || "";

  class ApiFailure extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function askToken() {
    const dialog = $("token-dialog");
    const form = $("token-form");
    return new Promise((resolve) => {
      form.onsubmit = (event) => {
        event.preventDefault();
        token = $("token-input").value.trim();
        sessionStorage.setItem("kb-token", token);
        dialog.close();
        resolve(token);
      };
      dialog.showModal();
      $("token-input").focus();
    });
  }

  async function api(path, options = {}) {
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(options.headers || {});
      if (token) headers.set("Authorization", "Bearer " + token);
      const response = await fetch(path, { ...options, headers, credentials: "omit",
                                           cache: "no-store" });
      if (response.status === 401 && attempt < 3) {
        await askToken();
        continue;
      }
      if (!response.ok) {
        let message = response.status + " " + response.statusText;
        try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
        throw new ApiFailure(response.status, message);
      }
      return response;
    }
  }

  const entryCache = new Map();
  function getEntry(id) {
    if (!entryCache.has(id)) {
      const loading = api("/v1/entries/" + encodeURIComponent(id)).then((r) => r.json());
      loading.catch(() => entryCache.delete(id));
      entryCache.set(id, loading);
    }
    return entryCache.get(id);
  }

  let entryList = null;
  function getEntries() {
    if (!entryList) {
      entryList = api("/v1/entries").then((r) => r.json()).then((data) => data.entries);
      entryList.catch(() => { entryList = null; });
    }
    return entryList;
  }

  async function titleOf(id) {
    try {
      const found = (await getEntries()).find((e) => e.id === id);
      return found ? found.title : id;
    } catch (_) {
      return id;
    }
  }

  function answerHtml(entry) {
    const body = el("div", { class: "answer" });
    body.innerHTML = policy.createHTML(entry.answer_html);
    for (const link of body.querySelectorAll("a[href]")) {
      if (!link.getAttribute("href").startsWith("#")) {
        link.rel = "noopener noreferrer";
        link.target = "_blank";
      }
    }
    return body;
  }

  function firstParagraph(entry) {
    const template = document.createElement("template"); // inert: nothing in it runs or loads
    template.innerHTML = policy.createHTML(entry.answer_html);
    const first = template.content.firstElementChild;
    return first ? document.importNode(first, true) : el("p", {}, entry.answer.split("\n\n")[0]);
  }

  function failure(error) {
    const text = error instanceof ApiFailure ? error.message : "cannot reach the server";
    return el("p", { class: "error", role: "alert" }, text);
  }

  async function related(ids) {
    if (!ids || !ids.length) return null;
    const list = el("ul", { class: "related" });
    for (const id of ids) list.append(el("li", {}, entryLink(id, await titleOf(id))));
    return el("div", {}, el("h4", {}, "Related"), list);
  }

  function why(data) {
    const details = el("details", { class: "why" }, el("summary", {}, "Why this answer"));
    const list = el("ul");
    for (const signal of data.signals || []) {
      list.append(el("li", {}, String(signal.type) + ": ", el("code", {}, String(signal.value)),
        signal.weight !== undefined ? " (weight " + signal.weight + ")" : ""));
    }
    const terms = (data.text && data.text.terms) || [];
    if (terms.length) {
      const words = terms.slice(0, 10).map((t) => t.term + " (" + t.field + ")").join(", ");
      list.append(el("li", {}, "matching words: " + words));
    }
    if (!list.children.length) list.append(el("li", {}, el("code", {}, JSON.stringify(data))));
    details.append(list);
    return details;
  }

  // -- ask ---------------------------------------------------------------------------------

  async function hitCard(hit) {
    const entry = await getEntry(hit.id);
    return el("article", { class: "hit" },
      el("h3", {}, entryLink(hit.id, hit.title)),
      el("p", { class: "meta" }, confidenceBadge(hit.confidence)),
      answerHtml(entry),
      why(hit.why || {}),
      await related(entry.see_also));
  }

  function hitList(hits) {
    return el("ul", { class: "candidates" }, ...hits.map((hit) =>
      el("li", {}, entryLink(hit.id, hit.title), " ", confidenceBadge(hit.confidence))));
  }

  async function renderAnswer(bubble, data) {
    const hits = data.hits || [];
    if (!hits.length) {
      bubble.replaceChildren(el("p", {}, "No entry matches. Try other words, or paste the " +
        "whole log line."));
      return;
    }
    const parts = [];
    const [top, ...rest] = hits;
    if (top.confidence >= CONFIDENT) {
      parts.push(await hitCard(top));
      if (rest.length) parts.push(el("h4", {}, "Other candidates"), hitList(rest));
    } else {
      parts.push(el("p", {}, "No confident answer. The closest entries:"), hitList(hits));
    }
    bubble.replaceChildren(...parts);
  }

  async function ask(text) {
    const chat = $("chat");
    chat.append(el("li", { class: "msg user" }, el("pre", {}, text)));
    const bubble = el("li", { class: "msg bot", "aria-busy": "true" }, el("p", {}, "Looking…"));
    chat.append(bubble);
    bubble.scrollIntoView({ block: "nearest" });
    try {
      const response = await api("/v1/search", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ q: text, limit: 5 }) });
      await renderAnswer(bubble, await response.json());
    } catch (error) {
      bubble.replaceChildren(failure(error));
    } finally {
      bubble.removeAttribute("aria-busy");
      bubble.scrollIntoView({ block: "nearest" });
    }
  }

  function setUpAsk() {
    const input = $("ask-input");
    $("ask-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value;
      if (!text.trim()) return;
      input.value = "";
      ask(text);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("ask-form").requestSubmit();
      }
    });
  }

  // -- diagnose ----------------------------------------------------------------------------

  function parseNdjson(text) {
    const problems = [];
    let summary = null;
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      const item = JSON.parse(line);
      if (item.type === "summary") summary = item;
      else if (item.type === "problem") problems.push(item);
    }
    return { problems, summary };
  }

  async function problemCard(problem) {
    const entry = await getEntry(problem.id);
    const lines = problem.first_line === problem.last_line ? "line " + problem.first_line
      : "lines " + problem.first_line + "–" + problem.last_line;
    const when = problem.first_time
      ? (problem.first_time === problem.last_time ? problem.first_time
        : problem.first_time + " … " + problem.last_time) : null;
    return el("li", { class: "problem" + (problem.level ? " level-" + problem.level : "") },
      el("h3", {}, entryLink(problem.id, problem.title)),
      el("p", { class: "meta" },
        el("span", { class: "count" }, problem.count + "×"), " ",
        el("span", { class: "level" }, problem.level || "no level"), " ",
        confidenceBadge(problem.confidence), " ",
        el("span", {}, lines), when ? " · " : null, when),
      el("div", { class: "first-step" }, el("h4", {}, "First thing to do"),
         firstParagraph(entry)),
      el("p", {}, entryLink(problem.id, "Read the full answer")),
      el("details", { class: "sample" }, el("summary", {}, "Sample line"),
         el("pre", {}, problem.sample)));
  }

  async function renderReport(report) {
    const { problems, summary } = report;
    const parts = [];
    if (summary) {
      parts.push(el("p", { class: "summary" }, summary.lines + " lines read, " +
        summary.problems + " problem(s), " + summary.matched_lines + " line(s) matched"));
    }
    if (!problems.length) {
      parts.push(el("p", {}, "No known problem in these lines."));
    } else {
      const list = el("ol", { class: "problems" });
      for (const problem of problems) list.append(await problemCard(problem));
      parts.push(list);
    }
    $("report").replaceChildren(...parts);
  }

  async function diagnose(body, label) {
    const status = $("diagnose-status");
    const button = $("diagnose-button");
    status.textContent = visible("Reading " + label + "…");
    button.disabled = true;
    $("report").replaceChildren();
    try {
      const headers = typeof body === "string" ? { "Content-Type": "text/plain; charset=utf-8" }
        : { "Content-Type": "application/octet-stream" };
      const response = await api("/v1/diagnose", { method: "POST", headers, body });
      await renderReport(parseNdjson(await response.text()));
      status.textContent = visible("Report for " + label);
    } catch (error) {
      status.textContent = "";
      $("report").replaceChildren(failure(error));
    } finally {
      button.disabled = false;
    }
  }

  function setUpDiagnose() {
    const file = $("log-file");
    const drop = $("drop");
    $("diagnose-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("log-input").value;
      if (text.trim()) diagnose(text, "the pasted lines");
      else if (file.files.length) diagnose(file.files[0], file.files[0].name);
      else $("diagnose-status").textContent = "Paste some log lines or choose a file first.";
    });
    file.addEventListener("change", () => {
      if (file.files.length) diagnose(file.files[0], file.files[0].name);
    });
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      const dropped = event.dataTransfer && event.dataTransfer.files[0];
      if (dropped) diagnose(dropped, dropped.name);
    });
  }

  // -- entries -----------------------------------------------------------------------------

  async function showEntries() {
    const target = $("entry-list");
    try {
      const entries = await getEntries();
      const sections = new Map();
      for (const entry of entries) {
        const name = entry.section || "Other";
        if (!sections.has(name)) sections.set(name, []);
        sections.get(name).push(entry);
      }
      const parts = [];
      for (const [name, items] of sections) {
        parts.push(el("h2", {}, name), el("ul", { class: "entries" }, ...items.map((e) =>
          el("li", { "data-words": (e.title + " " + e.id + " " + e.tags.join(" ")).toLowerCase() },
            entryLink(e.id, e.title), el("p", { class: "summary" }, e.summary)))));
      }
      target.replaceChildren(...parts);
      filterEntries();
    } catch (error) {
      target.replaceChildren(failure(error));
    }
  }

  function filterEntries() {
    const words = $("filter").value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const item of $("entry-list").querySelectorAll("li[data-words]")) {
      item.hidden = !words.every((w) => item.dataset.words.includes(w));
    }
  }

  async function showEntry(id) {
    const target = $("entry");
    target.replaceChildren(el("p", {}, "Loading…"));
    try {
      const entry = await getEntry(id);
      const heading = el("h1", { tabindex: "-1" }, entry.title);
      const meta = [entry.section, ...(entry.tags || [])].filter(Boolean).join(" · ");
      target.replaceChildren(heading,
        meta ? el("p", { class: "meta" }, meta) : null,
        answerHtml(entry),
        entry.verified ? el("p", { class: "verified" }, "Verified against " + entry.verified + ".")
          : null,
        await related(entry.see_also),
        el("p", { class: "source" }, "id " + entry.id));
      document.title = visible(entry.title) + " — kb";
      heading.focus();
    } catch (error) {
      target.replaceChildren(failure(error));
    }
  }

  // -- routes ------------------------------------------------------------------------------

  const VIEWS = ["ask", "diagnose", "entries", "entry"];

  function show(view) {
    for (const name of VIEWS) $("view-" + name).hidden = name !== view;
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === view) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  function route() {
    const hash = location.hash || "#/";
    const entry = hash.match(/^#\/entries\/([^/]+)$/);
    if (entry) {
      show("entry");
      showEntry(decodeURIComponent(entry[1]));
      return;
    }
    document.title = "kb — what do I do about this log line?";
    if (hash === "#/diagnose") {
      show("diagnose");
      $("log-input").focus();
    } else if (hash === "#/entries") {
      show("entries");
      showEntries();
    } else if (hash === "#/" || hash === "#") {
      show("ask");
      $("ask-input").focus();
    } else if (hash !== "#main") {
      show("ask");
    }
  }

  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest && event.target.closest("input, textarea, select");
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      if (location.hash !== "#/" && location.hash !== "") location.hash = "#/";
      else $("ask-input").focus();
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    setUpAsk();
    setUpDiagnose();
    $("filter").addEventListener("input", filterEntries);
    window.addEventListener("hashchange", route);
    route();
  });
})();
