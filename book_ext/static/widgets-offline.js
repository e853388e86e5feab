/*
 * redunet-book: make the statically embedded ipywidgets work offline with MathJax 3.
 *
 * Loaded on pages that carry widget state, between RequireJS and the html-manager's
 * embed-amd.js (see `nb_ipywidgets_js` in _config.yml). It does two things:
 *
 * 1. The html-manager bundle defines the named AMD module
 *    "@jupyter-widgets/html-manager/dist/libembed-amd"; RequireJS resolves that name relative to
 *    the *page*, and webpack loads the bundle's Font Awesome fonts relative to the module's URI.
 *    Map the name onto the vendored copy in _static/vendor/html-manager/ so the fonts load.
 *
 * 2. The widgets typeset their labels with the MathJax 2 API,
 *    `MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])`; the book loads MathJax 3, which has
 *    no `Hub` (uncaught TypeError, untypeset `$\epsilon^2$` labels). Provide a tiny `Hub.Queue`
 *    that typesets the element with MathJax 3 once MathJax has started.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var staticRoot = script && script.src ? new URL("./", script.src) : null;

  // 1. html-manager module URI -> vendored folder (fonts are loaded relative to it)
  if (staticRoot && window.require && typeof window.require.config === "function") {
    var managerDir = new URL("vendor/html-manager/", staticRoot).href;
    window.require.config({
      paths: { "@jupyter-widgets/html-manager/dist": managerDir.replace(/\/$/, "") },
    });
    window.__jupyter_widgets_assets_path__ = managerDir;
  }

  // 2. MathJax 2 `Hub.Queue` on top of MathJax 3
  function whenReady(MJ) {
    if (MJ.startup && MJ.startup.promise) return MJ.startup.promise;
    return new Promise(function (resolve) {
      window.addEventListener("load", function () { resolve(MJ.startup && MJ.startup.promise); });
    });
  }

  // MathJax 3.2's typesetPromise calls must not overlap (they share document state): run them one
  // after the other. `MathJax.Hub.promise` is the tail of that queue (the browser test waits on it).
  var queue = null;
  function typeset(element) {
    var MJ = window.MathJax;
    if (!MJ || !element) return;
    if (queue === null) queue = whenReady(MJ);
    queue = queue
      .then(function () {
        if (typeof MJ.typesetPromise === "function") return MJ.typesetPromise([element]);
      })
      .catch(function (err) {
        console.warn("MathJax could not typeset a widget label:", err);
      });
    if (MJ.Hub) MJ.Hub.promise = queue;
  }

  function installHub() {
    var MJ = window.MathJax;
    // Before MathJax 3 has loaded, window.MathJax is only its configuration (no `version`), which
    // MathJax replaces; MathJax 2 has its own Hub. Install on the loaded MathJax 3 object only.
    if (!MJ || !MJ.version || MJ.Hub) return;
    MJ.Hub = {
      promise: Promise.resolve(),
      Queue: function () {
        for (var i = 0; i < arguments.length; i++) {
          var job = arguments[i];
          if (Array.isArray(job) && job[0] === "Typeset") typeset(job[2]);
          else if (typeof job === "function") job();
        }
      },
    };
  }

  installHub();
  // MathJax 3 is loaded with `defer`, so it exists by DOMContentLoaded, before the widgets render
  // (the html-manager renders them on `load`).
  document.addEventListener("DOMContentLoaded", installHub);
})();
