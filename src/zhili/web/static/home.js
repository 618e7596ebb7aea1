// Home page pictures: the city's districts as a map and users per role as a bar chart.
// ECharts is served by zhili itself (no CDN); the map is drawn from our own GeoJSON.
(function () {
  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    if (!window.echarts) return;
    var mapEl = document.getElementById("city-map");
    if (mapEl) {
      fetch(mapEl.dataset.geojson, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (geo) {
          if (!geo.features || !geo.features.length) {
            mapEl.textContent = "—";
            return;
          }
          var key = mapEl.dataset.nameKey || "name";
          geo.features.forEach(function (f) {
            f.properties.name = f.properties[key] || f.properties.name;
          });
          echarts.registerMap("zhili-city", geo);
          var chart = echarts.init(mapEl);
          chart.setOption({
            tooltip: { trigger: "item", formatter: "{b}" },
            series: [{
              type: "map", map: "zhili-city", roam: true,
              label: { show: true, fontSize: 10 },
              itemStyle: { areaColor: "#e8f1fb", borderColor: "#0b5cad" },
              emphasis: { itemStyle: { areaColor: "#9cc3ea" } },
              data: geo.features.map(function (f) { return { name: f.properties.name }; })
            }]
          });
          window.addEventListener("resize", function () { chart.resize(); });
          mapEl.dataset.rendered = "true";
        });
    }
    var rolesEl = document.getElementById("roles-chart");
    if (rolesEl) {
      var series = JSON.parse(rolesEl.dataset.series || "{}");
      var labels = JSON.parse(rolesEl.dataset.labels || "{}");
      var names = Object.keys(series).sort();
      var bar = echarts.init(rolesEl);
      bar.setOption({
        tooltip: {},
        grid: { left: 110, right: 20, top: 10, bottom: 20 },
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", data: names.map(function (n) { return labels[n] || n; }) },
        series: [{ type: "bar", data: names.map(function (n) { return series[n]; }),
                   itemStyle: { color: "#0b5cad" } }]
      });
      rolesEl.dataset.rendered = "true";
    }
  });
})();
