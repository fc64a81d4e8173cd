// The pages' behaviour (the Content-Security-Policy runs no inline script, so every handler
// lives here). Charts: drawn from embedded JSON (<script type="application/json" data-plot>)
// or fetched from data-src. A running study's page follows it live: new results every second
// (incremental, by result id) extend the learning curves and the trials table in place.
(function () {
  "use strict";
  var PLOT_CONFIG = {responsive: true, displaylogo: false};

  // -- drawing ------------------------------------------------------------------------
  // After every draw: the toolbar stays out of the Tab order (keyboard users reach the
  // filters without walking through it), and a click on a trial's point opens that trial.
  function afterDraw(el) {
    el.querySelectorAll(".modebar-btn, .modebar a").forEach(function (b) { b.setAttribute("tabindex", "-1"); });
    var base = (el.closest("[data-trial-base]") || el).dataset.trialBase;
    if (base && !el.dataset.clickWired && el.on) {
      el.dataset.clickWired = "1";
      el.on("plotly_click", function (ev) {
        var p = ev && ev.points && ev.points[0];
        var n = p ? (Array.isArray(p.customdata) ? p.customdata[0] : p.customdata) : null;
        if (n === null || n === undefined || n === "") { n = p && p.data ? p.data.meta : null; }
        if (typeof n === "number") { window.location.href = base + n; }
      });
    }
  }
  function note(el, text) {
    // Purge first: a div still holding plotly's state is never drawn again by Plotly.react.
    if (window.Plotly) { window.Plotly.purge(el); }
    el.textContent = text;
    el.classList.add("chart-error");
  }
  function draw(el, fig) {
    el.classList.remove("chart-error");
    if (el.querySelector(".loading") || !el.data) { el.textContent = ""; }
    return window.Plotly.react(el, fig.data || [], fig.layout || {}, PLOT_CONFIG).then(function () {
      afterDraw(el);
      var logy = document.querySelector("[data-chart='" + el.id + "'][type=checkbox]");
      if (logy && logy.checked) { return window.Plotly.relayout(el, {"yaxis.type": "log"}); }
    });
  }
  // Charts without data-src are drawn from their embedded figure at once; a chart with a
  // data-src whose figure the server embedded (ready when the page was made) is drawn in
  // loadCharts' order without a request.
  function drawEmbedded() {
    document.querySelectorAll('script[type="application/json"][data-plot]').forEach(function (s) {
      var el = document.getElementById(s.dataset.plot);
      if (el && !el.dataset.src && window.Plotly) { draw(el, JSON.parse(s.textContent)); }
    });
  }
  // The figure embedded for a data-src chart, once (later loads fetch it: it may have moved).
  function takeEmbedded(el) {
    var s = document.querySelector('script[type="application/json"][data-plot="' + el.id + '"]');
    if (!s) { return null; }
    s.remove();
    try { return Promise.resolve({ok: true, body: JSON.parse(s.textContent)}); } catch (e) { return null; }
  }
  function chartUrl(el) {
    var url = new URL(el.dataset.src, window.location.href);
    if (el.id === "chart-contour") {
      var x = document.getElementById("contour-x"), y = document.getElementById("contour-y");
      if (x && y) { url.searchParams.set("x", x.value); url.searchParams.set("y", y.value); }
    }
    var picker = document.querySelector("select[data-metric-for='" + el.id + "']");
    if (picker && picker.value) { url.searchParams.set("metric", picker.value); }
    return url.toString();
  }
  // A chart's figure from the plots API: {ok, body} or {error}; never rejects.
  function fetchChart(el) {
    return fetch(chartUrl(el), {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (r) {
        return r.json().then(function (body) { return {ok: r.ok, body: body}; });
      }).catch(function (e) { return {error: e && e.message || "network error"}; });
  }
  function show(el, res) {
    if (res.error) { note(el, "chart unavailable: " + res.error); return; }
    if (!res.ok) { note(el, "chart unavailable: " + (res.body && res.body.message || "error")); return; }
    var gl = (res.body.data || []).some(function (t) { return t.type === "parcoords"; });
    if (gl && !hasWebGL()) { note(el, "Parallel coordinates need WebGL, which this browser lacks."); return; }
    return new Promise(function (resolve) { resolve(draw(el, res.body)); }).catch(function (e) {
      note(el, "chart unavailable: " + (e && e.message || "drawing failed"));
    });
  }
  function load(el) {
    return fetchChart(el).then(function (res) { return show(el, res); });
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
  // The charts on screen first, then the rest in page order, a few fetches at a time (the
  // first charts draw at once instead of waiting on a server busy building the slow ones).
  // Between two draws the browser gets a turn (a macrotask), so it paints what is drawn and
  // answers input instead of sitting through every chart in one go.
  function onScreen(el) {
    var r = el.getBoundingClientRect();
    return r.bottom > 0 && r.top < (window.innerHeight || document.documentElement.clientHeight);
  }
  function yieldToBrowser() {
    return new Promise(function (resolve) { setTimeout(resolve, 0); });
  }
  function loadCharts() {
    var all = Array.from(document.querySelectorAll(".chart[data-src]"));
    var queue = all.filter(onScreen).concat(all.filter(function (el) { return !onScreen(el); }));
    // Fetches run ahead, up to 3 in flight (embedded figures need none); draws run one after
    // another, in queue order.
    var results = queue.map(function () {
      var slot = {};
      slot.promise = new Promise(function (resolve) { slot.resolve = resolve; });
      return slot;
    });
    var started = 0;
    function fetchNext() {
      var i = started++;
      if (i < queue.length) {
        var ready = takeEmbedded(queue[i]);
        if (ready) { results[i].resolve(ready); fetchNext(); return; }
        fetchChart(queue[i]).then(function (res) { results[i].resolve(res); fetchNext(); });
      }
    }
    for (var k = 0; k < 3; k++) { fetchNext(); }
    return queue.reduce(function (drawing, el, i) {
      return drawing.then(function () { return results[i].promise; })
        .then(function (res) { return show(el, res); }).then(yieldToBrowser);
    }, Promise.resolve());
  }

  // -- chart controls -----------------------------------------------------------------
  function wireContour() {
    var picker = document.getElementById("contour-pair");
    if (!picker) { return; }
    picker.addEventListener("change", function () {
      var el = document.getElementById(picker.dataset.chart);
      var x = document.getElementById("contour-x"), y = document.getElementById("contour-y");
      if (x.value === y.value) { note(el, "Pick two different parameters."); return; }
      load(el);
    });
  }
  function wireChartTools() {
    document.querySelectorAll("input[type=checkbox][data-chart]").forEach(function (box) {
      box.addEventListener("change", function () {
        var el = document.getElementById(box.dataset.chart);
        if (el && el.data) { window.Plotly.relayout(el, {"yaxis.type": box.checked ? "log" : "linear"}); }
      });
    });
    document.querySelectorAll("select[data-metric-for]").forEach(function (sel) {
      sel.addEventListener("change", function () {
        var el = document.getElementById(sel.dataset.metricFor);
        if (el.dataset.src) { load(el); } else {
          var url = new URL(window.location.href);
          url.searchParams.set("metric", sel.value);
          window.location.href = url.toString();
        }
      });
    });
  }

  // -- live ---------------------------------------------------------------------------
  // Every second: the study's summary, and the results reported since the last one seen.
  function poll(root) {
    var studyUrl = root.dataset.pollUrl, resultsUrl = root.dataset.resultsUrl;
    var after = root.dataset.lastResult, busy = false, lastCharts = 0;
    var liveStatuses = (root.dataset.liveStatuses || "QUEUED RUNNING").split(" ");
    var resultsBusy = false;
    // New results: their own poll, so a slow summary never holds them back.
    var resultsTimer = resultsUrl ? setInterval(function () {
      if (resultsBusy) { return; }
      resultsBusy = true;
      getJson(resultsUrl + "?after=" + encodeURIComponent(after)).then(function (r) {
        if (r) { after = r.last_id; if (r.results.length) { liveResults(r.results); } }
      }).catch(function () {}).then(function () { resultsBusy = false; });
    }, 1000) : null;
    var timer = setInterval(function () {
      if (busy) { return; }
      busy = true;
      getJson(studyUrl).then(function (s) {
        if (!s) { return; }
        var key = s.trials_total + "/" + s.trials_done + "/" + s.best_value;
        // A trial started or ended, or the best moved: the other charts and the table's
        // rows are fetched again (at most every 8 s, less often for big studies).
        var every = Math.max(8000, (s.trials_total || 0) * 5);
        if (root.dataset.seen && root.dataset.seen !== key && Date.now() - lastCharts > every) {
          lastCharts = Date.now();
          loadCharts();
          refreshFragments(["best", "trials-table", "trials-count"]);
        }
        root.dataset.seen = key;
        root.querySelectorAll("[data-field]").forEach(function (el) {
          var v = s[el.dataset.field];
          el.textContent = (v === null || v === undefined) ? "—" : String(v);
        });
        var waiting = document.getElementById("no-dispatcher");
        if (waiting) { waiting.hidden = !(s.dispatchers && s.dispatchers.alive === 0); }
        var noNode = document.getElementById("waiting");  // no node fits its trials (yet)
        if (noNode) { noNode.hidden = !s.waiting; }
        if (liveStatuses.indexOf(s.status) < 0) {
          clearInterval(timer);
          if (resultsTimer) { clearInterval(resultsTimer); }
          window.location.reload();  // redraw charts and the table once finished
        }
      }).catch(function () {}).then(function () { busy = false; });
    }, 1000);
  }
  function getJson(url) {
    return fetch(url, {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; });
  }
  // New results: the learning-curve chart grows (one extendTraces call, no refetch) and the
  // trials table's iteration counts move.
  function liveResults(results) {
    var el = document.getElementById("chart-curves"), byTrial = {}, order = [];
    var picker = document.querySelector("select[data-metric-for='chart-curves']");
    var metric = picker && picker.value ? picker.value : null;
    results.forEach(function (res) {
      var y = metric ? res.metrics[metric] : res.value;
      if (!byTrial[res.trial]) { byTrial[res.trial] = {x: [], y: [], last: 0}; order.push(res.trial); }
      var t = byTrial[res.trial];
      t.last = Math.max(t.last, res.iteration);
      if (typeof y === "number") { t.x.push(res.iteration); t.y.push(y); }
    });
    order.forEach(function (n) {
      var cell = document.querySelector("#trials-table tr[data-trial='" + n + "'] [data-col=iterations]");
      if (cell && parseInt(cell.textContent, 10) < byTrial[n].last) { cell.textContent = String(byTrial[n].last); }
    });
    if (!el || !el.data || !window.Plotly) { return; }
    if (!el.data.length) { load(el); return; }  // the "no data yet" figure: draw it properly
    var idx = [], xs = [], ys = [], fresh = [];
    order.forEach(function (n) {
      var t = byTrial[n];
      if (!t.x.length) { return; }
      var i = el.data.findIndex(function (tr) { return tr.meta === n; });
      if (i < 0) {
        fresh.push({x: t.x, y: t.y, mode: "lines", name: "trial " + n, meta: n,
                    line: {width: 1, color: "rgba(90,110,160,0.5)"}});
      } else { idx.push(i); xs.push(t.x); ys.push(t.y); }
    });
    if (idx.length) { window.Plotly.extendTraces(el, {x: xs, y: ys}, idx); }
    if (fresh.length) { window.Plotly.addTraces(el, fresh); }
    afterDraw(el);
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

  // -- forms --------------------------------------------------------------------------
  function wireConfirm() {
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
  // Comparing needs two or more ticked rows: say so here rather than on an error page.
  function wireCompare(formId, boxName, what) {
    var form = document.getElementById(formId);
    if (!form) { return; }
    form.addEventListener("submit", function (ev) {
      var n = form.querySelectorAll("input[name=" + boxName + "]:checked").length;
      var msg = form.querySelector(".compare-note");
      if (n >= 2) { return; }
      ev.preventDefault();
      if (!msg) {
        msg = document.createElement("p");
        msg.className = "compare-note problems";
        form.insertBefore(msg, form.firstChild);
      }
      msg.textContent = "Tick two or more " + what + " to compare (" + n + " ticked).";
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
    if (window.Plotly) {
      drawEmbedded();
      loadCharts();
    }
    wireContour();
    wireChartTools();
    wireSubmit();
    wireCompare("compare-trials", "trials", "trials");
    wireConfirm();
    document.querySelectorAll("[data-poll-url]").forEach(poll);
  });
})();
