// Small progressive enhancements; every page works without them. Plain ES modules, served as
// they are (no build step). The features start in the order their listeners must run.
import { clampPrompts } from "./clamp.js";
import { startCollect } from "./collect.js";
import { startComposer } from "./composer.js";
import { startCopy } from "./copy.js";
import { startDensity } from "./density.js";
import { enhance } from "./dom.js";
import { startFilters } from "./filters.js";
import { startHistory } from "./history.js";
import { startLightbox } from "./lightbox.js";
import { startLive } from "./live.js";
import { startMenu } from "./menu.js";
import { startNotify } from "./notify.js";
import { startShortcuts } from "./shortcuts.js";
import { startTheme } from "./theme.js";
import { startTileMenu } from "./tile-menu.js";
import { startVerify } from "./verify.js";

startComposer();
startLive();
startNotify();

document.addEventListener("DOMContentLoaded", () => {
  enhance(document);
  clampPrompts(document);
});
// A page answering a POST with something shown once (a new API token): make this history
// entry a plain GET, so that reloading shows the page without it instead of posting again.
document.addEventListener("DOMContentLoaded", () => {
  if (document.querySelector("[data-forget-post]")) history.replaceState(null, "", location.href);
});
document.addEventListener("htmx:load", (event) => {
  enhance(event.target);
  clampPrompts(event.target);
});

startTheme();
startDensity();
startMenu();
startCopy();
startLightbox();
startShortcuts();
startHistory();
startFilters();
startVerify();
startCollect();
startTileMenu();
