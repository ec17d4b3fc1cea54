/* global gettext, interpolate */ // from the JavaScript catalog (/jsi18n/, loaded first)
// The theme toggle: follows the system until the user picks one; the pick is remembered
// (and applied before the first paint by theme-early.js).
const root = document.documentElement;
const darkScheme = matchMedia("(prefers-color-scheme: dark)");

const effectiveTheme = () => root.dataset.theme || (darkScheme.matches ? "dark" : "light");

const paintToggle = () => {
  const dark = effectiveTheme() === "dark";
  for (const button of document.querySelectorAll("[data-theme-toggle]")) {
    button.setAttribute("aria-pressed", String(dark));
    button.title = dark ? gettext("Switch to the light theme") : gettext("Switch to the dark theme");
  }
};

export const startTheme = () => {
  document.addEventListener("DOMContentLoaded", paintToggle);
  darkScheme.addEventListener("change", paintToggle);
  document.addEventListener("click", (event) => {
    if (!event.target.closest("[data-theme-toggle]")) return;
    const next = effectiveTheme() === "dark" ? "light" : "dark";
    root.dataset.theme = next;
    try {
      localStorage.setItem("theme", next);
    } catch {
      /* not remembered, still applied */
    }
    paintToggle();
  });
};
