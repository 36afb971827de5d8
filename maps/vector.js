/* gridpatrol's vector layers on Leaflet.VectorGrid: tiles from the server or GeoJSON sliced in
 * the browser, styled from a spec written by maps/vector.py, with tooltips, popups, text labels
 * and per-layer counts of what was drawn (window.gridpatrolVector.stats, read by the tests).
 */
(function () {
  "use strict";

  // Leaflet 1.8 removed L.DomEvent.fakeStop, which VectorGrid 1.3's canvas renderer still calls.
  if (!L.DomEvent.fakeStop) {
    L.DomEvent.fakeStop = function (e) { e._stopped = true; };
  }

  var stats = {};
  function count(layer, key, n) {
    var s = stats[layer] ||
      (stats[layer] = { tiles: 0, features: 0, labels: 0, loading: 0, loaded: 0 });
    s[key] += n === undefined ? 1 : n;
  }

  // A point styled with `label` is drawn as SVG text inside its tile (and is no pointer
  // target); neighbouring tiles draw the same point from their buffer, so a label cut by a
  // tile edge is completed next door.
  var addPath = L.SVG.Tile.prototype._addPath;
  L.SVG.Tile.prototype._addPath = function (layer) {
    var text = layer.options && layer.options.label;
    if (text && layer._point) {
      var node = L.SVG.create("text");
      node.setAttribute("x", layer._point.x);
      node.setAttribute("y", layer._point.y);
      node.setAttribute("class", "gp-label");
      node.textContent = text;
      this._rootGroup.appendChild(node);
      return;
    }
    if (layer._point) {
      // A tile's point symbolizer has no LatLng: Leaflet must place its events at the mouse.
      layer.getLatLng = null;
    }
    addPath.call(this, layer);
  };
  var css = document.createElement("style");
  css.textContent =
    ".gp-label{font-size:11px;font-weight:600;fill:#123;stroke:#fff;stroke-width:3px;" +
    "paint-order:stroke;text-anchor:middle;dominant-baseline:middle;pointer-events:none}";
  document.head.appendChild(css);

  function colourFor(code, palette) {
    if (code === null || code === undefined || code === "") { return "#444444"; }
    code = String(code);
    // Community and grid serials together, as maps/legend.py colour_for does.
    var digits = code.slice(-6), key = 0;
    if (/^[0-9]+$/.test(digits)) {
      key = parseInt(digits, 10) * 5;
    } else {
      for (var i = 0; i < code.length; i++) { key += code.charCodeAt(i); }
    }
    return palette[key % palette.length];
  }

  function isOverdue(props, fields, now) {
    for (var i = 0; i < fields.length; i++) {
      var due = props[fields[i]];
      if (due && Date.parse(due) < now) { return true; }
    }
    return false;
  }

  function styleFor(spec, props) {
    var out = L.extend({}, spec.style);
    var classes = spec.className ? [spec.className] : [];
    if (spec.fillBy) {
      var value = props[spec.fillBy];
      out.fillColor = spec.fillLookup ? (spec.fillLookup[value] || out.fillColor)
                                      : colourFor(value, spec.palette);
      if (spec.strokeLikeFill) { out.color = out.fillColor; }
    }
    if (spec.classBy) { classes.push(spec.className + "-" + props[spec.classBy]); }
    if (spec.overdue && isOverdue(props, spec.overdue.fields, Date.now())) {
      L.extend(out, spec.overdue.style);
      classes.push(spec.className + "-overdue");
    }
    if (classes.length) { out.className = classes.join(" "); }
    return out;
  }

  function esc(value) {
    return String(value).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }

  function table(rows, props) {
    var html = "";
    for (var i = 0; i < rows.length; i++) {
      var v = props[rows[i][0]];
      html += "<tr><th style='text-align:left;padding-right:6px'>" + esc(rows[i][1]) +
        "</th><td>" + esc(v === undefined || v === null ? "—" : v) + "</td></tr>";
    }
    return "<table>" + html + "</table>";
  }

  function layerStyles(spec) {
    var styles = {};
    styles[spec.layer] = function (props) {
      count(spec.layer, "features");
      return styleFor(spec, props);
    };
    // A layer's tiles may carry label points; a spec without `label` draws none of them
    // (VectorGrid would draw them as default blue circles).
    styles[spec.layer + "_labels"] = function () { return []; };
    if (spec.label) {
      styles[spec.layer + "_labels"] = function (props, zoom) {
        if (zoom < spec.label.minZoom) { return []; }
        count(spec.layer, "labels");
        var text = String(props[spec.label.field] || "");
        if (spec.label.last) { text = text.slice(-spec.label.last); }
        // Closer in, a second field too (a grid's full code beside its name).
        var detail = spec.label.detail;
        if (detail && zoom >= detail.minZoom && props[detail.field]) {
          text = text ? text + " " + props[detail.field] : String(props[detail.field]);
        }
        return { label: text, radius: 0, stroke: false, fill: false, interactive: false };
      };
    }
    return styles;
  }

  function options(spec, extra) {
    var opts = {
      pane: "overlayPane",
      interactive: Boolean(spec.tooltip || spec.popup),
      vectorTileLayerStyles: layerStyles(spec),
      minZoom: spec.minZoom || 0,
      maxNativeZoom: 22,
    };
    if (spec.highlight) {
      // Highlighting restyles one feature in every tile it crosses: found by this id.
      opts.getFeatureId = function (f) { return f.properties[spec.idField]; };
    }
    return L.extend(opts, extra || {});
  }

  function bindEvents(map, spec, grid) {
    if (spec.tooltip) {
      var tip = L.tooltip({ sticky: true, direction: "top", offset: [0, -8] });
      grid.on("mouseover", function (e) {
        tip.setContent(table(spec.tooltip, e.layer.properties)).setLatLng(e.latlng);
        map.openTooltip(tip);
        if (spec.highlight) {
          var id = e.layer.properties[spec.idField];
          grid.setFeatureStyle(id, L.extend(styleFor(spec, e.layer.properties), spec.highlight));
          grid._gpHighlighted = id;
        }
      });
      grid.on("mousemove", function (e) { tip.setLatLng(e.latlng); });
      grid.on("mouseout", function () {
        map.closeTooltip(tip);
        if (grid._gpHighlighted !== undefined) {
          grid.resetFeatureStyle(grid._gpHighlighted);
          delete grid._gpHighlighted;
        }
      });
    }
    if (spec.popup) {
      grid.on("click", function (e) {
        L.popup({ maxWidth: 320 }).setLatLng(e.latlng)
          .setContent(table(spec.popup, e.layer.properties)).openOn(map);
      });
    }
    grid.on("tileload", function () { count(spec.layer, "tiles"); });
    // Every visible tile of the layer arrived (what "the first view is drawn" waits for).
    grid.on("loading", function () { count(spec.layer, "loading"); });
    grid.on("load", function () { count(spec.layer, "loaded"); });
  }

  // A vector layer from `spec` (see maps/vector.py): tiles from spec.url, or GeoJSON in
  // spec.data (and label points in spec.labels) sliced into tiles in the browser.
  function layer(map, spec) {
    var grid;
    if (spec.url) {
      // 512 px tiles: the tile of zoom z - 1 covers a 512 px cell of the map at zoom z.
      grid = L.vectorGrid.protobuf(spec.url, options(spec, {
        tileSize: 512, tz: function (data) { return data.z - 1; },
      }));
      bindEvents(map, spec, grid);
      return grid;
    }
    grid = L.vectorGrid.slicer(spec.data, options(spec, {
      vectorTileLayerName: spec.layer, maxZoom: 22, maxNativeZoom: 20, tolerance: 1,
    }));
    bindEvents(map, spec, grid);
    if (!spec.labels) { return grid; }
    var labels = L.vectorGrid.slicer(spec.labels, options(spec, {
      vectorTileLayerName: spec.layer + "_labels", maxZoom: 22, maxNativeZoom: 20,
      interactive: false,
    }));
    return L.layerGroup([grid, labels]);
  }

  // Calls `callback` once every vector layer has drawn the tiles it asked for (or after 5 s).
  function whenDrawn(callback) {
    var started = Date.now();
    (function check() {
      var layers = Object.keys(stats);
      var drawn = layers.length > 0 && layers.every(function (name) {
        return stats[name].loaded >= stats[name].loading;
      });
      if (drawn || Date.now() - started > 5000) { callback(); } else { setTimeout(check, 50); }
    })();
  }

  // Problems and other small computed layers: a GeoJSON whose features carry their own
  // Leaflet style and label; `source` is a URL fetched after the map is drawn, or the data.
  function styledGeoJson(group, source, onLoad) {
    function draw(fc) {
      L.geoJSON(fc, {
        style: function (f) { return f.properties.style; },
        pointToLayer: function (f, latlng) { return L.circleMarker(latlng, f.properties.style); },
        onEachFeature: function (f, l) {
          l.bindTooltip(f.properties.label);
          l.bindPopup(f.properties.label, { maxWidth: 320 });
        },
      }).addTo(group);
      if (onLoad) { onLoad(fc); }
    }
    if (typeof source === "string") {
      // After the tiles: a slow analysis must not compete with the first view.
      whenDrawn(function () {
        fetch(source).then(function (r) { return r.json(); }).then(draw);
      });
    } else {
      draw(source);
    }
  }

  window.gridpatrolVector = {
    layer: layer, styledGeoJson: styledGeoJson, colourFor: colourFor, stats: stats,
  };
})();
