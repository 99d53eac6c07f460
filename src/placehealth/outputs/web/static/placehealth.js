/* placehealth pages: draw Vega-Lite charts and Leaflet maps from data inlined in the page. */
(function () {
  "use strict";

  function json(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function drawCharts() {
    if (typeof vegaEmbed === "undefined") return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var spec = json(el.getAttribute("data-chart"));
      if (!spec) return;
      // ast: Vega keeps each expression's syntax tree and evaluates it with vega-interpreter
      // (bundled in vega-embed's build), never with Function(): the CSP refuses eval.
      vegaEmbed(el, spec, { actions: false, renderer: "svg", ast: true }).then(function () {
        el.setAttribute("data-drawn", "true");
      }).catch(function (err) {
        el.textContent = "The chart could not be drawn: " + err;
      });
    });
  }

  var BLUES = ["#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"];
  var DECILES = ["#7f0000", "#b30000", "#d7301f", "#ef6548", "#fc8d59", "#fdbb84", "#fdd49e", "#fee8c8", "#fff7ec", "#ffffff"];
  var CATEGORIES = ["#005eb8", "#ed8b00", "#007f3b", "#7c2855", "#330072", "#00a9ce", "#ae2573", "#78be20",
                    "#425563", "#ffb81c", "#d5281b", "#41b6e6", "#8c564b", "#bcbd22", "#17becf", "#9467bd",
                    "#e377c2", "#2ca02c", "#ff9896", "#c5b0d5", "#c49c94", "#dbdb8d", "#9edae5", "#f7b6d2"];

  // Key values as tables write them: thousands separated, at most one decimal.
  function label(v) { return v.toLocaleString("en-GB", { maximumFractionDigits: 1 }); }

  function colourFor(values, mode) {
    var nums = values.filter(function (v) { return typeof v === "number"; });
    if (mode === "imd_decile") {
      return { fill: function (v) { return typeof v === "number" ? DECILES[Math.max(0, Math.min(9, v - 1))] : "#d8dde0"; },
               legend: DECILES.map(function (c, i) {
                 return [c, (i + 1) + (i === 0 ? " (most deprived)" : i === 9 ? " (least deprived)" : "")];
               }).concat([["#d8dde0", "no data / suppressed"]]) };
    }
    if (mode === "pcn_code") {
      var codes = Array.from(new Set(values.filter(function (v) { return v; }))).sort();
      return { fill: function (v) { var i = codes.indexOf(v); return i < 0 ? "#d8dde0" : CATEGORIES[i % CATEGORIES.length]; },
               legend: codes.length > 12 ? [[null, codes.length + " PCNs, one colour each: hover for names"]]
                       : codes.map(function (c, i) { return [CATEGORIES[i % CATEGORIES.length], c]; }) };
    }
    // Quantile classes: each colour holds about the same number of areas, so one large value
    // does not wash the others out.
    var sorted = nums.slice().sort(function (a, b) { return a - b; });
    var lo = sorted[0], hi = sorted[sorted.length - 1];
    var breaks = BLUES.map(function (_, i) { return sorted[Math.floor(i * sorted.length / BLUES.length)]; });
    return { fill: function (v) {
               if (typeof v !== "number") return "#d8dde0";
               var k = 0;
               for (var i = 0; i < breaks.length; i++) { if (v >= breaks[i]) k = i; }
               return BLUES[k]; },
             legend: nums.length ? [[BLUES[0], label(lo)], [BLUES[7], label(hi)], ["#d8dde0", "suppressed / none"]] : [] };
  }

  function drawMaps() {
    if (typeof L === "undefined") return;
    document.querySelectorAll("[data-map]").forEach(function (el) {
      var geo = json(el.getAttribute("data-map"));
      if (!geo || !geo.features.length) { el.textContent = "No boundaries are loaded for this map."; return; }
      var map = L.map(el, { attributionControl: false, zoomSnap: 0.25 });
      var tiles = el.getAttribute("data-tiles");
      if (tiles) L.tileLayer(tiles, { maxZoom: 18 }).addTo(map);
      var select = document.getElementById(el.getAttribute("data-select") || "");
      // Features marked footprint: false (a few patients far away) are drawn only on request.
      var showAll = document.getElementById(el.getAttribute("data-all") || "");
      var hasFootprint = geo.features.some(function (f) { return f.properties.footprint === false; });
      var mode = select ? select.value : (el.getAttribute("data-colour") || "pcn_code");
      var legend = L.control({ position: "bottomright" });
      var layer;
      function shown() {
        if (!hasFootprint || (showAll && showAll.checked)) return geo;
        return { type: "FeatureCollection", features: geo.features.filter(function (f) { return f.properties.footprint !== false; }) };
      }
      function paint() {
        var drawn = shown();
        var values = drawn.features.map(function (f) { return f.properties[mode]; });
        var scheme = colourFor(values, mode);
        if (layer) map.removeLayer(layer);
        layer = L.geoJSON(drawn, {
          style: function (f) { return { color: "#425563", weight: 0.6, fillOpacity: 0.85, fillColor: scheme.fill(f.properties[mode]) }; },
          onEachFeature: function (f, l) {
            var p = f.properties, v = p[mode];
            var label = (p.name || p.code) + " (" + p.code + ")";
            if (p.pcn_name) label += "<br>" + p.pcn_name;
            if (mode !== "pcn_code") label += "<br>" + mode.replace(/_/g, " ") + ": " + (v === null || v === undefined ? "[c] / none" : (typeof v === "number" ? v.toLocaleString(undefined, {maximumFractionDigits: 1}) : v));
            l.bindTooltip(label);
            var href = el.getAttribute("data-link");
            if (href) l.on("click", function () { window.location.href = href.replace("{code}", p[el.getAttribute("data-link-key") || "code"]); });
          }
        }).addTo(map);
        legend.onAdd = function () {
          var div = L.DomUtil.create("div", "legend");
          div.innerHTML = scheme.legend.map(function (e) {
            return (e[0] ? "<i style='background:" + e[0] + "'></i>" : "") + e[1]; }).join("<br>");
          div.setAttribute("data-entries", String(scheme.legend.length));
          return div;
        };
        legend.remove(); legend.addTo(map);
        el.setAttribute("data-drawn", "true");
        return layer;
      }
      var first = paint();
      map.fitBounds(first.getBounds(), { padding: [10, 10] });
      if (select) select.addEventListener("change", function () { mode = select.value; paint(); });
      if (showAll) showAll.addEventListener("change", function () {
        map.fitBounds(paint().getBounds(), { padding: [10, 10] });
      });
    });
  }

  function searchTables() {
    document.querySelectorAll("[data-filter-table]").forEach(function (input) {
      var table = document.getElementById(input.getAttribute("data-filter-table"));
      if (!table) return;
      input.addEventListener("input", function () {
        var q = input.value.toLowerCase();
        table.querySelectorAll("tbody tr").forEach(function (tr) {
          tr.hidden = q && tr.textContent.toLowerCase().indexOf(q) === -1;
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(); drawMaps(); searchTables(); });
})();
