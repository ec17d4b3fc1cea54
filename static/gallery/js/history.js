/* global ngettext, interpolate */ // from the JavaScript catalog (/jsi18n/, loaded first)
// The history page: select all on the page, a live count, and a confirmation before
// deleting (any button[data-confirm]).
export const startHistory = () => {
  document.addEventListener("change", (event) => {
    const form = event.target.closest(".history-form");
    if (!form) return;
    const boxes = [...form.querySelectorAll("input[name=ids]")];
    if (event.target.matches("[data-select-all]")) {
      for (const b of boxes) b.checked = event.target.checked;
    }
    const count = boxes.filter((b) => b.checked).length;
    const all = form.querySelector("[data-select-all]");
    all.checked = count === boxes.length;
    all.indeterminate = count > 0 && count < boxes.length;
    form.querySelector("[data-selected-count]").textContent = count
      ? interpolate(ngettext("%(count)s selected", "%(count)s selected", count), { count }, true)
      : "";
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });
};
