// Runs in <head>, before the first paint: apply the remembered theme so a page never flashes
// the other one. No choice remembered: follow the system (prefers-color-scheme in app.css).
(() => {
  try {
    const theme = localStorage.getItem("theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch {
    /* storage blocked: follow the system */
  }
})();
