// The life circle page (/app/areas): grids and districts from the vector tiles, the walk areas
// and the buildings beyond the limit fetched for the map's view (bbox) from the service-areas
// API, the gaps table's rows zooming the map, and the sites of a siting (htmx) drawn on it.
(function () {
  "use strict";
  var mapEl = document.getElementById("map");
  if (!mapEl || typeof L === "undefined" || !window.gridpatrolMap) {
    return;
  }
  var status = document.getElementById("map-status");
  var minutes = parseFloat(mapEl.dataset.minutes) || 15;
  var BANDS = [
    [minutes * 4 / 3, "#fdae61", "band1"],
    [minutes * 2, "#f46d43", "band2"],
    [Infinity, "#a50026", "band3"],
  ];
  var map = window.gridpatrolMap.gridMap(mapEl, mapEl.dataset.grids, {
    weight: 0.5,
    color: "#7b8794",
    fill: false,
  });
  if (L.vectorGrid) {
    window.gridpatrolMap
      .gridLayer(
        mapEl.dataset.districts,
        { districts: { weight: 3, color: "#111111", fill: false }, districts_labels: [] },
        { minZoom: 0 }
      )
      .addTo(map);
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, key) {
      return key in values ? String(values[key]) : whole;
    });
  }

  var areas = L.geoJSON(null, {
    style: function () {
      return { className: "gp-area", color: "#0b5394", weight: 1, fillColor: "#0b5394", fillOpacity: 0.12 };
    },
    onEachFeature: function (feature, layer) {
      var p = feature.properties || {};
      layer.bindTooltip((p.name || p.code) + " " + p.code + ": " + p.residents);
    },
  }).addTo(map);
  var gaps = L.layerGroup().addTo(map);
  var sites = L.layerGroup().addTo(map);
  var fetched = null;
  var pending = null;

  function bandOf(walk) {
    for (var i = 0; i < BANDS.length; i++) {
      if (walk <= BANDS[i][0]) {
        return BANDS[i];
      }
    }
    return BANDS[BANDS.length - 1];
  }

  function drawGaps(body) {
    gaps.clearLayers();
    (body.gaps || []).forEach(function (b) {
      var unconnected = b.walk_minutes === null;
      var band = unconnected ? [0, "#000000", "unconnected"] : bandOf(b.walk_minutes);
      var text = unconnected
        ? fill(mapEl.dataset.msgUnconnected, { code: b.code, residents: b.residents })
        : fill(mapEl.dataset.msgGap, { code: b.code, minutes: b.walk_minutes, residents: b.residents });
      L.circleMarker([b.lat, b.lon], {
        className: "gp-gap " + band[2],
        radius: 4,
        color: band[1],
        weight: 1,
        fillColor: band[1],
        fillOpacity: 0.9,
      }).bindTooltip(text).addTo(gaps);
    });
  }

  function load() {
    var view = map.getBounds();
    if (fetched && fetched.contains(view)) {
      return;
    }
    var box = view.pad(0.5);
    var bbox = [box.getWest(), box.getSouth(), box.getEast(), box.getNorth()]
      .map(function (v, i) {
        var limit = i % 2 === 0 ? 180 : 90;
        return Math.max(-limit, Math.min(limit, v)).toFixed(6);
      })
      .join(",");
    // One after the other, each retried when the server's heavy slots are all busy (503 with
    // Retry-After): a server with a single slot would refuse the second of two at once.
    var ask = function (url, tries) {
      return fetch(url + "&bbox=" + bbox, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      }).then(function (response) {
        if (response.status === 503 && tries > 0) {
          var wait = 1000 * (parseInt(response.headers.get("Retry-After"), 10) || 2);
          return new Promise(function (resolve) {
            window.setTimeout(resolve, wait);
          }).then(function () {
            return ask(url, tries - 1);
          });
        }
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      });
    };
    status.textContent = mapEl.dataset.msgLoading;
    var mine = {};
    pending = mine;
    var bodies = [];
    ask(mapEl.dataset.areas, 3)
      .then(function (body) {
        bodies.push(body);
        return ask(mapEl.dataset.gaps, 3);
      })
      .then(function (body) {
        bodies.push(body);
        if (pending !== mine) {
          return;
        }
        areas.clearLayers();
        areas.addData(bodies[0]);
        drawGaps(bodies[1]);
        fetched = box;
        mapEl.dataset.loaded = "true";
        status.textContent = fill(mapEl.dataset.msgLoaded, {
          areas: bodies[0].features.length,
          gaps: (bodies[1].gaps || []).length,
        });
      })
      .catch(function (problem) {
        if (pending === mine) {
          status.textContent = fill(mapEl.dataset.msgFailed, { status: problem.message });
        }
      });
  }

  var timer = null;
  map.on("moveend", function () {
    mapEl.dataset.zoom = String(map.getZoom());
    window.clearTimeout(timer);
    timer = window.setTimeout(load, 250);
  });
  mapEl.dataset.zoom = String(map.getZoom());
  load();

  function zoomTo(text) {
    var b = (text || "").split(",").map(Number);
    if (b.length === 4 && b.every(isFinite)) {
      map.fitBounds([[b[1], b[0]], [b[3], b[2]]]);
      mapEl.scrollIntoView({ block: "nearest" });
    }
  }
  var table = document.getElementById("gaps-table");
  if (table) {
    table.addEventListener("click", function (e) {
      var row = e.target.closest("tr[data-bounds]");
      if (row && !e.target.closest("a")) {
        zoomTo(row.dataset.bounds);
      }
    });
  }

  function drawSites() {
    sites.clearLayers();
    var holder = document.getElementById("siting-sites");
    if (!holder) {
      return;
    }
    var list = JSON.parse(holder.dataset.sites || "[]");
    var where = [];
    list.forEach(function (s) {
      L.circleMarker([s.lat, s.lon], {
        className: "gp-site",
        radius: 9,
        color: "#ffffff",
        weight: 2,
        fillColor: "#00a651",
        fillOpacity: 1,
      })
        .bindTooltip(String(s.rank), { permanent: true, direction: "center", className: "gp-site-label" })
        .addTo(sites)
        .on("mouseover", function () {
          status.textContent = fill(mapEl.dataset.msgSite, s);
        });
      where.push([s.lat, s.lon]);
    });
    if (where.length && !map.getBounds().contains(L.latLngBounds(where))) {
      map.fitBounds(L.latLngBounds(where).pad(0.5), { maxZoom: Math.max(map.getZoom(), 15) });
    }
    mapEl.dataset.sites = String(list.length);
  }
  drawSites();

  // A refused or busy siting answers 422/503 with its message: show it in place too.
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "siting-result") {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "siting-result") {
      drawSites();
    }
  });
})();
