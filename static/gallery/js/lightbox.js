/* global gettext, interpolate */ // from the JavaScript catalog (/jsi18n/, loaded first)
// The viewer (lightbox): a tile opens its image over the grid, fitted to the screen, with
// its info panel beside it; the URL follows the image, ←/→ (or a swipe) walk the grid's
// tiles (loading the next page at the end), Esc returns to the grid where it was. Zoom and
// panning live in stage.js. Without JavaScript a tile is an ordinary link to the detail page.
import { clampPrompts } from "./clamp.js";
import { enhance, fromTemplate, parseFragment } from "./dom.js";
import { attachStage, resetStage, toggleZoom } from "./stage.js";

const root = document.documentElement;
const box = { dialog: null, body: null, tile: null, scrollY: 0, pushed: false };

export const lightboxIsOpen = () => Boolean(box.dialog?.open);

// The info panel's choice (shown or hidden) is remembered in this browser.
const INFO_KEY = "viewer-info";
const infoShown = () => {
  try {
    return localStorage.getItem(INFO_KEY) !== "hidden";
  } catch {
    return true;
  }
};

export const toggleInfo = () => {
  if (!box.dialog) return;
  const show = box.dialog.classList.contains("info-hidden");
  box.dialog.classList.toggle("info-hidden", !show);
  box.dialog.querySelector("[data-lb=info]").setAttribute("aria-pressed", String(show));
  try {
    localStorage.setItem(INFO_KEY, show ? "shown" : "hidden");
  } catch {
    /* applied, not remembered */
  }
};

export const zoomLightbox = () => {
  if (box.dialog?.open) toggleZoom(box.dialog);
};

const toast = (text) => {
  const line = box.dialog.querySelector("[data-lb-toast]");
  line.textContent = text;
  clearTimeout(box.toastTimer);
  box.toastTimer = setTimeout(() => (line.textContent = ""), 2500);
};

// The image as PNG (what clipboards take), made from the original the link points at.
const copyImage = async () => {
  const link = box.body.querySelector(".artwork a[href]");
  if (!link || !navigator.clipboard?.write || !window.ClipboardItem) {
    toast(gettext("This browser cannot copy images; use Download original."));
    return;
  }
  const png = (async () => {
    const response = await fetch(link.href);
    if (!response.ok) throw new Error(String(response.status));
    const bitmap = await createImageBitmap(await response.blob());
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    canvas.getContext("2d").drawImage(bitmap, 0, 0);
    return canvas.convertToBlob({ type: "image/png" });
  })();
  try {
    // The promise goes in as it is: the clipboard is asked while the click still counts.
    await navigator.clipboard.write([new ClipboardItem({ "image/png": png })]);
    toast(gettext("Image copied to the clipboard."));
  } catch {
    toast(gettext("The image could not be copied."));
  }
};

const buildDialog = () => {
  const dialog = fromTemplate("lightbox-template");
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
    if (action === "info") toggleInfo();
    if (action === "zoom") toggleZoom(dialog);
    if (action === "copy-image") copyImage();
  });
  attachStage(dialog, { onSwipe: step });
  if (!infoShown()) {
    dialog.classList.add("info-hidden");
    dialog.querySelector("[data-lb=info]").setAttribute("aria-pressed", "false");
  }
  document.body.append(dialog);
  box.dialog = dialog;
  box.body = dialog.querySelector(".lightbox-body");
};

const tiles = () => [...document.querySelectorAll("#grid a[data-lightbox]")];

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
  if (art && thumb) {
    art.style.transform = ""; // the next image starts fitted
    art.removeAttribute("srcset");
    art.src = thumb.currentSrc || thumb.src; // instant feedback on ←/→
  }
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
  resetStage();
  box.body.replaceChildren(parseFragment(html, box.body));
  if (window.htmx) htmx.process(box.body);
  enhance(box.body);
  box.dialog.classList.remove("is-loading");
  const heading = box.body.querySelector(".prompt");
  if (heading) box.dialog.setAttribute("aria-labelledby", heading.id);
  box.dialog.querySelector("[data-lb=page]").href = tile.href;
  const index = tiles().indexOf(tile);
  const more = Boolean(document.querySelector("#more a[href]"));
  const prev = box.dialog.querySelector("[data-lb=prev]");
  const next = box.dialog.querySelector("[data-lb=next]");
  const focused = document.activeElement;
  prev.disabled = index <= 0;
  next.disabled = index === tiles().length - 1 && !more;
  // "12 of 40", or "12 of 40+" while the grid has more pages to load.
  const position = interpolate(
    gettext("%(index)s of %(total)s"),
    { index: index + 1, total: `${tiles().length}${more ? "+" : ""}` },
    true,
  );
  box.dialog.querySelector("[data-lb-position]").textContent = position;
  box.dialog.querySelector("[data-lb-status]").textContent =
    interpolate(gettext("Image %(position)s: %(heading)s"), { position, heading: heading ? heading.textContent : "" }, true);
  if (first) {
    root.classList.add("has-lightbox");
    box.dialog.showModal();
  }
  clampPrompts(box.body);
  // Focus goes to Close when the content that held it was replaced, or when the ←/→
  // button that held it is now disabled (the first or last image).
  if (first || hadFocus || focused?.disabled) box.dialog.querySelector("[data-lb=close]").focus();
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
  resetStage();
  box.body.replaceChildren();
  root.classList.remove("has-lightbox");
  window.scrollTo(0, box.scrollY);
  box.tile?.focus({ preventScroll: true });
  if (box.pushed && !fromHistory) {
    // Going back to an address with a fragment (#main after the skip link) can move the
    // focus and the scroll: put both back when it lands (popstate below).
    box.refocus = box.tile;
    history.back();
  }
  box.pushed = false;
};

// The grid's links are relative to the grid's URL, while the address bar shows an image's:
// resolve them against the grid, for our own requests and for htmx's infinite scroll.
const gridUrl = (path) => new URL(path, box.gridUrl || window.location.href).href;

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
  const page = parseFragment(await response.text(), more.parentElement);
  const added = [...page.children];
  more.replaceWith(page);
  if (window.htmx) for (const node of added) htmx.process(node);
  return true;
};

// ←/→ in the lightbox: the previous or next tile, loading the grid's next page at its end.
export const step = async (delta) => {
  if (!box.tile) return;
  let list = tiles();
  const index = list.indexOf(box.tile) + delta;
  if (index < 0) return;
  if (index >= list.length) {
    if (!(await loadMore())) return;
    list = tiles();
  }
  if (list[index]) openLightbox(list[index], { push: false });
};

export const startLightbox = () => {
  // A star toggled in the overlay is mirrored on its tile.
  document.addEventListener("htmx:afterSwap", () => {
    if (!box.dialog?.open || !box.tile) return;
    const pressed = box.body.querySelector(".star-detail .star")?.getAttribute("aria-pressed");
    const tileStar = box.tile.closest(".tile")?.querySelector(".star");
    if (!tileStar || !pressed) return;
    tileStar.setAttribute("aria-pressed", pressed);
    tileStar.classList.toggle("is-starred", pressed === "true");
    tileStar.title = pressed === "true" ? gettext("Starred: click to unstar") : gettext("Star this image");
  });

  document.addEventListener("htmx:configRequest", (event) => {
    if (box.dialog?.open && event.detail.elt.closest?.("#grid")) {
      event.detail.path = gridUrl(event.detail.path);
    }
  });

  document.addEventListener("click", (event) => {
    const tile = event.target.closest("a[data-lightbox]");
    const modified = event.metaKey || event.ctrlKey || event.shiftKey || event.altKey;
    if (!tile || event.button !== 0 || modified) return;
    event.preventDefault();
    openLightbox(tile, { push: true });
  });

  window.addEventListener("popstate", (event) => {
    const state = event.state;
    if (box.refocus && !state?.lightbox) {
      const tile = box.refocus;
      const scrollY = box.scrollY;
      box.refocus = null;
      // The browser focuses a fragment's target after this event (and before hashchange).
      const restore = () => {
        tile.focus({ preventScroll: true });
        window.scrollTo(0, scrollY);
      };
      restore();
      requestAnimationFrame(restore);
      window.addEventListener("hashchange", restore, { once: true });
      setTimeout(() => window.removeEventListener("hashchange", restore), 500);
      return;
    }
    box.refocus = null;
    if (box.dialog?.open && !state?.lightbox) {
      closeLightbox({ fromHistory: true });
    } else if (state?.lightbox && !box.dialog?.open) {
      const tile = tiles().find((a) => a.href === state.lightbox);
      if (tile) openLightbox(tile, { push: false }).then(() => (box.pushed = true));
      else window.location.reload();
    }
  });
};
