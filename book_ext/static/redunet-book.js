/*
 * redunet-book: make the article header's sidebar toggles work (every page; `html_js_files` in
 * _config.yml).
 *
 * pydata-sphinx-theme >= 0.17 renders sidebar toggles of its own in its top navbar (#pst-header,
 * which sphinx-book-theme hides), and both themes bind their click handlers to
 * `document.querySelector(".primary-toggle")` / `(".secondary-toggle")`: the *first* such button,
 * one of the hidden ones. The buttons a reader sees, in the article header, get no handler: on a
 * phone the navigation cannot be opened at all, and on a desktop the sidebar cannot be collapsed
 * (pydata-sphinx-theme issue #2451). Forward a click on any other toggle to the first one, which
 * runs the themes' own behaviour: a modal navigation on a narrow screen, collapsing the sidebar on
 * a wide one. tests/test_site.py checks it at 390 px.
 */
(function () {
  "use strict";

  function forward(selector) {
    var buttons = Array.prototype.slice.call(document.querySelectorAll(selector));
    var first = buttons[0];
    buttons.slice(1).forEach(function (button) {
      // capture phase, and stop there: should a later theme bind this button too, the themes'
      // action must still run once, not twice (showModal on an open dialog throws)
      button.addEventListener("click", function (event) {
        event.preventDefault();
        event.stopImmediatePropagation();
        first.click();
      }, true);
    });
  }

  function setup() {
    forward(".primary-toggle");
    forward(".secondary-toggle");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
