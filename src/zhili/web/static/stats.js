// The sharing statistics page: rows shared and calls per day (two axes), and rows by
// provider and by consumer. The numbers come from the JSON embedded in the page, the same
// the tables show; ECharts is served by zhili itself.
(function () {
  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }
  function bars(el, items) {
    if (!el) return;
    var chart = echarts.init(el);
    var top = items.slice(0, 10).reverse();
    chart.setOption({
      grid: { left: 120, right: 20, top: 10, bottom: 20 },
      xAxis: { type: "value" },
      yAxis: { type: "category", data: top.map(function (r) { return r.name; }) },
      series: [{ type: "bar", data: top.map(function (r) { return r.rows; }) }],
      tooltip: {}
    });
  }
  ready(function () {
    var data = document.getElementById("stats-data");
    var day = document.getElementById("stats-day");
    if (!data || !day || !window.echarts) return;
    var s = JSON.parse(data.textContent);
    var chart = echarts.init(day);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { data: [day.dataset.rowsLabel, day.dataset.callsLabel] },
      grid: { left: 60, right: 60, top: 40, bottom: 30 },
      xAxis: { type: "category", data: s.by_day.map(function (d) { return d.day.slice(5); }) },
      yAxis: [{ type: "value", name: day.dataset.rowsLabel }, { type: "value", name: day.dataset.callsLabel }],
      series: [
        { name: day.dataset.rowsLabel, type: "bar", data: s.by_day.map(function (d) { return d.rows; }) },
        { name: day.dataset.callsLabel, type: "line", yAxisIndex: 1, data: s.by_day.map(function (d) { return d.calls; }) }
      ]
    });
    day.dataset.rendered = "true";
    bars(document.getElementById("stats-by_provider"), s.by_provider);
    bars(document.getElementById("stats-by_consumer"), s.by_consumer);
  });
})();
