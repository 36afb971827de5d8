// The patrol leader's page (/app/patrols): the map of the plan. The result (#result, swapped in
// by htmx after planning) names the plan and its compared other mode; both are read from this
// server's GET /patrols/{id} (the session cookie) and drawn as two layers to toggle, each
// patroller's route in its colour with numbered stops. A planning answer that is a refusal
// (422, 409) or "busy" (503) is shown in place of the result, not dropped.
(function () {
  "use strict";
  var mapEl = document.getElementById("plan-map");
  var map = null;
  var control = null;
  var layers = [];
  var drawn = null;

  document.addEventListener("htmx:beforeSwap", function (e) {
    var status = e.detail.xhr.status;
    if (status === 403 || status === 404 || status === 409 || status === 422 || status === 503) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  // The patrollers' list may hold hundreds of workers: a filter narrows what is shown (a ticked
  // worker stays ticked when hidden), and the count of those ticked stays in sight.
  var filter = document.getElementById("worker-filter");
  var ticked = document.getElementById("workers-ticked");
  var workerList = document.getElementById("workers");
  function countTicked() {
    if (!ticked || !workerList) {
      return;
    }
    var n = workerList.querySelectorAll('input[name="workers"]:checked').length;
    ticked.textContent = ticked.dataset.template.replace("{n}", String(n));
  }
  if (filter && workerList) {
    filter.addEventListener("input", function () {
      var words = filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      workerList.querySelectorAll("li").forEach(function (li) {
        var text = li.textContent.toLowerCase();
        li.hidden = !words.every(function (w) { return text.indexOf(w) !== -1; });
      });
    });
    workerList.addEventListener("change", countTicked);
    countTicked();
  }

  function colourSwatches(root) {
    root.querySelectorAll(".swatch[data-colour]").forEach(function (el) {
      el.style.background = el.dataset.colour;
    });
  }

  function setUp() {
    if (map || !mapEl || typeof L === "undefined") {
      return;
    }
    // Quarter zoom steps: a plan's routes fill the map instead of half of it.
    map = window.gridpatrolMap.gridMap(
      mapEl,
      mapEl.dataset.tiles,
      window.gridpatrolMap.QUIET_GRIDS,
      { zoomSnap: 0.25 }
    );
  }

  function colourOf(seq) {
    var swatch = document.querySelector('#result tr[data-route="' + seq + '"] .swatch');
    return swatch ? swatch.dataset.colour : "#0b5394";
  }

  function stopIcon(n, colour, late) {
    var el = document.createElement("span");
    el.className = "gp-stop-number" + (late ? " late" : "");
    el.textContent = String(n);
    el.style.background = colour;
    return L.divIcon({ html: el, className: "gp-stop", iconSize: [22, 22], iconAnchor: [11, 11] });
  }

  function planLayer(plan, label) {
    var group = L.featureGroup();
    var starts = {};
    plan.routes.forEach(function (route) {
      var key = route.start.lon + "," + route.start.lat;
      if (!starts[key]) {
        starts[key] = true;
        L.marker([route.start.lat, route.start.lon], {
          icon: L.divIcon({ className: "gp-start", iconSize: [16, 16], iconAnchor: [8, 8] }),
          title: mapEl.getAttribute("data-label-station") || "station",
          keyboard: false,
        }).addTo(group);
      }
    });
    plan.routes.forEach(function (route) {
      var colour = colourOf(route.seq);
      if (route.geometry) {
        var line = route.geometry.coordinates.map(function (c) {
          return [c[1], c[0]];
        });
        L.polyline(line, {
          color: colour,
          weight: plan.mode === "joint" ? 5 : 4,
          opacity: 0.85,
          dashArray: plan.mode === "joint" ? null : "8 6",
          className: "gp-route gp-mode-" + plan.mode,
        })
          .bindTooltip(route.patroller.name + " · " + label)
          .addTo(group);
      }
      route.stops.forEach(function (stop) {
        L.marker([stop.lat, stop.lon], {
          icon: stopIcon(stop.seq, colour, stop.late),
          title: route.patroller.name + " #" + stop.seq + " " + (stop.label || stop.ref),
          keyboard: true,
        }).addTo(group);
      });
    });
    return group;
  }

  function draw() {
    var result = document.getElementById("result");
    if (result) {
      colourSwatches(result);
    }
    setUp();
    if (!map || !result || !result.dataset.plans) {
      return;
    }
    drawn = result.dataset.plans;
    layers.forEach(function (l) {
      map.removeLayer(l);
    });
    layers = [];
    if (control) {
      map.removeControl(control);
    }
    control = L.control.layers(null, null, { collapsed: false }).addTo(map);
    var ids = result.dataset.plans.split(",");
    Promise.all(
      ids.map(function (id) {
        return fetch("/patrols/" + encodeURIComponent(id), {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        }).then(function (r) {
          if (!r.ok) {
            throw new Error("plan " + id + ": " + r.status);
          }
          return r.json();
        });
      })
    ).then(function (plans) {
      var bounds = L.latLngBounds([]);
      plans.forEach(function (plan, i) {
        var label = mapEl.getAttribute("data-label-" + plan.mode) || plan.mode;
        var group = planLayer(plan, label);
        if (group.getLayers().length) {
          bounds.extend(group.getBounds());
        }
        layers.push(group);
        control.addOverlay(group, label + " · " + plan.id);
        // The plan asked for is shown; its other mode is a tick away.
        if (i === 0) {
          group.addTo(map);
        }
      });
      if (bounds.isValid()) {
        map.fitBounds(bounds, { padding: [20, 20] });
      }
      mapEl.dataset.drawn = String(plans.length);
    });
  }

  document.addEventListener("htmx:afterSettle", function () {
    var result = document.getElementById("result");
    if (result && result.dataset.plans !== drawn) {
      draw();
    }
  });
  draw();
})();
