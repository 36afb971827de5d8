// The grid worker's page (/app/worker): today's route on a map of the grids (vector tiles
// from this server) with its path and numbered stops, and recording the walk: the phone's
// positions (watchPosition) kept in localStorage, so a reload loses nothing, then sent as
// the route's track to POST /patrols/{id}/track with the page's CSRF token.
(function () {
  "use strict";

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return key in values ? String(values[key]) : all;
    });
  }

  var mapEl = document.getElementById("route-map");
  var map = null;
  var walked = null;
  if (mapEl && typeof L !== "undefined" && window.gridpatrolMap) {
    var drawn = JSON.parse(mapEl.dataset.route || "{}");
    map = window.gridpatrolMap.gridMap(mapEl, mapEl.dataset.tiles, {
      weight: 1,
      color: "#0b5394",
      fill: true,
      fillOpacity: 0.04,
    });
    var bounds = L.latLngBounds([]);
    if (drawn.path && drawn.path.length > 1) {
      var path = L.polyline(drawn.path, { color: "#c2410c", weight: 5, opacity: 0.85 });
      path.addTo(map);
      bounds.extend(path.getBounds());
    }
    if (drawn.start) {
      L.circleMarker(drawn.start, { radius: 6, color: "#1f2933", weight: 2, fillOpacity: 1 })
        .addTo(map);
      bounds.extend(drawn.start);
    }
    (drawn.stops || []).forEach(function (stop) {
      var icon = L.divIcon({
        className: "stop-pin",
        html: "<span>" + stop.n + "</span>",
        iconSize: [26, 26],
        iconAnchor: [13, 13],
      });
      L.marker([stop.lat, stop.lon], { icon: icon, keyboard: false, title: String(stop.n) })
        .addTo(map);
      bounds.extend([stop.lat, stop.lon]);
    });
    if (bounds.isValid()) {
      map.fitBounds(bounds, { padding: [20, 20], maxZoom: 17 });
    } else {
      map.setView([0, 0], 2);
    }
  }

  var walk = document.getElementById("walk");
  if (!walk) {
    return;
  }
  var start = document.getElementById("walk-start");
  var stop = document.getElementById("walk-stop");
  var send = document.getElementById("walk-send");
  var status = document.getElementById("walk-status");
  var result = document.getElementById("walk-result");
  var key = walk.dataset.key;
  var watching = null;
  var fixes = [];

  function load() {
    try {
      var kept = JSON.parse(window.localStorage.getItem(key) || "[]");
      return Array.isArray(kept) ? kept : [];
    } catch (e) {
      return [];
    }
  }

  function save() {
    try {
      window.localStorage.setItem(key, JSON.stringify(fixes));
    } catch (e) {
      // A full or disabled storage: the walk stays in this page only.
    }
  }

  function drawWalk() {
    // A walk just sent stays drawn until the next one starts.
    if (!map || !fixes.length) {
      return;
    }
    var line = fixes.map(function (f) { return [f.lat, f.lon]; });
    if (walked) {
      walked.setLatLngs(line);
    } else if (line.length) {
      walked = L.polyline(line, { color: "#0b5394", weight: 4, dashArray: "6 6" }).addTo(map);
    }
  }

  function show() {
    var message = watching === null ? walk.dataset.msgStopped : walk.dataset.msgRecording;
    status.textContent = fixes.length || watching !== null ? fill(message, { n: fixes.length }) : "";
    start.disabled = watching !== null;
    stop.disabled = watching === null;
    send.disabled = watching !== null || fixes.length < 2;
    drawWalk();
  }

  function record(position) {
    var fix = {
      lat: position.coords.latitude,
      lon: position.coords.longitude,
      t: position.timestamp,
      accuracy: position.coords.accuracy,
    };
    var last = fixes[fixes.length - 1];
    // Times must go forward; the same place reported again adds nothing.
    if (last && (fix.t <= last.t || (fix.lat === last.lat && fix.lon === last.lon))) {
      return;
    }
    fixes.push(fix);
    save();
    show();
  }

  start.addEventListener("click", function () {
    if (!navigator.geolocation) {
      status.textContent = walk.dataset.msgDenied;
      return;
    }
    result.textContent = "";
    watching = navigator.geolocation.watchPosition(
      record,
      function () {
        status.textContent = walk.dataset.msgDenied;
      },
      { enableHighAccuracy: true, maximumAge: 0, timeout: 60000 }
    );
    show();
  });

  stop.addEventListener("click", function () {
    if (watching !== null) {
      navigator.geolocation.clearWatch(watching);
      watching = null;
    }
    show();
  });

  send.addEventListener("click", function () {
    if (fixes.length < 2) {
      result.textContent = walk.dataset.msgFew;
      return;
    }
    var track = {
      type: "Feature",
      geometry: {
        type: "LineString",
        coordinates: fixes.map(function (f) { return [f.lon, f.lat]; }),
      },
      properties: {
        times: fixes.map(function (f) { return new Date(f.t).toISOString(); }),
        accuracy_m: fixes.map(function (f) { return f.accuracy; }),
      },
    };
    send.disabled = true;
    result.textContent = walk.dataset.msgSending;
    fetch(walk.dataset.trackUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/geo+json",
        "Accept": "application/json",
        "X-CSRF-Token": walk.dataset.csrf,
      },
      body: JSON.stringify(track),
    })
      .then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.ok, body: body };
        });
      })
      .then(function (answer) {
        var body = answer.body;
        if (!answer.ok) {
          result.textContent = fill(walk.dataset.msgRefused, { detail: body.detail || "" });
          send.disabled = false;
          return;
        }
        var passed = (body.stops_passed || []).length;
        var values = {
          km: (body.length_m / 1000).toFixed(2),
          passed: passed,
          stops: passed + (body.stops_missed || []).length,
          grids: (body.grids || []).length,
        };
        result.textContent = fill(
          body.already_stored ? walk.dataset.msgAgain : walk.dataset.msgSent, values
        );
        result.dataset.trackId = String(body.id);
        fixes = [];
        window.localStorage.removeItem(key);
        show();
      })
      .catch(function (error) {
        result.textContent = fill(walk.dataset.msgRefused, { detail: String(error) });
        send.disabled = false;
      });
  });

  fixes = load();
  show();
})();
