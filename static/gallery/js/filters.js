// The gallery's filter bar: apply a filter as soon as it changes, and keep URLs short by
// leaving out empty fields. Without this script the Search button does the same.
export const startFilters = () => {
  document.addEventListener("DOMContentLoaded", () => {
    for (const form of document.querySelectorAll("form.filter-bar")) {
      form.addEventListener("change", (event) => {
        if (event.target.name !== "q") form.requestSubmit();
      });
      form.addEventListener("formdata", (event) => {
        for (const [name, value] of [...event.formData.entries()]) {
          if (value === "" || (name === "sort" && value === "newest")) {
            event.formData.delete(name);
          }
        }
      });
    }
  });
};
