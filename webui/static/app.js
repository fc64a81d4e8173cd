// Draw every chart embedded as <script type="application/json" data-plot="ID"> or
// fetched from data-src, and poll a running study's summary every 2 s (redrawing its
// charts when new results arrive).
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
        var key = s.trials_total + "/" + s.trials_done + "/" + s.best_value;
        // Redraw at most every 8 s, less often for big studies (each redraw rebuilds six charts).
        var every = Math.max(8000, (s.trials_total || 0) * 5);
        if (root.dataset.seen && root.dataset.seen !== key && Date.now() - (root.lastCharts || 0) > every) {
          root.lastCharts = Date.now();
          loadCharts();  // new results: redraw the charts in place
          refreshFragments(["best", "trials-table", "trials-count"]);
        }
        root.dataset.seen = key;
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
  // Study charts are fetched from the (cached) plots API, so the page itself renders at once.
  var PLOT_CONFIG = {responsive: true, displaylogo: false};
  function chartUrl(el) {
    var url = el.dataset.src;
    if (el.id === "chart-contour") {
      var x = document.getElementById("contour-x"), y = document.getElementById("contour-y");
      if (x && y) { url += "?x=" + encodeURIComponent(x.value) + "&y=" + encodeURIComponent(y.value); }
    }
    return url;
  }
  function load(el) {
    return fetch(chartUrl(el), {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (r) {
        return r.json().then(function (body) { return {ok: r.ok, body: body}; });
      }).then(function (res) {
        if (!res.ok) {
          el.textContent = "chart unavailable: " + (res.body && res.body.message || "error");
          el.classList.add("chart-error");
          return;
        }
        el.classList.remove("chart-error");
        var gl = (res.body.data || []).some(function (t) { return t.type === "parcoords"; });
        if (gl && !hasWebGL()) { noWebGL(el); return; }
        if (el.querySelector(".loading")) { el.textContent = ""; }
        return window.Plotly.react(el, res.body.data || [], res.body.layout || {}, PLOT_CONFIG)
          .then(function () {
            if (gl && el.textContent.indexOf("WebGL is not supported") >= 0) { noWebGL(el); }
          });
      }).catch(function () { el.textContent = "chart unavailable: network error"; });
  }
  // Swap parts of the page for fresh ones from the server (same URL, so the same filters,
  // sort and page), keeping the user's checked boxes.
  function refreshFragments(ids) {
    fetch(window.location.href, {credentials: "same-origin"}).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      var doc = new DOMParser().parseFromString(html, "text/html");
      var checked = Array.from(document.querySelectorAll("input[name=trials]:checked"))
        .map(function (e) { return e.value; });
      ids.forEach(function (id) {
        var fresh = doc.getElementById(id), old = document.getElementById(id);
        if (fresh && old) { old.replaceWith(document.importNode(fresh, true)); }
      });
      document.querySelectorAll("input[name=trials]").forEach(function (e) {
        e.checked = checked.indexOf(e.value) >= 0;
      });
    }).catch(function () {});
  }
  // Plotly's own no-WebGL notice overflows onto the neighbouring chart: say it in place.
  function noWebGL(el) {
    window.Plotly.purge(el);
    el.textContent = "Parallel coordinates need WebGL, which this browser lacks.";
    el.classList.add("chart-error");
  }
  var webgl = null;
  function hasWebGL() {
    if (webgl === null) {
      try {
        var c = document.createElement("canvas");
        webgl = !!(window.WebGLRenderingContext && (c.getContext("webgl") || c.getContext("experimental-webgl")));
      } catch (e) { webgl = false; }
    }
    return webgl;
  }
  function loadCharts() {
    document.querySelectorAll(".chart[data-src]").forEach(load);
  }
  function wireContour() {
    var picker = document.getElementById("contour-pair");
    if (!picker) { return; }
    picker.addEventListener("change", function () {
      var el = document.getElementById(picker.dataset.chart);
      var x = document.getElementById("contour-x"), y = document.getElementById("contour-y");
      if (x.value === y.value) { el.textContent = "pick two different parameters"; return; }
      load(el);
    });
  }
  // Comparing needs two or more ticked rows: say so here rather than on an error page.
  function wireCompare(formId, boxName, what) {
    var form = document.getElementById(formId);
    if (!form) { return; }
    form.addEventListener("submit", function (ev) {
      var n = form.querySelectorAll("input[name=" + boxName + "]:checked").length;
      var note = form.querySelector(".compare-note");
      if (n >= 2) { return; }
      ev.preventDefault();
      if (!note) {
        note = document.createElement("p");
        note.className = "compare-note problems";
        form.insertBefore(note, form.firstChild);
      }
      note.textContent = "Tick two or more " + what + " to compare (" + n + " ticked).";
    });
  }
  // Submit page: a chosen file is shown in the editor; a problem's line is one click away.
  function wireSubmit() {
    var file = document.getElementById("spec-file"), text = document.getElementById("spec-text");
    if (file && text && window.FileReader) {
      file.addEventListener("change", function () {
        if (!file.files.length) { return; }
        var reader = new FileReader();
        reader.onload = function () { text.value = reader.result; };
        reader.readAsText(file.files[0]);
      });
    }
    document.querySelectorAll("[data-line]").forEach(function (a) {
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        var line = parseInt(a.dataset.line, 10), lines = text.value.split("\n"), start = 0;
        for (var i = 0; i < line - 1 && i < lines.length; i++) { start += lines[i].length + 1; }
        text.focus();
        text.setSelectionRange(start, start + (lines[line - 1] || "").length);
        text.scrollTop = Math.max(0, (line - 5) * 17);
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    draw();
    loadCharts();
    wireContour();
    wireSubmit();
    wireCompare("compare-trials", "trials", "trials");
    wire();
    document.querySelectorAll("[data-poll-url]").forEach(poll);
  });
})();
