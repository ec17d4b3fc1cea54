// "Add to collection" (templates/gallery/_collect.html): the first time a picker opens, its
// panel loads the user's collections through htmx; Esc or a click outside closes it. Works
// for pickers added later (grid pages, the viewer), since every listener is delegated.
const load = (picker) => {
  const panel = picker.querySelector("[data-collect-panel]");
  if (!panel || panel.dataset.loaded || !window.htmx) return;
  panel.dataset.loaded = "1";
  const next = encodeURIComponent(location.pathname + location.search);
  htmx.ajax("GET", `${picker.dataset.collect}?next=${next}`, { target: panel, swap: "innerHTML" });
};

const closeAll = (except) => {
  for (const open of document.querySelectorAll("details[data-collect][open]")) {
    if (open !== except) open.open = false;
  }
};

export const startCollect = () => {
  // "toggle" does not bubble: listen in the capture phase.
  document.addEventListener(
    "toggle",
    (event) => {
      const picker = event.target;
      if (!(picker instanceof HTMLDetailsElement) || !picker.matches("[data-collect]")) return;
      if (picker.open) {
        closeAll(picker);
        load(picker);
        // Open leftwards where the panel would leave the screen on the right.
        picker.classList.remove("collect-flip");
        const panel = picker.querySelector("[data-collect-panel]");
        const box = panel?.getBoundingClientRect();
        if (box && box.right > document.documentElement.clientWidth - 8) {
          picker.classList.add("collect-flip");
        }
      }
    },
    true,
  );
  document.addEventListener("click", (event) => {
    if (!event.target.closest("details[data-collect]")) closeAll(null);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    // The focused picker, or the one left open (focus is lost when its panel is swapped).
    const open =
      document.activeElement?.closest?.("details[data-collect][open]") ||
      document.querySelector("details[data-collect][open]");
    if (!open) return;
    // Close the picker only, not the viewer around it.
    event.preventDefault();
    event.stopPropagation();
    open.open = false;
    open.querySelector("summary")?.focus();
  }, true);
};
