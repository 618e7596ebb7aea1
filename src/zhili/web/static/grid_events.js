// Grid event pages (事件): the report form's map (tap to pick the spot, or use the
// phone's location; the grid chain and nearby open events of the category are shown
// below), an event's point, the map of open events with a heat-map toggle, and the
// statistics charts. ECharts is served by zhili itself; every map degrades to the
// page's fields and tables when it cannot load.
(function () {
  "use strict";
  var BASE = "zhili-grid-base";
  var COLORS = {
    reported: "#d9822b", registered: "#b8860b", dispatched: "#2f6fb3", acknowledged: "#5b8def",
    in_progress: "#6b2fa3", handled: "#2e8b57", verified: "#1b7f5f"
  };
  var baseLoaded = null;

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }
  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { var e = new Error(r.status); e.status = r.status; throw e; }
        return r.json();
      });
  }
  // The districts and streets, registered once as the base layer of every map here.
  function loadBase(url) {
    if (!baseLoaded) {
      baseLoaded = getJSON(url).then(function (geo) {
        echarts.registerMap(BASE, geo);
        return geo;
      });
    }
    return baseLoaded;
  }
  function geoOption(geo, extra) {
    var regions = geo.features.filter(function (f) { return f.properties.level === "district"; })
      .map(function (f) {
        return { name: f.properties.code, itemStyle: { borderWidth: 2, borderColor: "#1f4e85", areaColor: "#eef4fb" } };
      });
    return Object.assign({
      map: BASE,
      nameProperty: "code",
      roam: true,
      selectedMode: false,
      silent: false,
      label: { show: false },
      itemStyle: { areaColor: "rgba(232,241,251,0.35)", borderColor: "#8fb3dc", borderWidth: 0.5 },
      emphasis: { disabled: true },
      regions: regions
    }, extra || {});
  }
  function mapChart(el) {
    var chart = echarts.init(el);
    chart.showLoading({ text: el.dataset.loading });
    window.addEventListener("resize", function () { chart.resize(); });
    return chart;
  }
  function failed(chart, el) {
    chart.hideLoading();
    chart.dispose();
    el.textContent = el.dataset.failed;
    el.classList.add("failed");
  }
  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"]; }
    catch (e) { return ""; }
  }

  // --- the report form ----------------------------------------------------------------
  function reportMap(el) {
    var lon = document.getElementById("lon");
    var lat = document.getElementById("lat");
    var chainEl = document.getElementById("spot-chain");
    var status = document.getElementById("location-status");
    var nearbyEl = document.getElementById("nearby");
    var category = document.getElementById("category");
    var labels = JSON.parse(nearbyEl.dataset.states || "{}");
    var chart = mapChart(el);
    var locale = el.dataset.locale;

    function spot() {
      var x = parseFloat(lon.value), y = parseFloat(lat.value);
      return isFinite(x) && isFinite(y) ? [x, y] : null;
    }
    function draw() {
      var p = spot();
      chart.setOption({ series: [{ id: "spot", data: p ? [p] : [] }] });
    }
    function locate() {
      var p = spot();
      chainEl.textContent = "";
      if (!p) return;
      getJSON(el.dataset.locate + "?lon=" + p[0] + "&lat=" + p[1])
        .then(function (found) {
          chainEl.textContent = found.chain.map(function (a) { return a.name; }).join(" › ");
          chainEl.dataset.area = found.code;
        })
        .catch(function () { chainEl.textContent = status.dataset.outside; chainEl.dataset.area = ""; });
      nearby();
    }
    // Open events of the same category within 50 m, from the events API when it is there
    // (signed-in users); any failure simply shows nothing.
    function nearby() {
      var p = spot();
      nearbyEl.hidden = true;
      nearbyEl.textContent = "";
      if (!p || !category.value) return;
      var url = el.dataset.nearby + "?category=" + encodeURIComponent(category.value) +
        "&lon=" + p[0] + "&lat=" + p[1];
      getJSON(url).then(function (body) {
        var items = Array.isArray(body) ? body : (body.items || body.events || body.duplicates || []);
        if (!items.length) return;
        var h = document.createElement("p");
        h.className = "notice";
        h.textContent = nearbyEl.dataset.title;
        nearbyEl.appendChild(h);
        var ul = document.createElement("ul");
        var signedIn = nearbyEl.dataset.signedIn === "true";
        items.forEach(function (item) {
          var li = document.createElement("li");
          li.dataset.event = item.id;
          var text = "#" + item.id + " · " + (labels[item.state] || item.state) +
            (item.distance_m != null ? " · " + Math.round(item.distance_m) + " m" : "");
          if (signedIn) {
            var a = document.createElement("a");
            a.href = "/grid/events/" + item.id;
            a.textContent = text;
            li.appendChild(a);
            // following is for events one may already see; the API refuses others
            var b = document.createElement("button");
            b.type = "button";
            b.className = "follow-instead secondary";
            b.textContent = nearbyEl.dataset.follow;
            b.addEventListener("click", function () {
              fetch("/api/v1/grid/events/" + item.id + "/follow", {
                method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf() }
              }).then(function (r) {
                if (r.ok) location.href = "/grid/events/" + item.id;
                else b.disabled = true;
              });
            });
            li.appendChild(document.createTextNode(" "));
            li.appendChild(b);
          } else {
            li.textContent = text;
          }
          ul.appendChild(li);
        });
        nearbyEl.appendChild(ul);
        nearbyEl.hidden = false;
      }).catch(function () { /* no events API, or not signed in: nothing to offer */ });
    }
    function setSpot(x, y) {
      lon.value = x.toFixed(6);
      lat.value = y.toFixed(6);
      draw();
      locate();
    }

    loadBase(el.dataset.geojson).then(function (geo) {
      chart.hideLoading();
      chart.setOption({
        geo: geoOption(geo),
        series: [{
          id: "spot", type: "scatter", coordinateSystem: "geo", symbol: "pin", symbolSize: 34,
          itemStyle: { color: "#c0392b" }, data: [], z: 10
        }]
      });
      el.dataset.rendered = "true";
      draw();
      chart.getZr().on("click", function (e) {
        if (!chart.containPixel({ geoIndex: 0 }, [e.offsetX, e.offsetY])) return;
        var p = chart.convertFromPixel({ geoIndex: 0 }, [e.offsetX, e.offsetY]);
        if (p) setSpot(p[0], p[1]);
      });
    }).catch(function () { failed(chart, el); });

    [lon, lat].forEach(function (input) {
      input.addEventListener("change", function () { draw(); locate(); });
    });
    category.addEventListener("change", nearby);
    var button = document.getElementById("use-location");
    if (!navigator.geolocation) button.hidden = true;
    button.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (pos) {
        setSpot(pos.coords.longitude, pos.coords.latitude);
        status.textContent = "";
      }, function () { status.textContent = status.dataset.denied; },
      { enableHighAccuracy: true, timeout: 15000 });
    });
    if (spot()) locate();
  }

  // --- one event's point ----------------------------------------------------------------
  function eventMap(el) {
    var chart = mapChart(el);
    var p = el.dataset.point.split(",").map(parseFloat);
    loadBase(el.dataset.geojson).then(function (geo) {
      chart.hideLoading();
      chart.setOption({
        geo: geoOption(geo, { center: p, zoom: 12 }),
        series: [{
          type: "scatter", coordinateSystem: "geo", symbol: "pin", symbolSize: 30,
          itemStyle: { color: COLORS[el.dataset.state] || "#c0392b" }, data: [p]
        }]
      });
      el.dataset.rendered = "true";
    }).catch(function () { failed(chart, el); });
  }

  // --- the map of open events -----------------------------------------------------------
  function eventsMap(el) {
    var chart = mapChart(el);
    var labels = JSON.parse(el.dataset.states || "{}");
    var toggle = document.getElementById("heat-toggle");
    Promise.all([loadBase(el.dataset.geojson), getJSON(el.dataset.points)]).then(function (got) {
      var geo = got[0], body = got[1];
      var byState = {};
      body.points.forEach(function (p) {
        (byState[p[3]] = byState[p[3]] || []).push({ value: [p[1], p[2]], id: p[0], category: p[4] });
      });
      var scatter = Object.keys(labels).map(function (s) {
        return {
          name: labels[s], type: "scatter", coordinateSystem: "geo", symbolSize: 7,
          itemStyle: { color: COLORS[s] }, data: byState[s] || []
        };
      });
      var heat = {
        name: "heat", type: "heatmap", coordinateSystem: "geo", pointSize: 8, blurSize: 14,
        data: body.points.map(function (p) { return [p[1], p[2], 1]; })
      };
      function draw() {
        var showHeat = toggle && toggle.checked;
        chart.setOption({
          tooltip: {
            formatter: function (p) { return p.data && p.data.id ? "#" + p.data.id + " " + p.seriesName + "<br>" + p.data.category : ""; }
          },
          legend: { show: !showHeat, top: 0, data: scatter.map(function (s) { return s.name; }) },
          visualMap: {
            show: showHeat, min: 0, max: Math.max(1, Math.ceil(body.points.length / 200)), calculable: true,
            seriesIndex: showHeat ? 0 : [], left: 8, bottom: 8,
            inRange: { color: ["#ffffcc", "#fd8d3c", "#e31a1c", "#800026"] }
          },
          geo: geoOption(geo),
          series: showHeat ? [heat] : scatter
        }, { replaceMerge: ["series", "visualMap"] });
      }
      chart.hideLoading();
      draw();
      el.dataset.rendered = "true";
      el.dataset.points = body.points.length;
      if (toggle) toggle.addEventListener("change", draw);
      chart.on("click", function (p) {
        if (p.data && p.data.id) location.href = "/grid/events/" + p.data.id;
      });
    }).catch(function () { failed(chart, el); });
  }

  // --- statistics -----------------------------------------------------------------------
  function bar(el, data, horizontal) {
    var chart = echarts.init(el);
    window.addEventListener("resize", function () { chart.resize(); });
    var names = data.labels, values = data.values;
    var cat = { type: "category", data: names, axisLabel: { interval: 0, width: 90, overflow: "truncate" } };
    var val = { type: "value", name: data.unit || "" };
    chart.setOption({
      tooltip: { trigger: "axis" },
      grid: { left: horizontal ? 110 : 48, right: 24, top: 36, bottom: 40, containLabel: !horizontal },
      legend: data.series ? { top: 0 } : undefined,
      xAxis: horizontal ? val : cat,
      yAxis: horizontal ? Object.assign(cat, { inverse: true }) : val,
      series: (data.series || [{ name: data.name || "", values: values }]).map(function (s) {
        return { name: s.name, type: data.line ? "line" : "bar", data: s.values, smooth: true, showSymbol: true, barMaxWidth: 28 };
      })
    });
    el.dataset.rendered = "true";
  }
  function statsCharts() {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var data = JSON.parse(el.querySelector("script[type='application/json']").textContent);
      el.querySelector("script").remove();
      bar(el, data, el.dataset.chart === "hbar");
    });
  }
  function statsHeat(el) {
    var chart = mapChart(el);
    var points = JSON.parse(document.getElementById("stats-heat-data").textContent);
    loadBase(el.dataset.geojson).then(function (geo) {
      chart.hideLoading();
      var max = points.reduce(function (m, p) { return Math.max(m, p[2]); }, 1);
      chart.setOption({
        geo: geoOption(geo),
        visualMap: { min: 0, max: max, calculable: true, left: 8, bottom: 8,
          inRange: { color: ["#ffffcc", "#fd8d3c", "#e31a1c", "#800026"] } },
        series: [{ type: "heatmap", coordinateSystem: "geo", pointSize: 8, blurSize: 14, data: points }]
      });
      el.dataset.rendered = "true";
    }).catch(function () { failed(chart, el); });
  }

  ready(function () {
    if (!window.echarts) return;
    var el;
    if ((el = document.getElementById("report-map"))) reportMap(el);
    if ((el = document.getElementById("event-map"))) eventMap(el);
    if ((el = document.getElementById("events-map"))) eventsMap(el);
    if ((el = document.getElementById("stats-heat"))) statsHeat(el);
    statsCharts();
  });
})();
