// The verify page: drop a file on the drop zone, or pick one, and it is checked at once.
// The file input and the button work without this.
export const startVerify = () => {
  const zone = document.querySelector("[data-drop-zone]");
  if (!zone) return;
  const input = zone.querySelector('input[type="file"]');
  const form = zone.closest("form");
  zone.querySelector("[data-drop-hint]")?.removeAttribute("hidden");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("is-over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("is-over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("is-over");
    if (!event.dataTransfer?.files.length) return;
    input.files = event.dataTransfer.files;
    form.requestSubmit();
  });
  input.addEventListener("change", () => {
    if (input.files.length) form.requestSubmit();
  });
};
