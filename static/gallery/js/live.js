/* global gettext, interpolate */ // from the JavaScript catalog (/jsi18n/, loaded first)
// Live tiles: while any of the user's tiles on the page is queued or running, ask the server
// what changed (one small request, one indexed query) and swap the tiles that did; stop when
// nothing is pending. Also: running time ticking, Cancel in place, and the tab title
// counting images finished while the tab was hidden.
import { parseFragment } from "./dom.js";
import { notifyFinished } from "./notify.js";

const PENDING = ["queued", "running"];
const INTERVAL = 1500;
let timer = null;
let finishedUnseen = 0;
let finishedThisBatch = 0;
const baseTitle = document.title;

const pendingIds = () =>
  [...document.querySelectorAll("[data-live]")]
    .filter((el) => PENDING.includes(el.dataset.status))
    .map((el) => el.dataset.live);

const showTitle = () => {
  document.title = finishedUnseen ? `(${finishedUnseen}) ${baseTitle}` : baseTitle;
};

const swap = (item) => {
  const old = document.getElementById(`t-${item.id}`);
  if (!old || !old.hasAttribute("data-live")) return;
  const before = old.dataset.status;
  if (old.outerHTML === item.html) return;
  const fresh = parseFragment(item.html, old.parentNode).firstElementChild;
  if (!fresh) return;
  // Keep a tile's markup still while only its text changes (focus stays on Cancel).
  const progress = fresh.querySelector(".tile-progress");
  if (before === item.status && old.contains(document.activeElement)) {
    if (progress) old.querySelector(".tile-progress")?.replaceWith(progress);
    return;
  }
  // A row selected in My history stays selected.
  const checked = old.querySelector("input[type=checkbox]")?.checked;
  if (checked) fresh.querySelector("input[type=checkbox]").checked = true;
  old.replaceWith(fresh);
  if (PENDING.includes(before) && !PENDING.includes(item.status)) {
    if (document.visibilityState === "hidden") {
      finishedUnseen += 1;
      finishedThisBatch += 1;
      showTitle();
    }
    document.dispatchEvent(new CustomEvent("gallery:finished", { detail: item }));
  }
};

const poll = async () => {
  timer = null;
  const ids = pendingIds();
  if (!ids.length) return;
  const form = document.querySelector("[data-live-url]");
  const url = form ? form.dataset.liveUrl : "/live";
  // My history's rows or the grid's tiles: the server renders the same kind back.
  const kind = document.querySelector("[data-live]")?.dataset.liveKind || "tile";
  try {
    const query = `ids=${encodeURIComponent(ids.join(","))}&kind=${kind}`;
    const response = await fetch(`${url}?${query}`, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (response.ok) {
      const data = await response.json();
      const seen = new Set();
      for (const item of data.items) {
        seen.add(item.id);
        swap(item);
      }
      // Gone (cancelled or deleted elsewhere): nothing left to watch.
      for (const id of ids) {
        if (!seen.has(id)) document.getElementById(`t-${id}`)?.remove();
      }
    }
  } catch {
    // Offline for a moment: try again at the next round.
  }
  schedule();
};

const schedule = () => {
  if (timer === null && pendingIds().length) timer = setTimeout(poll, INTERVAL);
  else if (!pendingIds().length && finishedThisBatch) {
    // The whole batch is done: one notification for it (if the user asked for them).
    notifyFinished(finishedThisBatch);
    finishedThisBatch = 0;
  }
};

const tick = () => {
  const now = Date.now() / 1000;
  for (const el of document.querySelectorAll("[data-elapsed-since]")) {
    const since = Number(el.dataset.elapsedSince);
    if (since) {
      const seconds = Math.max(0, Math.round(now - since));
      el.textContent = interpolate(gettext("%(seconds)s s"), { seconds }, true);
    }
  }
};

const cancelInPlace = async (form) => {
  const tile = form.closest("[data-live]");
  const response = await fetch(form.action, {
    method: "POST",
    body: new FormData(form),
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (response.ok) {
    tile?.remove();
  } else {
    // It started meanwhile: the next round shows it running.
    form.querySelector("button").disabled = true;
    schedule();
  }
};

export const startLive = () => {
  document.addEventListener("DOMContentLoaded", () => {
    schedule();
    setInterval(tick, 1000);
  });
  document.addEventListener("gallery:live-added", schedule);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      finishedUnseen = 0;
      showTitle();
    }
  });
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-cancel]");
    if (!form) return;
    event.preventDefault();
    cancelInPlace(form);
  });
};
