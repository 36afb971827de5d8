// The pages' map of the city (report, worker, patrols, areas): Leaflet on the element, fitted
// to its data-bounds ("minlon,minlat,maxlon,maxlat", else the whole world), with the grids
// drawn from this server's vector tiles. Each page adds its own layers to the map it returns.
(function () {
  "use strict";

  function gridMap(el, tilesUrl, gridStyle, options) {
    var map = L.map(
      el,
      Object.assign({ zoomControl: true, attributionControl: false, keyboard: true }, options)
    );
    var bounds = (el.dataset.bounds || "").split(",").map(Number);
    if (bounds.length === 4 && bounds.every(isFinite)) {
      map.fitBounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]]);
    } else {
      map.setView([0, 0], 2);
    }
    if (L.vectorGrid && tilesUrl) {
      gridLayer(tilesUrl, { grids: gridStyle, grids_labels: [] }).addTo(map);
    }
    return map;
  }

  // A vector-tile layer of this server drawn as SVG (its paths are in the page, for tests and
  // screen readers alike), not clickable, from the zoom grids become visible (``options``
  // overrides, e.g. districts from any zoom).
  function gridLayer(tilesUrl, styles, options) {
    return L.vectorGrid.protobuf(
      tilesUrl,
      Object.assign(
        {
          rendererFactory: L.svg.tile,
          interactive: false,
          minZoom: 10,
          maxNativeZoom: 16,
          vectorTileLayerStyles: styles,
        },
        options
      )
    );
  }

  // Grids as a quiet background under a page's own layers (a plan's routes, the desk's reports).
  var QUIET_GRIDS = { weight: 1, color: "#7b8794", fill: true, fillOpacity: 0.03 };

  window.gridpatrolMap = { gridMap: gridMap, gridLayer: gridLayer, QUIET_GRIDS: QUIET_GRIDS };
})();
