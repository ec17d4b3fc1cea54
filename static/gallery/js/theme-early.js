// A classic script, render-blocking in <head> on purpose: it applies the remembered theme
// before the first paint, so a page never flashes the other one. A module script always runs
// after parsing, too late for that. No choice remembered: follow the system
// (prefers-color-scheme in app.css).
(() => {
  try {
    const theme = localStorage.getItem("theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch {
    /* storage blocked: follow the system */
  }
})();
