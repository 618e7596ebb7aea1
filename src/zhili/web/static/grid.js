// The grid map (网格): the children of one area, drawn from the API's GeoJSON with
// ECharts (served by zhili itself). A click on an area drills down to its own children;
// on grids, the leaves, it opens the grid's page with its grid workers.
(function () {
  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }
  function label(props, locale) {
    return locale === "en" && props.name_en ? props.name_en : props.name;
  }
  ready(function () {
    var el = document.getElementById("grid-map");
    if (!el || !window.echarts) return;
    var chart = echarts.init(el);
    chart.showLoading({ text: el.dataset.loading });
    fetch(el.dataset.geojson, { headers: { Accept: "application/geo+json, application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.json();
      })
      .then(function (geo) {
        var locale = el.dataset.locale;
        var name = "grid-" + el.dataset.map;
        echarts.registerMap(name, geo);
        var data = geo.features.map(function (f) {
          return { name: f.properties.code, value: f.properties.children, label: label(f.properties, locale), props: f.properties };
        });
        chart.hideLoading();
        chart.setOption({
          tooltip: {
            formatter: function (p) {
              return p.data ? p.data.label + "<br>" + p.data.name : p.name;
            }
          },
          series: [{
            type: "map",
            map: name,
            nameProperty: "code",
            roam: true,
            selectedMode: false,
            data: data,
            label: {
              show: data.length <= 40,
              formatter: function (p) { return p.data ? p.data.label : p.name; },
              fontSize: 11
            },
            itemStyle: { areaColor: "#e8f1fb", borderColor: "#2f6fb3", borderWidth: 1 },
            emphasis: { itemStyle: { areaColor: "#b9d3f0" }, label: { show: true } }
          }]
        });
        el.dataset.rendered = "true";
        chart.on("click", function (p) {
          if (!p.data) return;
          var code = encodeURIComponent(p.data.name);
          if (el.dataset.leaf === "true" || !p.data.value) location.href = "/grid/areas/" + code;
          else location.href = "/grid/areas?parent=" + code;
        });
      })
      .catch(function () {
        chart.hideLoading();
        el.textContent = el.dataset.failed;
      });
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
