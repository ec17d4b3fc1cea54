// Keys: "?" shows the shortcuts; in the viewer ←/→ step through the grid, I shows or hides
// the info and Z toggles 100%; on a detail page
// they follow the page's rel=prev/next links and Esc its rel=up (or the gallery).
import { fromTemplate, isTyping } from "./dom.js";
import { lightboxIsOpen, step, toggleInfo, zoomLightbox } from "./lightbox.js";

let shortcuts = null;

const showShortcuts = () => {
  if (!shortcuts) {
    shortcuts = fromTemplate("shortcuts-template");
    document.body.append(shortcuts);
  }
  if (!shortcuts.open) shortcuts.showModal();
};

const follow = (selector) => {
  const link = document.querySelector(selector);
  if (link) window.location.href = link.href;
  return Boolean(link);
};

export const startShortcuts = () => {
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTyping(event.target)) return;
    if (event.key === "?") {
      event.preventDefault();
      showShortcuts();
      return;
    }
    if (shortcuts?.open) return;
    if (lightboxIsOpen()) {
      if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        event.preventDefault();
        step(event.key === "ArrowLeft" ? -1 : 1);
      } else if (event.key === "i" || event.key === "I") {
        event.preventDefault();
        toggleInfo();
      } else if (event.key === "z" || event.key === "Z") {
        event.preventDefault();
        zoomLightbox();
      }
      return;
    }
    if (!document.querySelector("main #detail")) return;
    if (event.key === "ArrowLeft") follow("a[rel~=prev]");
    else if (event.key === "ArrowRight") follow("a[rel~=next]");
    else if (event.key === "Escape" && !document.querySelector("dialog[open]")) {
      if (!follow("a[rel~=up]")) window.location.href = "/";
    }
  });
};
