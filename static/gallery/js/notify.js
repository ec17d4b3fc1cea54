/* global gettext, ngettext, interpolate */ // from the JavaScript catalog (/jsi18n/, loaded first)
// Opt-in browser notifications when a batch finishes in a hidden tab. Off until the user
// turns it on in Preferences (that click is what asks the browser's permission); the
// choice is this browser's (localStorage), as the permission is.
const KEY = "gallery:notify";

export const notifyWanted = () =>
  "Notification" in window && Notification.permission === "granted" && localStorage.getItem(KEY) === "on";

export const notifyFinished = (count) => {
  if (!notifyWanted() || document.visibilityState !== "hidden") return;
  new Notification(gettext("Your images are ready"), {
    body: interpolate(
      ngettext("%(count)s image finished in the gallery.", "%(count)s images finished in the gallery.", count),
      { count },
      true,
    ),
    icon: "/static/gallery/favicon.svg",
    tag: "gallery-finished",
  });
};

export const startNotify = () => {
  document.addEventListener("DOMContentLoaded", () => {
    const field = document.querySelector("[data-notify-field]");
    if (!field || !("Notification" in window)) return;
    const toggle = field.querySelector("[data-notify-toggle]");
    const help = field.querySelector("[data-notify-help]");
    field.hidden = false;
    toggle.checked = notifyWanted();
    if (Notification.permission === "denied") {
      help.textContent = gettext("This browser blocks notifications from this site; allow them in its settings first.");
    }
    toggle.addEventListener("change", async () => {
      if (!toggle.checked) {
        localStorage.removeItem(KEY);
        return;
      }
      const permission = await Notification.requestPermission();
      if (permission === "granted") localStorage.setItem(KEY, "on");
      else {
        toggle.checked = false;
        help.textContent = gettext("The browser did not allow notifications, so they stay off.");
      }
    });
  });
};
