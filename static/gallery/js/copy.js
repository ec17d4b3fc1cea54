/* global gettext, interpolate */ // from the JavaScript catalog (/jsi18n/, loaded first)
// Copy buttons ([data-copy]): a prompt, a negative prompt, a new API token.

// The Clipboard API, else a selected textarea and execCommand; false if neither worked.
const copyText = async (text, near) => {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      /* fall through */
    }
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "copy-buffer";
  near.after(area); // inside any open modal dialog, where the page outside is inert
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
};

export const startCopy = () => {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const label = button.querySelector(".copy-label");
    const status = button.closest(".info, [data-copy-scope]")?.querySelector(".copy-status");
    const original = label.dataset.text || label.textContent;
    label.dataset.text = original;
    const ok = await copyText(button.dataset.copy, button);
    if (ok) {
      label.textContent = gettext("Copied");
      button.classList.add("is-done");
      if (status) status.textContent = gettext("Copied to the clipboard.");
    } else {
      // Neither way worked: select the text and ask the user to press Ctrl+C.
      const text = button.parentElement.querySelector(".prompt, .negative-text, [data-copy-source]");
      if (text) getSelection().selectAllChildren(text);
      if (status) status.textContent = gettext("Press Ctrl+C (or ⌘C) to copy the selected text.");
    }
    setTimeout(() => {
      label.textContent = original;
      button.classList.remove("is-done");
      if (status) status.textContent = "";
    }, 2000);
  });
};
