// A tile's ⋯ menu (gallery/templatetags/tiles.py: on the gallery's and a collection's
// tiles and on My history's rows): one dialog a page, whose body is loaded from the server
// when it opens (templates/gallery/_tile_menu.html). That body is the detail page's own
// markup, so Edit prompt (composer.js), Copy prompt (copy.js), Add to collection
// (collect.js) and More like this (a plain form) run as they do there; Open follows the
// tile's own link (into the viewer on the gallery). Keyboard: Shift+F10 or the menu key on a
// focused tile (the button stays out of the tab order, one stop a tile); Esc closes it and
// focus goes back to the tile. A popover by the button; a bottom sheet on a phone (app.css).
import { fromTemplate } from "./dom.js";

// What carries a ⋯ button: a grid tile or a row of My history.
const ITEM = ":is(.tile, .history-row)";

let dialog = null;
let tileLink = null;
let keyboardAt = 0;

const menu = () => {
  if (!dialog) {
    dialog = fromTemplate("tile-menu-template");
    document.body.append(dialog);
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close(); // the backdrop
    });
    dialog.addEventListener("close", () => {
      dialog.replaceChildren(...fromTemplate("tile-menu-template").childNodes);
      if (tileLink?.isConnected && !document.querySelector("dialog[open]")) tileLink.focus();
    });
  }
  return dialog;
};

// Below the button, or above it where the screen ends; never past the right edge. (The
// phone's sheet ignores these.)
const place = (box, button) => {
  const at = button.getBoundingClientRect();
  let top = at.bottom + 6;
  if (top + box.offsetHeight > innerHeight - 8) top = Math.max(8, at.top - 6 - box.offsetHeight);
  box.style.setProperty("--menu-top", `${top}px`);
  box.style.setProperty("--menu-left", `${Math.max(8, Math.min(at.right - box.offsetWidth, innerWidth - box.offsetWidth - 8))}px`);
};

const openMenu = (tile) => {
  const grid = tile.closest("[data-tile-menu-url]");
  const button = tile.querySelector("[data-tile-menu]");
  if (!grid || !button || !window.htmx) return;
  const box = menu();
  tileLink = tile.querySelector("a:not([tabindex])"); // a history row's thumbnail is out of the tab order
  if (!box.open) box.showModal();
  place(box, button);
  const url = grid.dataset.tileMenuUrl.replace("ID", tile.id.slice(2));
  htmx.ajax("GET", url, { target: box, swap: "innerHTML" }).then(() => {
    place(box, button);
    box.querySelector("a, button, select, summary")?.focus();
  });
};

export const startTileMenu = () => {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-tile-menu]");
    if (button) {
      event.preventDefault();
      openMenu(button.closest(ITEM));
      return;
    }
    const open = event.target.closest("#tile-menu [data-tile-open]");
    const modified = event.metaKey || event.ctrlKey || event.shiftKey || event.altKey;
    if (open && !modified && tileLink?.isConnected) {
      event.preventDefault();
      const link = tileLink;
      dialog.close();
      link.click(); // the viewer, as a click on the tile opens it
    }
  });
  document.addEventListener("keydown", (event) => {
    const menuKey = event.key === "ContextMenu" || (event.shiftKey && event.key === "F10");
    const tile = document.activeElement?.closest?.(`[data-tile-menu-url] ${ITEM}`);
    if (!menuKey || !tile?.querySelector("[data-tile-menu]")) return;
    event.preventDefault();
    keyboardAt = Date.now();
    openMenu(tile);
  });
  // The menu key also sends a contextmenu event: the browser's own menu stays closed.
  document.addEventListener("contextmenu", (event) => {
    if (Date.now() - keyboardAt < 500) event.preventDefault();
  });
};
