// The top bar's menu on a phone: the button shows and hides the links (app.css folds them
// away only when the scripts run). Esc or a click elsewhere closes it.
const menuParts = () => {
  const button = document.querySelector("[data-menu-toggle]");
  return { button, nav: button && document.getElementById(button.getAttribute("aria-controls")) };
};

const setOpen = (open) => {
  const { button, nav } = menuParts();
  if (!button || !nav) return;
  button.setAttribute("aria-expanded", String(open));
  nav.classList.toggle("is-open", open);
};

export const startMenu = () => {
  document.addEventListener("click", (event) => {
    const { button, nav } = menuParts();
    if (!button) return;
    if (event.target.closest("[data-menu-toggle]")) {
      setOpen(button.getAttribute("aria-expanded") !== "true");
    } else if (!nav.contains(event.target)) {
      setOpen(false);
    }
  });
  document.addEventListener("keydown", (event) => {
    const { button } = menuParts();
    if (event.key !== "Escape" || button?.getAttribute("aria-expanded") !== "true") return;
    event.preventDefault(); // not also the detail page's Esc, back to the gallery
    setOpen(false);
    button.focus();
  });
};
