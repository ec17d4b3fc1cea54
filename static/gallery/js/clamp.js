/* global pgettext */ // from the JavaScript catalog (/jsi18n/, loaded first)
// Long prompts: clamped to a few lines with a "more" button that shows the rest, so a long
// prompt never pushes the actions off the screen. The button appears only where text is cut.
import { fromTemplate } from "./dom.js";

export const clampPrompts = (scope) => {
  for (const text of scope.querySelectorAll(".info .prompt:not([data-clamped])")) {
    text.dataset.clamped = "";
    text.classList.add("is-clamped");
    if (text.scrollHeight <= text.clientHeight + 1) {
      text.classList.remove("is-clamped"); // short enough: nothing to hide
      continue;
    }
    const more = fromTemplate("more-template");
    more.setAttribute("aria-controls", text.id);
    more.addEventListener("click", () => {
      const open = text.classList.toggle("is-clamped") === false;
      more.setAttribute("aria-expanded", String(open));
      more.textContent = open ? pgettext("long prompt", "less") : pgettext("long prompt", "more");
    });
    // Right under the text; below the whole row where the copy button sits beside it.
    const row = text.closest(".prompt-row");
    const beside = row && getComputedStyle(row).flexDirection === "row";
    (beside ? row : text).after(more);
  }
};
