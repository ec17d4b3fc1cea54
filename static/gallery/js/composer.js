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
      error.textContent = errors.join(" ") || "The images could not be queued.";
      error.hidden = false;
      return;
    }
    error.hidden = true;
    addTiles(data.items);
    const quota = form.querySelector("[data-testid=quota]");
    if (quota && data.quota) quota.textContent = data.quota;
    const count = data.items.length;
    message.textContent =
      data.message || `${count} image${count === 1 ? "" : "s"} queued.`;
    document.dispatchEvent(new CustomEvent("gallery:submitted", { detail: { form } }));
  } catch {
    error.textContent = "The server could not be reached. Try again in a moment.";
    error.hidden = false;
  } finally {
    button.disabled = false;
    button.classList.remove("is-busy");
  }
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
