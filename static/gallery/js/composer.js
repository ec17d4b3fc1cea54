// The prompt form: character counters, one generation per click, Ctrl/Cmd+Enter.
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
    // One click, one generation: disable the button once the form is on its way.
    for (const form of document.querySelectorAll("form.composer")) {
      form.addEventListener("submit", () => {
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        button.classList.add("is-busy");
      });
    }
    // Ctrl/Cmd+Enter in a prompt submits it.
    for (const field of document.querySelectorAll("form.composer textarea")) {
      field.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          field.form.requestSubmit();
        }
      });
    }
  });
};
