// A grant's usage today as two ECharts gauges: calls and rows used against the daily
// quotas (a quota left empty means no limit: its gauge is not drawn). ECharts is served
// by zhili itself; the table under the chart shows the same numbers without script.
(function () {
  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    var el = document.getElementById("usage-chart");
    if (!el || !window.echarts) return;
    var d = el.dataset;
    var gauges = [
      { label: d.labelCalls, used: Number(d.calls), max: d.callsMax === "" ? null : Number(d.callsMax) },
      { label: d.labelRows, used: Number(d.rows), max: d.rowsMax === "" ? null : Number(d.rowsMax) }
    ].filter(function (g) { return g.max !== null; });
    if (!gauges.length) { el.hidden = true; return; }
    var chart = echarts.init(el);
    chart.setOption({
      series: gauges.map(function (g, i) {
        var max = Math.max(g.max, 1);
        return {
          type: "gauge",
          center: [((i + 0.5) * 100 / gauges.length) + "%", "58%"],
          radius: "88%",
          min: 0,
          max: max,
          startAngle: 210,
          endAngle: -30,
          progress: { show: true, width: 14 },
          axisLine: { lineStyle: { width: 14 } },
          axisTick: { show: false },
          splitLine: { show: false },
          axisLabel: { show: false },
          pointer: { show: false },
          anchor: { show: false },
          title: { offsetCenter: [0, "62%"], fontSize: 13 },
          detail: {
            offsetCenter: [0, "0%"], fontSize: 17, fontWeight: "bold",
            formatter: function (v) { return v.toLocaleString() + " / " + g.max.toLocaleString(); }
          },
          itemStyle: { color: g.used >= g.max ? "#b42318" : "#0b5cad" },
          data: [{ value: Math.min(g.used, max), name: g.label }]
        };
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
    el.dataset.rendered = "true";
  });
})();
