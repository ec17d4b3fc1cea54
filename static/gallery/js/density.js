// The grid's tile size (small, medium, large): a data attribute on <html> that app.css turns
// into the grid's column width, remembered in this browser (theme-early.js applies it early).
const root = document.documentElement;
const SIZES = ["small", "medium", "large"];

const paint = () => {
  const current = root.dataset.density || "medium";
  for (const button of document.querySelectorAll("[data-density-control] [data-density]")) {
    button.setAttribute("aria-pressed", String(button.dataset.density === current));
  }
};

export const startDensity = () => {
  document.addEventListener("DOMContentLoaded", paint);
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-density-control] [data-density]");
    if (!button || !SIZES.includes(button.dataset.density)) return;
    const size = button.dataset.density;
    if (size === "medium") delete root.dataset.density;
    else root.dataset.density = size;
    try {
      localStorage.setItem("density", size);
    } catch {
      /* applied, not remembered */
    }
    paint();
    // Smaller tiles may bring the "Older images" link on screen: let infinite scroll look.
    window.dispatchEvent(new Event("scroll"));
  });
};
