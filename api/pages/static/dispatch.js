// The dispatch desk (/app/dispatch): a map beside the queue with the reports of the page shown,
// red when overdue, the report open on the desk larger. A click on one opens it, as its row's
// link does. The queue refreshes itself (htmx swaps #queue): the markers follow it.
(function () {
  "use strict";
  var mapEl = document.getElementById("desk-map");
  var map = null;
  var markers = null;
  var fitted = false;

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue tr[data-lat]"));
  }

  function draw() {
    if (!map) {
      return;
    }
    var open = mapEl.dataset.report;
    markers.clearLayers();
    var shown = rows();
    var listed = shown.some(function (row) { return row.dataset.report === open; });
    if (open && !listed && mapEl.dataset.reportLat) {
      // The report open on the desk is not on this page of the queue (closed, or further on).
      var own = document.createElement("tr");
      own.dataset.report = open;
      own.dataset.lat = mapEl.dataset.reportLat;
      own.dataset.lon = mapEl.dataset.reportLon;
      own.dataset.label = open;
      shown.push(own);
    }
    shown.forEach(function (row) {
      var lat = parseFloat(row.dataset.lat);
      var lon = parseFloat(row.dataset.lon);
      if (!isFinite(lat) || !isFinite(lon)) {
        return;
      }
      var overdue = row.classList.contains("overdue");
      var chosen = row.dataset.report === open;
      var marker = L.circleMarker([lat, lon], {
        radius: chosen ? 11 : 7,
        color: chosen ? "#1f2933" : "#ffffff",
        weight: chosen ? 3 : 1.5,
        fillColor: overdue ? "#c0392b" : "#0b5394",
        fillOpacity: 0.9,
      });
      marker.bindTooltip(row.dataset.label || row.dataset.report);
      var link = row.querySelector("a");
      marker.on("click", function () {
        if (link) {
          window.location.href = link.href;
        }
      });
      markers.addLayer(marker);
      if (chosen) {
        marker.bringToFront();
      }
    });
    // The first view: the page's reports (else the account's grids), kept while refreshing.
    if (!fitted && markers.getLayers().length) {
      map.fitBounds(markers.getBounds(), { padding: [24, 24], maxZoom: 16 });
    }
    fitted = true;
    mapEl.dataset.markers = String(markers.getLayers().length);
  }

  function setUp() {
    if (map || !mapEl || typeof L === "undefined") {
      return;
    }
    var grids = window.gridpatrolMap;
    map = grids.gridMap(mapEl, mapEl.dataset.tiles, grids.QUIET_GRIDS, { zoomSnap: 0.25 });
    markers = L.featureGroup().addTo(map);
    draw();
  }

  document.addEventListener("htmx:afterSettle", draw);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
