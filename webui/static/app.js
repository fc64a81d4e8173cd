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
  document.addEventListener("DOMContentLoaded", function () {
    draw();
    document.querySelectorAll("[data-poll-url]").forEach(poll);
  });
})();
