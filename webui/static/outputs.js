// Trial logs and media: a live tail of a running trial's log (incremental: only what
// follows the last position is fetched), a media panel with a step slider, and the same
// media of compared trials side by side at one step. Text goes in with textContent only.
(function () {
  "use strict";
  var POLL_MS = 1000;

  function getJSON(url) {
    return fetch(url, {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
  }
  function withParam(url, key, value) {
    return url + (url.indexOf("?") < 0 ? "?" : "&") + key + "=" + encodeURIComponent(value);
  }

  // -- log ------------------------------------------------------------------------------
  function followLog(root) {
    var pre = root.querySelector("#log"), state = root.querySelector("#log-state");
    var url = root.dataset.logUrl, end = 0, stopped = false;
    function tick() {
      getJSON(withParam(url, "after", end)).then(function (d) {
        if (d.text) {
          var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          pre.appendChild(document.createTextNode(d.text));
          if (atBottom) { pre.scrollTop = pre.scrollHeight; }
        }
        end = d.end;
        pre.dataset.end = String(end);
        var total = root.querySelector("#log-total");
        if (total) { total.textContent = d.total.toLocaleString("en"); }
        if (d.live) {
          setTimeout(tick, POLL_MS);
        } else if (!stopped) {
          stopped = true;  // one more read: lines that landed with the final status
          if (state) { state.textContent = "finished (" + d.status + ")"; }
          setTimeout(tick, POLL_MS);
        }
      }).catch(function () { setTimeout(tick, POLL_MS * 3); });
    }
    tick();
  }

  // -- media ----------------------------------------------------------------------------
  function drawItem(cell, item) {
    cell.textContent = "";
    if (!item) { cell.textContent = "—"; return; }
    var box = document.createElement("div");
    box.className = "media-item";
    box.dataset.name = item.name;
    box.dataset.step = String(item.step);
    if (item.kind === "image") {
      var img = document.createElement("img");
      img.src = item.url;
      img.alt = item.name + " at step " + item.step;
      img.width = Math.max(96, Math.min(480, item.width * (item.width < 96 ? 3 : 1)));
      box.appendChild(img);
    } else if (item.kind === "plotly") {
      var div = document.createElement("div");
      div.className = "plotly-media";
      box.appendChild(div);
      getJSON(item.url).then(function (fig) {
        if (window.Plotly) {
          // A figure without a size of its own is drawn at the panel's size.
          var layout = Object.assign({width: 420, height: 300, margin: {l: 40, r: 10, t: 30, b: 30}},
                                     fig.layout || {});
          window.Plotly.newPlot(div, fig.data || [], layout, {displaylogo: false});
        }
      }).catch(function () { div.textContent = "could not load the figure"; });
    }
    var cap = document.createElement("div");
    cap.className = "media-caption";
    cap.textContent = item.name + " · step " + item.step;
    box.appendChild(cap);
    cell.appendChild(box);
  }
  // The item of `name` (and trial) shown at `step`: the latest one recorded at or before it.
  function pick(items, step) {
    var best = null;
    items.forEach(function (m) { if (m.step <= step && (!best || m.step > best.step)) { best = m; } });
    return best;
  }
  function slider(input, label, steps, onChange) {
    input.min = "0";
    input.max = String(Math.max(0, steps.length - 1));
    input.value = input.max;
    function show() { var s = steps[+input.value]; label.textContent = String(s); onChange(s); }
    input.addEventListener("input", show);
    show();
  }

  function mediaPanel(root) {
    var input = root.querySelector("#media-step");
    if (!input) { return; }
    getJSON(root.dataset.mediaUrl).then(function (d) {
      var byName = {};
      d.media.forEach(function (m) { (byName[m.name] = byName[m.name] || []).push(m); });
      var grid = root.querySelector("#media-items");
      slider(input, root.querySelector("#media-step-value"), d.steps, function (step) {
        grid.textContent = "";
        Object.keys(byName).sort().forEach(function (name) {
          var cell = document.createElement("div");
          grid.appendChild(cell);
          drawItem(cell, pick(byName[name], step));
        });
        root.dataset.step = String(step);
      });
    });
  }

  function compareMedia(root) {
    getJSON(root.dataset.mediaUrl).then(function (d) {
      var table = root.querySelector("#compare-media-table");
      if (!d.media.length) { table.textContent = "no media recorded by these trials"; return; }
      slider(root.querySelector("#compare-step"), root.querySelector("#compare-step-value"), d.steps,
        function (step) {
          table.textContent = "";
          var head = table.insertRow();
          head.insertCell().textContent = "";
          d.trials.forEach(function (n) { head.insertCell().textContent = "trial " + n; });
          d.names.forEach(function (name) {
            var row = table.insertRow();
            row.insertCell().textContent = name;
            d.trials.forEach(function (n) {
              drawItem(row.insertCell(), pick(d.media.filter(function (m) {
                return m.name === name && m.trial === n;
              }), step));
            });
          });
          root.dataset.step = String(step);
        });
    });
  }

  function init() {
    var log = document.getElementById("trial-log");
    if (log) { followLog(log); }
    var media = document.getElementById("trial-media");
    if (media) { mediaPanel(media); }
    var cmp = document.getElementById("compare-media");
    if (cmp) { compareMedia(cmp); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
