// The viewer's stage: the image fitted to the screen; a click, Enter or Z shows it at 100%
// (the original's pixels) and dragging pans; on touch, pinch zooms and a swipe left or right
// at the fitted size steps to the next or previous image. One transform on the <img>, so
// the browser does the drawing; every pointer kind goes through Pointer Events.

const MAX_SCALE = 8;
const SWIPE_PX = 60;

let view = null; // {img, figure, scale, x, y}: the image on the stage now and how it is shown
const pointers = new Map(); // active pointers on the stage: id -> {x, y}
let gesture = null; // what the current press is doing

const fitted = (v) => {
  // The size the fitted image is drawn at (object-fit: contain inside the figure).
  const box = v.figure.getBoundingClientRect();
  const ratio = (v.img.naturalWidth || 1) / (v.img.naturalHeight || 1);
  const width = Math.min(box.width, box.height * ratio);
  return { box, width, height: width / ratio };
};

// 100% means one pixel of the original per CSS pixel; the <img>'s width attribute is the
// original's width (its preview may be smaller until the original has loaded).
const actualScale = (v) => {
  const { width } = fitted(v);
  const full = Number(v.img.getAttribute("width")) || v.img.naturalWidth;
  return width ? Math.max(1, full / width) : 1;
};

const clampPan = (v) => {
  const { box, width, height } = fitted(v);
  const maxX = Math.max(0, (width * v.scale - box.width) / 2);
  const maxY = Math.max(0, (height * v.scale - box.height) / 2);
  v.x = Math.min(maxX, Math.max(-maxX, v.x));
  v.y = Math.min(maxY, Math.max(-maxY, v.y));
};

const paint = (v) => {
  clampPan(v);
  v.img.style.transform = v.scale === 1 ? "" : `translate(${v.x}px, ${v.y}px) scale(${v.scale})`;
  const zoomed = v.scale > 1.001;
  v.figure.classList.toggle("is-zoomed", zoomed);
  v.img.draggable = !zoomed; // dragging a zoomed image pans it instead
  v.figure.dataset.scale = v.scale.toFixed(3);
  const button = v.figure.closest("dialog")?.querySelector("[data-lb=zoom]");
  button?.setAttribute("aria-pressed", String(zoomed));
  if (zoomed) loadOriginal(v);
};

// Zoomed in, the preview is swapped for the original, so 100% shows its real pixels.
const loadOriginal = (v) => {
  const link = v.figure.querySelector("a[href]");
  if (!link || v.img.dataset.original) return;
  v.img.dataset.original = "1";
  v.img.removeAttribute("srcset");
  v.img.src = link.href;
};

const current = (root) => {
  const img = root.querySelector(".artwork img");
  if (!img) return null;
  if (view?.img !== img) view = { img, figure: img.closest(".artwork"), scale: 1, x: 0, y: 0 };
  return view;
};

// Zoom to `scale`, keeping the picture's point under (clientX, clientY) where it is.
const zoomTo = (v, scale, clientX, clientY) => {
  const next = Math.min(MAX_SCALE, Math.max(1, scale));
  const { box } = fitted(v);
  const cx = (clientX ?? box.left + box.width / 2) - (box.left + box.width / 2);
  const cy = (clientY ?? box.top + box.height / 2) - (box.top + box.height / 2);
  const ratio = next / v.scale;
  v.x = cx - (cx - v.x) * ratio;
  v.y = cy - (cy - v.y) * ratio;
  v.scale = next;
  if (next === 1) v.x = v.y = 0;
  paint(v);
};

export const toggleZoom = (root, clientX, clientY) => {
  const v = current(root);
  if (!v) return;
  if (v.scale > 1.001) zoomTo(v, 1);
  else zoomTo(v, actualScale(v), clientX, clientY);
};

export const resetStage = () => {
  view = null;
  pointers.clear();
  gesture = null;
};

const distance = () => {
  const [a, b] = [...pointers.values()];
  return Math.hypot(a.x - b.x, a.y - b.y);
};

const midpoint = () => {
  const [a, b] = [...pointers.values()];
  return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
};

// `root` is the viewer's dialog; `onSwipe(delta)` steps to the next (+1) or previous (-1).
export const attachStage = (root, { onSwipe }) => {
  root.addEventListener("pointerdown", (event) => {
    const figure = event.target.closest(".artwork");
    if (!figure || event.button > 0) return;
    const v = current(root);
    if (!v) return;
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    // A mouse on the fitted image: leave the press to the browser, so a click zooms and a
    // drag carries the image out (see dragstart).
    if (event.pointerType === "mouse" && v.scale === 1) {
      gesture = { kind: "click", startX: event.clientX, startY: event.clientY, moved: false };
      return;
    }
    figure.setPointerCapture?.(event.pointerId);
    if (pointers.size === 2) {
      gesture = { kind: "pinch", dist: distance(), scale: v.scale, moved: true };
    } else {
      gesture = {
        kind: v.scale > 1.001 ? "pan" : "swipe",
        startX: event.clientX,
        startY: event.clientY,
        x: v.x,
        y: v.y,
        moved: false,
      };
    }
  });

  root.addEventListener("pointermove", (event) => {
    if (!pointers.has(event.pointerId) || !gesture || !view) return;
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (gesture.kind === "pinch" && pointers.size === 2) {
      const mid = midpoint();
      zoomTo(view, (gesture.scale * distance()) / gesture.dist, mid.x, mid.y);
      return;
    }
    const dx = event.clientX - gesture.startX;
    const dy = event.clientY - gesture.startY;
    if (Math.hypot(dx, dy) > 6) gesture.moved = true;
    if (gesture.kind === "pan") {
      view.x = gesture.x + dx;
      view.y = gesture.y + dy;
      paint(view);
    } else if (gesture.kind === "swipe") {
      // Follow the finger a little, as photo apps do.
      view.img.style.transform = `translateX(${dx * 0.5}px)`;
    }
  });

  const release = (event) => {
    if (!pointers.has(event.pointerId)) return;
    const point = pointers.get(event.pointerId);
    pointers.delete(event.pointerId);
    if (!gesture) return;
    if (gesture.kind === "swipe" && view) {
      view.img.style.transform = "";
      const dx = point.x - gesture.startX;
      const dy = point.y - gesture.startY;
      if (event.type === "pointerup" && Math.abs(dx) > SWIPE_PX && Math.abs(dx) > Math.abs(dy)) {
        onSwipe(dx < 0 ? 1 : -1);
      } else if (event.type === "pointerup" && !gesture.moved) {
        gesture.tap = { x: point.x, y: point.y };
      }
    }
    if (gesture.kind === "pinch" && pointers.size === 1 && view) {
      // One finger left after a pinch: it pans from here.
      const [rest] = pointers.values();
      gesture = { kind: "pan", startX: rest.x, startY: rest.y, x: view.x, y: view.y, moved: true };
      return;
    }
    if (pointers.size === 0) gesture = { ...gesture, done: true };
  };
  root.addEventListener("pointerup", release);
  root.addEventListener("pointercancel", release);

  // The image is a link to the original: in the viewer a click zooms instead, unless the
  // press moved (a pan, a swipe, a pinch).
  root.addEventListener("click", (event) => {
    const figure = event.target.closest(".artwork");
    if (!figure || !figure.querySelector("img")) return;
    if (event.ctrlKey || event.metaKey || event.shiftKey) return; // the original, in a new tab
    event.preventDefault();
    const moved = gesture?.moved && gesture.kind !== "click";
    gesture = null;
    if (moved) return;
    if (event.detail === 0) toggleZoom(root); // Enter on the focused link: zoom at the centre
    else toggleZoom(root, event.clientX, event.clientY);
  });

  root.addEventListener(
    "wheel",
    (event) => {
      if (!event.target.closest(".artwork")) return;
      const v = current(root);
      if (!v) return;
      event.preventDefault();
      zoomTo(v, v.scale * Math.exp(-event.deltaY * 0.002), event.clientX, event.clientY);
    },
    { passive: false },
  );

  // Dragging the image out of the browser (to the desktop, a chat, another tab) carries the
  // original, not the preview drawn on the screen.
  root.addEventListener("dragstart", (event) => {
    const figure = event.target.closest?.(".artwork");
    if (!figure) return;
    if (view?.scale > 1.001) {
      event.preventDefault();
      return;
    }
    const link = figure.querySelector("a[href]");
    if (!link || !event.dataTransfer) return;
    const original = new URL(link.getAttribute("href"), window.location.href).href;
    const name = `${figure.closest("[data-public-id]")?.dataset.publicId || "image"}.jpg`;
    event.dataTransfer.setData("text/uri-list", original);
    event.dataTransfer.setData("text/plain", original);
    // Chromium: dropping on the desktop saves this file.
    event.dataTransfer.setData("DownloadURL", `image/jpeg:${name}:${original}?download=1`);
    event.dataTransfer.effectAllowed = "copyLink";
  });

  window.addEventListener("resize", () => {
    if (view) paint(view);
  });
};
