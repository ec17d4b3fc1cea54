// A classic script, render-blocking in <head> on purpose: it applies the remembered theme
// and tile size before the first paint, so a page never flashes the other one. A module
// script always runs after parsing, too late for that. No theme remembered: follow the system
// (prefers-color-scheme in app.css).
(() => {
  const root = document.documentElement;
  root.classList.add("js"); // styles that only make sense with the scripts (the phone menu)
  try {
    const theme = localStorage.getItem("theme");
    if (theme === "light" || theme === "dark") root.dataset.theme = theme;
    const density = localStorage.getItem("density");
    if (density === "small" || density === "large") root.dataset.density = density;
  } catch {
    /* storage blocked: follow the system, medium tiles */
  }
})();
