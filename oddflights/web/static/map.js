// The optional tile map (setting tile_url): draws the page's #map-data with Leaflet, which
// oddflights serves itself. Without a tile URL this file is not loaded at all.
(function () {
  "use strict";
  var box = document.getElementById("leaflet-map");
  var source = document.getElementById("map-data");
  if (!box || !source || !window.L) return;
  var d = JSON.parse(source.textContent);
  var map = L.map(box, { scrollWheelZoom: false });
  L.tileLayer(d.tiles.url, { attribution: d.tiles.attribution, maxZoom: 18 }).addTo(map);
  var colours = ["#c0392b", "#1f6fb2", "#1e8449", "#8e44ad", "#d35400", "#117a8b", "#7d6608", "#b03a7a"];
  d.rings_m.forEach(function (r) {
    L.circle(d.receiver, { radius: r, color: "#5d6670", weight: 1, dashArray: "5 4", fill: false, interactive: false }).addTo(map);
  });
  L.circleMarker(d.receiver, { radius: 5, color: "#1d232a", fillOpacity: 1 }).bindTooltip("receiver").addTo(map);
  d.airports.forEach(function (a) {
    L.circleMarker([a[0], a[1]], { radius: a[4] ? 5 : 3, color: "#2f5f8f", weight: 1.5, fillOpacity: a[4] ? 1 : 0.2 })
      .bindTooltip(a[2] + " (" + a[3] + ")").addTo(map);
  });
  var bounds = null;
  d.flights.forEach(function (f, i) {
    if (!f.track.length) return;
    var colour = d.flights.length > 1 ? colours[i % colours.length] : "#b3261e";
    var line = L.polyline(f.track, { color: colour, weight: 3 }).addTo(map);
    line.bindTooltip(f.rank ? "#" + f.rank + " " + f.label : f.label);
    if (f.href) line.on("click", function () { window.location.href = f.href; });
    if (f.rank) {
      var icon = L.divIcon({ className: "rank-icon", html: String(f.rank), iconSize: [20, 20] });
      var mark = L.marker(f.track[0], { icon: icon, title: "#" + f.rank + " " + f.label }).addTo(map);
      if (f.href) mark.on("click", function () { window.location.href = f.href; });
    } else {
      L.circleMarker(f.track[0], { radius: 5, color: "#207a3c", fillColor: "#fff", fillOpacity: 1 }).bindTooltip("start").addTo(map);
    }
    bounds = bounds ? bounds.extend(line.getBounds()) : line.getBounds();
  });
  if (bounds) map.fitBounds(bounds.pad(0.1));
  else map.setView(d.receiver, 8);
})();
