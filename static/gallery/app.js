// Small progressive enhancements; every page works without them.
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

// --- Detail view, lightbox, shortcuts, theme, history (progressive enhancement) -----------
(() => {
  const root = document.documentElement;
  const isTyping = (el) =>
    el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));

  // Controls that only work with JavaScript are rendered hidden and revealed here.
  const enhance = (scope) => {
    for (const el of scope.querySelectorAll("[data-copy][hidden], [data-theme-toggle][hidden]")) {
      el.hidden = false;
    }
  };
  document.addEventListener("DOMContentLoaded", () => enhance(document));

  // A page answering a POST with something shown once (a new API token): make this history
  // entry a plain GET, so that reloading shows the page without it instead of posting again.
  document.addEventListener("DOMContentLoaded", () => {
    if (document.querySelector("[data-forget-post]")) history.replaceState(null, "", location.href);
  });
  document.addEventListener("htmx:load", (event) => enhance(event.target));

  // Theme: follows the system until the user picks one; the pick is remembered.
  const effectiveTheme = () =>
    root.dataset.theme ||
    (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
  const paintToggle = () => {
    const dark = effectiveTheme() === "dark";
    for (const button of document.querySelectorAll("[data-theme-toggle]")) {
      button.setAttribute("aria-pressed", String(dark));
      button.title = dark ? "Switch to the light theme" : "Switch to the dark theme";
    }
  };
  document.addEventListener("DOMContentLoaded", paintToggle);
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", paintToggle);
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

  // Copy a prompt: the Clipboard API, else a selected textarea and execCommand, else ask
  // the user to press Ctrl+C on the selected text.
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
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const label = button.querySelector(".copy-label");
    const status = button.closest(".info, [data-copy-scope]")?.querySelector(".copy-status");
    const original = label.dataset.text || label.textContent;
    label.dataset.text = original;
    const ok = await copyText(button.dataset.copy, button);
    if (ok) {
      label.textContent = "Copied";
      button.classList.add("is-done");
      if (status) status.textContent = "Copied to the clipboard.";
    } else {
      const text = button.parentElement.querySelector(".prompt, .negative-text, [data-copy-source]");
      if (text) getSelection().selectAllChildren(text);
      if (status) status.textContent = "Press Ctrl+C (or ⌘C) to copy the selected text.";
    }
    setTimeout(() => {
      label.textContent = original;
      button.classList.remove("is-done");
      if (status) status.textContent = "";
    }, 2000);
  });

  // Keyboard shortcuts help, on "?".
  let shortcuts = null;
  const showShortcuts = () => {
    if (!shortcuts) {
      shortcuts = document.createElement("dialog");
      shortcuts.className = "modal shortcuts";
      shortcuts.setAttribute("aria-labelledby", "shortcuts-title");
      shortcuts.innerHTML = `
        <h2 id="shortcuts-title">Keyboard shortcuts</h2>
        <dl>
          <dt><kbd>←</kbd> <kbd>→</kbd></dt><dd>Previous / next image</dd>
          <dt><kbd>Esc</kbd></dt><dd>Close the image, back to the gallery</dd>
          <dt><kbd>?</kbd></dt><dd>Show this help</dd>
          <dt><kbd>Ctrl</kbd> <kbd>Enter</kbd></dt><dd>Generate, while typing a prompt</dd>
        </dl>
        <form method="dialog"><button class="button" type="submit">Close</button></form>`;
      document.body.append(shortcuts);
    }
    if (!shortcuts.open) shortcuts.showModal();
  };

  // The lightbox: a tile opens its detail in a modal dialog over the grid; the URL follows
  // the image, ←/→ walk the grid's tiles (loading the next page at the end), Esc returns to
  // the grid where it was. Without JavaScript a tile is an ordinary link to the detail page.
  const box = { dialog: null, body: null, tile: null, scrollY: 0, pushed: false };

  const buildDialog = () => {
    const dialog = document.createElement("dialog");
    dialog.className = "lightbox";
    dialog.innerHTML = `
      <div class="lightbox-bar">
        <button type="button" class="icon-button" data-lb="prev" aria-label="Previous image">
          <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M15.4 5.4 14 4l-8 8 8 8 1.4-1.4L8.8 12z"/></svg></button>
        <button type="button" class="icon-button" data-lb="next" aria-label="Next image">
          <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M8.6 5.4 10 4l8 8-8 8-1.4-1.4 6.6-6.6z"/></svg></button>
        <a class="lightbox-open" data-lb="page" href="#">Open page</a>
        <button type="button" class="icon-button" data-lb="close" aria-label="Close (Esc)">
          <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z"/></svg></button>
      </div>
      <p class="visually-hidden" aria-live="polite" data-lb-status></p>
      <div class="lightbox-body"></div>`;
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault(); // our close restores history and scroll
      closeLightbox();
    });
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) return closeLightbox(); // the backdrop
      const action = event.target.closest("[data-lb]")?.dataset.lb;
      if (action === "close") closeLightbox();
      if (action === "prev") step(-1);
      if (action === "next") step(1);
    });
    document.body.append(dialog);
    box.dialog = dialog;
    box.body = dialog.querySelector(".lightbox-body");
  };

  const tiles = () => [...document.querySelectorAll("#grid a[data-lightbox]")];

  // A star toggled in the overlay is mirrored on its tile.
  document.addEventListener("htmx:afterSwap", () => {
    if (!box.dialog?.open || !box.tile) return;
    const pressed = box.body.querySelector(".star-detail .star")?.getAttribute("aria-pressed");
    const tileStar = box.tile.closest(".tile")?.querySelector(".star");
    if (!tileStar || !pressed) return;
    tileStar.setAttribute("aria-pressed", pressed);
    tileStar.classList.toggle("is-starred", pressed === "true");
    tileStar.title = pressed === "true" ? "Starred: click to unstar" : "Star this image";
  });

  const openLightbox = async (tile, { push }) => {
    if (!box.dialog) buildDialog();
    const first = !box.dialog.open;
    if (first) {
      box.scrollY = window.scrollY;
      box.gridUrl = window.location.href;
    }
    box.tile = tile;
    box.dialog.classList.add("is-loading");
    const art = box.body.querySelector(".artwork img");
    const thumb = tile.querySelector("img");
    if (art && thumb) art.src = thumb.currentSrc || thumb.src; // instant feedback on ←/→
    let html;
    try {
      // The live status fragment of the tile's page: /g/<id>/status.
      const fragment = new URL("status", tile.href).pathname;
      const response = await fetch(fragment, { headers: { "HX-Request": "true" } });
      if (!response.ok) throw new Error(String(response.status));
      html = await response.text();
    } catch {
      window.location.href = tile.href; // the ordinary page says what went wrong
      return;
    }
    if (box.tile !== tile) return; // a later step overtook this one
    const hadFocus = box.body.contains(document.activeElement);
    box.body.innerHTML = html;
    if (window.htmx) htmx.process(box.body);
    enhance(box.body);
    box.dialog.classList.remove("is-loading");
    const heading = box.body.querySelector(".prompt");
    if (heading) box.dialog.setAttribute("aria-labelledby", heading.id);
    box.dialog.querySelector("[data-lb=page]").href = tile.href;
    const index = tiles().indexOf(tile);
    box.dialog.querySelector("[data-lb=prev]").disabled = index <= 0;
    box.dialog.querySelector("[data-lb=next]").disabled =
      index === tiles().length - 1 && !document.querySelector("#more a[href]");
    box.dialog.querySelector("[data-lb-status]").textContent =
      `Image ${index + 1} of ${tiles().length}: ${heading ? heading.textContent : ""}`;
    if (first) {
      root.classList.add("has-lightbox");
      box.dialog.showModal();
    }
    if (first || hadFocus) box.dialog.querySelector("[data-lb=close]").focus();
    if (push) {
      history.pushState({ lightbox: tile.href, scrollY: box.scrollY }, "", tile.href);
      box.pushed = true;
    } else if (box.pushed) {
      history.replaceState({ lightbox: tile.href, scrollY: box.scrollY }, "", tile.href);
    }
  };

  const closeLightbox = ({ fromHistory = false } = {}) => {
    if (!box.dialog?.open) return;
    box.dialog.close();
    box.body.innerHTML = "";
    root.classList.remove("has-lightbox");
    window.scrollTo(0, box.scrollY);
    box.tile?.focus({ preventScroll: true });
    if (box.pushed && !fromHistory) history.back();
    box.pushed = false;
  };

  // The grid's links are relative to the grid's URL, while the address bar shows an image's:
  // resolve them against the grid, for our own requests and for htmx's infinite scroll.
  const gridUrl = (path) => new URL(path, box.gridUrl || window.location.href).href;
  document.addEventListener("htmx:configRequest", (event) => {
    if (box.dialog?.open && event.detail.elt.closest?.("#grid")) {
      event.detail.path = gridUrl(event.detail.path);
    }
  });

  const loadMore = async () => {
    const more = document.querySelector("#more");
    const link = more?.querySelector("a[href]");
    if (!link) return false;
    if (more.querySelector(".htmx-request") || more.classList.contains("htmx-request")) {
      // Infinite scroll is already fetching it.
      await new Promise((resolve) =>
        document.addEventListener("htmx:afterSettle", resolve, { once: true }),
      );
      return true;
    }
    const response = await fetch(gridUrl(link.getAttribute("href")), {
      headers: { "HX-Request": "true" },
    });
    if (!response.ok) return false;
    const template = document.createElement("template");
    template.innerHTML = await response.text();
    const added = [...template.content.children];
    more.replaceWith(template.content);
    if (window.htmx) for (const node of added) htmx.process(node);
    return true;
  };

  const step = async (delta) => {
    if (!box.tile) return;
    let list = tiles();
    let index = list.indexOf(box.tile) + delta;
    if (index < 0) return;
    if (index >= list.length) {
      if (!(await loadMore())) return;
      list = tiles();
    }
    if (list[index]) openLightbox(list[index], { push: false });
  };

  document.addEventListener("click", (event) => {
    const tile = event.target.closest("a[data-lightbox]");
    if (!tile || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey)
      return;
    event.preventDefault();
    openLightbox(tile, { push: true });
  });

  window.addEventListener("popstate", (event) => {
    const state = event.state;
    if (box.dialog?.open && !state?.lightbox) {
      closeLightbox({ fromHistory: true });
    } else if (state?.lightbox && !box.dialog?.open) {
      const tile = tiles().find((a) => a.href === state.lightbox);
      if (tile) openLightbox(tile, { push: false }).then(() => (box.pushed = true));
      else window.location.reload();
    }
  });

  // Keys: in the lightbox ←/→ step through the grid; on a detail page they follow the
  // page's rel=prev/next links and Esc its rel=up (or the gallery).
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTyping(event.target)) return;
    if (event.key === "?") {
      event.preventDefault();
      showShortcuts();
      return;
    }
    if (shortcuts?.open) return;
    if (box.dialog?.open) {
      if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        event.preventDefault();
        step(event.key === "ArrowLeft" ? -1 : 1);
      }
      return;
    }
    if (!document.querySelector("main #detail")) return;
    const follow = (selector) => {
      const link = document.querySelector(selector);
      if (link) window.location.href = link.href;
      return Boolean(link);
    };
    if (event.key === "ArrowLeft") follow("a[rel~=prev]");
    else if (event.key === "ArrowRight") follow("a[rel~=next]");
    else if (event.key === "Escape" && !document.querySelector("dialog[open]")) {
      if (!follow("a[rel~=up]")) window.location.href = "/";
    }
  });

  // History: select all on the page, a live count, and a confirmation before deleting.
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
    form.querySelector("[data-selected-count]").textContent = count ? `${count} selected` : "";
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });
})();
