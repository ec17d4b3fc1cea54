/* global gettext, ngettext, interpolate */ // from the JavaScript catalog (/jsi18n/, loaded first)
// The composer above the grid: character counters, an auto-growing prompt, Ctrl/Cmd+Enter,
// and submitting without leaving the page (the new tiles join the front of the grid and
// live.js watches them). Without this script the form posts and redirects as before.
import { parseFragment } from "./dom.js";

const grow = (field) => {
  field.style.height = "auto";
  field.style.height = `${Math.min(field.scrollHeight + 2, window.innerHeight * 0.4)}px`;
};

// Tiles the server rendered (gallery/_live_tile.html), added at the front of the grid.
export const addTiles = (items) => {
  const grid = document.getElementById("grid");
  if (!grid) return;
  grid.hidden = false;
  document.querySelector(".gallery .empty")?.remove();
  for (const item of [...items].reverse()) {
    document.getElementById(`t-${item.id}`)?.remove();
    grid.prepend(parseFragment(item.html, grid));
  }
  document.dispatchEvent(new CustomEvent("gallery:live-added"));
};

const submitInPlace = async (form) => {
  const button = form.querySelector("button[type=submit]");
  const error = form.querySelector("[data-composer-error]");
  const message = form.querySelector("[data-composer-message]");
  button.disabled = true;
  button.classList.add("is-busy");
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    const data = await response.json();
    if (!response.ok) {
      const errors = Object.values(data.errors || {}).flat();
      error.textContent = errors.join(" ") || gettext("The images could not be queued.");
      error.hidden = false;
      return;
    }
    error.hidden = true;
    addTiles(data.items);
    const quota = form.querySelector("[data-testid=quota]");
    if (quota && data.quota) quota.textContent = data.quota;
    const count = data.items.length;
    message.textContent =
      data.message ||
      interpolate(ngettext("%(count)s image queued.", "%(count)s images queued.", count), { count }, true);
    document.dispatchEvent(new CustomEvent("gallery:submitted", { detail: { form } }));
  } catch {
    error.textContent = gettext("The server could not be reached. Try again in a moment.");
    error.hidden = false;
  } finally {
    button.disabled = false;
    button.classList.remove("is-busy");
  }
};

// Recall: the user's recent and starred prompts, fetched once when first wanted.
let recalled = null;
const loadRecall = async (form) => {
  if (recalled) return recalled;
  const url = form.querySelector("[data-recall]")?.dataset.recall;
  if (!url) return { recent: [], starred: [] };
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  recalled = response.ok ? await response.json() : { recent: [], starred: [] };
  return recalled;
};

const fill = (form, entry, source = "", preset = null) => {
  const prompt = form.querySelector("textarea[name=prompt]");
  const negative = form.querySelector("textarea[name=negative_prompt]");
  prompt.value = entry.prompt;
  negative.value = entry.negative_prompt || "";
  if (negative.value) negative.closest("details")?.setAttribute("open", "");
  const sourceField = form.querySelector("input[name=source]");
  if (sourceField) sourceField.value = source;
  const presetField = form.querySelector("select[name=preset]");
  if (presetField && preset !== null) {
    presetField.value = preset;
    presetField.dispatchEvent(new Event("change"));
  }
  for (const field of [prompt, negative]) field.dispatchEvent(new Event("input"));
  prompt.focus();
};

const startRecall = (form) => {
  const prompt = form.querySelector("textarea[name=prompt]");
  const details = form.querySelector("[data-recall]");
  if (!prompt || !details) return;
  details.hidden = false;
  let step = -1;
  let stepping = false;
  prompt.addEventListener("input", () => {
    if (!stepping) step = -1;
  });
  prompt.addEventListener("keydown", async (event) => {
    if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
    // Only in an empty prompt, or while stepping through the recalled ones.
    if (prompt.value && step < 0) return;
    const { recent } = await loadRecall(form);
    if (!recent.length) return;
    event.preventDefault();
    step = event.key === "ArrowUp" ? Math.min(step + 1, recent.length - 1) : step - 1;
    stepping = true;
    if (step < 0) fill(form, { prompt: "", negative_prompt: "" });
    else fill(form, recent[step]);
    stepping = false;
  });
  details.addEventListener("toggle", async () => {
    if (!details.open) return;
    const list = details.querySelector("[data-recall-list]");
    const { recent, starred } = await loadRecall(form);
    list.replaceChildren();
    for (const [title, entries] of [[gettext("Recent"), recent], [gettext("Starred"), starred]]) {
      if (!entries.length) continue;
      const head = document.createElement("li");
      head.className = "recall-head";
      head.textContent = title;
      list.append(head);
      for (const entry of entries) {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = entry.prompt;
        button.title = entry.prompt;
        button.addEventListener("click", () => {
          fill(form, entry);
          details.open = false;
        });
        item.append(button);
        list.append(item);
      }
    }
    if (!list.children.length) {
      const none = document.createElement("li");
      none.className = "recall-head";
      none.textContent = gettext("No prompts yet");
      list.append(none);
    }
  });
};

// "Edit prompt" on an image (its page in the viewer over the grid): fill the composer here
// instead of opening a new page; the link to the source image is kept, as a remix.
const startEditPrompt = (form) => {
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-edit-prompt]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    // Closed the viewer's own way (it restores the grid's URL and scroll).
    const close = document.querySelector("dialog[open] [data-lb=close]");
    if (close) close.click();
    else document.querySelector("dialog[open]")?.close();
    const { prompt, negative, source, preset } = link.dataset;
    fill(form, { prompt, negative_prompt: negative }, source, preset || "");
    form.scrollIntoView({ block: "nearest" });
  });
};

// The chosen style's example image beside the Style select (its options carry the URLs).
const startStyleExample = (form) => {
  const select = form.querySelector("select[name=preset]");
  const image = form.querySelector("[data-style-example]");
  if (!select || !image) return;
  const show = () => {
    const option = select.selectedOptions[0];
    const url = option?.dataset.example;
    image.hidden = !url;
    if (!url) {
      image.removeAttribute("src");
      image.removeAttribute("srcset");
      image.alt = "";
      return;
    }
    image.srcset = `${url} 1x, ${option.dataset.example2x || url} 2x`;
    image.src = url;
    image.alt = interpolate(gettext("Example of the %(name)s style"), { name: option.textContent.trim() }, true);
  };
  select.addEventListener("change", show);
  show();
};

export const startComposer = () => {
  document.addEventListener("DOMContentLoaded", () => {
    // Live character counters next to the prompt limits.
    for (const field of document.querySelectorAll("textarea[maxlength]")) {
      const limit = field.closest(".field")?.querySelector(".limit");
      if (!limit) continue;
      const max = field.getAttribute("maxlength");
      const update = () => {
        limit.textContent = `${field.value.length} / ${max}`;
      };
      field.addEventListener("input", update);
      if (field.value) update();
    }
    for (const form of document.querySelectorAll("form.composer")) {
      const inPlace = form.hasAttribute("data-composer") && document.getElementById("grid");
      if (form.hasAttribute("data-composer")) {
        startRecall(form);
        startEditPrompt(form);
        startStyleExample(form);
      }
      form.addEventListener("submit", (event) => {
        if (inPlace) {
          event.preventDefault();
          if (!form.querySelector("button[type=submit]").disabled) submitInPlace(form);
          return;
        }
        // One click, one submission: disable the button once the form is on its way.
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        button.classList.add("is-busy");
      });
      for (const field of form.querySelectorAll("textarea")) {
        field.addEventListener("input", () => grow(field));
        if (field.value) grow(field);
        // Ctrl/Cmd+Enter in a prompt submits it.
        field.addEventListener("keydown", (event) => {
          if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
            event.preventDefault();
            form.requestSubmit();
          }
        });
      }
    }
  });
};
