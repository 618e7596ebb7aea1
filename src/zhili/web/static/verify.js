// Verification pages (比对核验). On a job's page: pairs per tier and per pass for each
// reference, and for a scenario job people and money per outcome — drawn with the
// ECharts zhili serves itself from the JSON embedded in the page (the tables below the
// charts show the same numbers). On the new-job form: show the roster's resource select
// or its file input, the pasted rule set only when chosen, no references for a dedupe.
// On the review queue: tick every item of the page at once.
(function () {
  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function stacked(el, categories, series, labels) {
    if (!el || !categories.length) return;
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { data: series.map(function (s) { return labels[s.key] || s.key; }) },
      grid: { left: 140, right: 30, top: 40, bottom: 30 },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: categories },
      series: series.map(function (s) {
        return { name: labels[s.key] || s.key, type: "bar", stack: "total", data: s.data,
                 label: { show: true }, itemStyle: { color: s.color } };
      })
    });
    el.dataset.rendered = "true";
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function outcomes(el, rows, labels) {
    if (!el || !rows || !rows.length) return;
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { data: [labels.people, labels.money] },
      grid: { left: 60, right: 80, top: 40, bottom: 30 },
      xAxis: { type: "category", data: rows.map(function (r) { return r.label; }) },
      yAxis: [{ type: "value", name: labels.people, minInterval: 1 },
              { type: "value", name: labels.money }],
      series: [
        { name: labels.people, type: "bar", data: rows.map(function (r) { return r.people; }),
          label: { show: true } },
        { name: labels.money, type: "line", yAxisIndex: 1,
          data: rows.map(function (r) { return r.money; }) }
      ]
    });
    el.dataset.rendered = "true";
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function charts() {
    var data = document.getElementById("verify-data");
    var names = document.getElementById("verify-labels");
    if (!data || !names || !window.echarts) return;
    var c = JSON.parse(data.textContent);
    var labels = JSON.parse(names.textContent);
    if (!c) return;
    stacked(document.getElementById("chart-tiers"), c.references, [
      { key: "auto", data: c.tiers.auto, color: "#127a3c" },
      { key: "review", data: c.tiers.review, color: "#d48806" }
    ], labels);
    stacked(document.getElementById("chart-passes"), c.references, [
      { key: "exact", data: c.passes.exact, color: "#0b5cad" },
      { key: "probabilistic", data: c.passes.probabilistic, color: "#6b9bd1" }
    ], labels);
    outcomes(document.getElementById("chart-outcomes"), c.outcome_rows, labels);
  }

  function form() {
    var f = document.getElementById("verify-form");
    if (!f) return;
    function sync() {
      var source = f.querySelector("input[name=roster_source]:checked");
      f.querySelectorAll("[data-source]").forEach(function (el) {
        el.hidden = !!source && el.dataset.source !== source.value;
      });
      var rules = f.querySelector("select[name=rules]");
      f.querySelectorAll("[data-rules]").forEach(function (el) {
        el.hidden = !!rules && rules.value !== el.dataset.rules;
      });
      var mode = f.querySelector("input[name=mode]:checked");
      var refs = document.getElementById("references");
      if (refs) refs.disabled = !!mode && mode.value === "dedupe";
    }
    f.addEventListener("change", sync);
    sync();
  }

  // The review queue: one box ticks every item on the page for a bulk decision.
  ready(function () {
    var all = document.getElementById("select-all");
    if (!all) return;
    all.addEventListener("change", function () {
      document.querySelectorAll('#bulk-form input[name="items"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  });

  ready(function () {
    charts();
    form();
  });
})();
