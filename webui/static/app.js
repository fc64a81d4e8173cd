// Draw every chart embedded as <script type="application/json" data-plot="ID">,
// and poll a running study's summary every 2 s.
(function () {
  "use strict";
  function draw() {
    document.querySelectorAll('script[type="application/json"][data-plot]').forEach(function (el) {
      var target = document.getElementById(el.dataset.plot);
      if (!target || !window.Plotly) { return; }
      var fig = JSON.parse(el.textContent);
      window.Plotly.newPlot(target, fig.data || [], fig.layout || {}, {responsive: true, displaylogo: false});
    });
  }
  function poll(root) {
    var url = root.dataset.pollUrl;
    var timer = setInterval(function () {
      fetch(url, {headers: {Accept: "application/json"}}).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (s) {
        if (!s) { return; }
        root.querySelectorAll("[data-field]").forEach(function (el) {
          var v = s[el.dataset.field];
          el.textContent = (v === null || v === undefined) ? "—" : String(v);
        });
        if (s.status !== "RUNNING" && s.status !== "QUEUED") {
          clearInterval(timer);
          window.location.reload();  // redraw charts and the table once finished
        }
      }).catch(function () {});
    }, 2000);
  }
  // Handlers live here, not in the HTML: the Content-Security-Policy runs no inline script.
  function wire() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
      });
    });
    var compare = document.getElementById("compare-selected");
    if (compare) {
      compare.addEventListener("click", function () {
        document.getElementById("compare-ids").value = Array.from(
          document.querySelectorAll("input[name=idbox]:checked")).map(function (e) { return e.value; }).join(",");
      });
    }
  }
  // Same-origin JSON calls that change state send the page's CSRF token.
  window.hpsearchFetch = function (url, options) {
    options = options || {};
    var meta = document.querySelector('meta[name="csrf-token"]');
    options.headers = Object.assign({"Accept": "application/json"}, options.headers || {});
    if (meta && options.method && options.method.toUpperCase() !== "GET") {
      options.headers["X-CSRFToken"] = meta.content;
    }
    options.credentials = "same-origin";
    return fetch(url, options);
  };
  document.addEventListener("DOMContentLoaded", function () {
    draw();
    wire();
    document.querySelectorAll("[data-poll-url]").forEach(poll);
  });
})();
