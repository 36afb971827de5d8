// The resident's report form (/app/report): pick the place by the phone's position or a tap
// on the map of the grids (vector tiles from this server); the coordinates land in the
// form's latitude and longitude fields, which can also be typed (no script needed to send).
(function () {
  "use strict";
  var mapEl = document.getElementById("map");
  var lat = document.getElementById("lat");
  var lon = document.getElementById("lon");
  var locate = document.getElementById("locate");
  var status = document.getElementById("locate-status");
  if (!mapEl || !lat || !lon || typeof L === "undefined" || !window.gridpatrolMap) {
    return;
  }
  var map = window.gridpatrolMap.gridMap(mapEl, mapEl.dataset.tiles, {
    weight: 1,
    color: "#0b5394",
    fill: true,
    fillOpacity: 0.05,
  });
  var marker = null;

  function place(latitude, longitude, message) {
    lat.value = latitude.toFixed(7);
    lon.value = longitude.toFixed(7);
    var at = [latitude, longitude];
    if (marker) {
      marker.setLatLng(at);
    } else {
      marker = L.circleMarker(at, { radius: 9, color: "#a61b1b", weight: 3 }).addTo(map);
    }
    if (message) {
      status.textContent = message;
    }
  }

  function typed() {
    var a = parseFloat(lat.value);
    var b = parseFloat(lon.value);
    if (isFinite(a) && isFinite(b)) {
      place(a, b, "");
      map.panTo([a, b]);
    }
  }

  map.on("click", function (e) {
    place(e.latlng.lat, e.latlng.lng, mapEl.dataset.msgPicked);
  });
  // Keyboard: the arrows move the map, Enter picks its centre.
  map.on("keypress", function (e) {
    if (e.originalEvent && e.originalEvent.key === "Enter") {
      var c = map.getCenter();
      place(c.lat, c.lng, mapEl.dataset.msgPicked);
    }
  });
  lat.addEventListener("change", typed);
  lon.addEventListener("change", typed);
  typed();

  if (!navigator.geolocation) {
    locate.hidden = true;
    return;
  }
  locate.addEventListener("click", function () {
    navigator.geolocation.getCurrentPosition(
      function (pos) {
        place(pos.coords.latitude, pos.coords.longitude, mapEl.dataset.msgLocated);
        map.setView([pos.coords.latitude, pos.coords.longitude], Math.max(map.getZoom(), 16));
      },
      function () {
        status.textContent = mapEl.dataset.msgDenied;
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  });
})();

// Photos: say at once when one is over the size limit or there are too many (the server
// checks again; with no script the form is still sent and refused with the same reason).
(function () {
  "use strict";
  var input = document.getElementById("photo");
  if (!input) {
    return;
  }
  input.addEventListener("change", function () {
    var maxBytes = Number(input.dataset.maxBytes);
    var maxCount = Number(input.dataset.maxCount);
    var files = Array.prototype.slice.call(input.files || []);
    var message = "";
    if (files.length > maxCount) {
      message = input.dataset.msgTooMany;
    } else if (files.some(function (f) { return f.size > maxBytes; })) {
      message = input.dataset.msgTooLarge;
    }
    input.setCustomValidity(message);
    input.reportValidity();
  });
})();
