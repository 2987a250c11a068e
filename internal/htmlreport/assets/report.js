// wsgilab report: draws each <figure class="chart" data-chart="N"> from the inlined JSON
// (charts[N]) with uPlot. Shaded bands (phases, bursts, a fault window) are divs under the
// plot and marks (drops, reconnects) divs over it, so the canvas holds only the axes and the
// data. When a chart is drawn its figure gets data-points (the non-null values uPlot holds
// inside its visible window, what it drew) and data-marks; when every chart is drawn, <html>
// gets data-rendered (performance.now(), ms from navigation). window.wsgilabInk(N) counts the
// canvas pixels of chart N that have one of its series' colours. The tests read all of these.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("wsgilab-data").textContent);
  var palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79", "#637939"];
  var tones = { bad: "#d62728", good: "#2ca02c", warn: "#ff7f0e", neutral: "#555555", info: "#1f77b4" };
  var bandTones = { bad: "rgba(214,39,40,0.12)", good: "rgba(44,160,44,0.14)", warn: "rgba(255,127,14,0.14)", neutral: "rgba(0,0,0,0.06)", info: "rgba(31,119,180,0.12)" };
  var bandCycle = ["rgba(31,119,180,0.12)", "rgba(0,0,0,0.06)", "rgba(44,160,44,0.12)", "rgba(148,103,189,0.12)"];
  var plots = [];
  var pending = 0;

  function fmt(v) {
    if (v == null) return "-";
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return String(+v.toPrecision(a >= 100 ? 5 : 4));
  }

  // pctLabel labels x = 1/(1-q) of a percentile spectrum: 1 -> 0%, 10 -> 90%, 100 -> 99%.
  function pctLabel(v) {
    var p = 100 * (1 - 1 / v);
    if (p <= 0) return "0%";
    var d = Math.max(0, Math.round(Math.log10(v)) - 2);
    return p.toFixed(d) + "%";
  }

  function scaleOpts(ax, isX, c) {
    var s = { auto: true };
    if (isX) s.time = false;
    if (ax.scale === "log" || ax.scale === "quantile") {
      s.distr = 3;
      s.log = 10;
    }
    if (isX && c.categories) {
      s.auto = false;
      s.range = function () { return [-0.5, c.categories.length - 0.5]; };
    } else if (isX && s.distr !== 3) {
      // The data's x range, widened to the bands and marks: a log line written after the
      // last sample is still drawn.
      s.range = function (u, lo, hi) {
        (c.bands || []).forEach(function (b) { lo = Math.min(lo, b.from); hi = Math.max(hi, b.to); });
        (c.marks || []).forEach(function (m) { lo = Math.min(lo, m.x); hi = Math.max(hi, m.x); });
        return lo === hi ? [lo - 1, hi + 1] : [lo, hi];
      };
    } else if (!isX && s.distr !== 3) {
      // The data's range, widened to the whiskers' tops (a confidence interval is part of
      // what the chart says), from Min when the axis has one.
      var key = ax === c.y2 ? "y2" : "y";
      s.range = function (u, lo, hi) {
        c.series.forEach(function (sr) {
          if ((sr.axis || "y") !== key || !sr.high) return;
          sr.high.forEach(function (v) { if (v != null && v > hi) hi = v; });
          if (ax.min == null && sr.low) sr.low.forEach(function (v) { if (v != null && v < lo) lo = v; });
        });
        if (ax.min != null) {
          var top = hi > ax.min ? hi : ax.min + 1;
          return [ax.min, top + (top - ax.min) * 0.08];
        }
        return uPlot.rangeNum(lo, hi, 0.1, true);
      };
    }
    return s;
  }

  function axisOpts(ax, isX, c, scaleKey, side, width) {
    var a = { label: ax.label, scale: scaleKey, stroke: "#333", grid: { stroke: "rgba(0,0,0,0.07)" }, ticks: { stroke: "rgba(0,0,0,0.15)" } };
    if (side != null) { a.side = side; a.grid = { show: false }; }
    if (isX && c.categories) {
      a.splits = function () { return c.categories.map(function (_, i) { return i; }); };
      a.values = function (u, splits) { return splits.map(function (i) { return c.categories[i] == null ? "" : c.categories[i]; }); };
      var longest = c.categories.reduce(function (m, s) { return Math.max(m, s.length); }, 0);
      if (longest * 7 > (width - 80) / c.categories.length) {
        a.rotate = -30;
        a.size = Math.min(160, 20 + longest * 5);
      }
    } else if (isX && ax.scale === "quantile") {
      a.splits = function (u) {
        var out = [], max = u.scales[scaleKey].max;
        for (var v = 1; v <= max * 1.0001; v *= 10) out.push(v);
        return out;
      };
      a.values = function (u, splits) { return splits.map(pctLabel); };
    } else if (ax.scale !== "log") {
      a.values = function (u, splits) { return splits.map(fmt); };
      if (ax.integer) a.incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 1e5, 2e5, 5e5, 1e6];
    }
    return a;
  }

  function seriesOpts(s, i, c) {
    var color = s.color || palette[i % palette.length];
    var o = { label: s.label, stroke: color, width: s.width || (s.style === "points" ? 0 : 1.6), scale: s.axis || "y", spanGaps: !!s.connect,
      value: function (u, v) { return fmt(v); } };
    if (s.dash) o.dash = [6, 4];
    if (s.style === "points") {
      o.paths = function () { return null; };
      o.points = { show: true, size: s.width ? s.width * 3 : 5, stroke: color, fill: s.hollow ? "rgba(0,0,0,0)" : color, width: s.hollow ? 2 : 1 };
    } else if (s.style === "step") {
      o.paths = uPlot.paths.stepped({ align: 1 });
      o.points = { show: false };
    } else {
      o.points = { show: c.xs.length <= 40, size: 4, fill: color };
    }
    return o;
  }

  // place positions the divs of bands (under the plot) and marks (over it) for the current
  // scales; it runs on every draw, so zooming keeps them in place. It returns how many marks
  // are in view.
  function place(u, c, layer) {
    var under = layer.under, over = layer.over;
    var w = u.bbox.width / devicePixelRatio;
    (c.bands || []).forEach(function (b, i) {
      var el = under.children[i];
      var x0 = Math.max(0, u.valToPos(b.from, "x")), x1 = Math.min(w, u.valToPos(b.to, "x"));
      el.style.display = x1 > x0 ? "" : "none";
      el.style.left = x0 + "px";
      el.style.width = Math.max(1, x1 - x0) + "px";
      el.firstChild.style.display = x1 - x0 >= 6 * b.label.length + 8 ? "" : "none";
    });
    var lastLabel = -1e9, placed = 0;
    (c.marks || []).forEach(function (m, i) {
      var el = over.children[i];
      var x = u.valToPos(m.x, "x");
      var shown = x >= -0.5 && x <= w + 0.5;
      el.style.display = shown ? "" : "none";
      el.style.left = x + "px";
      if (shown) placed++;
      // One label per 60 px: marks of one instant (three connections dropped at once) share it.
      var lab = el.firstChild;
      lab.style.display = x - lastLabel >= 60 ? "" : "none";
      if (x - lastLabel >= 60) lastLabel = x;
    });
    return placed;
  }

  function makeLayers(u, c) {
    var under = document.createElement("div"), over = document.createElement("div");
    under.className = "bands";
    over.className = "marks-layer";
    (c.bands || []).forEach(function (b, i) {
      var el = document.createElement("div");
      el.className = "band";
      el.style.background = b.tone ? bandTones[b.tone] : bandCycle[i % bandCycle.length];
      var lab = document.createElement("span");
      lab.textContent = b.label;
      el.appendChild(lab);
      under.appendChild(el);
    });
    (c.marks || []).forEach(function (m) {
      var el = document.createElement("div");
      el.className = "mark";
      el.style.borderColor = tones[m.tone] || tones.neutral;
      el.title = m.label + (m.detail ? ": " + m.detail : "");
      var lab = document.createElement("span");
      lab.textContent = m.label;
      lab.style.color = tones[m.tone] || tones.neutral;
      el.appendChild(lab);
      over.appendChild(el);
    });
    u.under.appendChild(under);
    u.over.appendChild(over);
    return { under: under, over: over };
  }

  // whiskers draws each series' [low, high] interval at its x.
  function whiskers(u, c) {
    var ctx = u.ctx;
    c.series.forEach(function (s, si) {
      if (!s.low || !s.high || !u.series[si + 1].show) return;
      var sc = s.axis || "y";
      ctx.save();
      ctx.beginPath();
      ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
      ctx.clip();
      ctx.strokeStyle = u.series[si + 1].stroke();
      ctx.lineWidth = 1.5 * devicePixelRatio;
      for (var i = 0; i < c.xs.length; i++) {
        if (s.low[i] == null || s.high[i] == null) continue;
        var x = u.valToPos(c.xs[i], "x", true), y0 = u.valToPos(s.low[i], sc, true), y1 = u.valToPos(s.high[i], sc, true);
        var cap = 5 * devicePixelRatio;
        ctx.beginPath();
        ctx.moveTo(x, y0); ctx.lineTo(x, y1);
        ctx.moveTo(x - cap, y0); ctx.lineTo(x + cap, y0);
        ctx.moveTo(x - cap, y1); ctx.lineTo(x + cap, y1);
        ctx.stroke();
      }
      ctx.restore();
    });
  }

  function drawnPoints(u) {
    var n = 0;
    for (var si = 1; si < u.series.length; si++) {
      var s = u.series[si], d = u.data[si];
      if (!s.show || !s.idxs || s.idxs[0] == null) continue;
      for (var i = s.idxs[0]; i <= s.idxs[1]; i++) if (d[i] != null) n++;
    }
    return n;
  }

  function chartWidth(fig) {
    return Math.max(300, Math.floor(fig.querySelector(".plot").getBoundingClientRect().width));
  }

  function draw(fig, c) {
    var series = [{ label: c.x.label, value: function (u, v) { return v == null ? "-" : (c.categories ? c.categories[v] : (c.x.scale === "quantile" ? pctLabel(v) : fmt(v))); } }];
    var aligned = [c.xs];
    c.series.forEach(function (s, i) {
      series.push(seriesOpts(s, i, c));
      aligned.push(s.values);
    });
    var scales = { x: scaleOpts(c.x, true, c), y: scaleOpts(c.y, false, c) };
    var width = chartWidth(fig);
    var axes = [axisOpts(c.x, true, c, "x", null, width), axisOpts(c.y, false, c, "y")];
    if (c.y2) {
      scales.y2 = scaleOpts(c.y2, false, c);
      axes.push(axisOpts(c.y2, false, c, "y2", 1));
    }
    var layer = null, first = true; // the bands' and marks' divs, made at the first draw
    var opts = {
      width: width, height: 260, series: series, scales: scales, axes: axes,
      legend: { live: true }, cursor: { drag: { x: true, y: false } },
      hooks: {
        draw: [function (u) {
          whiskers(u, c);
          if (!layer) layer = makeLayers(u, c);
          fig.dataset.marks = place(u, c, layer);
          fig.dataset.points = drawnPoints(u);
          if (first) {
            first = false;
            fig.dataset.drawn = "1";
            if (--pending === 0) document.documentElement.dataset.rendered = performance.now().toFixed(1);
          }
        }]
      }
    };
    plots[+fig.dataset.chart] = { u: new uPlot(opts, aligned, fig.querySelector(".plot")), c: c, fig: fig };
  }

  // wsgilabInk counts the pixels of chart n's canvas, inside the plotting area, that have one of
  // its series' colours: what the series themselves put there (axes and grid are grey, bands and
  // marks are not on the canvas).
  window.wsgilabInk = function (n) {
    var p = plots[n];
    if (!p) return -1;
    var u = p.u, want = [];
    for (var si = 1; si < u.series.length; si++) {
      var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(u.series[si].stroke());
      if (m) want.push([parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)]);
    }
    var b = u.bbox, img = u.ctx.getImageData(b.left, b.top, b.width, b.height).data, n2 = 0;
    for (var i = 0; i < img.length; i += 4) {
      if (img[i + 3] < 200) continue;
      for (var k = 0; k < want.length; k++) {
        var w = want[k];
        if (Math.abs(img[i] - w[0]) + Math.abs(img[i + 1] - w[1]) + Math.abs(img[i + 2] - w[2]) < 24) { n2++; break; }
      }
    }
    return n2;
  };

  var figs = document.querySelectorAll("figure.chart");
  pending = figs.length;
  if (pending === 0) document.documentElement.dataset.rendered = performance.now().toFixed(1);
  figs.forEach(function (fig) { draw(fig, data.charts[+fig.dataset.chart]); });

  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      plots.forEach(function (p) { p.u.setSize({ width: chartWidth(p.fig), height: 260 }); });
    }, 150);
  });
})();
