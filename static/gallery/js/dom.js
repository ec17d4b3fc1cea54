// Helpers the feature modules share.

// A key press in a field the user types in is text, not a shortcut.
export const isTyping = (el) =>
  el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));

// Controls that only work with JavaScript are rendered hidden and revealed here.
export const enhance = (scope) => {
  for (const el of scope.querySelectorAll("[data-copy][hidden], [data-theme-toggle][hidden], [data-density-control][hidden], [data-menu-toggle][hidden], [data-js-only][hidden]")) {
    el.hidden = false;
  }
};

// A fresh copy of the element inside one of the page's <template>s
// (templates/gallery/_js_templates.html): the markup stays in the templates, not in scripts.
export const fromTemplate = (id) =>
  document.getElementById(id).content.firstElementChild.cloneNode(true);

// HTML the server rendered for a fragment request, as nodes parsed the way they would be
// inside `context`, the element they are about to join. The fragments carry no script.
export const parseFragment = (html, context) => {
  const range = document.createRange();
  range.selectNodeContents(context);
  return range.createContextualFragment(html);
};
